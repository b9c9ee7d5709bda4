//! Turning flags, environment and the config file into a `Config`, the same way for every command.

use std::path::PathBuf;

use anyhow::Context;
use warden_gateway::{Config, Overrides, RawConfig};

use crate::StoreArgs;

/// The config file to read: the flag, else `./warden.toml` if present.
pub fn config_path(args: &StoreArgs) -> Option<PathBuf> {
    args.config.clone().or_else(|| {
        let default = PathBuf::from("warden.toml");
        default.exists().then_some(default)
    })
}

/// Reads the config (if any) and applies `overrides` plus the store flags.
pub fn load(args: &StoreArgs, mut overrides: Overrides) -> anyhow::Result<Config> {
    let raw = match config_path(args) {
        Some(path) => RawConfig::from_file(&path)?,
        None => RawConfig::default(),
    };
    if overrides.database_url.is_none() {
        overrides.database_url = args.database_url.clone();
    }
    if overrides.upstream_token_env.is_none() {
        overrides.upstream_token_env = std::env::var("WARDEN_UPSTREAM_TOKEN").ok();
    }
    raw.resolve(overrides).context("invalid configuration")
}

/// Opens the store the config names, creating it if missing.
pub async fn open_store(args: &StoreArgs) -> anyhow::Result<warden_store::Store> {
    let config = load(args, Overrides::default())?;
    warden_store::Store::open(&config.database_url, config.durability)
        .await
        .with_context(|| format!("cannot open {}", warden_store::redact_url(&config.database_url)))
}

/// Opens the store the config names, which must exist (verify, export, list, revoke).
pub async fn open_existing_store(args: &StoreArgs) -> anyhow::Result<warden_store::Store> {
    let config = load(args, Overrides::default())?;
    Ok(warden_store::Store::open_existing(&config.database_url, config.durability).await?)
}

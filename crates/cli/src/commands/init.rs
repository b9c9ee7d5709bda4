//! `warden init`: a commented starter config and a fresh admin key.

use std::process::ExitCode;

use anyhow::{Context, bail};
use warden_gateway::Overrides;
use warden_gateway::auth::{Role, generate_key};
use warden_gateway::config::STARTER_CONFIG;

use crate::StoreArgs;
use crate::settings;

pub async fn run(args: StoreArgs, force: bool) -> anyhow::Result<ExitCode> {
    let path = args.config.clone().unwrap_or_else(|| "warden.toml".into());
    if path.exists() && !force {
        bail!("{} already exists; pass --force to overwrite it", path.display());
    }
    std::fs::write(&path, STARTER_CONFIG).with_context(|| format!("cannot write {}", path.display()))?;
    eprintln!("wrote {}", path.display());

    let args = StoreArgs {
        config: Some(path),
        ..args
    };
    let config = settings::load(&args, Overrides::default())?;
    let store = warden_store::Store::open(&config.database_url, config.durability).await?;
    let name = format!(
        "admin-{}",
        &warden_store::now_rfc3339()[..19].replace([':', '-'], "")
    );
    let key = generate_key(&name, &[Role::Admin], "default").context("cannot generate a random key")?;
    store.insert_key(&key.record).await?;
    eprintln!(
        "created admin key `{name}` in {}; it is shown once, below. Keep it secret.",
        warden_store::redact_url(&config.database_url)
    );
    super::show_once(&key.key, &name)?;
    Ok(ExitCode::SUCCESS)
}

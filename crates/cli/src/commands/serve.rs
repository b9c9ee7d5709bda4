//! `warden serve`: the gateway, until SIGTERM or Ctrl-C.

use std::process::ExitCode;

use warden_gateway::{Gateway, Overrides, shutdown_signal};

use crate::StoreArgs;
use crate::settings;

pub async fn run(
    store: StoreArgs,
    listen: Option<String>,
    upstream: Option<String>,
    auto_approve: bool,
) -> anyhow::Result<ExitCode> {
    if let Some(path) = settings::config_path(&store) {
        tracing::info!(config = %path.display(), "reading configuration");
    }
    let config = settings::load(
        &store,
        Overrides {
            listen,
            upstream,
            auto_approve: auto_approve.then_some(true),
            ..Overrides::default()
        },
    )?;
    let gateway = Gateway::bind(config).await?;
    gateway.serve(shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

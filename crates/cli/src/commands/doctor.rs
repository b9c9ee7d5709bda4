//! `warden doctor` and `warden migrate`: is everything in place, and bring the schema up to date.

use std::process::ExitCode;

use warden_gateway::Overrides;
use warden_gateway::upstream::{TokenCheck, Upstream};

use crate::StoreArgs;
use crate::settings;

pub async fn migrate(args: StoreArgs) -> anyhow::Result<ExitCode> {
    let store = settings::open_store(&args).await?;
    let version = store.migrate().await?;
    say!("schema at version {version}");
    Ok(ExitCode::SUCCESS)
}

pub async fn run(args: StoreArgs, fix: bool) -> anyhow::Result<ExitCode> {
    let mut problems = 0;
    let mut check = |name: &str, result: Result<String, String>| match result {
        Ok(detail) => say!("ok    {name}: {detail}"),
        Err(detail) => {
            problems += 1;
            say!("FAIL  {name}: {detail}");
        }
    };
    let config = match settings::load(&args, Overrides::default()) {
        Ok(c) => {
            let source = settings::config_path(&args)
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "built-in defaults".into());
            check("config", Ok(source));
            c
        }
        Err(e) => {
            check("config", Err(format!("{e:#}")));
            return Ok(ExitCode::FAILURE);
        }
    };
    check(
        "policy",
        warden_gateway::load_policy(&config)
            .map(|p| format!("{} {} ({} rules)", p.name(), p.version(), p.rules().len()))
            .map_err(|e| e.to_string()),
    );
    if config.policy_shadow_file.is_some() {
        check(
            "shadow policy",
            warden_gateway::server::load_shadow_policy(&config)
                .map(|p| {
                    p.map(|p| format!("{} {} (recorded, not enforced)", p.name(), p.version()))
                        .unwrap_or_default()
                })
                .map_err(|e| e.to_string()),
        );
    }
    if let Some(guard) = &config.guard {
        // One question the guard should call safe: it answers, in time, in a form Warden reads.
        let result = match warden_gateway::governance::guard::Guard::new(guard.clone()) {
            Ok(g) => {
                let opinion = g.ask("What is the capital of France?").await;
                match (opinion.verdict, opinion.failure) {
                    (Some(v), _) => Ok(format!(
                        "{} answered `{v}` in {} ms (fails {})",
                        guard.url,
                        opinion.latency_ms,
                        guard.on_failure.as_str()
                    )),
                    (None, failure) => Err(format!(
                        "{}: {} (fails {})",
                        guard.url,
                        failure.unwrap_or_default(),
                        guard.on_failure.as_str()
                    )),
                }
            }
            Err(e) => Err(e.to_string()),
        };
        check("guard", result);
    }
    let url = warden_store::redact_url(&config.database_url);
    let mut opened: Option<warden_store::Store> = None;
    let db_path = config
        .database_url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:");
    if !fix && config.database_url.starts_with("sqlite") && !std::path::Path::new(db_path).exists() {
        check(
            "store",
            Err(format!(
                "{url} does not exist (run `warden doctor --fix` or `warden init`)"
            )),
        );
    } else {
        match warden_store::Store::open(&config.database_url, config.durability).await {
            Ok(store) => {
                opened = Some(store.clone());
                check(
                    "store",
                    Ok(format!(
                        "{url} ({}), durability {}",
                        store.engine_name(),
                        config.durability.as_str()
                    )),
                );
                let keys = store
                    .list_keys()
                    .await
                    .map(|k| k.iter().filter(|k| k.revoked_at.is_none()).count());
                check(
                    "keys",
                    match keys {
                        Ok(0) => Err("no active API key: every request would be refused with 401. Create one: `warden keys create --name NAME --role requester` (`warden init` makes an admin key)".into()),
                        Ok(n) => Ok(format!("{n} active")),
                        Err(e) => Err(e.to_string()),
                    },
                );
                check(
                    "audit",
                    match store.verify_chain().await {
                        Ok(r) if r.ok() => Ok(format!("{} records, chain verifies", r.records)),
                        Ok(r) => Err(format!("chain broken at {:?}", r.first_bad)),
                        Err(e) => Err(e.to_string()),
                    },
                );
            }
            Err(e) => check("store", Err(e.to_string())),
        }
    }
    check(
        "upstream token",
        if config.upstream.token.is_some() {
            Ok("configured".into())
        } else {
            Err("none (set WARDEN_UPSTREAM_TOKEN or upstream.token_file)".into())
        },
    );
    match Upstream::new(&config.upstream) {
        Ok(upstream) => {
            let url = &config.upstream.url;
            check(
                "upstream",
                upstream.ready().await.map(|()| format!("{url} ready")).map_err(|e| {
                    format!("{e}: is the agent running at {url}? Set upstream.url or --upstream to where it listens")
                }),
            );
            check(
                "upstream auth",
                match upstream.check_token().await {
                    TokenCheck::Accepted => Ok("the upstream accepts Warden's token (GET /v1/models)".into()),
                    TokenCheck::Refused(status) => Err(format!(
                        "the upstream refused Warden's token ({status} on GET /v1/models): every request would fail with 502 upstream_auth_refused. Set the token it expects in WARDEN_UPSTREAM_TOKEN or upstream.token_file (for OpenClaw: gateway.auth.token)"
                    )),
                    TokenCheck::Inconclusive(what) => Ok(format!("not checked: {what}")),
                    TokenCheck::Unreachable(e) => Err(format!("cannot ask the upstream: {e}")),
                },
            );
        }
        Err(e) => check("upstream", Err(e.to_string())),
    }
    check("listen", listen_address(config.listen).await);
    for hook in &config.approvals.webhooks {
        check(&format!("webhook {}", hook.name), webhook(hook).await);
    }
    if let Some(store) = &opened {
        mcp_servers(&config, store, &mut check).await;
    }
    Ok(if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Whether `serve` could listen on `addr`: free, or already served by a Warden (this one,
/// running); anything else is named.
async fn listen_address(addr: std::net::SocketAddr) -> Result<String, String> {
    match tokio::net::TcpListener::bind(addr).await {
        Ok(_) => Ok(format!("{addr} is free")),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            let probe = reqwest::Client::new()
                .get(format!("http://{addr}/healthz"))
                .timeout(std::time::Duration::from_secs(2))
                .send()
                .await;
            match probe {
                Ok(r) if r.status().is_success() => Ok(format!("{addr} is served by a running gateway")),
                _ => Err(format!(
                    "{addr} is taken by another program: stop it, or set server.listen (or --listen) to a free address"
                )),
            }
        }
        Err(e) => Err(format!(
            "cannot listen on {addr}: {e}. Set server.listen (or --listen) to an address of this machine"
        )),
    }
}

/// A webhook's receiver answers at all (any HTTP status: Warden only proves it is reachable,
/// and sends no event), and a signing secret is set.
async fn webhook(hook: &warden_gateway::config::WebhookConfig) -> Result<String, String> {
    let probe = reqwest::Client::new()
        .head(&hook.url)
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await;
    let secret = if hook.secret.is_some() {
        "signed"
    } else {
        "UNSIGNED (set secret_env or secret_file)"
    };
    match probe {
        Ok(r) => Ok(format!(
            "{} answers (HTTP {}); deliveries {secret}",
            hook.url,
            r.status().as_u16()
        )),
        Err(e) => Err(format!(
            "cannot reach {}: {}. Approval notifications to it will be retried, then dropped: check the URL and that this machine can reach it",
            hook.url,
            warden_gateway::error::describe(&e)
        )),
    }
}

/// Each governed MCP server: reachable (a stdio server is started, then stopped), its tools
/// read, and whether they are all as an admin approved them.
async fn mcp_servers(
    config: &warden_gateway::config::Config,
    store: &warden_store::Store,
    check: &mut impl FnMut(&str, Result<String, String>),
) {
    let hub = match warden_gateway::mcp::McpHub::new(&config.mcp) {
        Ok(hub) => hub,
        Err(e) => return check("mcp", Err(e)),
    };
    for (name, server) in &hub.servers {
        let listing = server
            .catalog
            .listing(&server.client, store, config.mcp.metadata_injection, true)
            .await;
        let label = format!("mcp {name}");
        let result = match listing {
            Err(e) => Err(e.to_string()),
            Ok(listing) => {
                let waiting = listing.tools.iter().filter(|t| t.quarantine.is_some()).count();
                if waiting == 0 && listing.removed.is_empty() {
                    Ok(format!("{} tools, all as approved", listing.tools.len()))
                } else {
                    Err(format!(
                        "{} tools, {waiting} new, changed or addressing the model, {} removed: review with `warden mcp diff {name}`",
                        listing.tools.len(),
                        listing.removed.len()
                    ))
                }
            }
        };
        check(&label, result);
    }
}

//! Start-up and shutdown: open the store, start the audit writer, load the policy, bind, serve
//! until the shutdown signal, drain in-flight requests, then flush the audit trail.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use warden_policy::Policy;
use warden_store::{AuditLog, Store};

use crate::auth::Authenticator;
use crate::clock::Clock;
use crate::config::Config;
use crate::governance::Core;
use crate::governance::active_policy::{ActivePolicy, spawn_watcher};
use crate::governance::approvals::{Approvals, spawn_decision_listener, spawn_scheduler, webhooks};
use crate::governance::memory::SessionMemory;
use crate::state::AppState;
use crate::upstream::Upstream;
use crate::{listener, router};

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("store: {0}")]
    Store(#[from] warden_store::StoreError),
    #[error("policy: {0}")]
    Policy(#[from] warden_policy::BundleError),
    #[error("cannot read policy file {path}: {source}")]
    PolicyFile { path: String, source: std::io::Error },
    #[error("upstream client: {0}")]
    Upstream(#[from] reqwest::Error),
    #[error("guard client: {0}")]
    Guard(String),
    #[error("mcp: {0}")]
    Mcp(String),
    #[error("telemetry: {0}")]
    Telemetry(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Serve(std::io::Error),
}

/// Loads the policy the config names, or the default pack.
pub fn load_policy(config: &Config) -> Result<Policy, StartError> {
    load_bundle(config.policy_file.as_ref())
}

/// The shadow bundle of `[policy] shadow_file`, if one is set.
pub fn load_shadow_policy(config: &Config) -> Result<Option<Policy>, StartError> {
    config
        .policy_shadow_file
        .as_ref()
        .map(|p| load_bundle(Some(p)))
        .transpose()
}

fn load_bundle(path: Option<&std::path::PathBuf>) -> Result<Policy, StartError> {
    match path {
        Some(path) => {
            let source = std::fs::read_to_string(path).map_err(|source| StartError::PolicyFile {
                path: path.display().to_string(),
                source,
            })?;
            Ok(Policy::from_toml(&source, &path.display().to_string())?)
        }
        None => Ok(Policy::default_pack()?),
    }
}

/// Binds `addr` with a listen backlog as deep as the connection cap (the kernel may cap it
/// lower): connections arriving in a burst wait there rather than being dropped and retried
/// seconds later.
fn bind(addr: SocketAddr, max_connections: usize) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(max_connections.clamp(128, 65_535) as u32)
}

/// A gateway that is bound and ready to serve.
pub struct Gateway {
    listener: TcpListener,
    /// `[metrics] listen`: the metrics' own listener.
    metrics_listener: Option<TcpListener>,
    state: AppState,
}

impl Gateway {
    /// Opens everything the gateway needs and binds its listener.
    pub async fn bind(config: Config) -> Result<Gateway, StartError> {
        let policy = load_policy(&config)?;
        let store =
            Store::open_pooled(&config.database_url, config.durability, config.max_connections).await?;
        let audit = AuditLog::start_observed(&store, Some(crate::metrics::audit_observer())).await?;
        let upstream = Upstream::new(&config.upstream)?;
        let listener =
            bind(config.listen, config.connections.max_connections).map_err(|source| StartError::Bind {
                addr: config.listen,
                source,
            })?;
        let metrics_listener = match config.metrics_listen.filter(|_| config.metrics_enabled) {
            Some(addr) => Some(bind(addr, 128).map_err(|source| StartError::Bind { addr, source })?),
            None => None,
        };
        match store.list_keys().await {
            Ok(keys) if keys.iter().all(|k| k.revoked_at.is_some()) => tracing::warn!(
                store = %warden_store::redact_url(&config.database_url),
                "the store holds no active API key, so every request will be refused with 401; create one with `warden keys create --name NAME --role requester --database-url URL` (or `warden init` for a config, a store and an admin key)"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "the store's keys could not be listed"),
        }
        if config.upstream.token.is_none() {
            tracing::warn!(
                "no upstream token configured (WARDEN_UPSTREAM_TOKEN or upstream.token_file); requests go upstream unauthenticated"
            );
        }
        tracing::info!(
            policy = policy.name(),
            policy_version = policy.version(),
            store = store.engine_name(),
            durability = config.durability.as_str(),
            auto_approve = config.auto_approve,
            upstream = %config.upstream.url,
            "gateway configured"
        );
        let policy_file = config.policy_file.clone();
        let shadow = load_shadow_policy(&config)?;
        if let Some(shadow) = &shadow {
            tracing::info!(
                shadow_policy = shadow.name(),
                shadow_version = shadow.version(),
                "a shadow policy judges beside the one in force; its verdicts are recorded, not enforced"
            );
        }
        let shadow_file = config.policy_shadow_file.clone();
        let guard = match &config.guard {
            Some(g) => {
                tracing::info!(url = %g.url, fail_mode = g.on_failure.as_str(), "a guard gives a second opinion");
                Some(Arc::new(
                    crate::governance::guard::Guard::new(g.clone())
                        .map_err(|e| StartError::Guard(e.to_string()))?,
                ))
            }
            None => None,
        };
        let clock = Clock::new(config.manual_clock);
        if config.manual_clock {
            tracing::warn!(
                "[testing] manual_clock is on: admins can run the clock ahead; never use this in production"
            );
        }
        let approvals = Arc::new(Approvals::new(
            store.clone(),
            audit.clone(),
            clock.clone(),
            config.approvals.clone(),
        ));
        spawn_decision_listener(approvals.clone()).await?;
        let memory = Arc::new(SessionMemory::new(store.clone(), clock.clone(), &config.sessions));
        let mcp = Arc::new(crate::mcp::McpHub::new(&config.mcp).map_err(StartError::Mcp)?);
        if let Some(telemetry) = &config.telemetry {
            crate::telemetry::init(telemetry).map_err(StartError::Telemetry)?;
            tracing::info!(endpoint = %telemetry.otlp_endpoint, sample_ratio = telemetry.sample_ratio, "traces go to an OTLP collector");
        }
        let limiter = Arc::new(crate::governance::limits::Limiter::new(
            store.clone(),
            config.limits.clone(),
        ));
        let state = AppState {
            core: Arc::new(Core {
                limiter,
                approvals,
                memory,
                clock,
                guard,
                config: Arc::new(config),
                policy: Arc::new(ActivePolicy::new(policy, policy_file).with_shadow(shadow, shadow_file)),
                store: store.clone(),
                audit,
            }),
            auth: Arc::new(Authenticator::new(store)),
            upstream,
            readiness: Arc::default(),
            mcp,
        };
        Ok(Gateway {
            listener,
            metrics_listener,
            state,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, drains in-flight requests (up to the grace period),
    /// then commits every queued audit record.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), StartError> {
        let addr = self.local_addr().map_err(StartError::Serve)?;
        let core = self.state.core.clone();
        // SIGHUP's handler is installed here; "listening on" is what supervisors and tests wait
        // for, so it is logged only after, or a SIGHUP sent on seeing it could end the process.
        spawn_watcher(
            core.policy.clone(),
            core.audit.clone(),
            core.config.policy_reload_interval,
        );
        spawn_scheduler(core.approvals.clone());
        if core.memory.enabled() {
            core.memory.clone().spawn_purger();
        }
        webhooks::spawn_delivery(
            core.store.clone(),
            core.audit.clone(),
            core.clock.clone(),
            Arc::new(core.config.approvals.webhooks.clone()),
        );
        tracing::info!("listening on {addr}");
        if core.config.console.enabled {
            crate::console::spawn_indexer(
                core.store.clone(),
                core.audit.clone(),
                core.config.console.index_interval,
            );
            tracing::info!("console at http://{addr}{}", core.config.console.path);
        }
        if let Some(metrics) = self.metrics_listener {
            let at = metrics.local_addr().map_err(StartError::Serve)?;
            let app = router::metrics_router(self.state.clone());
            tokio::spawn(async move {
                if let Err(e) = axum::serve(metrics, app).await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            });
            tracing::info!("metrics at http://{at}/metrics");
        }
        let limits = core.config.connections;
        let grace = core.config.shutdown_grace;
        let app = router::router(self.state);
        let drained = listener::serve(self.listener, app, limits, shutdown, grace).await;
        if !drained {
            tracing::warn!(
                "grace period over; exiting with connections still open (their stream records may be missing)"
            );
        }
        core.audit.shutdown().await;
        core.store.close().await;
        crate::telemetry::shutdown();
        tracing::info!("audit trail flushed; stopped");
        Ok(())
    }
}

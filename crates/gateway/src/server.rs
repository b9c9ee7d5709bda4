//! Start-up and shutdown: open the store, start the audit writer, load the policy, bind, serve
//! until the shutdown signal, drain in-flight requests, then flush the audit trail.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use warden_policy::Policy;
use warden_store::{AuditLog, Store};

use crate::approvals::{Approvals, spawn_decision_listener, spawn_scheduler, webhooks};
use crate::auth::Authenticator;
use crate::clock::Clock;
use crate::config::Config;
use crate::policy_reload::{ActivePolicy, spawn_watcher};
use crate::routes;
use crate::state::AppState;
use crate::upstream::Upstream;

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
    match &config.policy_file {
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

/// A gateway that is bound and ready to serve.
pub struct Gateway {
    listener: TcpListener,
    state: AppState,
}

impl Gateway {
    /// Opens everything the gateway needs and binds its listener.
    pub async fn bind(config: Config) -> Result<Gateway, StartError> {
        let policy = load_policy(&config)?;
        let store =
            Store::open_pooled(&config.database_url, config.durability, config.max_connections).await?;
        let audit = AuditLog::start(&store).await?;
        let upstream = Upstream::new(&config.upstream)?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartError::Bind {
                addr: config.listen,
                source,
            })?;
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
        let state = AppState {
            approvals,
            clock,
            forwarded_tools: Arc::default(),
            auth: Arc::new(Authenticator::new(store.clone())),
            config: Arc::new(config),
            policy: Arc::new(ActivePolicy::new(policy, policy_file)),
            store,
            audit,
            upstream,
        };
        Ok(Gateway { listener, state })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, drains in-flight requests (up to the grace period),
    /// then commits every queued audit record.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), StartError> {
        let addr = self.local_addr().map_err(StartError::Serve)?;
        // SIGHUP's handler is installed here; "listening on" is what supervisors and tests wait
        // for, so it is logged only after, or a SIGHUP sent on seeing it could end the process.
        spawn_watcher(
            self.state.policy.clone(),
            self.state.audit.clone(),
            self.state.config.policy_reload_interval,
        );
        spawn_scheduler(self.state.approvals.clone());
        webhooks::spawn_delivery(
            self.state.store.clone(),
            self.state.audit.clone(),
            self.state.clock.clone(),
            Arc::new(self.state.config.approvals.webhooks.clone()),
        );
        tracing::info!("listening on {addr}");
        let grace = self.state.config.shutdown_grace;
        let audit = self.state.audit.clone();
        let store = self.state.store.clone();
        let (signalled_tx, signalled_rx) = tokio::sync::oneshot::channel::<()>();
        let app = routes::router(self.state);
        // TCP_NODELAY on every accepted connection: without it the kernel holds each small SSE
        // write until the client's delayed ACK (40 ms) on kept-alive connections.
        let listener = axum::serve::ListenerExt::tap_io(self.listener, |tcp| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY not set on an accepted connection");
            }
        });
        let server = axum::serve(listener, app).with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: draining in-flight requests");
            let _ = signalled_tx.send(());
        });
        let grace_over = async move {
            if signalled_rx.await.is_ok() {
                tokio::time::sleep(grace).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            result = server => result.map_err(StartError::Serve)?,
            () = grace_over => tracing::warn!("grace period over; exiting with connections still open (their stream records may be missing)"),
        }
        audit.shutdown().await;
        store.close().await;
        tracing::info!("audit trail flushed; stopped");
        Ok(())
    }
}

/// Resolves on SIGTERM or Ctrl-C. The SIGTERM handler is installed when this is called, not
/// when the future is first polled, so a SIGTERM that arrives before the server starts polling
/// still drains rather than ending the process at once.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let terminate = next_signal(terminate.as_mut());
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => {},
            () = terminate => {},
        }
    }
}

/// The next delivery of `signal`, or never when its handler could not be installed.
#[cfg(unix)]
pub(crate) async fn next_signal(signal: Option<&mut tokio::signal::unix::Signal>) {
    match signal {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

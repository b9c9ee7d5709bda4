//! Shared state every handler sees: the governance core, the authenticator, the upstream
//! client and the readiness cache.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::auth::Authenticator;
use crate::governance::Core;
use crate::upstream::Upstream;

/// Cheap to clone; everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    pub core: Arc<Core>,
    pub auth: Arc<Authenticator>,
    pub upstream: Upstream,
    pub readiness: Arc<Readiness>,
    /// The governed MCP servers and the sessions of `/mcp/{server}`.
    pub mcp: Arc<crate::mcp::McpHub>,
}

/// How long a trail probe's verdict is reused.
const READINESS_TTL: Duration = Duration::from_secs(1);

/// One trail probe: when, how many appends had failed by then, and its verdict.
type Probe = (Instant, u64, Result<(), String>);

/// The trail probe's last verdict.
#[derive(Default)]
pub struct Readiness {
    last: Mutex<Option<Probe>>,
}

impl Readiness {
    /// The trail's verdict: reused while fresh and no append has failed since, probed again
    /// otherwise.
    pub async fn trail(&self, audit: &warden_store::AuditLog) -> Result<(), String> {
        let failures = audit.failed_appends();
        let fresh = self
            .last
            .lock()
            .ok()
            .and_then(|last| last.clone())
            .filter(|(at, seen, _)| at.elapsed() < READINESS_TTL && *seen == failures);
        if let Some((_, _, verdict)) = fresh {
            return verdict;
        }
        let verdict = audit
            .probe()
            .await
            .map_err(|e| format!("the audit trail cannot take records: {e}"));
        if let Ok(mut last) = self.last.lock() {
            *last = Some((Instant::now(), failures, verdict.clone()));
        }
        verdict
    }
}

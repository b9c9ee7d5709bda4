//! Shared state every handler sees.

use std::sync::Arc;

use warden_store::{AuditLog, Store};

use crate::approvals::Approvals;
use crate::auth::Authenticator;
use crate::clock::Clock;
use crate::config::Config;
use crate::policy_reload::ActivePolicy;
use crate::upstream::Upstream;

/// Cheap to clone; everything inside is shared.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub policy: Arc<ActivePolicy>,
    pub store: Store,
    pub audit: AuditLog,
    pub auth: Arc<Authenticator>,
    pub upstream: Upstream,
    pub approvals: Arc<Approvals>,
    pub clock: Clock,
    /// Tool calls Warden itself just forwarded through `/tools/invoke`, by digest of tool and
    /// arguments: OpenClaw's hook asks about them again, and must not make a person approve
    /// twice what was decided at the front door.
    pub forwarded_tools: Arc<std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>>,
}

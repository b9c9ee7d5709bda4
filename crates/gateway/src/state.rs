//! Shared state every handler sees: the governance core, the authenticator, the upstream
//! client and the readiness cache.

use std::sync::Arc;

use crate::api::health::Readiness;
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
}

//! Warden's own routes: thin handlers over the services (the approval queue, the trail, the
//! policy, the gateway's health), each reading the principal the authentication layer found.

pub mod admin;
pub mod approvals;
pub mod audit;
pub mod health;
pub mod mcp;
pub mod models;
pub mod policy;

use axum::body::Body;

use crate::error::ApiError;
use crate::governance::read_body;
use crate::state::AppState;

/// Reads a small JSON body for one of Warden's own routes, bounded in size and time.
pub async fn small_body(state: &AppState, body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    read_body(body, limit, state.core.config.connections.body_timeout).await
}

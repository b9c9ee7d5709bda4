//! `POST /v1/admin/clock`: runs a manual clock ahead (`[testing] manual_clock`), to rehearse
//! expiry and escalation without waiting.

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::small_body;
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::state::AppState;

pub async fn advance_clock(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    principal.require(Role::Admin)?;
    let clock = &state.core.clock;
    if !clock.manual {
        return Err(ApiError::NotFound { what: "Route".into() });
    }
    let raw = small_body(&state, body, 4096).await?;
    #[derive(serde::Deserialize)]
    struct Advance {
        advance_ms: i64,
    }
    let advance: Advance = serde_json::from_slice(&raw).map_err(|e| {
        ApiError::bad_request(
            format!("The body must be {{\"advance_ms\": integer}}: {e}."),
            None,
            "invalid_json",
        )
    })?;
    if advance.advance_ms <= 0 || !clock.advance(advance.advance_ms) {
        return Err(ApiError::bad_request(
            "advance_ms must be positive: the clock never goes back.",
            Some("advance_ms"),
            "invalid_value",
        ));
    }
    state.core.approvals.tick().await;
    Ok(
        axum::Json(json!({"now_ms": clock.now_ms(), "now": crate::clock::rfc3339(clock.now_ms())}))
            .into_response(),
    )
}

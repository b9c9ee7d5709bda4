//! `GET /v1/models`: the model names clients may ask for.

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::state::AppState;

pub async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Response, ApiError> {
    principal.require(Role::Requester)?;
    let data: Vec<_> = state
        .core
        .config
        .models
        .keys()
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "warden"}))
        .collect();
    Ok(axum::Json(json!({"object": "list", "data": data})).into_response())
}

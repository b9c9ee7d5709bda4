//! `GET /v1/policy` (the bundle in force and its rules) and `POST /v1/policy/evaluate` (a dry
//! decision on a text: nothing is forwarded and nothing is recorded).

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::small_body;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

pub async fn show(State(state): State<AppState>) -> Result<Response, ApiError> {
    let p = state.core.policy.get();
    let rules: Vec<_> = p
        .rules()
        .iter()
        .map(|r| json!({"id": r.id, "tier": r.tier, "category": r.category, "reason": r.reason}))
        .collect();
    Ok(axum::Json(json!({"name": p.name(), "version": p.version(), "rules": rules})).into_response())
}

/// The active policy's verdict on a text, in the caller's context unless the body names
/// another.
pub async fn evaluate(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let raw = small_body(&state, body, state.core.config.max_body_bytes).await?;
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Evaluate {
        text: String,
        roles: Option<Vec<String>>,
        tenant: Option<String>,
        tool: Option<String>,
        model: Option<String>,
    }
    let request: Evaluate = serde_json::from_slice(&raw).map_err(|e| {
        ApiError::bad_request(
            format!(
                "The body must be {{\"text\": string, \"roles\"?, \"tenant\"?, \"tool\"?, \"model\"?}}: {e}."
            ),
            None,
            "invalid_json",
        )
    })?;
    let roles: Vec<String> = request.roles.unwrap_or_else(|| {
        principal
            .roles_as_strings()
            .iter()
            .map(|r| r.to_string())
            .collect()
    });
    let role_refs: Vec<&str> = roles.iter().map(String::as_str).collect();
    let context = warden_policy::Context {
        roles: &role_refs,
        tenant: Some(request.tenant.as_deref().unwrap_or(&principal.tenant)),
        tool: request.tool.as_deref(),
        model: request.model.as_deref(),
    };
    let policy = state.core.policy.get();
    let decision = policy.evaluate_in(&request.text, &context);
    Ok(axum::Json(json!({
        "policy": {"name": policy.name(), "version": policy.version()},
        "normalized": policy.normalize(&request.text),
        "decision": decision,
    }))
    .into_response())
}

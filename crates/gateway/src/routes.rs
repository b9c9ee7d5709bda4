//! The route table: path -> handler, and the one list of routes that need no API key.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::approvals::routes as approvals;
use crate::auth::Role;
use crate::error::ApiError;
use crate::pipeline::chat_completions;
use crate::state::AppState;

/// Routes served without authentication: liveness, readiness and the API description.
pub const UNAUTHENTICATED: [&str; 3] = ["/healthz", "/readyz", "/openapi.json"];

/// The OpenAPI description of every route.
const OPENAPI: &str = include_str!("openapi.json");

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(models))
        .route("/v1/policy", get(policy))
        .route("/v1/policy/evaluate", post(evaluate))
        .route("/v1/audit/traces/{trace_id}", get(trace))
        .route("/tools/invoke", post(crate::tools::invoke))
        .route("/v1/decisions/tool-call", post(crate::tools::decide_tool_call))
        .route("/v1/approvals", get(approvals::list))
        .route("/v1/approvals/{id}", get(approvals::show))
        .route("/v1/approvals/{id}/approve", post(approvals::approve))
        .route("/v1/approvals/{id}/reject", post(approvals::reject))
        .route("/v1/approvals/{id}/cancel", post(approvals::cancel))
        .route("/v1/admin/clock", post(advance_clock))
        .route(UNAUTHENTICATED[0], get(healthz))
        .route(UNAUTHENTICATED[1], get(readyz))
        .route(UNAUTHENTICATED[2], get(openapi))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn openapi() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn healthz() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

/// Ready when the store answers and the upstream's health path does.
async fn readyz(State(state): State<AppState>) -> Response {
    let store = state.store.ping().await.map_err(|e| e.to_string());
    let upstream = state.upstream.ready().await;
    let ready = store.is_ok() && upstream.is_ok();
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": {
            "store": store.err().unwrap_or_else(|| "ok".into()),
            "upstream": upstream.err().unwrap_or_else(|| "ok".into()),
        }
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

async fn models(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let principal = state.auth.authenticate(&headers).await?;
    principal.require(Role::Requester)?;
    let data: Vec<_> = state
        .config
        .models
        .keys()
        .map(|id| json!({"id": id, "object": "model", "created": 0, "owned_by": "warden"}))
        .collect();
    Ok(axum::Json(json!({"object": "list", "data": data})).into_response())
}

async fn policy(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    state.auth.authenticate(&headers).await?;
    let p = state.policy.get();
    let rules: Vec<_> = p
        .rules()
        .iter()
        .map(|r| json!({"id": r.id, "tier": r.tier, "category": r.category, "reason": r.reason}))
        .collect();
    Ok(axum::Json(json!({"name": p.name(), "version": p.version(), "rules": rules})).into_response())
}

/// A dry decision: the active policy's verdict on a text, in the caller's context unless the
/// body names another. Nothing is forwarded and nothing is recorded.
async fn evaluate(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let principal = state.auth.authenticate(&headers).await?;
    let raw = crate::pipeline::read_body(body, state.config.max_body_bytes).await?;
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
    let policy = state.policy.get();
    let decision = policy.evaluate_in(&request.text, &context);
    Ok(axum::Json(json!({
        "policy": {"name": policy.name(), "version": policy.version()},
        "normalized": policy.normalize(&request.text),
        "decision": decision,
    }))
    .into_response())
}

async fn trace(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(trace_id): Path<String>,
) -> Result<Response, ApiError> {
    let principal = state.auth.authenticate(&headers).await?;
    principal.require(Role::Auditor)?;
    let records = state.store.trace(&trace_id).await.map_err(|e| {
        tracing::error!(error = %e, "trace read failed");
        ApiError::StoreUnavailable
    })?;
    if records.is_empty() {
        return Err(ApiError::NotFound {
            what: format!("Trace `{trace_id}`"),
        });
    }
    Ok(axum::Json(json!({"trace_id": trace_id, "events": records})).into_response())
}

/// Runs a manual clock ahead (`[testing] manual_clock`): rehearses expiry and escalation.
async fn advance_clock(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let principal = state.auth.authenticate(&headers).await?;
    principal.require(Role::Admin)?;
    if !state.clock.manual {
        return Err(ApiError::NotFound { what: "Route".into() });
    }
    let raw = crate::pipeline::read_body(body, 4096).await?;
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
    if advance.advance_ms <= 0 || !state.clock.advance(advance.advance_ms) {
        return Err(ApiError::bad_request(
            "advance_ms must be positive: the clock never goes back.",
            Some("advance_ms"),
            "invalid_value",
        ));
    }
    state.approvals.tick().await;
    Ok(axum::Json(
        json!({"now_ms": state.clock.now_ms(), "now": crate::clock::rfc3339(state.clock.now_ms())}),
    )
    .into_response())
}

async fn not_found() -> ApiError {
    ApiError::NotFound { what: "Route".into() }
}

async fn method_not_allowed() -> Response {
    let body = json!({"error": {"message": "Method not allowed on this route.", "type": "invalid_request_error", "code": "method_not_allowed"}});
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

//! Liveness, readiness, the API description and the metrics: the routes served without a key. Readiness
//! means a request could be served now: the store answers, the trail takes records (a probe
//! the audit writer runs, which writes) and the upstream's health path answers. The trail's
//! probe is reused for a second, so a flood of `/readyz` costs the store one write a second.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

/// The OpenAPI description of every route.
const OPENAPI: &str = include_str!("../openapi.json");

pub async fn openapi() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

pub async fn healthz() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    let (store, trail, upstream) = tokio::join!(
        state.core.store.ping(),
        state.readiness.trail(&state.core.audit),
        state.upstream.ready()
    );
    let ready = store.is_ok() && trail.is_ok() && upstream.is_ok();
    let verdict = |r: Result<(), String>| r.err().unwrap_or_else(|| "ok".into());
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": {
            "store": verdict(store.map_err(|e| e.to_string())),
            "trail": verdict(trail),
            "upstream": verdict(upstream),
        }
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

/// `GET /metrics` on the gateway's address: the Prometheus exposition (OpenMetrics text),
/// or 404 when `[metrics] enabled = false` or the metrics have a listener of their own.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let config = &state.core.config;
    if !config.metrics_enabled || config.metrics_listen.is_some() {
        return ApiError::NotFound { what: "Route".into() }.into_response();
    }
    exposition(&state).await
}

/// `GET /metrics` on the metrics' own listener (`[metrics] listen`).
pub async fn metrics_own_listener(State(state): State<AppState>) -> Response {
    exposition(&state).await
}

async fn exposition(state: &AppState) -> Response {
    let pending = state.core.store.pending_approvals(None).await.ok();
    let policy = state.core.policy.get();
    let body = crate::metrics::METRICS.render(pending, policy.name(), policy.version());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

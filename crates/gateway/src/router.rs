//! The route table, as data: every path, what serves it, and the shape of its errors; the one
//! list of routes that need no key; and the layers every request passes, in order, each with
//! the reason it is there. A governed surface is mounted with one line: `governed(...)`.

use std::panic::AssertUnwindSafe;

use axum::Extension;
use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use futures_util::FutureExt;
use serde_json::json;

use crate::api;
use crate::auth::{Principal, TraceId};
use crate::error::ApiError;
use crate::governance::{Incoming, Surface, govern};
use crate::state::AppState;
use crate::surfaces::chat_completions::ChatCompletions;
use crate::surfaces::responses::Responses;
use crate::surfaces::tool_hook::ToolHook;
use crate::surfaces::tools_invoke::ToolsInvoke;

/// Routes served without a key: liveness, readiness, the API description and the metrics
/// (which hold no secret and no key, tenant or text: see `crate::metrics`). The
/// authentication layer reads this list and nothing else.
pub const PUBLIC_ROUTES: [&str; 4] = ["/healthz", "/readyz", "/openapi.json", "/metrics"];

/// Routes whose errors keep OpenClaw's `/tools/invoke` shape (`{"ok": false, "error": ...}`);
/// every other route answers errors in OpenAI's shape.
const OPENCLAW_SHAPED: [&str; 1] = ["/tools/invoke"];

/// Every route Warden serves.
fn routes() -> Vec<(&'static str, MethodRouter<AppState>)> {
    vec![
        // Governed surfaces: each goes through the one governance core.
        (
            "/v1/chat/completions",
            governed(|s| ChatCompletions {
                upstream: s.upstream.clone(),
            }),
        ),
        (
            "/v1/responses",
            governed(|s| Responses {
                upstream: s.upstream.clone(),
            }),
        ),
        (
            "/tools/invoke",
            governed(|s| ToolsInvoke {
                upstream: s.upstream.clone(),
            }),
        ),
        ("/v1/decisions/tool-call", governed(|_| ToolHook)),
        // MCP: one endpoint per governed server; `tools/call` and the other actions go through
        // the core (`surfaces::mcp`).
        (
            "/mcp/{server}",
            post(crate::surfaces::mcp::post)
                .get(crate::surfaces::mcp::get)
                .delete(crate::surfaces::mcp::delete),
        ),
        // Warden's own API.
        ("/v1/models", get(api::models::list)),
        ("/v1/policy", get(api::policy::show)),
        ("/v1/policy/evaluate", post(api::policy::evaluate)),
        ("/v1/audit/traces/{trace_id}", get(api::audit::trace)),
        ("/v1/approvals", get(api::approvals::list)),
        ("/v1/approvals/{id}", get(api::approvals::show)),
        ("/v1/approvals/{id}/approve", post(api::approvals::approve)),
        ("/v1/approvals/{id}/reject", post(api::approvals::reject)),
        ("/v1/approvals/{id}/cancel", post(api::approvals::cancel)),
        ("/v1/admin/clock", post(api::admin::advance_clock)),
        ("/v1/mcp/servers", get(api::mcp::list)),
        ("/v1/mcp/servers/{name}", get(api::mcp::show)),
        ("/v1/mcp/servers/{name}/approve", post(api::mcp::approve)),
        // Public.
        (PUBLIC_ROUTES[0], get(api::health::healthz)),
        (PUBLIC_ROUTES[1], get(api::health::readyz)),
        (PUBLIC_ROUTES[2], get(api::health::openapi)),
        (PUBLIC_ROUTES[3], get(api::health::metrics)),
    ]
}

/// Every path the router serves, for tests that hold it to the API description.
pub fn paths() -> Vec<&'static str> {
    routes().into_iter().map(|(path, _)| path).collect()
}

/// The layers every matched route passes, outermost first, and why each is there (one
/// middleware runs both: each layer costs a boxed call on every request):
///
/// 1. catch panics: a bug in a handler answers 500 in OpenAI's shape instead of dropping the
///    connection mid-request (and never takes the gateway down);
/// 2. authenticate: one place decides who the caller is, reading `PUBLIC_ROUTES`; every other
///    route sees a `Principal` and a `TraceId`, or is never run.
///
/// Unmatched paths and methods get a plain 404 or 405 without either. Connection-level limits
/// (header, idle and body timeouts, the connection cap) sit below HTTP, in `crate::listener`.
pub fn router(state: AppState) -> Router {
    let mut router = Router::new();
    for (path, handler) in routes() {
        router = router.route(path, handler);
    }
    router
        .route_layer(middleware::from_fn_with_state(state.clone(), guard))
        // The console signs its users in with a session cookie, not a bearer key: its routes
        // sit beside the API's layer, behind their own (`crate::console`).
        .merge(crate::console::router(&state))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// The layers above, in order.
async fn guard(
    state: State<AppState>,
    matched: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    match AssertUnwindSafe(authenticate(state, matched, request, next))
        .catch_unwind()
        .await
    {
        Ok(response) => response,
        Err(_) => {
            tracing::error!("a request handler panicked; answered 500");
            ApiError::Internal.into_response()
        }
    }
}

/// A governed surface as a route: the request, authenticated, handed to the core.
fn governed<S: Surface>(make: fn(&AppState) -> S) -> MethodRouter<AppState> {
    post(
        move |State(state): State<AppState>,
              Extension(trace): Extension<TraceId>,
              Extension(principal): Extension<Principal>,
              headers: HeaderMap,
              body: Body| async move {
            let surface = make(&state);
            let incoming = Incoming {
                trace_id: trace.0,
                principal,
                headers,
                body,
            };
            govern(&state.core, &surface, incoming).await
        },
    )
}

/// Authenticates every request to a route not in `PUBLIC_ROUTES`. Failures are logged, not
/// audited: an unauthenticated flood must not be able to grow the trail.
async fn authenticate(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = matched
        .as_ref()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| request.uri().path().to_string());
    if PUBLIC_ROUTES.contains(&path.as_str()) {
        return next.run(request).await;
    }
    let trace_id = uuid::Uuid::now_v7().to_string();
    match state.auth.authenticate(request.headers()).await {
        Ok(principal) => {
            request.extensions_mut().insert(TraceId(trace_id));
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(error) => {
            tracing::warn!(trace_id, path, "request refused: invalid or missing API key");
            if OPENCLAW_SHAPED.contains(&path.as_str()) {
                let mut response = (
                    error.status(),
                    axum::Json(json!({"ok": false, "error": {"type": error.kind(), "message": error.message(), "traceId": trace_id}})),
                )
                    .into_response();
                crate::governance::governance_headers(&mut response, &trace_id, None, None);
                if matches!(error, ApiError::Unauthorized) {
                    response
                        .headers_mut()
                        .insert("www-authenticate", axum::http::HeaderValue::from_static("Bearer"));
                }
                return response;
            }
            error.into_response_with(Some(&trace_id))
        }
    }
}

/// The metrics' own listener (`[metrics] listen`): `/metrics` and nothing else.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route(PUBLIC_ROUTES[3], get(api::health::metrics_own_listener))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::NotFound { what: "Route".into() }
}

async fn method_not_allowed() -> Response {
    let body = json!({"error": {"message": "Method not allowed on this route.", "type": "invalid_request_error", "code": "method_not_allowed"}});
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

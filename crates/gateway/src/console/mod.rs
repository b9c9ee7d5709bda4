//! The operators' web console at `/console`: server-rendered pages (askama templates, SVG
//! charts drawn on the server, no external asset) for approvers, auditors and admins, signed
//! in with a Warden key exchanged for a session cookie. Every page reads the same services as
//! the API, with the same roles and tenants; every form carries a CSRF token.

mod approvals;
mod charts;
mod keys;
mod overview;
mod policy;
mod render;
mod session;
mod traces;

use std::panic::AssertUnwindSafe;

use askama::Template;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use futures_util::FutureExt;

use crate::auth::Role;
use crate::state::AppState;

pub use session::ConsoleUser;

/// The console's routes, mounted at `[console] path`, or none when it is turned off.
pub fn router(state: &AppState) -> Router<AppState> {
    let config = &state.core.config.console;
    if !config.enabled {
        return Router::new();
    }
    let base = config.path.as_str();
    let at = |path: &str| format!("{base}{path}");
    Router::new()
        .route(base, get(home))
        .route(&at("/"), get(home))
        .route(&at("/sign-in"), get(session::sign_in_page).post(session::sign_in))
        .route(&at("/sign-out"), post(session::sign_out))
        .route(&at("/approvals"), get(approvals::inbox))
        .route(&at("/approvals/state"), get(approvals::inbox_state))
        .route(
            &at("/approvals/{id}"),
            get(approvals::show).post(approvals::decide),
        )
        .route(&at("/approvals/{id}/state"), get(approvals::state))
        .route(&at("/traces"), get(traces::search))
        .route(&at("/traces/export"), get(traces::export))
        .route(&at("/traces/{trace_id}"), get(traces::show))
        .route(&at("/audit/verify"), post(traces::verify))
        .route(&at("/overview"), get(overview::show))
        .route(&at("/policy"), get(policy::show).post(policy::playground))
        .route(&at("/keys"), get(keys::list).post(keys::create))
        .route(&at("/keys/{id}/revoke"), post(keys::revoke))
        .route(&at("/static/console.css"), get(static_css))
        .route(&at("/static/console.js"), get(static_js))
        .route(&at("/{*rest}"), get(not_found_page))
        .route_layer(middleware::from_fn_with_state(state.clone(), guard))
}

/// Every console answer: a panic becomes an error page, and the headers that keep the pages
/// from being framed, sniffed, cached or made to run anything but the console's own script,
/// with the time the answer took (`Server-Timing`).
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let mut response = match AssertUnwindSafe(next.run(request)).catch_unwind().await {
        Ok(response) => response,
        Err(_) => {
            tracing::error!("a console page panicked; answered 500");
            error_page(
                &state,
                None,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side. The error is in the gateway's log.",
            )
        }
    };
    let headers = response.headers_mut();
    let set = |headers: &mut axum::http::HeaderMap, name: header::HeaderName, value: &'static str| {
        headers
            .entry(name)
            .or_insert_with(|| HeaderValue::from_static(value));
    };
    set(
        headers,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
    set(headers, header::REFERRER_POLICY, "same-origin");
    set(headers, header::CACHE_CONTROL, "no-store");
    // The time the page took to make, for the browser's developer tools and the benchmark.
    let millis = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(timing) = HeaderValue::from_str(&format!("app;dur={millis:.2}")) {
        headers.insert("server-timing", timing);
    }
    response
}

/// `/console`: the page each role starts on.
async fn home(user: ConsoleUser) -> Response {
    let to = if user.may(Role::Approver) {
        "approvals"
    } else if user.may(Role::Auditor) {
        "overview"
    } else {
        "policy"
    };
    Redirect::to(&format!("{}/{to}", user.base)).into_response()
}

/// A console address that is no page: an HTML answer, not the API's JSON.
async fn not_found_page(State(state): State<AppState>) -> Response {
    error_page(
        &state,
        None,
        StatusCode::NOT_FOUND,
        "There is no such page in the console.",
    )
}

const CONSOLE_CSS: &str = include_str!("../../assets/console.css");
const CONSOLE_JS: &str = include_str!("../../assets/console.js");

async fn static_css() -> Response {
    asset("text/css; charset=utf-8", CONSOLE_CSS)
}

async fn static_js() -> Response {
    asset("text/javascript; charset=utf-8", CONSOLE_JS)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// What every page's frame needs: where the console is, who is signed in and what they may
/// open, and the CSRF token its forms carry.
pub struct Frame {
    pub base: String,
    pub title: String,
    pub user: Option<FrameUser>,
    /// The navigation entry of this page.
    pub current: &'static str,
}

pub struct FrameUser {
    pub name: String,
    pub tenant: String,
    pub roles: String,
    pub csrf: String,
    pub approver: bool,
    pub auditor: bool,
    pub admin: bool,
}

impl Frame {
    pub fn new(user: &ConsoleUser, title: impl Into<String>, current: &'static str) -> Frame {
        Frame {
            base: user.base.clone(),
            title: title.into(),
            current,
            user: Some(FrameUser {
                name: user.principal.name.clone(),
                tenant: user.principal.tenant.clone(),
                roles: user.principal.roles_as_strings().join(", "),
                csrf: user.csrf.clone(),
                approver: user.may(Role::Approver),
                auditor: user.may(Role::Auditor),
                admin: user.principal.roles.contains(&Role::Admin),
            }),
        }
    }

    fn anonymous(base: &str, title: &str) -> Frame {
        Frame {
            base: base.to_string(),
            title: title.to_string(),
            user: None,
            current: "",
        }
    }

    /// The CSRF token the page's forms carry.
    pub fn csrf(&self) -> &str {
        self.user.as_ref().map_or("", |u| u.csrf.as_str())
    }

    /// Whether the signed-in user may open the trail's pages.
    pub fn is_auditor(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.auditor)
    }

    /// Whether `entry` is this page's navigation entry, for `aria-current`.
    pub fn is(&self, entry: &str) -> bool {
        self.current == entry
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    frame: Frame,
    status: u16,
    message: &'a str,
}

/// A page that says what went wrong, in the console's frame.
pub fn error_page(
    state: &AppState,
    user: Option<&ConsoleUser>,
    status: StatusCode,
    message: &str,
) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let frame = match user {
        Some(user) => Frame::new(user, title, ""),
        None => Frame::anonymous(&state.core.config.console.path, title),
    };
    let page = ErrorPage {
        frame,
        status: status.as_u16(),
        message,
    };
    (status, html(page.render())).into_response()
}

/// A rendered template as an HTML answer; a template that fails to render is logged and
/// answered 500 without its half-written text.
pub fn html(rendered: askama::Result<String>) -> Response {
    match rendered {
        Ok(body) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a console template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be rendered.",
            )
                .into_response()
        }
    }
}

/// The store failed: logged, and the page says so.
pub fn store_failed(state: &AppState, user: &ConsoleUser, e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "a console page could not read the store");
    error_page(
        state,
        Some(user),
        StatusCode::SERVICE_UNAVAILABLE,
        "The store is not answering. Try again in a moment.",
    )
}

/// Records indexed in one run of the audit writer.
const INDEX_RUN: i64 = 100;

/// Keeps the trail's search index (traces and hourly counts) up with the trail: every
/// `interval`, the records committed since are read in batches. Replicas share the work; a
/// failure is logged and retried on the next tick.
pub fn spawn_indexer(
    store: warden_store::Store,
    audit: warden_store::AuditLog,
    interval: std::time::Duration,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // In short runs, each written by the audit writer between two commits: an append
            // waits for at most one run (a few milliseconds), never for a second's worth. Bounded
            // per tick, so a long backlog (a trail from before the index) is worked off in turns
            // with the requests.
            for _ in 0..200 {
                match audit.index_trail(&store, INDEX_RUN).await {
                    Ok(0) => break,
                    Ok(_) => tokio::task::yield_now().await,
                    Err(e) => {
                        tracing::warn!(error = %e, "the trail's search index did not catch up; retrying");
                        break;
                    }
                }
            }
        }
    });
}

//! Signing in to the console: a Warden key typed once is exchanged for a random session token
//! in an `HttpOnly`, `SameSite=Strict` cookie (its hash kept in the store, so every replica
//! knows it); sessions end when idle, at their maximum age, on sign-out, or when their key is
//! revoked. Every form carries the session's CSRF token, and cross-site posts are refused.

use askama::Template;
use axum::extract::rejection::FormRejection;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Form, Json};
use base64::Engine;
use serde::Deserialize;
use serde_json::json;
use warden_store::ConsoleSession;

use super::{Frame, error_page, html};
use crate::api::approvals::is_overseer;
use crate::auth::{Principal, Role, constant_time_eq, hash_secret};
use crate::config::SecureCookies;
use crate::governance::records;
use crate::state::AppState;

const SESSION_COOKIE: &str = "warden_console";
/// The sign-in form's own CSRF token (double-submitted: cookie and form field).
const SIGN_IN_COOKIE: &str = "warden_console_signin";
/// A session's idle expiry moves forward at most this often, so pages do not each write.
const TOUCH_EVERY_MS: i64 = 60_000;

/// A signed-in console user: the key's principal as it is now (roles and tenant read on every
/// page, as the API reads them on every request).
#[derive(Debug, Clone)]
pub struct ConsoleUser {
    pub principal: Principal,
    pub csrf: String,
    pub base: String,
    id_hash: String,
}

impl ConsoleUser {
    /// Whether the user holds `role` (admins hold every role).
    pub fn may(&self, role: Role) -> bool {
        self.principal.holds(role)
    }

    /// A 403 page unless the user holds `role`.
    pub fn require(&self, state: &AppState, role: Role) -> Result<(), Refused> {
        if self.may(role) {
            Ok(())
        } else {
            Err(Refused::page(error_page(
                state,
                Some(self),
                StatusCode::FORBIDDEN,
                &format!(
                    "This page needs the `{}` role, which your key does not have.",
                    role.as_str()
                ),
            )))
        }
    }

    /// A posted form, accepted only when it could be read, carries this session's CSRF token,
    /// came from the console's own origin, and (with `role`) the user holds `role`.
    pub fn accept<T: WithCsrf>(
        &self,
        state: &AppState,
        headers: &HeaderMap,
        form: Result<Form<T>, FormRejection>,
        role: Option<Role>,
    ) -> Result<T, Refused> {
        let Ok(Form(form)) = form else {
            return Err(Refused::page(error_page(
                state,
                Some(self),
                StatusCode::BAD_REQUEST,
                "The form could not be read.",
            )));
        };
        self.check_form(state, headers, form.csrf())?;
        if let Some(role) = role {
            self.require(state, role)?;
        }
        Ok(form)
    }

    /// Refuses a form unless it carries this session's CSRF token and came from the console's
    /// own origin.
    fn check_form(&self, state: &AppState, headers: &HeaderMap, token: &str) -> Result<(), Refused> {
        if same_origin(headers) && constant_time_eq(token.as_bytes(), self.csrf.as_bytes()) {
            return Ok(());
        }
        tracing::warn!(key = %self.principal.name, "console form refused: missing or wrong CSRF token, or cross-site");
        Err(Refused::page(error_page(
            state,
            Some(self),
            StatusCode::FORBIDDEN,
            "This form's security token is missing or out of date. Go back, reload the page and try again.",
        )))
    }
}

/// A form that carries the session's CSRF token in its `csrf` field.
pub trait WithCsrf {
    fn csrf(&self) -> &str;
}

/// Declares the forms that carry a `csrf` field.
macro_rules! with_csrf {
    ($($form:ty),*) => {$(
        impl $crate::console::session::WithCsrf for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        }
    )*};
}
pub(crate) use with_csrf;

with_csrf!(CsrfForm);

/// A page refusing what was asked (boxed: a response is large to carry in every `Result`).
pub struct Refused(Box<Response>);

impl Refused {
    fn page(response: Response) -> Refused {
        Refused(Box::new(response))
    }
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// A post from another site: `Sec-Fetch-Site` says so, or the `Origin` names another host.
fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    match (text("origin"), text("host")) {
        (Some(origin), Some(host)) => {
            let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            origin_host.eq_ignore_ascii_case(host)
        }
        (Some(_), None) => false,
        (None, _) => true,
    }
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn random_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// `Secure` when configured, or (by default) when the request came over HTTPS.
fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    match state.core.config.console.secure_cookies {
        SecureCookies::Always => true,
        SecureCookies::Never => false,
        SecureCookies::Auto => {
            let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
            text("x-forwarded-proto").eq_ignore_ascii_case("https") || text("origin").starts_with("https://")
        }
    }
}

fn set_cookie(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
    value: &str,
    max_age_secs: u64,
) -> HeaderValue {
    let base = &state.core.config.console.path;
    let secure = if secure(state, headers) { "; Secure" } else { "" };
    let cookie =
        format!("{name}={value}; Path={base}; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{secure}");
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn sign_in_redirect(state: &AppState, next: Option<&str>, clear: bool, headers: &HeaderMap) -> Response {
    let base = &state.core.config.console.path;
    let to = match next {
        Some(next) => format!("{base}/sign-in?next={}", super::render::url_encode(next, true)),
        None => format!("{base}/sign-in"),
    };
    let mut response = Redirect::to(&to).into_response();
    if clear {
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(state, headers, SESSION_COOKIE, "", 0),
        );
    }
    response
}

/// Where to go after signing in: a page of the console, never another site.
fn safe_next(base: &str, next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with(&format!("{base}/"))
                && !n.contains("//")
                && !n.contains('\\')
                && n.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            n.to_string()
        }
        _ => base.to_string(),
    }
}

impl FromRequestParts<AppState> for ConsoleUser {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<ConsoleUser, Response> {
        let wanted = parts.uri.path_and_query().map(|p| p.as_str().to_string());
        // Only pages are worth returning to; a form's target is not.
        let next = (parts.method == axum::http::Method::GET)
            .then_some(wanted)
            .flatten();
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE).filter(|t| !t.is_empty()) else {
            return Err(sign_in_redirect(state, next.as_deref(), false, &parts.headers));
        };
        let id_hash = hash_secret(token);
        let now = state.core.clock.now_ms();
        let session = match state.core.store.console_session(&id_hash, now).await {
            Ok(Some(session)) => session,
            Ok(None) => return Err(sign_in_redirect(state, next.as_deref(), true, &parts.headers)),
            Err(e) => {
                tracing::error!(error = %e, "console session lookup failed");
                return Err(error_page(
                    state,
                    None,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The store is not answering. Try again in a moment.",
                ));
            }
        };
        let principal = match state.auth.principal_by_id(&session.key_id).await {
            Ok(p) if is_overseer(&p) => p,
            _ => {
                // Revoked, or no longer a console role: the session ends with it.
                let _ = state.core.store.end_console_session(&id_hash).await;
                return Err(sign_in_redirect(state, next.as_deref(), true, &parts.headers));
            }
        };
        if now - session.seen_ms > TOUCH_EVERY_MS {
            let config = &state.core.config.console;
            let expires = (now + config.session_idle.as_millis() as i64)
                .min(session.created_ms + config.session_max.as_millis() as i64);
            if let Err(e) = state
                .core
                .store
                .touch_console_session(&id_hash, now, expires)
                .await
            {
                tracing::warn!(error = %e, "console session not extended");
            }
        }
        Ok(ConsoleUser {
            principal,
            csrf: session.csrf,
            base: state.core.config.console.path.clone(),
            id_hash,
        })
    }
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage<'a> {
    frame: Frame,
    csrf: &'a str,
    next: &'a str,
    error: Option<&'a str>,
}

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn sign_in_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Response {
    let Some(csrf) = random_token() else {
        return error_page(
            &state,
            None,
            StatusCode::INTERNAL_SERVER_ERROR,
            "No randomness available.",
        );
    };
    let base = state.core.config.console.path.clone();
    let next = safe_next(&base, q.next.as_deref());
    let page = SignInPage {
        frame: Frame::anonymous(&base, "Sign in"),
        csrf: &csrf,
        next: &next,
        error: None,
    };
    let mut response = html(page.render());
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, &headers, SIGN_IN_COOKIE, &csrf, 600),
    );
    response
}

#[derive(Debug, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    key: String,
    next: Option<String>,
}

pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Response {
    let base = state.core.config.console.path.clone();
    let Ok(Form(form)) = form else {
        return error_page(
            &state,
            None,
            StatusCode::BAD_REQUEST,
            "The sign-in form could not be read.",
        );
    };
    let double_submitted = cookie(&headers, SIGN_IN_COOKIE)
        .is_some_and(|c| !c.is_empty() && constant_time_eq(c.as_bytes(), form.csrf.as_bytes()));
    if !double_submitted || !same_origin(&headers) {
        tracing::warn!("console sign-in refused: missing or wrong CSRF token, or cross-site");
        return error_page(
            &state,
            None,
            StatusCode::FORBIDDEN,
            "This sign-in form is out of date. Open the sign-in page again.",
        );
    }
    let next = safe_next(&base, form.next.as_deref());
    let refuse = |message: &str, status: StatusCode| {
        let page = SignInPage {
            frame: Frame::anonymous(&base, "Sign in"),
            csrf: &form.csrf,
            next: &next,
            error: Some(message),
        };
        (status, html(page.render())).into_response()
    };
    let principal = match state.auth.authenticate_key(form.key.trim()).await {
        Ok(p) => p,
        Err(crate::error::ApiError::StoreUnavailable) => {
            return refuse(
                "The store is not answering. Try again in a moment.",
                StatusCode::SERVICE_UNAVAILABLE,
            );
        }
        Err(_) => {
            tracing::warn!("console sign-in refused: invalid, unknown or revoked key");
            return refuse("That key was not accepted.", StatusCode::UNAUTHORIZED);
        }
    };
    if !is_overseer(&principal) {
        tracing::warn!(key = %principal.name, "console sign-in refused: no console role");
        return refuse(
            "This key may send requests but not use the console: it needs the approver, auditor or admin role.",
            StatusCode::FORBIDDEN,
        );
    }
    let (Some(token), Some(csrf)) = (random_token(), random_token()) else {
        return refuse("No randomness available.", StatusCode::INTERNAL_SERVER_ERROR);
    };
    let now = state.core.clock.now_ms();
    let config = &state.core.config.console;
    let session = ConsoleSession {
        id_hash: hash_secret(&token),
        key_id: principal.key_id.clone(),
        csrf,
        created_ms: now,
        seen_ms: now,
        expires_ms: now + config.session_idle.as_millis() as i64,
    };
    if let Err(e) = state.core.store.create_console_session(&session).await {
        tracing::error!(error = %e, "console session not stored");
        return refuse(
            "The store is not answering. Try again in a moment.",
            StatusCode::SERVICE_UNAVAILABLE,
        );
    }
    let _ = state.core.store.purge_console_sessions(now).await;
    let record = records::console(&principal, "sign_in", json!({}));
    let _ = records::write(&state.core.audit, vec![record]).await;
    let mut response = Redirect::to(&next).into_response();
    let cookies = response.headers_mut();
    cookies.append(
        header::SET_COOKIE,
        set_cookie(
            &state,
            &headers,
            SESSION_COOKIE,
            &token,
            config.session_max.as_secs(),
        ),
    );
    cookies.append(
        header::SET_COOKIE,
        set_cookie(&state, &headers, SIGN_IN_COOKIE, "", 0),
    );
    response
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

pub async fn sign_out(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    if let Err(refused) = user.accept(&state, &headers, form, None) {
        return refused.into_response();
    }
    if let Err(e) = state.core.store.end_console_session(&user.id_hash).await {
        return super::store_failed(&state, &user, e);
    }
    let record = records::console(&user.principal, "sign_out", json!({}));
    let _ = records::write(&state.core.audit, vec![record]).await;
    let mut response = Redirect::to(&format!("{}/sign-in", user.base)).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&state, &headers, SESSION_COOKIE, "", 0),
    );
    response
}

/// A small JSON answer for the console's own script.
pub fn json_state(value: serde_json::Value) -> Response {
    Json(value).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_in_the_console() {
        assert_eq!(
            safe_next("/console", Some("/console/traces?risk=red")),
            "/console/traces?risk=red"
        );
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/console//evil",
            "/consoleX",
            "/console/\\evil",
        ] {
            assert_eq!(safe_next("/console", Some(bad)), "/console", "{bad}");
        }
    }

    #[test]
    fn cross_site_posts_are_recognised() {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("127.0.0.1:8080"));
        assert!(
            same_origin(&h),
            "no Origin: a same-origin form in an older browser"
        );
        h.insert("origin", HeaderValue::from_static("http://127.0.0.1:8080"));
        assert!(same_origin(&h));
        h.insert("origin", HeaderValue::from_static("http://evil.example"));
        assert!(!same_origin(&h));
        h.insert("origin", HeaderValue::from_static("http://127.0.0.1:8080"));
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h));
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("warden_console_signin=a; warden_console=b"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("b"));
        assert_eq!(cookie(&h, SIGN_IN_COOKIE), Some("a"));
    }
}

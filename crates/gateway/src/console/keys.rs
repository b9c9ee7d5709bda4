//! The keys page, for admins: every key with its roles, tenant and groups; a new key made and
//! shown once; a key revoked, which also ends its console sessions. Each change is recorded
//! on the trail under the admin's key.

use askama::Template;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

use super::session::CsrfForm;
use super::{ConsoleUser, Frame, error_page, html, store_failed};
use crate::auth::{Role, generate_key_in_groups};
use crate::governance::records;
use crate::state::AppState;

pub struct KeyLine {
    pub id: String,
    pub name: String,
    pub roles: String,
    pub tenant: String,
    pub groups: String,
    pub created: String,
    pub revoked: String,
}

#[derive(Template)]
#[template(path = "console/keys.html")]
struct KeysPage {
    frame: Frame,
    keys: Vec<KeyLine>,
    roles: Vec<&'static str>,
    /// A key just made: (name, the whole key), shown once.
    created: Option<(String, String)>,
    error: Option<String>,
    form: NewKeyForm,
    show_revoked: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct NewKeyForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    groups: String,
    #[serde(default)]
    requester: Option<String>,
    #[serde(default)]
    approver: Option<String>,
    #[serde(default)]
    auditor: Option<String>,
    #[serde(default)]
    admin: Option<String>,
}

super::session::with_csrf!(NewKeyForm);

impl NewKeyForm {
    pub fn has(&self, role: &str) -> bool {
        match role {
            "requester" => self.requester.is_some(),
            "approver" => self.approver.is_some(),
            "auditor" => self.auditor.is_some(),
            "admin" => self.admin.is_some(),
            _ => false,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    revoked: Option<String>,
}

async fn render(
    state: &AppState,
    user: &ConsoleUser,
    created: Option<(String, String)>,
    error: Option<String>,
    form: NewKeyForm,
    show_revoked: bool,
) -> Response {
    let keys = match state.core.store.list_keys().await {
        Ok(keys) => keys,
        Err(e) => return store_failed(state, user, e),
    };
    let keys = keys
        .into_iter()
        .filter(|k| show_revoked || k.revoked_at.is_none())
        .map(|k| KeyLine {
            id: k.id,
            name: k.name,
            roles: k.roles.join(", "),
            tenant: k.tenant,
            groups: k.groups.join(", "),
            created: warden_store::parse_ts_ms(&k.created_at)
                .map(super::render::when)
                .unwrap_or(k.created_at),
            revoked: k.revoked_at.unwrap_or_default(),
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = KeysPage {
        frame: Frame::new(user, "Keys", "keys"),
        keys,
        roles: Role::ALL.iter().map(|r| r.as_str()).collect(),
        created,
        error,
        form,
        show_revoked,
    };
    (status, html(page.render())).into_response()
}

pub async fn list(
    State(state): State<AppState>,
    user: ConsoleUser,
    axum::extract::Query(q): axum::extract::Query<ListQuery>,
) -> Response {
    if let Err(refused) = user.require(&state, Role::Admin) {
        return refused.into_response();
    }
    let form = NewKeyForm {
        tenant: user.principal.tenant.clone(),
        ..NewKeyForm::default()
    };
    render(&state, &user, None, None, form, q.revoked.is_some()).await
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'))
}

pub async fn create(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    form: Result<Form<NewKeyForm>, FormRejection>,
) -> Response {
    let form = match user.accept(&state, &headers, form, Some(Role::Admin)) {
        Ok(form) => form,
        Err(refused) => return refused.into_response(),
    };
    let name = form.name.trim().to_string();
    let tenant = match form.tenant.trim() {
        "" => user.principal.tenant.clone(),
        t => t.to_string(),
    };
    let roles: Vec<Role> = Role::ALL.into_iter().filter(|r| form.has(r.as_str())).collect();
    let groups: Vec<String> = form
        .groups
        .split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(str::to_string)
        .collect();
    let problem = if !valid_name(&name) {
        Some("A key's name is 1 to 64 letters, digits, `-`, `_`, `.` or `@`.")
    } else if roles.is_empty() {
        Some("Give the key at least one role.")
    } else if !valid_name(&tenant) || groups.iter().any(|g| !valid_name(g)) {
        Some("Tenants and groups are written in letters, digits, `-`, `_`, `.` or `@`.")
    } else {
        None
    };
    if let Some(problem) = problem {
        return render(&state, &user, None, Some(problem.into()), form, false).await;
    }
    let key = match generate_key_in_groups(&name, &roles, &tenant, &groups) {
        Ok(key) => key,
        Err(_) => {
            return error_page(
                &state,
                Some(&user),
                StatusCode::INTERNAL_SERVER_ERROR,
                "No randomness available.",
            );
        }
    };
    if state.core.store.insert_key(&key.record).await.is_err() {
        let message = format!("An active key is already named `{name}`.");
        return render(&state, &user, None, Some(message), form, false).await;
    }
    let record = records::console(
        &user.principal,
        "key_created",
        json!({"key": {"id": key.record.id, "name": name, "roles": key.record.roles, "tenant": tenant, "groups": groups}}),
    );
    if let Err(e) = records::write(&state.core.audit, vec![record]).await {
        tracing::warn!(error = ?e, "the key's creation was not recorded");
    }
    let blank = NewKeyForm {
        tenant: user.principal.tenant.clone(),
        ..NewKeyForm::default()
    };
    render(&state, &user, Some((name, key.key)), None, blank, false).await
}

pub async fn revoke(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    if let Err(refused) = user.accept(&state, &headers, form, Some(Role::Admin)) {
        return refused.into_response();
    }
    let store = &state.core.store;
    let key = match store.find_key(&id).await {
        Ok(Some(k)) if k.revoked_at.is_none() => k,
        Ok(_) => {
            return error_page(
                &state,
                Some(&user),
                StatusCode::NOT_FOUND,
                "No active key has that id.",
            );
        }
        Err(e) => return store_failed(&state, &user, e),
    };
    if key.id == user.principal.key_id {
        return error_page(
            &state,
            Some(&user),
            StatusCode::CONFLICT,
            "That is the key you are signed in with; revoke it from another admin's session or with `warden keys revoke`.",
        );
    }
    if let Err(e) = store.revoke_key(&key.id).await {
        return store_failed(&state, &user, e);
    }
    let sessions = store.end_console_sessions_of(&key.id).await.unwrap_or(0);
    let record = records::console(
        &user.principal,
        "key_revoked",
        json!({"key": {"id": key.id, "name": key.name}, "console_sessions_ended": sessions}),
    );
    if let Err(e) = records::write(&state.core.audit, vec![record]).await {
        tracing::warn!(error = ?e, "the key's revocation was not recorded");
    }
    Redirect::to(&format!("{}/keys", user.base)).into_response()
}

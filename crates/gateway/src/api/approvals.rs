//! The approver's API under `/v1/approvals`: list, show (with the exact request and the rules
//! that matched), approve, reject with a note, and cancel by the requester.

use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use warden_store::{Approval, ApprovalFilter, ApprovalStatus};

use super::small_body;
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::governance::approvals::{not_found, summary};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    requester: Option<String>,
    rule: Option<String>,
    limit: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Note {
    note: Option<String>,
}

/// Approvers, auditors and admins see their tenant's queue (admins every tenant's); a
/// requester sees their own requests.
pub(crate) fn is_overseer(principal: &Principal) -> bool {
    [Role::Approver, Role::Auditor, Role::Admin]
        .iter()
        .any(|r| principal.roles.contains(r))
}

pub(crate) fn may_see(principal: &Principal, a: &Approval) -> bool {
    (is_overseer(principal) && principal.sees_tenant(Some(&a.tenant))) || a.requester_key == principal.key_id
}

fn detail(a: &Approval) -> serde_json::Value {
    let mut body = summary(a);
    body["request"] = a.request.clone();
    body["decision"] = a.decision.clone();
    body["votes"] = json!(a.votes);
    body["on_expiry"] = json!(a.on_expiry);
    body
}

pub async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Query(query): Query<ListQuery>,
) -> Result<Response, ApiError> {
    let status = match query.status.as_deref() {
        None | Some("all") => None,
        Some(s) => Some(ApprovalStatus::parse(s).ok_or_else(|| {
            ApiError::bad_request(
                format!("Unknown status `{s}` (pending, approved, rejected, expired, cancelled, used, all)."),
                Some("status"),
                "invalid_value",
            )
        })?),
    };
    // The visibility rule applies in the query itself, so a limit counts visible requests.
    let filter = ApprovalFilter {
        status,
        requester: query.requester,
        rule: query.rule,
        limit: query.limit,
        tenant: principal.tenant_scope().map(str::to_string),
        requester_key: (!is_overseer(&principal)).then(|| principal.key_id.clone()),
    };
    let items = state
        .core
        .store
        .list_approvals(&filter)
        .await
        .map_err(|_| ApiError::StoreUnavailable)?;
    let data: Vec<_> = items
        .iter()
        .filter(|a| may_see(&principal, a))
        .map(summary)
        .collect();
    Ok(axum::Json(json!({"object": "list", "data": data})).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let a = state
        .core
        .store
        .approval(&id)
        .await
        .map_err(|_| ApiError::StoreUnavailable)?
        .filter(|a| may_see(&principal, a))
        .ok_or_else(|| not_found(&id))?;
    Ok(axum::Json(detail(&a)).into_response())
}

async fn decide(
    state: AppState,
    principal: Principal,
    id: String,
    body: axum::body::Body,
    approve: bool,
) -> Result<Response, ApiError> {
    // The role first: it says nothing of whether `id` exists. Then an approver decides only
    // what they may see, their tenant's queue.
    principal.require(Role::Approver)?;
    let visible = state
        .core
        .store
        .approval(&id)
        .await
        .map_err(|_| ApiError::StoreUnavailable)?
        .is_some_and(|a| may_see(&principal, &a));
    if !visible {
        return Err(not_found(&id));
    }
    let raw = small_body(&state, body, 64 * 1024).await?;
    let note: Note = if raw.iter().all(u8::is_ascii_whitespace) {
        Note::default()
    } else {
        serde_json::from_slice(&raw).map_err(|e| {
            ApiError::bad_request(
                format!("The body must be {{\"note\": string}}: {e}."),
                None,
                "invalid_json",
            )
        })?
    };
    let a = state
        .core
        .approvals
        .vote(&id, &principal, approve, note.note.as_deref())
        .await?;
    Ok(axum::Json(detail(&a)).into_response())
}

pub async fn approve(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    decide(state, principal, id, body, true).await
}

pub async fn reject(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    decide(state, principal, id, body, false).await
}

pub async fn cancel(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let a = state.core.approvals.cancel(&id, &principal).await?;
    Ok(axum::Json(detail(&a)).into_response())
}

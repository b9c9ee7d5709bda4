//! `GET /v1/audit/traces/{trace_id}`: one trace's records, for auditors of its tenant. A
//! trace of another tenant is, to the caller, no trace at all.

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::state::AppState;

pub async fn trace(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(trace_id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Role::Auditor)?;
    let records = state.core.store.trace(&trace_id).await.map_err(|e| {
        tracing::error!(error = %e, "trace read failed");
        ApiError::StoreUnavailable
    })?;
    let visible = visible_records(&principal, records);
    if visible.is_empty() {
        return Err(ApiError::NotFound {
            what: format!("Trace `{}`", crate::governance::records::preview(&trace_id, 64)),
        });
    }
    Ok(axum::Json(json!({"trace_id": trace_id, "events": visible})).into_response())
}

/// The records of a trace the principal may read: admins every tenant's, auditors only those
/// stamped with their own.
pub(crate) fn visible_records(
    principal: &Principal,
    records: Vec<warden_store::AuditRecord>,
) -> Vec<warden_store::AuditRecord> {
    records
        .into_iter()
        .filter(|r| principal.sees_tenant(r.payload.get("tenant").and_then(|t| t.as_str())))
        .collect()
}

//! The audit records of a governed request: one function per stage, so the trail's shape is
//! defined in one place.

use serde_json::{Value, json};
use warden_policy::Decision;
use warden_store::{AuditLog, NewEvent};

use crate::approve::{Approval, Outcome};
use crate::auth::Principal;
use crate::error::ApiError;
use crate::request::ChatRequest;

/// Stamps every record with the version of the policy in force, so each record says under
/// which rules it was written.
pub fn stamp(mut records: Vec<NewEvent>, policy_version: &str) -> Vec<NewEvent> {
    for record in &mut records {
        if let Value::Object(payload) = &mut record.payload {
            payload.insert("policy_version".into(), Value::String(policy_version.to_string()));
        }
    }
    records
}

/// Stamps `records` with the policy version and waits for their commit. Nothing may run or
/// be answered on the strength of records that are not durable, so a failed commit refuses
/// the request.
pub async fn commit(audit: &AuditLog, records: Vec<NewEvent>, policy_version: &str) -> Result<(), ApiError> {
    let trace_id = records.first().map(|r| r.trace_id.clone()).unwrap_or_default();
    match audit.append(stamp(records, policy_version)).await {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::error!(trace_id, error = %e, "audit records not committed; refusing the request");
            Err(ApiError::AuditUnavailable)
        }
    }
}

/// The first `max` characters of `text`.
pub fn preview(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

fn principal_json(p: &Principal) -> Value {
    json!({"key": p.name, "key_id": p.key_id, "roles": p.roles_as_strings(), "tenant": p.tenant})
}

/// The records committed before a request may run: classification, the approval if one was
/// needed, and `blocked` or `halted` when it does not run.
/// The classification record: who asked, what, and the policy's decision.
pub fn classification(
    trace_id: &str,
    principal: &Principal,
    request: &ChatRequest,
    decision: &Decision,
    max_text_chars: usize,
) -> NewEvent {
    NewEvent::now(
        trace_id,
        "classification",
        &principal.actor(),
        json!({
            "principal": principal_json(principal),
            "request": {
                "user_request": preview(request.recorded_text.trim_end(), max_text_chars),
                // The system instructions and earlier turns, judged for red only; kept so that a
                // decision taken on them can be explained from the record.
                "context": (!request.recorded_context.trim().is_empty())
                    .then(|| preview(request.recorded_context.trim_end(), max_text_chars)),
                "model": request.model,
                "upstream_model": request.upstream_model,
                "stream": request.stream,
                "user": request.user,
                "agent_id": request.agent_id,
                "session_key": request.session_key,
                "messages": request.message_count,
                "digest": format!("sha256:{}", request.digest),
            },
            "decision": decision,
            "dlp": request.dlp,
        }),
    )
}

pub fn decision_records(
    trace_id: &str,
    principal: &Principal,
    request: &ChatRequest,
    decision: &Decision,
    approval: &Approval,
    refusal: Option<&ApiError>,
    max_text_chars: usize,
) -> Vec<NewEvent> {
    let mut records = vec![classification(
        trace_id,
        principal,
        request,
        decision,
        max_text_chars,
    )];
    if let Some(record) = &approval.record {
        let reviewer = record
            .get("reviewer")
            .and_then(Value::as_str)
            .unwrap_or("warden")
            .to_string();
        records.push(NewEvent::now(trace_id, "approval", &reviewer, record.clone()));
    }
    let rule = decision.deciding_rule().map(str::to_string);
    if let (Outcome::Blocked, Some(refusal)) = (&approval.outcome, refusal) {
        records.push(NewEvent::now(
            trace_id,
            "blocked",
            "warden",
            json!({"status": "blocked", "risk": decision.risk, "rule": rule, "reason": decision.reason, "response": refusal.message()}),
        ));
    }
    records
}

/// A request refused before classification (bad input) by an authenticated caller.
pub fn rejected(trace_id: &str, principal: &Principal, error: &ApiError) -> NewEvent {
    NewEvent::now(
        trace_id,
        "rejected",
        &principal.actor(),
        json!({"status": error.status().as_u16(), "error": error.message(), "principal": principal_json(principal)}),
    )
}

/// A request that waited for approval and does not run (yet): deferred, timed out, or denied.
pub fn halted(trace_id: &str, approval_id: &str, status: &str, error: &ApiError) -> NewEvent {
    NewEvent::now(
        trace_id,
        "halted",
        "warden",
        json!({"status": status, "approval_id": approval_id, "response": error.message()}),
    )
}

/// An approved request taken from the queue to run, once.
pub fn approval_used(trace_id: &str, principal: &Principal, a: &warden_store::Approval) -> NewEvent {
    let reviewers: Vec<&str> = a.votes.iter().map(|v| v.approver_name.as_str()).collect();
    NewEvent::now(
        trace_id,
        "approval_used",
        &principal.actor(),
        json!({"approval_id": a.id, "approved_trace_id": a.trace_id, "reviewers": reviewers, "digest": a.digest}),
    )
}

/// A failed call to the upstream.
pub fn upstream_error(
    trace_id: &str,
    kind: &str,
    detail: &str,
    status: Option<u16>,
    duration_ms: u64,
) -> NewEvent {
    NewEvent::now(
        trace_id,
        "upstream_error",
        "warden",
        json!({"status": "upstream_error", "kind": kind, "upstream_status": status, "error": detail, "duration_ms": duration_ms}),
    )
}

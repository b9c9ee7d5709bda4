//! Held requests: the client's connection waits while people decide. A JSON client simply
//! waits; a streaming client gets its response headers at once and SSE comments while it
//! waits, then either the agent's stream or an error event and `[DONE]`.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::mpsc;
use warden_policy::Decision;
use warden_store::ApprovalStatus;

use crate::approve;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::execute::{OpenFailure, governance_headers, open_stream, upstream_body};
use crate::request::ChatRequest;
use crate::state::AppState;
use crate::trail;

/// What waiting ended in, for a JSON client.
pub enum Held {
    /// Approved and taken: run it.
    Run(Box<warden_store::Approval>),
    /// Not (yet) approved: the client's error.
    Refused(ApiError),
}

/// Waits for the decision on `approval_id`, then takes the approval if it was granted.
pub async fn wait(
    state: &AppState,
    trace_id: &str,
    principal: &Principal,
    approval_id: &str,
    digest: &str,
) -> Held {
    let status = state
        .approvals
        .wait(approval_id, state.config.approvals.hold_timeout)
        .await;
    outcome(state, trace_id, principal, approval_id, digest, status).await
}

async fn outcome(
    state: &AppState,
    trace_id: &str,
    principal: &Principal,
    approval_id: &str,
    digest: &str,
    status: ApprovalStatus,
) -> Held {
    let refused = match status {
        ApprovalStatus::Approved => {
            match state.approvals.use_approval(approval_id, principal, digest).await {
                Ok(a) => {
                    let record = trail::approval_used(trace_id, principal, &a);
                    if state.audit.append(vec![record]).await.is_err() {
                        return Held::Refused(ApiError::AuditUnavailable);
                    }
                    return Held::Run(Box::new(a));
                }
                Err(e) => e,
            }
        }
        ApprovalStatus::Pending => pending(approval_id, state.config.approvals.hold_timeout),
        ApprovalStatus::Rejected => closed("rejected", approval_id),
        ApprovalStatus::Expired => closed("expired", approval_id),
        ApprovalStatus::Used => ApiError::ApprovalUsed {
            approval_id: approval_id.to_string(),
        },
        ApprovalStatus::Cancelled => closed("cancelled", approval_id),
    };
    let record = trail::halted(trace_id, approval_id, status.as_str(), &refused);
    if state.audit.append(vec![record]).await.is_err() {
        return Held::Refused(ApiError::AuditUnavailable);
    }
    Held::Refused(refused)
}

fn closed(status: &'static str, approval_id: &str) -> ApiError {
    ApiError::ApprovalClosed {
        status,
        approval_id: approval_id.to_string(),
    }
}

/// The answer to a request whose approval is still pending: the id to resume with.
pub fn pending(approval_id: &str, waited: Duration) -> ApiError {
    ApiError::PendingApproval {
        rule: "approval".into(),
        message: format!(
            "No decision yet on approval request {approval_id} (waited {} s). Once it is approved, send the identical request again with the header `x-warden-approval-id: {approval_id}`; it runs once.",
            waited.as_secs()
        ),
        approval_id: Some(approval_id.to_string()),
    }
}

/// A held streaming request: headers now, keep-alive comments while waiting, then the agent's
/// stream (or an error event) through the same connection.
#[allow(clippy::too_many_arguments)]
pub fn stream(
    state: AppState,
    trace_id: String,
    principal: Principal,
    mut request: ChatRequest,
    decision: Decision,
    approval_id: String,
    digest: String,
) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(32);
    let risk = decision.risk.as_str();
    let task_trace = trace_id.clone();
    let task_id = approval_id.clone();
    tokio::spawn(async move {
        let (trace_id, approval_id) = (task_trace, task_id);
        let waiting = state
            .approvals
            .wait(&approval_id, state.config.approvals.hold_timeout);
        tokio::pin!(waiting);
        let mut keepalive = tokio::time::interval(state.config.approvals.keepalive);
        let status = loop {
            tokio::select! {
                status = &mut waiting => break status,
                _ = keepalive.tick() => {
                    let comment = format!(": waiting for approval {approval_id}\n\n");
                    if tx.send(Ok(Bytes::from(comment))).await.is_err() {
                        // The client left; the request stays in the queue for a retry.
                        return;
                    }
                }
            }
        };
        let approved = match outcome(&state, &trace_id, &principal, &approval_id, &digest, status).await {
            Held::Run(a) => a,
            Held::Refused(error) => {
                let _ = tx.send(Ok(error_frame(&error, &approval_id))).await;
                return;
            }
        };
        let approval = approve::from_queue(&approved);
        let body = match upstream_body(&mut request, &decision, &approval) {
            Ok(body) => body,
            Err(error) => {
                let _ = tx.send(Ok(error_frame(&error, &approval_id))).await;
                return;
            }
        };
        let opened = open_stream(
            &state,
            &trace_id,
            &principal,
            &request,
            body,
            decision.risk.as_str(),
            decision.policy_version.clone(),
        )
        .await;
        let mut tee = match opened {
            Ok((_, tee)) => tee,
            Err(OpenFailure::Error(error)) => {
                let _ = tx.send(Ok(error_frame(&error, &approval_id))).await;
                return;
            }
            Err(OpenFailure::Response(_)) => {
                let error = ApiError::UpstreamStatus { status: 400 };
                let _ = tx.send(Ok(error_frame(&error, &approval_id))).await;
                return;
            }
        };
        while let Some(chunk) = tee.next().await {
            if tx.send(chunk).await.is_err() {
                break;
            }
        }
    });
    let body =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    let mut response = Response::new(Body::from_stream(body));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&approval_id) {
        response.headers_mut().insert("x-warden-approval-id", v);
    }
    governance_headers(&mut response, &trace_id, risk, "held");
    response
}

/// An OpenAI-style error event followed by `[DONE]`.
fn error_frame(error: &ApiError, approval_id: &str) -> Bytes {
    let event = json!({"error": {"message": error.message(), "type": error.kind(), "code": error.code(), "approval_id": approval_id}});
    Bytes::from(format!("data: {event}\n\ndata: [DONE]\n\n"))
}

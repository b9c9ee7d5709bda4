//! Held requests: the client's connection waits while people decide. A JSON client simply
//! waits; a streaming client gets its response headers at once and SSE comments while it
//! waits, then either the agent's stream or an error event and `[DONE]`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::mpsc;
use warden_store::ApprovalStatus;

use super::context::RequestContext;
use super::{Core, Judged, Surface, allowed_by, governance_headers, records};
use crate::error::ApiError;

/// What waiting ended in.
pub enum Held {
    /// Approved and taken: run it.
    Run(Box<warden_store::Approval>),
    /// Not (yet) approved: the client's error, and the status it is told.
    Refused(ApiError, &'static str),
}

/// Waits for the decision on `approval_id`, then takes the approval if it was granted. Either
/// outcome is on the record before this returns.
pub async fn wait(core: &Core, ctx: &mut RequestContext, approval_id: &str, digest: &str) -> Held {
    let status = core
        .approvals
        .wait(approval_id, core.config.approvals.hold_timeout)
        .await;
    outcome(core, ctx, approval_id, digest, status).await
}

async fn outcome(
    core: &Core,
    ctx: &mut RequestContext,
    approval_id: &str,
    digest: &str,
    status: ApprovalStatus,
) -> Held {
    let refused = match status {
        ApprovalStatus::Approved => match core
            .approvals
            .use_approval(approval_id, &ctx.principal, digest)
            .await
        {
            Ok(a) => {
                let record = records::approval_used(&ctx.trace_id, &ctx.principal, &a);
                if let Err(error) = ctx.record(record).await {
                    return Held::Refused(error, "rejected");
                }
                return Held::Run(Box::new(a));
            }
            Err(e) => e,
        },
        ApprovalStatus::Pending => pending(approval_id, core.config.approvals.hold_timeout),
        ApprovalStatus::Rejected => closed("rejected", approval_id),
        ApprovalStatus::Expired => closed("expired", approval_id),
        ApprovalStatus::Used => ApiError::ApprovalUsed {
            approval_id: approval_id.to_string(),
        },
        ApprovalStatus::Cancelled => closed("cancelled", approval_id),
    };
    let client_status = if matches!(refused, ApiError::PendingApproval { .. }) {
        "pending_approval"
    } else {
        "rejected"
    };
    let record = records::halted(&ctx.trace_id, approval_id, status.as_str(), &refused);
    if let Err(error) = ctx.record(record).await {
        return Held::Refused(error, "rejected");
    }
    Held::Refused(refused, client_status)
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
pub fn stream<S: Surface>(
    core: Arc<Core>,
    surface: S,
    mut ctx: RequestContext,
    judged: Judged,
    approval_id: String,
) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(32);
    let trace_id = ctx.trace_id.clone();
    let risk = ctx.risk;
    let task_id = approval_id.clone();
    tokio::spawn(async move {
        let approval_id = task_id;
        let waiting = core
            .approvals
            .wait(&approval_id, core.config.approvals.hold_timeout);
        tokio::pin!(waiting);
        let mut keepalive = tokio::time::interval(core.config.approvals.keepalive);
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
        let approved = match outcome(&core, &mut ctx, &approval_id, &judged.digest, status).await {
            Held::Run(a) => a,
            Held::Refused(error, _) => {
                let _ = tx.send(Ok(error_frame(&error, &approval_id))).await;
                return;
            }
        };
        if let Err(error) = super::reserve_limits(&core, &mut ctx, &judged.view).await {
            let record = super::records::rejected(&ctx.trace_id, &ctx.principal, S::NAME, &error, None);
            let _ = ctx.record(record).await;
            let _ = tx.send(Ok(error_frame(&error, &approval_id))).await;
            return;
        }
        ctx.status = Some("executed");
        let allowed = allowed_by(judged.decision, &approved);
        let response = surface.execute(core.clone(), ctx, judged.view, allowed).await;
        let streamed = response.status().is_success()
            && response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.starts_with("text/event-stream"));
        let mut body = response.into_body().into_data_stream();
        if streamed {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(std::io::Error::other);
                if tx.send(chunk).await.is_err() {
                    break;
                }
            }
            return;
        }
        // An error answered in JSON: the same error as an event.
        let mut bytes = Vec::new();
        while let Some(Ok(chunk)) = body.next().await {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > 64 * 1024 {
                break;
            }
        }
        let event = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .filter(|v| v.get("error").is_some())
            .unwrap_or_else(|| json!({"error": {"message": "The upstream agent's answer could not be streamed.", "type": "upstream_error"}}));
        let _ = tx
            .send(Ok(Bytes::from(format!("data: {event}\n\ndata: [DONE]\n\n"))))
            .await;
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
    governance_headers(&mut response, &trace_id, risk, Some("held"));
    response
}

/// An OpenAI-style error event followed by `[DONE]`.
fn error_frame(error: &ApiError, approval_id: &str) -> Bytes {
    let event = json!({"error": {"message": error.message(), "type": error.kind(), "code": error.code(), "approval_id": approval_id}});
    Bytes::from(format!("data: {event}\n\ndata: [DONE]\n\n"))
}

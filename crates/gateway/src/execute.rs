//! The execute stage: the request forwarded to the upstream agent with the governance system
//! message and the classification prepended; JSON answered once its outcome is recorded,
//! SSE streamed through the tee.

use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use futures_util::StreamExt;
use serde_json::{Value, json};
use warden_policy::Decision;
use warden_store::NewEvent;

use std::sync::Arc;

use crate::approve::Approval;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::request::ChatRequest;
use crate::response::{Governor, ToolJudge, govern_json};
use crate::state::AppState;
use crate::stream::{StreamRecord, Tee};
use crate::trail;
use crate::upstream::{UpstreamFailure, classify};

/// The tutorial's governance system prompt, sent ahead of every forwarded request.
pub const SYSTEM_PROMPT: &str = "You are an enterprise assistant operating under strict governance.\n\
Rules:\n\
- Never claim an action was completed unless the governance layer explicitly allowed it.\n\
- If the request is low risk, respond normally and helpfully.\n\
- If the request is moderate risk, propose a plan and name the approvals or checks it needs.\n\
- If the request is high risk, refuse to carry it out and offer a safer alternative: a checklist, a draft, a review plan or a summary.\n\
Be useful and concise.";

/// The body sent upstream: the client's, with the model mapped and the governance messages first.
/// Takes the body out of `request`, which does not need it again: a copy would clone every message.
pub fn upstream_body(
    request: &mut ChatRequest,
    decision: &Decision,
    approval: &Approval,
) -> Result<Vec<u8>, ApiError> {
    let mut body = std::mem::take(&mut request.body);
    body.insert("model".into(), Value::String(request.upstream_model.clone()));
    let classification = json!({
        "risk": decision.risk,
        "category": decision.category,
        "confidence": decision.confidence,
        "requires_approval": decision.requires_approval,
        "allow": decision.allow,
        "reason": decision.reason,
        "rules": decision.rules.iter().map(|r| &r.id).collect::<Vec<_>>(),
        "policy_version": decision.policy_version,
        "approval": approval.record,
    });
    let mut messages = vec![
        json!({"role": "system", "content": SYSTEM_PROMPT}),
        json!({"role": "system", "content": format!("Governance classification: {classification}")}),
    ];
    if let Some(Value::Array(original)) = body.remove("messages") {
        messages.extend(original);
    }
    body.insert("messages".into(), Value::Array(messages));
    serde_json::to_vec(&body)
        .map_err(|e| ApiError::bad_request(format!("cannot encode the request: {e}"), None, "invalid_json"))
}

/// Adds `x-warden-trace-id`, `x-warden-risk` and `x-warden-status`.
pub fn governance_headers(response: &mut Response, trace_id: &str, risk: &str, status: &str) {
    let headers = response.headers_mut();
    for (name, value) in [
        ("x-warden-trace-id", trace_id),
        ("x-warden-risk", risk),
        ("x-warden-status", status),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    }
}

/// The judge of the tool calls a model asks for, in the caller's name.
pub fn tool_judge(state: &AppState, principal: &Principal) -> ToolJudge {
    let (state, principal) = (state.clone(), principal.clone());
    Arc::new(move |tool: &str, args: &Value| {
        crate::tools::classify_tool(&state, &principal, tool, None, args)
    })
}

/// Forwards an allowed request and records how it went.
pub async fn forward(
    state: &AppState,
    trace_id: &str,
    principal: &Principal,
    mut request: ChatRequest,
    decision: &Decision,
    approval: &Approval,
) -> Result<Response, ApiError> {
    let body = upstream_body(&mut request, decision, approval)?;
    let risk = decision.risk.as_str();
    let version = decision.policy_version.clone();
    if request.stream {
        return forward_stream(state, trace_id, principal, request, body, risk, version).await;
    }
    // On its own task, so the outcome is recorded even if the client hangs up mid-way.
    let state = state.clone();
    let trace = trace_id.to_string();
    let risk = risk.to_string();
    let principal = principal.clone();
    tokio::spawn(
        async move { forward_json(&state, &trace, &principal, request, body, &risk, &version).await },
    )
    .await
    .unwrap_or(Err(ApiError::UpstreamUnreachable))
}

async fn forward_json(
    state: &AppState,
    trace_id: &str,
    principal: &Principal,
    request: ChatRequest,
    body: Vec<u8>,
    risk: &str,
    version: &str,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    let upstream = &state.upstream;
    let result = tokio::time::timeout(upstream.response_timeout, async {
        let response = upstream.send_chat(body, &request).await?;
        let status = response.status();
        let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
        let bytes = response.bytes().await.map_err(classify)?;
        Ok::<_, UpstreamFailure>((status, content_type, bytes))
    })
    .await
    .unwrap_or(Err(UpstreamFailure::Timeout));
    let elapsed = started.elapsed().as_millis() as u64;
    let (status, content_type, bytes) = match result {
        Ok(ok) => ok,
        Err(failure) => return upstream_failed(state, trace_id, failure, elapsed, risk, version).await,
    };
    #[derive(serde::Deserialize)]
    struct Summary {
        id: Option<String>,
        #[serde(default)]
        choices: Vec<Value>,
    }
    // The model's answer is governed: red tool calls refused, secrets redacted.
    let (bytes, governance) = if status.is_success() {
        govern_json(
            bytes,
            &tool_judge(state, principal),
            state.config.responses.tool_calls,
            &state.policy.get(),
        )
    } else {
        (bytes, crate::response::ResponseReport::default())
    };
    let summary = serde_json::from_slice::<Summary>(&bytes).ok();
    let response_id = summary.as_ref().and_then(|s| s.id.clone());
    let content = summary
        .as_ref()
        .and_then(|s| s.choices.first())
        .and_then(|c| c.pointer("/message/content"))
        .and_then(Value::as_str)
        .map(|c| {
            // The preview in the trail never holds a secret, flagged or not.
            let findings = state.policy.get().dlp_findings(c);
            let masked = crate::dlp::apply(
                c,
                &findings,
                true,
                &mut Default::default(),
                &mut Default::default(),
            );
            trail::preview(&masked, 500)
        });
    let record = NewEvent::now(
        trace_id,
        "executed",
        "warden",
        json!({
            "status": "executed",
            "stream": false,
            "upstream_status": status.as_u16(),
            "response_id": response_id,
            "bytes": bytes.len(),
            "duration_ms": elapsed,
            "response_preview": content,
            "response_governance": governance.to_json(),
        }),
    );
    // The upstream has acted: its answer goes back even if this record cannot be committed
    // (the decision record, committed before forwarding, already names the request).
    if let Err(e) = state.audit.append(trail::stamp(vec![record], version)).await {
        tracing::error!(trace_id, error = %e, "executed record not committed; the response is returned regardless");
    }
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        content_type.unwrap_or(HeaderValue::from_static("application/json")),
    );
    governance_headers(&mut response, trace_id, risk, "executed");
    if let Some(tool_risk) = governance.tool_risk
        && let Ok(v) = HeaderValue::from_str(tool_risk.as_str())
    {
        response.headers_mut().insert("x-warden-tool-risk", v);
    }
    Ok(response)
}

async fn forward_stream(
    state: &AppState,
    trace_id: &str,
    principal: &Principal,
    request: ChatRequest,
    body: Vec<u8>,
    risk: &str,
    version: String,
) -> Result<Response, ApiError> {
    let (content_type, tee) =
        match open_stream(state, trace_id, principal, &request, body, risk, version).await {
            Ok(opened) => opened,
            Err(OpenFailure::Response(response)) => return Ok(response),
            Err(OpenFailure::Error(error)) => return Err(error),
        };
    let mut out = Response::new(Body::from_stream(tee));
    out.headers_mut().insert(header::CONTENT_TYPE, content_type);
    out.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    governance_headers(&mut out, trace_id, risk, "executed");
    Ok(out)
}

/// Opens the upstream stream and wraps it in the tee that records its outcome. A failure to
/// open is recorded and returned as the response the client gets (`Err(Ok(..))` when the
/// upstream's own answer is passed through).
pub async fn open_stream(
    state: &AppState,
    trace_id: &str,
    principal: &Principal,
    request: &ChatRequest,
    body: Vec<u8>,
    risk: &str,
    version: String,
) -> Result<(HeaderValue, Tee), OpenFailure> {
    let started = Instant::now();
    let response = match state.upstream.send_chat(body, request).await {
        Ok(r) => r,
        Err(failure) => {
            let elapsed = started.elapsed().as_millis() as u64;
            return Err(
                match upstream_failed(state, trace_id, failure, elapsed, risk, &version).await {
                    Ok(passed_through) => OpenFailure::Response(passed_through),
                    Err(error) => OpenFailure::Error(error),
                },
            );
        }
    };
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .cloned()
        .unwrap_or(HeaderValue::from_static("text/event-stream"));
    let tee = Tee::new(
        response.bytes_stream().boxed(),
        state.upstream.idle_timeout,
        StreamRecord {
            audit: state.audit.clone(),
            trace_id: trace_id.to_string(),
            actor: principal.actor(),
            started,
            policy_version: version,
        },
    );
    let tee = if state.config.responses.dlp_window_chars > 0 {
        let mode = state.config.responses.tool_calls;
        tee.governed(Governor::new(
            tool_judge(state, principal),
            mode,
            state.policy.get(),
            state.config.responses.dlp_window_chars,
        ))
    } else {
        tee
    };
    Ok((content_type, tee))
}

/// Why a stream did not open: an error for the client, or the upstream's own answer.
pub enum OpenFailure {
    Error(ApiError),
    Response(Response),
}

impl From<ApiError> for OpenFailure {
    fn from(e: ApiError) -> OpenFailure {
        OpenFailure::Error(e)
    }
}

/// Records an upstream failure, then returns what the client gets: the upstream's own answer
/// for its client errors (`Ok`), a 502 or 504 otherwise (`Err`).
async fn upstream_failed(
    state: &AppState,
    trace_id: &str,
    failure: UpstreamFailure,
    elapsed: u64,
    risk: &str,
    version: &str,
) -> Result<Response, ApiError> {
    let status = match &failure {
        UpstreamFailure::Status { status, .. } => Some(*status),
        _ => None,
    };
    tracing::warn!(trace_id, kind = failure.kind(), detail = %failure.detail(), "upstream call failed");
    let record = trail::upstream_error(trace_id, failure.kind(), &failure.detail(), status, elapsed);
    trail::commit(&state.audit, vec![record], version).await?;
    if failure.passes_through()
        && let UpstreamFailure::Status {
            status,
            content_type,
            body,
        } = failure
    {
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
        if let Some(ct) = content_type {
            response.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        governance_headers(&mut response, trace_id, risk, "upstream_error");
        return Ok(response);
    }
    Err(failure.api_error())
}

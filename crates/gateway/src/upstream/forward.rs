//! Calling the agent with an allowed request and answering the client: a JSON answer is read
//! (bounded) and governed on a task of its own, so its outcome is recorded even if the client
//! hangs up; a stream goes through the tee. Failures are recorded and answered in the
//! surface's shape; the upstream's own client errors are passed on, governed like answers.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use futures_util::StreamExt;
use serde_json::{Value, json};

use super::answer::{AnswerRules, Codec, Governed, Governor, govern_answer, govern_body};
use super::tee::Tee;
use super::{Call, Upstream, UpstreamFailure};
use crate::governance::context::RequestContext;
use crate::governance::{Core, Refusal, Surface, governance_headers, records};

/// The answer rules for one request: its pinned policy, its caller's view of tool calls.
pub fn answer_rules(core: &Core, ctx: &RequestContext, upstream: &Upstream) -> AnswerRules {
    AnswerRules {
        policy: ctx.policy.clone(),
        token: upstream.token().cloned(),
        config: core.config.clone(),
        principal: ctx.principal.clone(),
        tool_calls: core.config.responses.tool_calls,
        window_chars: core.config.responses.dlp_window_chars,
        hold: core.config.responses.dlp_hold,
        strip_usage: false,
    }
}

/// The `[pricing]` of the upstream model a body names (after `[models]` mapping), if any.
pub fn price_of(core: &Core, body: &serde_json::Map<String, Value>) -> Option<crate::config::RawPrice> {
    let model = body.get("model").and_then(Value::as_str)?;
    core.config.pricing.get(model).copied()
}

/// One call to the agent, built from the view that was judged.
pub struct AgentCall {
    pub path: &'static str,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
    pub stream: bool,
    pub codec: Codec,
}

/// Sends an allowed request to the agent and answers the client with its governed answer.
pub async fn agent<S: Surface>(
    surface: S,
    upstream: Upstream,
    rules: AnswerRules,
    ctx: RequestContext,
    mut call: AgentCall,
) -> Response {
    // The trace goes on upstream: what the agent does is a child of this request's span.
    if let Some(traceparent) = ctx.span.as_ref().and_then(|s| s.traceparent()) {
        call.headers.push(("traceparent", traceparent));
    }
    if call.stream {
        return stream(surface, upstream, rules, ctx, call).await;
    }
    // On its own task, so the outcome is recorded even if the client hangs up mid-way.
    let task = tokio::spawn(async move {
        let mut ctx = ctx;
        let read = upstream
            .exchange(Call {
                path: call.path,
                body: call.body,
                headers: &call.headers,
                stream: false,
            })
            .await
            .and_then(super::Answer::ok);
        ctx.time("upstream");
        match read {
            Ok(answer) => answered(&mut ctx, &rules, call.codec, answer).await,
            Err(failure) => failed(&surface, &mut ctx, &rules, call.codec, failure).await,
        }
    });
    task.await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "the upstream call's task failed");
        crate::error::ApiError::Internal.into_response_with(None)
    })
}

/// A whole answer: governed, recorded, returned.
async fn answered(
    ctx: &mut RequestContext,
    rules: &AnswerRules,
    codec: Codec,
    answer: super::Answer,
) -> Response {
    let super::Answer {
        status,
        content_type,
        body,
    } = answer;
    let Governed {
        body: bytes,
        report,
        json,
    } = govern_answer(body, codec, rules);
    let summary = summarize(json.as_ref(), codec);
    let answer = summary.preview.map(|text| ctx.policy.mask_sensitive(&text));
    if !status.is_success() {
        // The agent refused the request: its session did not take it.
        ctx.memory = None;
    }
    let preview = answer.as_deref().map(|text| records::preview(text, 500));
    let facts = json!({
        "status": "executed",
        "stream": false,
        "upstream_status": status.as_u16(),
        "usage": json.as_ref().and_then(super::answer::usage_of),
        "response_id": summary.id,
        "bytes": bytes.len(),
        "duration_ms": ctx.elapsed_ms(),
        "response_preview": preview,
        "response_governance": report.to_json(),
    });
    ctx.close_remembering(records::executed(&ctx.trace_id, facts), answer.as_deref())
        .await;
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        content_type.unwrap_or(HeaderValue::from_static("application/json")),
    );
    governance_headers(&mut response, &ctx.trace_id, ctx.risk, Some("executed"));
    if let Some(tool_risk) = report.tool_risk
        && let Ok(v) = HeaderValue::from_str(tool_risk.as_str())
    {
        response.headers_mut().insert("x-warden-tool-risk", v);
    }
    response
}

async fn stream<S: Surface>(
    surface: S,
    upstream: Upstream,
    rules: AnswerRules,
    mut ctx: RequestContext,
    call: AgentCall,
) -> Response {
    let sent = upstream
        .send_ok(Call {
            path: call.path,
            body: call.body,
            headers: &call.headers,
            stream: true,
        })
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(failure) => return failed(&surface, &mut ctx, &rules, call.codec, failure).await,
    };
    ctx.time("upstream_first_byte");
    let content_type = response.headers().get(header::CONTENT_TYPE).cloned();
    let is_sse = content_type
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .is_none_or(|ct| ct.starts_with("text/event-stream"));
    if !is_sse {
        // A stream asked for, a whole answer given: governed as one.
        let status = response.status();
        return match upstream.read_capped(response).await {
            Ok(body) => {
                let answer = super::Answer {
                    status,
                    content_type,
                    body,
                };
                answered(&mut ctx, &rules, call.codec, answer).await
            }
            Err(failure) => failed(&surface, &mut ctx, &rules, call.codec, failure).await,
        };
    }
    let trace_id = ctx.trace_id.clone();
    let risk = ctx.risk;
    let governor = (rules.window_chars > 0).then(|| Governor::new(rules, call.codec));
    let tee = Tee::new(
        response.bytes_stream().boxed(),
        upstream.idle_timeout,
        ctx,
        governor,
    );
    let mut out = Response::new(Body::from_stream(tee));
    out.headers_mut().insert(
        header::CONTENT_TYPE,
        content_type.unwrap_or(HeaderValue::from_static("text/event-stream")),
    );
    out.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    governance_headers(&mut out, &trace_id, risk, Some("executed"));
    out
}

/// Logs an upstream failure and closes the request's trail with it.
pub async fn record_failure(ctx: &mut RequestContext, failure: &UpstreamFailure) {
    tracing::warn!(trace_id = %ctx.trace_id, kind = failure.kind(), detail = %failure.detail(), "upstream call failed");
    let record = records::upstream_error(
        &ctx.trace_id,
        failure.kind(),
        &failure.detail(),
        failure.status(),
        ctx.elapsed_ms(),
    );
    ctx.close(record).await;
    ctx.status = Some("upstream_error");
}

/// Records an upstream failure and answers it: the upstream's own client errors are passed on
/// (governed like any answer); everything else is a 502 or 504 in the surface's shape.
pub async fn failed<S: Surface>(
    surface: &S,
    ctx: &mut RequestContext,
    rules: &AnswerRules,
    codec: Codec,
    failure: UpstreamFailure,
) -> Response {
    record_failure(ctx, &failure).await;
    if failure.passes_through()
        && let UpstreamFailure::Status {
            status,
            content_type,
            body,
        } = failure
    {
        let (body, _) = govern_body(body, codec, rules);
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
        if let Some(ct) = content_type {
            response.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        governance_headers(&mut response, &ctx.trace_id, ctx.risk, Some("upstream_error"));
        return response;
    }
    surface.refuse(
        ctx,
        Refusal {
            error: failure.api_error(),
            risk: ctx.risk,
            status: Some("upstream_error"),
        },
    )
}

/// The run id and the start of the answer's text, for the record.
struct Summary {
    id: Option<String>,
    preview: Option<String>,
}

fn summarize(value: Option<&Value>, codec: Codec) -> Summary {
    let Some(value) = value else {
        return Summary {
            id: None,
            preview: None,
        };
    };
    let id = value.get("id").and_then(Value::as_str).map(str::to_string);
    let preview = match codec {
        Codec::Chat => value
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .map(str::to_string),
        Codec::Responses => value
            .get("output_text")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| {
                value.get("output").and_then(Value::as_array).and_then(|items| {
                    items.iter().find_map(|item| {
                        item.pointer("/content/0/text")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                })
            }),
        Codec::ToolResult => None,
    };
    Summary { id, preview }
}

//! `POST /tools/invoke`: a client asks Warden to run one tool on the agent. The call is parsed
//! into the governed view (one tool name, compared trimmed and case-folded; its action and
//! arguments; the session and agent), judged by the tool's tier, the HTTP deny list and its
//! arguments, and forwarded from that view, never as the bytes received. OpenClaw's hook asks
//! Warden about the call it then runs; a grant made here, bound to the call and named by a
//! nonce in the forwarded call, answers it once.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use warden_policy::{Decision, Risk, Speaker};

use super::{is_token, object_body, unsupported, wrong_type};
use crate::config::{Config, fold_tool_name};
use crate::error::ApiError;
use crate::governance::context::RequestContext;
use crate::governance::digest::{tool_digest, tool_place};
use crate::governance::view::{Subject, View};
use crate::governance::{Allowed, Core, Refusal, Surface, governance_headers, records};
use crate::upstream::answer::{Codec, govern_body};
use crate::upstream::forward::{self, answer_rules};
use crate::upstream::{Answer, Call, Upstream};

/// The prefix of the idempotency key Warden gives a forwarded call; OpenClaw's hook sees it in
/// the call's id (`http-direct-operator-<key>`).
pub const GRANT_PREFIX: &str = "warden-grant-";

/// A tool's name as OpenClaw knows it: letters, digits, `_ . : -`.
fn is_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

#[derive(Clone)]
pub struct ToolsInvoke {
    pub upstream: Upstream,
}

/// The digests a grant for this call is known by: OpenClaw's hook may present the arguments
/// with the action merged in (when the tool's schema has an `action`) or without.
pub fn grant_digests(tool: &str, action: Option<&str>, args: &Value) -> Vec<String> {
    let mut digests = vec![tool_digest(tool, args, &Value::Null)];
    if let (Some(action), Value::Object(map)) = (action, args)
        && !map.contains_key("action")
    {
        let mut merged = map.clone();
        merged.insert("action".into(), json!(action));
        digests.push(tool_digest(tool, &Value::Object(merged), &Value::Null));
    }
    digests
}

impl Surface for ToolsInvoke {
    const NAME: &'static str = "tools_invoke";
    const APPROVAL_KIND: &'static str = "tool";

    fn body_limit(&self, config: &Config) -> usize {
        config.tools.max_body_bytes
    }

    fn parse(
        &self,
        core: &Core,
        ctx: &RequestContext,
        raw: &[u8],
        _headers: &HeaderMap,
    ) -> Result<View, ApiError> {
        let body = object_body(raw)?;
        let mut names: Vec<String> = Vec::new();
        for key in ["tool", "name"] {
            match body.get(key) {
                None | Some(Value::Null) => {}
                Some(Value::String(name)) => {
                    let name = name.trim();
                    if !is_tool_name(name) {
                        return Err(ApiError::bad_request(
                            format!("`{key}` must be a tool name: letters, digits, `_`, `.`, `:` or `-`."),
                            Some("tool"),
                            "invalid_value",
                        ));
                    }
                    names.push(name.to_string());
                }
                Some(other) => return Err(wrong_type(key, "a string", other)),
            }
        }
        let Some(name) = names.first().cloned() else {
            return Err(ApiError::bad_request(
                "`tool` (or `name`) must name a tool.",
                Some("tool"),
                "missing_required_parameter",
            ));
        };
        if names.iter().any(|n| fold_tool_name(n) != fold_tool_name(&name)) {
            return Err(ApiError::bad_request(
                "The body names two different tools (`tool` and `name`); name one.",
                Some("tool"),
                "conflicting_tool",
            ));
        }
        let tool = fold_tool_name(&name);
        let mut view = View::new(Subject::ToolCall {
            tool: tool.clone(),
            action: None,
        });
        view.http_surface = true;
        view.redact = false;
        view.body.insert("tool".into(), json!(name));
        view.text("/tool".into(), Speaker::Call, 0);
        let mut action = None;
        for (key, value) in &body {
            match key.as_str() {
                "tool" | "name" => {}
                "action" => match value {
                    Value::Null => {}
                    Value::String(a) if is_token(a) => {
                        action = Some(a.clone());
                        view.body.insert("action".into(), value.clone());
                        view.text("/action".into(), Speaker::Call, 0);
                    }
                    other => return Err(wrong_type("action", "a short string", other)),
                },
                "args" => match value {
                    Value::Null => {}
                    Value::Object(_) => {
                        view.body.insert("args".into(), value.clone());
                        view.text("/args".into(), Speaker::Call, 0);
                    }
                    other => return Err(wrong_type("args", "an object", other)),
                },
                "sessionKey" => {
                    let ok = value
                        .as_str()
                        .is_some_and(|s| !s.trim().is_empty() && s.len() <= 256);
                    if !ok {
                        return Err(wrong_type("sessionKey", "a session key", value));
                    }
                    let key = value.as_str().unwrap_or_default();
                    super::refuse_secret_session_name(ctx, "sessionKey", key)?;
                    // The same namespace as chat's session header: a key reaches its own
                    // sessions only.
                    let key = match super::session_namespace(core.config.sessions.scope, &ctx.principal) {
                        Some(namespace) => format!("{namespace}{key}"),
                        None => key.to_string(),
                    };
                    view.body.insert("sessionKey".into(), Value::String(key.clone()));
                    view.text("/sessionKey".into(), Speaker::Parameter, u32::MAX);
                    view.facts.insert("session_key".into(), Value::String(key));
                }
                "agentId" => {
                    let agent = value.as_str().filter(|a| {
                        a.len() <= 64
                            && a.bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    });
                    let Some(agent) = agent else {
                        return Err(wrong_type("agentId", "an agent id", value));
                    };
                    view.agent = Some(format!("openclaw/{}", agent.to_ascii_lowercase()));
                    view.body.insert("agentId".into(), value.clone());
                    view.text("/agentId".into(), Speaker::Parameter, u32::MAX);
                    view.facts.insert("agent_id".into(), value.clone());
                }
                "idempotencyKey" => {
                    // Replaced by Warden's own when forwarded; kept on the record.
                    if !value.as_str().is_some_and(is_token) {
                        return Err(wrong_type("idempotencyKey", "a short string", value));
                    }
                    view.facts.insert("idempotency_key".into(), value.clone());
                }
                "dryRun" => match value {
                    Value::Bool(b) => view.dry_run = *b,
                    Value::Null => {}
                    other => return Err(wrong_type("dryRun", "a boolean", other)),
                },
                other => return Err(unsupported(other)),
            }
        }
        view.body.entry("args").or_insert_with(|| json!({}));
        if !view
            .slots
            .iter()
            .any(|s| s.at == crate::governance::view::At::Body("/args".into()))
        {
            view.text("/args".into(), Speaker::Call, 0);
        }
        view.subject = Subject::ToolCall {
            tool,
            action: action.clone(),
        };
        view.facts.insert("via".into(), json!("tools_invoke"));
        view.facts.insert("dry_run".into(), json!(view.dry_run));
        let args = view.body.get("args").map(Value::to_string).unwrap_or_default();
        view.facts.insert(
            "args".into(),
            json!(records::preview(&args, core.config.audit_max_text_chars)),
        );
        Ok(view)
    }

    fn digest(&self, view: &View) -> String {
        let Subject::ToolCall { tool, action } = &view.subject else {
            return String::new();
        };
        tool_digest(
            tool,
            &json!({"action": action, "args": view.body.get("args")}),
            &tool_place(&view.body),
        )
    }

    async fn execute(&self, core: Arc<Core>, ctx: RequestContext, view: View, allowed: Allowed) -> Response {
        let surface = self.clone();
        // On its own task, so the outcome is recorded even if the client hangs up.
        let task = tokio::spawn(async move { surface.run(core, ctx, view, allowed).await });
        task.await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "the tool call's task failed");
            ApiError::Internal.into_response_with(None)
        })
    }

    fn dry_run(&self, ctx: &RequestContext, decision: &Decision) -> Response {
        let mut response =
            axum::Json(json!({"ok": true, "dryRun": true, "traceId": ctx.trace_id, "decision": decision}))
                .into_response();
        governance_headers(&mut response, &ctx.trace_id, ctx.risk, Some("dry_run"));
        response
    }

    fn refuse(&self, ctx: &RequestContext, refusal: Refusal) -> Response {
        openclaw_error(ctx, refusal)
    }
}

impl ToolsInvoke {
    async fn run(&self, core: Arc<Core>, mut ctx: RequestContext, view: View, allowed: Allowed) -> Response {
        let Subject::ToolCall { tool, action } = &view.subject else {
            return ApiError::Internal.into_response_with(Some(&ctx.trace_id));
        };
        let (tool, action) = (tool.clone(), action.clone());
        let args = view.body.get("args").cloned().unwrap_or_else(|| json!({}));
        let mut body = view.body;
        let nonce = match nonce() {
            Ok(nonce) => nonce,
            Err(e) => {
                tracing::error!(error = %e, "no randomness for a tool grant");
                let refusal = Refusal {
                    error: ApiError::Internal,
                    risk: ctx.risk,
                    status: Some("refused"),
                };
                return openclaw_error(&ctx, refusal);
            }
        };
        body.insert("idempotencyKey".into(), json!(format!("{GRANT_PREFIX}{nonce}")));
        // A call that needed more than green passes OpenClaw's hook on this grant, once.
        let granted = allowed.decision.risk != Risk::Green;
        if granted {
            let expires = core.clock.now_ms() + self.upstream.response_timeout.as_millis() as i64;
            let digests = grant_digests(&tool, action.as_deref(), &args);
            if let Err(e) = core
                .store
                .create_grant(&nonce, &ctx.trace_id, &digests, expires)
                .await
            {
                tracing::error!(trace_id = %ctx.trace_id, error = %e, "tool grant not stored");
                let refusal = Refusal {
                    error: ApiError::StoreUnavailable,
                    risk: ctx.risk,
                    status: Some("refused"),
                };
                return openclaw_error(&ctx, refusal);
            }
        }
        // The trace goes on upstream, as for the model's calls.
        let trace_headers: Vec<(&'static str, String)> = ctx
            .span
            .as_ref()
            .and_then(|s| s.traceparent())
            .map(|t| vec![("traceparent", t)])
            .unwrap_or_default();
        let read = self
            .upstream
            .exchange(Call {
                path: "/tools/invoke",
                body: serde_json::to_vec(&body).unwrap_or_default(),
                headers: &trace_headers,
                stream: false,
            })
            .await;
        ctx.time("upstream");
        // OpenClaw's hook asks during the call; once it has answered, the grant has nothing
        // left to let through.
        if granted && let Err(e) = core.store.revoke_grant(&nonce, core.clock.now_ms()).await {
            tracing::warn!(trace_id = %ctx.trace_id, error = %e, "tool grant not withdrawn; it expires on its own");
        }
        let Answer {
            status,
            content_type,
            body: bytes,
        } = match read {
            Ok(read) => read,
            Err(failure) => {
                forward::record_failure(&mut ctx, &failure).await;
                let refusal = Refusal {
                    error: failure.api_error(),
                    risk: ctx.risk,
                    status: Some("upstream_error"),
                };
                return openclaw_error(&ctx, refusal);
            }
        };
        let rules = answer_rules(&core, &ctx, &self.upstream);
        let (bytes, report) = govern_body(bytes, Codec::ToolResult, &rules);
        let facts = json!({"tool": tool, "upstream_status": status.as_u16(), "bytes": bytes.len(),
                           "duration_ms": ctx.elapsed_ms(), "approval_id": allowed.approval_id,
                           "response_governance": report.to_json()});
        let warden_status = if status.is_success() {
            ctx.close(records::executed(&ctx.trace_id, facts).with("status", json!("executed")))
                .await;
            "executed"
        } else {
            // OpenClaw refused it (denied, unknown, bad arguments): nothing ran. An approval
            // spent on it is recorded as spent on this, not as executed.
            let error_type = serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| {
                v.pointer("/error/type")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
            ctx.close(records::upstream_refused(&ctx.trace_id, facts).with("error_type", json!(error_type)))
                .await;
            "upstream_refused"
        };
        let mut response = Response::new(Body::from(bytes));
        *response.status_mut() = StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            content_type.unwrap_or(HeaderValue::from_static("application/json")),
        );
        governance_headers(&mut response, &ctx.trace_id, ctx.risk, Some(warden_status));
        response
    }
}

/// 128 random bits, in hex: a grant's name, which nobody can guess.
fn nonce() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// OpenClaw's error shape for `/tools/invoke`: `{"ok": false, "error": {"type", "message", ...}}`.
fn openclaw_error(ctx: &RequestContext, refusal: Refusal) -> Response {
    let error = &refusal.error;
    let kind = match error {
        ApiError::Blocked { .. } => "tool_call_blocked",
        ApiError::BadRequest { .. } | ApiError::PayloadTooLarge { .. } | ApiError::RequestTimeout => {
            "invalid_request"
        }
        ApiError::AuditUnavailable => "audit_unavailable",
        other => other.kind(),
    };
    let mut body =
        json!({"type": kind, "message": error.message(), "traceId": ctx.trace_id, "code": error.code()});
    match error {
        ApiError::PendingApproval {
            approval_id: Some(id),
            ..
        }
        | ApiError::ApprovalClosed { approval_id: id, .. }
        | ApiError::ApprovalMismatch { approval_id: id }
        | ApiError::ApprovalUsed { approval_id: id } => body["approvalId"] = json!(id),
        _ => {}
    }
    let mut response = (error.status(), axum::Json(json!({"ok": false, "error": body}))).into_response();
    governance_headers(
        &mut response,
        &ctx.trace_id,
        refusal.risk,
        Some(refusal.status.unwrap_or("refused")),
    );
    response
}

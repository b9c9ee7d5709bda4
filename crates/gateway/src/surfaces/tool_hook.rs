//! `POST /v1/decisions/tool-call`: OpenClaw's `before_tool_call` hook (the plugin in
//! `integrations/openclaw`) asks whether one of the agent's own tool calls may run. The call is
//! judged like any tool call; the answer is `allow`, `deny` with a reason, or
//! `approval_required` with an approval id. An approval binds the tool, its arguments, the
//! agent and the session, and is used by the key it was granted to, once; a call Warden
//! itself forwarded through `/tools/invoke` passes on the grant made there, once.

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use warden_policy::Speaker;

use super::tools_invoke::GRANT_PREFIX;
use super::{object_body, openai_refusal, unsupported, wrong_type};
use crate::config::{Config, fold_tool_name};
use crate::error::ApiError;
use crate::governance::context::RequestContext;
use crate::governance::digest::{tool_digest, tool_place};
use crate::governance::view::{Subject, View};
use crate::governance::{Allowed, Core, Found, Refusal, Surface, governance_headers, records};

#[derive(Clone)]
pub struct ToolHook;

impl Surface for ToolHook {
    const NAME: &'static str = "tool_hook";
    const APPROVAL_KIND: &'static str = "tool";

    fn body_limit(&self, config: &Config) -> usize {
        config.tools.max_body_bytes
    }

    fn parse(
        &self,
        core: &Core,
        _ctx: &RequestContext,
        raw: &[u8],
        _headers: &HeaderMap,
    ) -> Result<View, ApiError> {
        let body = object_body(raw)?;
        let name = match body.get("toolName") {
            Some(Value::String(n)) if !n.trim().is_empty() => n.trim().to_string(),
            Some(other) if !other.is_string() => return Err(wrong_type("toolName", "a string", other)),
            _ => {
                return Err(ApiError::bad_request(
                    "`toolName` is required.",
                    Some("toolName"),
                    "missing_required_parameter",
                ));
            }
        };
        let tool = fold_tool_name(&name);
        let mut view = View::new(Subject::ToolCall {
            tool: tool.clone(),
            action: None,
        });
        view.redact = false;
        view.body.insert("toolName".into(), json!(name));
        view.text("/toolName".into(), Speaker::Call, 0);
        let params = match body.get("params") {
            None | Some(Value::Null) => json!({}),
            Some(p) => p.clone(),
        };
        view.body.insert("params".into(), params.clone());
        view.text("/params".into(), Speaker::Call, 0);
        for (key, value) in &body {
            let fact = match key.as_str() {
                "toolName" | "params" => continue,
                "runId" => "run_id",
                "toolCallId" => "tool_call_id",
                "agentId" => "agent_id",
                "sessionKey" => "session_key",
                "requester" => "requester",
                other => return Err(unsupported(other)),
            };
            if key != "requester" && !(value.is_string() || value.is_null()) {
                return Err(wrong_type(key, "a string", value));
            }
            view.facts.insert(fact.into(), value.clone());
        }
        // Where the call runs is part of what an approval binds, so approvers see it; it is
        // judged like any request parameter.
        for key in ["agentId", "sessionKey"] {
            if let Some(value) = body.get(key).filter(|v| v.is_string()) {
                view.body.insert(key.into(), value.clone());
                view.text(format!("/{key}"), Speaker::Parameter, u32::MAX);
            }
        }
        if let Some(agent) = body.get("agentId").and_then(Value::as_str) {
            view.agent = Some(format!("openclaw/{}", agent.to_ascii_lowercase()));
        }
        view.facts.insert("via".into(), json!("before_tool_call"));
        view.facts.insert(
            "args".into(),
            json!(records::preview(
                &params.to_string(),
                core.config.audit_max_text_chars
            )),
        );
        view.facts.insert("place".into(), tool_place(&view.body));
        Ok(view)
    }

    fn digest(&self, view: &View) -> String {
        let Subject::ToolCall { tool, .. } = &view.subject else {
            return String::new();
        };
        tool_digest(
            tool,
            view.body.get("params").unwrap_or(&Value::Null),
            &tool_place(&view.body),
        )
    }

    async fn find_approval(
        &self,
        core: &Core,
        ctx: &RequestContext,
        view: &View,
        digest: &str,
        _headers: &HeaderMap,
    ) -> Result<Found, ApiError> {
        // A call `/tools/invoke` forwarded carries the grant's nonce in its id.
        let call_id = view
            .facts
            .get("tool_call_id")
            .and_then(Value::as_str)
            .unwrap_or("");
        if let Some(at) = call_id.find(GRANT_PREFIX) {
            let nonce = &call_id[at + GRANT_PREFIX.len()..];
            let Subject::ToolCall { tool, .. } = &view.subject else {
                return Ok(Found::Nothing);
            };
            let call = tool_digest(
                tool,
                view.body.get("params").unwrap_or(&Value::Null),
                &Value::Null,
            );
            let granted = core
                .store
                .use_grant(nonce, &call, core.clock.now_ms())
                .await
                .map_err(|_| ApiError::StoreUnavailable)?;
            if let Some(trace_id) = granted {
                return Ok(Found::Granted { trace_id });
            }
        }
        // Otherwise an approval of this exact call, for this key, in this session.
        crate::governance::approval_for_call(core, ctx, digest).await
    }

    fn resume_hint(&self, _id: &str) -> String {
        "retry the identical call once it is approved".into()
    }

    async fn execute(
        &self,
        _core: Arc<Core>,
        mut ctx: RequestContext,
        view: View,
        allowed: Allowed,
    ) -> Response {
        let mut facts = json!({"run_id": view.facts.get("run_id"), "tool_call_id": view.facts.get("tool_call_id"),
                               "approval_id": allowed.approval_id});
        if let Some(trace) = allowed.approval.as_ref().and_then(|a| a.get("granted_by_trace")) {
            facts["via_front_door"] = json!(true);
            facts["granted_by_trace"] = trace.clone();
        }
        if let Err(error) = ctx.record(records::allowed(&ctx.trace_id, facts)).await {
            let refusal = Refusal {
                error,
                risk: ctx.risk,
                status: None,
            };
            return openai_refusal(&ctx, refusal);
        }
        let reason = match (&allowed.approval_id, allowed.approval.as_ref()) {
            (Some(id), _) => format!("Approved under {id}"),
            (None, Some(a)) if a.get("granted_by_trace").is_some() => {
                "Decided when Warden forwarded it through /tools/invoke".to_string()
            }
            _ => allowed.decision.reason.clone(),
        };
        let mut extra = json!({});
        if let Some(id) = &allowed.approval_id {
            extra["approvalId"] = json!(id);
        }
        answer(&ctx, "allow", reason, allowed.decision.deciding_rule(), extra)
    }

    fn refuse(&self, ctx: &RequestContext, refusal: Refusal) -> Response {
        let rule = match &refusal.error {
            ApiError::Blocked { rule, .. } | ApiError::PendingApproval { rule, .. } => Some(rule.as_str()),
            _ => None,
        };
        match &refusal.error {
            // The policy's verdicts are answers, not errors: the plugin blocks with the reason.
            ApiError::Blocked { message, .. } => answer(ctx, "deny", message.clone(), rule, json!({})),
            ApiError::PendingApproval {
                message,
                approval_id: Some(id),
                ..
            } => answer(
                ctx,
                "approval_required",
                message.clone(),
                rule,
                json!({"approvalId": id}),
            ),
            _ => openai_refusal(ctx, refusal),
        }
    }
}

/// The decision service's answer: `{decision, reason, traceId, risk, rule, ...extra}`.
fn answer(
    ctx: &RequestContext,
    decision: &str,
    reason: String,
    rule: Option<&str>,
    extra: Value,
) -> Response {
    let mut body = json!({"decision": decision, "reason": reason, "traceId": ctx.trace_id, "risk": ctx.risk, "rule": rule});
    if let (Value::Object(b), Value::Object(x)) = (&mut body, extra) {
        b.extend(x);
    }
    let mut response = axum::Json(body).into_response();
    governance_headers(&mut response, &ctx.trace_id, ctx.risk, ctx.status);
    response
}

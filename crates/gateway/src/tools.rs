//! Tool governance at two enforcement points: `POST /tools/invoke` (a client asks Warden to
//! run a tool on the agent) and `POST /v1/decisions/tool-call` (OpenClaw's `before_tool_call`
//! hook asks whether the agent's own tool call may run). Both judge the tool by its configured
//! tier and its arguments by the policy, bind approvals to the tool and its canonical
//! arguments, and record every decision joined to OpenClaw's run id.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use uuid::Uuid;
use warden_policy::{Context, Decision, Risk, RuleMatch};
use warden_store::{ApprovalStatus, NewEvent};

use crate::approvals::digest::tool_digest;
use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::execute::governance_headers;
use crate::pipeline::read_body;
use crate::state::AppState;
use crate::trail;

/// How long a call forwarded through `/tools/invoke` is recognised by the hook.
const FORWARDED_TTL: std::time::Duration = std::time::Duration::from_secs(60);

/// The text the policy judges for a tool call: the tool, the action and every value of the
/// arguments (commands, message bodies, paths, addresses).
pub fn args_text(tool: &str, action: Option<&str>, args: &Value) -> String {
    fn walk(v: &Value, out: &mut String) {
        match v {
            Value::String(s) => {
                out.push_str(s);
                out.push('\n');
            }
            Value::Number(n) => {
                out.push_str(&n.to_string());
                out.push('\n');
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Object(map) => map.values().for_each(|i| walk(i, out)),
            _ => {}
        }
    }
    let mut out = String::new();
    out.push_str(tool);
    out.push('\n');
    if let Some(action) = action {
        out.push_str(action);
        out.push('\n');
    }
    walk(args, &mut out);
    out
}

/// Judges a tool call: the policy on its arguments, raised to the tool's configured tier.
pub fn classify_tool(
    state: &AppState,
    principal: &Principal,
    tool: &str,
    action: Option<&str>,
    args: &Value,
) -> Decision {
    let policy = state.policy.get();
    let roles: Vec<&str> = principal.roles_as_strings();
    let context = Context {
        roles: &roles,
        tenant: Some(&principal.tenant),
        tool: Some(tool),
        model: None,
    };
    let mut decision = policy.evaluate_in(&args_text(tool, action, args), &context);
    let base = state.config.tools.tiers.get(tool).copied().unwrap_or(Risk::Green);
    if base > decision.risk {
        let verb = if base == Risk::Red {
            "is blocked"
        } else {
            "needs a person's approval"
        };
        decision.risk = base;
        decision.category = "tool_tier".into();
        decision.reason = format!("The `{tool}` tool {verb} by configuration ([tools] tiers)");
        decision.requires_approval = true;
        decision.allow = base != Risk::Red;
        decision.confidence = 0.99;
        decision.alternative = Some("I can describe the call for a person to review and run.".into());
        decision.approval = None;
        decision.rules.insert(
            0,
            RuleMatch {
                id: format!("tool.{tool}"),
                tier: base,
                category: "tool_tier".into(),
                spans: Vec::new(),
            },
        );
    }
    decision
}

/// The arguments as the trail keeps them: shortened, and with every secret the policy's DLP
/// rules find masked, whatever their action: the trail never holds a secret.
fn masked_args(state: &AppState, args: &Value) -> String {
    let masked = state.policy.get().mask_sensitive(&args.to_string());
    trail::preview(&masked, state.config.audit_max_text_chars)
}

/// Queues a tool call for approval (always deferred: a tool caller cannot hold a connection
/// open for a person), with `records` committed alongside `approval_requested`.
async fn queue_tool(
    state: &AppState,
    trace_id: &str,
    principal: &Principal,
    digest: &str,
    decision: &Decision,
    request: Value,
    records: Vec<NewEvent>,
) -> Result<warden_store::Approval, ApiError> {
    let settings = state.approvals.settings(
        decision.approval.as_ref(),
        Some("defer"),
        decision.risk == Risk::Red,
    );
    let records = trail::stamp(records, &decision.policy_version);
    state
        .approvals
        .request(
            trace_id, principal, "tool", digest, decision, request, &settings, records,
        )
        .await
}

/// Commits records before the tool call goes on; without the trail nothing runs.
async fn commit(
    state: &AppState,
    records: Vec<NewEvent>,
    version: &str,
    trace_id: &str,
    risk: &str,
) -> Result<(), Response> {
    trail::commit(&state.audit, records, version).await.map_err(|e| {
        tool_error(
            e.status(),
            "audit_unavailable",
            &e.message(),
            json!({}),
            trace_id,
            Some(risk),
            "refused",
        )
    })
}

/// A refusal in OpenClaw's error shape, typed by the gateway error that caused it.
fn refused_with(e: &ApiError, trace_id: &str, risk: Option<&str>) -> Response {
    tool_error(
        e.status(),
        e.kind(),
        &e.message(),
        json!({}),
        trace_id,
        risk,
        "refused",
    )
}

/// OpenClaw's error shape for `/tools/invoke`.
fn tool_error(
    status: StatusCode,
    kind: &str,
    message: &str,
    extra: Value,
    trace_id: &str,
    risk: Option<&str>,
    warden_status: &str,
) -> Response {
    let mut error = json!({"type": kind, "message": message, "traceId": trace_id});
    if let (Value::Object(e), Value::Object(x)) = (&mut error, extra) {
        e.extend(x);
    }
    let mut response = (status, axum::Json(json!({"ok": false, "error": error}))).into_response();
    governance_headers(&mut response, trace_id, risk.unwrap_or("-"), warden_status);
    response
}

fn refusal_message(decision: &Decision) -> String {
    let rule = decision.deciding_rule().unwrap_or("policy");
    let alternative = decision.alternative.clone().unwrap_or_default();
    format!(
        "This tool call is blocked by governance policy ({rule}: {}). {alternative}",
        decision.reason
    )
}

/// `POST /tools/invoke`.
pub async fn invoke(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let trace_id = Uuid::now_v7().to_string();
    let principal = match state
        .auth
        .authenticate(&headers)
        .await
        .and_then(|p| p.require(Role::Requester).map(|()| p))
    {
        Ok(p) => p,
        Err(e) => {
            return refused_with(&e, &trace_id, None);
        }
    };
    let raw = match read_body(body, state.config.tools.max_body_bytes).await {
        Ok(raw) => raw,
        Err(e) => {
            return tool_error(
                e.status(),
                "invalid_request",
                &e.message(),
                json!({}),
                &trace_id,
                None,
                "refused",
            );
        }
    };
    let parsed: Result<Map<String, Value>, String> = match serde_json::from_slice::<Value>(&raw) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err("The body must be a JSON object.".into()),
        Err(e) => Err(format!("The body is not valid JSON: {e}.")),
    };
    let body = match parsed {
        Ok(b) => b,
        Err(message) => {
            return tool_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &message,
                json!({}),
                &trace_id,
                None,
                "refused",
            );
        }
    };
    let tool = body
        .get("tool")
        .or_else(|| body.get("name"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let Some(tool) = tool.filter(|t| !t.is_empty()) else {
        return tool_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "`tool` (or `name`) must name a tool.",
            json!({}),
            &trace_id,
            None,
            "refused",
        );
    };
    let action = body.get("action").and_then(Value::as_str).map(str::to_string);
    let args = body.get("args").cloned().unwrap_or_else(|| json!({}));
    if !args.is_object() {
        return tool_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "`args` must be an object.",
            json!({}),
            &trace_id,
            None,
            "refused",
        );
    }
    let dry_run = body.get("dryRun").and_then(Value::as_bool).unwrap_or(false);

    let mut decision = classify_tool(&state, &principal, &tool, action.as_deref(), &args);
    if state.config.tools.http_deny.iter().any(|t| t == &tool) && decision.risk < Risk::Red {
        decision.risk = Risk::Red;
        decision.allow = false;
        decision.requires_approval = true;
        decision.category = "tool_http_denied".into();
        decision.reason = format!("The `{tool}` tool is not available over HTTP ([tools] http_deny)");
        decision.alternative =
            Some("Ask the agent in a chat instead, where its tool calls are governed one by one.".into());
        decision.rules.insert(
            0,
            RuleMatch {
                id: "tool.http_denied".into(),
                tier: Risk::Red,
                category: "tool_http_denied".into(),
                spans: Vec::new(),
            },
        );
    }
    let risk = decision.risk.as_str();
    let version = decision.policy_version.clone();
    // The approval binds the tool, the action and the arguments.
    let digest = tool_digest(&tool, &json!({"action": action, "args": args}));
    let classification = NewEvent::now(
        &trace_id,
        "classification",
        &principal.actor(),
        json!({
            "tool": {"name": tool, "action": action, "args": masked_args(&state, &args),
                     "session_key": body.get("sessionKey"), "agent_id": body.get("agentId"), "dry_run": dry_run,
                     "digest": digest, "via": "tools_invoke"},
            "principal": {"key": principal.name, "roles": principal.roles_as_strings(), "tenant": principal.tenant},
            "decision": decision,
        }),
    );
    if dry_run {
        if let Err(refused) = commit(&state, vec![classification], &version, &trace_id, risk).await {
            return refused;
        }
        let mut response =
            axum::Json(json!({"ok": true, "dryRun": true, "traceId": trace_id, "decision": decision}))
                .into_response();
        governance_headers(&mut response, &trace_id, risk, "dry_run");
        return response;
    }

    if decision.risk == Risk::Red && !decision.approval.as_ref().is_some_and(|a| a.r#override) {
        let message = refusal_message(&decision);
        let blocked = NewEvent::now(
            &trace_id,
            "blocked",
            "warden",
            json!({"status": "blocked", "rule": decision.deciding_rule(), "reason": decision.reason, "response": message}),
        );
        if let Err(refused) = commit(&state, vec![classification, blocked], &version, &trace_id, risk).await {
            return refused;
        }
        let code = decision.deciding_rule().unwrap_or("policy").to_string();
        return tool_error(
            StatusCode::FORBIDDEN,
            "tool_call_blocked",
            &message,
            json!({"code": code}),
            &trace_id,
            Some(risk),
            "blocked",
        );
    }

    let mut records = vec![classification];
    if decision.risk == Risk::Red || (decision.risk == Risk::Amber && !state.config.auto_approve) {
        let resume = headers
            .get("x-warden-approval-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        match resume {
            Some(id) => match state.approvals.use_approval(&id, &principal, &digest).await {
                Ok(used) => records.push(trail::approval_used(&trace_id, &principal, &used)),
                Err(e) => {
                    records.push(trail::halted(&trace_id, &id, "refused", &e));
                    if let Err(refused) = commit(&state, records, &version, &trace_id, risk).await {
                        return refused;
                    }
                    return tool_error(
                        e.status(),
                        e.kind(),
                        &e.message(),
                        json!({"approvalId": id}),
                        &trace_id,
                        Some(risk),
                        "pending_approval",
                    );
                }
            },
            None => {
                let request = Value::Object(body.clone());
                let queued = match queue_tool(
                    &state, &trace_id, &principal, &digest, &decision, request, records,
                )
                .await
                {
                    Ok(q) => q,
                    Err(e) => {
                        return refused_with(&e, &trace_id, Some(risk));
                    }
                };
                let message = format!(
                    "This tool call requires human approval ({}: {}). It waits as approval request {id}; once approved, send the identical call again with the header `x-warden-approval-id: {id}`.",
                    decision.deciding_rule().unwrap_or("policy"),
                    decision.reason,
                    id = queued.id
                );
                return tool_error(
                    StatusCode::FORBIDDEN,
                    "approval_required",
                    &message,
                    json!({"approvalId": queued.id}),
                    &trace_id,
                    Some(risk),
                    "pending_approval",
                );
            }
        }
    }
    if let Err(refused) = commit(&state, records, &version, &trace_id, risk).await {
        return refused;
    }

    // Forward the call as it came; OpenClaw's answer goes back unchanged. The hook will ask
    // about this call: it was decided here, so it passes there, once, within a minute.
    if let Ok(mut forwarded) = state.forwarded_tools.lock() {
        forwarded.retain(|_, at| at.elapsed() < FORWARDED_TTL);
        forwarded.insert(tool_digest(&tool, &args), std::time::Instant::now());
    }
    let started = std::time::Instant::now();
    match state.upstream.invoke_tool(raw.to_vec()).await {
        Ok((status, content_type, bytes)) => {
            let record = NewEvent::now(
                &trace_id,
                "executed",
                "warden",
                json!({"status": "executed", "tool": tool, "upstream_status": status, "bytes": bytes.len(), "duration_ms": started.elapsed().as_millis() as u64}),
            );
            if let Err(e) = state.audit.append(trail::stamp(vec![record], &version)).await {
                tracing::error!(trace_id, error = %e, "executed record not committed; the response is returned regardless");
            }
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                content_type.unwrap_or(HeaderValue::from_static("application/json")),
            );
            governance_headers(&mut response, &trace_id, risk, "executed");
            response
        }
        Err(failure) => {
            let record = trail::upstream_error(
                &trace_id,
                failure.kind(),
                &failure.detail(),
                None,
                started.elapsed().as_millis() as u64,
            );
            if let Err(refused) = commit(&state, vec![record], &version, &trace_id, risk).await {
                return refused;
            }
            let e = failure.api_error();
            tool_error(
                e.status(),
                "upstream_error",
                &e.message(),
                json!({}),
                &trace_id,
                Some(risk),
                "upstream_error",
            )
        }
    }
}

/// `POST /v1/decisions/tool-call`: OpenClaw's `before_tool_call` hook asks; Warden answers
/// `allow`, `deny` with a reason, or `approval_required` with an approval id. Once a person
/// approves, the identical call (same tool, same arguments, same requester) is allowed, once.
pub async fn decide_tool_call(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let trace_id = Uuid::now_v7().to_string();
    let principal = state.auth.authenticate(&headers).await?;
    principal.require(Role::Requester)?;
    let raw = read_body(body, state.config.tools.max_body_bytes).await?;
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Ask {
        tool_name: String,
        #[serde(default)]
        params: Value,
        run_id: Option<String>,
        tool_call_id: Option<String>,
        agent_id: Option<String>,
        session_key: Option<String>,
        requester: Option<Value>,
    }
    let ask: Ask = serde_json::from_slice(&raw).map_err(|e| {
        ApiError::bad_request(format!("The body must be {{\"toolName\", \"params\", \"runId\", \"toolCallId\", \"agentId\", \"sessionKey\", \"requester\"}}: {e}."), None, "invalid_json")
    })?;
    let args = if ask.params.is_null() {
        json!({})
    } else {
        ask.params.clone()
    };
    let decision = classify_tool(&state, &principal, &ask.tool_name, None, &args);
    let digest = tool_digest(&ask.tool_name, &args);
    let version = decision.policy_version.clone();
    let classification = NewEvent::now(
        &trace_id,
        "classification",
        &principal.actor(),
        json!({
            "tool": {"name": ask.tool_name, "args": masked_args(&state, &args),
                     "run_id": ask.run_id, "tool_call_id": ask.tool_call_id, "agent_id": ask.agent_id,
                     "session_key": ask.session_key, "requester": ask.requester, "digest": digest, "via": "before_tool_call"},
            "decision": decision,
        }),
    );
    let answer = |decision_word: &str, reason: String, extra: Value| {
        let mut body = json!({"decision": decision_word, "reason": reason, "traceId": trace_id, "risk": decision.risk, "rule": decision.deciding_rule()});
        if let (Value::Object(b), Value::Object(x)) = (&mut body, extra) {
            b.extend(x);
        }
        axum::Json(body).into_response()
    };
    let red_blocks = decision.risk == Risk::Red && !decision.approval.as_ref().is_some_and(|a| a.r#override);
    if red_blocks {
        let reason = refusal_message(&decision);
        let blocked = NewEvent::now(
            &trace_id,
            "blocked",
            "warden",
            json!({"status": "blocked", "run_id": ask.run_id, "tool_call_id": ask.tool_call_id, "reason": reason}),
        );
        trail::commit(&state.audit, vec![classification, blocked], &version).await?;
        return Ok(answer("deny", reason, json!({})));
    }
    // The simulated manager clears amber only; red is never auto-approved, overridable or not.
    // A call Warden itself forwarded through `/tools/invoke` was decided at the front door.
    let from_front_door = decision.risk != Risk::Red
        && state
            .forwarded_tools
            .lock()
            .map(|mut f| f.remove(&digest).is_some_and(|at| at.elapsed() < FORWARDED_TTL))
            .unwrap_or(false);
    if from_front_door {
        let allowed = NewEvent::now(
            &trace_id,
            "allowed",
            "warden",
            json!({"status": "allowed", "via_front_door": true, "run_id": ask.run_id, "tool_call_id": ask.tool_call_id}),
        );
        trail::commit(&state.audit, vec![classification, allowed], &version).await?;
        return Ok(answer(
            "allow",
            "Decided when Warden forwarded it through /tools/invoke".into(),
            json!({}),
        ));
    }
    if decision.risk == Risk::Green || (state.config.auto_approve && decision.risk == Risk::Amber) {
        let allowed = NewEvent::now(
            &trace_id,
            "allowed",
            "warden",
            json!({"status": "allowed", "run_id": ask.run_id, "tool_call_id": ask.tool_call_id}),
        );
        trail::commit(&state.audit, vec![classification, allowed], &version).await?;
        return Ok(answer("allow", decision.reason.clone(), json!({})));
    }
    // Amber (or an overridable red): an approved, unused approval for this exact call lets it
    // through once; a pending one is reported again; otherwise a new request is queued.
    let open = state
        .store
        .open_approval_for(&principal.key_id, &digest)
        .await
        .map_err(|_| ApiError::StoreUnavailable)?;
    match open {
        Some(a) if a.status == ApprovalStatus::Approved => {
            let used = state.approvals.use_approval(&a.id, &principal, &digest).await?;
            let allowed = NewEvent::now(
                &trace_id,
                "allowed",
                "warden",
                json!({"status": "allowed", "approval_id": used.id, "run_id": ask.run_id, "tool_call_id": ask.tool_call_id}),
            );
            trail::commit(
                &state.audit,
                vec![
                    classification,
                    trail::approval_used(&trace_id, &principal, &used),
                    allowed,
                ],
                &version,
            )
            .await?;
            Ok(answer(
                "allow",
                format!("Approved under {}", used.id),
                json!({"approvalId": used.id}),
            ))
        }
        Some(a) => {
            let halted = NewEvent::now(
                &trace_id,
                "halted",
                "warden",
                json!({"status": "pending_approval", "approval_id": a.id, "run_id": ask.run_id, "tool_call_id": ask.tool_call_id}),
            );
            trail::commit(&state.audit, vec![classification, halted], &version).await?;
            Ok(answer(
                "approval_required",
                format!(
                    "Waiting for approval {} ({}). Retry the identical call once it is approved.",
                    a.id, decision.reason
                ),
                json!({"approvalId": a.id}),
            ))
        }
        None => {
            let request = json!({"toolName": ask.tool_name, "params": args, "runId": ask.run_id, "toolCallId": ask.tool_call_id, "agentId": ask.agent_id, "sessionKey": ask.session_key});
            let queued = queue_tool(
                &state,
                &trace_id,
                &principal,
                &digest,
                &decision,
                request,
                vec![classification],
            )
            .await?;
            Ok(answer(
                "approval_required",
                format!(
                    "This tool call needs a person's approval ({}: {}); approval request {}. Retry the identical call once it is approved.",
                    decision.deciding_rule().unwrap_or("policy"),
                    decision.reason,
                    queued.id
                ),
                json!({"approvalId": queued.id}),
            ))
        }
    }
}

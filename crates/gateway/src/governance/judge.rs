//! The classify stage: a governed view judged by the pinned policy in the caller's context. A
//! conversation is judged as one (`Policy::judge_conversation`); a tool call by what its
//! arguments do (`Policy::judge_tool_call`), raised to the tool's configured tier and, over
//! HTTP, to the deny list.

use warden_policy::{Context, Decision, Policy, Risk, RuleMatch, Speaker, Turn};

use super::view::{Subject, View};
use crate::auth::{Principal, Role};
use crate::config::{ToolsConfig, fold_tool_name};

/// The roles rules are scoped by: an admin holds every role, for scopes as for permissions.
fn scope_roles(principal: &Principal) -> Vec<&'static str> {
    if principal.roles.contains(&Role::Admin) {
        Role::ALL.iter().map(|r| r.as_str()).collect()
    } else {
        principal.roles_as_strings()
    }
}

/// The judged texts of a view, grouped into turns in reading order.
pub fn turns<'a>(view: &View, judged: &'a [String]) -> Vec<Turn<'a>> {
    let mut turns: Vec<Turn<'a>> = Vec::new();
    let mut last: Option<(u32, Speaker)> = None;
    for (slot, text) in view.slots.iter().zip(judged) {
        if !slot.judged {
            continue;
        }
        let key = (slot.turn, slot.speaker);
        if last == Some(key)
            && let Some(turn) = turns.last_mut()
        {
            let joined = format!("{}\n{text}", turn.text);
            turn.text = joined.into();
            continue;
        }
        turns.push(Turn::new(slot.speaker, text.as_str()));
        last = Some(key);
    }
    turns
}

/// Judges a view whose texts DLP has masked (`judged`, one per slot).
pub fn judge(
    policy: &Policy,
    tools: &ToolsConfig,
    principal: &Principal,
    view: &View,
    judged: &[String],
) -> Decision {
    let roles = scope_roles(principal);
    match &view.subject {
        Subject::Conversation => {
            let context = Context {
                roles: &roles,
                tenant: Some(&principal.tenant),
                tool: None,
                model: view.agent.as_deref(),
            };
            // What the agent's session already holds comes first: the request continues it.
            let mut conversation: Vec<Turn<'_>> = view.remembered.iter().map(|r| r.turn()).collect();
            conversation.extend(turns(view, judged));
            policy.judge_conversation(&conversation, &context)
        }
        Subject::ToolCall { tool, action } => {
            let context = Context {
                roles: &roles,
                tenant: Some(&principal.tenant),
                tool: Some(tool),
                model: view.agent.as_deref(),
            };
            let args = call_arguments(view, action.as_deref());
            let decision = policy.judge_tool_call(tool, &args, &context);
            let decision = raise_to_tier(decision, tools, tool);
            let decision = match &view.floor {
                Some(floor) => raise_to(decision, floor.tier, &floor.rule, floor.reason.clone()),
                None => decision,
            };
            if view.http_surface {
                deny_over_http(decision, tools, tool)
            } else {
                decision
            }
        }
    }
}

/// The arguments a tool will run with, as the view forwards them: `/tools/invoke`'s `args`
/// (with its top-level `action`, which OpenClaw hands the tool as an argument) or the hook's
/// `params`.
fn call_arguments<'v>(view: &'v View, action: Option<&str>) -> std::borrow::Cow<'v, serde_json::Value> {
    use std::borrow::Cow;
    static EMPTY: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(|| serde_json::json!({}));
    let args = view
        .body
        .get("args")
        .or_else(|| view.body.get("params"))
        .unwrap_or(&EMPTY);
    // Copied only when `action` must be added to what the tool receives.
    match (action, args.as_object()) {
        (Some(action), Some(map)) if !map.contains_key("action") => {
            let mut with_action = map.clone();
            with_action.insert("action".into(), serde_json::Value::String(action.to_string()));
            Cow::Owned(serde_json::Value::Object(with_action))
        }
        _ => Cow::Borrowed(args),
    }
}

/// Judges a tool call a model asked for in its answer: its name and arguments.
pub fn judge_tool_call(
    policy: &Policy,
    tools: &ToolsConfig,
    principal: &Principal,
    name: &str,
    arguments: &serde_json::Value,
) -> Decision {
    let roles = scope_roles(principal);
    let tool = fold_tool_name(name);
    let context = Context {
        roles: &roles,
        tenant: Some(&principal.tenant),
        tool: Some(&tool),
        model: None,
    };
    raise_to_tier(policy.judge_tool_call(&tool, arguments, &context), tools, &tool)
}

/// The policy's verdict, raised to the tool's configured tier (never lowered).
fn raise_to_tier(decision: Decision, tools: &ToolsConfig, tool: &str) -> Decision {
    let base = tools.tiers.get(tool).copied().unwrap_or(Risk::Green);
    let verb = if base == Risk::Red {
        "is blocked"
    } else {
        "needs a person's approval"
    };
    let reason = format!("The `{tool}` tool {verb} by configuration ([tools] tiers)");
    raise_to(decision, base, &format!("tool.{tool}"), reason)
}

/// The verdict raised to `base` by the configured rule `rule` (never lowered).
fn raise_to(mut decision: Decision, base: Risk, rule: &str, reason: String) -> Decision {
    if base <= decision.risk {
        return decision;
    }
    decision.risk = base;
    decision.category = "tool_tier".into();
    decision.reason = reason;
    decision.requires_approval = true;
    decision.allow = base != Risk::Red;
    decision.confidence = 0.99;
    decision.alternative = Some("I can describe the call for a person to review and run.".into());
    decision.approval = None;
    decision.rules.insert(
        0,
        RuleMatch {
            id: rule.to_string(),
            tier: base,
            category: "tool_tier".into(),
            spans: Vec::new(),
        },
    );
    decision
}

/// `/tools/invoke` refuses the tools OpenClaw refuses over HTTP, whatever their arguments.
fn deny_over_http(mut decision: Decision, tools: &ToolsConfig, tool: &str) -> Decision {
    if decision.risk == Risk::Red || !tools.http_deny.iter().any(|t| t == tool) {
        return decision;
    }
    decision.risk = Risk::Red;
    decision.allow = false;
    decision.requires_approval = true;
    decision.category = "tool_http_denied".into();
    decision.reason = format!("The `{tool}` tool is not available over HTTP ([tools] http_deny)");
    decision.alternative =
        Some("Ask the agent in a chat instead, where its tool calls are governed one by one.".into());
    decision.approval = None;
    decision.rules.insert(
        0,
        RuleMatch {
            id: "tool.http_denied".into(),
            tier: Risk::Red,
            category: "tool_http_denied".into(),
            spans: Vec::new(),
        },
    );
    decision
}

/// The request and its context as the classification record keeps them: the latest turn and
/// what follows, then the instructions and earlier turns.
pub fn split_for_record(view: &View, judged: &[String]) -> (String, String) {
    let latest_user = view
        .slots
        .iter()
        .filter(|s| s.speaker == Speaker::User)
        .map(|s| s.turn)
        .max();
    let mut request = String::new();
    let mut context = String::new();
    for (slot, text) in view.slots.iter().zip(judged) {
        if text.is_empty() || !slot.judged {
            continue;
        }
        let in_request = match slot.speaker {
            // Parameters are on the record as facts of their own.
            Speaker::Parameter => continue,
            Speaker::System | Speaker::Definition | Speaker::Assistant => false,
            _ => latest_user.is_none_or(|l| slot.turn >= l),
        };
        let target = if in_request { &mut request } else { &mut context };
        if !target.is_empty() {
            target.push('\n');
        }
        target.push_str(text);
    }
    (request, context)
}

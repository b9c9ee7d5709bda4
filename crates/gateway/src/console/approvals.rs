//! The approvals inbox: pending requests an approver may decide (their tenant, their groups),
//! most urgent first; a request's page with the exact action, secrets masked, the rules that
//! flagged it with their spans marked, the quorum and votes; and the vote itself, recorded
//! under the approver's key as on the API. Pages re-read their state every few seconds so a
//! decision taken elsewhere shows.

use askama::Template;
use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use warden_store::{Approval, ApprovalFilter, ApprovalStatus};

use super::render::{mark_texts, span, when};
use super::session::json_state;
use super::{ConsoleUser, Frame, error_page, html, store_failed};
use crate::api::approvals::{is_overseer, may_see};
use crate::auth::Role;
use crate::state::AppState;

/// One row of the inbox.
pub struct Row {
    pub id: String,
    pub risk: String,
    pub rule: String,
    pub requester: String,
    pub tenant: String,
    pub kind: String,
    pub preview: String,
    pub status: String,
    pub age: String,
    pub created: String,
    pub expires: String,
    pub expires_in: String,
    pub urgent: bool,
    pub quorum: String,
}

#[derive(Template)]
#[template(path = "console/inbox.html")]
struct InboxPage {
    frame: Frame,
    rows: Vec<Row>,
    showing: String,
    fingerprint: String,
}

#[derive(Debug, Default, Deserialize)]
pub struct InboxQuery {
    status: Option<String>,
}

/// Whether `a` is for this approver's groups (no groups: any approver's).
fn for_my_groups(user: &ConsoleUser, a: &Approval) -> bool {
    let eligible = a.eligible_groups();
    user.principal.roles.contains(&Role::Admin)
        || eligible.is_empty()
        || eligible.iter().any(|g| user.principal.groups.contains(g))
}

/// The first words of what was asked: the last user message, or the tool and its arguments.
fn preview(a: &Approval) -> String {
    let text = action_texts(&a.request)
        .into_iter()
        .rev()
        .find(|(label, _)| label == "user" || label.starts_with("tool"))
        .map(|(_, text)| text)
        .unwrap_or_else(|| a.request.to_string());
    warden_store::one_line(&text, 140)
}

/// The request's texts as people read them, each with what it is: the messages of a
/// conversation by role, a tool call's name and arguments, or the JSON itself.
fn action_texts(request: &Value) -> Vec<(String, String)> {
    let text_of = |content: &Value| -> String {
        match content {
            Value::String(s) => s.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str).or_else(|| p.as_str()))
                .collect::<Vec<_>>()
                .join("\n"),
            Value::Null => String::new(),
            other => serde_json::to_string_pretty(other).unwrap_or_default(),
        }
    };
    let mut out = Vec::new();
    if let Some(messages) = request
        .get("messages")
        .or_else(|| request.get("input"))
        .and_then(Value::as_array)
    {
        for m in messages {
            let role = m
                .get("role")
                .and_then(Value::as_str)
                .unwrap_or("message")
                .to_string();
            let mut text = text_of(m.get("content").unwrap_or(&Value::Null));
            if let Some(calls) = m.get("tool_calls") {
                text.push_str(&serde_json::to_string_pretty(calls).unwrap_or_default());
            }
            out.push((role, text));
        }
    } else if let Some(input) = request.get("input").and_then(Value::as_str) {
        out.push(("user".into(), input.to_string()));
    } else if let Some(tool) = request
        .get("tool")
        .or_else(|| request.get("name"))
        .or_else(|| request.get("toolName"))
        .and_then(Value::as_str)
    {
        let args = request
            .get("args")
            .or_else(|| request.get("arguments"))
            .or_else(|| request.get("params"))
            .cloned()
            .unwrap_or(Value::Null);
        let args = match args {
            Value::String(s) => serde_json::from_str::<Value>(&s)
                .ok()
                .and_then(|v| serde_json::to_string_pretty(&v).ok())
                .unwrap_or(s),
            other => serde_json::to_string_pretty(&other).unwrap_or_default(),
        };
        out.push((format!("tool {tool}"), args));
        // Where it would run: the agent, session and run the call belongs to, and its action.
        let context: Vec<String> = request
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "tool" | "name" | "toolName" | "args" | "arguments" | "params" | "headers"
                )
            })
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}: {s}"),
                other => format!("{k}: {other}"),
            })
            .collect();
        if !context.is_empty() {
            out.push(("call context".into(), context.join("\n")));
        }
    } else {
        out.push((
            "request".into(),
            serde_json::to_string_pretty(request).unwrap_or_default(),
        ));
    }
    // The Responses API's instructions come before the turns they govern.
    if let Some(instructions) = request.get("instructions").and_then(Value::as_str) {
        out.insert(0, ("instructions".into(), instructions.to_string()));
    }
    out
}

fn row(a: &Approval, now: i64) -> Row {
    let left = a.expires_ms - now;
    let total = (a.expires_ms - a.created_ms).max(1);
    Row {
        id: a.id.clone(),
        risk: a.risk.clone(),
        rule: a.rule.clone(),
        requester: a.requester.clone(),
        tenant: a.tenant.clone(),
        kind: a.kind.clone(),
        preview: preview(a),
        status: a.status.as_str().to_string(),
        age: span(now - a.created_ms),
        created: when(a.created_ms),
        expires: when(a.expires_ms),
        expires_in: if left > 0 { span(left) } else { "expired".into() },
        urgent: a.status == ApprovalStatus::Pending && (left < 5 * 60_000 || left * 10 < total),
        quorum: format!("{}/{}", a.approvals(), a.required),
    }
}

async fn visible(
    state: &AppState,
    user: &ConsoleUser,
    status: Option<ApprovalStatus>,
) -> Result<Vec<Approval>, warden_store::StoreError> {
    let filter = ApprovalFilter {
        status,
        requester: None,
        rule: None,
        limit: Some(200),
        tenant: user.principal.tenant_scope().map(str::to_string),
        requester_key: None,
    };
    let mut items: Vec<Approval> = state
        .core
        .store
        .list_approvals(&filter)
        .await?
        .into_iter()
        .filter(|a| may_see(&user.principal, a))
        .filter(|a| {
            !user.may(Role::Approver) || for_my_groups(user, a) || a.status != ApprovalStatus::Pending
        })
        .collect();
    if status == Some(ApprovalStatus::Pending) {
        // Most urgent first: the soonest to expire, then the newest.
        items.sort_by(|x, y| {
            x.expires_ms
                .cmp(&y.expires_ms)
                .then(y.created_ms.cmp(&x.created_ms))
        });
    }
    Ok(items)
}

fn fingerprint(items: &[Approval]) -> String {
    let votes: usize = items.iter().map(|a| a.votes.len()).sum();
    format!(
        "{}:{}:{votes}",
        items.len(),
        items.first().map(|a| a.id.as_str()).unwrap_or("")
    )
}

fn wanted_status(q: &InboxQuery) -> (Option<ApprovalStatus>, String) {
    match q.status.as_deref() {
        Some("all") => (None, "all".into()),
        Some(s) => match ApprovalStatus::parse(s) {
            Some(st) => (Some(st), s.to_string()),
            None => (Some(ApprovalStatus::Pending), "pending".into()),
        },
        None => (Some(ApprovalStatus::Pending), "pending".into()),
    }
}

pub async fn inbox(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<InboxQuery>,
) -> Response {
    if !is_overseer(&user.principal) {
        return error_page(
            &state,
            Some(&user),
            StatusCode::FORBIDDEN,
            "The inbox is for approvers and auditors.",
        );
    }
    let (status, showing) = wanted_status(&q);
    let items = match visible(&state, &user, status).await {
        Ok(items) => items,
        Err(e) => return store_failed(&state, &user, e),
    };
    let now = state.core.clock.now_ms();
    let page = InboxPage {
        frame: Frame::new(&user, "Approvals", "approvals"),
        fingerprint: fingerprint(&items),
        rows: items.iter().map(|a| row(a, now)).collect(),
        showing,
    };
    html(page.render())
}

/// What the inbox's script compares to notice a change.
pub async fn inbox_state(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<InboxQuery>,
) -> Response {
    let (status, _) = wanted_status(&q);
    match visible(&state, &user, status).await {
        Ok(items) => json_state(json!({"fingerprint": fingerprint(&items)})),
        Err(e) => store_failed(&state, &user, e),
    }
}

pub struct VoteRow {
    pub approver: String,
    pub vote: String,
    pub note: String,
    pub when: String,
}

pub struct RuleRow {
    pub id: String,
    pub tier: String,
    pub category: String,
    pub spans: Vec<String>,
}

pub struct ActionPart {
    pub label: String,
    /// Escaped, with the matched spans marked.
    pub html: String,
}

#[derive(Template)]
#[template(path = "console/approval.html")]
struct ApprovalPage<'a> {
    frame: Frame,
    a: Row,
    trace_id: &'a str,
    reason: String,
    digest: &'a str,
    policy_version: &'a str,
    mode: &'a str,
    groups: String,
    escalated: bool,
    note: String,
    parts: Vec<ActionPart>,
    rules: Vec<RuleRow>,
    votes: Vec<VoteRow>,
    can_vote: bool,
    why_not: String,
    message: Option<String>,
    error: Option<String>,
    state_token: String,
}

fn state_token(a: &Approval) -> String {
    format!("{}:{}", a.status.as_str(), a.votes.len())
}

async fn load(state: &AppState, user: &ConsoleUser, id: &str) -> Result<Approval, Response> {
    match state.core.store.approval(id).await {
        Ok(Some(a)) if may_see(&user.principal, &a) => Ok(a),
        Ok(_) => Err(error_page(
            state,
            Some(user),
            StatusCode::NOT_FOUND,
            "No such approval request, or not one you may see.",
        )),
        Err(e) => Err(store_failed(state, user, e)),
    }
}

fn approval_page(
    state: &AppState,
    user: &ConsoleUser,
    a: &Approval,
    message: Option<String>,
    error: Option<String>,
) -> Response {
    let now = state.core.clock.now_ms();
    let rules: Vec<RuleRow> = a
        .decision
        .get("rules")
        .and_then(Value::as_array)
        .map(|rules| {
            rules
                .iter()
                .map(|r| RuleRow {
                    id: r.get("id").and_then(Value::as_str).unwrap_or("").to_string(),
                    tier: r.get("tier").and_then(Value::as_str).unwrap_or("").to_string(),
                    category: r
                        .get("category")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    spans: r
                        .get("spans")
                        .and_then(Value::as_array)
                        .map(|spans| {
                            spans
                                .iter()
                                .filter_map(|s| s.get("text").and_then(Value::as_str))
                                .map(str::to_string)
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    let needles: Vec<String> = rules.iter().flat_map(|r| r.spans.iter().cloned()).collect();
    let parts = action_texts(&a.request)
        .into_iter()
        .map(|(label, text)| ActionPart {
            html: mark_texts(&text, &needles),
            label,
        })
        .collect();
    let (can_vote, why_not) = if !user.may(Role::Approver) {
        (false, "Your key does not hold the approver role.".to_string())
    } else if a.status != ApprovalStatus::Pending {
        let said = match a.status {
            ApprovalStatus::Approved => "This request is approved; it runs when its requester sends it.",
            ApprovalStatus::Used => "This request was approved and has run.",
            ApprovalStatus::Rejected => "This request was rejected.",
            ApprovalStatus::Expired => "This request expired before it was decided.",
            ApprovalStatus::Cancelled => "Its requester cancelled this request.",
            ApprovalStatus::Pending => "",
        };
        (false, said.to_string())
    } else if a.requester_key == user.principal.key_id {
        (
            false,
            "You made this request: another approver must decide it.".to_string(),
        )
    } else if !for_my_groups(user, a) {
        (
            false,
            format!(
                "Only members of {} may decide this request.",
                a.eligible_groups().join(", ")
            ),
        )
    } else if a.votes.iter().any(|v| v.approver == user.principal.key_id) {
        (
            false,
            "You have voted on this request; the others in its quorum decide the rest.".to_string(),
        )
    } else {
        (true, String::new())
    };
    let page = ApprovalPage {
        frame: Frame::new(
            user,
            format!("Approval {}", super::render::short(&a.id)),
            "approvals",
        ),
        a: row(a, now),
        trace_id: &a.trace_id,
        reason: a
            .decision
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        digest: &a.digest,
        policy_version: &a.policy_version,
        mode: &a.mode,
        groups: match a.eligible_groups() {
            g if g.is_empty() => "any approver".into(),
            g => g.join(", "),
        },
        escalated: a.escalated,
        note: a.note.clone().unwrap_or_default(),
        parts,
        rules,
        votes: a
            .votes
            .iter()
            .map(|v| VoteRow {
                approver: v.approver_name.clone(),
                vote: v.vote.clone(),
                note: v.note.clone().unwrap_or_default(),
                when: when(v.ts_ms),
            })
            .collect(),
        can_vote,
        why_not,
        message,
        error,
        state_token: state_token(a),
    };
    html(page.render())
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowQuery {
    done: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Response {
    let a = match load(&state, &user, &id).await {
        Ok(a) => a,
        Err(page) => return page,
    };
    let message = match q.done.as_deref() {
        Some("approve") => Some("Your approval is recorded.".to_string()),
        Some("reject") => Some("Your rejection is recorded.".to_string()),
        _ => None,
    };
    approval_page(&state, &user, &a, message, None)
}

/// What the request page's script compares to notice a decision taken elsewhere.
pub async fn state(State(state): State<AppState>, user: ConsoleUser, Path(id): Path<String>) -> Response {
    match load(&state, &user, &id).await {
        Ok(a) => {
            json_state(json!({"state": state_token(&a), "status": a.status.as_str(), "votes": a.votes.len()}))
        }
        Err(page) => page,
    }
}

#[derive(Debug, Deserialize)]
pub struct DecideForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    reason: String,
}

super::session::with_csrf!(DecideForm);

pub async fn decide(
    State(state): State<AppState>,
    user: ConsoleUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<DecideForm>, FormRejection>,
) -> Response {
    let form = match user.accept(&state, &headers, form, Some(Role::Approver)) {
        Ok(form) => form,
        Err(refused) => return refused.into_response(),
    };
    let a = match load(&state, &user, &id).await {
        Ok(a) => a,
        Err(page) => return page,
    };
    let approve = match form.decision.as_str() {
        "approve" => true,
        "reject" => false,
        _ => {
            return approval_page(&state, &user, &a, None, Some("Choose Approve or Reject.".into()));
        }
    };
    let reason = form.reason.trim();
    if !approve && reason.is_empty() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            approval_page(
                &state,
                &user,
                &a,
                None,
                Some("Say why you reject it: the requester reads the reason.".into()),
            ),
        )
            .into_response();
    }
    let note = (!reason.is_empty()).then(|| reason.chars().take(2000).collect::<String>());
    match state
        .core
        .approvals
        .vote(&id, &user.principal, approve, note.as_deref())
        .await
    {
        Ok(_) => Redirect::to(&format!(
            "{}/approvals/{id}?done={}",
            user.base,
            if approve { "approve" } else { "reject" }
        ))
        .into_response(),
        Err(e) => {
            let status = e.status();
            let a = match load(&state, &user, &id).await {
                Ok(a) => a,
                Err(page) => return page,
            };
            (status, approval_page(&state, &user, &a, None, Some(e.message()))).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_surface_reads_as_its_action() {
        let chat = json!({"model": "m", "messages": [{"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "pay the vendor"}]}]});
        assert_eq!(
            action_texts(&chat),
            [
                ("system".to_string(), "be brief".to_string()),
                ("user".into(), "pay the vendor".into())
            ]
        );
        let responses = json!({"model": "m", "input": "send the report", "instructions": "formal"});
        assert_eq!(
            action_texts(&responses),
            [
                ("instructions".to_string(), "formal".to_string()),
                ("user".into(), "send the report".into())
            ]
        );
        let hook = json!({"toolName": "exec", "params": {"command": "rm -rf /srv"}, "agentId": "main"});
        let parts = action_texts(&hook);
        assert_eq!(parts[0].0, "tool exec");
        assert!(parts[0].1.contains("\"command\": \"rm -rf /srv\""), "{parts:?}");
        assert_eq!(
            parts[1],
            ("call context".to_string(), "agentId: main".to_string())
        );
        let invoke = json!({"tool": "sessions_send", "args": {"text": "hi"}, "sessionKey": "warden:t:k:s"});
        assert_eq!(action_texts(&invoke)[0].0, "tool sessions_send");
        let mcp = json!({"name": "write_file", "arguments": {"path": "/tmp/x"}});
        assert!(action_texts(&mcp)[0].1.contains("/tmp/x"));
        let odd = json!({"something": 1});
        assert_eq!(action_texts(&odd)[0].0, "request");
    }
}

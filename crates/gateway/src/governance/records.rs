//! Every record Warden writes to the audit trail: one enum of stages, one builder per stage,
//! and the one rule for when a record must be durable. A request's decisions commit before
//! the effect they allow (or the refusal they explain) leaves Warden; what an effect did is
//! recorded after it and never holds up the answer; background work is logged if it fails.

use serde_json::{Map, Value, json};
use warden_policy::Decision;
use warden_store::{Approval, AuditLog, NewEvent};

use crate::auth::Principal;
use crate::error::ApiError;

/// The reviewer name recorded for automatic decisions.
pub const AUTO_REVIEWER: &str = "policy:auto";

/// What a record is about. Its name on the trail is `as_str`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Who asked for what, and the policy's decision.
    Classification,
    /// Refused before it could be judged (bad input, missing role, limits).
    Rejected,
    /// Refused by the policy.
    Blocked,
    /// Waiting for approval, or refused an approval it named.
    Halted,
    /// Decided by the auto-approval setting (`policy:auto`).
    Approval,
    ApprovalRequested,
    /// An approved request taken from the queue to run, once.
    ApprovalUsed,
    /// A tool call the decision service allowed.
    Allowed,
    /// What the upstream did with an allowed request.
    Executed,
    UpstreamError,
    /// The upstream refused a call Warden allowed: an approval spent on it did not run.
    UpstreamRefused,
    ApprovalVote,
    ApprovalVoteRefused,
    ApprovalGranted,
    ApprovalRejected,
    ApprovalCancelled,
    ApprovalExpired,
    ApprovalEscalated,
    ApprovalReminded,
    PolicyReloaded,
    PolicyReloadFailed,
    WebhookFailed,
    /// An MCP client session began.
    McpSession,
    /// An MCP client was shown a server's tools, some perhaps withheld.
    McpList,
    /// A tool definition was quarantined (new, changed, or addressing the model).
    McpQuarantine,
    /// An admin approved a server's tool definitions.
    McpPinned,
    /// Something done in the console: a sign-in or out, an export, a key made or revoked, a
    /// verification of the chain. (Its approval votes are `approval_vote` records.)
    Console,
}

/// When a record must be durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Durable {
    /// Nobody waits: written in the background, a failure logged.
    Background,
    /// After an effect: waited for, so the trail has it when the answer arrives, but a failed
    /// commit only logs (the effect has happened; the decision record already names it).
    AfterEffect,
    /// Before the effect or answer it justifies: a failed commit refuses the request.
    BeforeEffect,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Classification => "classification",
            Stage::Rejected => "rejected",
            Stage::Blocked => "blocked",
            Stage::Halted => "halted",
            Stage::Approval => "approval",
            Stage::ApprovalRequested => "approval_requested",
            Stage::ApprovalUsed => "approval_used",
            Stage::Allowed => "allowed",
            Stage::Executed => "executed",
            Stage::UpstreamError => "upstream_error",
            Stage::UpstreamRefused => "upstream_refused",
            Stage::ApprovalVote => "approval_vote",
            Stage::ApprovalVoteRefused => "approval_vote_refused",
            Stage::ApprovalGranted => "approval_granted",
            Stage::ApprovalRejected => "approval_rejected",
            Stage::ApprovalCancelled => "approval_cancelled",
            Stage::ApprovalExpired => "approval_expired",
            Stage::ApprovalEscalated => "approval_escalated",
            Stage::ApprovalReminded => "approval_reminded",
            Stage::PolicyReloaded => "policy_reloaded",
            Stage::PolicyReloadFailed => "policy_reload_failed",
            Stage::WebhookFailed => "webhook_failed",
            Stage::McpSession => "mcp_session",
            Stage::McpList => "mcp_list",
            Stage::McpQuarantine => "mcp_quarantine",
            Stage::McpPinned => "mcp_pinned",
            Stage::Console => "console",
        }
    }

    /// The rule: decisions and the queue's transitions before their effect, outcomes after,
    /// the scheduler's and the gateway's own events in the background.
    pub fn durable(self) -> Durable {
        match self {
            Stage::Classification
            | Stage::Rejected
            | Stage::Blocked
            | Stage::Halted
            | Stage::Approval
            | Stage::ApprovalRequested
            | Stage::ApprovalUsed
            | Stage::Allowed
            | Stage::ApprovalVote
            | Stage::ApprovalVoteRefused
            | Stage::ApprovalGranted
            | Stage::ApprovalRejected
            | Stage::ApprovalCancelled
            | Stage::McpQuarantine
            | Stage::McpPinned => Durable::BeforeEffect,
            Stage::Executed
            | Stage::UpstreamError
            | Stage::UpstreamRefused
            | Stage::McpSession
            | Stage::McpList
            | Stage::Console => Durable::AfterEffect,
            Stage::ApprovalExpired
            | Stage::ApprovalEscalated
            | Stage::ApprovalReminded
            | Stage::PolicyReloaded
            | Stage::PolicyReloadFailed
            | Stage::WebhookFailed => Durable::Background,
        }
    }
}

/// A record being built: its stage, who caused it and what it says.
#[derive(Debug, Clone)]
pub struct Record {
    pub stage: Stage,
    pub trace_id: String,
    pub actor: String,
    pub payload: Map<String, Value>,
}

impl Record {
    fn new(stage: Stage, trace_id: &str, actor: &str, payload: Value) -> Record {
        let payload = match payload {
            Value::Object(map) => map,
            other => Map::from_iter([("value".to_string(), other)]),
        };
        Record {
            stage,
            trace_id: trace_id.to_string(),
            actor: actor.to_string(),
            payload,
        }
    }

    /// What the guard said, when it was asked.
    pub fn with_guard(self, guard: Option<Value>) -> Record {
        match guard {
            Some(g) => self.with("guard", g),
            None => self,
        }
    }

    /// Adds a field to the payload.
    /// A classification with a shadow policy's verdict beside the enforced one: what the
    /// candidate would have done, and whether it agrees.
    pub fn with_shadow(self, shadow: Option<&Decision>, enforced: &Decision) -> Record {
        match shadow {
            None => self,
            Some(d) => self.with(
                "shadow",
                json!({"risk": d.risk, "rule": d.deciding_rule(), "category": d.category,
                       "policy_version": d.policy_version, "agrees": d.risk == enforced.risk}),
            ),
        }
    }

    pub fn with(mut self, key: &str, value: Value) -> Record {
        self.payload.insert(key.to_string(), value);
        self
    }

    /// Names the policy version and tenant the record was written under.
    pub fn stamped(mut self, policy_version: &str, tenant: Option<&str>) -> Record {
        self.payload
            .insert("policy_version".into(), Value::String(policy_version.to_string()));
        if let Some(tenant) = tenant {
            self.payload
                .insert("tenant".into(), Value::String(tenant.to_string()));
        }
        self
    }

    pub fn into_event(self) -> NewEvent {
        // Every record becomes an event here, once: what it says that is counted is counted.
        crate::metrics::METRICS.record_written(self.stage.as_str(), &self.payload);
        NewEvent::now(
            &self.trace_id,
            self.stage.as_str(),
            &self.actor,
            Value::Object(self.payload),
        )
    }
}

/// Writes `records` as the strictest of their stages requires: a record that must be durable
/// before an effect refuses the request when it cannot be committed.
pub async fn write(audit: &AuditLog, records: Vec<Record>) -> Result<(), ApiError> {
    let Some(durable) = records.iter().map(|r| r.stage.durable()).max() else {
        return Ok(());
    };
    // Named in the log line if the commit fails; kept out of the way when it does not.
    let first = records
        .first()
        .map(|r| (r.trace_id.clone(), r.stage.as_str()))
        .unwrap_or_default();
    let events: Vec<NewEvent> = records.into_iter().map(Record::into_event).collect();
    let (trace_id, stage) = first;
    match durable {
        Durable::Background => {
            audit.append_detached(events);
            Ok(())
        }
        Durable::AfterEffect => {
            if let Err(e) = audit.append(events).await {
                tracing::error!(trace_id, stage, error = %e, "records of what was done not committed; the answer goes out regardless");
            }
            Ok(())
        }
        Durable::BeforeEffect => audit.append(events).await.map(|_| ()).map_err(|e| {
            tracing::error!(trace_id, stage, error = %e, "audit records not committed; refusing the request");
            ApiError::AuditUnavailable
        }),
    }
}

/// The first `max` characters of `text`, marked when cut.
pub fn preview(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

pub fn principal_json(p: &Principal) -> Value {
    json!({"key": p.name, "key_id": p.key_id, "roles": p.roles_as_strings(), "tenant": p.tenant})
}

// ---- A request's records.

/// Who asked, what (as the surface describes it, secrets masked), and the decision.
pub fn classification(
    trace_id: &str,
    principal: &Principal,
    surface: &str,
    facts: Value,
    decision: &Decision,
    dlp: Value,
) -> Record {
    Record::new(
        Stage::Classification,
        trace_id,
        &principal.actor(),
        json!({"surface": surface, "principal": principal_json(principal), "decision": decision, "dlp": dlp}),
    )
    .with(
        if surface_is_tool(surface) {
            "tool"
        } else {
            "request"
        },
        facts,
    )
}

fn surface_is_tool(surface: &str) -> bool {
    matches!(surface, "tools_invoke" | "tool_hook")
}

/// A request refused before it was judged, with a bounded, masked preview of what was sent.
pub fn rejected(
    trace_id: &str,
    principal: &Principal,
    surface: &str,
    error: &ApiError,
    input_preview: Option<String>,
) -> Record {
    Record::new(
        Stage::Rejected,
        trace_id,
        &principal.actor(),
        json!({"surface": surface, "status": error.status().as_u16(), "error": preview(&error.message(), 500),
               "principal": principal_json(principal), "input_preview": input_preview}),
    )
}

/// A request the policy refused, and what the client was told.
pub fn blocked(trace_id: &str, decision: &Decision, message: &str) -> Record {
    Record::new(
        Stage::Blocked,
        trace_id,
        "warden",
        json!({"status": "blocked", "risk": decision.risk, "rule": decision.deciding_rule(),
               "reason": decision.reason, "response": message}),
    )
}

/// A request that waited for approval and does not run (yet): deferred, still pending,
/// rejected, expired, or refused the approval it named.
pub fn halted(trace_id: &str, approval_id: &str, status: &str, error: &ApiError) -> Record {
    Record::new(
        Stage::Halted,
        trace_id,
        "warden",
        json!({"status": status, "approval_id": approval_id, "response": error.message()}),
    )
}

/// The auto-approval setting's verdict (the tutorial's simulated manager).
pub fn auto_approval(trace_id: &str, approved: bool, note: &str) -> Record {
    Record::new(
        Stage::Approval,
        trace_id,
        AUTO_REVIEWER,
        json!({"approved": approved, "reviewer": AUTO_REVIEWER, "note": note}),
    )
}

/// A request put in the approval queue.
pub fn approval_requested(
    trace_id: &str,
    principal: &Principal,
    summary: Value,
    red_override: bool,
) -> Record {
    Record::new(
        Stage::ApprovalRequested,
        trace_id,
        &principal.actor(),
        json!({"approval": summary, "red_override": red_override}),
    )
}

/// An approved request taken from the queue to run, once.
pub fn approval_used(trace_id: &str, principal: &Principal, a: &Approval) -> Record {
    Record::new(
        Stage::ApprovalUsed,
        trace_id,
        &principal.actor(),
        json!({"approval_id": a.id, "approved_trace_id": a.trace_id, "reviewers": reviewers(a), "digest": a.digest}),
    )
}

/// A tool call the decision service allows.
pub fn allowed(trace_id: &str, facts: Value) -> Record {
    Record::new(Stage::Allowed, trace_id, "warden", facts).with("status", json!("allowed"))
}

/// What the upstream did with an allowed request.
pub fn executed(trace_id: &str, facts: Value) -> Record {
    Record::new(Stage::Executed, trace_id, "warden", facts)
}

/// A failed call to the upstream.
pub fn upstream_error(
    trace_id: &str,
    kind: &str,
    detail: &str,
    status: Option<u16>,
    duration_ms: u64,
) -> Record {
    Record::new(
        Stage::UpstreamError,
        trace_id,
        "warden",
        json!({"status": "upstream_error", "kind": kind, "upstream_status": status, "error": detail, "duration_ms": duration_ms}),
    )
}

/// The upstream refused a call Warden let through; an approval spent on it ran nothing.
pub fn upstream_refused(trace_id: &str, facts: Value) -> Record {
    Record::new(Stage::UpstreamRefused, trace_id, "warden", facts)
        .with("status", json!("refused_by_upstream"))
}

// ---- The approval queue's records.

fn reviewers(a: &Approval) -> Vec<&str> {
    a.votes.iter().map(|v| v.approver_name.as_str()).collect()
}

fn approval_record(stage: Stage, a: &Approval, actor: &str, payload: Value) -> Record {
    Record::new(stage, &a.trace_id, actor, payload)
        .with("approval_id", json!(a.id))
        .stamped(&a.policy_version, Some(&a.tenant))
}

/// A record that closes a request at `closed_ms`, with how long it waited in the queue (for
/// the approval latency people watch).
fn closing_record(stage: Stage, a: &Approval, actor: &str, payload: Value, closed_ms: Option<i64>) -> Record {
    let record = approval_record(stage, a, actor, payload);
    match closed_ms {
        Some(closed) => record.with("waited_ms", json!(closed - a.created_ms)),
        None => record,
    }
}

pub fn vote(a: &Approval, approver: &Principal, approve: bool, note: Option<&str>) -> Record {
    approval_record(
        Stage::ApprovalVote,
        a,
        &approver.actor(),
        json!({"vote": if approve { "approve" } else { "reject" }, "note": note,
               "approvals": a.approvals(), "required": a.required}),
    )
}

pub fn vote_refused(a: &Approval, approver: &Principal, approve: bool, refusal: &str) -> Record {
    approval_record(
        Stage::ApprovalVoteRefused,
        a,
        &approver.actor(),
        json!({"vote": if approve { "approve" } else { "reject" }, "refusal": refusal}),
    )
}

/// The vote that decided a request.
pub fn decided(a: &Approval, approver: &Principal, granted: bool, note: Option<&str>) -> Record {
    closing_record(
        if granted {
            Stage::ApprovalGranted
        } else {
            Stage::ApprovalRejected
        },
        a,
        &approver.actor(),
        json!({"status": a.status, "reviewers": reviewers(a), "note": note}),
        a.decided_ms,
    )
}

pub fn cancelled(a: &Approval, requester: &Principal) -> Record {
    closing_record(
        Stage::ApprovalCancelled,
        a,
        &requester.actor(),
        json!({}),
        a.decided_ms,
    )
}

/// A request that expired at `now_ms` (read before it expired, so its own record has no
/// decision time yet).
pub fn expired(a: &Approval, outcome: warden_store::ApprovalStatus, now_ms: i64) -> Record {
    closing_record(
        Stage::ApprovalExpired,
        a,
        "warden",
        json!({"outcome": outcome, "approvals": a.approvals(), "required": a.required}),
        Some(now_ms),
    )
}

pub fn escalated(a: &Approval) -> Record {
    approval_record(
        Stage::ApprovalEscalated,
        a,
        "warden",
        json!({"to": a.escalate_groups}),
    )
}

pub fn reminded(a: &Approval) -> Record {
    approval_record(
        Stage::ApprovalReminded,
        a,
        "warden",
        json!({"approvals": a.approvals(), "required": a.required}),
    )
}

// ---- The gateway's own records.

pub fn policy_reloaded(trigger: &str, file: &str, from: &str, to: &str, rules: usize) -> Record {
    Record::new(
        Stage::PolicyReloaded,
        "-",
        "warden",
        json!({"trigger": trigger, "file": file, "from": from, "to": to, "rules": rules}),
    )
}

pub fn policy_reload_failed(trigger: &str, file: &str, error: &str, in_force: &str) -> Record {
    Record::new(
        Stage::PolicyReloadFailed,
        "-",
        "warden",
        json!({"trigger": trigger, "file": file, "error": error, "in_force": in_force}),
    )
}

pub fn webhook_failed(
    hook: &str,
    event: &str,
    delivery: i64,
    attempt: i64,
    error: &str,
    gave_up: bool,
) -> Record {
    Record::new(
        Stage::WebhookFailed,
        "-",
        "warden",
        json!({"hook": hook, "event": event, "delivery": delivery, "attempt": attempt,
               "error": error, "gave_up": gave_up}),
    )
}

// ---- MCP's records.

/// A client session began on an MCP server.
pub fn mcp_session(trace_id: &str, principal: &Principal, server: &str, facts: Value) -> Record {
    Record::new(Stage::McpSession, trace_id, &principal.name, facts)
        .with("server", json!(server))
        .with("principal", principal_json(principal))
}

/// What a client was shown of a server's tools.
pub fn mcp_list(trace_id: &str, principal: &Principal, server: &str, facts: Value) -> Record {
    Record::new(Stage::McpList, trace_id, &principal.name, facts).with("server", json!(server))
}

/// A tool definition quarantined, with why and what changed.
pub fn mcp_quarantine(trace_id: &str, server: &str, facts: Value) -> Record {
    Record::new(Stage::McpQuarantine, trace_id, "warden", facts).with("server", json!(server))
}

/// An admin pinned a server's tool definitions.
pub fn mcp_pinned(trace_id: &str, admin: &Principal, server: &str, facts: Value) -> Record {
    Record::new(Stage::McpPinned, trace_id, &admin.name, facts)
        .with("server", json!(server))
        .with("principal", principal_json(admin))
}

/// Something a console user did, under a trace of its own, stamped with their tenant.
pub fn console(user: &Principal, action: &str, facts: Value) -> Record {
    let trace_id = uuid::Uuid::now_v7().to_string();
    Record::new(Stage::Console, &trace_id, &user.actor(), facts)
        .with("action", json!(action))
        .with("surface", json!("console"))
        .with("principal", principal_json(user))
        .with("tenant", json!(user.tenant))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decisions_commit_before_their_effect_and_outcomes_after() {
        assert_eq!(Stage::Classification.durable(), Durable::BeforeEffect);
        assert_eq!(Stage::ApprovalUsed.durable(), Durable::BeforeEffect);
        assert_eq!(Stage::Executed.durable(), Durable::AfterEffect);
        assert_eq!(Stage::WebhookFailed.durable(), Durable::Background);
        assert!(Durable::BeforeEffect > Durable::AfterEffect);
    }

    #[test]
    fn previews_cut_on_characters() {
        assert_eq!(preview("héllo", 2), "hé…");
        assert_eq!(preview("hi", 5), "hi");
    }
}

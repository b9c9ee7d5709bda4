//! The approval stage: green passes; red is refused; amber is cleared only by the explicit
//! auto-approval setting (the tutorial's simulated manager, recorded as `policy:auto`) and
//! otherwise held as `pending_approval`.

use serde_json::{Value, json};
use warden_policy::{Decision, Risk};

/// The reviewer name recorded for automatic decisions.
pub const AUTO_REVIEWER: &str = "policy:auto";

/// What the approval stage decided.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Run it.
    Proceed,
    /// Refuse it: the policy blocks it.
    Blocked,
    /// Hold it for a person.
    PendingApproval,
}

/// The outcome and, when a review happened, the approval record (the tutorial's shape).
#[derive(Debug, Clone)]
pub struct Approval {
    pub outcome: Outcome,
    /// `{approved, reviewer, note}` or `None` when no approval was needed.
    pub record: Option<Value>,
}

impl Approval {
    /// The status a client sees in `x-warden-status` when the request does not run.
    pub fn status(&self) -> &'static str {
        match self.outcome {
            Outcome::Proceed => "executed",
            Outcome::Blocked => "blocked",
            Outcome::PendingApproval => "pending_approval",
        }
    }
}

/// The approval record of a request approved through the queue.
pub fn from_queue(a: &warden_store::Approval) -> Approval {
    let reviewers: Vec<&str> = a.votes.iter().map(|v| v.approver_name.as_str()).collect();
    Approval {
        outcome: Outcome::Proceed,
        record: Some(
            json!({"approved": true, "reviewer": reviewers.join(","), "approval_id": a.id, "note": a.note}),
        ),
    }
}

/// Applies the approval rules to a decision. A red decision whose rule allows an override goes
/// to the queue like amber, whatever `auto_approve` says: only people override red.
pub fn decide(decision: &Decision, auto_approve: bool) -> Approval {
    if decision.risk == Risk::Red && decision.approval.as_ref().is_some_and(|a| a.r#override) {
        return Approval {
            outcome: Outcome::PendingApproval,
            record: None,
        };
    }
    match (decision.risk, auto_approve) {
        (Risk::Green, _) => Approval {
            outcome: Outcome::Proceed,
            record: None,
        },
        (Risk::Red, true) => Approval {
            outcome: Outcome::Blocked,
            record: Some(json!({
                "approved": false,
                "reviewer": AUTO_REVIEWER,
                "note": "Rejected automatically for red-risk request (approvals.auto_approve)"
            })),
        },
        (Risk::Red, false) => Approval {
            outcome: Outcome::Blocked,
            record: None,
        },
        (Risk::Amber, true) => Approval {
            outcome: Outcome::Proceed,
            record: Some(json!({
                "approved": true,
                "reviewer": AUTO_REVIEWER,
                "note": "Approved automatically for amber-risk request (approvals.auto_approve)"
            })),
        },
        (Risk::Amber, false) => Approval {
            outcome: Outcome::PendingApproval,
            record: None,
        },
    }
}

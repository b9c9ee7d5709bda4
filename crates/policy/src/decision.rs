//! The outcome of judging one request: the tutorial's `ActionProposal`, grown up.

use serde::{Deserialize, Serialize};

/// Risk tier. Ordered so that the highest tier wins (`Green < Amber < Red`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Risk {
    /// Answer: no approval needed.
    Green,
    /// A human approves first.
    Amber,
    /// Blocked, with a safe alternative offered.
    Red,
}

impl Risk {
    /// The lowercase name used on the wire, in headers and in the audit trail.
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Green => "green",
            Risk::Amber => "amber",
            Risk::Red => "red",
        }
    }

    /// Parses the wire name.
    pub fn parse(name: &str) -> Option<Risk> {
        match name {
            "green" => Some(Risk::Green),
            "amber" => Some(Risk::Amber),
            "red" => Some(Risk::Red),
            _ => None,
        }
    }
}

impl std::fmt::Display for Risk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stretch of the *original* text (byte offsets) that made a rule fire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    /// The original text of the span, so an explanation reads without the request at hand.
    pub text: String,
}

/// One rule that fired, with every place it fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleMatch {
    pub id: String,
    pub tier: Risk,
    pub category: String,
    pub spans: Vec<Span>,
}

/// The policy's verdict on one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub risk: Risk,
    pub category: String,
    /// Strength of the evidence, in `[0, 1]`.
    pub confidence: f64,
    pub requires_approval: bool,
    pub allow: bool,
    pub reason: String,
    /// The safe alternative offered when the request is refused or held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternative: Option<String>,
    /// Every rule that fired, highest tier first; the deciding rule first within its tier.
    pub rules: Vec<RuleMatch>,
    /// Rules that matched only inside conceptual questions (`what does sudo do?`), and so did
    /// not count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<RuleMatch>,
    /// Hash of the policy bundle that made this decision.
    pub policy_version: String,
    /// The deciding rule's approval settings, if it has any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<crate::ApprovalSpec>,
}

impl Decision {
    /// The id of the rule that decided the tier, if any rule fired at that tier.
    pub fn deciding_rule(&self) -> Option<&str> {
        self.rules
            .iter()
            .find(|r| r.tier == self.risk)
            .map(|r| r.id.as_str())
    }
}

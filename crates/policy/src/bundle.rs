//! The policy bundle's TOML format: parsed strictly (unknown keys are errors) and checked, with
//! errors that name the file, the line and the rule. The language is documented in
//! `docs/policy.md`.

use serde::Deserialize;
use std::collections::HashSet;

use crate::decision::Risk;

/// A policy bundle as written in TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BundleFile {
    pub policy: PolicyMeta,
    #[serde(default)]
    pub green: GreenSpec,
    #[serde(default, rename = "rule")]
    pub rules: Vec<toml::Spanned<RuleSpec>>,
    #[serde(default)]
    pub dlp: DlpSettings,
}

/// The `[dlp]` table: what the detectors of secrets do not report.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DlpSettings {
    /// Report placeholders (`sk_live_xxxx`, `<your-token>`) and vendors' documented example
    /// keys (`AKIAQ3EGS7YXNL2VWK5R`) as secrets. Off by default: they are not secrets.
    #[serde(default)]
    pub report_placeholders: bool,
    /// Exact values never reported (a test fixture's fake key, say).
    #[serde(default)]
    pub allow: Vec<String>,
}

/// The `[policy]` table: what this bundle is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyMeta {
    pub name: String,
    /// For readers of the bundle; carried, not used.
    #[serde(default)]
    #[allow(dead_code)]
    pub description: String,
}

/// The `[green]` table: the verdict when no rule fires.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GreenSpec {
    #[serde(default = "default_green_category")]
    pub category: String,
    #[serde(default = "default_green_reason")]
    pub reason: String,
    #[serde(default = "default_green_confidence")]
    pub confidence: f64,
}

impl Default for GreenSpec {
    fn default() -> Self {
        GreenSpec {
            category: default_green_category(),
            reason: default_green_reason(),
            confidence: default_green_confidence(),
        }
    }
}

fn default_green_category() -> String {
    "low_impact".to_string()
}
fn default_green_reason() -> String {
    "Low-risk request".to_string()
}
fn default_green_confidence() -> f64 {
    0.88
}

/// How a rule treats a conceptual question (`what is sudo?`, `how do wire transfers work?`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Questions {
    /// A match inside a conceptual question does not count: it asks for understanding.
    #[default]
    Downgrade,
    /// Every match counts (secrets, personal data: asking *what* they are is asking for them).
    Keep,
}

/// Words near other words, in the same sentence.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NearSpec {
    /// Any of these words (or `@detector` atoms)...
    pub words: Vec<String>,
    /// ...within `window` words of any of these; `0` means anywhere in the same sentence.
    pub with: Vec<String>,
    #[serde(default = "default_window")]
    pub window: usize,
    /// Whether the `words` side must open its sentence or clause, as an imperative does
    /// (`Email the carrier`, `Please tell the team`, `..., then message them`).
    #[serde(default)]
    pub opens_clause: bool,
    /// When set, the pair counts only if one of these words also occurs somewhere in the
    /// request: a third condition (`auditors` near `logs`, with `quietly` or `wish` said too).
    #[serde(default)]
    pub also: Vec<String>,
}

fn default_window() -> usize {
    6
}

/// Where a rule applies; an empty list means everywhere.
#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub tenants: Vec<String>,
    #[serde(default)]
    pub tools: Vec<String>,
    #[serde(default)]
    pub models: Vec<String>,
}

/// How a rule's requests are approved. Every field is optional; the gateway's `[approvals]`
/// configuration fills what a rule leaves out.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalSpec {
    /// `hold` (the connection waits) or `defer` (answered at once with an approval id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Distinct approvers needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quorum: Option<u32>,
    /// Approver groups whose members decide; empty: any approver.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// Groups that may decide too once the request has waited `escalate_after_secs`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub escalate_to: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_after_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_after_secs: Option<u64>,
    /// `reject` (default) or `approve`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_expiry: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remind_every_secs: Option<u64>,
    /// On a red rule: a quorum may approve what the rule would otherwise block.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub r#override: bool,
}

/// One `[[rule]]` of a bundle.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Stable identifier, returned as the error `code` when the rule blocks a request.
    pub id: String,
    pub tier: Risk,
    pub category: String,
    /// Words and phrases, matched as whole words with their inflections; a phrase's words in
    /// order with at most `gap` other words between them.
    #[serde(default)]
    pub terms: Vec<String>,
    #[serde(default = "default_gap")]
    pub gap: usize,
    /// Phrases that cancel the rule's matches in their sentence (`password policy` makes a
    /// sentence about a policy, not a request for a password).
    #[serde(default)]
    pub unless: Vec<String>,
    #[serde(default)]
    pub near: Vec<NearSpec>,
    /// Built-in detectors (`shell_command`, `iban`, `aws_access_key`, ...).
    #[serde(default)]
    pub detectors: Vec<String>,
    /// Regular expressions over the normalized text.
    #[serde(default)]
    pub patterns: Vec<String>,
    #[serde(default)]
    pub questions: Questions,
    #[serde(default)]
    pub scope: Scope,
    /// Evidence strength of one match of this rule.
    #[serde(default = "default_rule_confidence")]
    pub confidence: f64,
    pub reason: String,
    /// What Warden offers instead when the rule refuses or holds a request.
    #[serde(default)]
    pub alternative: Option<String>,
    /// How the rule's requests are approved (amber), or whether a quorum may override it (red).
    #[serde(default)]
    pub approval: Option<ApprovalSpec>,
    /// Data-loss prevention for the rule's detector findings, in prompts and responses:
    /// `block` (the default: the rule decides the tier), `redact` (the finding is replaced by a
    /// stable placeholder and the request goes on) or `flag` (recorded, not acted on).
    #[serde(default)]
    pub dlp: Option<String>,
}

fn default_gap() -> usize {
    2
}

fn default_rule_confidence() -> f64 {
    0.9
}

/// A bundle that cannot be loaded, with where and why.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{origin}: {message}")]
    Syntax { origin: String, message: String },
    #[error("{origin}:{line}: rule `{rule}`: {message}")]
    Rule {
        origin: String,
        line: usize,
        rule: String,
        message: String,
    },
}

impl BundleFile {
    /// Parses and checks a bundle; `origin` names it in errors (a file path, say).
    pub(crate) fn parse(source: &str, origin: &str) -> Result<BundleFile, BundleError> {
        let bundle: BundleFile = toml::from_str(source).map_err(|e| BundleError::Syntax {
            origin: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let detectors = crate::detectors::names();
        let mut seen = HashSet::new();
        for spanned in &bundle.rules {
            let rule = spanned.get_ref();
            let fail = |message: String| BundleError::Rule {
                origin: origin.to_string(),
                line: line_of(source, spanned.span().start),
                rule: rule.id.clone(),
                message,
            };
            if rule.id.trim().is_empty() {
                return Err(fail("id must not be empty".into()));
            }
            if !seen.insert(rule.id.clone()) {
                return Err(fail("duplicate rule id".into()));
            }
            if rule.tier == Risk::Green && !matches!(rule.dlp.as_deref(), Some("flag" | "redact")) {
                return Err(fail(
                    "tier must be `amber` or `red` (green is what remains when no rule fires; a green rule only records or redacts, with `dlp = \"flag\"` or `\"redact\"`)".into(),
                ));
            }
            if rule.terms.is_empty()
                && rule.near.is_empty()
                && rule.detectors.is_empty()
                && rule.patterns.is_empty()
            {
                return Err(fail(
                    "needs at least one of terms, near, detectors or patterns".into(),
                ));
            }
            if let Some(term) = rule.terms.iter().chain(&rule.unless).find(|t| {
                crate::words::tokenize(crate::Normalized::new(t).as_str())
                    .tokens
                    .is_empty()
            }) {
                return Err(fail(format!("term {term:?} has no word to match")));
            }
            for near in &rule.near {
                if near.words.is_empty() || near.with.is_empty() {
                    return Err(fail("near needs both `words` and `with`".into()));
                }
                if near.window > 50 {
                    return Err(fail(
                        "near window must lie in 0..=50 (0: the whole sentence)".into(),
                    ));
                }
                if let Some(atom) = near.also.iter().find(|a| {
                    a.starts_with('@')
                        || crate::words::tokenize(crate::Normalized::new(a).as_str())
                            .tokens
                            .len()
                            != 1
                }) {
                    return Err(fail(format!("near `also` entry {atom:?} must be one word")));
                }
                for atom in near.words.iter().chain(&near.with) {
                    if let Some(name) = atom.strip_prefix('@') {
                        if !detectors.contains(&name) {
                            return Err(fail(format!(
                                "unknown detector `@{name}` in near (known: {})",
                                detectors.join(", ")
                            )));
                        }
                    } else if crate::words::tokenize(crate::Normalized::new(atom).as_str())
                        .tokens
                        .len()
                        != 1
                    {
                        return Err(fail(format!(
                            "near entry {atom:?} must be one word or an @detector"
                        )));
                    }
                }
            }
            for name in &rule.detectors {
                if !detectors.contains(&name.as_str()) {
                    return Err(fail(format!(
                        "unknown detector `{name}` (known: {})",
                        detectors.join(", ")
                    )));
                }
            }
            for pattern in &rule.patterns {
                if let Err(e) = regex::Regex::new(pattern) {
                    return Err(fail(format!("pattern {pattern:?} does not compile: {e}")));
                }
            }
            if rule.gap > 10 {
                return Err(fail("gap must be at most 10".into()));
            }
            if !(0.0..=1.0).contains(&rule.confidence) {
                return Err(fail("confidence must lie in [0, 1]".into()));
            }
            if let Some(action) = &rule.dlp {
                if !matches!(action.as_str(), "block" | "redact" | "flag") {
                    return Err(fail(format!(
                        "dlp must be `block`, `redact` or `flag`, not `{action}`"
                    )));
                }
                if rule.detectors.is_empty() {
                    return Err(fail(
                        "dlp acts on detector findings; the rule lists no detectors".into(),
                    ));
                }
            }
            if let Some(approval) = &rule.approval {
                if let Some(mode) = &approval.mode
                    && !matches!(mode.as_str(), "hold" | "defer")
                {
                    return Err(fail(format!(
                        "approval mode must be `hold` or `defer`, not `{mode}`"
                    )));
                }
                if let Some(outcome) = &approval.on_expiry
                    && !matches!(outcome.as_str(), "reject" | "approve")
                {
                    return Err(fail(format!(
                        "approval on_expiry must be `reject` or `approve`, not `{outcome}`"
                    )));
                }
                if approval.quorum.is_some_and(|q| !(1..=20).contains(&q)) {
                    return Err(fail("approval quorum must lie in 1..=20".into()));
                }
                if rule.tier == Risk::Red && !approval.r#override {
                    return Err(fail(
                        "a red rule is never approved; set `override = true` to let a quorum override it"
                            .into(),
                    ));
                }
                if approval.r#override && approval.on_expiry.as_deref() == Some("approve") {
                    return Err(fail(
                        "a red override never approves itself on expiry; drop `on_expiry = \"approve\"`"
                            .into(),
                    ));
                }
                if approval.r#override && (rule.tier != Risk::Red || approval.quorum.unwrap_or(2) < 2) {
                    return Err(fail(
                        "`override` belongs on red rules and needs a quorum of at least 2".into(),
                    ));
                }
            }
        }
        if !(0.0..=1.0).contains(&bundle.green.confidence) {
            return Err(BundleError::Syntax {
                origin: origin.to_string(),
                message: "[green] confidence must lie in [0, 1]".into(),
            });
        }
        Ok(bundle)
    }
}

/// 1-based line of a byte offset.
fn line_of(source: &str, offset: usize) -> usize {
    source[..offset.min(source.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

//! The policy bundle's TOML format: parsed strictly (unknown keys are errors) and checked, with
//! errors that name the file, the line and the rule.

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
}

/// The `[policy]` table: what this bundle is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyMeta {
    pub name: String,
    #[serde(default)]
    #[allow(dead_code)] // documentation for readers of the bundle; carried, not used
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

/// One `[[rule]]` of a bundle.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Stable identifier, returned as the error `code` when the rule blocks a request.
    pub id: String,
    pub tier: Risk,
    pub category: String,
    /// Words and phrases, matched as whole words with their inflections.
    pub terms: Vec<String>,
    /// Evidence strength of one match of this rule.
    #[serde(default = "default_rule_confidence")]
    pub confidence: f64,
    pub reason: String,
    /// What Warden offers instead when the rule refuses or holds a request.
    #[serde(default)]
    pub alternative: Option<String>,
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
            if rule.tier == Risk::Green {
                return Err(fail(
                    "tier must be `amber` or `red` (green is what remains when no rule fires)".into(),
                ));
            }
            if rule.terms.is_empty() {
                return Err(fail("terms must list at least one word or phrase".into()));
            }
            if let Some(term) = rule.terms.iter().find(|t| crate::words::words(t).is_empty()) {
                return Err(fail(format!(
                    "term {term:?} has no word to match (only punctuation or filler words)"
                )));
            }
            if !(0.0..=1.0).contains(&rule.confidence) {
                return Err(fail("confidence must lie in [0, 1]".into()));
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

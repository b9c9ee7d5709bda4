//! `[[limits]]`: rate limits and token budgets per key or per tenant, shared by a fleet.

use serde::Deserialize;

use super::{ConfigError, Keyword, keyword};

/// One `[[limits]]` table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimit {
    /// Named in refusals, records and metrics.
    pub name: Option<String>,
    /// `key` (default: each key has its own counters) or `tenant` (a tenant's keys share).
    pub scope: Option<String>,
    /// Which keys (or tenants) it applies to: name patterns, `*` any run of characters;
    /// default all.
    #[serde(rename = "match")]
    pub matches: Option<Vec<String>>,
    /// Which upstream models (after `[models]` mapping) it applies to: patterns; default all,
    /// requests without a model (tool calls) included.
    pub models: Option<Vec<String>>,
    pub requests_per_minute: Option<i64>,
    pub tokens_per_minute: Option<i64>,
    pub tokens_per_day: Option<i64>,
    pub tokens_per_month: Option<i64>,
    /// Spend per UTC day and calendar month, in `[pricing]`'s currency (priced models only).
    pub spend_per_day: Option<f64>,
    pub spend_per_month: Option<f64>,
}

/// Whose counters a limit keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitScope {
    Key,
    Tenant,
}

impl Keyword for LimitScope {
    const WORDS: &'static [(&'static str, Self)] = &[("key", Self::Key), ("tenant", Self::Tenant)];
}

/// What a counter counts, and over which window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitKind {
    RequestsPerMinute,
    TokensPerMinute,
    TokensPerDay,
    TokensPerMonth,
    /// Counted in millionths of the currency.
    SpendPerDay,
    SpendPerMonth,
}

impl LimitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::RequestsPerMinute => "requests_per_minute",
            LimitKind::TokensPerMinute => "tokens_per_minute",
            LimitKind::TokensPerDay => "tokens_per_day",
            LimitKind::TokensPerMonth => "tokens_per_month",
            LimitKind::SpendPerDay => "spend_per_day",
            LimitKind::SpendPerMonth => "spend_per_month",
        }
    }

    /// Whether it counts tokens (reserved before, trued up after).
    pub fn tokens(self) -> bool {
        matches!(
            self,
            LimitKind::TokensPerMinute | LimitKind::TokensPerDay | LimitKind::TokensPerMonth
        )
    }

    /// Whether it counts spend (in millionths; reserved before, trued up after).
    pub fn spend(self) -> bool {
        matches!(self, LimitKind::SpendPerDay | LimitKind::SpendPerMonth)
    }

    /// A rate resets within the minute; a budget is a quota for the day or month.
    pub fn is_quota(self) -> bool {
        !matches!(self, LimitKind::RequestsPerMinute | LimitKind::TokensPerMinute)
    }
}

/// One limit, resolved.
#[derive(Debug, Clone)]
pub struct LimitConfig {
    pub name: String,
    pub scope: LimitScope,
    pub matches: Vec<String>,
    /// Upstream model patterns; empty: every request.
    pub models: Vec<String>,
    pub caps: Vec<(LimitKind, i64)>,
}

impl RawLimit {
    pub fn resolve(self, index: usize) -> Result<LimitConfig, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            key: "limits",
            message,
        };
        let name = self.name.unwrap_or_else(|| format!("limit-{}", index + 1));
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(invalid(format!(
                "the name {name:?} must be letters, digits, `-`, `_` or `.`"
            )));
        }
        let mut caps = Vec::new();
        for (kind, value) in [
            (LimitKind::RequestsPerMinute, self.requests_per_minute),
            (LimitKind::TokensPerMinute, self.tokens_per_minute),
            (LimitKind::TokensPerDay, self.tokens_per_day),
            (LimitKind::TokensPerMonth, self.tokens_per_month),
        ] {
            match value {
                None => {}
                Some(n) if n < 1 => {
                    return Err(invalid(format!("{name}: {} must be at least 1", kind.as_str())));
                }
                Some(n) => caps.push((kind, n)),
            }
        }
        for (kind, value) in [
            (LimitKind::SpendPerDay, self.spend_per_day),
            (LimitKind::SpendPerMonth, self.spend_per_month),
        ] {
            match value {
                None => {}
                Some(v) if !(v.is_finite() && v > 0.0) => {
                    return Err(invalid(format!(
                        "{name}: {} must be a number above 0",
                        kind.as_str()
                    )));
                }
                Some(v) => caps.push((kind, (v * 1e6).round() as i64)),
            }
        }
        if caps.is_empty() {
            return Err(invalid(format!(
                "{name}: set at least one of requests_per_minute, tokens_per_minute, tokens_per_day, tokens_per_month, spend_per_day, spend_per_month"
            )));
        }
        Ok(LimitConfig {
            name,
            scope: keyword("limits.scope", self.scope.as_deref(), LimitScope::Key)?,
            matches: self.matches.unwrap_or_else(|| vec!["*".into()]),
            models: self.models.unwrap_or_default(),
            caps,
        })
    }
}

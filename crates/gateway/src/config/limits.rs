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
    pub requests_per_minute: Option<i64>,
    pub tokens_per_minute: Option<i64>,
    pub tokens_per_day: Option<i64>,
    pub tokens_per_month: Option<i64>,
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
}

impl LimitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::RequestsPerMinute => "requests_per_minute",
            LimitKind::TokensPerMinute => "tokens_per_minute",
            LimitKind::TokensPerDay => "tokens_per_day",
            LimitKind::TokensPerMonth => "tokens_per_month",
        }
    }

    /// Whether it counts tokens (reserved before, trued up after) rather than requests.
    pub fn tokens(self) -> bool {
        !matches!(self, LimitKind::RequestsPerMinute)
    }

    /// A rate resets within the minute; a budget is a quota for the day or month.
    pub fn is_quota(self) -> bool {
        matches!(self, LimitKind::TokensPerDay | LimitKind::TokensPerMonth)
    }
}

/// One limit, resolved.
#[derive(Debug, Clone)]
pub struct LimitConfig {
    pub name: String,
    pub scope: LimitScope,
    pub matches: Vec<String>,
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
        if caps.is_empty() {
            return Err(invalid(format!(
                "{name}: set at least one of requests_per_minute, tokens_per_minute, tokens_per_day, tokens_per_month"
            )));
        }
        Ok(LimitConfig {
            name,
            scope: keyword("limits.scope", self.scope.as_deref(), LimitScope::Key)?,
            matches: self.matches.unwrap_or_else(|| vec!["*".into()]),
            caps,
        })
    }
}

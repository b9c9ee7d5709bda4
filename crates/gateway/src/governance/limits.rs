//! Rate limits and token budgets (`[[limits]]`), enforced before a request is sent upstream
//! and shared by a fleet: each counter's capacity for a window is leased from the store in
//! chunks (`Store::lease`, never more than the capacity across replicas) and spent here, in
//! memory, so a request costs a lock and a few additions, and the store one write per lease.
//! Tokens are reserved before dispatch from an estimate and trued up from the usage the
//! upstream reports when the answer ends (also when the client hangs up).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use time::OffsetDateTime;
use warden_store::Store;

use crate::auth::Principal;
use crate::config::{LimitConfig, LimitKind, LimitScope, glob_matches};
use crate::error::ApiError;

/// Leases are this fraction of a counter's capacity (at least what one request needs), so a
/// few replicas share a window without asking the store on every request.
const LEASE_FRACTION: i64 = 10;

/// One counter in one window.
type CounterKey = (String, i64);

/// The limits of a gateway, and what it holds of each counter's current window.
pub struct Limiter {
    store: Store,
    limits: Vec<LimitConfig>,
    /// What this gateway may still spend, per counter and window (and when the window ends).
    pools: Mutex<HashMap<CounterKey, (i64, i64)>>,
    /// When the store's grants of past windows were last forgotten.
    purged_ms: std::sync::atomic::AtomicI64,
    /// One lease at a time, so a burst asks the store once.
    leasing: tokio::sync::Mutex<()>,
}

/// What a request took, to give back what it did not use.
pub struct Reservation {
    limiter: Arc<Limiter>,
    taken: Vec<(CounterKey, LimitKind, i64)>,
}

/// The start and end of the window of `kind` that holds `now_ms`.
fn window(kind: LimitKind, now_ms: i64) -> (i64, i64) {
    const MINUTE: i64 = 60_000;
    const DAY: i64 = 86_400_000;
    match kind {
        LimitKind::RequestsPerMinute | LimitKind::TokensPerMinute => {
            let start = now_ms.div_euclid(MINUTE) * MINUTE;
            (start, start + MINUTE)
        }
        LimitKind::TokensPerDay | LimitKind::SpendPerDay => {
            let start = now_ms.div_euclid(DAY) * DAY;
            (start, start + DAY)
        }
        LimitKind::TokensPerMonth | LimitKind::SpendPerMonth => {
            // Calendar months, in UTC.
            let Ok(now) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms) * 1_000_000) else {
                return (now_ms, now_ms + 30 * DAY);
            };
            let first = now
                .replace_day(1)
                .map(|d| d.replace_time(time::Time::MIDNIGHT))
                .unwrap_or(now);
            let next = if first.month() == time::Month::December {
                first
                    .replace_year(first.year() + 1)
                    .and_then(|d| d.replace_month(time::Month::January))
            } else {
                first.replace_month(first.month().next())
            }
            .unwrap_or(first);
            let ms = |t: OffsetDateTime| (t.unix_timestamp_nanos() / 1_000_000) as i64;
            (ms(first), ms(next))
        }
    }
}

impl Limiter {
    pub fn new(store: Store, limits: Vec<LimitConfig>) -> Limiter {
        Limiter {
            store,
            limits,
            pools: Mutex::new(HashMap::new()),
            leasing: tokio::sync::Mutex::new(()),
            purged_ms: std::sync::atomic::AtomicI64::new(0),
        }
    }

    pub fn enabled(&self) -> bool {
        !self.limits.is_empty()
    }

    /// The counters a request of `principal` for `model` counts against, with their capacities.
    fn counters(
        &self,
        principal: &Principal,
        model: Option<&str>,
        now_ms: i64,
    ) -> Vec<(CounterKey, LimitKind, i64, i64, String)> {
        let mut out = Vec::new();
        for limit in &self.limits {
            if !limit.models.is_empty()
                && !model.is_some_and(|m| limit.models.iter().any(|p| glob_matches(p, m)))
            {
                continue;
            }
            let subject = match limit.scope {
                LimitScope::Key => &principal.name,
                LimitScope::Tenant => &principal.tenant,
            };
            if !limit.matches.iter().any(|p| glob_matches(p, subject)) {
                continue;
            }
            let scope = match limit.scope {
                LimitScope::Key => "key",
                LimitScope::Tenant => "tenant",
            };
            for (kind, capacity) in &limit.caps {
                let (start, end) = window(*kind, now_ms);
                let counter = format!("{}|{}|{scope}:{subject}", limit.name, kind.as_str());
                out.push(((counter, start), *kind, *capacity, end, limit.name.clone()));
            }
        }
        out
    }

    /// Reserves one request, `estimate.tokens` tokens and `estimate.spend` millionths of spend
    /// against every limit that applies to `principal` and `model`, or refuses with the first
    /// limit that has nothing left (and takes nothing).
    pub async fn admit(
        self: &Arc<Self>,
        principal: &Principal,
        model: Option<&str>,
        estimate: Estimate,
        now_ms: i64,
    ) -> Result<Reservation, ApiError> {
        let counters = self.counters(principal, model, now_ms);
        let need = |kind: LimitKind| {
            if kind.tokens() {
                estimate.tokens.max(0)
            } else if kind.spend() {
                estimate.spend.max(0)
            } else {
                1
            }
        };
        for attempt in 0..2 {
            let short = {
                let Ok(mut pools) = self.pools.lock() else {
                    return Err(ApiError::Internal);
                };
                let short: Vec<_> = counters
                    .iter()
                    .filter(|(key, kind, ..)| pools.get(key).map_or(0, |p| p.0) < need(*kind))
                    .cloned()
                    .collect();
                if short.is_empty() {
                    let taken = counters
                        .iter()
                        .map(|(key, kind, _, end, _)| {
                            let amount = need(*kind);
                            pools.entry(key.clone()).or_insert((0, *end)).0 -= amount;
                            (key.clone(), *kind, amount)
                        })
                        .collect();
                    return Ok(Reservation {
                        limiter: self.clone(),
                        taken,
                    });
                }
                short
            };
            if attempt == 1 {
                let (_, kind, capacity, end, name) = &short[0];
                let retry_after_secs = ((end - now_ms) as f64 / 1000.0).ceil().max(1.0) as u64;
                crate::metrics::METRICS.limit_refused(name, kind.as_str());
                return Err(ApiError::LimitReached {
                    limit: name.clone(),
                    kind: kind.as_str(),
                    capacity: *capacity,
                    quota: kind.is_quota(),
                    retry_after_secs,
                });
            }
            // Lease what is short from the store, then try once more.
            let _one_at_a_time = self.leasing.lock().await;
            self.forget_before(now_ms).await;
            for (key, kind, capacity, end, _) in &short {
                let have = self
                    .pools
                    .lock()
                    .map(|p| p.get(key).map_or(0, |p| p.0))
                    .unwrap_or(0);
                let missing = need(*kind) - have;
                if missing <= 0 {
                    continue;
                }
                let want = missing.max(capacity / LEASE_FRACTION).max(1);
                let granted = self
                    .store
                    .lease(&key.0, key.1, want, *capacity)
                    .await
                    .map_err(|e| {
                        tracing::error!(error = %e, "a limit's lease could not be taken");
                        ApiError::StoreUnavailable
                    })?;
                if let Ok(mut pools) = self.pools.lock() {
                    pools.entry(key.clone()).or_insert((0, *end)).0 += granted;
                }
            }
        }
        Err(ApiError::Internal)
    }

    /// Forgets the windows that are over: here at once, in the store once an hour (a month's
    /// window is kept until it is over).
    async fn forget_before(&self, now_ms: i64) {
        if let Ok(mut pools) = self.pools.lock() {
            pools.retain(|_, (_, end)| *end > now_ms);
        }
        let last = self.purged_ms.load(std::sync::atomic::Ordering::Relaxed);
        if now_ms - last > 3_600_000 {
            self.purged_ms.store(now_ms, std::sync::atomic::Ordering::Relaxed);
            if let Err(e) = self.store.purge_limit_grants(now_ms - 32 * 86_400_000).await {
                tracing::warn!(error = %e, "old limit grants not purged");
            }
        }
    }
}

/// What a request is expected to use: tokens, and spend in millionths of the currency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Estimate {
    pub tokens: i64,
    pub spend: i64,
}

impl Reservation {
    /// The answer used `actual` (its reported usage and cost), not the estimate: the difference
    /// is given back (or taken) in the same windows. Without a reported usage the estimate
    /// stands.
    pub fn settle(self, actual: Option<Estimate>) {
        let Some(actual) = actual else { return };
        let Ok(mut pools) = self.limiter.pools.lock() else {
            return;
        };
        for (key, kind, amount) in &self.taken {
            let used = if kind.tokens() {
                actual.tokens
            } else if kind.spend() {
                actual.spend
            } else {
                continue;
            };
            if let Some(pool) = pools.get_mut(key) {
                pool.0 += amount - used;
            }
        }
    }
}

/// A conservative estimate of what a request will use: its body at four bytes a token for the
/// input, plus the output it allows (`max_tokens`, `max_completion_tokens`,
/// `max_output_tokens`, else `default_output`); spend at `price`, when the model has one.
pub fn estimate(
    body: &serde_json::Map<String, serde_json::Value>,
    body_bytes: usize,
    default_output: i64,
    price: Option<crate::config::RawPrice>,
) -> Estimate {
    let output = ["max_completion_tokens", "max_tokens", "max_output_tokens"]
        .iter()
        .find_map(|k| body.get(*k).and_then(serde_json::Value::as_i64))
        .unwrap_or(default_output)
        .max(0);
    let input = (body_bytes as i64 + 3) / 4;
    Estimate {
        tokens: input + output,
        spend: price.map_or(0, |p| spend_micros(p, input, output)),
    }
}

/// What `input` and `output` tokens cost at `price`, in millionths of the currency (rounded
/// up: a budget is never undercounted).
pub fn spend_micros(price: crate::config::RawPrice, input: i64, output: i64) -> i64 {
    (price.cost(input, output) * 1e6).ceil() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_minutes_days_and_calendar_months() {
        assert_eq!(window(LimitKind::RequestsPerMinute, 61_000), (60_000, 120_000));
        assert_eq!(
            window(LimitKind::TokensPerDay, 86_400_001),
            (86_400_000, 172_800_000)
        );
        // 2026-12-06 → December 2026.
        let (start, end) = window(LimitKind::TokensPerMonth, 1_796_551_200_000);
        assert_eq!(start, 1_796_083_200_000, "2026-12-01T00:00Z");
        assert_eq!(end, 1_798_761_600_000, "2027-01-01T00:00Z");
    }

    #[test]
    fn estimates_count_the_body_and_the_output_allowed() {
        let body = serde_json::json!({"max_tokens": 100});
        let serde_json::Value::Object(body) = body else {
            unreachable!()
        };
        assert_eq!(
            estimate(&body, 400, 1024, None),
            Estimate {
                tokens: 200,
                spend: 0
            }
        );
        assert_eq!(estimate(&serde_json::Map::new(), 4, 1024, None).tokens, 1025);
        let price = crate::config::RawPrice {
            input_per_million: 2.0,
            output_per_million: 10.0,
        };
        // 100 input tokens at 2 per million and 100 output at 10: 0.0012, 1,200 millionths.
        assert_eq!(estimate(&body, 400, 1024, Some(price)).spend, 1200);
    }
}

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
        LimitKind::TokensPerDay => {
            let start = now_ms.div_euclid(DAY) * DAY;
            (start, start + DAY)
        }
        LimitKind::TokensPerMonth => {
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

    /// The counters a request of `principal` counts against, with their capacities.
    fn counters(&self, principal: &Principal, now_ms: i64) -> Vec<(CounterKey, LimitKind, i64, i64, String)> {
        let mut out = Vec::new();
        for limit in &self.limits {
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

    /// Reserves one request and `tokens` estimated tokens against every limit that applies,
    /// or refuses with the first limit that has nothing left (and takes nothing).
    pub async fn admit(
        self: &Arc<Self>,
        principal: &Principal,
        tokens: i64,
        now_ms: i64,
    ) -> Result<Reservation, ApiError> {
        let counters = self.counters(principal, now_ms);
        let need = |kind: LimitKind| if kind.tokens() { tokens.max(0) } else { 1 };
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

impl Reservation {
    /// The answer used `actual` tokens (its reported usage), not the estimate: the difference
    /// is given back (or taken) in the same windows.
    pub fn settle(self, actual: Option<i64>) {
        let Some(actual) = actual else { return };
        let Ok(mut pools) = self.limiter.pools.lock() else {
            return;
        };
        for (key, kind, amount) in &self.taken {
            if kind.tokens()
                && let Some(pool) = pools.get_mut(key)
            {
                pool.0 += amount - actual;
            }
        }
    }
}

/// A conservative estimate of the tokens a request will use: its body at four bytes a token,
/// plus the output it allows (`max_tokens`, `max_completion_tokens`, `max_output_tokens`, else
/// `default_output`).
pub fn estimate_tokens(
    body: &serde_json::Map<String, serde_json::Value>,
    body_bytes: usize,
    default_output: i64,
) -> i64 {
    let output = ["max_completion_tokens", "max_tokens", "max_output_tokens"]
        .iter()
        .find_map(|k| body.get(*k).and_then(serde_json::Value::as_i64))
        .unwrap_or(default_output);
    (body_bytes as i64 + 3) / 4 + output.max(0)
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
        assert_eq!(estimate_tokens(&body, 400, 1024), 200);
        assert_eq!(estimate_tokens(&serde_json::Map::new(), 4, 1024), 1025);
    }
}

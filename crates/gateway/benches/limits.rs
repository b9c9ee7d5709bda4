//! What the limits cost a request: `cargo bench -p warden-gateway --bench limits`.
//!
//! A key under two limits (a request rate and a daily token budget, four counters in all with
//! its tenant's), admitted and settled as a governed request is, against a real SQLite store:
//! the leases come from the store (about one request in a thousand here), every other request
//! is served from the gateway's own pools. Percentiles over many requests.

use std::sync::Arc;
use std::time::Instant;

use warden_gateway::auth::{Principal, Role};
use warden_gateway::config::{LimitConfig, LimitKind, LimitScope};
use warden_gateway::governance::limits::{Estimate, Limiter};

#[path = "common/report.rs"]
mod report;
use report::report;

fn main() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("a temp dir: {e}"));
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("a runtime: {e}"));
    runtime.block_on(async {
        let store = warden_store::Store::open(&url, warden_store::Durability::Process)
            .await
            .unwrap_or_else(|e| panic!("a store: {e}"));
        let limits = vec![
            LimitConfig {
                name: "per-key".into(),
                scope: LimitScope::Key,
                matches: vec!["*".into()],
                models: Vec::new(),
                caps: vec![
                    (LimitKind::RequestsPerMinute, 10_000_000),
                    (LimitKind::TokensPerDay, 10_000_000_000),
                ],
            },
            LimitConfig {
                name: "team".into(),
                scope: LimitScope::Tenant,
                matches: vec!["*".into()],
                models: Vec::new(),
                caps: vec![
                    (LimitKind::TokensPerMinute, 10_000_000_000),
                    (LimitKind::TokensPerMonth, 1_000_000_000_000),
                ],
            },
        ];
        let limiter = Arc::new(Limiter::new(store, limits));
        let principal = Principal {
            key_id: "0123456789abcdef".into(),
            name: "agent".into(),
            roles: vec![Role::Requester],
            tenant: "acme".into(),
            groups: Vec::new(),
        };
        let now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0)
        };
        // Every request is admitted (the capacities are far above what the run asks): a
        // refusal would time nothing, so it fails the run.
        let one = || async {
            let estimate = Estimate {
                tokens: 1200,
                spend: 0,
            };
            let reservation = limiter
                .admit(&principal, Some("openclaw/main"), estimate, now())
                .await
                .unwrap_or_else(|e| panic!("admitted: {}", e.message()));
            reservation.settle(Some(Estimate { tokens: 40, spend: 0 }));
        };
        for _ in 0..20_000 {
            one().await;
        }
        let mut samples = Vec::with_capacity(200_000);
        for _ in 0..200_000 {
            let started = Instant::now();
            one().await;
            samples.push(started.elapsed().as_nanos() as u64);
        }
        report("limits per request, 4 counters", samples);
    });
}

//! What the metrics cost a request: `cargo bench -p warden-gateway --bench metrics`.
//!
//! One governed request feeds the metrics at its end (the request counter and nine stage
//! histograms) and once per record (a classification with a DLP finding, an approval-free
//! executed record with the answer's DLP report): measured here as the whole per-request work,
//! percentiles over many requests, with the labels a real request has.

use std::hint::black_box;
use std::time::{Duration, Instant};

use serde_json::json;
use warden_gateway::metrics::METRICS;

#[path = "common/report.rs"]
mod report;
use report::report;

fn main() {
    let classification = json!({
        "surface": "chat_completions",
        "decision": {"risk": "green", "rules": []},
        "dlp": {"flagged": [], "redacted": [{"rule": "red.secret_in_text", "detector": "aws_access_key", "placeholder": "[aws_access_key_1]"}], "scanned": "prompt"},
    });
    let executed = json!({
        "status": "executed",
        "upstream_status": 200,
        "response_governance": {"dlp": {"flagged": [], "redacted": [], "scanned": "response"}},
    });
    let (classification, executed) = match (classification, executed) {
        (serde_json::Value::Object(c), serde_json::Value::Object(e)) => (c, e),
        _ => unreachable!("objects"),
    };
    let stages: [(&'static str, u64); 8] = [
        ("parse", 12),
        ("dlp", 30),
        ("classify", 45),
        ("approval", 1),
        ("audit_commit", 180),
        ("upstream_first_byte", 900),
        ("upstream", 1200),
        ("memory", 3),
    ];
    let rules = [
        "-",
        "red.money_movement",
        "amber.outbound_communication",
        "red.shell",
    ];
    let one = |i: usize| {
        METRICS.record_written("classification", black_box(&classification));
        METRICS.record_written("executed", black_box(&executed));
        METRICS.request_ended(
            "chat_completions",
            ["green", "amber", "red"][i % 3],
            "executed",
            rules[i % rules.len()],
            black_box(&stages),
            Duration::from_micros(2400),
        );
    };
    for i in 0..20_000 {
        one(i);
    }
    let mut samples = Vec::with_capacity(200_000);
    for i in 0..200_000 {
        let started = Instant::now();
        one(i);
        samples.push(started.elapsed().as_nanos() as u64);
    }
    report("metrics per request", samples);
    // A scrape, for scale: it runs once per scrape interval, not per request.
    let started = Instant::now();
    let text = METRICS.render(Some(3), "default", "sha256:0123456789abcdef");
    println!(
        "one scrape: {:.0} µs, {} bytes",
        started.elapsed().as_secs_f64() * 1e6,
        text.len()
    );
}

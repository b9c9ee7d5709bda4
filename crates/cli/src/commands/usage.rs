//! `warden usage`: the model's token usage of executed requests over a period, by key, tenant
//! or model, with its cost where `[pricing]` names the model's price. Read from the trail: the
//! classification says who asked and for which model, the executed record what the upstream
//! reported it used.

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use warden_gateway::Overrides;

use crate::settings;
use crate::{StoreArgs, UsageBy};

/// Who asked for what, from a classification record.
struct Asker {
    key: String,
    tenant: String,
    model: String,
}

#[derive(Default)]
struct Total {
    requests: u64,
    input: u64,
    output: u64,
    cost: Option<f64>,
    unpriced: u64,
}

/// `YYYY-MM-DD` or an RFC 3339 time, as the trail writes timestamps.
fn bound(text: &str) -> anyhow::Result<String> {
    let text = text.trim();
    if text.len() == 10 && text.as_bytes()[4] == b'-' && text.as_bytes()[7] == b'-' {
        return Ok(format!("{text}T00:00:00Z"));
    }
    if warden_store::parse_ts_ms(text).is_none() {
        bail!("`{text}` is not a date (2026-12-01) or an RFC 3339 time (2026-12-01T09:00:00Z)");
    }
    Ok(text.to_string())
}

pub async fn run(
    store: StoreArgs,
    since: Option<String>,
    until: Option<String>,
    by: UsageBy,
    json_out: bool,
) -> anyhow::Result<ExitCode> {
    let config = settings::load(&store, Overrides::default())?;
    let trail = settings::open_existing_store(&store).await?;
    let now = warden_store::now_rfc3339();
    let since = match since {
        Some(s) => bound(&s)?,
        // The current month, as invoices count.
        None => format!("{}-01T00:00:00Z", now.get(..7).context("the clock")?),
    };
    let until = match until {
        Some(u) => bound(&u)?,
        None => "9999-12-31T23:59:59Z".to_string(),
    };
    let records = trail.usage_records(&since, &until).await?;
    let mut askers: HashMap<String, Asker> = HashMap::new();
    let mut totals: BTreeMap<String, Total> = BTreeMap::new();
    for r in records {
        let p = &r.payload;
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
        if r.stage == "classification" {
            let model = text(p.pointer("/request/upstream_model"));
            let model = if model.is_empty() {
                text(p.pointer("/request/model"))
            } else {
                model
            };
            askers.insert(
                r.trace_id.clone(),
                Asker {
                    key: text(p.pointer("/principal/key")),
                    tenant: text(p.get("tenant")),
                    model,
                },
            );
            continue;
        }
        // An approved request that was resumed runs under a trace of its own, classified too.
        let Some(asker) = askers.get(&r.trace_id) else {
            continue;
        };
        let group = match by {
            UsageBy::Key => &asker.key,
            UsageBy::Tenant => &asker.tenant,
            UsageBy::Model => &asker.model,
        };
        let total = totals
            .entry(if group.is_empty() {
                "-".into()
            } else {
                group.clone()
            })
            .or_default();
        total.requests += 1;
        let Some((input, output)) = p.get("usage").and_then(warden_store::usage_tokens) else {
            continue;
        };
        total.input += input as u64;
        total.output += output as u64;
        match config.pricing.get(&asker.model) {
            Some(price) => {
                *total.cost.get_or_insert(0.0) += price.cost(input, output);
            }
            None => total.unpriced += 1,
        }
    }
    let by_name = match by {
        UsageBy::Key => "key",
        UsageBy::Tenant => "tenant",
        UsageBy::Model => "model",
    };
    if json_out {
        let rows: Vec<Value> = totals
            .iter()
            .map(|(name, t)| {
                json!({by_name: name, "requests": t.requests, "input_tokens": t.input, "output_tokens": t.output,
                       "cost": t.cost, "requests_without_price": t.unpriced})
            })
            .collect();
        say!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"since": since, "until": until, "by": by_name, "rows": rows})
            )?
        );
        return Ok(ExitCode::SUCCESS);
    }
    say!(
        "usage from {since} to {}, by {by_name}",
        if until.starts_with("9999") { "now" } else { &until }
    );
    say!(
        "{:<32} {:>9} {:>14} {:>14} {:>12}",
        by_name.to_uppercase(),
        "REQUESTS",
        "INPUT TOKENS",
        "OUTPUT TOKENS",
        "COST"
    );
    for (name, t) in &totals {
        let cost = match t.cost {
            Some(c) if t.unpriced == 0 => format!("{c:.4}"),
            Some(c) => format!("{c:.4}+"),
            None => "-".into(),
        };
        say!(
            "{name:<32} {:>9} {:>14} {:>14} {:>12}",
            t.requests,
            t.input,
            t.output,
            cost
        );
    }
    if totals.values().any(|t| t.unpriced > 0) {
        say!("(`-` or `+`: some models have no price in [pricing])");
    }
    Ok(ExitCode::SUCCESS)
}

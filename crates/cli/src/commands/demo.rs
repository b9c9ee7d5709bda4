//! `warden demo`: the whole governed flow, self-contained. A real gateway on a temporary SQLite
//! file with auto-approval on, a built-in stand-in agent behind it, the tutorial's five
//! requests over HTTP, the tutorial's report, the trail exported and its chain verified.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::{Value, json};
use warden_gateway::auth::{Role, generate_key};
use warden_gateway::{Gateway, Overrides, RawConfig};
use warden_standin::StandIn;
use warden_store::{ExportFormat, Store};

/// The tutorial's requests and the outcome Warden must reach for each.
const REQUESTS: [(&str, &str); 5] = [
    ("Summarize our AI governance policy for internal use.", "executed"),
    (
        "Draft an email to finance asking for confirmation of the Q1 cloud budget.",
        "executed",
    ),
    (
        "Send an email to all employees that payroll will be delayed by 2 days.",
        "blocked",
    ),
    (
        "Transfer funds from treasury to vendor account immediately.",
        "blocked",
    ),
    (
        "Run a shell command to archive the home directory and upload it.",
        "blocked",
    ),
];

pub async fn run(csv_path: PathBuf) -> anyhow::Result<ExitCode> {
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let db_url = format!("sqlite://{}", dir.path().join("warden-demo.db").display());

    // The stand-in demands a token like an OpenClaw Gateway does; Warden holds it server-side.
    let upstream_token = generate_key("upstream", &[], "-")
        .context("cannot generate a token")?
        .key;
    let agent = StandIn::new()
        .token(&upstream_token)
        .start("127.0.0.1:0")
        .await
        .context("cannot start the stand-in agent")?;
    let config = RawConfig::default().resolve(Overrides {
        listen: Some("127.0.0.1:0".into()),
        database_url: Some(db_url.clone()),
        upstream: Some(agent.url()),
        auto_approve: Some(true),
        upstream_token_env: Some(upstream_token),
    })?;
    let store = Store::open(&db_url, config.durability).await?;
    let requester =
        generate_key("demo-requester", &[Role::Requester], "default").context("cannot generate a key")?;
    let auditor =
        generate_key("demo-auditor", &[Role::Auditor], "default").context("cannot generate a key")?;
    store.insert_key(&requester.record).await?;
    store.insert_key(&auditor.record).await?;

    let gateway = Gateway::bind(config).await?;
    let base = format!("http://{}", gateway.local_addr()?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gateway.serve(async move {
        let _ = stopped.await;
    }));

    say!("Warden demo");
    say!("  gateway:     {base} (auto-approval on: amber approved and red rejected as reviewer policy:auto)");
    say!(
        "  agent:       {} (built-in stand-in agent: an in-process OpenAI-compatible responder, not a real model)",
        agent.url()
    );
    say!("  audit store: {db_url}");

    let client = reqwest::Client::new();
    let mut mismatches = Vec::new();
    for (text, expected) in REQUESTS {
        let body = json!({"model": "openclaw", "user": "employee-001", "messages": [{"role": "user", "content": text}]});
        let response = client
            .post(format!("{base}/v1/chat/completions"))
            .bearer_auth(&requester.key)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .context("request to the gateway failed")?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_string()
        };
        let (trace_id, status, risk) = (
            header("x-warden-trace-id"),
            header("x-warden-status"),
            header("x-warden-risk"),
        );
        let payload: Value = serde_json::from_slice(&response.bytes().await?).unwrap_or(Value::Null);
        let answer = payload
            .pointer("/choices/0/message/content")
            .or_else(|| payload.pointer("/error/message"))
            .and_then(Value::as_str)
            .unwrap_or("(no content)")
            .to_string();
        let trace = fetch_trace(&client, &base, &auditor.key, &trace_id).await?;
        let stage = |name: &str| {
            trace
                .iter()
                .find(|e| e["stage"] == name)
                .map(|e| e["payload"].clone())
        };
        let approval = stage("approval")
            .map(|a| {
                format!(
                    "{} by {} ({})",
                    if a["approved"] == true {
                        "approved"
                    } else {
                        "rejected"
                    },
                    a["reviewer"].as_str().unwrap_or("-"),
                    a["note"].as_str().unwrap_or("")
                )
            })
            .unwrap_or_else(|| "not required".into());
        let decision = stage("classification")
            .map(|c| c["decision"].clone())
            .unwrap_or(Value::Null);
        say!("{}", "=".repeat(100));
        say!("REQUEST:  {text}");
        say!("TRACE:    {trace_id}");
        say!("STATUS:   {status}");
        say!(
            "RISK:     {risk} ({}, confidence {}, rules: {})",
            decision["category"].as_str().unwrap_or("-"),
            decision["confidence"],
            decision["rules"]
                .as_array()
                .map(|r| r
                    .iter()
                    .filter_map(|r| r["id"].as_str())
                    .collect::<Vec<_>>()
                    .join(", "))
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "none".into())
        );
        say!("APPROVAL: {approval}");
        say!("RESPONSE: {answer}");
        if status != expected {
            mismatches.push(format!("{text:?}: expected {expected}, got {status}"));
        }
    }
    say!("{}", "=".repeat(100));

    let _ = stop.send(());
    server.await.context("gateway task failed")??;

    let mut file =
        std::fs::File::create(&csv_path).with_context(|| format!("cannot create {}", csv_path.display()))?;
    let exported = store.export(ExportFormat::Csv, &mut file).await?;
    say!("Saved: {} ({exported} audit records)", csv_path.display());
    let report = store.verify_chain().await?;
    match &report.first_bad {
        None => say!(
            "Audit chain verified: {} records, head {}",
            report.records,
            report.head
        ),
        Some(bad) => bail!("audit chain broken at record {}: {}", bad.seq, bad.problem),
    }
    store.close().await;
    if !mismatches.is_empty() {
        bail!(
            "the demo did not reach the expected outcomes:\n  {}",
            mismatches.join("\n  ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn fetch_trace(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    trace_id: &str,
) -> anyhow::Result<Vec<Value>> {
    let response = client
        .get(format!("{base}/v1/audit/traces/{trace_id}"))
        .bearer_auth(key)
        .send()
        .await?;
    let body: Value = serde_json::from_slice(&response.bytes().await?)?;
    Ok(body["events"].as_array().cloned().unwrap_or_default())
}

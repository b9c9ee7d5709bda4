//! `warden approvals list|show|approve|reject|cancel`: the approver's side, over the gateway's
//! HTTP API, with the key from `WARDEN_API_KEY` or `--key-file`.

use std::process::ExitCode;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::{ApprovalsCommand, ServerArgs};

pub async fn run(server: ServerArgs, command: ApprovalsCommand) -> anyhow::Result<ExitCode> {
    let key = match &server.key_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .trim()
            .to_string(),
        None => std::env::var("WARDEN_API_KEY")
            .context("set WARDEN_API_KEY or pass --key-file with an approver's key")?,
    };
    let base = server.url.trim_end_matches('/').to_string();
    let client = reqwest::Client::new();
    let call = |method: reqwest::Method, path: String, body: Option<Value>| {
        let mut request = client.request(method, format!("{base}{path}")).bearer_auth(&key);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        async move {
            let response = request.send().await.context("cannot reach the gateway")?;
            let status = response.status();
            let body: Value = serde_json::from_slice(&response.bytes().await?).unwrap_or(Value::Null);
            if !status.is_success() {
                let message = body
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("no message");
                bail!("{} {}", status.as_u16(), message);
            }
            Ok(body)
        }
    };
    match command {
        ApprovalsCommand::List {
            status,
            requester,
            rule,
            limit,
            json,
        } => {
            let mut query = vec![format!("status={status}")];
            query.extend(requester.map(|r| format!("requester={r}")));
            query.extend(rule.map(|r| format!("rule={r}")));
            query.extend(limit.map(|l| format!("limit={l}")));
            let body = call(
                reqwest::Method::GET,
                format!("/v1/approvals?{}", query.join("&")),
                None,
            )
            .await?;
            let items = body["data"].as_array().cloned().unwrap_or_default();
            if json {
                say!("{}", serde_json::to_string_pretty(&items)?);
            } else {
                say!(
                    "{:<36}  {:<9}  {:<5}  {:<30}  {:<12}  {:>5}  EXPIRES",
                    "ID",
                    "STATUS",
                    "RISK",
                    "RULE",
                    "REQUESTER",
                    "VOTES"
                );
                for a in &items {
                    let s = |k: &str| a[k].as_str().unwrap_or("-").to_string();
                    say!(
                        "{:<36}  {:<9}  {:<5}  {:<30}  {:<12}  {:>5}  {}",
                        s("id"),
                        s("status"),
                        s("risk"),
                        s("rule"),
                        s("requester"),
                        format!("{}/{}", a["approvals"], a["required"]),
                        s("expires_at")
                    );
                }
            }
        }
        ApprovalsCommand::Show { id } => {
            let body = call(reqwest::Method::GET, format!("/v1/approvals/{id}"), None).await?;
            say!("{}", serde_json::to_string_pretty(&body)?);
        }
        ApprovalsCommand::Approve { id, note } => {
            let body = call(
                reqwest::Method::POST,
                format!("/v1/approvals/{id}/approve"),
                Some(json!({"note": note})),
            )
            .await?;
            print_decision(&body);
        }
        ApprovalsCommand::Reject { id, note } => {
            let body = call(
                reqwest::Method::POST,
                format!("/v1/approvals/{id}/reject"),
                Some(json!({"note": note})),
            )
            .await?;
            print_decision(&body);
        }
        ApprovalsCommand::Cancel { id } => {
            let body = call(reqwest::Method::POST, format!("/v1/approvals/{id}/cancel"), None).await?;
            print_decision(&body);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_decision(a: &Value) {
    say!(
        "{} {} ({}/{} approvals)",
        a["id"].as_str().unwrap_or("-"),
        a["status"].as_str().unwrap_or("-"),
        a["approvals"],
        a["required"]
    );
}

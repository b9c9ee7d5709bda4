//! `warden approvals list|show|approve|reject|cancel`: the approver's side, over the gateway's
//! HTTP API, with the key from `WARDEN_API_KEY` or `--key-file`.

use std::process::ExitCode;

use serde_json::{Value, json};

use crate::{ApprovalsCommand, ServerArgs};

pub async fn run(server: ServerArgs, command: ApprovalsCommand) -> anyhow::Result<ExitCode> {
    let remote = super::remote::Remote::new(&server, "approver")?;
    let call = |method: reqwest::Method, path: String, body: Option<Value>| remote.call(method, path, body);
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

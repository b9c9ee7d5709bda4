//! `warden mcp list|diff|approve`: the admin's side of MCP governance, over a running gateway's
//! API. `diff` shows what an approval would pin (new tools, changed definitions field by
//! field, descriptions that address the model); `approve` pins exactly the definitions it was
//! shown, and is refused if the server changed in between.

use std::process::ExitCode;

use serde_json::{Value, json};

use super::remote::Remote;
use crate::{McpCommand, ServerArgs};

pub async fn run(server: ServerArgs, command: McpCommand) -> anyhow::Result<ExitCode> {
    let remote = Remote::new(&server, "admin")?;
    match command {
        McpCommand::List { json } => {
            let body = remote
                .call(reqwest::Method::GET, "/v1/mcp/servers".into(), None)
                .await?;
            let servers = body["servers"].as_array().cloned().unwrap_or_default();
            if json {
                say!("{}", serde_json::to_string_pretty(&servers)?);
                return Ok(ExitCode::SUCCESS);
            }
            say!(
                "{:<20}  {:<6}  {:<15}  {:>5}  {:>6}  {:>4}  {:>7}  {:>9}",
                "SERVER",
                "KIND",
                "STATUS",
                "TOOLS",
                "PINNED",
                "NEW",
                "CHANGED",
                "INJECTION"
            );
            for s in &servers {
                let n = |k: &str| s["tools"][k].as_u64().map_or("-".to_string(), |v| v.to_string());
                say!(
                    "{:<20}  {:<6}  {:<15}  {:>5}  {:>6}  {:>4}  {:>7}  {:>9}",
                    s["name"].as_str().unwrap_or("-"),
                    s["transport"]["kind"].as_str().unwrap_or("-"),
                    s["status"].as_str().unwrap_or("-"),
                    n("total"),
                    n("pinned"),
                    n("new"),
                    n("changed"),
                    n("instructions_to_the_model")
                );
                if let Some(error) = s["error"].as_str() {
                    say!("  {error}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        McpCommand::Diff { name, json } => {
            let body = remote
                .call(reqwest::Method::GET, format!("/v1/mcp/servers/{name}"), None)
                .await?;
            if json {
                say!("{}", serde_json::to_string_pretty(&body)?);
                return Ok(ExitCode::SUCCESS);
            }
            print_diff(&body);
            let pending = body["tools"]
                .as_array()
                .is_some_and(|t| t.iter().any(|t| t["state"] != "pinned"))
                || body["removed"].as_array().is_some_and(|r| !r.is_empty());
            // Like `diff`: 1 when an approval would change something.
            Ok(if pending {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        McpCommand::Approve { name, note } => {
            // Pin what was reviewed: the digests read now go with the approval.
            let body = remote
                .call(reqwest::Method::GET, format!("/v1/mcp/servers/{name}"), None)
                .await?;
            print_diff(&body);
            let digests: serde_json::Map<String, Value> = body["tools"]
                .as_array()
                .map(|tools| {
                    tools
                        .iter()
                        .filter_map(|t| Some((t["name"].as_str()?.to_string(), t["digest"].clone())))
                        .collect()
                })
                .unwrap_or_default();
            let approved = remote
                .call(
                    reqwest::Method::POST,
                    format!("/v1/mcp/servers/{name}/approve"),
                    Some(json!({"digests": digests, "note": note})),
                )
                .await?;
            say!(
                "{name}: {} tool definitions pinned (trace {})",
                approved["pinned"],
                approved["trace_id"].as_str().unwrap_or("-")
            );
            for still in approved["still_quarantined"]
                .as_array()
                .cloned()
                .unwrap_or_default()
            {
                say!(
                    "{}: still quarantined, its definition addresses the model ({}); mcp.metadata_injection = \"flag\" would let it through",
                    still["tool"].as_str().unwrap_or("-"),
                    still["evidence"].as_str().unwrap_or("-")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_diff(body: &Value) {
    let name = body["name"].as_str().unwrap_or("-");
    let tools = body["tools"].as_array().cloned().unwrap_or_default();
    let mut unchanged = 0;
    for tool in &tools {
        let tool_name = tool["name"].as_str().unwrap_or("-");
        match tool["state"].as_str().unwrap_or("-") {
            "pinned" => unchanged += 1,
            "new" => {
                say!("+ {tool_name} (new)");
                say!(
                    "    description: {}",
                    tool["definition"]["description"].as_str().unwrap_or("")
                );
            }
            "changed" => {
                say!("~ {tool_name} (changed since it was approved)");
                for change in tool["diff"].as_array().cloned().unwrap_or_default() {
                    say!("    {}:", change["field"].as_str().unwrap_or("-"));
                    say!("      - {}", change["before"]);
                    say!("      + {}", change["after"]);
                }
            }
            state => say!("! {tool_name} ({state})"),
        }
        for key in ["injection", "flagged"] {
            if let Some(found) = tool.get(key).filter(|f| f.is_object()) {
                say!(
                    "    addresses the model ({}): {}",
                    found["family"].as_str().unwrap_or("-"),
                    found["evidence"].as_str().unwrap_or("")
                );
            }
        }
    }
    for removed in body["removed"].as_array().cloned().unwrap_or_default() {
        say!("- {} (no longer offered)", removed.as_str().unwrap_or("-"));
    }
    say!("{name}: {} tools, {unchanged} as approved", tools.len());
}

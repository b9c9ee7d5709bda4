//! The admins' view of the governed MCP servers: `GET /v1/mcp/servers` (each server, how it is
//! reached, and how many of its tools are pinned, new, changed or quarantined),
//! `GET /v1/mcp/servers/{name}` (every tool with its state and, when changed, the diff from
//! what was pinned) and `POST /v1/mcp/servers/{name}/approve` (pin the definitions the server
//! offers now; the admin may name the digests they reviewed, and the approval is refused if
//! the server changed since). Auditors may read; only admins approve.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::small_body;
use crate::auth::{Principal, Role, TraceId};
use crate::config::McpTransport;
use crate::error::ApiError;
use crate::governance::records;
use crate::mcp::McpServer;
use crate::mcp::catalog::{self, Quarantine};
use crate::state::AppState;

fn may_read(principal: &Principal) -> Result<(), ApiError> {
    if principal.roles.contains(&Role::Auditor) {
        return Ok(());
    }
    principal.require(Role::Admin)
}

fn server(state: &AppState, name: &str) -> Result<Arc<McpServer>, ApiError> {
    state.mcp.server(name).cloned().ok_or_else(|| ApiError::NotFound {
        what: format!("MCP server `{name}`"),
    })
}

fn transport(server: &McpServer) -> Value {
    match &server.client.config().transport {
        // The command's arguments may name paths; its environment may hold secrets: only the
        // program is shown.
        McpTransport::Stdio { program, .. } => json!({"kind": "stdio", "program": program}),
        McpTransport::Http { url, headers } => {
            let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
            json!({"kind": "http", "url": url, "headers": names})
        }
    }
}

/// The server's tools read afresh from the upstream, compared with their pins.
async fn read_tools(state: &AppState, server: &McpServer) -> Result<Arc<catalog::Listing>, ApiError> {
    server
        .catalog
        .listing(
            &server.client,
            &state.core.store,
            state.mcp.config.metadata_injection,
            true,
        )
        .await
        .map_err(|e| ApiError::NotFound {
            what: format!("A reading of `{}`'s tools ({e})", server.name()),
        })
}

/// Each tool of a server with its state, read afresh from the upstream.
async fn tools_of(state: &AppState, server: &McpServer) -> Result<(Vec<Value>, Vec<String>), ApiError> {
    let listing = read_tools(state, server).await?;
    let tools = listing
        .tools
        .iter()
        .map(|tool| {
            let mut entry = json!({"name": tool.name, "digest": tool.digest,
                                   "state": tool.quarantine.as_ref().map_or("pinned", Quarantine::reason)});
            let current = catalog::pinned_part(&tool.definition);
            match &tool.quarantine {
                Some(Quarantine::Changed { pinned }) => {
                    entry["diff"] = json!(catalog::diff(pinned, &current))
                }
                Some(Quarantine::Injection { family, evidence }) => {
                    entry["injection"] = json!({"family": family, "evidence": evidence});
                }
                _ => {}
            }
            if let Some(found) = &tool.flagged {
                entry["flagged"] = json!({"family": found.family, "evidence": found.evidence});
            }
            entry["definition"] = current;
            entry
        })
        .collect();
    Ok((tools, listing.removed.clone()))
}

pub async fn list(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Response, ApiError> {
    may_read(&principal)?;
    let mut servers = Vec::new();
    for server in state.mcp.servers.values() {
        let mut entry = json!({"name": server.name(), "transport": transport(server), "path": format!("/mcp/{}", server.name())});
        match tools_of(&state, server).await {
            Ok((tools, removed)) => {
                let count = |s: &str| tools.iter().filter(|t| t["state"] == s).count();
                entry["tools"] = json!({"total": tools.len(), "pinned": count("pinned"), "new": count("new"),
                                        "changed": count("changed"), "instructions_to_the_model": count("instructions_to_the_model"),
                                        "removed": removed.len()});
                entry["status"] = json!(if tools.len() == count("pinned") && removed.is_empty() {
                    "approved"
                } else {
                    "needs_approval"
                });
            }
            Err(e) => {
                entry["status"] = json!("unreachable");
                entry["error"] = json!(e.message());
            }
        }
        servers.push(entry);
    }
    Ok(axum::Json(json!({"servers": servers})).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    may_read(&principal)?;
    let server = server(&state, &name)?;
    let (tools, removed) = tools_of(&state, &server).await?;
    let pins = state
        .core
        .store
        .mcp_pins(&name)
        .await
        .map_err(|_| ApiError::StoreUnavailable)?;
    let approved = pins
        .iter()
        .map(|p| (p.approved_by.clone(), p.approved_ms))
        .max_by_key(|(_, at)| *at);
    Ok(axum::Json(json!({"name": name, "transport": transport(&server), "tools": tools, "removed": removed,
                         "approved_by": approved.as_ref().map(|a| &a.0), "approved_ms": approved.map(|a| a.1)}))
    .into_response())
}

pub async fn approve(
    State(state): State<AppState>,
    Extension(trace): Extension<TraceId>,
    Extension(principal): Extension<Principal>,
    Path(name): Path<String>,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    principal.require(Role::Admin)?;
    let server = server(&state, &name)?;
    let raw = small_body(&state, body, 1024 * 1024).await?;
    #[derive(serde::Deserialize, Default)]
    #[serde(deny_unknown_fields)]
    struct Approve {
        /// The digests the admin reviewed, by tool: the approval stands only if they are
        /// still what the server offers.
        digests: Option<std::collections::BTreeMap<String, String>>,
        note: Option<String>,
    }
    let request: Approve = if raw.iter().all(u8::is_ascii_whitespace) {
        Approve::default()
    } else {
        serde_json::from_slice(&raw).map_err(|e| {
            ApiError::bad_request(
                format!("The body must be {{\"digests\"?: {{tool: digest}}, \"note\"?: string}}: {e}."),
                None,
                "invalid_json",
            )
        })?
    };
    let listing = read_tools(&state, &server).await?;
    if let Some(reviewed) = &request.digests {
        let now: std::collections::BTreeMap<&str, &str> = listing
            .tools
            .iter()
            .map(|t| (t.name.as_str(), t.digest.as_str()))
            .collect();
        let same = reviewed.len() == now.len()
            && reviewed
                .iter()
                .all(|(tool, d)| now.get(tool.as_str()) == Some(&d.as_str()));
        if !same {
            return Err(ApiError::ApprovalConflict {
                message: format!(
                    "The tools of `{name}` changed since they were reviewed; review them again (warden mcp diff {name})."
                ),
            });
        }
    }
    let pins: Vec<(String, String, String)> = listing
        .tools
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.digest.clone(),
                catalog::pinned_part(&t.definition).to_string(),
            )
        })
        .collect();
    let summary: Vec<Value> = listing
        .tools
        .iter()
        .map(|t| json!({"tool": t.name, "digest": t.digest, "was": t.quarantine.as_ref().map_or("pinned", Quarantine::reason)}))
        .collect();
    // Pinned, but still withheld: definitions that address the model, under the quarantine
    // policy.
    let quarantines = state.mcp.config.metadata_injection == crate::config::MetadataInjection::Quarantine;
    let still: Vec<Value> = listing
        .tools
        .iter()
        .filter_map(|t| {
            let (family, evidence) = match (&t.quarantine, &t.flagged) {
                (Some(Quarantine::Injection { family, evidence }), _) => (*family, evidence.clone()),
                (_, Some(found)) if quarantines => (found.family, found.evidence.clone()),
                _ => return None,
            };
            Some(json!({"tool": t.name, "reason": "instructions_to_the_model", "family": family, "evidence": evidence}))
        })
        .collect();
    let record = records::mcp_pinned(
        &trace.0,
        &principal,
        &name,
        json!({"tools": summary, "removed": listing.removed, "note": request.note, "still_quarantined": still}),
    );
    // On the trail before the pins take effect.
    records::write(&state.core.audit, vec![record]).await?;
    state
        .core
        .store
        .pin_mcp_tools(&name, &pins, &principal.name, state.core.clock.now_ms())
        .await
        .map_err(|_| ApiError::StoreUnavailable)?;
    server.catalog.invalidate().await;
    tracing::info!(server = %name, admin = %principal.name, tools = pins.len(), "MCP tool definitions approved");
    Ok(axum::Json(json!({"server": name, "pinned": pins.len(), "tools": summary, "still_quarantined": still, "trace_id": trace.0}))
        .into_response())
}

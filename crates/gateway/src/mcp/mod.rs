//! MCP governance: the servers Warden stands in front of (`[[mcp.servers]]`), each with its
//! upstream client, its tool catalogue checked against the admin's pins, and the client
//! sessions of the `/mcp/{server}` endpoint. The endpoint itself is a surface
//! (`crate::surfaces::mcp`); a `tools/call` there is judged by the one governance core.

pub mod catalog;
pub mod client;
pub mod sessions;

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::config::McpConfig;

/// One governed server.
pub struct McpServer {
    pub client: client::McpClient,
    pub catalog: catalog::Catalog,
}

impl McpServer {
    pub fn name(&self) -> &str {
        &self.client.config().name
    }
}

/// Every governed server and the endpoint's sessions.
pub struct McpHub {
    pub servers: BTreeMap<String, Arc<McpServer>>,
    pub sessions: sessions::Sessions,
    pub config: McpConfig,
}

impl McpHub {
    pub fn new(config: &McpConfig) -> Result<McpHub, String> {
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the MCP HTTP client: {e}"))?;
        let servers = config
            .servers
            .iter()
            .map(|server| {
                let governed = McpServer {
                    client: client::McpClient::new(server.clone(), http.clone()),
                    catalog: catalog::Catalog::default(),
                };
                (server.name.clone(), Arc::new(governed))
            })
            .collect();
        Ok(McpHub {
            servers,
            sessions: sessions::Sessions::new(
                config.session_idle,
                config.max_sessions,
                config.max_sessions_per_key,
            ),
            config: config.clone(),
        })
    }

    pub fn server(&self, name: &str) -> Option<&Arc<McpServer>> {
        self.servers.get(name)
    }
}

//! A running gateway's HTTP API, as the operator commands (`approvals`, `mcp`) call it: the
//! key from `--key-file` or `WARDEN_API_KEY` (never the command line), errors in the
//! gateway's words.

use anyhow::{Context, bail};
use serde_json::Value;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use warden_gateway::Overrides;

use crate::{ServerArgs, StoreArgs, settings};

pub struct Remote {
    base: String,
    key: String,
    client: reqwest::Client,
}

/// The gateway's root URL: `--url` or WARDEN_URL, else the listen address of the config (its
/// wildcard address read as loopback), else the default address.
fn gateway_url(server: &ServerArgs) -> anyhow::Result<String> {
    if let Some(url) = &server.url {
        return Ok(url.clone());
    }
    let args = StoreArgs {
        config: server.config.clone(),
        database_url: None,
    };
    let config = settings::load(&args, Overrides::default())?;
    let addr = config.listen;
    let host = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Ok(format!("http://{}", SocketAddr::new(host, addr.port())))
}

impl Remote {
    /// `role` names the key the command needs, for the error when none is given.
    pub fn new(server: &ServerArgs, role: &str) -> anyhow::Result<Remote> {
        let key = match &server.key_file {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .trim()
                .to_string(),
            None => std::env::var("WARDEN_API_KEY")
                .with_context(|| format!("set WARDEN_API_KEY or pass --key-file with an {role}'s key"))?,
        };
        Ok(Remote {
            base: gateway_url(server)?.trim_end_matches('/').to_string(),
            key,
            client: reqwest::Client::new(),
        })
    }

    /// Calls `path`; a non-2xx answer is an error carrying the gateway's message.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: String,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
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
}

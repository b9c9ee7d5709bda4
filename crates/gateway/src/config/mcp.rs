//! `[mcp]`: the MCP servers Warden governs, each served at `/mcp/{name}`: how Warden reaches
//! it (a streamable-HTTP URL, or a command it starts and supervises over stdio), the
//! credentials it keeps server-side, which keys see which of its tools, and the tiers its
//! tools start at.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use warden_policy::Risk;

use super::{ConfigError, Keyword, fold_tool_name, keyword, secret_from_env};
use crate::secret::Secret;

/// `[mcp]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMcp {
    pub servers: Option<Vec<RawMcpServer>>,
    /// A client session unused this long is forgotten (the client then starts a new one).
    pub session_idle_secs: Option<u64>,
    /// Sessions held at once, over all servers.
    pub max_sessions: Option<usize>,
    /// Sessions one key holds at once; opening one more forgets that key's least recently
    /// used session, so one client cannot crowd out the others.
    pub max_sessions_per_key: Option<usize>,
    /// What a tool description or server instruction addressed to the model does:
    /// `quarantine` (default: hidden until an admin approves it) or `flag` (recorded only).
    pub metadata_injection: Option<String>,
    /// What a tool result with text addressed to the model gets: `annotate` (default: a
    /// warning follows it), `withhold` (replaced by an error result) or `flag` (recorded only).
    pub result_injection: Option<String>,
    /// Largest JSON-RPC message accepted from a client.
    pub max_body_bytes: Option<usize>,
}

/// One `[[mcp.servers]]` table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMcpServer {
    pub name: Option<String>,
    /// A streamable-HTTP MCP endpoint.
    pub url: Option<String>,
    /// Or a local server: the program and its arguments, started and supervised by Warden.
    pub command: Option<Vec<String>>,
    /// Environment variables the command gets (its environment is otherwise cleared but for
    /// `PATH`, `HOME`, `LANG` and `TMPDIR`).
    pub env: Option<BTreeMap<String, String>>,
    /// The command's working directory.
    pub cwd: Option<PathBuf>,
    /// Headers sent to a URL server, each value read from the environment variable named:
    /// `{ Authorization = "FILES_MCP_TOKEN" }`. Clients never see them.
    pub headers_env: Option<BTreeMap<String, String>>,
    /// Time one upstream call may take.
    pub timeout_secs: Option<u64>,
    /// Base tier per tool; its arguments may raise it, never lower it.
    pub tiers: Option<BTreeMap<String, String>>,
    /// Tool name patterns (`*` matches any run of characters) shown to clients; default all.
    pub allow: Option<Vec<String>>,
    /// Tool name patterns never shown.
    pub deny: Option<Vec<String>>,
    /// Per role, the only tool patterns keys of that role see (a key sees the union over its
    /// roles that are listed; roles not listed see what `allow` shows).
    pub roles: Option<BTreeMap<String, Vec<String>>>,
    /// The tenants whose keys may use the server at all; default every tenant.
    pub tenants: Option<Vec<String>>,
}

/// What metadata addressed to the model does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataInjection {
    Quarantine,
    Flag,
}

impl Keyword for MetadataInjection {
    const WORDS: &'static [(&'static str, Self)] = &[("quarantine", Self::Quarantine), ("flag", Self::Flag)];
}

/// What a result addressed to the model gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultInjection {
    Annotate,
    Withhold,
    Flag,
}

impl Keyword for ResultInjection {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("annotate", Self::Annotate),
        ("withhold", Self::Withhold),
        ("flag", Self::Flag),
    ];
}

/// `[mcp]`, resolved.
#[derive(Debug, Clone)]
pub struct McpConfig {
    pub servers: Vec<McpServerConfig>,
    pub session_idle: Duration,
    pub max_sessions: usize,
    pub max_sessions_per_key: usize,
    pub metadata_injection: MetadataInjection,
    pub result_injection: ResultInjection,
    pub max_body_bytes: usize,
}

impl Default for McpConfig {
    fn default() -> Self {
        McpConfig {
            servers: Vec::new(),
            session_idle: Duration::from_secs(3600),
            max_sessions: 10_000,
            max_sessions_per_key: 64,
            metadata_injection: MetadataInjection::Quarantine,
            result_injection: ResultInjection::Annotate,
            max_body_bytes: 4 * 1024 * 1024,
        }
    }
}

/// How Warden reaches a server.
#[derive(Debug, Clone)]
pub enum McpTransport {
    Http {
        url: String,
        headers: Vec<(String, Secret)>,
    },
    Stdio {
        program: String,
        args: Vec<String>,
        env: BTreeMap<String, String>,
        cwd: Option<PathBuf>,
    },
}

/// One governed MCP server, resolved.
#[derive(Debug, Clone)]
pub struct McpServerConfig {
    pub name: String,
    pub transport: McpTransport,
    pub timeout: Duration,
    pub tiers: BTreeMap<String, Risk>,
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    pub roles: BTreeMap<String, Vec<String>>,
    pub tenants: Option<Vec<String>>,
}

/// Whether `pattern` (`*` matches any run of characters) matches all of `name`.
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let [first, middle @ .., last] = parts.as_slice() else {
        return pattern == name;
    };
    if parts.len() == 1 {
        return pattern == name;
    }
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// A server name as it appears in the path: lowercase letters, digits, `-` and `_`.
fn is_server_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

impl RawMcp {
    pub(super) fn resolve(self, env: &dyn Fn(&str) -> Option<String>) -> Result<McpConfig, ConfigError> {
        let invalid = |key: &'static str, message: String| ConfigError::Invalid { key, message };
        let defaults = McpConfig::default();
        let mut servers: Vec<McpServerConfig> = Vec::new();
        for raw in self.servers.unwrap_or_default() {
            let server = raw.resolve(env)?;
            if servers.iter().any(|s| s.name == server.name) {
                return Err(invalid(
                    "mcp.servers.name",
                    format!("{:?} names two servers", server.name),
                ));
            }
            servers.push(server);
        }
        let session_idle = match self.session_idle_secs {
            Some(0) => return Err(invalid("mcp.session_idle_secs", "must be at least 1".into())),
            Some(n) => Duration::from_secs(n),
            None => defaults.session_idle,
        };
        let max_sessions = match self.max_sessions {
            Some(0) => return Err(invalid("mcp.max_sessions", "must be at least 1".into())),
            Some(n) => n,
            None => defaults.max_sessions,
        };
        let max_sessions_per_key = match self.max_sessions_per_key {
            Some(0) => return Err(invalid("mcp.max_sessions_per_key", "must be at least 1".into())),
            Some(n) => n.min(max_sessions),
            None => defaults.max_sessions_per_key.min(max_sessions),
        };
        let max_body_bytes = match self.max_body_bytes {
            Some(n) if n < 1024 => return Err(invalid("mcp.max_body_bytes", "must be at least 1024".into())),
            Some(n) => n,
            None => defaults.max_body_bytes,
        };
        Ok(McpConfig {
            servers,
            session_idle,
            max_sessions,
            max_sessions_per_key,
            metadata_injection: keyword(
                "mcp.metadata_injection",
                self.metadata_injection.as_deref(),
                MetadataInjection::Quarantine,
            )?,
            result_injection: keyword(
                "mcp.result_injection",
                self.result_injection.as_deref(),
                ResultInjection::Annotate,
            )?,
            max_body_bytes,
        })
    }
}

impl RawMcpServer {
    fn resolve(self, env: &dyn Fn(&str) -> Option<String>) -> Result<McpServerConfig, ConfigError> {
        let invalid = |key: &'static str, message: String| ConfigError::Invalid { key, message };
        let name = self
            .name
            .ok_or_else(|| invalid("mcp.servers.name", "every server needs a name".into()))?;
        if !is_server_name(&name) {
            return Err(invalid(
                "mcp.servers.name",
                format!(
                    "{name:?} must be lowercase letters, digits, `-` or `_` (it is the path /mcp/{{name}})"
                ),
            ));
        }
        let transport = match (self.url, self.command) {
            (Some(url), None) => {
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(invalid(
                        "mcp.servers.url",
                        format!("{name}: {url:?} must start with http:// or https://"),
                    ));
                }
                if self.env.is_some() || self.cwd.is_some() {
                    return Err(invalid(
                        "mcp.servers.env",
                        format!("{name}: `env` and `cwd` are for a `command`, not a `url`"),
                    ));
                }
                let mut headers = Vec::new();
                for (header, var) in self.headers_env.unwrap_or_default() {
                    let valid = !header.is_empty()
                        && header
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                    if !valid {
                        return Err(invalid(
                            "mcp.servers.headers_env",
                            format!("{name}: {header:?} is not a header name"),
                        ));
                    }
                    headers.push((header, secret_from_env(env, "mcp.servers.headers_env", &var)?));
                }
                McpTransport::Http { url, headers }
            }
            (None, Some(command)) => {
                let Some((program, args)) = command.split_first() else {
                    return Err(invalid(
                        "mcp.servers.command",
                        format!("{name}: the command is empty"),
                    ));
                };
                if self.headers_env.is_some() {
                    return Err(invalid(
                        "mcp.servers.headers_env",
                        format!("{name}: `headers_env` is for a `url`; give a command its secrets in `env`"),
                    ));
                }
                McpTransport::Stdio {
                    program: program.clone(),
                    args: args.to_vec(),
                    env: self.env.unwrap_or_default(),
                    cwd: self.cwd,
                }
            }
            _ => {
                return Err(invalid(
                    "mcp.servers.url",
                    format!("{name}: give exactly one of `url` (streamable HTTP) or `command` (stdio)"),
                ));
            }
        };
        let timeout = match self.timeout_secs.unwrap_or(60) {
            0 => {
                return Err(invalid(
                    "mcp.servers.timeout_secs",
                    format!("{name}: must be at least 1"),
                ));
            }
            n => Duration::from_secs(n),
        };
        let mut tiers = BTreeMap::new();
        for (tool, tier) in self.tiers.unwrap_or_default() {
            let risk = Risk::parse(&tier).ok_or_else(|| {
                invalid(
                    "mcp.servers.tiers",
                    format!("{name}: {tool} = {tier:?} must be green, amber or red"),
                )
            })?;
            tiers.insert(fold_tool_name(&tool), risk);
        }
        let roles = self.roles.unwrap_or_default();
        for role in roles.keys() {
            if crate::auth::Role::parse(role).is_none() {
                return Err(invalid(
                    "mcp.servers.roles",
                    format!("{name}: {role:?} is not a role (requester, approver, auditor, admin)"),
                ));
            }
        }
        Ok(McpServerConfig {
            name,
            transport,
            timeout,
            tiers,
            allow: self.allow.unwrap_or_else(|| vec!["*".into()]),
            deny: self.deny.unwrap_or_default(),
            roles,
            tenants: self.tenants,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(text: &str) -> Result<McpConfig, ConfigError> {
        let raw: RawMcp = toml::from_str(text).expect("toml");
        raw.resolve(&|var| (var == "TOKEN").then(|| "s3cret".to_string()))
    }

    #[test]
    fn globs_match_whole_names() {
        assert!(glob_matches("read_*", "read_text_file"));
        assert!(glob_matches("*", "anything"));
        assert!(glob_matches("*_file", "write_file"));
        assert!(glob_matches("a*b*c", "axxbyyc"));
        assert!(!glob_matches("read_*", "xread_file"));
        assert!(!glob_matches("echo", "echo2"));
        assert!(!glob_matches("a*a", "a"));
    }

    #[test]
    fn servers_resolve_and_bad_ones_are_named() {
        let config = resolve(
            r#"
            [[servers]]
            name = "files"
            command = ["node", "server.js", "/srv"]
            tiers = { write_file = "amber" }
            [[servers]]
            name = "remote"
            url = "http://127.0.0.1:9/mcp"
            headers_env = { Authorization = "TOKEN" }
            "#,
        )
        .expect("valid");
        assert_eq!(config.servers.len(), 2);
        assert_eq!(config.servers[0].tiers.get("write_file"), Some(&Risk::Amber));
        let error = |text: &str| resolve(text).expect_err("invalid").to_string();
        assert!(error("[[servers]]\nname = \"x\"").contains("exactly one of"));
        assert!(error("[[servers]]\nname = \"X Y\"\nurl = \"http://a\"").contains("lowercase"));
        assert!(
            error("[[servers]]\nname = \"r\"\nurl = \"http://a\"\nheaders_env = { A = \"MISSING\" }")
                .contains("MISSING")
        );
        assert!(
            error(
                "[[servers]]\nname = \"a\"\nurl = \"http://a\"\n[[servers]]\nname = \"a\"\nurl = \"http://b\""
            )
            .contains("two servers")
        );
        assert!(error("[[servers]]\nname = \"a\"\ncommand = []").contains("empty"));
        assert!(
            error("[[servers]]\nname = \"a\"\nurl = \"http://a\"\nroles = { boss = [\"*\"] }")
                .contains("not a role")
        );
        assert!(toml::from_str::<RawMcp>("[[servers]]\nname = \"a\"\nurll = \"x\"").is_err());
        assert!(error("max_sessions_per_key = 0").contains("at least 1"));
        assert_eq!(
            resolve("max_sessions = 5").expect("valid").max_sessions_per_key,
            5
        );
    }
}

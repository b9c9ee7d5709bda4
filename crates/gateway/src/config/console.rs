//! `[console]`: the operators' web console served by `warden serve`: where it is mounted,
//! how long a sign-in lasts, when its cookie is marked `Secure`, and how often the trail's
//! search index catches up.

use std::time::Duration;

use serde::Deserialize;

use super::{ConfigError, Keyword, keyword};

/// `[console]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConsole {
    /// Serve the console (default true).
    pub enabled: Option<bool>,
    /// Where it is mounted (default `/console`).
    pub path: Option<String>,
    /// A session unused this long ends (default 1800 s).
    pub session_idle_secs: Option<u64>,
    /// A session ends this long after sign-in, used or not (default 43200 s, 12 h).
    pub session_max_secs: Option<u64>,
    /// `auto` (default: `Secure` when the request came over HTTPS, as `X-Forwarded-Proto`
    /// says behind a TLS-terminating proxy), `always` or `never`.
    pub secure_cookies: Option<String>,
    /// How often the trail's search index reads the records committed since (default 1000 ms).
    pub index_interval_ms: Option<u64>,
}

/// When the session cookie is marked `Secure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecureCookies {
    Auto,
    Always,
    Never,
}

impl Keyword for SecureCookies {
    const WORDS: &'static [(&'static str, Self)] = &[
        ("auto", Self::Auto),
        ("always", Self::Always),
        ("never", Self::Never),
    ];
}

/// The console, resolved.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    pub enabled: bool,
    /// Without a trailing slash, e.g. `/console`.
    pub path: String,
    pub session_idle: Duration,
    pub session_max: Duration,
    pub secure_cookies: SecureCookies,
    pub index_interval: Duration,
}

impl Default for ConsoleConfig {
    fn default() -> ConsoleConfig {
        ConsoleConfig {
            enabled: true,
            path: "/console".into(),
            session_idle: Duration::from_secs(1800),
            session_max: Duration::from_secs(43_200),
            secure_cookies: SecureCookies::Auto,
            index_interval: Duration::from_millis(1000),
        }
    }
}

/// Paths the console may not take: Warden's own routes live there.
const RESERVED_PREFIXES: [&str; 6] = ["/v1", "/tools", "/mcp", "/healthz", "/readyz", "/openapi.json"];

impl RawConsole {
    pub fn resolve(self) -> Result<ConsoleConfig, ConfigError> {
        let invalid = |key: &'static str, message: String| ConfigError::Invalid { key, message };
        let defaults = ConsoleConfig::default();
        let path = match self.path {
            None => defaults.path,
            Some(p) => {
                let trimmed = p.trim_end_matches('/').to_string();
                let valid = trimmed.starts_with('/')
                    && trimmed.len() > 1
                    && trimmed
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'));
                if !valid {
                    return Err(invalid(
                        "console.path",
                        format!(
                            "{p:?} must be an absolute path of letters, digits, `-`, `_`, `.` and `/`, such as \"/console\""
                        ),
                    ));
                }
                if RESERVED_PREFIXES
                    .iter()
                    .any(|r| trimmed == *r || trimmed.starts_with(&format!("{r}/")))
                {
                    return Err(invalid(
                        "console.path",
                        format!("{p:?} is under one of Warden's own routes"),
                    ));
                }
                trimmed
            }
        };
        let secs = |key: &'static str, value: Option<u64>, default: Duration, min: u64| match value {
            None => Ok(default),
            Some(n) if n < min => Err(invalid(key, format!("{n} is less than {min}"))),
            Some(n) => Ok(Duration::from_secs(n)),
        };
        let session_idle = secs(
            "console.session_idle_secs",
            self.session_idle_secs,
            defaults.session_idle,
            60,
        )?;
        let session_max = secs(
            "console.session_max_secs",
            self.session_max_secs,
            defaults.session_max,
            60,
        )?;
        if session_idle > session_max {
            return Err(invalid(
                "console.session_idle_secs",
                "is longer than console.session_max_secs".into(),
            ));
        }
        let index_interval = match self.index_interval_ms {
            None => defaults.index_interval,
            Some(n) if !(50..=60_000).contains(&n) => {
                return Err(invalid(
                    "console.index_interval_ms",
                    format!("{n} is not between 50 and 60000"),
                ));
            }
            Some(n) => Duration::from_millis(n),
        };
        Ok(ConsoleConfig {
            enabled: self.enabled.unwrap_or(true),
            path,
            session_idle,
            session_max,
            secure_cookies: keyword(
                "console.secure_cookies",
                self.secure_cookies.as_deref(),
                SecureCookies::Auto,
            )?,
            index_interval,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(toml_text: &str) -> Result<ConsoleConfig, ConfigError> {
        toml::from_str::<RawConsole>(toml_text).unwrap().resolve()
    }

    #[test]
    fn defaults_and_refusals() {
        let c = resolve("").unwrap();
        assert_eq!((c.enabled, c.path.as_str()), (true, "/console"));
        assert_eq!(resolve("path = \"/ops/\"").unwrap().path, "/ops");
        for bad in [
            "path = \"console\"",
            "path = \"/v1/console\"",
            "path = \"/\"",
            "path = \"/a b\"",
        ] {
            assert!(resolve(bad).is_err(), "{bad}");
        }
        assert!(resolve("session_idle_secs = 10").is_err());
        assert!(resolve("session_idle_secs = 7200\nsession_max_secs = 3600").is_err());
        assert!(resolve("secure_cookies = \"sometimes\"").is_err());
        assert_eq!(
            resolve("secure_cookies = \"always\"").unwrap().secure_cookies,
            SecureCookies::Always
        );
    }
}

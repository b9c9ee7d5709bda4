//! Secrets by their formats, modelled on the gitleaks rule set: cloud and SaaS keys, private
//! keys, JWTs, credential assignments, and long high-entropy tokens.

use super::{Pattern, Validator};

pub(crate) fn patterns() -> Vec<Pattern> {
    let p = |detector, regex, validate| Pattern {
        detector,
        regex,
        validate,
    };
    vec![
        p(
            "aws_access_key",
            r"(?-u:\b)(AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}(?-u:\b)",
            None,
        ),
        p(
            "private_key",
            r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY( BLOCK)?-----(?s:.){0,16384}?-----END[ A-Z0-9_-]{0,100}PRIVATE KEY( BLOCK)?-----",
            None,
        ),
        p(
            "private_key",
            r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY( BLOCK)?-----",
            None,
        ),
        p(
            "jwt",
            r"(?-u:\b)eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
            None,
        ),
        p(
            "github_token",
            r"(?-u:\b)(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{50,})(?-u:\b)",
            None,
        ),
        p("slack_token", r"(?-u:\b)xox[baprs]-[A-Za-z0-9-]{10,}", None),
        p(
            "stripe_key",
            r"(?-u:\b)(sk|rk)_(live|test)_[A-Za-z0-9]{16,}",
            None,
        ),
        p("google_api_key", r"(?-u:\b)AIza[0-9A-Za-z_-]{35}", None),
        p(
            "openai_key",
            r"(?-u:\b)sk-(proj-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}|(?-u:\b)sk-proj-[A-Za-z0-9_-]{40,}",
            None,
        ),
        p(
            "url_credentials",
            r"(?i)(?-u:\b)[a-z][a-z0-9+.-]{1,20}://[^\s:/@]+:[^\s@/]{3,}@[^\s/]+",
            Some(url_password_not_placeholder),
        ),
        p("warden_key", r"(?-u:\b)wdn_[0-9a-f]{16}_[A-Za-z0-9_-]{40,}", None),
        // `password = hunter2`, `api_key: "..."`, `secret=...` with a non-trivial value.
        p(
            "credential_assignment",
            r#"(?i)(?-u:\b)(password|passwd|pwd|secret|api[_-]?key|access[_-]?key|auth[_-]?token|client[_-]?secret|token)\s*[:=]\s*["']?[^\s"']{6,}"#,
            Some(not_placeholder),
        ),
    ]
}

pub(crate) fn long_tokens() -> Vec<(&'static str, Validator)> {
    vec![("high_entropy_token", high_entropy)]
}

/// `postgres://user:password@host`, unless the password is a placeholder.
fn url_password_not_placeholder(url: &str) -> bool {
    let after_scheme = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let password = after_scheme.split_once(':').map(|(_, r)| r).unwrap_or("");
    let password = password.rsplit_once('@').map(|(p, _)| p).unwrap_or(password);
    not_placeholder(&format!("x={password}"))
}

/// `password=<your password>` or `token: xxxxxx` is documentation, not a secret.
fn not_placeholder(assignment: &str) -> bool {
    let value = assignment
        .split([':', '='])
        .nth(1)
        .unwrap_or("")
        .trim()
        .trim_matches(|c| c == '"' || c == '\'');
    let lower = value.to_ascii_lowercase();
    !(lower.starts_with('<')
        || lower.starts_with('$')
        || lower.starts_with("{{")
        || lower.chars().all(|c| c == 'x' || c == '*' || c == '.')
        || [
            "changeme",
            "example",
            "placeholder",
            "redacted",
            "your_",
            "yourpassword",
        ]
        .iter()
        .any(|p| lower.contains(p)))
}

/// A token that mixes letters and digits with more than 4 bits of entropy per character:
/// keys and secrets, but not hex digests (at most 4 bits), words or UUIDs.
fn high_entropy(token: &str) -> bool {
    if token.len() < 32 {
        return false;
    }
    let has_upper = token.bytes().any(|b| b.is_ascii_uppercase());
    let has_lower = token.bytes().any(|b| b.is_ascii_lowercase());
    let has_digit = token.bytes().any(|b| b.is_ascii_digit());
    if !(has_upper && has_lower && has_digit) {
        return false;
    }
    shannon_entropy(token) > 4.2
}

pub(crate) fn shannon_entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use crate::detectors::detect;

    #[test]
    fn finds_secret_formats() {
        for (text, detector) in [
            ("key AKIAIOSFODNN7EXAMPLE here", "aws_access_key"),
            ("-----BEGIN RSA PRIVATE KEY-----\nMIIE", "private_key"),
            ("-----BEGIN OPENSSH PRIVATE KEY-----", "private_key"),
            (
                "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
                "jwt",
            ),
            ("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", "github_token"),
            ("xoxb-2748393020-aBcDeFgHiJkLmNoP", "slack_token"),
            ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe_key"),
            ("AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe", "google_api_key"),
            ("db password = Tr0ub4dor&3x", "credential_assignment"),
            ("token: 9f8e7d6c5b4a", "credential_assignment"),
            (
                "connect with postgres://admin:S3cr3t!2024@db.internal:5432/prod",
                "url_credentials",
            ),
            (
                "use wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY for the bucket",
                "high_entropy_token",
            ),
        ] {
            assert!(detect(text).contains(&detector), "{text}: {:?}", detect(text));
        }
    }

    #[test]
    fn ordinary_strings_are_not_secrets() {
        for text in [
            "commit 3f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a3f",
            "id 123e4567-e89b-12d3-a456-426614174000",
            "set password = <your password>",
            "postgres://user:<password>@localhost/db",
            "internationalization-and-localization-guidelines",
            "the token ring network",
        ] {
            let found = detect(text);
            assert!(
                !found
                    .iter()
                    .any(|d| *d != "money_amount" && *d != "crypto_address"),
                "{text}: {found:?}"
            );
        }
    }
}

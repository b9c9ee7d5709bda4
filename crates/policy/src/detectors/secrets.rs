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
            r"(?i)(?-u:\b)[a-z][a-z0-9+.-]{1,20}://[^\s:/@]*:[^\s@/]{3,}@[^\s/]+",
            Some(url_password_not_placeholder),
        ),
        p("warden_key", r"(?-u:\b)wdn_[0-9a-f]{16}_[A-Za-z0-9_-]{40,}", None),
    ]
}

/// A cheap test of the name in front of a separator and of the text from the separator on.
pub(crate) type NameTest = fn(name: &[u8], rest: &[u8]) -> bool;

/// Where a gated pattern is tried, anchored.
pub(crate) enum Trigger {
    /// At the name in front of each `:`, `=`, `(` and `--` of the text: `name = value`.
    Separator,
    /// As `Separator`, only where the name and what follows the separator pass a cheap test:
    /// most separators of a text are no such name, and an anchored attempt is not free.
    NamedSeparator(NameTest),
    /// Where one of these words occurs (as written: give each casing that matters).
    Words(&'static [&'static str]),
    /// At the `<` that opens the element a `</` closes: `<password>value</password>`. Found
    /// with `memmem` rather than by more gate literals, which would cost the gate its SIMD search.
    Element,
}

/// Patterns tried only where they can start: a secret's name before a separator, a vendor's
/// prefix, a password said in words. Most texts hold none, and the patterns are costly to run
/// over a whole text.
pub(crate) fn gated_patterns() -> Vec<(Pattern, Trigger)> {
    let p = |detector, regex, validate| Pattern {
        detector,
        regex,
        validate,
    };
    vec![
        // Vendors' token formats with a fixed prefix (gitleaks' rule set, the long tail).
        (
            p(
                "service_token",
                concat!(
                    r"(?-u:\b)(glpat-[A-Za-z0-9_-]{20,}|gl(dt|rt|ptt|ft|soat|cbt)-[A-Za-z0-9_-]{20,}",
                    r"|do[por]_v1_[a-f0-9]{64}|key-[a-f0-9]{32}|NRAK-[A-Z0-9]{27}|NRJS-[a-f0-9]{19}",
                    r"|PMAK-[a-f0-9]{24}-[a-f0-9]{34}|shp(at|ss|ca|pa)_[a-fA-F0-9]{32}|dapi[a-f0-9]{32}",
                    r"|SK[0-9a-f]{32}|SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}|sk-ant-[a-z]{3,5}\d\d-[A-Za-z0-9_-]{80,}",
                    r"|hf_[A-Za-z0-9]{34}|npm_[A-Za-z0-9]{36}|pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}",
                    r"|hvs\.[A-Za-z0-9_-]{24,}|glsa_[A-Za-z0-9]{32}_[a-f0-9]{8}|glc_[A-Za-z0-9+/]{32,}",
                    r"|lin_api_[A-Za-z0-9]{40}|EAAA[A-Za-z0-9_-]{60}|sq0(atp|csp)-[A-Za-z0-9_-]{22,43}",
                    r"|AGE-SECRET-KEY-1[0-9A-Z]{58}|xapp-\d-[A-Z0-9]+-\d+-[a-f0-9]{32,}",
                    r"|\d{8,10}:AA[A-Za-z0-9_-]{33})",
                    r"|hooks\.slack\.com/(services|workflows)/T[A-Z0-9]+/[AB][A-Z0-9]+/[A-Za-z0-9]{20,}",
                    r"|discord(app)?\.com/api/webhooks/\d+/[A-Za-z0-9_-]{40,}",
                    r"|AccountKey=[A-Za-z0-9+/]{40,}={0,2}",
                ),
                None,
            ),
            Trigger::Words(&[
                "glpat-",
                "gldt-",
                "glrt-",
                "glptt-",
                "glft-",
                "glsoat-",
                "glcbt-",
                "_v1_",
                "key-",
                "NRAK-",
                "NRJS-",
                "PMAK-",
                "shpat_",
                "shpss_",
                "shpca_",
                "shppa_",
                "dapi",
                "SG.",
                "sk-ant-",
                "hf_",
                "npm_",
                "pypi-",
                "hvs.",
                "glsa_",
                "glc_",
                "lin_api_",
                "EAAA",
                "sq0atp-",
                "sq0csp-",
                "AGE-SECRET-KEY-",
                "xapp-",
                ":AA",
                "hooks.slack.com",
                "discord.com/api",
                "discordapp.com/api",
                "AccountKey=",
            ]),
        ),
        // `password = hunter2`, `"dbPassword": "..."`, `FOO_API_KEY: ...`: a secret's name given
        // a value. The span is the value alone, so its name stays readable.
        (
            p(
                "credential_assignment",
                r#"(?i)["']?[A-Za-z0-9_.-]*?(password|passwd|passphrase|pwd|pass|psk|secret|api[_-]?key|apikey|access[_-]?key|auth[_-]?token|client[_-]?secret|token|private[_-]?key|credentials?|key|salt|license|licence|dsn)[A-Za-z0-9_.-]*["']?[ \t]*(:=|=>|=|:)[ \t]*["']?[^\s"',;)]{4,}"#,
                Some(assignment_is_secret),
            ),
            Trigger::Separator,
        ),
        // Markup that names a secret in one attribute and gives it in the next:
        // `<add key="SmtpPassword" value="..."/>`, `<meta name="api-token" content="...">`.
        (
            p(
                "credential_assignment",
                r#"(?i)(key|name|id|property)\s*=\s*["'][^"']*(password|passwd|secret|token|api[_-]?key|apikey|pwd|connectionstring)[^"']*["']\s+(value|content)\s*=\s*["'][^"']{6,}["']"#,
                Some(markup_is_secret),
            ),
            Trigger::Separator,
        ),
        // Passwords given by position: `new PDO($dsn, 'user', '...')`, `htpasswd -b file user
        // ...`, `sshpass -p ...`, `docker login -p ...`, `redis-cli -a ...`, `mysql -p...`.
        (
            p(
                "credential_assignment",
                concat!(
                    r#"(new\s+PDO|mysqli_connect|mysql_connect|new\s+mysqli)\s*\([^)]*?,\s*["'][^"']*["']\s*,\s*["'][^"']{4,}["']"#,
                    r#"|htpasswd\s+(-[a-zA-Z]+\s+)*\S+\s+\S+\s+\S{4,}"#,
                    r#"|(sshpass|login)\s[^\n|;&]*?-p\s*["']?[^\s"'-][^\s"']{3,}"#,
                    r#"|redis-cli\s[^\n|;&]*?-a\s+["']?[^\s"'-][^\s"']{3,}"#,
                    r#"|(mysql|mysqldump|mariadb)\s[^\n|;&]*?\s-p["']?[^\s"'-][^\s"']{3,}"#,
                ),
                Some(positional_is_secret),
            ),
            Trigger::Words(&[
                "new PDO",
                "new mysqli",
                "mysqli_connect",
                "mysql_connect",
                "htpasswd",
                "sshpass",
                "login",
                "redis-cli",
                "mysql",
                "mariadb",
            ]),
        ),
        // A secret's name and its value as two fields of one entry: Kubernetes' `- name:
        // DD_API_KEY` then `value: "…"`, an ECS task's `{"name": "DB_PASSWORD", "value": "…"}`.
        (
            p(
                "credential_assignment",
                concat!(
                    r#"(?i)["']?name["']?[ \t]*:[ \t]*["']?[A-Za-z0-9_.-]*(password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?)[A-Za-z0-9_.-]*["']?"#,
                    r#"[ \t]*,?[ \t]*\r?\n?[ \t]*["']?value["']?[ \t]*:[ \t]*["']?[^\s"',}]{6,}"#,
                ),
                Some(field_value_is_secret),
            ),
            Trigger::NamedSeparator(|name, _| name.eq_ignore_ascii_case(b"name")),
        ),
        // HTTP basic authentication given by position: requests' `auth=("user", "…")`,
        // `HTTPBasicAuth('user', '…')`.
        (
            p(
                "credential_assignment",
                r#"(auth|HTTPBasicAuth|HTTPDigestAuth|BasicAuth)[ \t]*(=[ \t]*)?\([ \t]*["'][^"'\n]{1,64}["'][ \t]*,[ \t]*["'][^"'\n]{6,}["']"#,
                Some(positional_is_secret),
            ),
            Trigger::NamedSeparator(|name, _| {
                name.len() >= 4 && name[name.len() - 4..].eq_ignore_ascii_case(b"auth")
            }),
        ),
        // PHP's `define('DB_PASSWORD', '...')`.
        (
            p(
                "credential_assignment",
                r#"(?i)define\(\s*["'][A-Z0-9_]*(PASSWORD|PASSWD|SECRET|KEY|TOKEN|SALT)[A-Z0-9_]*["']\s*,\s*["'][^"']{4,}["']"#,
                Some(define_is_secret),
            ),
            Trigger::NamedSeparator(|name, _| name.eq_ignore_ascii_case(b"define")),
        ),
        // Command-line flags: `--password=...`, `--token ...`, MySQL's `-p'...'`.
        (
            p(
                "credential_assignment",
                r#"(?i)--(password|passwd|pass|token|api-key|apikey|secret|client-secret|auth-token)[= ]["']?[^\s"'-][^\s"']{3,}"#,
                Some(flag_is_secret),
            ),
            Trigger::Separator,
        ),
        // `Authorization: Bearer ...`, `Basic ...`.
        (
            p(
                "credential_assignment",
                r#"(?i)authorization["']?\s*[:=]\s*["']?(bearer|basic|token|digest)\s+[A-Za-z0-9._~+/=-]{12,}"#,
                Some(header_is_secret),
            ),
            Trigger::Separator,
        ),
        // A secret named, then given a few words on as a long hex or base64 value, with no `=`
        // between: `auth token 4d4f7127ab1b...`, `HMAC signing secret for the webhook: 2c59...`.
        (
            p(
                "credential_assignment",
                r"(?i)(secret|token|api[ _-]?key|access[ _-]?key|signing[ _-]?key|private[ _-]?key|hmac[ _-]?key|client[ _-]?secret|password)(?:[ \t]+[A-Za-z-]{1,12}){0,4}[ \t]*[:=]?[ \t]+([0-9a-fA-F]{32,}|[A-Za-z0-9+/_-]{32,}={0,2})(?-u:\b)",
                Some(named_value_is_secret),
            ),
            Trigger::Words(&[
                "secret", "Secret", "SECRET", "token", "Token", "TOKEN", "key", "Key", "KEY", "password",
                "Password",
            ]),
        ),
        // A secret as an element's text: `<password>...</password>`, `<apiKey>...</apiKey>`.
        (
            p(
                "credential_assignment",
                r#"(?i)<(password|passwd|pwd|secret|client[_-]?secret|api[_-]?key|apikey|token|access[_-]?token|auth[_-]?token|private[_-]?key)>[ \t]*[^<\s]{4,}[ \t]*</"#,
                Some(element_is_secret),
            ),
            Trigger::Element,
        ),
        // Twilio's account SID given with its auth token, as its SDKs take them:
        // `twilio('AC…', '…')`. The SID alone names an account; the token beside it is the secret.
        (
            p(
                "service_token",
                r#"[A-Za-z0-9_.]*\([ \t]*["']AC[0-9a-f]{32}["'][ \t]*,[ \t]*["'][0-9a-f]{32}["']"#,
                None,
            ),
            Trigger::NamedSeparator(|_, rest| {
                rest.first() == Some(&b'(')
                    && rest[1..]
                        .iter()
                        .find(|b| !matches!(b, b' ' | b'\t'))
                        .is_some_and(|b| matches!(b, b'"' | b'\''))
            }),
        ),
        // Said in a sentence: `the wifi password is Tr0ub4dor&3`, in the languages people write.
        (
            p(
                "credential_assignment",
                concat!(
                    r"(?i)(password|passwd|passcode|passphrase|pwd|creds|credentials|mot de passe|(?-u:\b)mdp|passwort|kennwort|contrase\xC3\xB1a|senha|palavra-passe|wachtwoord",
                    r"|\xE3\x83\x91\xE3\x82\xB9\xE3\x83\xAF\xE3\x83\xBC\xE3\x83\x89|\xE5\xAF\x86\xE7\xA0\x81)",
                    r"[ \t]+(?:[^\n.!?]*?[ \t])??(is|are|was|were|est|sont|c'est|c\xE2\x80\x99est|ist|sind|lautet|lauten|es|son|\xC3\xA9|s\xC3\xA3o|\xC3\xA8|sono|zijn|set to|changed to|reset to)[ \t]*:?[ \t]+",
                    // A few words may come first (`is sinds vanochtend …`, `is as of today …`):
                    // the value must still look like a password, which words do not.
                    r"(?:[a-z\x80-\xFF]{1,28}[ \t]+){0,3}(?:/[ \t]*)?[:]?[ \t]*[^\s]{6,}",
                    r"|(?-u:\b)(password|passwd|pwd|passwort|kennwort|senha|contrase\xC3\xB1a|mot de passe|mdp|palavra-passe|wachtwoord)(?:[ \t]*[:\xEF\xBC\x9A][ \t]*|[ \t]+)[^\s:=]{6,}",
                    r"|(\xE3\x83\x91\xE3\x82\xB9\xE3\x83\xAF\xE3\x83\xBC\xE3\x83\x89|\xE5\xAF\x86\xE7\xA0\x81)(?:[ \t]*(\xE3\x81\xAF|\xE6\x98\xAF|:|\xEF\xBC\x9A)[ \t]*|[ \t]+)[^\s]{6,}",
                ),
                Some(said_is_secret),
            ),
            Trigger::Words(&[
                "password",
                "Password",
                "PASSWORD",
                // Capitals are given only for the words written so in prose (`PASSWORD:`
                // lines are found at their separator): each literal costs the gate.
                "creds",
                "credentials",
                "Credentials",
                "passwd",
                "Passwd",
                "passcode",
                "Passcode",
                "passphrase",
                "Passphrase",
                "pwd",
                "mot de passe",
                "Mot de passe",
                "mdp",
                "palavra-passe",
                "passwort",
                "Passwort",
                "kennwort",
                "Kennwort",
                "contraseña",
                "Contraseña",
                "senha",
                "Senha",
                "wachtwoord",
                "Wachtwoord",
                "パスワード",
                "密码",
            ]),
        ),
    ]
}

/// Microsoft Entra ID (Azure AD) client secrets: three characters, a digit, `Q~`, then 31 to 34
/// more, `.` and `~` included, which the long-token runs stop at.
pub(crate) fn azure_client_secrets(text: &str, out: &mut Vec<(usize, usize)>) {
    let bytes = text.as_bytes();
    let in_secret = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'~' | b'.' | b'-');
    for at in memchr::memmem::find_iter(bytes, b"Q~") {
        if at < 4 || !bytes[at - 1].is_ascii_digit() {
            continue;
        }
        let start = at - 4;
        if !bytes[start..at].iter().all(|&b| in_secret(b))
            || (start > 0 && bytes[start - 1].is_ascii_alphanumeric())
        {
            continue;
        }
        let tail = bytes[at + 2..].iter().take_while(|&&b| in_secret(b)).count();
        // A sentence's full stop may follow the secret.
        let tail = if tail > 0 && bytes[at + 1 + tail] == b'.' {
            tail - 1
        } else {
            tail
        };
        if (31..=34).contains(&tail) {
            out.push((start, at + 2 + tail));
        }
    }
}

pub(crate) fn long_tokens() -> Vec<(&'static str, Validator)> {
    vec![("high_entropy_token", high_entropy)]
}

/// The value of `name = value` (after the first `:`, `=`, `:=` or `=>`), unquoted.
fn assigned_value(assignment: &str) -> (&str, &str) {
    let at = assignment.find([':', '=']).unwrap_or(assignment.len());
    let name = &assignment[..at];
    let value = assignment[at..].trim_start_matches([':', '=', '>']).trim();
    (name, value.trim_matches(|c| c == '"' || c == '\''))
}

/// Words that are never a secret's value: types, flags, references to where the secret lives.
fn is_not_a_value(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    let references = [
        "process.env",
        "os.environ",
        "os.getenv",
        "getenv(",
        "env(",
        "env.",
        "secretkeyref",
        "valuefrom",
        "vault:",
        "!vault",
        "ref+",
        "arn:aws:secretsmanager",
        "secrets.",
        "var.",
        "data.",
        "file:",
        "/run/secrets",
        "keyring",
        "getsecretvalue",
        "get_secret_value",
        "secretsmanager",
        "secretclient",
        "keyvault",
    ];
    let words = [
        "true",
        "false",
        "null",
        "none",
        "nil",
        "undefined",
        "required",
        "optional",
        "string",
        "str",
        "bool",
        "boolean",
        "int",
        "integer",
        "number",
        "password",
        "secret",
        "token",
        "hidden",
        "masked",
        "omitted",
        "redacted",
        "string;",
        "self",
        "this",
        "input",
        "prompt",
        "default",
        "empty",
        "unset",
        // Keywords that open an expression: the value is computed, not written (`token =
        // await client.getSecretValue(...)`).
        "await",
        "new",
        "yield",
        "async",
        "typeof",
    ];
    // A call that reads the secret from elsewhere, wherever it stands in the value:
    // `System.getenv(`, `os.environ.get(`, `std::env::var(`.
    // A variable that holds the secret, named after it: `password=db_password`,
    // `token=self.auth_token`.
    let names_its_variable = lower
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'.')
        && (lower.contains('_') || lower.contains('.'))
        && [
            "password", "passwd", "secret", "token", "api_key", "apikey", "pwd",
        ]
        .iter()
        .any(|w| lower.contains(w));
    // A path of names in a secret store: `secret/data/prod/db:password`.
    let store_path = value.matches('/').count() >= 2
        && value.split('/').all(|segment| {
            !segment.is_empty()
                && segment.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.' | ':')
                })
        });
    let reads_elsewhere = [
        "getenv(",
        "environ[",
        "environ.get(",
        "process.env",
        "getproperty(",
        "env::var(",
    ]
    .iter()
    .any(|r| lower.contains(r));
    references.iter().any(|r| lower.starts_with(r))
        || reads_elsewhere
        || names_its_variable
        || store_path
        || words.contains(&lower.trim_end_matches([',', ';', ')']))
        || lower.starts_with('/')
        || lower.starts_with("./")
        || lower.starts_with("~/")
        || lower.starts_with('[')
        || lower.starts_with('(')
        || lower.starts_with('@')
        || lower.ends_with("()")
}

/// `name: value` names a secret and gives it a real value: not a placeholder, a reference, a
/// number limit (`max_tokens: 4096`, `PASSWORD_MIN_LENGTH=12`) or a word that only contains a
/// secret's name (`tokenizer`, `secretary`).
fn assignment_is_secret(assignment: &str) -> bool {
    let (name, value) = assigned_value(assignment);
    if !names_a_secret(name) || is_not_a_value(value) || placeholder_value(value) {
        return false;
    }
    let lower_name = name.to_ascii_lowercase();
    let limit = [
        "min", "max", "length", "len", "count", "limit", "size", "ttl", "timeout", "expir", "rotation",
        "days", "age", "budget", "window", "type", "url", "file", "path", "name", "id", "header", "field",
        "policy", "endpoint", "uri",
        // Where a secret is kept, not the secret: Helm's `existingSecretPasswordKey: password`,
        // Kubernetes' `secretKeyRef`.
        "existing", "ref", "selector", "mount", "source",
    ]
    .iter()
    .any(|w| lower_name.contains(w));
    if limit
        && (value.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            || !value.bytes().any(|b| b.is_ascii_digit()))
    {
        return false;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) && value.len() < 6 {
        return false;
    }
    // `key`, `pass`, `license`... name secrets less surely than `password` does: their value
    // must look random.
    if !names_a_secret_surely(name) {
        return looks_random(value);
    }
    value.len() >= 5
}

fn names_a_secret_surely(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "passphrase",
        "secret",
        "apikey",
        "api_key",
        "api-key",
        "token",
        "private_key",
        "privatekey",
        "credential",
        "access_key",
        "accesskey",
        "pwd",
    ]
    .iter()
    .any(|k| lower.contains(k))
}

/// At least 12 characters mixing letters and digits, or 16 of base64 or hex.
fn looks_random(value: &str) -> bool {
    let letters = value.bytes().filter(u8::is_ascii_alphabetic).count();
    let digits = value.bytes().filter(u8::is_ascii_digit).count();
    value.len() >= 12 && letters >= 2 && digits >= 2 && shannon_entropy(value) > 3.0
}

/// Whether an identifier names a secret, and not a longer word that contains one
/// (`tokenizer`, `secretary`, `pwdgen`); `dbPassword`, `FOO_API_KEY`, `secrets` do.
fn names_a_secret(name: &str) -> bool {
    let name = name.trim().trim_matches(|c| c == '"' || c == '\'');
    let lower = name.to_ascii_lowercase();
    for keyword in [
        "password",
        "passwd",
        "passphrase",
        "pwd",
        "pass",
        "psk",
        "secret",
        "apikey",
        "api_key",
        "api-key",
        "accesskey",
        "access_key",
        "access-key",
        "auth_token",
        "authtoken",
        "auth-token",
        "client_secret",
        "clientsecret",
        "token",
        "private_key",
        "privatekey",
        "credential",
        "key",
        "salt",
        "license",
        "licence",
        "dsn",
    ] {
        let mut from = 0;
        while let Some(at) = lower[from..].find(keyword) {
            let start = from + at;
            let end = start + keyword.len();
            let next = name[end..].chars().next();
            let ends_word = match next {
                None => true,
                Some(c) => {
                    !c.is_ascii_lowercase()
                        || (c == 's'
                            && name[end + 1..]
                                .chars()
                                .next()
                                .is_none_or(|d| !d.is_ascii_lowercase()))
                }
            };
            if ends_word {
                return true;
            }
            from = end;
        }
    }
    false
}

fn markup_is_secret(text: &str) -> bool {
    let value = text.rsplit(['"', '\'']).nth(1).unwrap_or_default();
    !is_not_a_value(value) && !placeholder_value(value) && value.len() >= 6
}

/// The value of a `name:`/`value:` pair, unless it is a placeholder or a reference.
fn field_value_is_secret(text: &str) -> bool {
    let value = text
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .trim()
        .trim_matches(|c| c == '"' || c == '\'');
    value.len() >= 6 && !is_not_a_value(value) && !placeholder_value(value)
}

fn positional_is_secret(text: &str) -> bool {
    let value = text
        .trim_end_matches(['"', '\'', ')', ';'])
        .rsplit(|c: char| c.is_whitespace() || c == '\'' || c == '"')
        .next()
        .unwrap_or_default();
    let value = value.strip_prefix("-p").unwrap_or(value);
    value.len() >= 4 && !is_not_a_value(value) && !placeholder_value(value)
}

fn define_is_secret(text: &str) -> bool {
    let value = text
        .rsplit([','])
        .next()
        .unwrap_or_default()
        .trim()
        .trim_end_matches(')')
        .trim()
        .trim_matches(|c| c == '"' || c == '\'');
    !is_not_a_value(value) && !placeholder_value(value) && value.len() >= 4
}

fn flag_is_secret(text: &str) -> bool {
    let value = text
        .split_once(['=', ' '])
        .map(|(_, v)| v)
        .or_else(|| text.strip_prefix("-p"))
        .unwrap_or_default()
        .trim()
        .trim_matches(|c| c == '"' || c == '\'');
    !is_not_a_value(value) && !placeholder_value(value) && value.len() >= 4
}

fn header_is_secret(text: &str) -> bool {
    let value = text.split_whitespace().last().unwrap_or_default();
    !placeholder_value(value) && !is_not_a_value(value)
}

/// `the password is X`: X must look like a password (letters with a digit or a symbol), not a
/// word (`the password is required`, `the password is wrong`).
fn said_is_secret(text: &str) -> bool {
    let value = text
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .trim_end_matches(['.', ',', ';', ')', '"', '\'']);
    let value = value.trim_start_matches(['"', '\'', ':']);
    // `Passwort:Wq4%...`: the name and its colon are no part of the value.
    let value = match value.split_once([':', '：']) {
        Some((name, rest)) if name.chars().all(char::is_alphabetic) => rest,
        _ => value,
    };
    // In Chinese or Japanese the words after `パスワードは` run on without a space: the value
    // ends where they start (`密码是wn5U+zwf20!1R2，请…`; `パスワードは12文字以上に…` gives none).
    let value = value
        .split(|c: char| matches!(c, '\u{3000}'..='\u{30ff}' | '\u{3400}'..='\u{9fff}' | '\u{ff00}'..='\u{ffef}'))
        .find(|part| !part.is_empty())
        .unwrap_or_default();
    let has_letter = value.chars().any(char::is_alphabetic);
    let has_digit = value.chars().any(|c| c.is_ascii_digit());
    let mixed_case =
        value.chars().any(|c| c.is_ascii_uppercase()) && value.chars().any(|c| c.is_ascii_lowercase());
    let has_symbol = value.chars().any(|c| c.is_ascii_punctuation());
    value.chars().count() >= 6
        && has_letter
        && (has_digit || (has_symbol && mixed_case))
        && !is_not_a_value(value)
        && !placeholder_value(value)
}

/// `<password>value</password>`, unless the value is a placeholder or a reference.
fn element_is_secret(text: &str) -> bool {
    let value = text
        .split_once('>')
        .map_or("", |(_, rest)| rest)
        .split('<')
        .next()
        .unwrap_or_default()
        .trim();
    !placeholder_value(value) && !is_not_a_value(value)
}

/// A long value after a secret's name a few words before it: a secret unless the words say it
/// is a digest (`token sha256 9f86...`, `key fingerprint ...`) or the value is a placeholder.
fn named_value_is_secret(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let value = text.split_whitespace().last().unwrap_or_default();
    let digest = [
        "sha",
        "md5",
        "hash",
        "digest",
        "checksum",
        "fingerprint",
        "commit",
        "integrity",
        "public",
    ]
    .iter()
    .any(|w| lower.contains(w));
    !digest
        && !placeholder_value(value)
        && !is_not_a_value(value)
        && value.chars().any(|c| c.is_ascii_digit())
}

/// `postgres://user:password@host`, unless the password is a placeholder.
fn url_password_not_placeholder(url: &str) -> bool {
    let after_scheme = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let password = after_scheme.split_once(':').map(|(_, r)| r).unwrap_or("");
    let password = password.rsplit_once('@').map(|(p, _)| p).unwrap_or(password);
    // `postgres://USER:PASSWORD@HOST/DB`: the password's name in its place.
    let named_not_given = ["password", "pass", "passwd", "pwd", "secret", "token"]
        .iter()
        .any(|n| password.eq_ignore_ascii_case(n));
    !placeholder_value(password) && !named_not_given
}

/// `<your password>`, `xxxxxx`, `${DB_PASSWORD}` stand for a secret: documentation, not one.
fn placeholder_value(value: &str) -> bool {
    let value = value.trim().trim_matches(|c| c == '"' || c == '\'');
    let lower = value.to_ascii_lowercase();
    // The name of a field for the secret, not the secret (`passwordKey: password`).
    matches!(
        lower.as_str(),
        "password" | "passwd" | "secret" | "token" | "key" | "apikey" | "api_key" | "api-key"
    ) || lower.starts_with('<')
        || lower.starts_with('$')
        || lower.starts_with('%')
        || lower.starts_with("{{")
        || lower.starts_with("#{")
        || looks_like_placeholder(value)
}

/// Values written to stand for a secret rather than be one: `xxxx`, `****`, `<...>`,
/// `your-api-key`, `changeme`, vendors' documented `...EXAMPLE...` keys.
pub(crate) fn looks_like_placeholder(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    let distinct = {
        let mut seen: Vec<char> = lower.chars().collect();
        seen.sort_unstable();
        seen.dedup();
        seen.len()
    };
    let same_run = {
        let (mut best, mut run, mut last) = (0, 0, '\0');
        for c in lower.chars() {
            run = if c == last { run + 1 } else { 1 };
            last = c;
            best = best.max(run);
        }
        best
    };
    // Keys that vendors print in their own documentation, for everyone to copy.
    const DOCUMENTED: &[&str] = &[
        "sk_test_4ec39hqlyjwdarjtt1zdp7dc",
        "pk_test_tyoomqauvdedq54nitphi7jx",
        "sk_test_bqokikjoxdhrbmcbnghjlnhx",
    ];
    distinct <= 3
        || same_run >= 6
        || DOCUMENTED.iter().any(|d| lower.contains(d))
        || [
            "xxxx",
            "****",
            "changeme",
            "change_me",
            "change-me",
            "example",
            "placeholder",
            "redacted",
            "your_",
            "your-",
            "yourpassword",
            "yourtoken",
            "your_token",
            "dummy",
            "sample",
            "replace_me",
            "replace-me",
            "insert",
            "todo",
            "fixme",
            "0123456789",
            "1234567890",
            "abcdefgh",
            "here",
            "fake",
            "<",
            ">",
            "...",
            "\u{2026}",
        ]
        .iter()
        .any(|p| lower.contains(p))
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
            ("key AKIAQ3EGS7YXNL2VWK5R here", "aws_access_key"),
            ("-----BEGIN RSA PRIVATE KEY-----\nMIIE", "private_key"),
            ("-----BEGIN OPENSSH PRIVATE KEY-----", "private_key"),
            (
                "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
                "jwt",
            ),
            ("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", "github_token"),
            ("xoxb-2748393020-q7RvTm2KzPw9LcXa", "slack_token"),
            ("sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe_key"),
            ("AIzaSyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe", "google_api_key"),
            ("db password = Tr0ub4dor&3x", "credential_assignment"),
            ("token: 9f8e7d6c5b4a", "credential_assignment"),
            (
                "<dataSource>\n  <password>Ferr0us!Owl_17</password>\n</dataSource>",
                "credential_assignment",
            ),
            (
                "const client = twilio('AC5e1621a1e206a998f810bcfc3cf97061', 'feb018e0a5e7375da5e14425f152f602');",
                "service_token",
            ),
            (
                "Hoi Femke, het wachtwoord voor de kassa-admin is sinds vanochtend 6o6z?PNzHOd9 — niet doorsturen.",
                "credential_assignment",
            ),
            (
                "hey all, new staging DB creds are admin / Tr0ub4dor&3xQ!, pls don't share",
                "credential_assignment",
            ),
            (
                "env:\n            - name: DD_API_KEY\n              value: \"5dfa02266ff17027b19c7a22b6de8472\"",
                "credential_assignment",
            ),
            (
                "{\"name\": \"DB_PASSWORD\", \"value\": \"q8Vr-22xLpM\"}",
                "credential_assignment",
            ),
            (
                "r = requests.get(url, auth=(\"svc_reports\", \"V5zz_H_oahAlSoc\"), timeout=30)",
                "credential_assignment",
            ),
            (
                "twilio auth token 4d4f7127ab1be460d786e34fffa8c53b",
                "credential_assignment",
            ),
            (
                "fyi the admin password for the NAS is now YirOLXW6GCUfSZ! don't share it",
                "credential_assignment",
            ),
            (
                "identifiant admin, mot de passe Pl@nete-Rouge-2291. Pense à le changer.",
                "credential_assignment",
            ),
            (
                "Salut Marc, pour le VPN le mot de passe c'est Kqzr-vbnt-48, l'identifiant c'est ton prénom.",
                "credential_assignment",
            ),
            (
                "Das Passwort für den Drucker-Admin lautet: 7hQ#wPzt2Lm – bitte nicht weitergeben.",
                "credential_assignment",
            ),
            (
                "Kannst du dich auf dem NAS anmelden? Benutzer: admin, Passwort: Zr5%Tb9!kLq2",
                "credential_assignment",
            ),
            (
                "le mdp du wifi invités c'est Soleil-2291",
                "credential_assignment",
            ),
            (
                "the app's client secret is in the vault now: 7Xk8Q~pR2vLm9TzqW4nB6yHc1dFsJ0gK3aE5uI_o",
                "high_entropy_token",
            ),
            (
                "the vpn password was changed to Kq7#mWz2pL",
                "credential_assignment",
            ),
            (
                "Client secret (expires 2026-03-31): 7b28Q~PBJZeuNwTGL951.kMVAU8AU8a4ynYdNxg_",
                "service_token",
            ),
            (
                "connect with postgres://admin:S3cr3t!2024@db.internal:5432/prod",
                "url_credentials",
            ),
            (
                "use wJa1rXUtnFEMIK7MDENGbPxRfiCYzq8Lk3Vt2NpQ for the bucket",
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
            "conn = psycopg.connect(host=host, user=user, password=db_password)",
            "const token = await secrets.getSecretValue({ SecretId: 'prod/slack/token' }).promise()",
            "password = new PasswordField(label)",
            "DATABASE_URL=postgres://USER:PASSWORD@HOST:5432/DBNAME",
            "db_password: \"{{ lookup('hashi_vault', 'secret=secret/data/prod/db:password') }}\"",
            "パスワードは12文字以上にし、他のサービスと使い回さないでください。",
            "The password is at least 12 characters long and rotated every 90 days.",
            "Open Redirect in malformed URLs - https://github.com/advisories/GHSA-rv95-896h-c2vc",
            "The credentials are stored in the vault under prod/db, ask Femke for access.",
            "env:\n  - name: DB_PASSWORD\n    valueFrom:\n      secretKeyRef:\n        name: db\n        key: password",
            "- name: API_TOKEN\n  value: \"<your-token>\"",
            "auth=(user, password)",
            "Het wachtwoord is sinds vanochtend veranderd, vraag het aan Femke.",
            "account AC5e1621a1e206a998f810bcfc3cf97061 is the billing subaccount",
            "lookup('AC5e1621a1e206a998f810bcfc3cf97061')",
            "client = Client(token=self.auth_token)",
            "  existingSecret: warehouse-db-credentials\n  existingSecretPasswordKey: password",
            "valueFrom:\n  secretKeyRef:\n    name: smtp-credentials\n    key: password",
            "<img src=\"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==\">",
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

//! The sensitive-path catalogue: which files hold credentials, which are the system's or the
//! agent's own configuration, which are disks, and which are scratch space, whatever the
//! spelling (`~`, `$HOME`, `/home/<user>`, Windows separators and drive letters, case).

/// What a path is, for the judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathClass {
    /// Holds secrets: key files, credential stores, `.env`, browser password stores.
    Credential,
    /// The agent's own configuration (its gateway token, its approvals, its plugins).
    AgentConfig,
    /// Files that grant access: `authorized_keys`, `sudoers`, `/etc/passwd`, `/etc/shadow`.
    AccessControl,
    /// System configuration and programs (`/etc`, `/usr`, `C:\Windows`, boot, init).
    System,
    /// A block device or raw memory.
    Device,
    /// The root of a file system or of a home directory.
    Root,
    /// Temporary files, caches and build output, made again at will.
    Scratch,
    Ordinary,
}

/// The path folded for matching: lower case, forward slashes, the home directory as `~`.
pub fn fold(path: &str) -> String {
    let mut p = path
        .trim()
        .trim_matches(|c| c == '"' || c == '\'')
        .replace('\\', "/")
        .to_lowercase();
    for home in [
        "$home/",
        "${home}/",
        "%userprofile%/",
        "$env:userprofile/",
        "~root/",
    ] {
        if let Some(rest) = p.strip_prefix(home) {
            p = format!("~/{rest}");
        }
    }
    for prefix in ["/home/", "/users/", "c:/users/"] {
        if let Some(rest) = p.strip_prefix(prefix) {
            p = match rest.split_once('/') {
                Some((_, tail)) => format!("~/{tail}"),
                None => "~".to_string(),
            };
            break;
        }
    }
    if let Some(rest) = p.strip_prefix("/root/") {
        p = format!("~/{rest}");
    } else if p == "/root" || p == "$home" || p == "~/" {
        p = "~".into();
    }
    while p.contains("//") {
        p = p.replace("//", "/");
    }
    p
}

const ENV_SAMPLES: &[&str] = &[
    ".example",
    ".sample",
    ".template",
    ".dist",
    ".defaults",
    ".schema",
];

const CREDENTIAL_NAMES: &[&str] = &[
    ".netrc",
    "_netrc",
    ".pgpass",
    ".my.cnf",
    ".git-credentials",
    ".npmrc",
    ".pypirc",
    ".htpasswd",
    "shadow",
    "gshadow",
    "master.passwd",
    "login data",
    "login data for account",
    "key4.db",
    "key3.db",
    "logins.json",
    "signons.sqlite",
    "local state",
    "wp-config.php",
    "credentials.json",
    "application_default_credentials.json",
    "terraform.tfstate",
    "terraform.tfstate.backup",
    ".vault-token",
    "ntds.dit",
    ".bash_history",
    ".zsh_history",
    "credentials.db",
    "access_tokens.db",
    "auth-profiles.json",
    "hosts.yml",
    "cookies",
    ".s3cfg",
];

const CREDENTIAL_SUFFIXES: [&str; 10] = [
    ".kdbx",
    ".p12",
    ".pfx",
    ".jks",
    ".keystore",
    ".ppk",
    ".key",
    "-key.pem",
    "privkey.pem",
    ".asc",
];

const CREDENTIAL_DIRS: &[&str] = &[
    "~/.ssh/",
    "/.gnupg/",
    "/.password-store/",
    "/.aws/",
    "/.azure/",
    "/.config/gcloud/",
    "/.kube/",
    "/.docker/",
    "/library/keychains/",
    "/.config/gh/",
    "/etc/ssl/private/",
    "/var/run/secrets/",
    "/run/secrets/",
    "/.mozilla/firefox/",
    "/appdata/roaming/microsoft/credentials/",
];

/// Files in credential directories that hold none.
const HARMLESS_IN_CREDENTIAL_DIRS: &[&str] = &[
    "known_hosts",
    "config.pub",
    "authorized_keys",
    "environment",
    "rc",
];

const SYSTEM_DIRS: &[&str] = &[
    "/etc/",
    "/boot/",
    "/usr/",
    "/bin/",
    "/sbin/",
    "/lib/",
    "/lib64/",
    "/var/spool/cron",
    "/sys/",
    "/proc/sys/",
    "c:/windows/",
    "/library/launchdaemons/",
    "/library/launchagents/",
    "/system/",
];

const SCRATCH_PARTS: &[&str] = &[
    "/tmp/",
    "/var/tmp/",
    "node_modules",
    "target/",
    "dist/",
    "build/",
    "__pycache__",
    ".cache/",
    ".pytest_cache",
    "coverage/",
    ".next/",
    ".turbo/",
    ".gradle/",
    ".venv/",
];

/// Classifies one path.
pub fn classify(path: &str) -> PathClass {
    let p = fold(path);
    if p.is_empty() {
        return PathClass::Ordinary;
    }
    let name = p.rsplit('/').find(|s| !s.is_empty()).unwrap_or(&p);
    if p.contains("/.openclaw/") || p.starts_with(".openclaw/") || p.ends_with("/.openclaw") {
        return PathClass::AgentConfig;
    }
    if name == "authorized_keys"
        || name == "sudoers"
        || p.contains("/sudoers.d/")
        || p == "/etc/passwd"
        || p == "/etc/group"
        || p.starts_with("/etc/pam.d/")
        || p.starts_with("/etc/security/")
    {
        return PathClass::AccessControl;
    }
    let env_file = (name == ".env" || name.starts_with(".env.") || name.ends_with(".env"))
        && !ENV_SAMPLES.iter().any(|s| name.ends_with(s));
    let key_file = name.starts_with("id_") && !name.ends_with(".pub") && p.contains(".ssh")
        || matches!(name, "id_rsa" | "id_dsa" | "id_ecdsa" | "id_ed25519");
    let secrets_file = (name.starts_with("secrets.")
        || name.starts_with("client_secret")
        || name.starts_with("service-account")
        || name.starts_with("serviceaccount"))
        && (name.ends_with(".json")
            || name.ends_with(".yml")
            || name.ends_with(".yaml")
            || name.ends_with(".toml"));
    let in_credential_dir = CREDENTIAL_DIRS
        .iter()
        .any(|d| p.contains(d) || format!("{p}/").ends_with(d))
        && !HARMLESS_IN_CREDENTIAL_DIRS.contains(&name)
        && !name.ends_with(".pub");
    let environ = p.starts_with("/proc/") && name == "environ";
    if env_file
        || key_file
        || secrets_file
        || in_credential_dir
        || environ
        || CREDENTIAL_NAMES.contains(&name)
        || CREDENTIAL_SUFFIXES.iter().any(|s| name.ends_with(s))
        || (name == "sam" || name == "security") && p.contains("/config/")
    {
        return PathClass::Credential;
    }
    if p.starts_with("/dev/") {
        let harmless = [
            "/dev/null",
            "/dev/zero",
            "/dev/stdout",
            "/dev/stderr",
            "/dev/stdin",
            "/dev/tty",
            "/dev/fd/",
            "/dev/random",
            "/dev/urandom",
            "/dev/shm/",
        ];
        if harmless.iter().any(|h| p.starts_with(h)) {
            return PathClass::Ordinary;
        }
        return PathClass::Device;
    }
    if matches!(
        p.as_str(),
        "/" | "/*"
            | "~"
            | "~/*"
            | "c:"
            | "c:/"
            | "c:/*"
            | "/home"
            | "/users"
            | "."
            | "./"
            | "*"
            | ".."
            | "../"
            | "./*"
    ) || (p.starts_with("/") && p.matches('/').count() == 1 && !p.starts_with("/tmp"))
    {
        return PathClass::Root;
    }
    if SYSTEM_DIRS
        .iter()
        .any(|d| p.starts_with(d) || format!("{p}/") == *d)
        || p == "/etc/hosts"
    {
        return PathClass::System;
    }
    if SCRATCH_PARTS
        .iter()
        .any(|s| p.contains(s) || p.starts_with(s.trim_start_matches('/')))
        || p.starts_with("tmp/")
        || matches!(
            name,
            "node_modules" | "target" | "dist" | "build" | "__pycache__" | ".cache" | "tmp"
        )
    {
        return PathClass::Scratch;
    }
    PathClass::Ordinary
}

/// Canonical places of secrets, for patterns that name one without spelling it (`~/.aw?/c*`).
const SECRET_PLACES: &[&str] = &[
    "~/.aws/credentials",
    "/etc/shadow",
    "/etc/gshadow",
    "~/.ssh/id_rsa",
    "~/.ssh/id_ed25519",
    "~/.ssh/id_ecdsa",
    "~/.ssh/id_dsa",
    ".env",
    "~/.netrc",
    "~/.docker/config.json",
    "~/.kube/config",
    "~/.git-credentials",
    "~/.openclaw/openclaw.json",
    "~/.pgpass",
    "~/.bash_history",
    "~/.config/gcloud/credentials.db",
    "~/.azure/accesstokens.json",
    "~/.npmrc",
    "~/.pypirc",
    "/etc/sudoers",
];

/// Whether a glob pattern can name a secret's canonical place.
pub fn glob_names_a_secret(pattern: &str) -> bool {
    let folded = fold(pattern);
    SECRET_PLACES.iter().any(|place| {
        glob_match(folded.as_bytes(), place.as_bytes())
            || place
                .rsplit('/')
                .next()
                .is_some_and(|name| glob_match(folded.as_bytes(), name.as_bytes()))
    })
}

/// Shell glob matching: `*`, `?` and `[...]`.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'[' {
            if let Some(end) = pattern[p..].iter().position(|c| *c == b']') {
                let set = &pattern[p + 1..p + end];
                let negate = set.first().is_some_and(|c| *c == b'!' || *c == b'^');
                let set = if negate { &set[1..] } else { set };
                if set.contains(&text[t]) != negate {
                    p += end + 1;
                    t += 1;
                    continue;
                }
            }
        } else if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
            continue;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some(p);
            mark = t;
            p += 1;
            continue;
        }
        match star {
            Some(s) => {
                p = s + 1;
                mark += 1;
                t = mark;
            }
            None => return false,
        }
    }
    while p < pattern.len() && pattern[p] == b'*' {
        p += 1;
    }
    p == pattern.len()
}

/// Whether a file name says it holds a dump of data.
pub fn names_a_data_dump(path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    [
        ".sql", ".dump", ".bak", ".csv", ".xlsx", ".tar", ".tgz", ".gz", ".zip", ".7z", ".db", ".sqlite",
        ".parquet", ".jsonl", ".pst", ".mbox",
    ]
    .iter()
    .any(|e| p.ends_with(e))
        || [
            "dump",
            "backup",
            "export",
            "customers",
            "users",
            "employees",
            "payroll",
            "crm",
            "leads",
            "patients",
        ]
        .iter()
        .any(|w| p.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_files_in_any_spelling() {
        for p in [
            ".env",
            "app/.env.production",
            "~/.ssh/id_ed25519",
            "/home/dev/.ssh/id_rsa",
            "$HOME/.aws/credentials",
            "/etc/shadow",
            "~/.netrc",
            "C:\\Users\\bob\\.aws\\credentials",
            "/root/.docker/config.json",
            "~/.config/google-chrome/Default/Login Data",
            "~/Library/Keychains/login.keychain-db",
            "/proc/self/environ",
            "deploy/server.key",
            "~/.kube/config",
            "/var/run/secrets/kubernetes.io/serviceaccount/token",
        ] {
            assert_eq!(classify(p), PathClass::Credential, "{p}");
        }
        for p in [
            ".env.example",
            "~/.ssh/id_ed25519.pub",
            "~/.ssh/known_hosts",
            "src/env.rs",
            "README.md",
        ] {
            assert_ne!(classify(p), PathClass::Credential, "{p}");
        }
    }

    #[test]
    fn patterns_that_name_secrets() {
        assert!(glob_names_a_secret("~/.aw?/credentials"));
        assert!(glob_names_a_secret("/etc/sha*ow"));
        assert!(glob_names_a_secret("/home/*/.ssh/id_*"));
        assert!(!glob_names_a_secret("src/*.rs"));
    }

    #[test]
    fn system_access_and_scratch() {
        assert_eq!(classify("/etc/sudoers.d/agent"), PathClass::AccessControl);
        assert_eq!(classify("~/.ssh/authorized_keys"), PathClass::AccessControl);
        assert_eq!(classify("/etc/hosts"), PathClass::System);
        assert_eq!(classify("~/.openclaw/openclaw.json"), PathClass::AgentConfig);
        assert_eq!(classify("/dev/sda"), PathClass::Device);
        assert_eq!(classify("/dev/null"), PathClass::Ordinary);
        assert_eq!(classify("/"), PathClass::Root);
        assert_eq!(classify("~"), PathClass::Root);
        assert_eq!(classify("/var"), PathClass::Root);
        assert_eq!(classify("/tmp/build-123"), PathClass::Scratch);
        assert_eq!(classify("node_modules"), PathClass::Scratch);
        assert_eq!(classify("src/main.rs"), PathClass::Ordinary);
    }
}

//! What a tool call does, in the classes the tier specification names, and where a network
//! address points (inside, outside, a file-sharing site, a cloud's credential endpoint).

use crate::decision::Risk;

/// The effect classes, ordered by how much they matter: the judge keeps the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Effect {
    /// Only looks.
    ReadOnly,
    /// Changes files, packages, builds, ordinary services, or runs code.
    WorkspaceChange,
    /// Speaks for someone: a message, a mail, a post, a publication.
    Outbound,
    /// Not understood: a person decides.
    Unrecognised,
    Destructive,
    MoneyMovement,
    PrivilegeChange,
    Exfiltration,
    CredentialAccess,
    RemoteCode,
}

impl Effect {
    pub fn tier(self) -> Risk {
        match self {
            Effect::ReadOnly => Risk::Green,
            Effect::WorkspaceChange | Effect::Outbound | Effect::Unrecognised => Risk::Amber,
            _ => Risk::Red,
        }
    }

    /// The rule id suffix and category the decision carries.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::ReadOnly => "read_only",
            Effect::WorkspaceChange => "workspace_change",
            Effect::Outbound => "outbound",
            Effect::Unrecognised => "unrecognised",
            Effect::Destructive => "destructive",
            Effect::MoneyMovement => "money_movement",
            Effect::PrivilegeChange => "privilege_change",
            Effect::Exfiltration => "exfiltration",
            Effect::CredentialAccess => "credential_access",
            Effect::RemoteCode => "remote_code",
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Effect::ReadOnly => "The call only reads",
            Effect::WorkspaceChange => "The call changes files, packages or services, or runs code",
            Effect::Outbound => "The call sends a message or publishes on someone's behalf",
            Effect::Unrecognised => "The call does something Warden does not recognise",
            Effect::Destructive => "The call destroys data or takes systems down",
            Effect::MoneyMovement => "The call moves money",
            Effect::PrivilegeChange => "The call changes privileges or disables a security control",
            Effect::Exfiltration => "The call sends data outside",
            Effect::CredentialAccess => "The call reads credentials or secrets",
            Effect::RemoteCode => "The call downloads and runs code, or runs hidden code",
        }
    }

    pub fn alternative(self) -> &'static str {
        match self {
            Effect::Destructive => {
                "I can draft the deletion as a reviewed plan with a backup and rollback checklist."
            }
            Effect::PrivilegeChange => {
                "I can draft an access or change request for the security team to review."
            }
            Effect::MoneyMovement => {
                "I can prepare a payment request packet for finance to review and execute instead."
            }
            Effect::Exfiltration => "I can draft a data-sharing request for the data owner to review.",
            Effect::CredentialAccess => {
                "I can explain how to request access through the secrets manager instead."
            }
            Effect::RemoteCode => "I can fetch the script so a person can read it before anything runs.",
            _ => "I can describe the call for a person to review and run.",
        }
    }
}

/// One thing a call does, with the piece of the call that shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub effect: Effect,
    /// What was seen (`rm -rf /srv`, `read ~/.ssh/id_rsa`), for the reason and the record.
    pub evidence: String,
}

impl Finding {
    pub fn new(effect: Effect, evidence: impl Into<String>) -> Finding {
        let mut evidence: String = evidence.into();
        if evidence.len() > 160 {
            let cut = (0..=157)
                .rev()
                .find(|i| evidence.is_char_boundary(*i))
                .unwrap_or(0);
            evidence.truncate(cut);
            evidence.push('…');
        }
        Finding { effect, evidence }
    }
}

/// Where a network address points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// Loopback, private ranges, `.internal`, `.local`, `.corp`, `.lan`, bare host names.
    Inside,
    Outside,
    /// A site whose purpose is taking files or text from anyone.
    FileDrop,
    /// A cloud's instance metadata service, which hands out credentials.
    Metadata,
}

const FILE_DROPS: &[&str] = &[
    "transfer.sh",
    "file.io",
    "0x0.st",
    "pastebin.com",
    "paste.ee",
    "termbin.com",
    "catbox.moe",
    "gofile.io",
    "anonfiles",
    "ngrok",
    "requestbin",
    "webhook.site",
    "pipedream",
    "dropbox.com",
    "mega.nz",
    "wetransfer",
    "discord.com/api/webhooks",
    "api.telegram.org",
    "hastebin",
    "ghostbin",
    "filebin",
    "temp.sh",
    "bashupload",
    "oast.",
];

/// The host part of a URL, `user@host:path`, or bare host.
pub fn host_of(target: &str) -> String {
    let t = target.trim().trim_matches(|c| c == '"' || c == '\'');
    let t = t.split_once("://").map_or(t, |(_, rest)| rest);
    let t = t.rsplit_once('@').map_or(t, |(_, rest)| rest);
    let end = t.find(['/', '?', '#']).unwrap_or(t.len());
    let host = &t[..end];
    let host = if host.starts_with('[') {
        host.split(']').next().unwrap_or(host).trim_start_matches('[')
    } else {
        host.split(':').next().unwrap_or(host)
    };
    host.to_ascii_lowercase()
}

pub fn classify_host(target: &str) -> Host {
    let lowered = target.to_ascii_lowercase();
    if FILE_DROPS.iter().any(|d| lowered.contains(d)) {
        return Host::FileDrop;
    }
    let host = host_of(target);
    if matches!(
        host.as_str(),
        "169.254.169.254" | "169.254.170.2" | "metadata.google.internal" | "metadata" | "fd00:ec2::254"
    ) {
        return Host::Metadata;
    }
    let inside = host.is_empty()
        || host == "localhost"
        || host.starts_with("127.")
        || host.starts_with("10.")
        || host.starts_with("192.168.")
        || (host.starts_with("172.")
            && host
                .split('.')
                .nth(1)
                .and_then(|o| o.parse::<u8>().ok())
                .is_some_and(|o| (16..=31).contains(&o)))
        || host == "::1"
        || [
            ".internal",
            ".local",
            ".corp",
            ".lan",
            ".intranet",
            ".svc",
            ".cluster.local",
            ".home.arpa",
        ]
        .iter()
        .any(|s| host.ends_with(s))
        || !host.contains('.');
    if inside { Host::Inside } else { Host::Outside }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(classify_host("https://transfer.sh/x"), Host::FileDrop);
        assert_eq!(
            classify_host("http://169.254.169.254/latest/meta-data/"),
            Host::Metadata
        );
        assert_eq!(classify_host("deploy@10.0.3.4:/srv"), Host::Inside);
        assert_eq!(classify_host("http://localhost:8080/api"), Host::Inside);
        assert_eq!(classify_host("backup-box"), Host::Inside);
        assert_eq!(classify_host("https://api.example.com/v1"), Host::Outside);
        assert_eq!(classify_host("user@203.0.113.9:/tmp"), Host::Outside);
        assert_eq!(host_of("https://u:p@Example.com:8443/a"), "example.com");
    }
}

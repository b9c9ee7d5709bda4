//! `warden keys create|list|revoke`: API keys in the store.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use warden_gateway::auth::{Role, generate_key_in_groups};

use crate::KeysCommand;
use crate::settings;

pub async fn run(command: KeysCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeysCommand::Create {
            name,
            roles,
            tenant,
            groups,
            store,
        } => {
            let roles = parse_roles(&roles)?;
            let store = settings::open_store(&store).await?;
            let groups: Vec<String> = groups
                .iter()
                .flat_map(|g| g.split(','))
                .map(|g| g.trim().to_string())
                .filter(|g| !g.is_empty())
                .collect();
            let key = generate_key_in_groups(&name, &roles, &tenant, &groups)
                .context("cannot generate a random key")?;
            store
                .insert_key(&key.record)
                .await
                .with_context(|| format!("cannot store key `{name}` (is an active key already named so?)"))?;
            super::show_once(&key.key, &name)?;
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::List { store } => {
            let store = settings::open_existing_store(&store).await?;
            // A closed pipe (`| head`) ends the listing quietly instead of panicking.
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            let _ = writeln!(
                out,
                "{:<18} {:<20} {:<28} {:<10} {:<20} {:<28} REVOKED",
                "ID", "NAME", "ROLES", "TENANT", "GROUPS", "CREATED"
            );
            for k in store.list_keys().await? {
                let groups = if k.groups.is_empty() {
                    "-".to_string()
                } else {
                    k.groups.join(",")
                };
                let line = writeln!(
                    out,
                    "{:<18} {:<20} {:<28} {:<10} {:<20} {:<28} {}",
                    k.id,
                    k.name,
                    k.roles.join(","),
                    k.tenant,
                    groups,
                    k.created_at,
                    k.revoked_at.as_deref().unwrap_or("-")
                );
                if line.is_err() {
                    break;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        KeysCommand::Revoke { key, store } => {
            let store = settings::open_existing_store(&store).await?;
            if store.revoke_key(&key).await? {
                eprintln!("revoked {key}; running gateways refuse it within 2 seconds");
                Ok(ExitCode::SUCCESS)
            } else {
                bail!("no active key with id or name `{key}`")
            }
        }
    }
}

/// Parses role names, accepting `a,b` as well as repeated flags.
pub fn parse_roles(names: &[String]) -> anyhow::Result<Vec<Role>> {
    let mut roles = Vec::new();
    for name in names.iter().flat_map(|n| n.split(',')) {
        let name = name.trim();
        let role = Role::parse(name).with_context(|| {
            format!("unknown role `{name}` (expected requester, approver, auditor or admin)")
        })?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    Ok(roles)
}

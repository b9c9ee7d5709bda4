//! Authentication: bearer API keys of the form `wdn_<id>_<secret>`, stored as the SHA-256 of the
//! secret, looked up by id and compared in constant time, mapped to a principal with roles.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use base64::Engine;
use sha2::{Digest, Sha256};
use warden_store::{KeyRecord, Store};

use crate::error::ApiError;

/// How long a looked-up key is trusted before the store is asked again; the bound on how
/// long a revoked key keeps working on a running gateway.
const KEY_CACHE_TTL: Duration = Duration::from_secs(2);
const KEY_CACHE_MAX: usize = 10_000;
const KEY_PREFIX: &str = "wdn_";

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sends requests through the gateway.
    Requester,
    /// Decides on approvals.
    Approver,
    /// Reads the audit trail.
    Auditor,
    /// Everything.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Requester, Role::Approver, Role::Auditor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Requester => "requester",
            Role::Approver => "approver",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// The trace id given to an authenticated request, before any handler sees it.
#[derive(Debug, Clone)]
pub struct TraceId(pub String);

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub key_id: String,
    pub name: String,
    pub roles: Vec<Role>,
    pub tenant: String,
    /// Approver groups.
    pub groups: Vec<String>,
}

impl Principal {
    /// Whether the principal holds `role` (admins hold every role).
    pub fn holds(&self, role: Role) -> bool {
        self.roles.contains(&role) || self.roles.contains(&Role::Admin)
    }

    /// Ok if the principal holds `role` (admins hold every role).
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.holds(role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                needed: role.as_str(),
            })
        }
    }

    /// The tenant the principal's view of the trail and the queue is limited to; `None` for
    /// admins, who see every tenant.
    pub fn tenant_scope(&self) -> Option<&str> {
        (!self.roles.contains(&Role::Admin)).then_some(self.tenant.as_str())
    }

    /// Whether something of `tenant` is within the principal's view.
    pub fn sees_tenant(&self, tenant: Option<&str>) -> bool {
        self.tenant_scope().is_none_or(|own| tenant == Some(own))
    }

    /// How the principal appears as `actor` in the audit trail.
    pub fn actor(&self) -> String {
        format!("key:{}", self.name)
    }

    pub fn roles_as_strings(&self) -> Vec<&'static str> {
        self.roles.iter().map(|r| r.as_str()).collect()
    }
}

/// A freshly generated key: the full key (shown once) and the record to store.
#[derive(Debug)]
pub struct NewKey {
    pub key: String,
    pub record: KeyRecord,
}

/// Generates a key: 8 random bytes of id, 48 random bytes of secret (URL-safe base64).
pub fn generate_key(name: &str, roles: &[Role], tenant: &str) -> Result<NewKey, getrandom::Error> {
    generate_key_in_groups(name, roles, tenant, &[])
}

/// Generates a key whose holder belongs to approver `groups`.
pub fn generate_key_in_groups(
    name: &str,
    roles: &[Role],
    tenant: &str,
    groups: &[String],
) -> Result<NewKey, getrandom::Error> {
    let mut id = [0u8; 8];
    let mut secret = [0u8; 48];
    getrandom::fill(&mut id)?;
    getrandom::fill(&mut secret)?;
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    Ok(NewKey {
        key: format!("{KEY_PREFIX}{id}_{secret}"),
        record: KeyRecord {
            id,
            name: name.to_string(),
            roles: roles.iter().map(|r| r.as_str().to_string()).collect(),
            tenant: tenant.to_string(),
            groups: groups.to_vec(),
            secret_hash: hash_secret(&secret),
            created_at: warden_store::now_rfc3339(),
            revoked_at: None,
        },
    })
}

fn principal_of(record: KeyRecord) -> Principal {
    Principal {
        key_id: record.id,
        name: record.name,
        roles: record.roles.iter().filter_map(|r| Role::parse(r)).collect(),
        tenant: record.tenant,
        groups: record.groups,
    }
}

/// SHA-256 of a secret, in hex: how key secrets and console session tokens are stored.
pub fn hash_secret(secret: &str) -> String {
    crate::hex::hex(&Sha256::digest(secret.as_bytes()))
}

/// Equal-length comparison whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Splits `wdn_<16 hex>_<secret>` into id and secret.
fn split_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()) && !secret.is_empty())
        .then_some((id, secret))
}

/// Authenticates requests against the store, with a short-lived cache of looked-up keys.
pub struct Authenticator {
    store: Store,
    cache: Mutex<HashMap<String, (Option<KeyRecord>, Instant)>>,
}

impl Authenticator {
    pub fn new(store: Store) -> Authenticator {
        Authenticator {
            store,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The principal behind the request's bearer key.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Principal, ApiError> {
        let key = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or(ApiError::Unauthorized)?;
        self.authenticate_key(key).await
    }

    /// The principal behind a whole key (`wdn_<id>_<secret>`), as typed into the console.
    pub async fn authenticate_key(&self, key: &str) -> Result<Principal, ApiError> {
        let (id, secret) = split_key(key).ok_or(ApiError::Unauthorized)?;
        let record = self.lookup(id).await?.ok_or(ApiError::Unauthorized)?;
        if record.revoked_at.is_some()
            || !constant_time_eq(hash_secret(secret).as_bytes(), record.secret_hash.as_bytes())
        {
            return Err(ApiError::Unauthorized);
        }
        Ok(principal_of(record))
    }

    /// The principal of a key id a console session stands for, unless the key was revoked
    /// (seen within the cache's two seconds, as for bearer keys).
    pub async fn principal_by_id(&self, key_id: &str) -> Result<Principal, ApiError> {
        let record = self.lookup(key_id).await?.ok_or(ApiError::Unauthorized)?;
        if record.revoked_at.is_some() {
            return Err(ApiError::Unauthorized);
        }
        Ok(principal_of(record))
    }

    async fn lookup(&self, id: &str) -> Result<Option<KeyRecord>, ApiError> {
        if let Ok(cache) = self.cache.lock()
            && let Some((record, at)) = cache.get(id)
            && at.elapsed() < KEY_CACHE_TTL
        {
            return Ok(record.clone());
        }
        let record = self.store.find_key(id).await.map_err(|e| {
            tracing::error!(error = %e, "key lookup failed");
            ApiError::StoreUnavailable
        })?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= KEY_CACHE_MAX {
                cache.clear();
            }
            cache.insert(id.to_string(), (record.clone(), Instant::now()));
        }
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_hash() {
        let k = generate_key("ci", &[Role::Requester], "default").unwrap();
        let (id, secret) = split_key(&k.key).unwrap();
        assert_eq!(id, k.record.id);
        assert!(secret.len() >= 64, "48 random bytes as base64");
        assert!(constant_time_eq(
            hash_secret(secret).as_bytes(),
            k.record.secret_hash.as_bytes()
        ));
        assert!(!k.record.secret_hash.contains(secret));
    }

    #[test]
    fn malformed_keys_are_refused() {
        for bad in [
            "",
            "wdn_",
            "wdn_zz_abc",
            "sk-123",
            "wdn_0123456789abcdef_",
            "wdn_0123456789abcde_x",
        ] {
            assert!(split_key(bad).is_none(), "{bad}");
        }
    }
}

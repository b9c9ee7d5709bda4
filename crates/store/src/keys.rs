//! API keys as stored: an id, the roles and tenant they grant, and the SHA-256 of the secret
//! (never the secret itself).

use sqlx::Row;

use crate::{Store, StoreError};

/// One stored key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyRecord {
    /// Public identifier, embedded in the key so it can be looked up without the secret.
    pub id: String,
    pub name: String,
    pub roles: Vec<String>,
    pub tenant: String,
    /// Approver groups the key belongs to (`finance`, `security`, ...).
    pub groups: Vec<String>,
    /// Hex SHA-256 of the secret part of the key.
    #[serde(skip)]
    pub secret_hash: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

fn split_list(list: &str) -> Vec<String> {
    list.split(',')
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect()
}

fn from_row(row: &sqlx::any::AnyRow) -> Result<KeyRecord, StoreError> {
    Ok(KeyRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        roles: split_list(&row.try_get::<String, _>("roles")?),
        tenant: row.try_get("tenant")?,
        groups: split_list(&row.try_get::<String, _>("groups")?),
        secret_hash: row.try_get("secret_hash")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

impl Store {
    /// Stores a new key. Fails if an active key already has this name.
    pub async fn insert_key(&self, key: &KeyRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO api_keys (id, name, roles, tenant, groups, secret_hash, created_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
        )
        .bind(&key.id)
        .bind(&key.name)
        .bind(key.roles.join(","))
        .bind(&key.tenant)
        .bind(key.groups.join(","))
        .bind(&key.secret_hash)
        .bind(&key.created_at)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The key with this id, revoked or not.
    pub async fn find_key(&self, id: &str) -> Result<Option<KeyRecord>, StoreError> {
        let row = sqlx::query("SELECT * FROM api_keys WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(from_row).transpose()
    }

    /// Every key, oldest first.
    pub async fn list_keys(&self) -> Result<Vec<KeyRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM api_keys ORDER BY created_at, id")
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(from_row).collect()
    }

    /// Revokes the active key with this id or name; returns whether one was revoked.
    pub async fn revoke_key(&self, id_or_name: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE revoked_at IS NULL AND (id = $2 OR name = $3)",
        )
        .bind(crate::now_rfc3339())
        .bind(id_or_name)
        .bind(id_or_name)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() > 0)
    }
}

//! MCP tool definitions pinned by an admin: for each governed MCP server, the digest of every
//! tool definition (name, description, input schema) as it was when an admin approved it, and
//! the definition itself, so a later change can be shown as a diff. A definition that is not
//! pinned, or whose digest differs, is quarantined by the gateway until approved again.
//! Shared by every replica on the store.

use crate::{Store, StoreError};

/// One pinned tool definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpPin {
    pub server: String,
    pub tool: String,
    pub digest: String,
    /// The definition as approved, as JSON.
    pub definition: String,
    pub approved_by: String,
    pub approved_ms: i64,
}

impl Store {
    /// The definitions pinned for `server`.
    pub async fn mcp_pins(&self, server: &str) -> Result<Vec<McpPin>, StoreError> {
        let rows: Vec<(String, String, String, String, String, i64)> = sqlx::query_as(
            "SELECT server, tool, digest, definition, approved_by, approved_ms FROM mcp_pins
             WHERE server = $1 ORDER BY tool",
        )
        .bind(server)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(server, tool, digest, definition, approved_by, approved_ms)| McpPin {
                    server,
                    tool,
                    digest,
                    definition,
                    approved_by,
                    approved_ms,
                },
            )
            .collect())
    }

    /// Pins `tools` (name, digest, definition) for `server`, replacing what was pinned for it:
    /// a tool the server no longer offers is no longer pinned.
    pub async fn pin_mcp_tools(
        &self,
        server: &str,
        tools: &[(String, String, String)],
        approved_by: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM mcp_pins WHERE server = $1")
            .bind(server)
            .execute(&mut *tx)
            .await?;
        for (tool, digest, definition) in tools {
            sqlx::query(
                "INSERT INTO mcp_pins (server, tool, digest, definition, approved_by, approved_ms)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(server)
            .bind(tool)
            .bind(digest)
            .bind(definition)
            .bind(approved_by)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::on_both_engines;

    on_both_engines! {
        async fn pins_replace_what_was_pinned(s: Store) {
            assert!(s.mcp_pins("files").await.unwrap().is_empty());
            let first = vec![
                ("read".to_string(), "sha256:1".to_string(), "{}".to_string()),
                ("write".to_string(), "sha256:2".to_string(), "{}".to_string()),
            ];
            s.pin_mcp_tools("files", &first, "admin", 10).await.unwrap();
            s.pin_mcp_tools("other", &first[..1], "admin", 10).await.unwrap();
            let pins = s.mcp_pins("files").await.unwrap();
            assert_eq!(pins.iter().map(|p| p.tool.as_str()).collect::<Vec<_>>(), ["read", "write"]);
            assert_eq!(pins[1].digest, "sha256:2");
            // Approved again without `write`: it is no longer pinned; the other server's pins stay.
            let second = vec![("read".to_string(), "sha256:3".to_string(), "{\"d\":1}".to_string())];
            s.pin_mcp_tools("files", &second, "root", 20).await.unwrap();
            let pins = s.mcp_pins("files").await.unwrap();
            assert_eq!(pins.len(), 1);
            assert_eq!((pins[0].digest.as_str(), pins[0].approved_by.as_str(), pins[0].approved_ms), ("sha256:3", "root", 20));
            assert_eq!(s.mcp_pins("other").await.unwrap().len(), 1);
        }
    }
}

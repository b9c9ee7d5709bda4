//! The audit trail's hash chain: how a record's hash is computed, and how the whole trail is
//! verified so that any modified, deleted, inserted or reordered record is found.

use futures_util::TryStreamExt;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::{Store, StoreError};

/// The `prev_hash` of the first record.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// SHA-256 over a length-prefixed encoding of the record and its predecessor's hash.
///
/// Length prefixes make the encoding unambiguous: no shifting of bytes between fields can
/// produce the same input. The payload is hashed as the exact text stored.
pub fn chain_hash(
    prev_hash: &str,
    seq: i64,
    trace_id: &str,
    ts: &str,
    stage: &str,
    actor: &str,
    payload: &str,
) -> String {
    let mut h = Sha256::new();
    h.update(b"warden.audit.v1\0");
    h.update(seq.to_be_bytes());
    for field in [prev_hash, trace_id, ts, stage, actor, payload] {
        h.update((field.len() as u64).to_be_bytes());
        h.update(field.as_bytes());
    }
    hex(&h.finalize())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

/// The result of walking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct VerifyReport {
    /// Records read.
    pub records: u64,
    /// Hash of the last good record.
    pub head: String,
    /// The first record that breaks the chain, and how.
    pub first_bad: Option<BadRecord>,
}

/// Where and how the chain breaks.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BadRecord {
    pub seq: i64,
    pub trace_id: String,
    pub problem: String,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.first_bad.is_none()
    }
}

impl Store {
    /// Walks the audit trail in order and checks every link, then the recorded chain head.
    ///
    /// The walk and the head are read in one snapshot (a read transaction; REPEATABLE READ on
    /// PostgreSQL), so a trail that gateways keep appending to while it is verified is judged
    /// as it stood at one instant: a head that moved on during the walk is not a removed tail.
    pub async fn verify_chain(&self) -> Result<VerifyReport, StoreError> {
        let mut tx = self.pool().begin().await?;
        if self.is_postgres() {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        let mut rows = sqlx::query(
            "SELECT seq, trace_id, ts, stage, actor, payload, prev_hash, hash FROM audit_events ORDER BY seq",
        )
        .fetch(&mut *tx);
        let mut expected_seq = 1i64;
        let mut prev = GENESIS_HASH.to_string();
        let mut records = 0u64;
        let bad = |seq: i64, trace_id: String, problem: String, records, head: String| VerifyReport {
            records,
            head,
            first_bad: Some(BadRecord {
                seq,
                trace_id,
                problem,
            }),
        };
        while let Some(row) = rows.try_next().await? {
            let seq: i64 = row.try_get(0)?;
            let trace_id: String = row.try_get(1)?;
            let ts: String = row.try_get(2)?;
            let stage: String = row.try_get(3)?;
            let actor: String = row.try_get(4)?;
            let payload: String = row.try_get(5)?;
            let prev_hash: String = row.try_get(6)?;
            let hash: String = row.try_get(7)?;
            if seq != expected_seq {
                let problem = if seq > expected_seq {
                    format!(
                        "sequence jumps from {} to {seq}: records deleted",
                        expected_seq - 1
                    )
                } else {
                    format!("sequence goes back to {seq} after {}", expected_seq - 1)
                };
                return Ok(bad(seq, trace_id, problem, records, prev));
            }
            if prev_hash != prev {
                let problem = "prev_hash does not match the previous record's hash: a record before it was deleted, inserted or reordered".to_string();
                return Ok(bad(seq, trace_id, problem, records, prev));
            }
            let recomputed = chain_hash(&prev_hash, seq, &trace_id, &ts, &stage, &actor, &payload);
            if recomputed != hash {
                let problem = "hash does not match the record's content: the record was modified".to_string();
                return Ok(bad(seq, trace_id, problem, records, prev));
            }
            prev = hash;
            expected_seq += 1;
            records += 1;
        }
        drop(rows);
        // The head row catches what the walk cannot: records cut off the end of the chain.
        let head: Option<(i64, String)> = sqlx::query_as("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(&mut *tx)
            .await?;
        tx.rollback().await?;
        match head {
            Some((seq, hash)) if seq != expected_seq - 1 || hash != prev => Ok(bad(
                seq,
                String::new(),
                format!(
                    "the chain ends at record {} but its recorded head is record {seq}: records were removed from the end or the head was altered",
                    expected_seq - 1
                ),
                records,
                prev,
            )),
            None if records > 0 => Ok(bad(
                expected_seq - 1,
                String::new(),
                "the chain head row is missing".into(),
                records,
                prev,
            )),
            _ => Ok(VerifyReport {
                records,
                head: prev,
                first_bad: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_field_change_changes_the_hash() {
        let base = chain_hash(GENESIS_HASH, 1, "t", "ts", "stage", "actor", "{}");
        assert_ne!(
            base,
            chain_hash(GENESIS_HASH, 2, "t", "ts", "stage", "actor", "{}")
        );
        assert_ne!(
            base,
            chain_hash(GENESIS_HASH, 1, "t", "ts", "stag", "eactor", "{}")
        );
        assert_ne!(
            base,
            chain_hash(GENESIS_HASH, 1, "t", "ts", "stage", "actor", "{ }")
        );
        assert_eq!(base.len(), 64);
    }
}

//! Client sessions of the MCP endpoint: made by `initialize`, named by an unguessable id the
//! client sends back as `Mcp-Session-Id`, bound to the key that made it and the server it
//! reached, and forgotten when idle too long or ended by the client. A session id presented
//! with another key, or for another server, is unknown. One key holds a bounded number of
//! sessions: a client that opens sessions without ending them loses its own oldest, not
//! everyone else's.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One client session.
#[derive(Debug)]
pub struct McpSession {
    pub id: String,
    pub server: String,
    pub key_id: String,
    pub protocol_version: String,
    /// The client accepts URL-mode elicitation (an approval link it can open).
    pub url_elicitation: bool,
    pub trace_id: String,
    last_used_ms: AtomicI64,
}

/// Every open session.
pub struct Sessions {
    open: Mutex<HashMap<String, Arc<McpSession>>>,
    idle: Duration,
    max: usize,
    per_key: usize,
}

/// Why a session was not opened.
#[derive(Debug)]
pub struct TooManySessions;

impl Sessions {
    pub fn new(idle: Duration, max: usize, per_key: usize) -> Sessions {
        Sessions {
            open: Mutex::new(HashMap::new()),
            idle,
            max,
            per_key: per_key.max(1),
        }
    }

    /// Opens a session (forgetting idle ones first).
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        &self,
        id: String,
        server: &str,
        key_id: &str,
        protocol_version: &str,
        url_elicitation: bool,
        trace_id: &str,
        now_ms: i64,
    ) -> Result<Arc<McpSession>, TooManySessions> {
        let session = Arc::new(McpSession {
            id: id.clone(),
            server: server.to_string(),
            key_id: key_id.to_string(),
            protocol_version: protocol_version.to_string(),
            url_elicitation,
            trace_id: trace_id.to_string(),
            last_used_ms: AtomicI64::new(now_ms),
        });
        let mut open = self.open.lock().map_err(|_| TooManySessions)?;
        let idle_ms = self.idle.as_millis() as i64;
        open.retain(|_, s| now_ms - s.last_used_ms.load(Ordering::Relaxed) < idle_ms);
        let mine: Vec<(&String, i64)> = open
            .iter()
            .filter(|(_, s)| s.key_id == key_id)
            .map(|(id, s)| (id, s.last_used_ms.load(Ordering::Relaxed)))
            .collect();
        if mine.len() >= self.per_key
            && let Some(oldest) = mine
                .iter()
                .min_by_key(|(_, used)| *used)
                .map(|(id, _)| (*id).clone())
        {
            open.remove(&oldest);
        }
        if open.len() >= self.max {
            return Err(TooManySessions);
        }
        open.insert(id, session.clone());
        Ok(session)
    }

    /// The session `id`, if open, not idle too long, and made by this key for this server.
    pub fn get(&self, id: &str, server: &str, key_id: &str, now_ms: i64) -> Option<Arc<McpSession>> {
        let mut open = self.open.lock().ok()?;
        let session = open.get(id)?.clone();
        if now_ms - session.last_used_ms.load(Ordering::Relaxed) >= self.idle.as_millis() as i64 {
            open.remove(id);
            return None;
        }
        if session.server != server || session.key_id != key_id {
            return None;
        }
        session.last_used_ms.store(now_ms, Ordering::Relaxed);
        Some(session)
    }

    /// Ends a session; whether it was open for this key and server.
    pub fn close(&self, id: &str, server: &str, key_id: &str) -> bool {
        let Ok(mut open) = self.open.lock() else {
            return false;
        };
        let mine = open
            .get(id)
            .is_some_and(|s| s.server == server && s.key_id == key_id);
        if mine {
            open.remove(id);
        }
        mine
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_belong_to_their_key_and_server_and_expire() {
        let sessions = Sessions::new(Duration::from_secs(10), 2, 5);
        sessions
            .open("a".into(), "files", "k1", "2025-11-25", false, "t", 0)
            .expect("open");
        assert!(sessions.get("a", "files", "k1", 5_000).is_some());
        assert!(sessions.get("a", "files", "k2", 5_000).is_none());
        assert!(sessions.get("a", "other", "k1", 5_000).is_none());
        // Used at 5 s, so still open at 14 s; idle past 10 s after that, gone.
        assert!(sessions.get("a", "files", "k1", 14_000).is_some());
        assert!(sessions.get("a", "files", "k1", 24_001).is_none());
        sessions
            .open("b".into(), "files", "k1", "v", false, "t", 30_000)
            .expect("open");
        sessions
            .open("c".into(), "files", "k1", "v", false, "t", 30_000)
            .expect("open");
        assert!(
            sessions
                .open("d".into(), "files", "k1", "v", false, "t", 30_000)
                .is_err()
        );
        assert!(!sessions.close("b", "files", "k2"));
        assert!(sessions.close("b", "files", "k1"));
        assert!(sessions.get("b", "files", "k1", 30_001).is_none());
    }

    #[test]
    fn a_key_past_its_share_loses_its_own_oldest_session() {
        let sessions = Sessions::new(Duration::from_secs(60), 10, 2);
        sessions
            .open("a".into(), "files", "k1", "v", false, "t", 0)
            .expect("open");
        sessions
            .open("b".into(), "files", "k1", "v", false, "t", 1)
            .expect("open");
        sessions
            .open("x".into(), "files", "k2", "v", false, "t", 2)
            .expect("open");
        // `a` was used last; `b` is the oldest of k1's and makes way.
        assert!(sessions.get("a", "files", "k1", 3).is_some());
        sessions
            .open("c".into(), "files", "k1", "v", false, "t", 4)
            .expect("open");
        assert!(sessions.get("b", "files", "k1", 5).is_none());
        assert!(sessions.get("a", "files", "k1", 5).is_some());
        assert!(sessions.get("c", "files", "k1", 5).is_some());
        assert!(sessions.get("x", "files", "k2", 5).is_some());
    }
}

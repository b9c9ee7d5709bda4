//! Session memory. An agent that keeps a session on its side (OpenAI `user`,
//! `x-openclaw-session-key`) holds the earlier turns though the client sends only the latest
//! one, so "yes, go ahead" may confirm a plan Warden never sees in the request. Warden keeps,
//! per session, the last turns it let through and the agent's answers to them (masked, as
//! they were judged), and judges a new request with them in front. Turns it blocked or that
//! still wait for a person never reached the agent and are not kept. The memory lives in the
//! store, so every replica judges a session alike.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use warden_policy::{Speaker, Turn};
use warden_store::{SessionWrite, Store};

use crate::clock::Clock;
use crate::config::SessionsConfig;

/// A remembered turn keeps its start and its end, up to this many characters each: a request
/// says what it wants at the start, a proposal asks for a go-ahead at the end.
const KEPT_CHARS: usize = 2_000;

/// Sessions a gateway on SQLite keeps in memory at most.
const CACHED_SESSIONS: usize = 10_000;

/// How often forgotten sessions are purged.
const PURGE_EVERY: Duration = Duration::from_secs(600);

/// One turn the agent's session holds, as it was judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Remembered {
    pub speaker: Speaker,
    pub text: String,
}

impl Remembered {
    pub fn new(speaker: Speaker, text: &str) -> Remembered {
        Remembered {
            speaker,
            text: ends(text),
        }
    }

    pub fn turn(&self) -> Turn<'_> {
        Turn::new(self.speaker, self.text.as_str())
    }
}

/// `text`, or its start and end when it is long.
fn ends(text: &str) -> String {
    let chars = text.chars().count();
    if chars <= 2 * KEPT_CHARS {
        return text.to_string();
    }
    let head: String = text.chars().take(KEPT_CHARS).collect();
    let tail: String = text.chars().skip(chars - KEPT_CHARS).collect();
    format!("{head}\n…\n{tail}")
}

/// The session memory of one gateway.
#[derive(Debug)]
pub struct SessionMemory {
    store: Store,
    clock: Clock,
    turns: usize,
    ttl_ms: i64,
    /// On SQLite, where one gateway owns the store, the sessions it read or wrote lately, so
    /// that a session's next request is judged without a database read. Replicas on
    /// PostgreSQL read the store every time: another replica may have written since.
    cache: Option<Mutex<HashMap<String, Cached>>>,
}

/// A session as this gateway last read or wrote it.
#[derive(Debug)]
struct Cached {
    turns: Vec<Remembered>,
    at_ms: i64,
}

impl SessionMemory {
    pub fn new(store: Store, clock: Clock, config: &SessionsConfig) -> SessionMemory {
        SessionMemory {
            clock,
            turns: config.memory_turns,
            ttl_ms: i64::try_from(config.memory_ttl.as_millis()).unwrap_or(i64::MAX),
            cache: (store.engine_name() == "sqlite").then(Mutex::default),
            store,
        }
    }

    fn cached(&self, key: &str, since: i64) -> Option<Vec<Remembered>> {
        let cache = self.cache.as_ref()?.lock().ok()?;
        cache
            .get(key)
            .filter(|c| c.at_ms >= since)
            .map(|c| c.turns.clone())
    }

    fn cache(&self, key: &str, turns: Vec<Remembered>, at_ms: i64) {
        let Some(Ok(mut cache)) = self.cache.as_ref().map(Mutex::lock) else {
            return;
        };
        if cache.len() >= CACHED_SESSIONS && !cache.contains_key(key) {
            // Forget the sessions unused longest: half of them, so that this runs rarely.
            let mut ages: Vec<i64> = cache.values().map(|c| c.at_ms).collect();
            ages.sort_unstable();
            let cut = ages[ages.len() / 2];
            cache.retain(|_, c| c.at_ms > cut);
        }
        cache.insert(key.to_string(), Cached { turns, at_ms });
    }

    pub fn enabled(&self) -> bool {
        self.turns > 0
    }

    /// The turns remembered for `session`. A store that cannot answer leaves the request
    /// judged on its own turns (its decision cannot be recorded either, so it will not run).
    pub async fn recall(&self, session: &str) -> Vec<Remembered> {
        let now = self.clock.now_ms();
        let since = now.saturating_sub(self.ttl_ms);
        let key = key(session);
        if let Some(turns) = self.cached(&key, since) {
            return turns;
        }
        let turns = match self.store.session_memory(&key, since).await {
            Ok(Some(json)) => serde_json::from_str(&json).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "a session's memory could not be read; judged without it");
                Vec::new()
            }),
            Ok(None) => Vec::new(),
            Err(e) => {
                tracing::warn!(error = %e, "session memory unavailable; judged without it");
                return Vec::new();
            }
        };
        self.cache(&key, turns.clone(), now);
        turns
    }

    /// What `session` will hold once this request has run: what it held, then the request's
    /// turns it did not hold yet (a client may resend its history).
    pub fn pending(
        self: &Arc<Self>,
        session: String,
        held: &[Remembered],
        request: Vec<Remembered>,
    ) -> PendingMemory {
        let mut turns = held.to_vec();
        for turn in request {
            if !held.contains(&turn) {
                turns.push(turn);
            }
        }
        PendingMemory {
            memory: self.clone(),
            session,
            turns,
        }
    }

    /// Forgets, now and then, sessions unused for longer than the memory lasts.
    pub fn spawn_purger(self: Arc<Self>) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PURGE_EVERY);
            loop {
                tick.tick().await;
                let before = self.clock.now_ms().saturating_sub(self.ttl_ms);
                if let Err(e) = self.store.purge_session_memory(before).await {
                    tracing::warn!(error = %e, "forgotten sessions not purged");
                }
            }
        });
    }
}

/// What a session will remember once the agent has answered.
#[derive(Debug)]
pub struct PendingMemory {
    memory: Arc<SessionMemory>,
    session: String,
    turns: Vec<Remembered>,
}

impl PendingMemory {
    /// What the session holds once the agent has answered `answer` (masked, as it was sent to
    /// the client), for the audit writer to write beside the request's closing record.
    pub fn ready(mut self, answer: Option<&str>) -> SessionWrite {
        if let Some(answer) = answer.filter(|a| !a.trim().is_empty() && !relays_a_hook_decision(a)) {
            self.turns.push(Remembered::new(Speaker::Assistant, answer));
        }
        let skip = self.turns.len().saturating_sub(self.memory.turns);
        let kept = self.turns.split_off(skip);
        let write = SessionWrite {
            session: key(&self.session),
            turns: serde_json::to_string(&kept).unwrap_or_else(|_| "[]".into()),
            updated_ms: self.memory.clock.now_ms(),
        };
        self.memory.cache(&write.session, kept, write.updated_ms);
        write
    }
}

/// What Warden's OpenClaw plugin tells the agent when Warden's hook denies or holds one of its
/// tool calls (integrations/openclaw/index.js).
const HOOK_DECISIONS: [&str; 3] = [
    "Warden: tool call denied by policy",
    "Warden: tool call needs a person's approval",
    "Warden: tool call blocked",
];

/// Whether an answer reports a tool call Warden's hook decided. Such a turn is not remembered:
/// its calls were governed one by one, and "try again" sends them through the hook again (an
/// approved call is let through once), so judging its prose as a plan the user confirms
/// would ask twice for the same action, and on words that are Warden's own ("approval",
/// "run a command").
fn relays_a_hook_decision(answer: &str) -> bool {
    HOOK_DECISIONS.iter().any(|d| answer.contains(d))
}

/// The stored name of a session: a digest, so the store holds no session names.
fn key(session: &str) -> String {
    crate::hex::hex(&Sha256::digest(session.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_relaying_a_hook_decision_is_recognised() {
        assert!(relays_a_hook_decision(
            "I asked to run a command. Outcome: Warden: tool call needs a person's approval: approval request 1 is waiting"
        ));
        assert!(!relays_a_hook_decision("I'll wire $50,000 now. Shall I?"));
    }

    #[test]
    fn the_hook_decisions_are_the_plugins_own_words() {
        // The plugin writes `Warden: ${reason}`; a change of wording there must be made here.
        let plugin = include_str!("../../../../integrations/openclaw/index.js");
        assert!(plugin.contains("blockReason: `Warden: ${reason}`"));
        for decision in HOOK_DECISIONS {
            let reason = decision.trim_start_matches("Warden: ");
            assert!(plugin.contains(reason), "{reason}");
        }
    }

    #[test]
    fn a_long_turn_keeps_its_start_and_its_end() {
        let text = format!("{}{}{}", "a".repeat(3_000), "b".repeat(3_000), "c".repeat(3_000));
        let kept = ends(&text);
        assert!(kept.starts_with(&"a".repeat(2_000)));
        assert!(kept.ends_with(&"c".repeat(2_000)));
        assert!(!kept.contains('b'));
        assert_eq!(ends("short"), "short");
    }
}

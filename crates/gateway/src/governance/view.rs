//! The governed view of a request: the body and headers that will be sent upstream, built by
//! the surface from what it validated, and the list of every text in them that the model or a
//! tool will read, each with who it comes from. The core judges and redacts those texts in
//! place, so what is forwarded is exactly what was judged.

use serde_json::{Map, Value};
use warden_policy::Speaker;

/// Where a judged text lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum At {
    /// A JSON pointer into the body: a string, or an object or array whose every string (and
    /// every key that is not a plain identifier) is read.
    Body(String),
    /// One of the view's upstream headers, by index.
    Header(usize),
}

/// One text the upstream will read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub at: At,
    pub speaker: Speaker,
    /// Which turn of the conversation it belongs to (a message index); texts of one turn are
    /// judged together.
    pub turn: u32,
    /// Whether the policy reads it. Structure (roles, types, ids the surface validated) is
    /// scanned for secrets like every other string, but not judged as words.
    pub judged: bool,
}

/// What is judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A conversation: the latest turn, with its history as context.
    Conversation,
    /// One tool call, by its folded name.
    ToolCall { tool: String, action: Option<String> },
}

/// A request as Warden judges and forwards it.
#[derive(Debug, Clone)]
pub struct View {
    /// The body to send upstream (the core may still add its governance messages).
    pub body: Map<String, Value>,
    /// Headers to send upstream beside the body.
    pub headers: Vec<(&'static str, String)>,
    /// Every text in `body` and `headers` the model or a tool reads, in reading order.
    pub slots: Vec<Slot>,
    pub subject: Subject,
    /// The agent the request reaches, for rules scoped to models.
    pub agent: Option<String>,
    pub stream: bool,
    /// Refused on this surface regardless of the policy: `/tools/invoke`'s HTTP deny list.
    pub http_surface: bool,
    /// Judge and record, but do not run (`dryRun`).
    pub dry_run: bool,
    /// Whether data-loss prevention redacts what it finds before judging and forwarding. A
    /// tool call is judged with its secrets in view instead: a call that carries one is
    /// refused, since a redacted argument would make the tool do something else.
    pub redact: bool,
    /// What the classification record says of the request, besides the texts (model, agent,
    /// session...). Secrets are masked before it is written.
    pub facts: Map<String, Value>,
    /// The agent-side session the request continues, by the name the agent knows it by
    /// (namespaced), when it names one.
    pub session: Option<String>,
    /// The turns that session already holds, judged in front of the request's own.
    pub remembered: Vec<super::memory::Remembered>,
    /// A tier the surface's own configuration sets under this call (an MCP server's `tiers`),
    /// named by its rule id and the reason given: the arguments may raise it, never lower it.
    pub floor: Option<Floor>,
}

/// A configured minimum tier for one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Floor {
    pub rule: String,
    pub tier: warden_policy::Risk,
    pub reason: String,
}

impl View {
    pub fn new(subject: Subject) -> View {
        View {
            body: Map::new(),
            headers: Vec::new(),
            slots: Vec::new(),
            subject,
            agent: None,
            stream: false,
            http_surface: false,
            dry_run: false,
            redact: true,
            facts: Map::new(),
            session: None,
            remembered: Vec::new(),
            floor: None,
        }
    }

    /// Registers a text at `pointer` (which must exist in `body` by the time it is judged).
    pub fn text(&mut self, pointer: String, speaker: Speaker, turn: u32) {
        self.slots.push(Slot {
            at: At::Body(pointer),
            speaker,
            turn,
            judged: true,
        });
    }

    /// Adds an upstream header whose value is read (and so judged).
    pub fn header(&mut self, name: &'static str, value: String, speaker: Speaker) {
        self.headers.push((name, value));
        self.slots.push(Slot {
            at: At::Header(self.headers.len() - 1),
            speaker,
            turn: u32::MAX,
            judged: true,
        });
    }

    /// Registers every string of the body no slot covers yet (the structure the surface
    /// validated: roles, types, ids) as an unjudged slot, so that nothing in the forwarded body
    /// escapes the scan for secrets.
    pub fn cover_the_rest(&mut self) {
        let covered: std::collections::HashSet<&str> = self
            .slots
            .iter()
            .filter_map(|s| match &s.at {
                At::Body(p) => Some(p.as_str()),
                At::Header(_) => None,
            })
            .collect();
        // A leaf is covered when it, or an object or array it lies in, is a slot.
        let inside = |pointer: &str| {
            covered.contains(pointer)
                || pointer
                    .match_indices('/')
                    .skip(1)
                    .any(|(at, _)| covered.contains(&pointer[..at]))
        };
        let mut uncovered = Vec::new();
        for (key, value) in &self.body {
            collect_leaves(value, format!("/{}", escape(key)), &mut |p| {
                if !inside(&p) {
                    uncovered.push(p);
                }
            });
        }
        for pointer in uncovered {
            self.slots.push(Slot {
                at: At::Body(pointer),
                speaker: Speaker::Parameter,
                turn: u32::MAX,
                judged: false,
            });
        }
    }

    /// Every string leaf under the slots, in order: `(slot index, where)`.
    pub fn leaves(&self) -> Vec<(usize, Leaf)> {
        let mut out = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            match &slot.at {
                At::Header(h) => out.push((i, Leaf::Header(*h))),
                At::Body(pointer) => {
                    if let Some(value) = pointer_get(&self.body, pointer) {
                        collect_leaves(value, pointer.clone(), &mut |p| out.push((i, Leaf::Body(p))));
                    }
                }
            }
        }
        out
    }

    /// Object keys under the slots that are not plain identifiers: text the model reads too.
    pub fn odd_keys(&self) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        for (i, slot) in self.slots.iter().enumerate() {
            if let At::Body(pointer) = &slot.at
                && let Some(value) = pointer_get(&self.body, pointer)
            {
                collect_odd_keys(value, &mut |k| out.push((i, k.to_string())));
            }
        }
        out
    }

    pub fn leaf(&self, leaf: &Leaf) -> Option<&str> {
        match leaf {
            Leaf::Header(h) => self.headers.get(*h).map(|(_, v)| v.as_str()),
            Leaf::Body(p) => pointer_get(&self.body, p).and_then(Value::as_str),
        }
    }

    pub fn set_leaf(&mut self, leaf: &Leaf, text: String) {
        match leaf {
            Leaf::Header(h) => {
                if let Some((_, v)) = self.headers.get_mut(*h) {
                    *v = text;
                }
            }
            Leaf::Body(p) => {
                if let Some(v) = pointer_get_mut(&mut self.body, p) {
                    *v = Value::String(text);
                }
            }
        }
    }
}

/// One string the upstream reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leaf {
    Body(String),
    Header(usize),
}

/// Whether an object key is structure (`content`, `max_tokens`, `Content-Type`) rather than
/// text: identifiers are not judged; anything else is.
pub fn is_identifier(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'$' | b'@' | b':'))
}

fn pointer_get<'a>(body: &'a Map<String, Value>, pointer: &str) -> Option<&'a Value> {
    let (first, rest) = split_pointer(pointer)?;
    let value = body.get(first.as_ref())?;
    if rest.is_empty() {
        Some(value)
    } else {
        value.pointer(rest)
    }
}

fn pointer_get_mut<'a>(body: &'a mut Map<String, Value>, pointer: &str) -> Option<&'a mut Value> {
    let (first, rest) = split_pointer(pointer)?;
    let value = body.get_mut(first.as_ref())?;
    if rest.is_empty() {
        Some(value)
    } else {
        value.pointer_mut(rest)
    }
}

/// `/a/b/c` into the unescaped `a` and `/b/c`.
fn split_pointer(pointer: &str) -> Option<(std::borrow::Cow<'_, str>, &str)> {
    let rest = pointer.strip_prefix('/')?;
    let (first, rest) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, ""),
    };
    let first = if first.contains('~') {
        std::borrow::Cow::Owned(first.replace("~1", "/").replace("~0", "~"))
    } else {
        std::borrow::Cow::Borrowed(first)
    };
    Some((first, rest))
}

/// A key as a JSON pointer segment.
pub fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn collect_leaves(value: &Value, pointer: String, out: &mut dyn FnMut(String)) {
    match value {
        Value::String(_) => out(pointer),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_leaves(item, format!("{pointer}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                collect_leaves(item, format!("{pointer}/{}", escape(key)), out);
            }
        }
        _ => {}
    }
}

fn collect_odd_keys(value: &Value, out: &mut dyn FnMut(&str)) {
    match value {
        Value::Array(items) => items.iter().for_each(|i| collect_odd_keys(i, out)),
        Value::Object(map) => {
            for (key, item) in map {
                if !is_identifier(key) {
                    out(key);
                }
                collect_odd_keys(item, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leaves_are_every_string_under_each_slot_in_order() {
        let mut view = View::new(Subject::Conversation);
        view.body = match json!({"messages": [{"role": "user", "content": "hi"}],
                                  "tools": [{"function": {"description": "d", "parameters": {"a b": {"x": "y"}}}}]})
        {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        view.text("/messages/0/content".into(), Speaker::User, 0);
        view.text("/tools/0".into(), Speaker::Definition, 1);
        view.header("x-openclaw-session-key", "s".into(), Speaker::Parameter);
        let leaves: Vec<String> = view
            .leaves()
            .iter()
            .filter_map(|(_, l)| view.leaf(l).map(str::to_string))
            .collect();
        assert_eq!(leaves, ["hi", "d", "y", "s"]);
        assert_eq!(view.odd_keys(), [(1, "a b".to_string())]);
        let (_, first) = view.leaves()[0].clone();
        view.set_leaf(&first, "changed".into());
        assert_eq!(view.body["messages"][0]["content"], "changed");
    }

    #[test]
    fn the_rest_of_the_body_is_covered_unjudged() {
        let mut view = View::new(Subject::Conversation);
        view.body = match json!({"messages": [{"role": "tool", "tool_call_id": "call_1", "content": "ok"}],
                                  "tools": [{"type": "function", "function": {"name": "f"}}], "n": 1})
        {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        view.text("/messages/0/content".into(), Speaker::Tool, 0);
        view.text("/tools/0".into(), Speaker::Definition, 1);
        view.cover_the_rest();
        let extra: Vec<String> = view
            .slots
            .iter()
            .filter(|s| !s.judged)
            .filter_map(|s| match &s.at {
                At::Body(p) => Some(p.clone()),
                At::Header(_) => None,
            })
            .collect();
        assert_eq!(extra, ["/messages/0/role", "/messages/0/tool_call_id"]);
    }

    #[test]
    fn pointers_unescape_their_first_segment() {
        let body = match json!({"a/b": {"c": "x"}}) {
            Value::Object(m) => m,
            _ => unreachable!(),
        };
        assert_eq!(pointer_get(&body, "/a~1b/c"), Some(&json!("x")));
    }
}

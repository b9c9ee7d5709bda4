//! What an approval is bound to: the SHA-256 of a canonical encoding of what the request will
//! do, as the surface that governs it describes it (the forwarded view, not the bytes sent).
//! Keys are sorted, so the same request always has the same digest however its JSON was
//! written.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Digest of `fields` of a view's body (those that say what the request does; knobs such as
/// `temperature` or `stream` are left out) and its upstream headers, under `kind`.
pub fn view_digest(
    kind: &str,
    body: &Map<String, Value>,
    fields: &[&str],
    headers: &[(&'static str, String)],
) -> String {
    let mut canonical = Map::new();
    canonical.insert("kind".into(), json!(kind));
    for field in fields {
        canonical.insert(
            (*field).to_string(),
            body.get(*field).cloned().unwrap_or(Value::Null),
        );
    }
    let headers: Map<String, Value> = headers
        .iter()
        .map(|(name, value)| (name.to_string(), json!(value)))
        .collect();
    canonical.insert("headers".into(), Value::Object(headers));
    digest(&Value::Object(canonical))
}

/// Where a tool call runs, as its view's body names it: the agent and the session.
pub fn tool_place(body: &Map<String, Value>) -> Value {
    json!({"agent": body.get("agentId"), "session": body.get("sessionKey")})
}

/// Digest of a tool call: the tool, its arguments and where it runs (agent and session), so
/// an approval of one session's call is not another session's.
pub fn tool_digest(tool: &str, args: &Value, place: &Value) -> String {
    digest(&json!({"kind": "tool", "tool": tool, "args": args, "place": place}))
}

/// SHA-256 of the canonical encoding of `canonical`, as `sha256:<hex>`.
pub fn digest(canonical: &Value) -> String {
    let mut text = String::new();
    write_canonical(canonical, &mut text);
    format!("sha256:{}", crate::hex::hex(&Sha256::digest(text.as_bytes())))
}

/// JSON with object keys sorted at every level, written without spaces: the same value
/// always gives the same bytes, whatever order its keys arrived in.
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*key).clone()).to_string());
                out.push(':');
                write_canonical(&map[*key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(text: &str) -> Map<String, Value> {
        match serde_json::from_str(text) {
            Ok(Value::Object(m)) => m,
            _ => panic!("object"),
        }
    }

    #[test]
    fn same_request_same_digest_whatever_the_key_order() {
        let fields = ["model", "messages"];
        let a = body(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.2}"#);
        let b = body(r#"{"temperature":0.9,"messages":[{"content":"hi","role":"user"}],"model":"m"}"#);
        assert_eq!(
            view_digest("chat", &a, &fields, &[]),
            view_digest("chat", &b, &fields, &[])
        );
        let c = body(r#"{"model":"m","messages":[{"role":"user","content":"hi!"}]}"#);
        assert_ne!(
            view_digest("chat", &a, &fields, &[]),
            view_digest("chat", &c, &fields, &[])
        );
        let agent = [("x-openclaw-agent-id", "finance".to_string())];
        assert_ne!(
            view_digest("chat", &a, &fields, &[]),
            view_digest("chat", &a, &fields, &agent)
        );
    }
}

//! What an approval is bound to: the SHA-256 of a canonical encoding of the request. For a chat
//! completion, the model, the messages and the tools; keys are sorted, so the same request
//! always has the same digest however its JSON was written.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Digest of a chat request body (as received, before Warden adds its system messages).
pub fn chat_digest(body: &Map<String, Value>) -> String {
    let canonical = json!({
        "kind": "chat",
        "model": body.get("model"),
        "messages": body.get("messages"),
        "tools": body.get("tools"),
        "tool_choice": body.get("tool_choice"),
        "functions": body.get("functions"),
    });
    digest(&canonical)
}

/// Digest of a tool call: the tool and its arguments.
pub fn tool_digest(tool: &str, args: &Value) -> String {
    digest(&json!({"kind": "tool", "tool": tool, "args": args}))
}

fn digest(canonical: &Value) -> String {
    let mut text = String::new();
    write_canonical(canonical, &mut text);
    let hash = Sha256::digest(text.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
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
        let a = body(r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":0.2}"#);
        let b = body(r#"{"temperature":0.9,"messages":[{"content":"hi","role":"user"}],"model":"m"}"#);
        assert_eq!(chat_digest(&a), chat_digest(&b));
        let c = body(r#"{"model":"m","messages":[{"role":"user","content":"hi!"}]}"#);
        assert_ne!(chat_digest(&a), chat_digest(&c));
    }
}

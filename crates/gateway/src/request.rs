//! Parsing a chat completion request into the governed view: validated fields, the text to
//! judge, the upstream model, and the OpenClaw routing headers. Unknown fields are kept and
//! forwarded untouched.

use axum::http::HeaderMap;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::ApiError;

/// Session key prefixes OpenClaw reserves for its own runs; a client may not claim them.
const RESERVED_SESSION_PREFIXES: [&str; 3] = ["cron:", "subagent:", "acp:"];

/// A validated chat completion request.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    /// The body as sent, as a JSON object.
    pub body: Map<String, Value>,
    /// The client's model name.
    pub model: String,
    /// The upstream model it maps to.
    pub upstream_model: String,
    pub stream: bool,
    pub user: Option<String>,
    pub agent_id: Option<String>,
    pub session_key: Option<String>,
    /// OpenClaw's `x-openclaw-model`: the backend model the agent should use.
    pub backend_model: Option<String>,
    /// What the policy judges as the request: the latest user turn and everything after it
    /// (tool results, the tool calls requested), the assistant's own prose excepted.
    pub text: String,
    /// What came before it, and the client's system and developer messages: judged too, but
    /// only a red finding there counts (an instruction smuggled into the history), so that a
    /// system prompt that mentions e-mail does not hold every request.
    pub context: String,
    pub message_count: usize,
    /// SHA-256 of the body as received, binding the audit record to the exact request.
    pub digest: String,
    /// What data-loss prevention found and did (set by the pipeline before classifying).
    pub dlp: Value,
    /// `text` and `context` as audit records keep them: every secret masked.
    pub recorded_text: String,
    pub recorded_context: String,
}

impl ChatRequest {
    /// Validates `raw` (already within the size limit) and `headers`.
    pub fn parse(raw: &[u8], headers: &HeaderMap, config: &Config) -> Result<ChatRequest, ApiError> {
        let text = std::str::from_utf8(raw).map_err(|e| {
            ApiError::bad_request(
                format!(
                    "The request body is not valid UTF-8 (invalid byte at offset {}).",
                    e.valid_up_to()
                ),
                None,
                "invalid_encoding",
            )
        })?;
        let value: Value = serde_json::from_str(text).map_err(|e| {
            ApiError::bad_request(
                format!("The request body is not valid JSON: {e}."),
                None,
                "invalid_json",
            )
        })?;
        let Value::Object(body) = value else {
            return Err(ApiError::bad_request(
                "The request body must be a JSON object.",
                None,
                "invalid_type",
            ));
        };

        let model = match body.get("model") {
            Some(Value::String(m)) if !m.is_empty() => m.clone(),
            Some(Value::String(_)) | None => {
                return Err(ApiError::bad_request(
                    "`model` is required.",
                    Some("model"),
                    "missing_required_parameter",
                ));
            }
            Some(other) => return Err(wrong_type("model", "a string", other)),
        };
        let stream = match body.get("stream") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => return Err(wrong_type("stream", "a boolean", other)),
        };
        let user = match body.get("user") {
            None | Some(Value::Null) => None,
            Some(Value::String(u)) => Some(u.clone()),
            Some(other) => return Err(wrong_type("user", "a string", other)),
        };
        let messages = match body.get("messages") {
            Some(Value::Array(m)) if !m.is_empty() => m,
            Some(Value::Array(_)) | None => {
                return Err(ApiError::bad_request(
                    "`messages` must hold at least one message.",
                    Some("messages"),
                    "missing_required_parameter",
                ));
            }
            Some(other) => return Err(wrong_type("messages", "an array", other)),
        };
        let last_user = messages
            .iter()
            .rposition(|m| m.get("role").and_then(Value::as_str) == Some("user"))
            .unwrap_or(0);
        let mut judged = String::new();
        let mut context = String::new();
        for (i, message) in messages.iter().enumerate() {
            let is_instruction = matches!(
                message.get("role").and_then(Value::as_str),
                Some("system") | Some("developer")
            );
            let target = if i >= last_user && !is_instruction {
                &mut judged
            } else {
                &mut context
            };
            judge_message(i, message, target)?;
        }
        let upstream_model = config
            .models
            .get(&model)
            .cloned()
            .ok_or_else(|| ApiError::ModelNotFound { model: model.clone() })?;

        let agent_id = header_value(headers, "x-openclaw-agent-id")?;
        if let Some(agent) = &agent_id
            && !(agent.len() <= 64
                && agent
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            return Err(ApiError::bad_request(
                "`x-openclaw-agent-id` must be 1 to 64 letters, digits, `-` or `_`.",
                None,
                "invalid_agent_id",
            ));
        }
        let session_key = header_value(headers, "x-openclaw-session-key")?;
        if let Some(key) = &session_key {
            let lower = key.to_ascii_lowercase();
            if let Some(prefix) = RESERVED_SESSION_PREFIXES.iter().find(|p| lower.starts_with(*p)) {
                return Err(ApiError::bad_request(
                    format!("Session keys starting with `{prefix}` are reserved for OpenClaw's own runs."),
                    None,
                    "reserved_session_key",
                ));
            }
            if key.len() > 256 {
                return Err(ApiError::bad_request(
                    "`x-openclaw-session-key` is longer than 256 bytes.",
                    None,
                    "invalid_session_key",
                ));
            }
        }
        let backend_model = header_value(headers, "x-openclaw-model")?;
        let digest = Sha256::digest(raw).iter().map(|b| format!("{b:02x}")).collect();
        Ok(ChatRequest {
            model,
            upstream_model,
            stream,
            user,
            agent_id,
            session_key,
            backend_model,
            text: judged,
            context,
            message_count: messages.len(),
            digest,
            dlp: Value::Null,
            recorded_text: String::new(),
            recorded_context: String::new(),
            body,
        })
    }
}

fn wrong_type(param: &'static str, expected: &str, got: &Value) -> ApiError {
    let got = match got {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    ApiError::bad_request(
        format!("`{param}` must be {expected}, not {got}."),
        Some(param),
        "invalid_type",
    )
}

fn header_value(headers: &HeaderMap, name: &'static str) -> Result<Option<String>, ApiError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => match v.to_str() {
            Ok(s) if !s.trim().is_empty() => Ok(Some(s.trim().to_string())),
            Ok(_) => Ok(None),
            Err(_) => Err(ApiError::bad_request(
                format!("Header `{name}` must be visible ASCII."),
                None,
                "invalid_header",
            )),
        },
    }
}

/// Checks one message's shape and appends what the policy must judge to `judged`.
fn judge_message(index: usize, message: &Value, judged: &mut String) -> Result<(), ApiError> {
    let bad = |what: String| {
        ApiError::bad_request(
            format!("`messages[{index}]` {what}."),
            Some("messages"),
            "invalid_type",
        )
    };
    let Value::Object(m) = message else {
        return Err(bad("must be an object".into()));
    };
    let role = match m.get("role") {
        Some(Value::String(r)) => r.as_str(),
        Some(_) => return Err(bad("has a `role` that is not a string".into())),
        None => return Err(bad("has no `role`".into())),
    };
    if !matches!(
        role,
        "system" | "developer" | "user" | "assistant" | "tool" | "function"
    ) {
        return Err(ApiError::bad_request(
            format!(
                "`messages[{index}].role` must be one of system, developer, user, assistant, tool, function; got `{role}`."
            ),
            Some("messages"),
            "invalid_value",
        ));
    }
    let mut content_text = String::new();
    match m.get("content") {
        None | Some(Value::Null) => {
            if !matches!(role, "assistant") {
                return Err(bad(format!("({role}) has no `content`")));
            }
        }
        Some(Value::String(s)) => content_text.push_str(s),
        Some(Value::Array(parts)) => {
            for (j, part) in parts.iter().enumerate() {
                let Value::Object(p) = part else {
                    return Err(bad(format!("has a content part {j} that is not an object")));
                };
                match (p.get("type").and_then(Value::as_str), p.get("text")) {
                    (Some("text"), Some(Value::String(t))) => {
                        content_text.push_str(t);
                        content_text.push('\n');
                    }
                    (Some("text"), _) => {
                        return Err(bad(format!("has a text part {j} without a string `text`")));
                    }
                    (Some(_), _) => {}
                    (None, _) => return Err(bad(format!("has a content part {j} without a `type`"))),
                }
            }
        }
        Some(_) => {
            return Err(bad(
                "has a `content` that is neither a string, an array of parts nor null".into(),
            ));
        }
    }
    // The assistant's own prose is the model's output, not an instruction; its tool calls are.
    if role != "assistant" && !content_text.is_empty() {
        judged.push_str(&content_text);
        judged.push('\n');
    }
    // The legacy single `function_call` is a tool call like any other.
    if let Some(call) = m.get("function_call") {
        if let Some(name) = call.get("name").and_then(Value::as_str) {
            judged.push_str(name);
            judged.push(' ');
        }
        if let Some(args) = call.get("arguments").and_then(Value::as_str) {
            judged.push_str(args);
        }
        judged.push('\n');
    }
    if let Some(calls) = m.get("tool_calls") {
        let Value::Array(calls) = calls else {
            return Err(bad("has `tool_calls` that is not an array".into()));
        };
        for call in calls {
            if let Some(f) = call.get("function") {
                if let Some(name) = f.get("name").and_then(Value::as_str) {
                    judged.push_str(name);
                    judged.push(' ');
                }
                if let Some(args) = f.get("arguments").and_then(Value::as_str) {
                    judged.push_str(args);
                }
                judged.push('\n');
            }
        }
    }
    Ok(())
}

//! `POST /v1/chat/completions`: the conversation parsed into the governed view (every role,
//! every content part, names, tool and function definitions, legacy `function_call`, `user`,
//! `metadata`, the agent and session headers), forwarded from that view with the governance
//! system messages in front, answered in JSON or SSE through answer governance.

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};
use warden_policy::Speaker;

use super::{boolean, number, object_body, openai_refusal, token, unknown_field, unsupported, wrong_type};
use crate::error::ApiError;
use crate::governance::context::RequestContext;
use crate::governance::digest::view_digest;
use crate::governance::view::{Subject, View};
use crate::governance::{Allowed, Core, Refusal, Surface};
use crate::upstream::Upstream;
use crate::upstream::answer::Codec;
use crate::upstream::forward::{self, AgentCall, answer_rules};

/// The tutorial's governance system prompt, sent ahead of every forwarded request.
pub const SYSTEM_PROMPT: &str = "You are an enterprise assistant operating under strict governance.\n\
Rules:\n\
- Never claim an action was completed unless the governance layer explicitly allowed it.\n\
- If the request is low risk, respond normally and helpfully.\n\
- If the request is moderate risk, propose a plan and name the approvals or checks it needs.\n\
- If the request is high risk, refuse to carry it out and offer a safer alternative: a checklist, a draft, a review plan or a summary.\n\
Be useful and concise.";

/// The fields an approval of a chat request binds to: what it asks and of whom, not knobs
/// such as `temperature` or `stream`.
const DIGESTED: [&str; 10] = [
    "model",
    "messages",
    "tools",
    "tool_choice",
    "functions",
    "function_call",
    "response_format",
    "user",
    "metadata",
    "prediction",
];

#[derive(Clone)]
pub struct ChatCompletions {
    pub upstream: Upstream,
}

impl Surface for ChatCompletions {
    const NAME: &'static str = "chat_completions";
    const APPROVAL_KIND: &'static str = "chat";

    fn can_hold(&self) -> bool {
        true
    }

    fn parse(
        &self,
        core: &Core,
        ctx: &RequestContext,
        raw: &[u8],
        headers: &HeaderMap,
    ) -> Result<View, ApiError> {
        let mut body = object_body(raw)?;
        let mut view = View::new(Subject::Conversation);
        let (model, upstream_model) = super::model(core, &body)?;
        match body.get("messages") {
            Some(Value::Array(m)) if !m.is_empty() => {}
            Some(Value::Array(_)) | None => {
                return Err(ApiError::bad_request(
                    "`messages` must hold at least one message.",
                    Some("messages"),
                    "missing_required_parameter",
                ));
            }
            Some(other) => return Err(wrong_type("messages", "an array", other)),
        }
        // Messages first, so the conversation's slots come in reading order.
        // Checked where they lie, then moved (not copied) into the view.
        if let Some(Value::Array(messages)) = body.remove("messages") {
            for (i, message) in messages.iter().enumerate() {
                parse_message(&mut view, i, message)?;
            }
            view.facts.insert("messages".into(), json!(messages.len()));
            view.body.insert("messages".into(), Value::Array(messages));
        }
        view.body
            .insert("model".into(), Value::String(upstream_model.clone()));
        for (key, value) in &body {
            if super::shared_field(&mut view, key, value)? {
                continue;
            }
            match key.as_str() {
                "model" | "messages" => {}
                "stream_options" => textless_object(&mut view, key, value)?,
                "tools" => tools(&mut view, value)?,
                "functions" => functions(&mut view, value)?,
                "tool_choice" | "function_call" => super::tool_choice(&mut view, key, value, false)?,
                "response_format" => response_format(&mut view, value)?,
                "stop" => stop(&mut view, value)?,
                "prediction" => prediction(&mut view, value)?,
                "web_search_options" => {
                    if !value.is_object() {
                        return Err(wrong_type(key, "an object", value));
                    }
                    view.body.insert(key.clone(), value.clone());
                    view.text(super::at(key), Speaker::Parameter, u32::MAX);
                }
                "modalities" => super::tokens(&mut view, key, value, true)?,
                "audio" => {
                    super::token_object(&mut view, key, value)?;
                    view.text(super::at(key), Speaker::Parameter, u32::MAX);
                }
                "reasoning_effort" | "verbosity" => token(&mut view, key, value)?,
                "n"
                | "max_tokens"
                | "max_completion_tokens"
                | "presence_penalty"
                | "frequency_penalty"
                | "seed" => number(&mut view, key, value)?,
                "logprobs" => boolean(&mut view, key, value)?,
                "logit_bias" => textless_object(&mut view, key, value)?,
                _ => unknown_field(&mut view, key, value)?,
            }
        }
        super::agent_view(
            &mut view,
            ctx,
            core.config.sessions.scope,
            headers,
            (&model, &upstream_model),
            "openai",
        )?;
        if let Some(user) = body.get("user") {
            view.facts.insert("user".into(), user.clone());
        }
        Ok(view)
    }

    fn digest(&self, view: &View) -> String {
        view_digest("chat", &view.body, &DIGESTED, &view.headers)
    }

    async fn execute(
        &self,
        core: Arc<Core>,
        mut ctx: RequestContext,
        view: View,
        allowed: Allowed,
    ) -> Response {
        let View {
            mut body,
            headers,
            stream,
            ..
        } = view;
        let classification = governance_note(&allowed);
        let mut messages = vec![
            json!({"role": "system", "content": SYSTEM_PROMPT}),
            json!({"role": "system", "content": format!("Governance classification: {classification}")}),
        ];
        if let Some(Value::Array(original)) = body.remove("messages") {
            messages.extend(original);
        }
        body.insert("messages".into(), Value::Array(messages));
        // Its usage is priced on the trail where `[pricing]` knows the upstream model.
        ctx.price = forward::price_of(&core, &body);
        let mut rules = answer_rules(&core, &ctx, &self.upstream);
        // A stream's token usage goes on the trail: asked for when the client did not ask,
        // and then kept from the client (possible only where answers are governed, which reads
        // every event).
        if stream && rules.window_chars > 0 {
            let options = body.entry("stream_options").or_insert_with(|| json!({}));
            if let Value::Object(options) = options
                && options.get("include_usage") != Some(&Value::Bool(true))
            {
                options.insert("include_usage".into(), Value::Bool(true));
                rules.strip_usage = true;
            }
        }
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let call = AgentCall {
            path: "/v1/chat/completions",
            body,
            headers,
            stream,
            codec: Codec::Chat,
        };
        forward::agent(self.clone(), self.upstream.clone(), rules, ctx, call).await
    }

    fn refuse(&self, ctx: &RequestContext, refusal: Refusal) -> Response {
        openai_refusal(ctx, refusal)
    }
}

/// The classification the agent is told, in the governance system message.
pub fn governance_note(allowed: &Allowed) -> String {
    #[derive(serde::Serialize)]
    struct Note<'a> {
        risk: warden_policy::Risk,
        category: &'a str,
        confidence: f64,
        requires_approval: bool,
        allow: bool,
        reason: &'a str,
        rules: Vec<&'a str>,
        policy_version: &'a str,
        approval: &'a Option<Value>,
    }
    let d = &allowed.decision;
    let note = Note {
        risk: d.risk,
        category: &d.category,
        confidence: d.confidence,
        requires_approval: d.requires_approval,
        allow: d.allow,
        reason: &d.reason,
        rules: d.rules.iter().map(|r| r.id.as_str()).collect(),
        policy_version: &d.policy_version,
        approval: &allowed.approval,
    };
    serde_json::to_string(&note).unwrap_or_default()
}

/// The fields a message may carry.
const KNOWN_MESSAGE_FIELDS: [&str; 11] = [
    "role",
    "content",
    "name",
    "refusal",
    "reasoning_content",
    "tool_calls",
    "function_call",
    "tool_call_id",
    "audio",
    "annotations",
    "reasoning",
];

/// Checks one message, copies what is forwarded, and registers its texts.
fn parse_message(view: &mut View, index: usize, message: &Value) -> Result<(), ApiError> {
    let path = format!("messages[{index}]");
    let bad =
        |what: String| ApiError::bad_request(format!("`{path}` {what}."), Some("messages"), "invalid_type");
    let Value::Object(m) = message else {
        return Err(bad("must be an object".into()));
    };
    let role = match m.get("role") {
        Some(Value::String(r)) => r.as_str(),
        Some(_) => return Err(bad("has a `role` that is not a string".into())),
        None => return Err(bad("has no `role`".into())),
    };
    let speaker = match role {
        "system" | "developer" => Speaker::System,
        "user" => Speaker::User,
        "assistant" => Speaker::Assistant,
        "tool" | "function" => Speaker::Tool,
        other => {
            return Err(ApiError::bad_request(
                format!(
                    "`{path}.role` must be one of system, developer, user, assistant, tool, function; got `{}`.",
                    crate::governance::records::preview(other, 40)
                ),
                Some("messages"),
                "invalid_value",
            ));
        }
    };
    let turn = index as u32;
    let base = format!("/messages/{index}");
    for (key, value) in m {
        let pointer = format!("{base}/{}", crate::governance::view::escape(key));
        // Clients often send back the message object an answer carried, optional fields set
        // to null: a null carries nothing and passes as it is.
        if value.is_null() && key != "content" && KNOWN_MESSAGE_FIELDS.contains(&key.as_str()) {
            continue;
        }
        match key.as_str() {
            "role" => {}
            "annotations" if role == "assistant" => {
                if !value.is_array() {
                    return Err(wrong_type(&format!("{path}.annotations"), "an array", value));
                }
                view.text(pointer, Speaker::Assistant, turn);
            }
            "content" => match value {
                Value::Null => {
                    if role != "assistant" {
                        return Err(bad(format!("({role}) has no `content`")));
                    }
                }
                Value::String(_) => view.text(pointer, speaker, turn),
                Value::Array(parts) => {
                    for (j, part) in parts.iter().enumerate() {
                        content_part(view, &path, &pointer, j, part, speaker, turn)?;
                    }
                }
                _ => {
                    return Err(bad(
                        "has a `content` that is neither a string, an array of parts nor null".into(),
                    ));
                }
            },
            "name" => {
                if !value.is_string() {
                    return Err(wrong_type(&format!("{path}.name"), "a string", value));
                }
                view.text(pointer, speaker, turn);
            }
            "refusal" | "reasoning_content" | "reasoning" if role == "assistant" => {
                if !(value.is_string() || value.is_null()) {
                    return Err(wrong_type(&format!("{path}.{key}"), "a string", value));
                }
                if value.is_string() {
                    view.text(pointer, Speaker::Assistant, turn);
                }
            }
            "tool_calls" if role == "assistant" => {
                let Value::Array(calls) = value else {
                    return Err(bad("has `tool_calls` that is not an array".into()));
                };
                for (j, call) in calls.iter().enumerate() {
                    check_call(&format!("{path}.tool_calls[{j}]"), call, true)?;
                    view.text(format!("{pointer}/{j}/function"), Speaker::Call, turn);
                }
            }
            "function_call" if role == "assistant" => {
                if !value.is_null() {
                    check_call(&format!("{path}.function_call"), value, false)?;
                    view.text(pointer, Speaker::Call, turn);
                }
            }
            "tool_call_id" if role == "tool" => {
                if !value.as_str().is_some_and(super::is_token) {
                    return Err(wrong_type(&format!("{path}.tool_call_id"), "an id", value));
                }
            }
            "audio" if role == "assistant" => {
                let ok = value
                    .get("id")
                    .and_then(Value::as_str)
                    .is_some_and(super::is_token)
                    && value.as_object().is_some_and(|o| o.len() == 1);
                if !ok {
                    return Err(wrong_type(&format!("{path}.audio"), "{\"id\": string}", value));
                }
            }
            _ => return Err(unsupported(&format!("{path}.{key}"))),
        }
    }
    Ok(())
}

/// A tool call in the history: `{id, type: "function", function: {name, arguments}}`, or a
/// legacy `function_call` (`{name, arguments}`).
fn check_call(path: &str, call: &Value, wrapped: bool) -> Result<(), ApiError> {
    let Value::Object(call) = call else {
        return Err(wrong_type(path, "an object", call));
    };
    let function = if wrapped {
        for (key, value) in call {
            match key.as_str() {
                "id" if value.as_str().is_some_and(super::is_token) => {}
                "type" if value == "function" => {}
                "function" => {}
                _ => return Err(unsupported(&format!("{path}.{key}"))),
            }
        }
        match call.get("function") {
            Some(Value::Object(f)) => f,
            _ => {
                return Err(ApiError::bad_request(
                    format!("`{path}.function` must be an object."),
                    None,
                    "invalid_type",
                ));
            }
        }
    } else {
        call
    };
    for (key, value) in function {
        match key.as_str() {
            "name" | "arguments" if value.is_string() => {}
            _ => return Err(unsupported(&format!("{path}.{key}"))),
        }
    }
    Ok(())
}

/// One content part: text of any text type is judged; an image's URL is judged (its pixels
/// cannot be); parts whose content cannot be judged (audio, files) are refused.
fn content_part(
    view: &mut View,
    path: &str,
    pointer: &str,
    j: usize,
    part: &Value,
    speaker: Speaker,
    turn: u32,
) -> Result<(), ApiError> {
    let here = format!("{path}.content[{j}]");
    let Value::Object(p) = part else {
        return Err(wrong_type(&here, "an object", part));
    };
    let kind = p.get("type").and_then(Value::as_str).ok_or_else(|| {
        ApiError::bad_request(
            format!("`{here}` has no `type`."),
            Some("messages"),
            "invalid_type",
        )
    })?;
    let at = format!("{pointer}/{j}");
    let allowed_keys: &[&str] = match kind {
        "text" | "input_text" | "output_text" => {
            if !p.get("text").is_some_and(Value::is_string) {
                return Err(ApiError::bad_request(
                    format!("`{here}` is a text part without a string `text`."),
                    Some("messages"),
                    "invalid_type",
                ));
            }
            view.text(format!("{at}/text"), speaker, turn);
            &["type", "text", "annotations", "cache_control"]
        }
        "refusal" => {
            if !p.get("refusal").is_some_and(Value::is_string) {
                return Err(wrong_type(&format!("{here}.refusal"), "a string", part));
            }
            view.text(format!("{at}/refusal"), Speaker::Assistant, turn);
            &["type", "refusal"]
        }
        "image_url" => {
            match p.get("image_url") {
                Some(Value::String(url)) => {
                    if super::image_url_is_text(&here, url, "messages")? {
                        view.text(format!("{at}/image_url"), speaker, turn);
                    }
                }
                Some(Value::Object(image)) => {
                    for (key, value) in image {
                        match (key.as_str(), value) {
                            ("url", Value::String(_)) => {}
                            ("detail", Value::String(d)) if matches!(d.as_str(), "auto" | "low" | "high") => {
                            }
                            _ => return Err(unsupported(&format!("{here}.image_url.{key}"))),
                        }
                    }
                    let url = image.get("url").and_then(Value::as_str).unwrap_or_default();
                    if super::image_url_is_text(&here, url, "messages")? {
                        view.text(format!("{at}/image_url/url"), speaker, turn);
                    }
                }
                _ => {
                    return Err(wrong_type(
                        &format!("{here}.image_url"),
                        "an object with a `url`",
                        part,
                    ));
                }
            }
            &["type", "image_url"]
        }
        "input_audio" | "file" | "input_file" => {
            return Err(super::refused_part(&here, kind, "messages", Some("a text part")));
        }
        other => return Err(super::refused_part(&here, other, "messages", None)),
    };
    if let Some(key) = p.keys().find(|k| !allowed_keys.contains(&k.as_str())) {
        return Err(unsupported(&format!("{here}.{key}")));
    }
    Ok(())
}

/// `tools`: function definitions, read by the model, judged like instructions.
fn tools(view: &mut View, value: &Value) -> Result<(), ApiError> {
    let Value::Array(items) = value else {
        return Err(wrong_type("tools", "an array", value));
    };
    for (i, tool) in items.iter().enumerate() {
        let here = format!("tools[{i}]");
        let Value::Object(t) = tool else {
            return Err(wrong_type(&here, "an object", tool));
        };
        for (key, v) in t {
            match key.as_str() {
                "type" if v == "function" => {}
                "function" => super::function_definition(&format!("{here}.function"), v, false)?,
                _ => return Err(unsupported(&format!("{here}.{key}"))),
            }
        }
        if !t.contains_key("function") {
            return Err(ApiError::bad_request(
                format!("`{here}` has no `function`."),
                None,
                "invalid_type",
            ));
        }
        view.text(format!("/tools/{i}"), Speaker::Definition, u32::MAX);
    }
    view.body.insert("tools".into(), value.clone());
    Ok(())
}

/// `functions` (legacy): function definitions.
fn functions(view: &mut View, value: &Value) -> Result<(), ApiError> {
    let Value::Array(items) = value else {
        return Err(wrong_type("functions", "an array", value));
    };
    for (i, f) in items.iter().enumerate() {
        super::function_definition(&format!("functions[{i}]"), f, false)?;
        view.text(format!("/functions/{i}"), Speaker::Definition, u32::MAX);
    }
    view.body.insert("functions".into(), value.clone());
    Ok(())
}

/// `response_format`: text, a JSON object, or a JSON schema whose descriptions the model reads.
fn response_format(view: &mut View, value: &Value) -> Result<(), ApiError> {
    let kind = value.get("type").and_then(Value::as_str);
    let ok = match kind {
        Some("text" | "json_object") => value.as_object().is_some_and(|o| o.len() == 1),
        Some("json_schema") => {
            value
                .as_object()
                .is_some_and(|o| o.keys().all(|k| matches!(k.as_str(), "type" | "json_schema")))
                && value.get("json_schema").is_some_and(|s| {
                    s.as_object().is_some_and(|o| {
                        o.keys()
                            .all(|k| matches!(k.as_str(), "name" | "description" | "schema" | "strict"))
                    })
                })
        }
        _ => false,
    };
    if !ok {
        return Err(wrong_type(
            "response_format",
            "`{type: text | json_object | json_schema, ...}`",
            value,
        ));
    }
    view.body.insert("response_format".into(), value.clone());
    view.text("/response_format".into(), Speaker::Definition, u32::MAX);
    Ok(())
}

/// `stop`: a string or strings.
fn stop(view: &mut View, value: &Value) -> Result<(), ApiError> {
    let ok = value.is_null()
        || value.is_string()
        || value.as_array().is_some_and(|a| a.iter().all(Value::is_string));
    if !ok {
        return Err(wrong_type("stop", "a string or an array of strings", value));
    }
    view.body.insert("stop".into(), value.clone());
    view.text("/stop".into(), Speaker::Parameter, u32::MAX);
    Ok(())
}

/// `prediction`: predicted output the model reads.
fn prediction(view: &mut View, value: &Value) -> Result<(), ApiError> {
    let ok = value.get("type") == Some(&json!("content"))
        && value.as_object().is_some_and(|o| o.len() == 2)
        && value.get("content").is_some_and(|c| {
            c.is_string()
                || c.as_array().is_some_and(|a| {
                    a.iter().all(|p| {
                        p.get("type") == Some(&json!("text")) && p.get("text").is_some_and(Value::is_string)
                    })
                })
        });
    if !ok {
        return Err(wrong_type(
            "prediction",
            "`{type: content, content: string or text parts}`",
            value,
        ));
    }
    view.body.insert("prediction".into(), value.clone());
    view.text("/prediction/content".into(), Speaker::Parameter, u32::MAX);
    Ok(())
}

/// An object that carries no text (`stream_options`, `logit_bias`).
fn textless_object(view: &mut View, key: &str, value: &Value) -> Result<(), ApiError> {
    if !(value.is_null() || (value.is_object() && super::is_textless(value))) {
        return Err(wrong_type(key, "an object of numbers and booleans", value));
    }
    view.body.insert(key.to_string(), value.clone());
    Ok(())
}

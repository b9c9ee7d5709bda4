//! `POST /v1/responses` (OpenAI's Responses API, which OpenClaw serves when
//! `gateway.http.endpoints.responses.enabled` is set): `input` (a string or items: messages,
//! function calls and their outputs, reasoning) and `instructions` judged like a chat's
//! messages, tool definitions like a chat's; forwarded from the view with the governance
//! message in front of `instructions`; answered in JSON or typed SSE events, governed like chat.

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::{Value, json};
use warden_policy::Speaker;

use super::chat_completions::{SYSTEM_PROMPT, governance_note};
use super::{
    boolean, is_token, number, object_body, openai_refusal, text, token, unknown_field, unsupported,
    wrong_type,
};
use crate::error::ApiError;
use crate::governance::context::RequestContext;
use crate::governance::digest::view_digest;
use crate::governance::view::{Subject, View};
use crate::governance::{Allowed, Core, Refusal, Surface};
use crate::upstream::Upstream;
use crate::upstream::answer::Codec;
use crate::upstream::forward::{self, AgentCall, answer_rules};

/// What an approval of a Responses request binds to (its own digest: the body has no
/// `messages`).
const DIGESTED: [&str; 8] = [
    "model",
    "input",
    "instructions",
    "tools",
    "tool_choice",
    "text",
    "user",
    "metadata",
];

#[derive(Clone)]
pub struct Responses {
    pub upstream: Upstream,
}

impl Surface for Responses {
    const NAME: &'static str = "responses";
    const APPROVAL_KIND: &'static str = "responses";

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
        let body = object_body(raw)?;
        let mut view = View::new(Subject::Conversation);
        let (model, upstream_model) = super::model(core, &body)?;
        // Instructions first: they come before the conversation.
        if let Some(value) = body.get("instructions") {
            text(&mut view, "instructions", value, Speaker::System)?;
        }
        match body.get("input") {
            Some(Value::String(_)) => {
                view.body.insert("input".into(), body["input"].clone());
                view.text("/input".into(), Speaker::User, 0);
                view.facts.insert("items".into(), json!(1));
            }
            Some(Value::Array(items)) if !items.is_empty() => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(input_item(&mut view, i, item)?);
                }
                view.facts.insert("items".into(), json!(items.len()));
                view.body.insert("input".into(), Value::Array(out));
            }
            Some(Value::Array(_)) | None => {
                return Err(ApiError::bad_request(
                    "`input` must be a string or a non-empty array of items.",
                    Some("input"),
                    "missing_required_parameter",
                ));
            }
            Some(other) => return Err(wrong_type("input", "a string or an array", other)),
        }
        view.body
            .insert("model".into(), Value::String(upstream_model.clone()));
        for (key, value) in &body {
            if super::shared_field(&mut view, key, value)? {
                continue;
            }
            match key.as_str() {
                "model" | "input" | "instructions" => {}
                "tools" => tools(&mut view, value)?,
                "tool_choice" => super::tool_choice(&mut view, key, value, true)?,
                "text" => text_format(&mut view, value)?,
                "max_output_tokens" | "max_tool_calls" => number(&mut view, key, value)?,
                "background" => boolean(&mut view, key, value)?,
                "truncation" => token(&mut view, key, value)?,
                "reasoning" | "stream_options" => super::token_object(&mut view, key, value)?,
                "include" => super::tokens(&mut view, key, value, false)?,
                // Earlier turns Warden cannot see cannot be judged with the latest one.
                "previous_response_id" | "conversation" | "prompt" => {
                    return Err(ApiError::bad_request(
                        format!(
                            "`{key}` refers to content Warden cannot see, so the conversation could not be judged as a whole. Send the earlier turns in `input` instead."
                        ),
                        Some("input"),
                        "unsupported_parameter",
                    ));
                }
                _ => unknown_field(&mut view, key, value)?,
            }
        }
        super::agent_view(
            &mut view,
            ctx,
            core.config.sessions.scope,
            headers,
            (&model, &upstream_model),
            "openresponses",
        )?;
        Ok(view)
    }

    fn digest(&self, view: &View) -> String {
        view_digest("responses", &view.body, &DIGESTED, &view.headers)
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
        let mut instructions = format!(
            "{SYSTEM_PROMPT}\n\nGovernance classification: {}",
            governance_note(&allowed)
        );
        if let Some(Value::String(theirs)) = body.remove("instructions") {
            instructions.push_str("\n\n");
            instructions.push_str(&theirs);
        }
        body.insert("instructions".into(), Value::String(instructions));
        // Its usage is priced on the trail where `[pricing]` knows the upstream model.
        ctx.price = forward::price_of(&core, &body);
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let rules = answer_rules(&core, &ctx, &self.upstream);
        let call = AgentCall {
            path: "/v1/responses",
            body,
            headers,
            stream,
            codec: Codec::Responses,
        };
        forward::agent(self.clone(), self.upstream.clone(), rules, ctx, call).await
    }

    fn refuse(&self, ctx: &RequestContext, refusal: Refusal) -> Response {
        openai_refusal(ctx, refusal)
    }
}

/// One item of `input`, checked, copied and registered.
fn input_item(view: &mut View, index: usize, item: &Value) -> Result<Value, ApiError> {
    let here = format!("input[{index}]");
    let Value::Object(m) = item else {
        return Err(wrong_type(&here, "an object", item));
    };
    let kind = match m.get("type") {
        Some(Value::String(t)) => t.as_str(),
        None if m.contains_key("role") => "message",
        _ => {
            return Err(ApiError::bad_request(
                format!("`{here}` needs a `type` (message, function_call, function_call_output, reasoning)."),
                Some("input"),
                "invalid_type",
            ));
        }
    };
    let turn = index as u32;
    let base = format!("/input/{index}");
    let allowed: &[&str] = match kind {
        "message" => {
            let speaker = match m.get("role").and_then(Value::as_str) {
                Some("user") => Speaker::User,
                Some("assistant") => Speaker::Assistant,
                Some("system" | "developer") => Speaker::System,
                _ => {
                    return Err(ApiError::bad_request(
                        format!("`{here}.role` must be user, assistant, system or developer."),
                        Some("input"),
                        "invalid_value",
                    ));
                }
            };
            match m.get("content") {
                Some(Value::String(_)) => view.text(format!("{base}/content"), speaker, turn),
                Some(Value::Array(parts)) => {
                    for (j, part) in parts.iter().enumerate() {
                        content_part(
                            view,
                            &here,
                            &format!("{base}/content/{j}"),
                            j,
                            part,
                            speaker,
                            turn,
                        )?;
                    }
                }
                other => {
                    return Err(wrong_type(
                        &format!("{here}.content"),
                        "a string or an array of parts",
                        other.unwrap_or(&Value::Null),
                    ));
                }
            }
            &["type", "role", "content", "id", "status", "phase"]
        }
        "function_call" => {
            for key in ["name", "arguments"] {
                if !m.get(key).is_some_and(Value::is_string) {
                    return Err(wrong_type(
                        &format!("{here}.{key}"),
                        "a string",
                        m.get(key).unwrap_or(&Value::Null),
                    ));
                }
            }
            view.text(format!("{base}/name"), Speaker::Call, turn);
            view.text(format!("{base}/arguments"), Speaker::Call, turn);
            &["type", "id", "call_id", "name", "arguments", "status"]
        }
        "function_call_output" => {
            match m.get("output") {
                Some(Value::String(_)) => view.text(format!("{base}/output"), Speaker::Tool, turn),
                other => {
                    return Err(wrong_type(
                        &format!("{here}.output"),
                        "a string",
                        other.unwrap_or(&Value::Null),
                    ));
                }
            }
            &["type", "id", "call_id", "output", "status"]
        }
        "reasoning" => {
            if m.contains_key("encrypted_content") {
                return Err(unsupported(&format!("{here}.encrypted_content")));
            }
            for key in ["content", "summary"] {
                if let Some(value) = m.get(key) {
                    if !(value.is_string() || value.is_array()) {
                        return Err(wrong_type(&format!("{here}.{key}"), "text", value));
                    }
                    view.text(format!("{base}/{key}"), Speaker::Assistant, turn);
                }
            }
            &["type", "id", "content", "summary", "status"]
        }
        other => {
            return Err(ApiError::bad_request(
                format!(
                    "`{here}` is a `{}` item, which Warden cannot judge (message, function_call, function_call_output, reasoning).",
                    crate::governance::records::preview(other, 40)
                ),
                Some("input"),
                "unsupported_parameter",
            ));
        }
    };
    for (key, value) in m {
        if !allowed.contains(&key.as_str()) {
            return Err(unsupported(&format!("{here}.{key}")));
        }
        if matches!(
            key.as_str(),
            "id" | "call_id" | "status" | "phase" | "role" | "type"
        ) && !value.as_str().is_some_and(is_token)
        {
            return Err(wrong_type(
                &format!("{here}.{key}"),
                "an id or a short string",
                value,
            ));
        }
    }
    Ok(Value::Object(m.clone()))
}

/// One part of a message's content.
fn content_part(
    view: &mut View,
    item: &str,
    at: &str,
    j: usize,
    part: &Value,
    speaker: Speaker,
    turn: u32,
) -> Result<(), ApiError> {
    let here = format!("{item}.content[{j}]");
    let Value::Object(p) = part else {
        return Err(wrong_type(&here, "an object", part));
    };
    let kind = p.get("type").and_then(Value::as_str).unwrap_or("");
    let allowed: &[&str] = match kind {
        "input_text" | "output_text" | "text" => {
            if !p.get("text").is_some_and(Value::is_string) {
                return Err(wrong_type(
                    &format!("{here}.text"),
                    "a string",
                    p.get("text").unwrap_or(&Value::Null),
                ));
            }
            view.text(format!("{at}/text"), speaker, turn);
            &["type", "text", "annotations", "logprobs"]
        }
        "refusal" => {
            if !p.get("refusal").is_some_and(Value::is_string) {
                return Err(wrong_type(&format!("{here}.refusal"), "a string", part));
            }
            view.text(format!("{at}/refusal"), Speaker::Assistant, turn);
            &["type", "refusal"]
        }
        "input_image" => {
            // An image's URL is read (and fetched); its pixels cannot be judged.
            let url = p
                .get("image_url")
                .and_then(Value::as_str)
                .or_else(|| p.get("source").and_then(|s| s.get("url")).and_then(Value::as_str));
            if let Some(url) = url
                && super::image_url_is_text(&here, url, "input")?
            {
                let pointer = if p.contains_key("image_url") {
                    format!("{at}/image_url")
                } else {
                    format!("{at}/source/url")
                };
                view.text(pointer, speaker, turn);
            }
            if let Some(source) = p.get("source")
                && let Some(key) = source.as_object().and_then(|s| {
                    s.keys()
                        .find(|k| !matches!(k.as_str(), "type" | "url" | "data" | "media_type"))
                })
            {
                return Err(unsupported(&format!("{here}.source.{key}")));
            }
            &["type", "image_url", "source", "detail"]
        }
        "input_file" | "input_audio" => {
            return Err(super::refused_part(
                &here,
                kind,
                "input",
                Some("an `input_text` part"),
            ));
        }
        other => return Err(super::refused_part(&here, other, "input", None)),
    };
    if let Some(key) = p.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(unsupported(&format!("{here}.{key}")));
    }
    Ok(())
}

/// `tools`: function definitions (Responses puts name and description at the top level).
fn tools(view: &mut View, value: &Value) -> Result<(), ApiError> {
    let Value::Array(items) = value else {
        return Err(wrong_type("tools", "an array", value));
    };
    for (i, tool) in items.iter().enumerate() {
        let here = format!("tools[{i}]");
        let Value::Object(t) = tool else {
            return Err(wrong_type(&here, "an object", tool));
        };
        if t.get("type") != Some(&json!("function")) {
            return Err(ApiError::bad_request(
                format!("`{here}` must be a function tool; Warden governs function tools only."),
                Some("tools"),
                "unsupported_parameter",
            ));
        }
        super::function_definition(&here, tool, true)?;
        view.text(format!("/tools/{i}"), Speaker::Definition, u32::MAX);
    }
    view.body.insert("tools".into(), value.clone());
    Ok(())
}

/// `text`: the output format; a JSON schema's descriptions are read by the model.
fn text_format(view: &mut View, value: &Value) -> Result<(), ApiError> {
    let format = value.get("format");
    let ok = value
        .as_object()
        .is_some_and(|o| o.keys().all(|k| matches!(k.as_str(), "format" | "verbosity")))
        && match format.and_then(|f| f.get("type")).and_then(Value::as_str) {
            Some("text" | "json_object") => format.and_then(Value::as_object).is_some_and(|o| o.len() == 1),
            Some("json_schema") => format.and_then(Value::as_object).is_some_and(|o| {
                o.keys()
                    .all(|k| matches!(k.as_str(), "type" | "name" | "description" | "schema" | "strict"))
            }),
            None => format.is_none(),
            _ => false,
        };
    if !ok {
        return Err(wrong_type(
            "text",
            "`{format: {type: text | json_object | json_schema, ...}}`",
            value,
        ));
    }
    view.body.insert("text".into(), value.clone());
    view.text("/text".into(), Speaker::Definition, u32::MAX);
    Ok(())
}

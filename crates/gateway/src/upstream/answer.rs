//! Governance of what the upstream answers, in every shape it answers: JSON (every string of
//! it, content-part arrays, reasoning and refusals included), text and error bodies, and
//! server-sent events, chat chunks and Responses' typed events alike. Secrets and personal data
//! are redacted (in streams through a look-behind window per text channel, so a secret split
//! across chunks is still caught), the upstream token is scrubbed wherever it appears, and the
//! tool calls the model asks for are judged: a red one replaces the answer with a refusal.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};
use warden_policy::{Decision, DlpAction, DlpFinding, Policy, Risk};

use super::sse::{Event, Framer};
use crate::config::ToolCallMode;
use crate::governance::dlp::{DlpReport, Placeholders};
use crate::secret::Secret;

/// Largest server-sent event governed; a larger one ends the stream with an error.
pub const MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;

/// Arguments of one streamed tool call are reassembled up to this size.
const MAX_CALL_ARGS: usize = 256 * 1024;

/// What an answer is, for finding its texts and tool calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// `/v1/chat/completions`: `choices[].message` and `choices[].delta`.
    Chat,
    /// `/v1/responses`: `output[]` items and typed stream events.
    Responses,
    /// A tool's result: any JSON, no tool calls of its own.
    ToolResult,
}

/// What answer governance found and did, for the audit record.
#[derive(Debug, Default, Clone)]
pub struct ResponseReport {
    pub tool_calls: Vec<Value>,
    pub tool_risk: Option<Risk>,
    pub replaced: bool,
    pub dlp: DlpReport,
    /// The token usage the upstream reported, as it reported it.
    pub usage: Option<Value>,
}

/// The token usage an answer or a stream event reports: a chat completion's (or chunk's)
/// `usage`, or a Responses answer's (in `response.completed`, its `response.usage`).
pub fn usage_of(json: &Value) -> Option<&Value> {
    json.get("usage")
        .or_else(|| json.get("response").and_then(|r| r.get("usage")))
        .filter(|u| u.is_object())
}

impl ResponseReport {
    pub fn to_json(&self) -> Value {
        json!({
            "tool_calls": self.tool_calls,
            "tool_risk": self.tool_risk,
            "replaced_by_refusal": self.replaced,
            "dlp": self.dlp.to_json("response"),
        })
    }
}

/// The rules an answer is governed by, pinned with the request's policy.
#[derive(Clone)]
pub struct AnswerRules {
    pub policy: Arc<Policy>,
    /// The upstream token: never shown to a client, whatever the upstream echoes.
    pub token: Option<Secret>,
    /// Tool calls are judged in the caller's name, against the gateway's tool tiers.
    pub config: Arc<crate::config::Config>,
    pub principal: Arc<crate::auth::Principal>,
    pub tool_calls: ToolCallMode,
    /// Look-behind of streamed text, in characters: what the detectors read before the text
    /// held, and the most that is held.
    pub window_chars: usize,
    /// How long text that could still become a secret waits through an upstream pause.
    pub hold: std::time::Duration,
    /// Warden asked the upstream for a stream's usage the client did not ask for: the usage
    /// chunk is read, then kept from the client.
    pub strip_usage: bool,
}

impl AnswerRules {
    /// Judges one tool call the model asked for.
    fn judge(&self, name: &str, arguments: &Value) -> Decision {
        crate::governance::judge::judge_tool_call(
            &self.policy,
            &self.config.tools,
            &self.principal,
            name,
            arguments,
        )
    }

    /// The findings in `text`: the policy's DLP rules, and the upstream token.
    fn findings(&self, text: &str) -> Vec<DlpFinding> {
        let mut found = self.policy.dlp_findings(text);
        if let Some(token) = self.token.as_ref().map(Secret::expose).filter(|t| t.len() >= 8) {
            let mut from = 0;
            while let Some(at) = text[from..].find(token) {
                let start = from + at;
                found.push(DlpFinding {
                    rule: "warden.upstream_token".into(),
                    detector: "upstream_token",
                    action: DlpAction::Redact,
                    start,
                    end: start + token.len(),
                });
                from = start + token.len();
            }
            found.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
        }
        found
    }
}

/// Redacts one complete string; `true` when it changed.
fn redact_string(
    rules: &AnswerRules,
    text: &mut String,
    placeholders: &mut Placeholders,
    report: &mut DlpReport,
) -> bool {
    let findings = rules.findings(text);
    if findings.is_empty() {
        return false;
    }
    let mut new_report = DlpReport::default();
    let redacted = crate::governance::dlp::apply(text, &findings, false, placeholders, &mut new_report);
    report.merge_new(new_report);
    if redacted != *text {
        *text = redacted;
        true
    } else {
        false
    }
}

/// Keys whose values are structure (ids, names of objects), never text a person wrote.
fn structural(key: &str) -> bool {
    matches!(
        key,
        "id" | "object"
            | "model"
            | "type"
            | "role"
            | "finish_reason"
            | "system_fingerprint"
            | "status"
            | "item_id"
            | "call_id"
            | "service_tier"
    )
}

/// Redacts every string under `value` but structural keys' values; `true` when anything
/// changed.
fn redact_tree(
    rules: &AnswerRules,
    value: &mut Value,
    placeholders: &mut Placeholders,
    report: &mut DlpReport,
) -> bool {
    match value {
        Value::String(s) => redact_string(rules, s, placeholders, report),
        Value::Array(items) => {
            let mut changed = false;
            for item in items.iter_mut() {
                changed |= redact_tree(rules, item, placeholders, report);
            }
            changed
        }
        Value::Object(map) => {
            let mut changed = false;
            for (key, item) in map.iter_mut() {
                if structural(key) && item.is_string() {
                    continue;
                }
                changed |= redact_tree(rules, item, placeholders, report);
            }
            changed
        }
        _ => false,
    }
}

fn parse_args(arguments: &str) -> Value {
    serde_json::from_str(arguments).unwrap_or_else(|_| Value::String(arguments.to_string()))
}

fn refusal_text(decision: &Decision) -> String {
    format!(
        "[Warden] The tool call the model requested was blocked by governance policy ({}: {}). {}",
        decision.deciding_rule().unwrap_or("policy"),
        decision.reason,
        decision.alternative.clone().unwrap_or_default()
    )
}

/// Judges `calls`, noting each in `report`; returns the worst decision.
fn judge_calls(
    calls: &[(String, String)],
    rules: &AnswerRules,
    report: &mut ResponseReport,
) -> Option<Decision> {
    let mut worst: Option<Decision> = None;
    for (name, arguments) in calls {
        let decision = rules.judge(name, &parse_args(arguments));
        report
            .tool_calls
            .push(json!({"name": name, "risk": decision.risk, "rule": decision.deciding_rule()}));
        report.tool_risk = report.tool_risk.max(Some(decision.risk));
        if worst.as_ref().is_none_or(|w| decision.risk > w.risk) {
            worst = Some(decision);
        }
    }
    worst
}

/// A red verdict the mode says to enforce.
fn enforced(rules: &AnswerRules, worst: Option<Decision>) -> Option<Decision> {
    worst.filter(|w| w.risk == Risk::Red && rules.tool_calls == ToolCallMode::Enforce)
}

/// A Responses output item that says `text` in place of what it replaces.
fn message_item(id: &Value, text: &str) -> Value {
    json!({"type": "message", "id": id, "role": "assistant", "status": "completed",
           "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

/// Judges the tool calls of a whole answer and replaces red ones; `true` when it changed.
fn govern_calls(value: &mut Value, codec: Codec, rules: &AnswerRules, report: &mut ResponseReport) -> bool {
    if rules.tool_calls == ToolCallMode::Off {
        return false;
    }
    let call = |c: &Value| {
        (
            c["name"].as_str().unwrap_or("").to_string(),
            c["arguments"].as_str().unwrap_or("").to_string(),
        )
    };
    let mut changed = false;
    match codec {
        Codec::Chat => {
            let Some(Value::Array(choices)) = value.get_mut("choices") else {
                return false;
            };
            for choice in choices.iter_mut() {
                let message = &choice["message"];
                let mut calls: Vec<(String, String)> = match message.get("tool_calls") {
                    Some(Value::Array(calls)) => calls.iter().map(|c| call(&c["function"])).collect(),
                    _ => Vec::new(),
                };
                if let Some(f) = message.get("function_call").filter(|f| f.is_object()) {
                    calls.push(call(f));
                }
                if calls.is_empty() {
                    continue;
                }
                if let Some(worst) = enforced(rules, judge_calls(&calls, rules, report)) {
                    choice["message"] = json!({"role": "assistant", "content": refusal_text(&worst)});
                    choice["finish_reason"] = json!("stop");
                    report.replaced = true;
                    changed = true;
                }
            }
        }
        Codec::Responses => {
            // A whole response, or the `response` of a stream's last event.
            let output = match value.get_mut("response") {
                Some(response) if response.get("output").is_some() => response.get_mut("output"),
                _ => value.get_mut("output"),
            };
            let Some(Value::Array(items)) = output else {
                return false;
            };
            for item in items.iter_mut() {
                if item["type"] != "function_call" {
                    continue;
                }
                let calls = [call(item)];
                if let Some(worst) = enforced(rules, judge_calls(&calls, rules, report)) {
                    *item = message_item(&item["id"], &refusal_text(&worst));
                    report.replaced = true;
                    changed = true;
                }
            }
        }
        Codec::ToolResult => {}
    }
    changed
}

/// Governs a whole answer body. Returns the body to send (the upstream's bytes unchanged
/// unless something had to change) and what was done.
pub fn govern_body(body: Bytes, codec: Codec, rules: &AnswerRules) -> (Bytes, ResponseReport) {
    let governed = govern_answer(body, codec, rules);
    (governed.body, governed.report)
}

/// A whole answer, governed.
pub struct Governed {
    /// What the client gets.
    pub body: Bytes,
    pub report: ResponseReport,
    /// The answer as JSON (as sent), when it is JSON: read once, for the record too.
    pub json: Option<Value>,
}

/// `govern_body`, keeping the parsed answer.
pub fn govern_answer(body: Bytes, codec: Codec, rules: &AnswerRules) -> Governed {
    let mut report = ResponseReport::default();
    let mut placeholders = Placeholders::default();
    let (body, json) = match serde_json::from_slice::<Value>(&body) {
        Ok(mut value) => {
            let mut changed = govern_calls(&mut value, codec, rules, &mut report);
            changed |= redact_tree(rules, &mut value, &mut placeholders, &mut report.dlp);
            let body = if changed {
                serde_json::to_vec(&value).map(Bytes::from).unwrap_or(body)
            } else {
                body
            };
            (body, Some(value))
        }
        // Not JSON: text is scanned as text; bytes that are not text carry no text to leak.
        Err(_) => match std::str::from_utf8(&body) {
            Ok(text) => {
                let mut text = text.to_string();
                if redact_string(rules, &mut text, &mut placeholders, &mut report.dlp) {
                    (Bytes::from(text), None)
                } else {
                    (body, None)
                }
            }
            Err(_) => (body, None),
        },
    };
    Governed { body, report, json }
}

/// A held event: its parsed data (when JSON), its windowed text fields, the tool call it
/// belongs to, and its original bytes.
struct Held {
    event: Event,
    json: Option<Value>,
    changed: bool,
    /// Each text field streamed through a window, taken out of `json` while held.
    texts: Vec<Field>,
    /// The tool call this event is part of: held until the call is judged.
    call: Option<String>,
    /// Ends a stream's answer (`[DONE]`, `response.completed`...).
    terminal: bool,
}

/// A text field of a held event: which window it streams through, where it lives in the
/// event, its text as it now stands, and its length in characters.
struct Field {
    channel: String,
    pointer: String,
    text: String,
    chars: usize,
}

impl Held {
    /// The event as it goes out: its own bytes, unless something in it changed.
    fn into_bytes(mut self) -> Bytes {
        if !self.changed {
            return self.event.raw;
        }
        let Some(json) = self.json.as_mut() else {
            return self.event.raw;
        };
        for field in self.texts.drain(..) {
            if let Some(slot) = json.pointer_mut(&field.pointer) {
                *slot = Value::String(field.text);
            }
        }
        Bytes::from(Event::encode(
            self.event.name.as_deref(),
            self.event.id.as_deref(),
            &json.to_string(),
        ))
    }
}

/// A streamed tool call being reassembled.
#[derive(Default)]
struct Call {
    name: String,
    args: String,
    /// Responses: the item's place in `output`.
    output_index: Value,
    settled: bool,
}

/// Governs a server-sent event stream event by event. Events without text or tool calls pass
/// at once (changed only when a complete string in them held a secret); a text delta goes as
/// soon as no part of it could still become a secret with what follows (see
/// [`super::hold`]: an unfinished token that looks like code, digit groups, a credential's
/// value), and at most `window_chars` characters wait; the text sent stays in the look-behind
/// the detectors read, so a secret completed later is still caught. Tool-call events wait
/// until their call is complete and judged.
pub struct Governor {
    rules: AnswerRules,
    codec: Codec,
    framer: Framer,
    queue: VecDeque<Held>,
    /// Per text channel, the end of what was released: findings that begin there and end in
    /// held text are still caught.
    released: HashMap<String, String>,
    /// Per text channel, the characters held back.
    held_chars: HashMap<String, usize>,
    /// Per text channel, how many of the last characters held must wait for what follows.
    must_hold: HashMap<String, usize>,
    calls: BTreeMap<String, Call>,
    /// Chat: tool-call deltas are being held.
    holding_chat_calls: bool,
    /// Chat: the event just read ended the calls; they are judged once it is queued.
    pending_settle: bool,
    /// Responses: refusals that replaced red calls, by item id.
    refused: HashMap<String, String>,
    /// Responses: the call the event just read completed; judged once the event is queued.
    settle_after: Option<String>,
    /// After a refusal replaced the tool calls, only the end of the stream is sent.
    blocked: bool,
    placeholders: Placeholders,
    pub report: ResponseReport,
    /// Set when the stream cannot be governed (an oversized event): the caller ends it.
    pub failed: Option<String>,
    /// The end of the answer's text as it was sent (placeholders in), for session memory.
    said: String,
}

impl Governor {
    pub fn new(rules: AnswerRules, codec: Codec) -> Governor {
        Governor {
            rules,
            codec,
            framer: Framer::default(),
            queue: VecDeque::new(),
            released: HashMap::new(),
            held_chars: HashMap::new(),
            must_hold: HashMap::new(),
            calls: BTreeMap::new(),
            holding_chat_calls: false,
            pending_settle: false,
            refused: HashMap::new(),
            settle_after: None,
            blocked: false,
            placeholders: Placeholders::default(),
            said: String::new(),
            report: ResponseReport::default(),
            failed: None,
        }
    }

    /// Takes upstream bytes; returns what may go to the client now.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if self.failed.is_some() {
            return out;
        }
        match self.framer.push(chunk, MAX_EVENT_BYTES) {
            Ok(events) => {
                for event in events {
                    self.event(event, &mut out);
                }
            }
            Err(_) => {
                self.failed = Some(format!("a stream event larger than {MAX_EVENT_BYTES} bytes"));
                self.queue.clear();
            }
        }
        out
    }

    /// The end of the stream: everything still held, judged and released.
    /// The end of the answer's text sent so far.
    pub fn said(&self) -> &str {
        let chars = self.said.chars().count();
        let skip = chars.saturating_sub(SAID_CHARS);
        self.said
            .char_indices()
            .nth(skip)
            .map_or("", |(i, _)| &self.said[i..])
    }

    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.failed.is_some() {
            return out;
        }
        if let Some(tail) = self.framer.finish() {
            self.event(tail, &mut out);
        }
        self.settle_all();
        self.release(true, &mut out);
        out
    }

    fn event(&mut self, event: Event, out: &mut Vec<u8>) {
        let terminal = is_terminal(&event);
        if self.blocked {
            // After a refusal replaced the tool calls, the answer is over: what is held goes
            // out, then only the end of the stream.
            if terminal {
                self.queue.push_back(Held {
                    event,
                    json: None,
                    changed: false,
                    texts: Vec::new(),
                    call: None,
                    terminal,
                });
                self.release(true, out);
            }
            return;
        }
        let json = event
            .data
            .as_deref()
            .filter(|d| d.starts_with('{'))
            .and_then(|d| serde_json::from_str::<Value>(d).ok());
        if let Some(usage) = json.as_ref().and_then(usage_of) {
            self.report.usage = Some(usage.clone());
            // The chunk that only carries the usage Warden asked for is not the client's.
            let usage_only = json
                .as_ref()
                .and_then(|j| j.get("choices"))
                .and_then(Value::as_array)
                .is_some_and(Vec::is_empty);
            if self.rules.strip_usage && self.codec == Codec::Chat && usage_only {
                return;
            }
        }
        let mut held = Held {
            event,
            json,
            changed: false,
            texts: Vec::new(),
            call: None,
            terminal,
        };
        if let Some(json) = held.json.as_mut() {
            let (texts, call) = match self.codec {
                Codec::Chat => self.chat_event(json),
                Codec::Responses => self.responses_event(json),
                Codec::ToolResult => (Vec::new(), None),
            };
            // Windowed texts are taken out, to be scanned with their window; every other
            // string is complete and is redacted now.
            let fields: Vec<Field> = texts
                .into_iter()
                .map(|(channel, pointer)| {
                    let text = match json.pointer_mut(&pointer) {
                        Some(Value::String(s)) => std::mem::take(s),
                        _ => String::new(),
                    };
                    let chars = text.chars().count();
                    Field {
                        channel,
                        pointer,
                        text,
                        chars,
                    }
                })
                .collect();
            if redact_tree(&self.rules, json, &mut self.placeholders, &mut self.report.dlp) {
                held.changed = true;
            }
            if self.codec == Codec::Responses && self.responses_final(json) {
                held.changed = true;
            }
            for field in &fields {
                *self.held_chars.entry(field.channel.clone()).or_default() += field.chars;
            }
            held.texts = fields;
            held.call = call;
        } else if let Some(data) = held.event.data.as_deref() {
            // Text that is not JSON is scanned whole (a `[DONE]` has nothing to find).
            let mut text = data.to_string();
            if redact_string(
                &self.rules,
                &mut text,
                &mut self.placeholders,
                &mut self.report.dlp,
            ) {
                held.json = Some(Value::String(text.clone()));
                held.event.raw = Bytes::from(Event::encode(
                    held.event.name.as_deref(),
                    held.event.id.as_deref(),
                    &text,
                ));
            }
        }
        let channels: Vec<String> = held.texts.iter().map(|f| f.channel.clone()).collect();
        self.queue.push_back(held);
        for channel in channels {
            self.scan(&channel);
        }
        if self.codec == Codec::Chat && (terminal || self.pending_settle) {
            self.settle_all();
        }
        if let Some(id) = self.settle_after.take() {
            self.settle_responses_call(&id);
        }
        self.release(false, out);
    }

    /// A chat chunk: its text deltas, and the tool call it carries a piece of.
    fn chat_event(&mut self, json: &mut Value) -> (Vec<(String, String)>, Option<String>) {
        let mut texts = Vec::new();
        let mut call = None;
        let Some(Value::Array(choices)) = json.get("choices") else {
            return (texts, self.holding_chat_calls.then(|| "*".to_string()));
        };
        for (i, choice) in choices.iter().enumerate() {
            let Some(delta) = choice.get("delta") else {
                continue;
            };
            for field in ["content", "reasoning_content", "refusal"] {
                if delta.get(field).is_some_and(Value::is_string) {
                    texts.push((format!("{i}:{field}"), format!("/choices/{i}/delta/{field}")));
                }
            }
            if self.rules.tool_calls == ToolCallMode::Off {
                continue;
            }
            if let Some(Value::Array(tool_calls)) = delta.get("tool_calls") {
                for (j, c) in tool_calls.iter().enumerate() {
                    let index = c.get("index").and_then(Value::as_u64).unwrap_or(j as u64);
                    let function = c.get("function").unwrap_or(&Value::Null);
                    let at = format!("/choices/{i}/delta/tool_calls/{j}/function");
                    self.chat_call_piece(format!("{i}:{index}"), function, at, &mut texts);
                    call = Some("*".to_string());
                }
            }
            if let Some(f) = delta.get("function_call").filter(|f| f.is_object()) {
                let at = format!("/choices/{i}/delta/function_call");
                self.chat_call_piece(format!("{i}:function_call"), f, at, &mut texts);
                call = Some("*".to_string());
            }
        }
        if call.is_some() {
            self.holding_chat_calls = true;
        }
        let call = call.or_else(|| self.holding_chat_calls.then(|| "*".to_string()));
        let ends_calls = choices.iter().any(|c| {
            matches!(
                c.get("finish_reason").and_then(Value::as_str),
                Some("tool_calls" | "function_call")
            )
        });
        if ends_calls {
            // Judged once this event is queued: `settle_all` runs from `event`.
            self.holding_chat_calls = false;
            self.pending_settle = true;
        }
        (texts, call)
    }

    /// A piece of a chat tool call (or legacy `function_call`), `function` at pointer `at`:
    /// its name and arguments added to the call `key`, which is judged as the model wrote it
    /// (redaction of the held pieces comes after); its arguments are a text of the call.
    fn chat_call_piece(
        &mut self,
        key: String,
        function: &Value,
        at: String,
        texts: &mut Vec<(String, String)>,
    ) {
        let entry = self.calls.entry(key.clone()).or_default();
        if let Some(name) = function.get("name").and_then(Value::as_str) {
            entry.name.push_str(name);
        }
        if let Some(args) = function.get("arguments").and_then(Value::as_str) {
            push_bounded(&mut entry.args, args);
            texts.push((format!("call:{key}"), format!("{at}/arguments")));
        }
    }

    /// A Responses event: its text delta, or the tool call it belongs to.
    fn responses_event(&mut self, json: &mut Value) -> (Vec<(String, String)>, Option<String>) {
        let kind = json.get("type").and_then(Value::as_str).unwrap_or("").to_string();
        let item_id = json.get("item_id").and_then(Value::as_str).map(str::to_string);
        let mut texts = Vec::new();
        let mut call = None;
        match kind.as_str() {
            "response.output_text.delta"
            | "response.refusal.delta"
            | "response.reasoning_text.delta"
            | "response.reasoning_summary_text.delta" => {
                let channel = format!(
                    "{kind}:{}:{}",
                    item_id.as_deref().unwrap_or(""),
                    json.get("content_index").and_then(Value::as_u64).unwrap_or(0)
                );
                if json.get("delta").is_some_and(Value::is_string) {
                    texts.push((channel, "/delta".to_string()));
                }
                if let Some(id) = &item_id
                    && self.calls.get(id).is_some_and(|c| !c.settled)
                {
                    call = Some(id.clone());
                }
            }
            "response.output_item.added" | "response.output_item.done"
                if self.rules.tool_calls != ToolCallMode::Off
                    && json.pointer("/item/type").and_then(Value::as_str) == Some("function_call") =>
            {
                let id = json
                    .pointer("/item/id")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let entry = self.calls.entry(id.clone()).or_default();
                entry.output_index = json.get("output_index").cloned().unwrap_or(Value::Null);
                if let Some(name) = json.pointer("/item/name").and_then(Value::as_str) {
                    entry.name = name.to_string();
                }
                if kind == "response.output_item.done"
                    && let Some(args) = json.pointer("/item/arguments").and_then(Value::as_str)
                {
                    entry.args = args.chars().take(MAX_CALL_ARGS).collect();
                    self.settle_after = Some(id.clone());
                }
                call = Some(id);
            }
            "response.function_call_arguments.delta" | "response.function_call_arguments.done"
                if self.rules.tool_calls != ToolCallMode::Off =>
            {
                if let Some(id) = item_id {
                    if kind.ends_with(".delta")
                        && let Some(delta) = json.get("delta").and_then(Value::as_str)
                    {
                        push_bounded(&mut self.calls.entry(id.clone()).or_default().args, delta);
                        texts.push((format!("call:{id}"), "/delta".to_string()));
                    }
                    if let Some(args) = json.get("arguments").and_then(Value::as_str) {
                        self.calls.entry(id.clone()).or_default().args =
                            args.chars().take(MAX_CALL_ARGS).collect();
                    }
                    call = Some(id);
                }
            }
            _ => {}
        }
        (texts, call)
    }

    /// The last event of a Responses stream carries the whole response: its red calls replaced
    /// as they were in the stream.
    fn responses_final(&mut self, json: &mut Value) -> bool {
        let kind = json.get("type").and_then(Value::as_str).unwrap_or("");
        if !matches!(
            kind,
            "response.completed" | "response.incomplete" | "response.done"
        ) {
            return false;
        }
        let Some(Value::Array(items)) = json.pointer_mut("/response/output") else {
            return false;
        };
        let mut changed = false;
        for item in items.iter_mut() {
            if item["type"] != "function_call" {
                continue;
            }
            let id = item["id"].as_str().unwrap_or("").to_string();
            if let Some(refusal) = self.refused.get(&id) {
                *item = message_item(&item["id"], refusal);
                changed = true;
            }
        }
        changed
    }

    /// Judges one Responses call; a red one's held events are replaced by a message saying so.
    fn settle_responses_call(&mut self, id: &str) {
        let Some(call) = self.calls.get_mut(id) else {
            return;
        };
        if call.settled {
            return;
        }
        call.settled = true;
        let calls = [(call.name.clone(), call.args.clone())];
        let output_index = call.output_index.clone();
        let worst = judge_calls(&calls, &self.rules, &mut self.report);
        let Some(worst) = enforced(&self.rules, worst) else {
            return;
        };
        let text = refusal_text(&worst);
        self.report.replaced = true;
        self.refused.insert(id.to_string(), text.clone());
        // The message takes the call's place, and its id, as in the response's final `output`.
        let item_id = Value::String(id.to_string());
        let at = self
            .queue
            .iter()
            .position(|h| h.call.as_deref() == Some(id))
            .unwrap_or(self.queue.len());
        self.drop_held(|h| h.call.as_deref() == Some(id));
        let events = [
            json!({"type": "response.output_item.added", "output_index": output_index,
                   "item": {"type": "message", "id": item_id, "role": "assistant", "status": "in_progress", "content": []}}),
            json!({"type": "response.content_part.added", "item_id": item_id, "output_index": output_index,
                   "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}),
            json!({"type": "response.output_text.delta", "item_id": item_id, "output_index": output_index,
                   "content_index": 0, "delta": text}),
            json!({"type": "response.output_text.done", "item_id": item_id, "output_index": output_index,
                   "content_index": 0, "text": text}),
            json!({"type": "response.output_item.done", "output_index": output_index,
                   "item": message_item(&item_id, &text)}),
        ];
        for (k, event) in events.into_iter().enumerate() {
            self.queue.insert(at + k, synthetic(event, true));
        }
    }

    /// Chat: judges every call held so far; a red one replaces them with a refusal.
    fn settle_all(&mut self) {
        if self.codec != Codec::Chat {
            // Responses calls not ended by their `output_item.done` are judged now.
            let open: Vec<String> = self
                .calls
                .iter()
                .filter(|(_, c)| !c.settled)
                .map(|(id, _)| id.clone())
                .collect();
            for id in open {
                self.settle_responses_call(&id);
            }
            return;
        }
        self.pending_settle = false;
        self.holding_chat_calls = false;
        if self.calls.is_empty() {
            for held in self.queue.iter_mut() {
                held.call = None;
            }
            return;
        }
        let calls: Vec<(String, String)> = std::mem::take(&mut self.calls)
            .into_values()
            .map(|c| (c.name, c.args))
            .collect();
        let worst = judge_calls(&calls, &self.rules, &mut self.report);
        let Some(worst) = enforced(&self.rules, worst) else {
            for held in self.queue.iter_mut() {
                held.call = None;
            }
            return;
        };
        // Replace the held tool-call events by a refusal in the answer's own shape.
        let template = self.queue.iter().find_map(|h| h.json.clone());
        let at = self
            .queue
            .iter()
            .position(|h| h.call.is_some())
            .unwrap_or(self.queue.len());
        let done: Vec<Held> = self.queue.iter().filter(|h| h.terminal).map(clone_held).collect();
        self.drop_held(|h| h.call.is_some() || h.terminal);
        let (id, model, created) = template
            .map(|t| (t["id"].clone(), t["model"].clone(), t["created"].clone()))
            .unwrap_or((Value::Null, Value::Null, Value::Null));
        let chunk = |delta: Value, finish: Value| {
            json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        };
        let at = at.min(self.queue.len());
        self.queue.insert(
            at,
            synthetic(
                chunk(json!({"content": refusal_text(&worst)}), Value::Null),
                false,
            ),
        );
        self.queue
            .insert(at + 1, synthetic(chunk(json!({}), json!("stop")), false));
        self.queue.extend(done);
        self.report.replaced = true;
        self.blocked = true;
    }

    /// Scans `channel`'s held text and redacts findings, then sets how much of its end must
    /// still wait.
    fn scan(&mut self, channel: &str) {
        // The window as scanned, unless a redaction changed it (then it is put together again).
        let window = self.redact_held(channel).unwrap_or_else(|| {
            let tail = self.released.get(channel).map_or("", String::as_str);
            let mut window = String::with_capacity(tail.len() + 64);
            window.push_str(tail);
            for field in self.queue.iter().flat_map(|h| &h.texts) {
                if field.channel == channel {
                    window.push_str(&field.text);
                }
            }
            window
        });
        let held = self.held_chars.get(channel).copied().unwrap_or(0);
        let wait = super::hold::held_suffix_chars(&window)
            .min(held)
            .min(self.rules.window_chars);
        match self.must_hold.get_mut(channel) {
            Some(n) => *n = wait,
            None => {
                self.must_hold.insert(channel.to_string(), wait);
            }
        }
    }

    /// Whether text is held only because it could still become a secret (not for a tool call).
    pub fn holds_text(&self) -> bool {
        self.must_hold.values().any(|&n| n > 0)
    }

    /// Sends the text held for what might follow, as it stands: the upstream paused longer
    /// than `hold`. It was scanned as it is; tool calls still wait for their judgement.
    pub fn release_held_text(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.failed.is_some() {
            return out;
        }
        self.must_hold.clear();
        self.release(false, &mut out);
        out
    }

    /// How long held text waits through an upstream pause (zero: no bound).
    pub fn hold(&self) -> std::time::Duration {
        self.rules.hold
    }

    /// Scans `channel`'s held text (after the tail already released) and redacts findings;
    /// the window it read (tail, then held text) when nothing in it changed.
    fn redact_held(&mut self, channel: &str) -> Option<String> {
        let tail = self.released.get(channel).cloned().unwrap_or_default();
        let mut held = String::new();
        let mut pieces: Vec<(usize, usize, usize, usize)> = Vec::new();
        for (i, h) in self.queue.iter().enumerate() {
            for (j, field) in h.texts.iter().enumerate() {
                if field.channel == channel {
                    let start = held.len();
                    held.push_str(&field.text);
                    pieces.push((i, j, start, held.len()));
                }
            }
        }
        if held.is_empty() {
            return Some(tail);
        }
        let window = format!("{tail}{held}");
        let findings: Vec<DlpFinding> = self
            .rules
            .findings(&window)
            .into_iter()
            .filter(|f| f.end > tail.len())
            .collect();
        if findings.is_empty() {
            return Some(window);
        }
        // Later findings first, so earlier offsets stay true while rewriting.
        let mut report = DlpReport::default();
        let mut last_start = usize::MAX;
        for f in findings.iter().rev() {
            if f.end > last_start {
                continue;
            }
            last_start = f.start;
            let value = &window[f.start..f.end];
            let placeholder = self.placeholders.for_value(f.detector, value);
            let entry = json!({"rule": f.rule, "detector": f.detector, "placeholder": placeholder});
            if f.action == DlpAction::Flag {
                report.flagged.push(entry);
                continue;
            }
            report.redacted.push(entry);
            let (start, end) = (f.start.saturating_sub(tail.len()), f.end - tail.len());
            let mut placed = false;
            for &(i, j, a, b) in &pieces {
                if a >= end || b <= start {
                    continue;
                }
                let held = &mut self.queue[i];
                let field = &mut held.texts[j];
                let lo = start.max(a) - a;
                let hi = end.min(b) - a;
                let mut new = String::with_capacity(field.text.len());
                new.push_str(&field.text[..lo]);
                if !placed {
                    new.push_str(&placeholder);
                    placed = true;
                }
                new.push_str(&field.text[hi..]);
                let chars = new.chars().count();
                if let Some(total) = self.held_chars.get_mut(channel) {
                    *total = (*total + chars).saturating_sub(field.chars);
                }
                field.text = new;
                field.chars = chars;
                held.changed = true;
            }
        }
        // Only findings not reported before: a flagged value stays in the window and is seen again.
        let DlpReport { redacted, flagged } = report;
        self.report.dlp.merge_new(DlpReport {
            redacted: Vec::new(),
            flagged,
        });
        let fresh: Vec<Value> = redacted
            .into_iter()
            .filter(|e| !self.report.dlp.redacted.contains(e))
            .collect();
        self.report.dlp.redacted.extend(fresh);
        None
    }

    /// Drops the held events `which` picks, and their characters from the windows' counts.
    fn drop_held(&mut self, which: impl Fn(&Held) -> bool) {
        let queue = std::mem::take(&mut self.queue);
        for held in queue {
            if !which(&held) {
                self.queue.push_back(held);
                continue;
            }
            for field in &held.texts {
                if let Some(total) = self.held_chars.get_mut(&field.channel) {
                    *total = total.saturating_sub(field.chars);
                }
            }
        }
    }

    /// Sends the front of the queue as far as it may go.
    fn release(&mut self, all: bool, out: &mut Vec<u8>) {
        while let Some(front) = self.queue.front() {
            if !all {
                if front.call.is_some() {
                    break;
                }
                // A call's arguments were scanned whole before it was judged: no window to wait for.
                let waiting = front
                    .texts
                    .iter()
                    .filter(|f| !f.channel.starts_with("call:") && f.chars > 0)
                    .any(|f| {
                        let after = self.held_chars.get(&f.channel).copied().unwrap_or(0) - f.chars;
                        after < self.must_hold.get(&f.channel).copied().unwrap_or(0)
                    });
                if waiting {
                    break;
                }
            }
            let Some(held) = self.queue.pop_front() else { break };
            for field in &held.texts {
                if let Some(total) = self.held_chars.get_mut(&field.channel) {
                    *total = total.saturating_sub(field.chars);
                }
                if is_spoken(&field.channel) {
                    push_tail(&mut self.said, &field.text, SAID_CHARS);
                }
                let tail = self.released.entry(field.channel.clone()).or_default();
                tail.push_str(&field.text);
                let excess = tail.chars().count().saturating_sub(self.rules.window_chars);
                if excess > 0 {
                    let cut = tail
                        .char_indices()
                        .nth(excess)
                        .map(|(i, _)| i)
                        .unwrap_or(tail.len());
                    tail.drain(..cut);
                }
            }
            out.extend_from_slice(&held.into_bytes());
        }
    }
}

/// How much of the end of a streamed answer's text is kept for session memory.
const SAID_CHARS: usize = 4_000;

/// Whether a text channel is the answer's own prose (not reasoning, a refusal or a call).
fn is_spoken(channel: &str) -> bool {
    channel.ends_with(":content") || channel.starts_with("response.output_text.delta:")
}

/// Appends `piece` to `tail`, keeping only its last `max` characters (roughly: trimmed when
/// it has grown to twice that, so that a long answer is not shifted on every piece).
fn push_tail(tail: &mut String, piece: &str, max: usize) {
    tail.push_str(piece);
    if tail.len() > 2 * max * 4 {
        let chars = tail.chars().count();
        if chars > max {
            let cut = tail.char_indices().nth(chars - max).map_or(0, |(i, _)| i);
            tail.drain(..cut);
        }
    }
}

/// Appends `piece` to a call's arguments, up to `MAX_CALL_ARGS` bytes.
fn push_bounded(args: &mut String, piece: &str) {
    let room = MAX_CALL_ARGS.saturating_sub(args.len());
    let mut cut = piece.len().min(room);
    while !piece.is_char_boundary(cut) {
        cut -= 1;
    }
    args.push_str(&piece[..cut]);
}

fn clone_held(h: &Held) -> Held {
    Held {
        event: h.event.clone(),
        json: h.json.clone(),
        changed: h.changed,
        texts: Vec::new(),
        call: None,
        terminal: h.terminal,
    }
}

/// An event Warden writes itself; Responses events carry their type as the event name.
fn synthetic(json: Value, named: bool) -> Held {
    let name = named.then(|| json["type"].as_str().unwrap_or("").to_string());
    let raw = Bytes::from(Event::encode(name.as_deref(), None, &json.to_string()));
    Held {
        event: Event {
            raw,
            name,
            id: None,
            data: None,
        },
        json: Some(json),
        changed: false,
        texts: Vec::new(),
        call: None,
        terminal: false,
    }
}

/// Whether an event ends the answer: chat's `[DONE]`, Responses' last events.
fn is_terminal(event: &Event) -> bool {
    let data = event.data.as_deref().unwrap_or("").trim();
    data == "[DONE]"
        || matches!(
            event.name.as_deref(),
            Some("response.completed" | "response.incomplete" | "response.failed")
        )
}

//! Governance of what the model answers: the tool calls it asks for are judged (in JSON and in
//! streamed deltas, reassembled) and a red one replaces the answer with a refusal; secrets and
//! personal data in its text are redacted or flagged by the policy's `dlp` rules — in streams
//! with a bounded look-behind window, so a secret split across chunks is still caught.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{Value, json};
use warden_policy::{Decision, DlpAction, Policy, Risk};

use crate::dlp::{DlpReport, Placeholders, apply};

/// Judges one tool call (name and arguments).
pub type ToolJudge = Arc<dyn Fn(&str, &Value) -> Decision + Send + Sync>;

/// What response governance found and did, for the audit record.
#[derive(Debug, Default, Clone)]
pub struct ResponseReport {
    pub tool_calls: Vec<Value>,
    pub tool_risk: Option<Risk>,
    pub replaced: bool,
    pub dlp: DlpReport,
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

/// How tool calls in answers are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolCallMode {
    /// A red tool call replaces the answer with a refusal.
    Enforce,
    /// Judged and recorded; the answer passes.
    Annotate,
    Off,
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

fn judge_calls(
    calls: &[(String, String)],
    judge: &ToolJudge,
    report: &mut ResponseReport,
) -> Option<Decision> {
    let mut worst: Option<Decision> = None;
    for (name, arguments) in calls {
        let decision = judge(name, &parse_args(arguments));
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

/// Governs a whole JSON completion. Returns the body to send (the upstream's bytes unchanged
/// unless something had to change) and what was done.
pub fn govern_json(
    body: Bytes,
    judge: &ToolJudge,
    mode: ToolCallMode,
    policy: &Policy,
) -> (Bytes, ResponseReport) {
    let mut report = ResponseReport::default();
    let Ok(mut value) = serde_json::from_slice::<Value>(&body) else {
        return (body, report);
    };
    let mut changed = false;
    let mut placeholders = Placeholders::default();
    if let Some(Value::Array(choices)) = value.get_mut("choices") {
        for choice in choices.iter_mut() {
            if mode != ToolCallMode::Off
                && let Some(Value::Array(calls)) = choice.pointer("/message/tool_calls")
            {
                let calls: Vec<(String, String)> = calls
                    .iter()
                    .map(|c| {
                        let f = &c["function"];
                        (
                            f["name"].as_str().unwrap_or("").to_string(),
                            f["arguments"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect();
                if let Some(worst) = judge_calls(&calls, judge, &mut report)
                    && worst.risk == Risk::Red
                    && mode == ToolCallMode::Enforce
                {
                    choice["message"] = json!({"role": "assistant", "content": refusal_text(&worst)});
                    choice["finish_reason"] = json!("stop");
                    report.replaced = true;
                    changed = true;
                }
            }
            if let Some(Value::String(content)) = choice.pointer_mut("/message/content") {
                let findings = policy.dlp_findings(content);
                if !findings.is_empty() {
                    let redacted = apply(content, &findings, false, &mut placeholders, &mut report.dlp);
                    if redacted != *content {
                        *content = redacted;
                        changed = true;
                    }
                }
            }
        }
    }
    if changed {
        let bytes = serde_json::to_vec(&value).map(Bytes::from).unwrap_or(body);
        return (bytes, report);
    }
    (body, report)
}

/// A held SSE event: its parsed JSON (when it carries content) and its original bytes.
struct Held {
    raw: Bytes,
    json: Option<Value>,
    /// Range of this event's content in the look-behind window.
    content: (usize, usize),
    tool: bool,
}

/// Governs an SSE stream event by event. Events that carry neither content nor tool calls pass
/// at once, unchanged; content waits until `window` more characters have followed it (the
/// look-behind in which a split secret is completed and caught); tool-call deltas wait until
/// the calls are complete and judged.
pub struct Governor {
    judge: ToolJudge,
    mode: ToolCallMode,
    policy: Arc<Policy>,
    window_chars: usize,
    pending: Vec<u8>,
    queue: VecDeque<Held>,
    window: String,
    calls: BTreeMap<u64, (String, String)>,
    holding_tools: bool,
    blocked: bool,
    placeholders: Placeholders,
    pub report: ResponseReport,
}

impl Governor {
    pub fn new(judge: ToolJudge, mode: ToolCallMode, policy: Arc<Policy>, window_chars: usize) -> Governor {
        Governor {
            judge,
            mode,
            policy,
            window_chars,
            pending: Vec::new(),
            queue: VecDeque::new(),
            window: String::new(),
            calls: BTreeMap::new(),
            holding_tools: false,
            blocked: false,
            placeholders: Placeholders::default(),
            report: ResponseReport::default(),
        }
    }

    /// Takes upstream bytes; returns what may go to the client now.
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        self.pending.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(end) = find_event_end(&self.pending) {
            let raw: Vec<u8> = self.pending.drain(..end).collect();
            self.event(Bytes::from(raw), &mut out);
        }
        out
    }

    /// The end of the stream: everything still held, judged and released.
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.settle_tools(&mut out);
        self.release(true, &mut out);
        if !self.pending.is_empty() {
            out.extend(std::mem::take(&mut self.pending));
        }
        out
    }

    fn event(&mut self, raw: Bytes, out: &mut Vec<u8>) {
        if self.blocked {
            // After a refusal replaced the tool calls, only the end of the stream is sent.
            if is_done(&raw) {
                out.extend_from_slice(&raw);
            }
            return;
        }
        let json = data_json(&raw);
        let delta = json.as_ref().and_then(|v| v.pointer("/choices/0/delta"));
        let has_tools = self.mode != ToolCallMode::Off && delta.and_then(|d| d.get("tool_calls")).is_some();
        let content = delta
            .and_then(|d| d.get("content"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let finish = json
            .as_ref()
            .and_then(|v| v.pointer("/choices/0/finish_reason"))
            .and_then(Value::as_str)
            .map(str::to_string);
        if has_tools {
            self.holding_tools = true;
            if let Some(Value::Array(calls)) = delta.and_then(|d| d.get("tool_calls")) {
                for c in calls {
                    let index = c.get("index").and_then(Value::as_u64).unwrap_or(0);
                    let entry = self.calls.entry(index).or_default();
                    if let Some(name) = c.pointer("/function/name").and_then(Value::as_str) {
                        entry.0.push_str(name);
                    }
                    if let Some(args) = c.pointer("/function/arguments").and_then(Value::as_str) {
                        // Bounded: arguments beyond 256 KiB are not reassembled further.
                        if entry.1.len() < 256 * 1024 {
                            entry.1.push_str(args);
                        }
                    }
                }
            }
        }
        let start = self.window.len();
        if let Some(text) = &content {
            self.window.push_str(text);
        }
        self.queue.push_back(Held {
            raw: raw.clone(),
            json: if content.is_some() { json.clone() } else { None },
            content: (start, self.window.len()),
            tool: has_tools || self.holding_tools,
        });
        if content.is_some() {
            self.scan();
        }
        let ends_calls = finish.as_deref() == Some("tool_calls") || is_done(&raw);
        if self.holding_tools && ends_calls {
            self.settle_tools(out);
        }
        self.release(is_done(&raw), out);
    }

    /// Redacts (and records) findings in the look-behind window.
    fn scan(&mut self) {
        let findings = self.policy.dlp_findings(&self.window);
        if findings.is_empty() {
            return;
        }
        // Rewrite the window and every held event's share of it.
        let released_upto = self
            .queue
            .front()
            .map(|h| h.content.0)
            .unwrap_or(self.window.len());
        let mut report = DlpReport::default();
        let mut placeholders = std::mem::take(&mut self.placeholders);
        let candidates: Vec<_> = findings
            .into_iter()
            .filter(|f| f.start >= released_upto)
            .collect();
        let redactions: Vec<_> = candidates
            .iter()
            .filter(|f| f.action == DlpAction::Redact)
            .cloned()
            .collect();
        let _ = apply(&self.window, &candidates, false, &mut placeholders, &mut report);
        self.placeholders = placeholders;
        // Only new findings are reported: a flagged value stays in the window and is seen again.
        for entry in report.flagged {
            if !self.report.dlp.flagged.contains(&entry) {
                self.report.dlp.flagged.push(entry);
            }
        }
        self.report.dlp.redacted.extend(report.redacted);
        for f in redactions.iter().rev() {
            let placeholder = self
                .placeholders
                .for_value(f.detector, &self.window[f.start..f.end]);
            self.redact_range(f.start, f.end, &placeholder);
        }
    }

    /// Replaces window[start..end] by `placeholder`, in the window and in the held events.
    fn redact_range(&mut self, start: usize, end: usize, placeholder: &str) {
        let shift = placeholder.len() as isize - (end - start) as isize;
        let mut placed = false;
        for held in self.queue.iter_mut() {
            let (a, b) = held.content;
            let overlap = a < end && start < b;
            if overlap {
                let mut text = self.window[a..b].to_string();
                let lo = start.max(a) - a;
                let hi = end.min(b) - a;
                let insert = if !placed && start >= a { placeholder } else { "" };
                if !insert.is_empty() {
                    placed = true;
                }
                text.replace_range(lo..hi, insert);
                if let Some(json) = &mut held.json
                    && let Some(content) = json.pointer_mut("/choices/0/delta/content")
                {
                    *content = Value::String(text);
                }
            }
            let moved = |x: usize| {
                if x >= end {
                    (x as isize + shift) as usize
                } else if x > start {
                    start
                } else {
                    x
                }
            };
            let new_a = moved(a);
            let new_b = if overlap && b <= end && placed && start >= a {
                start + placeholder.len()
            } else {
                moved(b)
            };
            held.content = (new_a, new_b.max(new_a));
        }
        self.window.replace_range(start..end, placeholder);
        // Re-derive contiguous ranges from each event's content length.
        let mut at = self.queue.front().map(|h| h.content.0).unwrap_or(0);
        for held in self.queue.iter_mut() {
            let len = held
                .json
                .as_ref()
                .and_then(|j| j.pointer("/choices/0/delta/content"))
                .and_then(Value::as_str)
                .map(str::len)
                .unwrap_or(held.content.1 - held.content.0);
            held.content = (at, at + len);
            at += len;
        }
    }

    fn settle_tools(&mut self, out: &mut Vec<u8>) {
        if !self.holding_tools {
            return;
        }
        self.holding_tools = false;
        let calls: Vec<(String, String)> = std::mem::take(&mut self.calls).into_values().collect();
        let worst = judge_calls(&calls, &self.judge, &mut self.report);
        let Some(worst) = worst.filter(|w| w.risk == Risk::Red && self.mode == ToolCallMode::Enforce) else {
            for held in self.queue.iter_mut() {
                held.tool = false;
            }
            return;
        };
        // Replace the held tool-call events by a refusal in the answer's own shape.
        let template = self.queue.iter().find_map(|h| data_json(&h.raw));
        self.queue.retain(|h| !h.tool);
        self.release(true, out);
        let (id, model, created) = template
            .map(|t| (t["id"].clone(), t["model"].clone(), t["created"].clone()))
            .unwrap_or((Value::Null, Value::Null, Value::Null));
        let chunk = |delta: Value, finish: Value| {
            let v = json!({"id": id, "object": "chat.completion.chunk", "created": created, "model": model,
                           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
            format!("data: {v}\n\n")
        };
        out.extend(chunk(json!({"content": refusal_text(&worst)}), Value::Null).into_bytes());
        out.extend(chunk(json!({}), json!("stop")).into_bytes());
        self.report.replaced = true;
        self.blocked = true;
    }

    /// Sends the front of the queue as far as it may go.
    fn release(&mut self, all: bool, out: &mut Vec<u8>) {
        while let Some(front) = self.queue.front() {
            if front.tool && !all {
                break;
            }
            if front.tool && self.holding_tools {
                break;
            }
            let content_follows = self.window.len().saturating_sub(front.content.1);
            if !all && front.content.1 > front.content.0 && content_follows < self.window_chars {
                break;
            }
            let Some(held) = self.queue.pop_front() else { break };
            match &held.json {
                Some(json) if data_json(&held.raw).as_ref() != Some(json) => {
                    out.extend(format!("data: {json}\n\n").into_bytes());
                }
                _ => out.extend_from_slice(&held.raw),
            }
        }
        // Keep the window no longer than what is held plus the look-behind.
        let keep_from = self
            .queue
            .front()
            .map(|h| h.content.0)
            .unwrap_or(self.window.len());
        let cut = keep_from.saturating_sub(self.window_chars);
        let cut = (0..=cut)
            .rev()
            .find(|&c| self.window.is_char_boundary(c))
            .unwrap_or(0);
        if cut > 0 {
            self.window.drain(..cut);
            for held in self.queue.iter_mut() {
                held.content = (held.content.0 - cut, held.content.1 - cut);
            }
        }
    }
}

/// The end of the first complete event: a blank line, in `\n` or `\r\n` line endings.
fn find_event_end(buf: &[u8]) -> Option<usize> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|p| p + 2);
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4);
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn data_line(raw: &[u8]) -> Option<&[u8]> {
    raw.split(|&b| b == b'\n')
        .find_map(|line| line.strip_prefix(b"data:"))
        .map(|d| d.trim_ascii())
}

fn is_done(raw: &[u8]) -> bool {
    data_line(raw) == Some(b"[DONE]")
}

fn data_json(raw: &[u8]) -> Option<Value> {
    let data = data_line(raw)?;
    if data.first() != Some(&b'{') {
        return None;
    }
    serde_json::from_slice(data).ok()
}

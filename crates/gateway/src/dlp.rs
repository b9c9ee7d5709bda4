//! Data-loss prevention on prompts: secrets and personal data found by rules with a `dlp`
//! action are replaced by stable placeholders before the request is judged and forwarded
//! (`redact`), or judged as if absent and forwarded as sent, with a record (`flag`). Rules
//! without an action block through the policy as any rule does. Records name what was found
//! and what was done, never the value.

use std::collections::HashMap;

use serde_json::{Value, json};
use warden_policy::{DlpAction, DlpFinding, Policy};

use crate::request::ChatRequest;

/// What DLP did to one text or request.
#[derive(Debug, Default, Clone)]
pub struct DlpReport {
    pub redacted: Vec<Value>,
    pub flagged: Vec<Value>,
}

impl DlpReport {
    pub fn to_json(&self, scanned: &str) -> Value {
        json!({"scanned": scanned, "redacted": self.redacted, "flagged": self.flagged})
    }
}

/// Placeholders that stay the same for the same value within one request or response.
#[derive(Debug, Default)]
pub struct Placeholders {
    seen: HashMap<String, String>,
    counts: HashMap<&'static str, usize>,
}

impl Placeholders {
    pub fn for_value(&mut self, detector: &'static str, value: &str) -> String {
        if let Some(p) = self.seen.get(value) {
            return p.clone();
        }
        let n = self.counts.entry(detector).or_default();
        *n += 1;
        let placeholder = format!("[REDACTED:{detector}:{n}]");
        self.seen.insert(value.to_string(), placeholder.clone());
        placeholder
    }
}

/// Applies the findings to `text`: redacted spans (and, with `mask_flags`, flagged ones) are
/// replaced by placeholders. Returns the new text.
pub fn apply(
    text: &str,
    findings: &[DlpFinding],
    mask_flags: bool,
    placeholders: &mut Placeholders,
    report: &mut DlpReport,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in findings {
        if f.start < at || f.end > text.len() {
            continue;
        }
        let value = &text[f.start..f.end];
        let placeholder = placeholders.for_value(f.detector, value);
        let entry = json!({"rule": f.rule, "detector": f.detector, "placeholder": placeholder});
        match f.action {
            DlpAction::Redact => report.redacted.push(entry),
            DlpAction::Flag => report.flagged.push(entry),
        }
        if f.action == DlpAction::Redact || mask_flags {
            out.push_str(&text[at..f.start]);
            // What the policy judges gets a neutral mask: `[REDACTED:aws_access_key:1]` would
            // itself read as a request for an access key.
            out.push_str(if mask_flags { "[REDACTED]" } else { &placeholder });
            at = f.end;
        }
    }
    out.push_str(&text[at..]);
    out
}

/// Redacts the request's messages in place and masks what the policy will judge.
pub fn apply_to_request(policy: &Policy, request: &mut ChatRequest) -> DlpReport {
    let mut report = DlpReport::default();
    let mut placeholders = Placeholders::default();
    // What is forwarded: redact only.
    if let Some(Value::Array(messages)) = request.body.get_mut("messages") {
        for message in messages.iter_mut() {
            let Some(content) = message.get_mut("content") else {
                continue;
            };
            match content {
                Value::String(s) => redact_string(policy, s, &mut placeholders),
                Value::Array(parts) => {
                    for part in parts.iter_mut() {
                        if let Some(Value::String(s)) = part.get_mut("text") {
                            redact_string(policy, s, &mut placeholders);
                        }
                    }
                }
                _ => {}
            }
            // Tool calls carried in the history are forwarded too: their arguments as well.
            if let Some(Value::Array(calls)) = message.get_mut("tool_calls") {
                for call in calls.iter_mut() {
                    if let Some(Value::String(args)) = call.pointer_mut("/function/arguments") {
                        redact_string(policy, args, &mut placeholders);
                    }
                }
            }
        }
    }
    // What is judged: redactions and flags both masked, so neither decides the tier.
    let findings = policy.dlp_findings(&request.text);
    request.text = apply(&request.text, &findings, true, &mut placeholders, &mut report);
    let findings = policy.dlp_findings(&request.context);
    let mut context_report = DlpReport::default();
    request.context = apply(
        &request.context,
        &findings,
        true,
        &mut placeholders,
        &mut context_report,
    );
    report.redacted.extend(context_report.redacted);
    report.flagged.extend(context_report.flagged);
    report
}

fn redact_string(policy: &Policy, s: &mut String, placeholders: &mut Placeholders) {
    let findings: Vec<DlpFinding> = policy
        .dlp_findings(s)
        .into_iter()
        .filter(|f| f.action == DlpAction::Redact)
        .collect();
    if !findings.is_empty() {
        *s = apply(s, &findings, false, placeholders, &mut DlpReport::default());
    }
}

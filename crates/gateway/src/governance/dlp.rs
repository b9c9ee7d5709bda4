//! Data-loss prevention: secrets and personal data found by rules with a `dlp` action are
//! replaced by stable placeholders before the request is judged and forwarded (`redact`), or
//! judged as if absent and forwarded as sent, with a record (`flag`). Rules without an action
//! block through the policy as any rule does. It runs over every text of the governed view,
//! headers included, and across the joins between texts, so a secret split over two messages
//! is still one secret. Records name what was found and what was done, never the value.

use std::collections::HashMap;

use serde_json::{Value, json};
use warden_policy::{DlpAction, DlpFinding, Policy};

use super::view::View;
use crate::error::ApiError;

/// How much of the end of one text and the start of the next is looked at together for a
/// secret split between them.
const JUNCTION_CHARS: usize = 4096;

/// What DLP did to one request or answer.
#[derive(Debug, Default, Clone)]
pub struct DlpReport {
    pub redacted: Vec<Value>,
    pub flagged: Vec<Value>,
}

impl DlpReport {
    pub fn to_json(&self, scanned: &str) -> Value {
        let mut map = serde_json::Map::with_capacity(3);
        map.insert("scanned".into(), Value::String(scanned.to_string()));
        map.insert("redacted".into(), Value::Array(self.redacted.clone()));
        map.insert("flagged".into(), Value::Array(self.flagged.clone()));
        Value::Object(map)
    }

    fn note(&mut self, finding: &DlpFinding, placeholder: &str) {
        let entry = json!({"rule": finding.rule, "detector": finding.detector, "placeholder": placeholder});
        match finding.action {
            DlpAction::Redact => self.redacted.push(entry),
            DlpAction::Flag => self.flagged.push(entry),
        }
    }

    /// Adds `other`'s entries not already here.
    pub fn merge_new(&mut self, other: DlpReport) {
        for entry in other.flagged {
            if !self.flagged.contains(&entry) {
                self.flagged.push(entry);
            }
        }
        self.redacted.extend(other.redacted);
    }
}

/// Placeholders that stay the same for the same value within one request or answer.
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
        report.note(f, &placeholder);
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

/// One cut in one text: a whole finding, or one side of a finding split between two texts.
#[derive(Debug, Clone)]
struct Cut {
    start: usize,
    end: usize,
    finding: usize,
    /// The side that carries the placeholder (the other side of a split finding is removed).
    carries: bool,
}

/// Redacts the view in place and returns, for each slot, the text the policy judges (every
/// finding masked, so that neither a redacted nor a flagged value decides the tier).
pub fn govern_view(policy: &Policy, view: &mut View) -> Result<(DlpReport, Vec<String>), ApiError> {
    let odd_keys = view.odd_keys();
    let mut judged = vec![String::new(); view.slots.len()];
    let report = if view.redact {
        for (_, key) in &odd_keys {
            if !policy.dlp_findings(key).is_empty() || policy.mask_sensitive(key) != *key {
                return Err(ApiError::bad_request(
                    "A field name holds a secret or personal data; send it as a value instead.",
                    None,
                    "secret_in_field_name",
                ));
            }
        }
        redact(policy, view, &mut judged)
    } else {
        for (slot, leaf) in view.leaves() {
            add_line(&mut judged[slot], view.leaf(&leaf).unwrap_or_default());
        }
        DlpReport::default()
    };
    for (slot, key) in &odd_keys {
        add_line(&mut judged[*slot], key);
    }
    Ok((report, judged))
}

/// `text` as a line of its own at the end of `out`.
fn add_line(out: &mut String, text: &str) {
    if !out.is_empty() {
        out.push('\n');
    }
    out.push_str(text);
}

/// Redacts every leaf of the view in place and adds, to each slot's `judged` text, its
/// leaves with every finding masked.
fn redact(policy: &Policy, view: &mut View, judged: &mut [String]) -> DlpReport {
    let leaves = view.leaves();
    let texts: Vec<String> = leaves
        .iter()
        .map(|(_, leaf)| view.leaf(leaf).unwrap_or_default().to_string())
        .collect();
    let mut findings: Vec<(DlpFinding, String)> = Vec::new();
    let mut cuts: Vec<Vec<Cut>> = vec![Vec::new(); texts.len()];
    for (i, text) in texts.iter().enumerate() {
        for f in policy.dlp_findings(text) {
            cuts[i].push(Cut {
                start: f.start,
                end: f.end,
                finding: findings.len(),
                carries: true,
            });
            let value = text[f.start..f.end].to_string();
            findings.push((f, value));
        }
    }
    // A secret split between two consecutive texts the model reads as prose. Structure (roles,
    // ids) is scanned text by text only: joining it to prose would invent findings.
    let prose: Vec<usize> = leaves
        .iter()
        .enumerate()
        .filter(|(_, (slot, _))| view.slots[*slot].judged)
        .map(|(i, _)| i)
        .collect();
    for pair in prose.windows(2) {
        let (b, a) = (pair[0], pair[1]);
        let (before, after) = (&texts[b], &texts[a]);
        if before.is_empty() || after.is_empty() {
            continue;
        }
        let tail_start = char_floor(before, before.len().saturating_sub(JUNCTION_CHARS));
        let head_end = char_floor(after, JUNCTION_CHARS.min(after.len()));
        let tail = &before[tail_start..];
        let joined = format!("{tail}{}", &after[..head_end]);
        for f in policy.dlp_findings(&joined) {
            if !(f.start < tail.len() && f.end > tail.len()) {
                continue;
            }
            let (tail_cut, head_cut) = (tail_start + f.start, f.end - tail.len());
            // A side already inside a finding of its own text is that finding, not a split one
            // (a key that ends a message and a word that starts the next are two things).
            let overlaps =
                |cuts: &[Cut], start: usize, end: usize| cuts.iter().any(|c| c.start < end && start < c.end);
            if overlaps(&cuts[b], tail_cut, before.len()) || overlaps(&cuts[a], 0, head_cut) {
                continue;
            }
            let value = joined[f.start..f.end].to_string();
            let index = findings.len();
            cuts[b].push(Cut {
                start: tail_cut,
                end: before.len(),
                finding: index,
                carries: true,
            });
            cuts[a].push(Cut {
                start: 0,
                end: head_cut,
                finding: index,
                carries: false,
            });
            findings.push((f, value));
        }
    }
    let mut report = DlpReport::default();
    let mut placeholders = Placeholders::default();
    let names: Vec<String> = findings
        .iter()
        .map(|(f, value)| {
            let placeholder = placeholders.for_value(f.detector, value);
            report.note(f, &placeholder);
            placeholder
        })
        .collect();
    for (i, ((slot, leaf), text)) in leaves.iter().zip(&texts).enumerate() {
        let mut leaf_cuts = std::mem::take(&mut cuts[i]);
        leaf_cuts.sort_by_key(|c| (c.start, std::cmp::Reverse(c.end)));
        let mut forwarded = String::with_capacity(text.len());
        let mut masked = String::with_capacity(text.len());
        let mut at = 0;
        for cut in &leaf_cuts {
            if cut.start < at || cut.end > text.len() {
                continue;
            }
            let (finding, _) = &findings[cut.finding];
            forwarded.push_str(&text[at..cut.start]);
            masked.push_str(&text[at..cut.start]);
            if finding.action == DlpAction::Redact {
                if cut.carries {
                    forwarded.push_str(&names[cut.finding]);
                }
            } else {
                forwarded.push_str(&text[cut.start..cut.end]);
            }
            if cut.carries {
                masked.push_str("[REDACTED]");
            }
            at = cut.end;
        }
        forwarded.push_str(&text[at..]);
        masked.push_str(&text[at..]);
        if forwarded != *text {
            view.set_leaf(leaf, forwarded);
        }
        add_line(&mut judged[*slot], &masked);
    }
    report
}

/// Masks, in place, every secret and piece of personal data the detectors find in `value`.
pub fn mask_in_place(policy: &Policy, value: &mut Value) {
    match value {
        Value::String(s) => {
            let masked = policy.mask_sensitive(s);
            if masked != *s {
                *s = masked;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| mask_in_place(policy, v)),
        Value::Object(map) => map.values_mut().for_each(|v| mask_in_place(policy, v)),
        _ => {}
    }
}

/// `value` with every secret and piece of personal data the detectors find masked, for what
/// is written down (records, the approval queue).
pub fn mask_value(policy: &Policy, value: &Value) -> Value {
    match value {
        Value::String(s) => Value::String(policy.mask_sensitive(s)),
        Value::Array(items) => Value::Array(items.iter().map(|v| mask_value(policy, v)).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), mask_value(policy, v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// The largest char boundary at or below `at`.
fn char_floor(text: &str, mut at: usize) -> usize {
    while at > 0 && !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The leaves of a view that DLP changed, for tests.
#[cfg(test)]
fn leaf_texts(view: &View) -> Vec<String> {
    view.leaves()
        .iter()
        .filter_map(|(_, l): &(usize, super::view::Leaf)| view.leaf(l).map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governance::view::Subject;
    use warden_policy::Speaker;

    const TOKEN: &str = "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";

    fn view(texts: &[&str]) -> View {
        let mut view = View::new(Subject::Conversation);
        let messages: Vec<Value> = texts.iter().map(|t| json!({"content": t})).collect();
        view.body.insert("messages".into(), Value::Array(messages));
        for i in 0..texts.len() {
            view.text(format!("/messages/{i}/content"), Speaker::User, i as u32);
        }
        view
    }

    fn pack() -> Policy {
        Policy::default_pack().unwrap()
    }

    #[test]
    fn a_secret_in_any_text_is_redacted_and_masked_for_judging() {
        let mut v = view(&["hello", &format!("my token {TOKEN} thanks")]);
        let (report, judged) = govern_view(&pack(), &mut v).unwrap();
        assert_eq!(report.redacted.len(), 1);
        assert!(!leaf_texts(&v).concat().contains(TOKEN));
        assert!(leaf_texts(&v)[1].contains("[REDACTED:github_token:1]"));
        assert_eq!(judged[1], "my token [REDACTED] thanks");
    }

    #[test]
    fn a_secret_split_between_two_texts_is_one_secret() {
        let (a, b) = TOKEN.split_at(20);
        let mut v = view(&[&format!("the token is {a}"), &format!("{b} ok")]);
        govern_view(&pack(), &mut v).unwrap();
        let texts = leaf_texts(&v);
        assert!(!texts.concat().contains(TOKEN), "{texts:?}");
        assert!(!texts[0].contains(a) && !texts[1].contains(b), "{texts:?}");
        assert_eq!(texts[1], " ok");
    }

    #[test]
    fn a_whole_secret_ending_one_text_does_not_eat_the_next() {
        let secret = "wJa1rXUtnFEMIK7MDENGbPxRfiCYzq8Lk3Vt2NpQ";
        let mut v = view(&[&format!("the key is {secret}"), "Thanks", "again"]);
        v.body.insert("model".into(), json!("openclaw"));
        v.cover_the_rest();
        let (report, _) = govern_view(&pack(), &mut v).unwrap();
        assert_eq!(report.redacted.len(), 1, "{:?}", report.redacted);
        let texts = leaf_texts(&v);
        assert_eq!(&texts[1..], ["Thanks", "again", "openclaw"], "{texts:?}");
    }

    #[test]
    fn a_secret_split_around_structure_is_still_one_secret() {
        let (a, b) = TOKEN.split_at(20);
        let mut v = view(&[&format!("the token is {a}"), &format!("{b} ok")]);
        for (i, m) in v.body["messages"].as_array_mut().unwrap().iter_mut().enumerate() {
            m["role"] = json!("user");
            m["name"] = json!(format!("n{i}"));
        }
        v.cover_the_rest();
        govern_view(&pack(), &mut v).unwrap();
        let texts = leaf_texts(&v);
        assert!(!texts[0].contains(a) && !texts[1].contains(b), "{texts:?}");
        assert_eq!(&texts[2..], ["n0", "user", "n1", "user"], "{texts:?}");
    }

    #[test]
    fn invisible_and_full_width_characters_do_not_hide_a_secret() {
        let (a, b) = TOKEN.split_at(10);
        let hidden = format!("{a}\u{200B}{b}");
        let wide: String = TOKEN
            .chars()
            .map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap_or(c))
            .collect();
        for text in [hidden, wide] {
            let mut v = view(&[&format!("token: {text}")]);
            let (report, _) = govern_view(&pack(), &mut v).unwrap();
            assert_eq!(report.redacted.len(), 1, "{text}");
            assert!(!leaf_texts(&v)[0].contains(&text), "{:?}", leaf_texts(&v));
        }
    }
}

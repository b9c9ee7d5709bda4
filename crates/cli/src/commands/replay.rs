//! `warden policy replay`: the recorded trail judged again under a candidate bundle, so an
//! operator sees what a policy change would do to real traffic before deploying it: counts by
//! tier transition, and the traces that change.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::{Value, json};
use warden_policy::{Decision, Policy, Risk, Speaker, Turn};

use super::policy::load_policy;
use crate::StoreArgs;
use crate::settings;

/// One judged request from the trail: what was asked and what was decided then.
struct Recorded {
    trace_id: String,
    surface: String,
    risk: Risk,
    rule: Option<String>,
    subject: Subject,
}

enum Subject {
    /// A conversation: the latest turn and, before it, its context.
    Chat {
        request: String,
        context: Option<String>,
    },
    /// A tool call, with its arguments when the record holds them whole.
    Tool {
        name: String,
        args: Option<Value>,
        text: String,
    },
}

impl Recorded {
    /// Reads a classification record (as `warden audit export` writes it); other stages are
    /// not judgements.
    fn from_record(record: &Value) -> Option<Recorded> {
        if record["stage"] != "classification" {
            return None;
        }
        let payload = &record["payload"];
        let risk = Risk::parse(payload["decision"]["risk"].as_str()?)?;
        let rule = payload["decision"]["rules"]
            .as_array()
            .and_then(|rules| rules.iter().find(|r| r["tier"] == payload["decision"]["risk"]))
            .and_then(|r| r["id"].as_str())
            .map(str::to_string);
        let subject = if let Some(tool) = payload.get("tool") {
            let args_text = tool["args"].as_str().unwrap_or_default().to_string();
            Subject::Tool {
                name: tool["name"].as_str()?.to_string(),
                args: serde_json::from_str::<Value>(&args_text).ok().map(|mut args| {
                    if let (Some(action), Some(map)) = (tool["action"].as_str(), args.as_object_mut()) {
                        map.entry("action").or_insert_with(|| json!(action));
                    }
                    args
                }),
                text: args_text,
            }
        } else {
            let request = &payload["request"];
            Subject::Chat {
                request: request["user_request"].as_str()?.to_string(),
                context: request["context"].as_str().map(str::to_string),
            }
        };
        Some(Recorded {
            trace_id: record["trace_id"].as_str().unwrap_or_default().to_string(),
            surface: payload["surface"].as_str().unwrap_or_default().to_string(),
            risk,
            rule,
            subject,
        })
    }

    fn judge(&self, policy: &Policy) -> Decision {
        match &self.subject {
            Subject::Chat { request, context } => {
                let mut turns = Vec::new();
                if let Some(context) = context {
                    turns.push(Turn::new(Speaker::System, context.as_str()));
                }
                turns.push(Turn::new(Speaker::User, request.as_str()));
                policy.judge_conversation(&turns, &Default::default())
            }
            Subject::Tool { name, args, text } => {
                let context = warden_policy::Context {
                    tool: Some(name),
                    ..Default::default()
                };
                match args {
                    Some(args) => policy.judge_tool_call(name, args, &context),
                    // A preview cut short is judged as text: the best the record allows.
                    None => policy.evaluate_in(&format!("{name}\n{text}"), &context),
                }
            }
        }
    }

    fn shown(&self) -> String {
        let text = match &self.subject {
            Subject::Chat { request, .. } => request.clone(),
            Subject::Tool { name, text, .. } => format!("{name} {text}"),
        };
        let one_line = text.replace('\n', " ");
        match one_line.char_indices().nth(100) {
            Some((cut, _)) => format!("{}…", &one_line[..cut]),
            None => one_line,
        }
    }
}

pub async fn run(
    candidate: &Path,
    from: Option<&Path>,
    show: usize,
    as_json: bool,
    store: &StoreArgs,
) -> anyhow::Result<ExitCode> {
    let policy = load_policy(Some(candidate))?;
    // Records are read one line at a time, from the file or from the store's export.
    let records: Box<dyn BufRead> = match from {
        Some(path) => {
            let file =
                std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
            Box::new(std::io::BufReader::new(file))
        }
        None => {
            let store = settings::open_existing_store(store).await?;
            let mut out = Vec::new();
            store.export(warden_store::ExportFormat::Jsonl, &mut out).await?;
            Box::new(std::io::Cursor::new(out))
        }
    };
    let mut judged = 0usize;
    let mut transitions: BTreeMap<(Risk, Risk), usize> = BTreeMap::new();
    let mut changed = Vec::new();
    for (n, line) in records.lines().enumerate() {
        let line = line.with_context(|| format!("line {}: cannot be read", n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let record: Value =
            serde_json::from_str(&line).with_context(|| format!("line {}: not a JSON record", n + 1))?;
        let Some(recorded) = Recorded::from_record(&record) else {
            continue;
        };
        judged += 1;
        let decision = recorded.judge(&policy);
        *transitions.entry((recorded.risk, decision.risk)).or_default() += 1;
        if decision.risk != recorded.risk {
            changed.push(json!({
                "trace_id": recorded.trace_id,
                "surface": recorded.surface,
                "before": recorded.risk,
                "before_rule": recorded.rule,
                "after": decision.risk,
                "after_rule": decision.deciding_rule(),
                "request": recorded.shown(),
            }));
        }
    }
    let counts: Vec<Value> = transitions
        .iter()
        .map(|((before, after), n)| json!({"before": before, "after": after, "count": n}))
        .collect();
    if as_json {
        let report = json!({
            "candidate": {"name": policy.name(), "version": policy.version()},
            "judged": judged,
            "changed": changed.len(),
            "transitions": counts,
            "changes": changed.iter().take(show).collect::<Vec<_>>(),
        });
        say!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    say!(
        "candidate {} {}: {judged} judged requests replayed, {} would change",
        policy.name(),
        policy.version(),
        changed.len()
    );
    say!("{:<8} {:<8} {:>7}", "before", "after", "count");
    for ((before, after), n) in &transitions {
        let mark = if before == after { "" } else { "  *" };
        say!("{:<8} {:<8} {:>7}{mark}", before.as_str(), after.as_str(), n);
    }
    if !changed.is_empty() {
        say!("changed (first {}):", show.min(changed.len()));
        for c in changed.iter().take(show) {
            say!(
                "  {} [{}] {} ({}) -> {} ({}): {}",
                c["trace_id"].as_str().unwrap_or_default(),
                c["surface"].as_str().unwrap_or_default(),
                c["before"].as_str().unwrap_or_default(),
                c["before_rule"].as_str().unwrap_or("-"),
                c["after"].as_str().unwrap_or_default(),
                c["after_rule"].as_str().unwrap_or("-"),
                c["request"].as_str().unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

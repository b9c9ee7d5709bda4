//! `warden classify`: JSONL `{"id","text"}` on stdin, one JSONL decision per line on stdout, in
//! order. A line that cannot be read gets an `error` line in its place, and the exit is 1.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::{Value, json};

use super::policy::load_policy;

pub fn run(policy: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let policy = load_policy(policy.as_deref())?;
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut failed = 0usize;
    for (n, line) in stdin.lock().lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Result<Value, String> = serde_json::from_str::<Value>(&line).map_err(|e| e.to_string());
        let result = parsed.and_then(|v| match v.get("text") {
            Some(Value::String(text)) => Ok((v.get("id").cloned().unwrap_or(Value::Null), text.clone())),
            _ => Err("expected an object with a string `text`".to_string()),
        });
        let output = match result {
            Ok((id, text)) => {
                let d = policy.evaluate(&text);
                json!({
                    "id": id,
                    "risk": d.risk,
                    "category": d.category,
                    "confidence": d.confidence,
                    "reason": d.reason,
                    "rules": d.rules.iter().map(|r| &r.id).collect::<Vec<_>>(),
                })
            }
            Err(e) => {
                failed += 1;
                json!({"id": null, "error": format!("line {}: {e}", n + 1)})
            }
        };
        serde_json::to_writer(&mut out, &output)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

//! `warden policy eval`: a policy measured on an evaluation set, the way a classifier is:
//! accuracy, per-tier precision and recall, the confusion matrix, and accuracy per kind.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde::Deserialize;
use warden_policy::{Risk, Speaker, Turn};

use super::policy::load_policy;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EvalFile {
    #[serde(rename = "case")]
    cases: Vec<EvalCase>,
}

/// One case: a single text, or a conversation judged the way the gateway judges chat.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EvalCase {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    messages: Option<Vec<EvalMessage>>,
    expect: Risk,
    #[serde(default)]
    kind: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EvalMessage {
    role: String,
    content: String,
}

impl EvalCase {
    fn judge(&self, policy: &warden_policy::Policy) -> anyhow::Result<warden_policy::Decision> {
        match (&self.text, &self.messages) {
            (Some(text), None) => Ok(policy.evaluate(text)),
            (None, Some(messages)) => {
                let turns = messages
                    .iter()
                    .map(|m| {
                        let speaker = match m.role.as_str() {
                            "system" | "developer" => Speaker::System,
                            "user" => Speaker::User,
                            "assistant" => Speaker::Assistant,
                            "tool" => Speaker::Tool,
                            other => anyhow::bail!(
                                "unknown role `{other}` (system, developer, user, assistant, tool)"
                            ),
                        };
                        Ok(Turn::new(speaker, m.content.as_str()))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                Ok(policy.judge_conversation(&turns, &Default::default()))
            }
            _ => anyhow::bail!("a case has either `text` or `messages`, not both or neither"),
        }
    }

    fn shown(&self) -> String {
        match (&self.text, &self.messages) {
            (Some(text), _) => format!("{text:?}"),
            (None, Some(messages)) => messages
                .iter()
                .map(|m| format!("{}: {:?}", m.role, m.content))
                .collect::<Vec<_>>()
                .join(" | "),
            (None, None) => String::new(),
        }
    }
}

const TIERS: [Risk; 3] = [Risk::Green, Risk::Amber, Risk::Red];

/// The targets `--check` enforces.
const MIN_ACCURACY: f64 = 0.97;
const MAX_GREEN_FALSE_POSITIVE_RATE: f64 = 0.02;

pub fn run(dir: &Path, policy: Option<&Path>, check: bool, verbose: bool) -> anyhow::Result<ExitCode> {
    let policy = load_policy(policy)?;
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for file in &files {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        let parsed: EvalFile = toml::from_str(&text).with_context(|| file.display().to_string())?;
        cases.extend(parsed.cases);
    }
    anyhow::ensure!(!cases.is_empty(), "no cases under {}", dir.display());

    // confusion[expected][got]
    let mut confusion = [[0usize; 3]; 3];
    let mut by_kind: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut misses = Vec::new();
    for case in &cases {
        let decision = case.judge(&policy)?;
        confusion[case.expect as usize][decision.risk as usize] += 1;
        let entry = by_kind.entry(case.kind.clone()).or_default();
        entry.1 += 1;
        if decision.risk == case.expect {
            entry.0 += 1;
        } else {
            let rules: Vec<_> = decision.rules.iter().map(|r| r.id.as_str()).collect();
            misses.push(format!(
                "  [{}] expected {}, got {} ({}): {}",
                case.kind,
                case.expect,
                decision.risk,
                if rules.is_empty() {
                    "no rule".to_string()
                } else {
                    rules.join(", ")
                },
                case.shown()
            ));
        }
    }
    let total = cases.len();
    let correct: usize = (0..3).map(|i| confusion[i][i]).sum();
    let accuracy = correct as f64 / total as f64;
    let red_as_green = confusion[Risk::Red as usize][Risk::Green as usize];
    let greens: usize = confusion[Risk::Green as usize].iter().sum();
    let green_fp = greens - confusion[Risk::Green as usize][Risk::Green as usize];
    let green_fp_rate = if greens == 0 {
        0.0
    } else {
        green_fp as f64 / greens as f64
    };

    say!(
        "policy {} {} on {} cases from {}",
        policy.name(),
        policy.version(),
        total,
        dir.display()
    );
    say!("accuracy {accuracy:.3} ({correct}/{total})");
    say!("{:<8} {:>9} {:>7}", "tier", "precision", "recall");
    for t in TIERS {
        let i = t as usize;
        let predicted: usize = (0..3).map(|e| confusion[e][i]).sum();
        let actual: usize = confusion[i].iter().sum();
        let ratio = |n: usize, d: usize| if d == 0 { 1.0 } else { n as f64 / d as f64 };
        say!(
            "{:<8} {:>9.3} {:>7.3}",
            t.as_str(),
            ratio(confusion[i][i], predicted),
            ratio(confusion[i][i], actual)
        );
    }
    say!("confusion (rows: expected, columns: judged)");
    say!("{:<8} {:>6} {:>6} {:>6}", "", "green", "amber", "red");
    for t in TIERS {
        let row = confusion[t as usize];
        say!("{:<8} {:>6} {:>6} {:>6}", t.as_str(), row[0], row[1], row[2]);
    }
    say!(
        "red judged green: {red_as_green}; green false-positive rate {green_fp_rate:.3} ({green_fp}/{greens})"
    );
    say!("by kind:");
    for (kind, (ok, n)) in &by_kind {
        say!(
            "  {:<16} {:>4}/{:<4} {:.3}",
            if kind.is_empty() { "-" } else { kind },
            ok,
            n,
            *ok as f64 / *n as f64
        );
    }
    if verbose && !misses.is_empty() {
        say!("misjudged:");
        for m in &misses {
            say!("{m}");
        }
    }
    let passed =
        accuracy >= MIN_ACCURACY && red_as_green == 0 && green_fp_rate <= MAX_GREEN_FALSE_POSITIVE_RATE;
    if check {
        say!(
            "targets (accuracy >= {MIN_ACCURACY}, no red judged green, green FP rate <= {MAX_GREEN_FALSE_POSITIVE_RATE}): {}",
            if passed { "met" } else { "NOT MET" }
        );
        if !passed {
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

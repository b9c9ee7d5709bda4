//! `warden policy eval`: a policy measured on an evaluation set, the way a classifier is:
//! accuracy, per-tier precision and recall, the confusion matrix, and accuracy per kind. A set
//! holds requests (a text or a conversation), tool calls (a tool and its arguments), or texts
//! for data-loss prevention (`expect = "finding"` or `"clean"`), or texts an MCP server hands
//! the model (`expect = "injection"` or `"clean"`: whether they hide orders to the model),
//! both measured by recall and false alarms.

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
    /// A tool call: the tool's name and its arguments.
    #[serde(default)]
    tool: Option<String>,
    #[serde(default)]
    args: Option<serde_json::Value>,
    expect: Expect,
    #[serde(default)]
    kind: String,
    /// The tool-call sets' name for `kind`.
    #[serde(default)]
    family: String,
}

/// A tier, or for data-loss prevention whether anything should be found.
#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Expect {
    Green,
    Amber,
    Red,
    Finding,
    /// The text hides an order to the model (`warden_policy::injection`).
    Injection,
    Clean,
}

impl Expect {
    fn tier(self) -> Option<Risk> {
        match self {
            Expect::Green => Some(Risk::Green),
            Expect::Amber => Some(Risk::Amber),
            Expect::Red => Some(Risk::Red),
            Expect::Finding | Expect::Injection | Expect::Clean => None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EvalMessage {
    role: String,
    content: String,
}

impl EvalCase {
    fn judge(&self, policy: &warden_policy::Policy) -> anyhow::Result<warden_policy::Decision> {
        if let Some(tool) = &self.tool {
            anyhow::ensure!(
                self.text.is_none() && self.messages.is_none(),
                "a tool-call case has `tool` and `args` only"
            );
            let args = self.args.clone().unwrap_or_else(|| serde_json::json!({}));
            return Ok(judge_tool_call(policy, tool, &args));
        }
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

    fn label(&self) -> &str {
        if self.kind.is_empty() {
            &self.family
        } else {
            &self.kind
        }
    }

    fn shown(&self) -> String {
        if let Some(tool) = &self.tool {
            let args = self.args.as_ref().map(ToString::to_string).unwrap_or_default();
            return format!("{tool} {args}");
        }
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
    // A set with injection cases measures the injection detector; its clean cases are texts
    // without an order to the model.
    let injection_set = cases.iter().any(|c| c.expect == Expect::Injection);
    let mut dlp = DlpScore {
        what: if injection_set {
            "instructions-to-the-model"
        } else {
            "data-loss prevention"
        },
        ..DlpScore::default()
    };
    let mut tier_cases = 0;
    for case in &cases {
        let Some(expect) = case.expect.tier() else {
            let text = case.text.as_deref().context(
                "a data-loss prevention or injection case (`finding`, `injection` or `clean`) needs a `text`",
            )?;
            let (reported, found) = if injection_set {
                let found = warden_policy::injection::find_injection(text);
                (
                    found.is_some(),
                    found
                        .map(|f| format!("{} ({:?})", f.family, f.evidence))
                        .unwrap_or_default(),
                )
            } else {
                let findings = policy.dlp_findings(text);
                let detectors: Vec<_> = findings.iter().map(|f| f.detector).collect();
                (!findings.is_empty(), detectors.join(", "))
            };
            let wanted = matches!(case.expect, Expect::Finding | Expect::Injection);
            let entry = by_kind.entry(case.label().to_string()).or_default();
            entry.1 += 1;
            if reported == wanted {
                entry.0 += 1;
            } else {
                misses.push(format!(
                    "  [{}] expected {}, got {}: {}",
                    case.label(),
                    if wanted { "a finding" } else { "nothing" },
                    if reported { found } else { "nothing".into() },
                    case.shown()
                ));
            }
            dlp.count(wanted, reported);
            continue;
        };
        tier_cases += 1;
        let decision = case.judge(&policy)?;
        confusion[expect as usize][decision.risk as usize] += 1;
        let entry = by_kind.entry(case.label().to_string()).or_default();
        entry.1 += 1;
        if decision.risk == expect {
            entry.0 += 1;
        } else {
            let rules: Vec<_> = decision.rules.iter().map(|r| r.id.as_str()).collect();
            misses.push(format!(
                "  [{}] expected {}, got {} ({}): {}",
                case.label(),
                expect,
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
    if tier_cases == 0 {
        return dlp.report(&policy, dir, &by_kind, &misses, check, verbose);
    }
    let total = tier_cases;
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

/// Recall on texts that hold a secret or personal data, false alarms on clean look-alikes.
#[derive(Default)]
struct DlpScore {
    /// What the set measures, for the report.
    what: &'static str,
    found: usize,
    findings: usize,
    false_alarms: usize,
    clean: usize,
}

/// The targets `--check` enforces on data-loss prevention sets.
const MIN_DLP_RECALL: f64 = 0.97;
const MAX_DLP_FALSE_ALARMS: f64 = 0.02;

impl DlpScore {
    fn count(&mut self, wanted: bool, reported: bool) {
        if wanted {
            self.findings += 1;
            self.found += usize::from(reported);
        } else {
            self.clean += 1;
            self.false_alarms += usize::from(reported);
        }
    }

    fn report(
        &self,
        policy: &warden_policy::Policy,
        dir: &Path,
        by_kind: &BTreeMap<String, (usize, usize)>,
        misses: &[String],
        check: bool,
        verbose: bool,
    ) -> anyhow::Result<ExitCode> {
        let ratio = |n: usize, d: usize| if d == 0 { 0.0 } else { n as f64 / d as f64 };
        let recall = ratio(self.found, self.findings);
        let false_alarms = ratio(self.false_alarms, self.clean);
        say!(
            "policy {} {} on {} {} cases from {}",
            policy.name(),
            policy.version(),
            self.findings + self.clean,
            self.what,
            dir.display()
        );
        say!("recall {recall:.3} ({}/{})", self.found, self.findings);
        say!(
            "clean texts with a finding {false_alarms:.3} ({}/{})",
            self.false_alarms,
            self.clean
        );
        say!("by kind:");
        for (kind, (ok, n)) in by_kind {
            say!("  {:<22} {:>4}/{:<4} {:.3}", kind, ok, n, ratio(*ok, *n));
        }
        if verbose && !misses.is_empty() {
            say!("misjudged:");
            for m in misses {
                say!("{m}");
            }
        }
        let passed = recall >= MIN_DLP_RECALL && false_alarms <= MAX_DLP_FALSE_ALARMS;
        if check {
            say!(
                "targets (recall >= {MIN_DLP_RECALL}, clean texts with a finding <= {MAX_DLP_FALSE_ALARMS}): {}",
                if passed { "met" } else { "NOT MET" }
            );
            if !passed {
                return Ok(ExitCode::FAILURE);
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// A tool call judged as the gateway judges it by default: by what its arguments do.
fn judge_tool_call(
    policy: &warden_policy::Policy,
    tool: &str,
    args: &serde_json::Value,
) -> warden_policy::Decision {
    let tool = warden_gateway::config::fold_tool_name(tool);
    let context = warden_policy::Context {
        tool: Some(&tool),
        ..Default::default()
    };
    policy.judge_tool_call(&tool, args, &context)
}

//! `warden policy test|explain|eval|replay`: a policy's test cases, why a text gets its verdict,
//! and (in their own modules) its measure on a set and its effect on recorded traffic.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde::Deserialize;
use warden_policy::{Policy, Risk};

use crate::PolicyCommand;

/// The bundle at `path`, or the built-in default pack.
pub fn load_policy(path: Option<&Path>) -> anyhow::Result<Policy> {
    match path {
        Some(path) => {
            let source =
                std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            Ok(Policy::from_toml(&source, &path.display().to_string())?)
        }
        None => Ok(Policy::default_pack()?),
    }
}

/// A test file: `[[case]]` tables with the text and the expected tier (and optionally rule).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    #[serde(rename = "case")]
    cases: Vec<TestCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestCase {
    text: String,
    expect: Risk,
    #[serde(default)]
    rule: Option<String>,
}

pub async fn run(command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Eval {
            dir,
            policy,
            check,
            verbose,
        } => super::eval::run(&dir, policy.as_deref(), check, verbose),
        PolicyCommand::Test { file, policy } => {
            let policy = load_policy(policy.as_deref())?;
            let source =
                std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let tests: TestFile = toml::from_str(&source).with_context(|| format!("{}", file.display()))?;
            let mut failures = 0;
            for case in &tests.cases {
                let d = policy.evaluate(&case.text);
                let rule_ok = case
                    .rule
                    .as_deref()
                    .is_none_or(|want| d.rules.iter().any(|r| r.id == want));
                if d.risk != case.expect || !rule_ok {
                    failures += 1;
                    let fired: Vec<_> = d.rules.iter().map(|r| r.id.as_str()).collect();
                    say!(
                        "FAIL {:?}: expected {}{}, got {} (rules: {})",
                        case.text,
                        case.expect,
                        case.rule
                            .as_deref()
                            .map(|r| format!(" via {r}"))
                            .unwrap_or_default(),
                        d.risk,
                        if fired.is_empty() {
                            "none".into()
                        } else {
                            fired.join(", ")
                        }
                    );
                }
            }
            say!(
                "{} passed, {} failed (policy {} {})",
                tests.cases.len() - failures,
                failures,
                policy.name(),
                policy.version()
            );
            Ok(if failures == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        PolicyCommand::Replay {
            candidate,
            from,
            show,
            json,
            store,
        } => super::replay::run(&candidate, from.as_deref(), show, json, &store).await,
        PolicyCommand::Explain { text, policy } => {
            let policy = load_policy(policy.as_deref())?;
            let d = policy.evaluate(&text);
            say!("policy:     {} {}", policy.name(), policy.version());
            say!("normalized: {}", policy.normalize(&text));
            let (language, words) = policy.read_as(&text);
            match language {
                Some(code) => say!("read as:    [{code}] {words}"),
                None => say!("read as:    {words}"),
            }
            say!(
                "risk:       {} ({}, confidence {:.2})",
                d.risk,
                d.category,
                d.confidence
            );
            say!("reason:     {}", d.reason);
            if let Some(alt) = &d.alternative {
                say!("offered:    {alt}");
            }
            if d.rules.is_empty() {
                say!("rules:      none fired");
            }
            for r in &d.rules {
                let spans: Vec<String> = r
                    .spans
                    .iter()
                    .map(|s| format!("{:?} at {}..{}", s.text, s.start, s.end))
                    .collect();
                say!(
                    "rule:       {} [{}] {}: {}",
                    r.id,
                    r.tier,
                    r.category,
                    spans.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

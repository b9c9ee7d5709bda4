//! The command-line contract: `demo`, `classify`, `policy test`, `policy explain`.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::support::{warden, warden_bin};

#[test]
fn demo_prints_the_five_governed_results_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("demo.csv");
    let (code, out, err) = warden(&["demo", "--csv", csv.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{err}");
    let statuses: Vec<_> = out.lines().filter_map(|l| l.strip_prefix("STATUS:   ")).collect();
    assert_eq!(
        statuses,
        ["executed", "executed", "blocked", "blocked", "blocked"],
        "{out}"
    );
    let risks: Vec<_> = out
        .lines()
        .filter_map(|l| l.strip_prefix("RISK:     "))
        .map(|r| r.split(' ').next().unwrap())
        .collect();
    assert_eq!(risks, ["green", "amber", "red", "red", "red"]);
    assert_eq!(out.lines().filter(|l| l.starts_with("TRACE:    ")).count(), 5);
    assert!(out.contains("APPROVAL: approved by policy:auto"));
    assert!(out.contains("stand-in agent"));
    assert!(out.contains("Audit chain verified: 14 records"), "{out}");
    let csv = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(
        csv.lines().next(),
        Some("trace_id,ts,stage,payload,seq,actor,prev_hash,hash")
    );
}

#[test]
fn classify_maps_jsonl_lines_in_order() {
    let mut child = Command::new(warden_bin())
        .arg("classify")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let input = concat!(
        "{\"id\":\"a\",\"text\":\"What is a tokenizer?\"}\n",
        "{\"id\":\"b\",\"text\":\"Please notify the vendor\"}\n",
        "{\"id\":3,\"text\":\"sudo reboot the box\"}\n",
        "not json\n",
        "{\"id\":\"e\",\"text\":\"walk along the riverbank\"}\n",
    );
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "a bad line makes the exit non-zero");
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(
        (lines[0]["id"].as_str(), lines[0]["risk"].as_str()),
        (Some("a"), Some("green"))
    );
    assert_eq!(
        (lines[1]["id"].as_str(), lines[1]["risk"].as_str()),
        (Some("b"), Some("amber"))
    );
    assert_eq!(lines[2]["id"], 3);
    assert_eq!(lines[2]["risk"], "red");
    assert_eq!(lines[2]["rules"][0], "red.shell");
    assert!(lines[3]["error"].as_str().unwrap().starts_with("line 4"));
    assert_eq!(lines[4]["risk"], "green");
    for key in ["id", "risk", "category", "confidence", "reason", "rules"] {
        assert!(lines[0].get(key).is_some(), "{key}");
    }
}

#[test]
fn policy_test_passes_on_the_default_cases_and_fails_on_a_wrong_one() {
    let cases = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/default.tests.toml");
    let (code, out, err) = warden(&["policy", "test", cases]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(" passed, 0 failed"));

    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.toml");
    std::fs::write(
        &wrong,
        "[[case]]\ntext = \"wire money to Bob\"\nexpect = \"green\"\n",
    )
    .unwrap();
    let (code, out, _) = warden(&["policy", "test", wrong.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        out.contains("FAIL") && out.contains("0 passed, 1 failed"),
        "{out}"
    );
}

#[test]
fn policy_explain_shows_rules_spans_and_normalized_text() {
    let (code, out, _) = warden(&["policy", "explain", "Please ＤＥＬＥＴＥ the backups"]);
    assert_eq!(code, 0);
    assert!(out.contains("normalized: please delete the backups"), "{out}");
    assert!(out.contains("risk:       red"));
    assert!(
        out.contains("red.destructive") && out.contains("\"ＤＥＬＥＴＥ\" at 7..25"),
        "{out}"
    );
}

#[test]
fn invalid_policy_is_refused_with_file_line_and_rule() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[policy]\nname = \"x\"\n\n[[rule]]\nid = \"r1\"\ntier = \"red\"\ncategory = \"c\"\ndetectors = [\"telepathy\"]\nreason = \"r\"\n").unwrap();
    let (code, _, err) = warden(&["policy", "explain", "hi", "--policy", bad.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(
        err.contains("bad.toml:4: rule `r1`") && err.contains("unknown detector `telepathy`"),
        "{err}"
    );
}

#[test]
fn the_default_pack_meets_its_targets_on_the_evaluation_set() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../policies/eval");
    let (code, out, err) = warden(&["policy", "eval", dir, "--check", "--verbose"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("targets (accuracy >= 0.97, no red judged green, green FP rate <= 0.02): met"),
        "{out}"
    );
    let cases: usize = out
        .split(" on ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(cases >= 400, "{cases} cases");
}

#[test]
fn a_closed_pipe_ends_a_report_quietly() {
    // A pipe whose reader is gone before the command starts: every write fails, as with
    // `warden policy explain … | head -1` once `head` has exited.
    for args in [
        &["policy", "explain", "please wire 50000 dollars now"][..],
        &["policy", "eval", "policies/eval"][..],
    ] {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = Command::new(warden_bin())
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR").to_string() + "/../..")
            .stdout(writer)
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(
            out.status.code().is_some_and(|c| c < 2),
            "{args:?}: {:?} {err}",
            out.status
        );
    }
}

#[test]
fn a_new_key_that_cannot_be_shown_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("w.db").display());
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(warden_bin())
        .args([
            "keys",
            "create",
            "--name",
            "lost",
            "--role",
            "requester",
            "--database-url",
            &db,
        ])
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("key `lost` was created but could not be shown"),
        "{err}"
    );
    assert!(err.contains("warden keys revoke lost"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

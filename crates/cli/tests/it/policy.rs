//! The policy from the gateway's side: the dry-run endpoint, hot reload on file change and on
//! SIGHUP, a broken bundle refused while the old one stays, and the version on every record.

use std::time::Duration;

use serde_json::json;
use warden_standin::StandIn;

use crate::support::{Gateway, gateway, green};

async fn version(g: &Gateway) -> String {
    g.get("/v1/policy", &g.requester).await.json()["version"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn wait_for_version_change(g: &Gateway, from: &str) -> String {
    for _ in 0..100 {
        let now = version(g).await;
        if now != from {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("policy version stayed {from}\n{}", g.logs());
}

#[tokio::test]
async fn evaluate_is_a_dry_run() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let g = gateway(&agent.url()).start();
    let reply = g
        .post(
            "/v1/policy/evaluate",
            &g.auditor,
            json!({"text": "s u d o reboot the box"}).to_string().into_bytes(),
            &[],
        )
        .await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["decision"]["risk"], "red");
    assert_eq!(body["decision"]["rules"][0]["id"], "red.shell");
    assert_eq!(body["normalized"], "s u d o reboot the box");
    assert_eq!(body["policy"]["version"], body["decision"]["policy_version"]);
    g.post("/v1/policy/evaluate", &g.auditor, b"{\"txt\": 1}".to_vec(), &[])
        .await
        .assert_error(400, "invalid_request_error", "invalid_json");
    g.post("/v1/policy/evaluate", "", b"{}".to_vec(), &[])
        .await
        .assert_error(401, "authentication_error", "invalid_api_key");
    assert!(agent.received().is_empty());
    assert!(g.trail().is_empty(), "a dry run leaves no record");
}

#[tokio::test]
async fn the_policy_reloads_on_change_and_keeps_the_old_one_when_the_new_one_is_broken() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    let base = warden_policy::DEFAULT_POLICY_TOML;
    std::fs::write(&file, base).unwrap();
    let g = gateway(&agent.url())
        .config(&format!(
            "[policy]\nfile = {:?}\nreload_interval_ms = 50",
            file.display().to_string()
        ))
        .start();
    let v1 = version(&g).await;
    assert_eq!(g.chat(&green("pineapple on pizza?")).await.status, 200);

    let fruit = "\n[[rule]]\nid = \"red.fruit\"\ntier = \"red\"\ncategory = \"fruit\"\nterms = [\"pineapple\"]\nreason = \"No fruit\"\n";
    std::fs::write(&file, format!("{base}{fruit}")).unwrap();
    let v2 = wait_for_version_change(&g, &v1).await;
    g.chat(&green("pineapple on pizza?"))
        .await
        .assert_error(403, "governance_blocked", "red.fruit");

    // A broken bundle is refused, naming file, line and rule; the policy in force stays.
    let broken = "\n[[rule]]\nid = \"red.broken\"\ntier = \"red\"\ncategory = \"c\"\ndetectors = [\"telepathy\"]\nreason = \"r\"\n";
    std::fs::write(&file, format!("{base}{fruit}{broken}")).unwrap();
    for _ in 0..200 {
        if g.logs().contains("rule `red.broken`") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logs = g.logs();
    assert!(
        logs.contains("policy reload refused") && logs.contains("rule `red.broken`"),
        "{logs}"
    );
    assert!(logs.contains(&format!("{}:", file.display())), "{logs}");
    assert_eq!(version(&g).await, v2);
    g.chat(&green("pineapple on pizza?"))
        .await
        .assert_error(403, "governance_blocked", "red.fruit");

    let trail = g.trail();
    let reloads: Vec<_> = trail.iter().filter(|r| r["stage"] == "policy_reloaded").collect();
    assert_eq!(reloads.len(), 1);
    assert_eq!(reloads[0]["payload"]["from"], v1.as_str());
    assert_eq!(reloads[0]["payload"]["to"], v2.as_str());
    assert!(trail.iter().any(|r| r["stage"] == "policy_reload_failed"));
    // Every record of a request names the policy that judged it.
    for r in trail.iter().filter(|r| r["trace_id"] != "-") {
        assert!(
            r["payload"]["policy_version"]
                .as_str()
                .is_some_and(|v| v.starts_with("sha256:")),
            "{r}"
        );
    }
}

#[tokio::test]
async fn sighup_reloads_the_policy() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.toml");
    std::fs::write(&file, warden_policy::DEFAULT_POLICY_TOML).unwrap();
    // Polling is slowed to an hour, so only the signal can explain a reload.
    let g = gateway(&agent.url())
        .config(&format!(
            "[policy]\nfile = {:?}\nreload_interval_ms = 3600000",
            file.display().to_string()
        ))
        .start();
    let v1 = version(&g).await;
    std::fs::write(
        &file,
        format!(
            "{}\n# a comment changes the version\n",
            warden_policy::DEFAULT_POLICY_TOML
        ),
    )
    .unwrap();
    g.signal("HUP");
    let v2 = wait_for_version_change(&g, &v1).await;
    assert_ne!(v1, v2);
    assert!(g.logs().contains("trigger=\"sighup\""), "{}", g.logs());
}

#[tokio::test]
async fn sighup_without_a_policy_file_is_harmless() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let mut g = gateway(&agent.url()).start();
    g.signal("HUP");
    for _ in 0..100 {
        if g.logs().contains("nothing to reload") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(g.logs().contains("nothing to reload"), "{}", g.logs());
    assert_eq!(
        g.wait_exit(Duration::from_millis(200)),
        None,
        "the gateway must survive SIGHUP"
    );
    assert_eq!(g.chat(&green("still there?")).await.status, 200);
}

/// A candidate bundle: the default pack with one rule more, holding weather questions.
fn candidate_bundle(dir: &std::path::Path) -> std::path::PathBuf {
    let source = format!(
        "{}\n[[rule]]\nid = \"amber.weather\"\ntier = \"amber\"\ncategory = \"test\"\nterms = [\"weather\"]\nquestions = \"keep\"\nreason = \"Weather needs a person\"\n",
        warden_policy::DEFAULT_POLICY_TOML
    );
    let path = dir.join("candidate.toml");
    std::fs::write(&path, source).unwrap();
    path
}

#[tokio::test]
async fn a_shadow_policy_is_recorded_not_enforced_and_replay_shows_what_a_candidate_changes() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let candidate = candidate_bundle(dir.path());
    let g = gateway(&agent.url())
        .config(&format!(
            "[policy]\nshadow_file = {:?}",
            candidate.display().to_string()
        ))
        .start();
    let weather = g.chat(&green("What is the weather like in Lisbon today?")).await;
    assert_eq!(weather.status, 200, "the shadow's amber is not enforced");
    let memo = g
        .chat(&green("Summarize this memo in three bullet points."))
        .await;
    assert_eq!(memo.status, 200);
    let (weather_trace, memo_trace) = (weather.trace_id(), memo.trace_id());

    // The trail holds both verdicts: the one enforced and the shadow's.
    let classification = |trace: &str| {
        g.trail()
            .into_iter()
            .find(|r| r["trace_id"] == trace && r["stage"] == "classification")
            .unwrap()
    };
    let shadowed = classification(&weather_trace);
    assert_eq!(shadowed["payload"]["decision"]["risk"], "green");
    assert_eq!(shadowed["payload"]["shadow"]["risk"], "amber");
    assert_eq!(shadowed["payload"]["shadow"]["rule"], "amber.weather");
    assert_eq!(shadowed["payload"]["shadow"]["agrees"], false);
    assert_eq!(classification(&memo_trace)["payload"]["shadow"]["agrees"], true);

    // Replayed from the store and from an exported file, the candidate changes one request.
    let export = dir.path().join("trail.jsonl");
    std::fs::write(&export, g.export("jsonl")).unwrap();
    let candidate_arg = candidate.to_str().unwrap();
    let (code, out, err) = crate::support::warden(&[
        "policy",
        "replay",
        "--candidate",
        candidate_arg,
        "--database-url",
        &g.db_url,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("2 judged requests replayed, 1 would change"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["green", "amber", "1", "*"]),
        "{out}"
    );
    assert!(
        out.contains(&weather_trace) && !out.contains(&memo_trace),
        "{out}"
    );
    let (code, out, err) = crate::support::warden(&[
        "policy",
        "replay",
        "--candidate",
        candidate_arg,
        "--from",
        export.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["judged"], 2);
    assert_eq!(report["changed"], 1);
    assert_eq!(report["changes"][0]["trace_id"], weather_trace.as_str());
    assert_eq!(report["changes"][0]["after_rule"], "amber.weather");
    let (code, _, err) = crate::support::warden(&[
        "policy",
        "replay",
        "--candidate",
        "/nonexistent.toml",
        "--from",
        export.to_str().unwrap(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("nonexistent"), "{err}");
}

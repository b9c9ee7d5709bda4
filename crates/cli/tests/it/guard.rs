//! The second opinion: a guard model that is wrong, slow and down, against the real gateway.
//! It raises a verdict and never lowers one; its cache saves a call; it fails open or closed
//! as configured, and the record says which.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::routing::post;
use serde_json::{Value, json};
use warden_standin::StandIn;

use crate::support::{Gateway, gateway, green, serve};

/// A Llama Guard stand-in: anything about Lisbon is unsafe (category S2), the rest safe. It
/// answers after `delay`, and counts the questions it is asked.
async fn guard_model(delay: Duration, asked: Arc<AtomicUsize>) -> String {
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(move |axum::Json(body): axum::Json<Value>| {
            let asked = asked.clone();
            async move {
                asked.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(delay).await;
                let text = body["messages"][0]["content"]
                    .as_str()
                    .unwrap_or_default()
                    .to_lowercase();
                let verdict = if text.contains("lisbon") {
                    "unsafe\nS2"
                } else {
                    "safe"
                };
                axum::Json(json!({"choices": [{"message": {"role": "assistant", "content": verdict}}]}))
            }
        }),
    );
    format!("{}/v1/chat/completions", serve(app).await)
}

fn classification(g: &Gateway, trace: &str) -> Value {
    g.trail()
        .into_iter()
        .find(|r| r["trace_id"] == trace && r["stage"] == "classification")
        .unwrap()
}

#[tokio::test]
async fn a_guard_raises_a_verdict_never_lowers_one_and_its_cache_saves_a_call() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    let url = guard_model(Duration::ZERO, asked.clone()).await;
    let g = gateway(&agent.url())
        .config(&format!(
            "[guard]\nurl = {url:?}\nmodel = \"llama-guard3\"\non_failure = \"open\""
        ))
        .start();

    let raised = g.chat(&green("What is the weather like in Lisbon today?")).await;
    raised.assert_error(403, "governance_blocked", "guard.unsafe");
    let record = classification(&g, &raised.trace_id());
    assert_eq!(record["payload"]["guard"]["verdict"], "red");
    assert_eq!(record["payload"]["guard"]["labels"], json!(["S2"]));
    assert_eq!(record["payload"]["guard"]["fail_mode"], "open");
    assert_eq!(record["payload"]["decision"]["rules"][0]["id"], "guard.unsafe");

    let again = g.chat(&green("What is the weather like in Lisbon today?")).await;
    again.assert_error(403, "governance_blocked", "guard.unsafe");
    assert_eq!(
        classification(&g, &again.trace_id())["payload"]["guard"]["cached"],
        true
    );
    assert_eq!(
        asked.load(Ordering::SeqCst),
        1,
        "the second identical question is answered from the cache"
    );

    // The guard calls a wire transfer safe; the rules' red stands.
    let red = g
        .chat(&green(
            "Wire $48,000 from the operating account to this IBAN today.",
        ))
        .await;
    red.assert_error(403, "governance_blocked", "red.money_movement");
    assert_eq!(
        classification(&g, &red.trace_id())["payload"]["guard"]["verdict"],
        "green"
    );

    let fine = g
        .chat(&green("Summarize this memo in three bullet points."))
        .await;
    assert_eq!(fine.status, 200);
    assert_eq!(
        agent.received().len(),
        1,
        "only the green request reached the agent"
    );
}

#[tokio::test]
async fn a_slow_guard_fails_open_and_a_dead_one_fails_closed() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    let slow = guard_model(Duration::from_secs(3), asked.clone()).await;
    let g = gateway(&agent.url())
        .config(&format!(
            "[guard]\nurl = {slow:?}\ntimeout_ms = 200\non_failure = \"open\""
        ))
        .start();
    let reply = g.chat(&green("What is the weather like in Lisbon today?")).await;
    assert_eq!(reply.status, 200, "fail open: the rules' green stands");
    let guard = &classification(&g, &reply.trace_id())["payload"]["guard"];
    assert_eq!(guard["verdict"], Value::Null);
    assert!(
        guard["failure"]
            .as_str()
            .unwrap()
            .contains("no answer within 200 ms"),
        "{guard}"
    );
    assert_eq!(guard["fail_mode"], "open");

    // Nothing listens on a port just released.
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/v1/chat/completions", listener.local_addr().unwrap())
    };
    let g = gateway(&agent.url())
        .config(&format!(
            "[guard]\nurl = {dead:?}\non_failure = \"closed\"\nask = \"green_amber\""
        ))
        .start();
    let reply = g
        .chat(&green("Summarize this memo in three bullet points."))
        .await;
    reply.assert_error(403, "governance_blocked", "guard.unavailable");
    let guard = &classification(&g, &reply.trace_id())["payload"]["guard"];
    assert!(
        guard["failure"].as_str().unwrap().contains("guard unreachable"),
        "{guard}"
    );
    assert_eq!(guard["fail_mode"], "closed");
    // With `ask = "green_amber"`, what the rules refuse is not sent to the guard at all.
    let red = g
        .chat(&green(
            "Wire $48,000 from the operating account to this IBAN today.",
        ))
        .await;
    red.assert_error(403, "governance_blocked", "red.money_movement");
    assert!(
        classification(&g, &red.trace_id())["payload"]
            .get("guard")
            .is_none()
    );
}

#[test]
fn a_guard_without_a_fail_mode_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("warden.toml");
    std::fs::write(
        &config,
        "[guard]\nurl = \"http://127.0.0.1:9/v1/chat/completions\"\n",
    )
    .unwrap();
    let (code, _, err) = crate::support::warden(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--upstream",
        "http://127.0.0.1:9",
        "--database-url",
        &format!("sqlite://{}", dir.path().join("w.db").display()),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("guard.on_failure"), "{err}");
}

#[tokio::test]
async fn doctor_asks_the_guard_and_loads_the_shadow_policy() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("w.db").display());
    // A store with a key, made as operators make one (`warden init` would write into the
    // working directory).
    let (code, _, err) = crate::support::warden(&[
        "keys",
        "create",
        "--name",
        "ops",
        "--role",
        "admin",
        "--database-url",
        &db,
    ]);
    assert_eq!(code, 0, "{err}");
    let shadow = dir.path().join("candidate.toml");
    std::fs::write(&shadow, warden_policy::DEFAULT_POLICY_TOML).unwrap();
    let asked = Arc::new(AtomicUsize::new(0));
    let live = guard_model(Duration::ZERO, asked.clone()).await;
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/v1/chat/completions", listener.local_addr().unwrap())
    };
    let config_for = |name: &str, guard_url: &str| {
        let config = dir.path().join(name);
        std::fs::write(
            &config,
            format!(
                "[policy]\nshadow_file = {:?}\n[guard]\nurl = {guard_url:?}\non_failure = \"open\"\ntimeout_ms = 500\n",
                shadow.display().to_string()
            ),
        )
        .unwrap();
        config.to_str().unwrap().to_string()
    };
    // The guard answers on this test's runtime: the doctor runs off it.
    let doctor = |config: String, db: String| {
        tokio::task::spawn_blocking(move || {
            crate::support::warden(&["doctor", "--config", &config, "--database-url", &db])
        })
    };
    let (_, out, _) = doctor(config_for("live.toml", &live), db.clone()).await.unwrap();
    assert!(
        out.lines()
            .any(|l| l.starts_with("ok    guard:") && l.contains("answered `green`")),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.starts_with("ok    shadow policy: default")),
        "{out}"
    );
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    let (code, out, _) = doctor(config_for("dead.toml", &dead), db.clone()).await.unwrap();
    assert_ne!(code, 0);
    assert!(
        out.lines()
            .any(|l| l.starts_with("FAIL  guard:") && l.contains("guard unreachable")),
        "{out}"
    );
}

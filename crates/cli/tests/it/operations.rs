//! A gateway that explains itself, tried as a new operator would with the real binary: the
//! doctor naming a wrong upstream token, a taken port, an unreachable webhook and an empty key
//! table with what to do about each; `serve` on a store without keys saying so; a relative store
//! path read from the config file's directory; `warden approvals` finding the gateway from the
//! config; completions and the version.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use warden_standin::StandIn;

use crate::support::{UPSTREAM_TOKEN, gateway, warden_bin};

/// Runs `warden` with `env` set (and no token or config from the test's own environment).
fn warden_with(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(warden_bin());
    cmd.args(args)
        .env_remove("WARDEN_CONFIG")
        .env_remove("WARDEN_UPSTREAM_TOKEN")
        .env_remove("WARDEN_URL")
        .env_remove("WARDEN_API_KEY")
        .env("WARDEN_LOG", "warn");
    for (name, value) in env {
        cmd.env(name, value);
    }
    let out = cmd.output().expect("run warden");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The stand-in agent, wanting the token Warden is started with.
async fn agent() -> warden_standin::Running {
    StandIn::new()
        .token(UPSTREAM_TOKEN)
        .start("127.0.0.1:0")
        .await
        .unwrap()
}

/// A request the default policy lets through.
const GREEN: &str = "Summarize our AI governance policy for internal use.";

fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting {prefix:?} in:\n{out}"))
}

#[tokio::test]
async fn the_doctor_names_each_problem_and_what_to_do() {
    let agent = agent().await;
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    // A port some other program holds.
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = squatter.local_addr().unwrap();
    let config = etc.join("warden.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"{taken}\"\n[store]\ndatabase_url = \"sqlite://warden.db\"\n[upstream]\nurl = \"{}\"\n\
             [[approvals.webhooks]]\nname = \"chat\"\nurl = \"http://127.0.0.1:9/hook\"\n",
            agent.url()
        ),
    )
    .unwrap();
    let config = config.to_str().unwrap().to_string();
    let cwd = tempfile::tempdir().unwrap();
    let doctor = |token: &'static str| {
        let config = config.clone();
        let cwd = cwd.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            let mut cmd = Command::new(warden_bin());
            cmd.args(["doctor", "--fix", "--config", &config])
                .current_dir(cwd)
                .env_remove("WARDEN_CONFIG")
                .env_remove("WARDEN_DATABASE_URL")
                .env("WARDEN_LOG", "warn")
                .env("WARDEN_UPSTREAM_TOKEN", token);
            let out = cmd.output().unwrap();
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).into_owned(),
            )
        })
    };

    let (code, out) = doctor("a-wrong-token").await.unwrap();
    assert_ne!(code, 0, "{out}");
    let auth = line(&out, "FAIL  upstream auth:");
    assert!(
        auth.contains("refused Warden's token") && auth.contains("WARDEN_UPSTREAM_TOKEN"),
        "{auth}"
    );
    let listen = line(&out, "FAIL  listen:");
    assert!(
        listen.contains(&taken.to_string()) && listen.contains("server.listen"),
        "{listen}"
    );
    let hook = line(&out, "FAIL  webhook chat:");
    assert!(
        hook.contains("http://127.0.0.1:9/hook") && hook.contains("check the URL"),
        "{hook}"
    );
    let keys = line(&out, "FAIL  keys:");
    assert!(keys.contains("warden keys create"), "{keys}");
    // The relative store path is the config file's neighbour, not the working directory's.
    assert!(etc.join("warden.db").exists(), "{out}");
    assert!(!cwd.path().join("warden.db").exists());

    let (_, out) = doctor(UPSTREAM_TOKEN).await.unwrap();
    assert!(
        line(&out, "ok    upstream auth:").contains("accepts Warden's token"),
        "{out}"
    );
    drop(squatter);
}

#[tokio::test]
async fn serve_on_a_store_without_keys_says_how_to_make_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("empty.db").display());
    let mut child = Command::new(warden_bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "http://127.0.0.1:9",
            "--database-url",
            &db,
        ])
        .env_remove("WARDEN_CONFIG")
        .env("WARDEN_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            seen.push_str(&line);
            seen.push('\n');
            if line.contains("listening on") {
                let _ = tx.send(seen.clone());
            }
        }
    });
    let logs = rx.recv_timeout(Duration::from_secs(30)).expect("serve starts");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        logs.contains("no active API key") && logs.contains("warden keys create"),
        "{logs}"
    );
}

#[tokio::test]
async fn approvals_find_the_gateway_from_the_config() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let g = gateway(&agent.url()).start();
    let admin = g.key("ada", "admin", &[]);
    let amber = g
        .chat(&crate::support::green(
            "Draft an email to finance asking for confirmation of the Q1 cloud budget.",
        ))
        .await;
    assert_eq!(amber.status, 403);
    let addr = g
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("warden.toml");
    std::fs::write(&config, format!("[server]\nlisten = \"{addr}\"\n")).unwrap();
    let config = config.to_str().unwrap().to_string();
    let run = move |args: Vec<String>, key: String| {
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            warden_with(&args, &[("WARDEN_API_KEY", key.as_str())])
        })
    };
    let (code, out, err) = run(
        vec![
            "approvals".into(),
            "list".into(),
            "--config".into(),
            config.clone(),
            "--json".into(),
        ],
        admin.clone(),
    )
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("amber.outbound_communication"),
        "the pending request listed: {out}"
    );
    // An explicit URL still wins.
    let (code, _, err) = run(
        vec![
            "approvals".into(),
            "list".into(),
            "--config".into(),
            config,
            "--url".into(),
            "http://127.0.0.1:9".into(),
        ],
        admin,
    )
    .await
    .unwrap();
    assert_ne!(code, 0);
    assert!(err.contains("cannot reach the gateway"), "{err}");
}

#[test]
fn completions_and_the_version_with_its_commit() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = warden_with(&["completions", shell], &[]);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains("warden") && out.contains("approvals"),
            "{shell}: {out}"
        );
    }
    let (code, out, _) = warden_with(&["--version"], &[]);
    assert_eq!(code, 0);
    assert!(out.starts_with("warden ") && out.contains("(commit "), "{out}");
}

#[tokio::test]
async fn each_governed_request_logs_one_json_line_without_its_text() {
    let agent = agent().await;
    let g = gateway(&agent.url()).env("WARDEN_LOG_FORMAT", "json").start();
    let secret_words = "Summarize the plan codenamed bluebird-kestrel for the board.";
    let ok = g.chat(&crate::support::green(secret_words)).await;
    assert_eq!(ok.status, 200);
    let blocked = g
        .chat(&crate::support::green(
            "Transfer funds from treasury to vendor account immediately.",
        ))
        .await;
    assert_eq!(blocked.status, 403);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logs = g.logs();
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let request_line = |trace: &str| {
        lines
            .iter()
            .find(|l| l["message"] == "request" && l["trace_id"] == trace)
            .unwrap_or_else(|| panic!("no request line for {trace} in:\n{logs}"))
            .clone()
    };
    let line = request_line(&ok.trace_id());
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["key"], "alice");
    assert_eq!(line["surface"], "chat_completions");
    assert_eq!(line["risk"], "green");
    assert_eq!(line["status"], "executed");
    assert_eq!(line["upstream_status"], 200);
    assert!(line["latency_ms"].as_f64().unwrap() > 0.0, "{line}");
    let line = request_line(&blocked.trace_id());
    assert_eq!(
        (line["risk"].as_str(), line["status"].as_str()),
        (Some("red"), Some("blocked"))
    );
    assert_eq!(line["rule"], "red.money_movement");
    assert!(!logs.contains("bluebird"), "no prompt text in the logs");
    assert!(!logs.contains(UPSTREAM_TOKEN), "no upstream token in the logs");
}

#[tokio::test]
async fn metrics_are_scraped_and_parsed_and_name_no_one() {
    let agent = agent().await;
    let g = gateway(&agent.url()).start();
    let green = crate::support::green(GREEN);
    assert_eq!(g.chat(&green).await.status, 200);
    let red = crate::support::green("Transfer funds from treasury to vendor account immediately.");
    assert_eq!(g.chat(&red).await.status, 403);
    let amber =
        crate::support::green("Draft an email to finance asking for confirmation of the Q1 cloud budget.");
    assert_eq!(g.chat(&amber).await.status, 403);
    let secret = crate::support::green("Summarize this config: aws_access_key_id = AKIAQ7JY3N2WXR4LTZ6P");
    let with_secret = g.chat(&secret).await;
    assert_eq!(
        with_secret.status,
        200,
        "{}",
        String::from_utf8_lossy(&with_secret.bytes)
    );

    // No key needed, as for a Prometheus scraper.
    let answer = reqwest::get(g.url("/metrics")).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert!(
        answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = answer.text().await.unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let value = |name: &str, labels: &[(&str, &str)]| -> f64 {
        scrape
            .samples
            .iter()
            .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                prometheus_parse::Value::Histogram(ref h) => h.iter().map(|b| b.count).fold(0.0, f64::max),
                _ => 0.0,
            })
            .sum()
    };
    assert_eq!(
        value(
            "warden_requests_total",
            &[
                ("surface", "chat_completions"),
                ("risk", "red"),
                ("status", "blocked"),
                ("rule", "red.money_movement")
            ]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        value(
            "warden_requests_total",
            &[("risk", "green"), ("status", "executed")]
        ),
        2.0,
        "{text}"
    );
    assert!(
        value("warden_stage_duration_seconds_count", &[("stage", "classify")]) >= 4.0,
        "{text}"
    );
    assert!(
        value("warden_stage_duration_seconds_count", &[("stage", "total")]) >= 4.0,
        "{text}"
    );
    assert!(value("warden_audit_batch_records_count", &[]) >= 1.0, "{text}");
    assert!(value("warden_audit_commit_seconds_count", &[]) >= 1.0, "{text}");
    assert_eq!(value("warden_approvals_pending", &[]), 1.0, "{text}");
    assert!(
        value(
            "warden_dlp_findings_total",
            &[("direction", "request"), ("action", "redact")]
        ) >= 1.0,
        "{text}"
    );
    assert_eq!(value("warden_policy_info", &[("name", "default")]), 1.0, "{text}");
    for private in [
        "alice",
        "AKIAQ7JY3N2WXR4LTZ6P",
        &with_secret.trace_id(),
        UPSTREAM_TOKEN,
        "Transfer funds",
    ] {
        assert!(!text.contains(private), "{private} in the metrics");
    }
}

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let g = gateway(&agent.url()).config("[metrics]\nenabled = false").start();
    assert_eq!(reqwest::get(g.url("/metrics")).await.unwrap().status(), 404);
}

#[tokio::test]
async fn usage_of_json_and_streamed_answers_is_recorded_and_reported_with_its_cost() {
    let agent = agent().await;
    let g = gateway(&agent.url())
        .config("[pricing.\"openclaw/main\"]\ninput_per_million = 1.5\noutput_per_million = 4.0")
        .start();
    let question = GREEN;
    let json_answer = g.chat(&crate::support::green(question)).await;
    assert_eq!(json_answer.status, 200);

    // A stream whose client did not ask for usage: Warden asks, records it, and keeps the usage
    // chunk from the client.
    let mut body = crate::support::green(question);
    body["stream"] = serde_json::json!(true);
    let quiet = g.open_chat(&body, &[]).await;
    let quiet_trace = quiet.headers()["x-warden-trace-id"].to_str().unwrap().to_string();
    let quiet_text = quiet.text().await.unwrap();
    assert!(quiet_text.ends_with("data: [DONE]\n\n"), "{quiet_text}");
    assert!(
        !quiet_text.contains("\"usage\""),
        "the client did not ask for usage: {quiet_text}"
    );
    let sent = agent.received().last().unwrap().body.clone();
    assert_eq!(sent["stream_options"]["include_usage"], true, "{sent}");

    // A client that asks for it gets it.
    body["stream_options"] = serde_json::json!({"include_usage": true});
    let asked = g.open_chat(&body, &[]).await;
    let asked_text = asked.text().await.unwrap();
    assert!(asked_text.contains("\"usage\""), "{asked_text}");

    let executed = g.wait_for_record(&quiet_trace, "executed").await;
    assert_eq!(executed["payload"]["usage"]["prompt_tokens"], 12, "{executed}");
    let executed = g.wait_for_record(&json_answer.trace_id(), "executed").await;
    assert_eq!(executed["payload"]["usage"]["completion_tokens"], 9, "{executed}");
    let priced = executed["payload"]["cost"].as_f64().unwrap();
    assert!(
        (priced - (12.0 * 1.5 + 9.0 * 4.0) / 1e6).abs() < 1e-12,
        "the cost is on the trail: {executed}"
    );

    let report = {
        let (db, config) = (g.db_url.clone(), g.config_path.to_str().unwrap().to_string());
        tokio::task::spawn_blocking(move || {
            warden_with(
                &[
                    "usage",
                    "--by",
                    "key",
                    "--json",
                    "--config",
                    &config,
                    "--database-url",
                    &db,
                ],
                &[],
            )
        })
        .await
        .unwrap()
    };
    assert_eq!(report.0, 0, "{}{}", report.1, report.2);
    let report: serde_json::Value = serde_json::from_str(&report.1).unwrap();
    let alice = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "alice")
        .unwrap()
        .clone();
    assert_eq!(alice["requests"], 3, "{report}");
    assert_eq!(
        (alice["input_tokens"].as_u64(), alice["output_tokens"].as_u64()),
        (Some(36), Some(27)),
        "{report}"
    );
    let cost = alice["cost"].as_f64().unwrap();
    assert!((cost - (36.0 * 1.5 + 27.0 * 4.0) / 1e6).abs() < 1e-12, "{cost}");
    let by_model = tokio::task::spawn_blocking({
        let db = g.db_url.clone();
        move || warden_with(&["usage", "--by", "model", "--database-url", &db], &[])
    })
    .await
    .unwrap();
    assert!(by_model.1.contains("openclaw/main"), "{}", by_model.1);
}

#[tokio::test]
async fn metrics_can_have_a_listener_of_their_own() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let g = gateway(&agent.url())
        .config("[metrics]\nlisten = \"127.0.0.1:0\"")
        .start();
    // Logged just after `listening on`, which is what start() waits for.
    let mut logs = g.logs();
    for _ in 0..50 {
        if logs.contains("metrics at ") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        logs = g.logs();
    }
    let at = logs
        .split("metrics at ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .map(|url| url.trim_end_matches('"').to_string())
        .unwrap_or_else(|| panic!("no `metrics at` line in:\n{logs}"));
    let own = reqwest::get(&at).await.unwrap();
    assert_eq!(own.status(), 200);
    let text = own.text().await.unwrap();
    assert!(text.contains("warden_policy_info"), "{text}");
    // Not on the address clients reach, then.
    assert_eq!(reqwest::get(g.url("/metrics")).await.unwrap().status(), 404);
}

/// Sleeps into a minute with at least `margin` of it left, so a burst stays in one window.
async fn early_in_a_minute(margin: Duration) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let into = Duration::from_millis((now.as_millis() % 60_000) as u64);
    if Duration::from_secs(60) - into < margin {
        tokio::time::sleep(Duration::from_secs(60) - into + Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn two_replicas_together_never_exceed_a_rate_and_budgets_are_trued_up() {
    let db = warden_store::testing::TestDatabase::postgres().await;
    let agent = agent().await;
    let a = gateway(&agent.url())
        .database(db.url())
        .config(
            "[[limits]]\nname = \"per-key\"\nscope = \"key\"\nrequests_per_minute = 10\n\
             [[limits]]\nname = \"team\"\nscope = \"tenant\"\nmatch = [\"budgeted\"]\ntokens_per_day = 2500\n",
        )
        .start();
    let b = a.replica();
    let green = crate::support::green(GREEN);

    early_in_a_minute(Duration::from_secs(15)).await;
    let mut sends = Vec::new();
    for i in 0..30 {
        let (url, key, body) = (
            if i % 2 == 0 {
                a.url("/v1/chat/completions")
            } else {
                b.url("/v1/chat/completions")
            },
            a.requester.clone(),
            green.to_string(),
        );
        sends.push(tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(key)
                .body(body)
                .send()
                .await
                .unwrap()
        }));
    }
    let mut ok = 0;
    let mut limited = Vec::new();
    for s in sends {
        let r = s.await.unwrap();
        match r.status().as_u16() {
            200 => ok += 1,
            429 => limited.push(r),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(ok, 10, "the two replicas together let exactly the rate through");
    assert_eq!(limited.len(), 20);
    let first = limited.remove(0);
    let retry: u64 = first.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    let trace = first.headers()["x-warden-trace-id"].to_str().unwrap().to_string();
    let body: serde_json::Value = serde_json::from_slice(&first.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded", "{body}");
    assert_eq!(body["error"]["type"], "requests", "{body}");
    let rejected = a.wait_for_record(&trace, "rejected").await;
    assert_eq!(
        rejected["payload"]["status"], 429,
        "the refusal is on the trail: {rejected}"
    );

    // A tenant's daily token budget: each request reserves its estimate (body and
    // max_tokens) and gives back what the answer did not use, so many small answers fit in
    // 2,500 tokens though each reserves about 1,100; one that could use more than the whole
    // budget is refused as a quota.
    let budgeted = a.tenant_key("bea", "requester", "budgeted");
    let mut small = green.clone();
    small["max_tokens"] = serde_json::json!(1000);
    for _ in 0..5 {
        let r = a
            .post(
                "/v1/chat/completions",
                &budgeted,
                small.to_string().into_bytes(),
                &[],
            )
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.bytes));
    }
    let mut large = green.clone();
    large["max_tokens"] = serde_json::json!(5000);
    let refused = a
        .post(
            "/v1/chat/completions",
            &budgeted,
            large.to_string().into_bytes(),
            &[],
        )
        .await;
    refused.assert_error(429, "insufficient_quota", "insufficient_quota");
    let metrics = reqwest::get(a.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("warden_limit_refusals_total{limit=\"team\",kind=\"tokens_per_day\"} 1"),
        "{metrics}"
    );
    drop((a, b));
    db.drop_database().await.unwrap();
}

#[tokio::test]
async fn spans_reach_an_otlp_collector_under_the_clients_trace_and_go_on_upstream() {
    use axum::routing::post;
    let received: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>> = Default::default();
    let sink = received.clone();
    let collector = crate::support::serve(axum::Router::new().route(
        "/v1/traces",
        post(move |body: bytes::Bytes| {
            let sink = sink.clone();
            async move {
                if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) {
                    sink.lock().unwrap().push(v);
                }
                "{}"
            }
        }),
    ))
    .await;
    let agent = agent().await;
    let g = gateway(&agent.url())
        .config(&format!(
            "[telemetry]\notlp_endpoint = \"{collector}/v1/traces\"\nexport_interval_ms = 200\n"
        ))
        .start();
    let client_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let reply = g
        .post(
            "/v1/chat/completions",
            &g.requester,
            crate::support::green(GREEN).to_string().into_bytes(),
            &[("traceparent", &format!("00-{client_trace}-00f067aa0ba902b7-01"))],
        )
        .await;
    assert_eq!(reply.status, 200);
    let warden_trace = reply.trace_id();

    // The upstream was called as a child of this request's span, in the client's trace.
    let sent = agent.received().last().unwrap().headers.clone();
    let upstream_parent = sent["traceparent"].to_str().unwrap().to_string();
    assert!(
        upstream_parent.starts_with(&format!("00-{client_trace}-")),
        "{upstream_parent}"
    );

    let mut spans: Vec<serde_json::Value> = Vec::new();
    for _ in 0..100 {
        spans = received
            .lock()
            .unwrap()
            .iter()
            .flat_map(|batch| batch["resourceSpans"].as_array().cloned().unwrap_or_default())
            .flat_map(|r| r["scopeSpans"].as_array().cloned().unwrap_or_default())
            .flat_map(|s| s["spans"].as_array().cloned().unwrap_or_default())
            .collect();
        if spans.iter().any(|s| s["name"] == "warden chat_completions") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let request = spans
        .iter()
        .find(|s| s["name"] == "warden chat_completions")
        .unwrap_or_else(|| panic!("no request span among {spans:#?}"));
    assert_eq!(
        request["traceId"].as_str().unwrap().to_lowercase(),
        client_trace,
        "{request}"
    );
    assert_eq!(
        request["parentSpanId"].as_str().unwrap().to_lowercase(),
        "00f067aa0ba902b7"
    );
    let attribute = |span: &serde_json::Value, key: &str| -> String {
        span["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == key)
            .map(|a| a["value"]["stringValue"].as_str().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    assert_eq!(attribute(request, "warden.trace_id"), warden_trace);
    assert_eq!(attribute(request, "warden.status"), "executed");
    let request_id = request["spanId"].as_str().unwrap().to_lowercase();
    assert!(
        upstream_parent.contains(&request_id),
        "the upstream's parent is the request span"
    );
    let stages: Vec<&str> = spans
        .iter()
        .filter(|s| s["parentSpanId"].as_str().map(str::to_lowercase) == Some(request_id.clone()))
        .filter_map(|s| s["name"].as_str())
        .collect();
    for stage in ["classify", "audit_commit", "upstream"] {
        assert!(
            stages.contains(&stage),
            "{stage} among the child spans {stages:?}"
        );
    }
}

#[tokio::test]
async fn a_dead_collector_fails_no_request() {
    let agent = agent().await;
    let g = gateway(&agent.url())
        .config("[telemetry]\notlp_endpoint = \"http://127.0.0.1:9/v1/traces\"\nexport_interval_ms = 50\n")
        .start();
    for _ in 0..20 {
        let reply = g.chat(&crate::support::green(GREEN)).await;
        assert_eq!(reply.status, 200);
    }
    // Exports keep failing behind these answers; the gateway still serves.
    assert_eq!(reqwest::get(g.url("/healthz")).await.unwrap().status(), 200);
}

#[tokio::test]
async fn spend_budgets_charge_priced_models_and_limits_can_name_models() {
    let agent = agent().await;
    let g = gateway(&agent.url())
        .config(
            "[pricing.\"openclaw/main\"]\ninput_per_million = 1000.0\noutput_per_million = 1000.0\n\
             [[limits]]\nname = \"spend\"\nscope = \"tenant\"\nmatch = [\"spendy\"]\nmodels = [\"openclaw/*\"]\nspend_per_day = 2.0\n\
             [[limits]]\nname = \"other-model\"\nmodels = [\"gpt-*\"]\nrequests_per_minute = 1\n",
        )
        .start();
    let key = g.tenant_key("sam", "requester", "spendy");
    let mut small = crate::support::green(GREEN);
    small["max_tokens"] = serde_json::json!(1000);
    // Each reserves about 1.1 (1,100 tokens at 0.001) of the 2.0 budget and is charged its
    // usage, 0.021: several fit; the limit on other models does not count these at all.
    for _ in 0..4 {
        let r = g
            .post("/v1/chat/completions", &key, small.to_string().into_bytes(), &[])
            .await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.bytes));
    }
    let mut large = small.clone();
    large["max_tokens"] = serde_json::json!(3000);
    let refused = g
        .post("/v1/chat/completions", &key, large.to_string().into_bytes(), &[])
        .await;
    let error = refused.assert_error(429, "insufficient_quota", "insufficient_quota");
    assert!(
        error["message"].as_str().unwrap().contains("spend per day"),
        "{error}"
    );
}

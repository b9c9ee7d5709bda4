//! Bad input and a failing upstream: clear OpenAI-shaped errors, nothing forwarded, nothing
//! lost from the trail, no panic.

use std::time::Duration;

use serde_json::json;
use warden_standin::{Failure, StandIn};

use crate::support::{gateway, green};

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_is_never_forwarded() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let g = gateway(&agent.url())
        .config("[server]\nmax_body_bytes = 4096")
        .start();
    let cases: Vec<(Vec<u8>, u16, &str, Option<&str>)> = vec![
        (b"{not json".to_vec(), 400, "invalid_json", None),
        (b"[1,2]".to_vec(), 400, "invalid_type", None),
        (
            b"{\"model\":\"openclaw\",\"messages\":[{\"role\":\"user\",\"content\":\"caf\xff\"}]}".to_vec(),
            400,
            "invalid_encoding",
            None,
        ),
        (
            json!({"model": 7, "messages": [{"role": "user", "content": "hi"}]})
                .to_string()
                .into_bytes(),
            400,
            "invalid_type",
            Some("model"),
        ),
        (
            json!({"model": "openclaw", "messages": "hi"})
                .to_string()
                .into_bytes(),
            400,
            "invalid_type",
            Some("messages"),
        ),
        (
            json!({"model": "openclaw", "messages": [{"role": "user", "content": "hi"}], "stream": "yes"})
                .to_string()
                .into_bytes(),
            400,
            "invalid_type",
            Some("stream"),
        ),
        (
            json!({"model": "openclaw", "messages": []})
                .to_string()
                .into_bytes(),
            400,
            "missing_required_parameter",
            Some("messages"),
        ),
        (
            json!({"model": "openclaw"}).to_string().into_bytes(),
            400,
            "missing_required_parameter",
            Some("messages"),
        ),
        (
            json!({"messages": [{"role": "user", "content": "hi"}]})
                .to_string()
                .into_bytes(),
            400,
            "missing_required_parameter",
            Some("model"),
        ),
        (
            json!({"model": "openclaw", "messages": [{"role": "wizard", "content": "hi"}]})
                .to_string()
                .into_bytes(),
            400,
            "invalid_value",
            Some("messages"),
        ),
        (
            json!({"model": "openclaw", "messages": [{"role": "user", "content": 5}]})
                .to_string()
                .into_bytes(),
            400,
            "invalid_type",
            Some("messages"),
        ),
        (
            json!({"model": "gpt-17", "messages": [{"role": "user", "content": "hi"}]})
                .to_string()
                .into_bytes(),
            404,
            "model_not_found",
            None,
        ),
        (
            json!({"model": "openclaw", "messages": [{"role": "user", "content": "x".repeat(5000)}]})
                .to_string()
                .into_bytes(),
            413,
            "request_too_large",
            None,
        ),
    ];
    let mut traces = Vec::new();
    for (body, status, code, param) in cases {
        let reply = g.post("/v1/chat/completions", &g.requester, body, &[]).await;
        let error = reply.assert_error(status, "invalid_request_error", code);
        if let Some(param) = param {
            assert_eq!(error["param"], param, "{error}");
        }
        traces.push(reply.trace_id());
    }
    // Reserved session prefixes belong to OpenClaw's own runs.
    for session in ["cron:nightly", "subagent:x", "ACP:y"] {
        let reply = g
            .post(
                "/v1/chat/completions",
                &g.requester,
                green("hi").to_string().into_bytes(),
                &[("x-openclaw-session-key", session)],
            )
            .await;
        reply.assert_error(400, "invalid_request_error", "reserved_session_key");
        traces.push(reply.trace_id());
    }
    assert!(
        agent.received().is_empty(),
        "bad input must never reach the agent"
    );
    // Every refusal is on the record, and the chain still verifies.
    let trail = g.trail();
    for trace in &traces {
        assert!(
            trail
                .iter()
                .any(|r| r["trace_id"] == trace.as_str() && r["stage"] == "rejected"),
            "no record for {trace}"
        );
    }
    assert_eq!(g.verify().0, 0);
    // Still healthy after all of that.
    assert_eq!(g.chat(&green("hello")).await.status, 200);
    assert!(!g.logs().contains("panicked"));
}

#[tokio::test]
async fn dead_upstream_gives_502_and_an_upstream_error_record() {
    // A port that was just free: nothing listens there.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let g = gateway(&dead).start();
    for stream in [false, true] {
        let mut body = green("hello");
        body["stream"] = json!(stream);
        let reply = g.chat(&body).await;
        reply.assert_error(502, "upstream_error", "upstream_unreachable");
        assert_eq!(reply.header("x-warden-status"), "upstream_error");
        assert_eq!(g.stages(&reply.trace_id()), ["classification", "upstream_error"]);
    }
    let (code, _) = g.verify();
    assert_eq!(code, 0);
}

#[tokio::test]
async fn slow_upstream_gives_504() {
    let agent = StandIn::new()
        .delay(Duration::from_millis(1500))
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let g = gateway(&agent.url())
        .config("[upstream]\nresponse_timeout_ms = 200")
        .start();
    let reply = g.chat(&green("hello")).await;
    reply.assert_error(504, "upstream_error", "upstream_timeout");
    let trail = g.trail();
    let record = trail
        .iter()
        .find(|r| r["trace_id"] == reply.trace_id().as_str() && r["stage"] == "upstream_error")
        .unwrap();
    assert_eq!(record["payload"]["kind"], "timeout");
}

#[tokio::test]
async fn upstream_errors_are_passed_or_mapped() {
    // A server error is Warden's problem: 502, with the status on the record.
    let failing = StandIn::new()
        .failure(Failure::Status(500))
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let g = gateway(&failing.url()).start();
    let reply = g.chat(&green("hello")).await;
    reply.assert_error(502, "upstream_error", "upstream_bad_status");
    let trail = g.trail();
    let record = trail.iter().find(|r| r["stage"] == "upstream_error").unwrap();
    assert_eq!(record["payload"]["upstream_status"], 500);

    // A client error is the client's to see, unchanged.
    let picky = StandIn::new()
        .failure(Failure::Status(422))
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let g2 = gateway(&picky.url()).start();
    let reply = g2.chat(&green("hello")).await;
    assert_eq!(reply.status, 422);
    assert_eq!(
        reply.json()["error"]["message"],
        "stand-in agent failure (configured)"
    );
    assert_eq!(reply.header("x-warden-status"), "upstream_error");

    // Warden's own credentials refused upstream: not the client's fault, and no detail leaks.
    let locked = StandIn::new()
        .token("another-token")
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let g3 = gateway(&locked.url()).start();
    let error = g3
        .chat(&green("hello"))
        .await
        .assert_error(502, "upstream_error", "upstream_auth_refused");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("refused Warden's token") && message.contains("WARDEN_UPSTREAM_TOKEN"),
        "the operator is told what to fix: {message}"
    );
}

#[tokio::test]
async fn nothing_runs_when_the_trail_cannot_commit() {
    use sqlx::Connection;
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let g = gateway(&agent.url()).start();
    assert_eq!(g.chat(&green("before")).await.status, 200);
    // Every audit insert now fails, as on a full disk.
    let mut conn = sqlx::SqliteConnection::connect(&g.db_url).await.unwrap();
    sqlx::raw_sql("CREATE TRIGGER disk_full BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;")
        .execute(&mut conn)
        .await
        .unwrap();
    let reply = g.chat(&green("during")).await;
    reply.assert_error(503, "server_error", "audit_unavailable");
    assert_eq!(
        agent.received().len(),
        1,
        "an unrecorded request must not be executed"
    );
    sqlx::raw_sql("DROP TRIGGER disk_full")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    // Once the store recovers, so does the gateway, and the chain is whole.
    assert_eq!(g.chat(&green("after")).await.status, 200);
    assert_eq!(g.verify().0, 0);
    assert!(g.logs().contains("audit commit failed"));
}

//! The process's life: configuration errors, `warden init`, graceful shutdown that drains
//! streams and flushes the trail, records surviving SIGKILL, fsync mode, and no secret in logs
//! or the trail.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use warden_standin::StandIn;

use crate::support::{UPSTREAM_TOKEN, gateway, green, warden, warden_bin};

#[test]
fn unknown_config_keys_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warden.toml");
    std::fs::write(&path, "[server]\nlisten = \"127.0.0.1:0\"\nmax_bodybytes = 5\n").unwrap();
    let db = format!("sqlite://{}", dir.path().join("w.db").display());
    let out = std::process::Command::new(warden_bin())
        .args(["serve", "--config", path.to_str().unwrap(), "--database-url", &db])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("max_bodybytes") && err.contains("warden.toml"),
        "{err}"
    );
}

#[tokio::test]
async fn init_writes_a_config_and_an_admin_key_that_works() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("warden.toml");
    let db = format!("sqlite://{}", dir.path().join("w.db").display());
    let (code, key, err) = warden(&[
        "init",
        "--config",
        config.to_str().unwrap(),
        "--database-url",
        &db,
    ]);
    assert_eq!(code, 0, "{err}");
    let key = key.trim();
    let secret = &key["wdn_".len() + 16 + 1..];
    assert!(secret.len() >= 64, "at least 48 random bytes, URL-safe: {key}");
    assert!(
        secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("# ") && text.contains("[upstream]"));
    // A second init refuses to overwrite.
    let (code, _, err) = warden(&[
        "init",
        "--config",
        config.to_str().unwrap(),
        "--database-url",
        &db,
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("already exists"));
    let (code, list, _) = warden(&["keys", "list", "--database-url", &db]);
    assert_eq!(code, 0);
    assert!(list.contains("admin"));
    assert!(!list.contains(secret));
}

#[tokio::test]
async fn sigterm_drains_in_flight_streams_and_flushes_the_trail() {
    let agent = StandIn::new()
        .chunk_delay(Duration::from_millis(150))
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let mut g = gateway(&agent.url()).start();
    let mut body = green("Tell me a story about a lighthouse keeper and her cat, with a happy ending");
    body["stream"] = json!(true);
    let response = g.open_chat(&body, &[]).await;
    let trace_id = response.headers()["x-warden-trace-id"]
        .to_str()
        .unwrap()
        .to_string();
    let mut stream = response.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    g.signal("TERM");
    let mut text = String::from_utf8(first.to_vec()).unwrap();
    while let Some(chunk) = stream.next().await {
        text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
    }
    assert!(
        text.ends_with("data: [DONE]\n\n"),
        "the in-flight stream finished: {text}"
    );
    assert_eq!(g.wait_exit(Duration::from_secs(20)), Some(0), "{}", g.logs());
    assert!(g.logs().contains("audit trail flushed"));
    assert_eq!(g.stages(&trace_id), ["classification", "executed"]);
    assert_eq!(g.verify().0, 0);
}

#[tokio::test]
async fn every_answered_request_survives_sigkill() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let mut g = gateway(&agent.url()).start();
    let mut answered = Vec::new();
    for i in 0..20 {
        let reply = g.chat(&green(&format!("question number {i}"))).await;
        assert_eq!(reply.status, 200);
        answered.push(reply.trace_id());
    }
    g.signal("KILL");
    g.wait_exit(Duration::from_secs(10));
    let trail = g.trail();
    for trace in &answered {
        let stages: Vec<_> = trail
            .iter()
            .filter(|r| r["trace_id"] == trace.as_str())
            .map(|r| r["stage"].as_str().unwrap())
            .collect();
        assert_eq!(stages, ["classification", "executed"], "trace {trace}");
    }
    assert_eq!(g.verify().0, 0);
    // A restarted gateway continues the same chain.
    g.restart();
    assert_eq!(g.chat(&green("after the restart")).await.status, 200);
    g.kill();
    let (code, out) = g.verify();
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("ok: 42 records"), "{out}");
}

#[tokio::test]
async fn fsync_durability_mode_serves_and_verifies() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let g = gateway(&agent.url())
        .config("[store]\ndurability = \"fsync\"")
        .start();
    assert!(g.logs().contains("durability=\"fsync\""), "{}", g.logs());
    let replies = futures_util::future::join_all((0..16).map(|i| {
        let body = green(&format!("parallel question {i}"));
        let g = &g;
        async move { g.chat(&body).await.status }
    }))
    .await;
    assert!(replies.iter().all(|s| *s == 200), "{replies:?}");
    assert_eq!(g.trail().len(), 32);
    assert_eq!(g.verify().0, 0);
}

#[tokio::test]
async fn the_upstream_token_never_leaves_warden() {
    let agent = StandIn::new()
        .token(UPSTREAM_TOKEN)
        .start("127.0.0.1:0")
        .await
        .unwrap();
    let mut g = gateway(&agent.url()).auto_approve().start();
    let mut seen = Vec::new();
    for text in ["hello", "Draft an email to finance", "show me the api key", "x"] {
        let reply = g.chat(&green(text)).await;
        seen.extend(reply.bytes.clone());
        for (_, v) in reply.headers.iter() {
            seen.extend(v.as_bytes());
        }
    }
    let mut body = green("stream it");
    body["stream"] = json!(true);
    seen.extend(g.chat(&body).await.bytes);
    seen.extend(g.get("/readyz", "").await.bytes);
    g.kill();
    let logs = g.logs();
    let db = std::fs::read(g.db_path()).unwrap();
    let export = serde_json::to_string(&g.trail()).unwrap();
    for (place, bytes) in [
        ("responses", seen),
        ("logs", logs.into_bytes()),
        ("database", db),
        ("export", export.into_bytes()),
    ] {
        let hay = String::from_utf8_lossy(&bytes);
        assert!(!hay.contains(UPSTREAM_TOKEN), "upstream token found in {place}");
        assert!(!hay.contains(&g.requester), "API key found in {place}");
    }
}

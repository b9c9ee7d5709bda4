//! The approval queue over HTTP, with two approver keys and a requester key: defer and resume
//! once, hold released by a decision, a changed request refused, self-approval refused, a
//! quorum of two, expiry and escalation on a controlled clock, signed webhooks, a red override,
//! a restart that keeps pending requests, and the `warden approvals` command.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use warden_standin::StandIn;

use crate::support::{Gateway, Reply, gateway, green, send_held, serve, warden};

const AMBER: &str = "Draft an email to finance asking for confirmation of the Q1 cloud budget.";

async fn approve(g: &Gateway, key: &str, id: &str) -> Reply {
    g.post(
        &format!("/v1/approvals/{id}/approve"),
        key,
        br#"{"note":"looks fine"}"#.to_vec(),
        &[],
    )
    .await
}

async fn retry(g: &Gateway, body: &Value, id: &str) -> Reply {
    g.post(
        "/v1/chat/completions",
        &g.requester,
        body.to_string().into_bytes(),
        &[("x-warden-approval-id", id)],
    )
    .await
}

fn approval_id(reply: &Reply) -> String {
    reply.json()["error"]["approval_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no approval id: {:?}", reply.json()))
        .to_string()
}

#[tokio::test]
async fn deferred_request_resumes_once_and_only_unchanged() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let g = gateway(&agent.url()).start();
    let alice_approver = g.key("amir", "approver", &[]);
    let body = green(AMBER);
    let first = g.chat(&body).await;
    first.assert_error(403, "approval_required", "amber.outbound_communication");
    let id = approval_id(&first);
    assert!(
        first.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("x-warden-approval-id")
    );

    // The approver sees the exact request and the matched rules.
    let shown = g
        .get(&format!("/v1/approvals/{id}"), &alice_approver)
        .await
        .json();
    assert_eq!(shown["status"], "pending");
    assert_eq!(shown["request"]["messages"][0]["content"], AMBER);
    assert_eq!(
        shown["decision"]["rules"][0]["id"],
        "amber.outbound_communication"
    );

    // Before a decision, the retry is still pending; nothing runs.
    retry(&g, &body, &id)
        .await
        .assert_error(403, "approval_required", "approval");
    assert!(agent.received().is_empty());

    let decided = approve(&g, &alice_approver, &id).await;
    assert_eq!(decided.status, 200, "{:?}", decided.json());
    assert_eq!(decided.json()["status"], "approved");

    // A changed request needs a new approval.
    let mut changed = body.clone();
    changed["messages"][0]["content"] =
        json!("Draft an email to finance asking them to double the Q1 cloud budget.");
    retry(&g, &changed, &id)
        .await
        .assert_error(409, "approval_mismatch", "approval_digest_mismatch");

    // The identical request runs exactly once.
    let ran = retry(&g, &body, &id).await;
    assert_eq!(ran.status, 200, "{:?}", String::from_utf8_lossy(&ran.bytes));
    assert_eq!(ran.header("x-warden-status"), "executed");
    assert_eq!(agent.received().len(), 1);
    retry(&g, &body, &id)
        .await
        .assert_error(409, "approval_used", "approval_already_used");
    assert_eq!(agent.received().len(), 1);

    // The trail holds every transition, and the run names the approval it used.
    let trail = g.trail();
    let stages: Vec<&str> = trail.iter().map(|r| r["stage"].as_str().unwrap()).collect();
    for stage in [
        "approval_requested",
        "approval_vote",
        "approval_granted",
        "approval_used",
        "executed",
    ] {
        assert!(stages.contains(&stage), "{stage} missing from {stages:?}");
    }
    let used = trail.iter().find(|r| r["stage"] == "approval_used").unwrap();
    assert_eq!(used["payload"]["approval_id"], id.as_str());
    assert_eq!(g.verify().0, 0);
}

#[tokio::test]
async fn self_approval_is_refused_and_only_approvers_decide() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let g = gateway(&agent.url()).start();
    // One key with both roles: it may ask and it may approve, but never its own request.
    let both = g.key("sam", "requester,approver", &[]);
    let reply = g
        .post(
            "/v1/chat/completions",
            &both,
            green(AMBER).to_string().into_bytes(),
            &[],
        )
        .await;
    let id = approval_id(&reply);
    approve(&g, &both, &id)
        .await
        .assert_error(403, "permission_error", "approval_forbidden");
    approve(&g, &g.requester, &id)
        .await
        .assert_error(403, "permission_error", "insufficient_role");
    // The requester may withdraw it.
    let cancelled = g
        .post(&format!("/v1/approvals/{id}/cancel"), &both, Vec::new(), &[])
        .await;
    assert_eq!(cancelled.json()["status"], "cancelled");
    let other = g.key("otto", "approver", &[]);
    approve(&g, &other, &id)
        .await
        .assert_error(409, "invalid_request_error", "approval_conflict");
}

#[tokio::test]
async fn approvers_decide_only_their_tenants_requests() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let g = gateway(&agent.url()).start();
    let (code, out, err) = warden(&[
        "keys",
        "create",
        "--name",
        "acme-approver",
        "--role",
        "approver",
        "--tenant",
        "acme",
        "--database-url",
        &g.db_url,
    ]);
    assert_eq!(code, 0, "{err}");
    let outsider = out.trim().to_string();
    let id = approval_id(&g.chat(&green(AMBER)).await);
    // Another tenant's approver neither sees the request nor decides it, even by id.
    let listed = g.get("/v1/approvals", &outsider).await.json();
    assert_eq!(listed["data"].as_array().map(Vec::len), Some(0), "{listed}");
    approve(&g, &outsider, &id)
        .await
        .assert_error(404, "invalid_request_error", "not_found");
    let insider = g.key("dora", "approver", &[]);
    let decided = approve(&g, &insider, &id).await;
    assert_eq!(decided.status, 200, "{:?}", decided.json());
    assert_eq!(decided.json()["status"], "approved");
}

#[tokio::test]
async fn a_quorum_of_two_distinct_approvers() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let g = gateway(&agent.url()).config("[approvals]\nquorum = 2").start();
    let (a1, a2) = (g.key("ana", "approver", &[]), g.key("ben", "approver", &[]));
    let body = green(AMBER);
    let id = approval_id(&g.chat(&body).await);
    assert_eq!(approve(&g, &a1, &id).await.json()["status"], "pending");
    approve(&g, &a1, &id)
        .await
        .assert_error(409, "invalid_request_error", "approval_conflict");
    retry(&g, &body, &id)
        .await
        .assert_error(403, "approval_required", "approval");
    let second = approve(&g, &a2, &id).await.json();
    assert_eq!(second["status"], "approved");
    assert_eq!(second["votes"].as_array().unwrap().len(), 2);
    assert_eq!(retry(&g, &body, &id).await.status, 200);
}

#[tokio::test]
async fn hold_waits_for_the_decision() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let g = Arc::new(
        gateway(&agent.url())
            .config("[approvals]\nhold_timeout_secs = 30\nkeepalive_secs = 1")
            .start(),
    );
    let approver = g.key("hana", "approver", &[]);

    // JSON: the connection waits, then runs on approval.
    let held = send_held(&g, AMBER);
    let id = wait_for_pending(&g, &approver).await;
    assert_eq!(approve(&g, &approver, &id).await.status, 200);
    let reply = held.await.unwrap();
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.bytes));
    assert_eq!(reply.header("x-warden-status"), "executed");

    // JSON, rejected: the waiting client is told so.
    let held = send_held(&g, AMBER);
    let id = wait_for_pending(&g, &approver).await;
    g.post(
        &format!("/v1/approvals/{id}/reject"),
        &approver,
        br#"{"note":"not this quarter"}"#.to_vec(),
        &[],
    )
    .await;
    held.await
        .unwrap()
        .assert_error(403, "approval_denied", "approval_rejected");

    // Streaming: headers at once, keep-alive comments, then the agent's stream.
    let mut body = green(AMBER);
    body["stream"] = json!(true);
    let response = g.open_chat(&body, &[("x-warden-approval-mode", "hold")]).await;
    assert_eq!(response.headers()["x-warden-status"], "held");
    let id = response.headers()["x-warden-approval-id"]
        .to_str()
        .unwrap()
        .to_string();
    let mut stream = response.bytes_stream();
    let first = stream.next().await.unwrap().unwrap();
    assert!(
        String::from_utf8_lossy(&first).starts_with(": waiting for approval"),
        "{first:?}"
    );
    approve(&g, &approver, &id).await;
    let mut text = String::from_utf8_lossy(&first).to_string();
    while let Some(chunk) = stream.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
    }
    assert!(
        text.contains("\"chat.completion.chunk\"") && text.ends_with("data: [DONE]\n\n"),
        "{text}"
    );
    assert_eq!(agent.received().len(), 2);
}

async fn wait_for_pending(g: &Gateway, approver: &str) -> String {
    for _ in 0..200 {
        let list = g.get("/v1/approvals?status=pending", approver).await.json();
        if let Some(id) = list["data"][0]["id"].as_str() {
            return id.to_string();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no pending approval appeared");
}

#[tokio::test]
async fn escalation_and_expiry_on_a_controlled_clock() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let g = gateway(&agent.url())
        .config(
            "[approvals]\ngroups = [\"finance\"]\nescalate_to = [\"security\"]\nescalate_after_secs = 600\nexpires_after_secs = 3600\nremind_every_secs = 900\nscheduler_interval_ms = 50\n\n[testing]\nmanual_clock = true",
        )
        .start();
    let finance = g.key("fran", "approver", &["finance"]);
    let security = g.key("sec", "approver", &["security"]);
    let admin = g.key("root", "admin", &[]);
    let advance = |ms: i64| {
        let g = &g;
        let admin = admin.clone();
        async move {
            let r = g
                .post(
                    "/v1/admin/clock",
                    &admin,
                    json!({"advance_ms": ms}).to_string().into_bytes(),
                    &[],
                )
                .await;
            assert_eq!(r.status, 200, "{:?}", r.json());
        }
    };
    let body = green(AMBER);
    let id = approval_id(&g.chat(&body).await);
    // Only finance decides at first.
    approve(&g, &security, &id)
        .await
        .assert_error(403, "permission_error", "approval_forbidden");
    // Ten minutes on, the request is escalated and security may decide too.
    advance(601_000).await;
    assert_eq!(
        g.get(&format!("/v1/approvals/{id}"), &finance).await.json()["escalated"],
        true
    );
    assert_eq!(approve(&g, &security, &id).await.json()["status"], "approved");
    assert_eq!(retry(&g, &body, &id).await.status, 200);

    // A request nobody decides expires, with the configured outcome (reject).
    let other = json!({"model": "openclaw", "messages": [{"role": "user", "content": "Notify the vendor that the contract renewal is due."}]});
    let id2 = approval_id(&g.chat(&other).await);
    // Fifteen minutes on, a reminder; an hour on, expiry.
    advance(901_000).await;
    advance(2_700_000).await;
    let expired = g.get(&format!("/v1/approvals/{id2}"), &finance).await.json();
    assert_eq!(expired["status"], "expired");
    retry(&g, &other, &id2)
        .await
        .assert_error(403, "approval_denied", "approval_expired");
    approve(&g, &finance, &id2)
        .await
        .assert_error(409, "invalid_request_error", "approval_conflict");
    let stages: Vec<String> = g
        .trail()
        .iter()
        .map(|r| r["stage"].as_str().unwrap().to_string())
        .collect();
    for stage in ["approval_escalated", "approval_reminded", "approval_expired"] {
        assert!(
            stages.iter().any(|s| s == stage),
            "{stage} missing from {stages:?}"
        );
    }
    // A gateway without the testing clock has no clock route.
    let plain = gateway(&agent.url()).start();
    let root = plain.key("root", "admin", &[]);
    plain
        .post("/v1/admin/clock", &root, br#"{"advance_ms":1}"#.to_vec(), &[])
        .await
        .assert_error(404, "invalid_request_error", "not_found");
}

type Received = Arc<Mutex<Vec<(HeaderMap, String)>>>;

async fn receiver(status: StatusCode) -> (String, Received) {
    let received: Received = Arc::default();
    let sink = received.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                sink.lock()
                    .unwrap()
                    .push((headers, String::from_utf8_lossy(&body).to_string()));
                status
            }
        }),
    );
    (format!("{}/hook", serve(app).await), received)
}

#[tokio::test]
async fn webhooks_are_signed_retried_and_failures_audited() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let (json_url, json_seen) = receiver(StatusCode::OK).await;
    let (slack_url, slack_seen) = receiver(StatusCode::OK).await;
    let (broken_url, broken_seen) = receiver(StatusCode::SERVICE_UNAVAILABLE).await;
    let secret = "whsec-test-5f2c";
    let g = gateway(&agent.url())
        .env("WARDEN_WEBHOOK_SECRET", secret)
        .config(&format!(
            "[[approvals.webhooks]]\nname = \"events\"\nurl = \"{json_url}\"\nsecret_env = \"WARDEN_WEBHOOK_SECRET\"\n\n\
             [[approvals.webhooks]]\nname = \"chat\"\nurl = \"{slack_url}\"\nformat = \"slack\"\nevents = [\"requested\"]\n\n\
             [[approvals.webhooks]]\nname = \"broken\"\nurl = \"{broken_url}\"\nmax_attempts = 2\nevents = [\"requested\"]\n"
        ))
        .start();
    let approver = g.key("wendy", "approver", &[]);
    let id = approval_id(&g.chat(&green(AMBER)).await);
    approve(&g, &approver, &id).await;
    for _ in 0..200 {
        if json_seen.lock().unwrap().len() >= 2 && broken_seen.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let seen = json_seen.lock().unwrap().clone();
    let events: Vec<String> = seen
        .iter()
        .map(|(h, _)| h["x-warden-event"].to_str().unwrap().to_string())
        .collect();
    assert_eq!(events, ["approval.requested", "approval.decided"]);
    for (headers, body) in &seen {
        let timestamp = headers["x-warden-timestamp"].to_str().unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{timestamp}.{body}").as_bytes());
        let expected: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            headers["x-warden-signature"].to_str().unwrap(),
            format!("sha256={expected}")
        );
        let event: Value = serde_json::from_str(body).unwrap();
        assert_eq!(event["approval"]["id"], id.as_str());
    }
    let slack = slack_seen.lock().unwrap().clone();
    assert_eq!(slack.len(), 1);
    let message: Value = serde_json::from_str(&slack[0].1).unwrap();
    assert!(message["text"].as_str().unwrap().contains(&id), "{message}");
    assert!(
        slack[0].0.get("x-warden-signature").is_none(),
        "no secret, no signature"
    );
    // The broken hook was tried twice, then given up; both failures are on the trail.
    assert_eq!(broken_seen.lock().unwrap().len(), 2);
    let failures: Vec<Value> = g
        .trail()
        .into_iter()
        .filter(|r| r["stage"] == "webhook_failed")
        .collect();
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert_eq!(failures[1]["payload"]["gave_up"], true);
    assert!(
        !g.logs().contains(secret),
        "the signing secret never reaches the logs"
    );
}

#[tokio::test]
async fn pending_requests_survive_a_restart() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let mut g = gateway(&agent.url()).start();
    let approver = g.key("rita", "approver", &[]);
    let body = green(AMBER);
    let id = approval_id(&g.chat(&body).await);
    g.restart();
    assert_eq!(approve(&g, &approver, &id).await.json()["status"], "approved");
    assert_eq!(retry(&g, &body, &id).await.status, 200);
    g.restart();
    retry(&g, &body, &id)
        .await
        .assert_error(409, "approval_used", "approval_already_used");
}

#[tokio::test]
async fn a_quorum_may_override_red_where_the_rule_allows() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[policy]\nname = \"override\"\n\n[[rule]]\nid = \"red.refund\"\ntier = \"red\"\ncategory = \"money_movement\"\nterms = [\"refund\"]\nreason = \"Refunds move money\"\napproval = { override = true, quorum = 2 }\n\n[[rule]]\nid = \"red.wipe\"\ntier = \"red\"\ncategory = \"destructive\"\nterms = [\"wipe\"]\nreason = \"No\"\n",
    )
    .unwrap();
    let g = gateway(&agent.url())
        .config(&format!("[policy]\nfile = {:?}", policy.display().to_string()))
        .start();
    let (a1, a2) = (g.key("olga", "approver", &[]), g.key("omar", "approver", &[]));
    g.chat(&green("wipe the staging disk"))
        .await
        .assert_error(403, "governance_blocked", "red.wipe");
    let body = green("refund order 5521 to the customer's card");
    let id = approval_id(&g.chat(&body).await);
    assert_eq!(
        approve(&g, &a1, &id).await.json()["status"],
        "pending",
        "one approver is not enough to override red"
    );
    assert_eq!(approve(&g, &a2, &id).await.json()["status"], "approved");
    assert_eq!(retry(&g, &body, &id).await.status, 200);
}

#[tokio::test]
async fn the_approvals_command_works_against_a_running_gateway() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let g = gateway(&agent.url()).start();
    let approver = g.key("carla", "approver", &[]);
    let id = approval_id(&g.chat(&green(AMBER)).await);
    let run = |args: &[&str]| {
        let out = std::process::Command::new(crate::support::warden_bin())
            .args(args)
            .env("WARDEN_URL", &g.base)
            .env("WARDEN_API_KEY", &approver)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, out, err) = run(&["approvals", "list"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains(&id) && out.contains("pending") && out.contains("amber.outbound_communication"),
        "{out}"
    );
    let (code, out, _) = run(&["approvals", "show", &id]);
    assert_eq!(code, Some(0));
    assert!(out.contains(AMBER), "{out}");
    let (code, out, _) = run(&["approvals", "approve", &id, "--note", "ok for Q1"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("approved"), "{out}");
    let (code, _, err) = run(&["approvals", "reject", &id]);
    assert_eq!(code, Some(1));
    assert!(err.contains("409"), "{err}");
    let _ = warden(&["--help"]);
}

#[tokio::test]
async fn an_action_approved_earlier_in_the_conversation_is_not_approved_again() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let g = gateway(&agent.url()).start();
    let approver = g.key("amir", "approver", &[]);
    let ask = AMBER;
    let first = json!({"model": "openclaw", "messages": [{"role": "user", "content": ask}]});
    let pending = g.chat(&first).await;
    let id = approval_id(&pending);
    approve(&g, &approver, &id).await;
    assert_eq!(retry(&g, &first, &id).await.status, 200);
    // The conversation goes on: "do it again" confirms the same action, which needs people
    // again; the approval already spent does not cover it.
    let again = json!({"model": "openclaw", "messages": [
        {"role": "user", "content": ask},
        {"role": "assistant", "content": "Done: the email to finance is drafted and sent."},
        {"role": "user", "content": "Great, do it again for the Q2 budget."}
    ]});
    let second = g.chat(&again).await;
    second.assert_error(
        403,
        "approval_required",
        second.json()["error"]["code"].as_str().unwrap_or("?"),
    );
    assert_ne!(approval_id(&second), id, "a new request for people");
    let reused = retry(&g, &again, &id).await;
    assert_eq!(reused.status, 409, "{}", String::from_utf8_lossy(&reused.bytes));
    // A new, unrelated question after the approved work needs nobody.
    let unrelated = json!({"model": "openclaw", "messages": [
        {"role": "user", "content": ask},
        {"role": "assistant", "content": "Done."},
        {"role": "user", "content": "Thanks! What is the capital of Peru?"}
    ]});
    assert_eq!(g.chat(&unrelated).await.status, 200);
    assert_eq!(agent.received().len(), 2);
}

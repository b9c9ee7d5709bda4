//! A fleet: two `warden serve` processes on one PostgreSQL database under concurrent load
//! spread over both. One chain that verifies, a decision record for every answered request,
//! approvals that work across replicas and are used once, an expiry scheduler that acts once,
//! webhooks delivered once from the shared outbox, and the same guarantees after one replica
//! is killed with SIGKILL mid-load; and a gateway whose database sessions are all cut mid-load
//! refuses only what it cannot record, then recovers by itself.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use warden_standin::StandIn;
use warden_store::testing::TestDatabase;

use crate::support::{Gateway, Reply, gateway, green, send_held, serve, warden};

const GREEN: &str = "Summarize the Q3 roadmap in three bullets.";
const AMBER: &str = "Draft an email to finance asking for confirmation of the Q1 cloud budget.";
const RED: &str = "Run rm -rf / on the build server";

/// What one request of the load got back, if anything.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    trace_id: String,
    approval_id: Option<String>,
    /// What was sent, to resume it after approval.
    body: Value,
}

/// Waits (ten seconds at most) until every delivery queued in the outbox has arrived.
async fn settle<D, Q, F>(delivered: &D, queued: &Q)
where
    D: Fn() -> HashSet<String>,
    Q: Fn() -> F,
    F: std::future::Future<Output = HashSet<String>>,
{
    for _ in 0..200 {
        if delivered() == queued().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends `body` to `base`; `None` when no response came (the replica was killed).
async fn send(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> Option<Answer> {
    let mut req = client
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let response = req.send().await.ok()?;
    let status = response.status().as_u16();
    let trace_id = response
        .headers()
        .get("x-warden-trace-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = response.bytes().await.ok()?;
    let approval_id = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v["error"]["approval_id"].as_str().map(str::to_string));
    Some(Answer {
        status,
        trace_id,
        approval_id,
        body: body.clone(),
    })
}

/// `total` requests (mostly green, some red, some amber), 16 at a time, alternating between
/// the replicas; returns every answer that came back. `after` runs once `at` answers are in.
async fn load(
    bases: [&str; 2],
    key: &str,
    total: usize,
    at: usize,
    after: impl FnOnce() + Send + 'static,
) -> Vec<Answer> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let gate = Arc::new(Semaphore::new(16));
    let answered = Arc::new(AtomicUsize::new(0));
    let after = Arc::new(std::sync::Mutex::new(Some(after)));
    let mut tasks = Vec::new();
    for i in 0..total {
        let text = match i % 10 {
            3 => RED,
            7 => AMBER,
            _ => GREEN,
        };
        let body = green(&format!("{text} (request {i})"));
        let (client, gate, answered, after) = (client.clone(), gate.clone(), answered.clone(), after.clone());
        let (base, key) = (bases[i % 2].to_string(), key.to_string());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire().await.unwrap();
            let answer = send(&client, &base, &key, &body, &[]).await;
            if answer.is_some()
                && answered.fetch_add(1, Ordering::SeqCst) + 1 == at
                && let Some(after) = after.lock().unwrap().take()
            {
                after();
            }
            answer
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        if let Some(a) = t.await.unwrap() {
            answers.push(a);
        }
    }
    answers
}

fn records_at(trail: &[Value], stage: &str) -> Vec<Value> {
    trail.iter().filter(|r| r["stage"] == stage).cloned().collect()
}

/// Every answered request has exactly one decision record, and the chain verifies.
fn assert_every_answer_is_recorded(g: &Gateway, answers: &[Answer]) -> Vec<Value> {
    let (code, out) = g.verify();
    assert_eq!(code, 0, "the chain does not verify: {out}");
    let trail = g.trail();
    let mut decisions: HashMap<String, usize> = HashMap::new();
    for r in records_at(&trail, "classification") {
        *decisions
            .entry(r["trace_id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    for a in answers {
        assert!(!a.trace_id.is_empty(), "an answer without a trace id: {a:?}");
        assert_eq!(
            decisions.get(&a.trace_id),
            Some(&1),
            "answered request {} (status {}) has no single decision record",
            a.trace_id,
            a.status
        );
    }
    trail
}

/// No approval was used twice: at most one `approval_used` record per approval.
fn assert_no_approval_used_twice(trail: &[Value]) -> usize {
    let mut used: HashMap<String, usize> = HashMap::new();
    for r in records_at(trail, "approval_used") {
        *used
            .entry(r["payload"]["approval_id"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    for (id, n) in &used {
        assert_eq!(*n, 1, "approval {id} was used {n} times");
    }
    used.len()
}

async fn advance(g: &Gateway, admin: &str, ms: i64) {
    let r = g
        .post(
            "/v1/admin/clock",
            admin,
            json!({"advance_ms": ms}).to_string().into_bytes(),
            &[],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
}

async fn approve(g: &Gateway, key: &str, id: &str) -> Reply {
    g.post(&format!("/v1/approvals/{id}/approve"), key, b"{}".to_vec(), &[])
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgres_share_one_chain_and_one_queue_and_lose_nothing() {
    let db = TestDatabase::postgres().await;
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    // Every approval event goes to one webhook receiver, which notes each delivery's id.
    let deliveries: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let sink = deliveries.clone();
    let hook = serve(Router::new().route(
        "/hook",
        post(move |headers: HeaderMap| {
            let sink = sink.clone();
            async move {
                let id = headers
                    .get("x-warden-delivery")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                sink.lock().unwrap().push(id.to_string());
                StatusCode::OK
            }
        }),
    ))
    .await;
    // Held requests re-read their approval only every ten minutes: a release within the
    // test can only come from the decision notice.
    let a = Arc::new(
        gateway(&agent.url())
            .database(db.url())
            .config(
                &format!("[store]\nmax_connections = 3\n[approvals]\nhold_timeout_secs = 60\npoll_interval_ms = 600000\nscheduler_interval_ms = 20\nexpires_after_secs = 3600\n\
                 [[approvals.webhooks]]\nname = \"events\"\nurl = \"{hook}/hook\"\n[testing]\nmanual_clock = true"),
            )
            .start(),
    );
    let b = Arc::new(a.replica());
    let approver = a.key("amir", "approver", &[]);
    let admin = a.key("root", "admin", &[]);

    // 1. Concurrent load over both replicas: every answer has its decision record.
    let answers = load([&a.base, &b.base], &a.requester, 400, 0, || {}).await;
    assert_eq!(answers.len(), 400, "both replicas answer everything");
    let by_status = |s: u16| answers.iter().filter(|x| x.status == s).count();
    let mut statuses: HashMap<u16, usize> = HashMap::new();
    for x in &answers {
        *statuses.entry(x.status).or_default() += 1;
    }
    eprintln!(
        "statuses: {statuses:?}; A log tail: {}",
        a.logs().lines().rev().take(5).collect::<Vec<_>>().join("\n")
    );
    assert_eq!(by_status(200), 320, "green runs");
    assert_eq!(by_status(403), 80, "red is blocked, amber waits for approval");
    let trail = assert_every_answer_is_recorded(&a, &answers);
    assert_eq!(
        records_at(&trail, "classification").len(),
        answers.len(),
        "one decision record per answered request, no more"
    );
    assert!(b.verify().0 == 0, "either replica's view verifies");

    // 2. Approved on one replica, raced for on both: each approval runs exactly once.
    let deferred: Vec<&Answer> = answers.iter().filter(|x| x.approval_id.is_some()).collect();
    assert_eq!(deferred.len(), 40);
    let client = reqwest::Client::new();
    let mut races = Vec::new();
    for (i, d) in deferred.iter().take(12).enumerate() {
        let id = d.approval_id.clone().unwrap();
        let decider = if i % 2 == 0 { &a } else { &b };
        assert_eq!(approve(decider, &approver, &id).await.status, 200);
        let body = d.body.clone();
        for base in [a.base.clone(), b.base.clone()] {
            let (client, body, key, id) = (client.clone(), body.clone(), a.requester.clone(), id.clone());
            races.push(tokio::spawn(async move {
                (
                    id.clone(),
                    send(&client, &base, &key, &body, &[("x-warden-approval-id", &id)]).await,
                )
            }));
        }
    }
    let mut runs: HashMap<String, usize> = HashMap::new();
    for r in races {
        let (id, answer) = r.await.unwrap();
        let answer = answer.expect("both replicas answer");
        match answer.status {
            200 => *runs.entry(id).or_default() += 1,
            409 => {}
            other => panic!("a resumed request answered {other}"),
        }
    }
    assert_eq!(runs.len(), 12, "every approved request ran");
    assert!(runs.values().all(|n| *n == 1), "an approval ran twice: {runs:?}");

    // 3. Held on A, approved on B: the notice releases it.
    let held = send_held(&a, AMBER);
    let held_id = loop {
        let list = b
            .get("/v1/approvals?status=pending&limit=1000", &approver)
            .await
            .json();
        let known: HashSet<&str> = deferred.iter().filter_map(|d| d.approval_id.as_deref()).collect();
        if let Some(id) = list["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|x| x["id"].as_str())
            .find(|id| !known.contains(id))
        {
            break id.to_string();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(approve(&b, &approver, &held_id).await.status, 200);
    let released = tokio::time::timeout(Duration::from_secs(20), held)
        .await
        .expect("the held request was released by the notice, not the ten-minute poll")
        .unwrap();
    assert_eq!(
        released.status,
        200,
        "{}",
        String::from_utf8_lossy(&released.bytes)
    );

    // The deliveries queued so far are sent before the clocks jump: a lease taken on one
    // replica's clock is not another's to break while one replica runs an hour ahead.
    let outbox = sqlx::PgPool::connect(db.url()).await.unwrap();
    let queued_ids = || async {
        sqlx::query_scalar::<_, i64>("SELECT id FROM webhook_outbox")
            .fetch_all(&outbox)
            .await
            .unwrap()
            .into_iter()
            .map(|id| id.to_string())
            .collect::<HashSet<String>>()
    };
    let delivered = || {
        deliveries
            .lock()
            .unwrap()
            .iter()
            .cloned()
            .collect::<HashSet<String>>()
    };
    settle(&delivered, &queued_ids).await;

    // 4. Expiry: both schedulers see every remaining request due; each expires once.
    for g in [&a, &b] {
        advance(g, &admin, 3_601_000).await;
    }
    let pending_left = deferred.len() - 12;
    for _ in 0..200 {
        if records_at(&a.trail(), "approval_expired").len() >= pending_left {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A few more scheduler ticks on both replicas, to give a second expiry every chance.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let expired = records_at(&a.trail(), "approval_expired");
    let distinct: HashSet<&str> = expired
        .iter()
        .map(|r| r["payload"]["approval_id"].as_str().unwrap())
        .collect();
    assert_eq!(distinct.len(), pending_left, "every unapproved request expired");
    assert_eq!(
        expired.len(),
        pending_left,
        "and each exactly once, not once per replica"
    );

    // 5. Both replicas deliver webhooks from the one outbox: each delivery is sent once.
    settle(&delivered, &queued_ids).await;
    // A few more delivery passes on both replicas, to give a second send every chance.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let queued = queued_ids().await;
    assert!(
        queued.len() >= 80,
        "requested, decided and expired events were queued: {}",
        queued.len()
    );
    let sent = deliveries.lock().unwrap().clone();
    let distinct: HashSet<String> = sent.iter().cloned().collect();
    assert_eq!(distinct, queued, "every queued delivery arrived");
    assert_eq!(distinct.len(), sent.len(), "no delivery was sent twice");
    outbox.close().await;

    // 6. SIGKILL one replica mid-load: every answer still has its record; nothing breaks.
    let before = records_at(&a.trail(), "classification").len();
    let victim = b.clone();
    let answers = load([&a.base, &b.base], &a.requester, 400, 120, move || {
        victim.signal("KILL")
    })
    .await;
    assert!(
        answers.len() >= 200 && answers.len() < 400,
        "the kill cut some requests off: {} answered",
        answers.len()
    );
    let trail = assert_every_answer_is_recorded(&a, &answers);
    let decided = records_at(&trail, "classification").len() - before;
    assert!(
        decided >= answers.len() && decided <= 400,
        "{decided} decision records for {} answers of 400 requests",
        answers.len()
    );
    assert_eq!(assert_no_approval_used_twice(&trail), 13);
    eprintln!(
        "fleet: after SIGKILL {} of 400 requests answered, {decided} decision records",
        answers.len()
    );

    // 7. The killed replica comes back and appends to the same chain.
    let c = a.replica();
    let after = load([&a.base, &c.base], &a.requester, 40, 0, || {}).await;
    assert_eq!(after.len(), 40);
    assert_every_answer_is_recorded(&c, &after);
    let (code, out, _) = warden(&["audit", "verify", "--database-url", db.url()]);
    assert_eq!(code, 0, "{out}");
    drop((a, b, c));
    db.drop_database().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_refuses_what_it_cannot_record_and_loses_nothing_answered() {
    let db = TestDatabase::postgres().await;
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let a = gateway(&agent.url())
        .database(db.url())
        .config("[store]\ndurability = \"fsync\"")
        .start();
    let admin = sqlx::PgPool::connect(db.url()).await.unwrap();
    // Mid-load, every session the gateway has is cut, as a database restart or a failover
    // would: its writer, its flusher, its listener and its pool.
    let terminated = Arc::new(AtomicUsize::new(0));
    let cut = {
        let (admin, terminated) = (admin.clone(), terminated.clone());
        move || {
            tokio::spawn(async move {
                let n: i64 = sqlx::query_scalar(
                    "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
                     WHERE datname = current_database() AND application_name = 'warden'",
                )
                .fetch_one(&admin)
                .await
                .unwrap();
                terminated.store(n as usize, Ordering::SeqCst);
            });
        }
    };
    let answers = load([&a.base, &a.base], &a.requester, 300, 100, cut).await;
    assert!(
        terminated.load(Ordering::SeqCst) >= 3,
        "the writer's, the flusher's and the listener's sessions at least were cut"
    );
    assert_eq!(
        answers.len(),
        300,
        "the gateway answers everything, even while cut off"
    );
    let refused: Vec<&Answer> = answers.iter().filter(|x| x.status == 503).collect();
    let recorded: Vec<Answer> = answers.iter().filter(|x| x.status != 503).cloned().collect();
    // Only what could not be recorded is refused; everything else has its decision record.
    assert_every_answer_is_recorded(&a, &recorded);
    let after = load([&a.base, &a.base], &a.requester, 40, 0, || {}).await;
    assert!(
        after.iter().all(|x| x.status != 503),
        "the gateway recovered by itself"
    );
    assert_every_answer_is_recorded(&a, &after);
    eprintln!(
        "database cut: {} of 300 refused with 503 while reconnecting, {} answered and recorded",
        refused.len(),
        recorded.len()
    );
    admin.close().await;
    drop(a);
    db.drop_database().await.unwrap();
}

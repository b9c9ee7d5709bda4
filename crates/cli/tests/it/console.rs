//! The operators' console in a real browser (headless Chromium over WebDriver) against the real
//! `warden serve`: sign in with a key, see a held amber request, approve it and see the held
//! client released, find its trace, see the charts; and over plain HTTP, what must be refused:
//! forged and cross-site forms, another tenant's approver, expired and revoked sessions.
//! Screenshots of every page go to `target/tmp/console-screenshots/` (and to
//! `docs/console/` with `WARDEN_UPDATE_SCREENSHOTS=1`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use warden_standin::StandIn;

use crate::support::{Gateway, gateway, green, send_held};
use crate::webdriver::{Browser, keys};

const AMBER: &str = "Draft an email to finance asking for confirmation of the Q1 cloud budget.";
const WAIT: Duration = Duration::from_secs(10);

fn screenshot_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots")
}

/// Saves the page as `name.png`, and into the docs when asked to.
async fn shot(browser: &Browser, name: &str) {
    let path = screenshot_dir().join(format!("{name}.png"));
    browser.full_page_screenshot(&path).await;
    if std::env::var_os("WARDEN_UPDATE_SCREENSHOTS").is_some() {
        let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/console");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::copy(&path, docs.join(format!("{name}.png"))).unwrap();
    }
}

async fn sign_in(browser: &Browser, g: &Gateway, key: &str) {
    browser.goto(&g.url("/console/sign-in")).await;
    let field = browser.wait_for("#key", WAIT).await;
    field.send_keys(key).await;
    browser.find("#sign-in").await.click().await;
    browser.wait_for("#signed-in-as", WAIT).await;
}

async fn sign_out(browser: &Browser) {
    browser.find("#sign-out").await.click().await;
    browser.wait_for("#sign-in-form", WAIT).await;
}

/// The page has no horizontal scroll at the window's width.
async fn fits(browser: &Browser) -> bool {
    let v = browser
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1",
            vec![],
        )
        .await;
    v == json!(true)
}

#[tokio::test]
async fn an_approver_decides_in_the_browser_and_an_auditor_finds_the_trace() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let g = Arc::new(
        gateway(&agent.url())
            .config("[approvals]\nhold_timeout_secs = 60\nkeepalive_secs = 1")
            .start(),
    );
    let approver = g.key("hana", "approver", &[]);
    let admin = g.key("ada", "admin", &[]);
    let stranger = g.tenant_key("otto", "approver", "other");

    // Some traffic for the charts: green, red, and the amber request a client waits on.
    assert_eq!(
        g.chat(&green("Summarize our AI governance policy.")).await.status,
        200
    );
    let red = g
        .chat(&green(
            "Transfer funds from treasury to vendor account immediately.",
        ))
        .await;
    assert_eq!(red.status, 403);
    for (i, command) in ["git status", "ls -la src", "rm -rf /srv/app"].iter().enumerate() {
        let ask = json!({"toolName": "exec", "params": {"command": command}, "runId": "r", "toolCallId": format!("c{i}"),
                         "agentId": "main", "sessionKey": "agent:main:main"});
        let reply = g
            .post(
                "/v1/decisions/tool-call",
                &g.requester,
                ask.to_string().into_bytes(),
                &[],
            )
            .await;
        assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.bytes));
    }
    let held = send_held(&g, AMBER);

    let browser = Browser::start().await;
    // A page of the console sends a stranger to sign in, and back after.
    browser.goto(&g.url("/console/approvals")).await;
    browser.wait_for("#sign-in-form", WAIT).await;
    shot(&browser, "sign-in").await;

    // Keyboard only: Tab from the top reaches the skip link, then the key field; Enter signs in.
    browser.press_keys(keys::TAB).await;
    assert_eq!(
        browser.active_element().await.attr("class").await.as_deref(),
        Some("skip")
    );
    browser.find("#key").await.click().await;
    browser.press_keys(&approver).await;
    browser.press_keys(keys::ENTER).await;
    browser.wait_until_url_contains("/console/approvals", WAIT).await;
    let cookies = browser.cookies().await;
    let session = cookies
        .iter()
        .find(|c| c["name"] == "warden_console")
        .expect("a session cookie");
    assert_eq!(session["httpOnly"], true);
    assert_eq!(session["sameSite"], "Strict");
    assert_ne!(
        session["value"],
        json!(approver),
        "the key itself is not the cookie"
    );

    // The inbox shows the held request with its risk and rule.
    let row = browser.wait_for("tr.approval", WAIT).await;
    let row_text = row.text().await;
    assert!(
        row_text.contains("amber") && row_text.contains("amber.outbound_communication"),
        "{row_text}"
    );
    assert!(row_text.contains("alice"), "the requester: {row_text}");
    shot(&browser, "inbox").await;

    // The request's page: the exact action with the matched spans marked, the quorum.
    row.find("a.approval-link").await.click().await;
    browser.wait_for("#decide-form", WAIT).await;
    let action = browser.find("#action").await.text().await;
    assert!(action.contains(AMBER), "{action}");
    assert!(
        !browser.find_all("#action mark").await.is_empty(),
        "matched spans are marked"
    );
    assert!(browser.find("#quorum").await.text().await.starts_with("0/1"));
    shot(&browser, "approval").await;

    // Rejecting needs a reason; approving with one releases the held client.
    browser
        .find("#reason")
        .await
        .send_keys("Budget confirmed with finance.")
        .await;
    browser.find("#approve").await.click().await;
    browser.wait_for("#decision-message", WAIT).await;
    let status = browser.find("#approval-status").await.text().await;
    assert!(status == "approved" || status == "used", "{status}");
    let reply = tokio::time::timeout(Duration::from_secs(20), held)
        .await
        .expect("the held client is released")
        .unwrap();
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.bytes));
    assert_eq!(reply.header("x-warden-status"), "executed");
    let trace_id = reply.trace_id();
    let vote = g.wait_for_record(&trace_id, "approval_vote").await;
    assert_eq!(
        vote["actor"], "key:hana",
        "the vote is on the trail under the approver's key"
    );
    assert_eq!(vote["payload"]["note"], "Budget confirmed with finance.");

    // At phone width the request's page still fits.
    browser.set_window_size(390, 844).await;
    browser.refresh().await;
    browser.wait_for("#approval-status", WAIT).await;
    assert!(fits(&browser).await, "no horizontal scrolling at 390 px");
    shot(&browser, "approval-phone").await;
    browser.set_window_size(1280, 900).await;
    sign_out(&browser).await;

    // Another tenant's approver sees nothing of it, even by its address.
    sign_in(&browser, &g, &stranger).await;
    browser.goto(&g.url("/console/approvals?status=all")).await;
    browser.wait_for("#inbox-empty", WAIT).await;
    let approval_url = format!(
        "/console/approvals/{}",
        g.trail()
            .iter()
            .find(|r| r["stage"] == "approval_requested")
            .unwrap()["payload"]["approval"]["id"]
            .as_str()
            .unwrap()
    );
    browser.goto(&g.url(&approval_url)).await;
    let refused = browser.wait_for("#error-message", WAIT).await.text().await;
    assert!(refused.contains("No such approval request"), "{refused}");
    sign_out(&browser).await;

    // The auditor finds the trace and its chain links.
    sign_in(&browser, &g, &g.auditor).await;
    browser
        .goto(&g.url(&format!("/console/traces?trace={trace_id}")))
        .await;
    let line = browser.wait_for("tr.trace", WAIT).await;
    assert!(line.text().await.contains("executed"), "{}", line.text().await);
    browser
        .goto(&g.url("/console/traces?risk=red&surface=chat_completions"))
        .await;
    let red_line = browser.wait_for("tr.trace", WAIT).await.text().await;
    assert!(
        red_line.contains("blocked") && red_line.contains("red.money_movement"),
        "{red_line}"
    );
    browser.goto(&g.url("/console/traces")).await;
    browser.wait_for("tr.trace", WAIT).await;
    browser.find("#verify-now").await.click().await;
    let chain = browser
        .wait_for_text("#chain-status", "Chain verified", WAIT)
        .await;
    assert!(
        chain.text().await.contains("by key:audrey"),
        "{}",
        chain.text().await
    );
    shot(&browser, "traces").await;
    browser.goto(&g.url(&format!("/console/traces/{trace_id}"))).await;
    browser.wait_for("#timeline", WAIT).await;
    assert!(
        browser
            .find("#trace-seal")
            .await
            .text()
            .await
            .starts_with("Every record")
    );
    let stages: Vec<String> = {
        let mut out = Vec::new();
        for li in browser.find_all("li.record .what strong").await {
            out.push(li.text().await);
        }
        out
    };
    for stage in [
        "classification",
        "approval_requested",
        "approval_granted",
        "executed",
    ] {
        assert!(stages.iter().any(|s| s == stage), "{stage} in {stages:?}");
    }
    shot(&browser, "trace").await;

    // The overview draws its charts on the server.
    browser.goto(&g.url("/console/overview")).await;
    browser.wait_for("#figures", WAIT).await;
    assert_eq!(browser.find_all("svg.chart").await.len(), 7);
    let figures = browser.find("#figures").await.text().await;
    assert!(figures.contains("Model tokens"), "{figures}");
    let tools = browser.find("#chart-tools").await.text().await;
    assert!(tools.contains("exec"), "tool calls charted by tool: {tools}");
    let mut longest = 0;
    for line in browser.find_all("#chart-risk svg polyline").await {
        let points = line.attr("points").await.unwrap_or_default();
        longest = longest.max(points.split_whitespace().count());
    }
    assert!(longest >= 24, "a line over the day's hours: {longest} points");
    shot(&browser, "overview").await;
    sign_out(&browser).await;

    // The admin: the policy playground explains a verdict; a key is made, shown once, works,
    // and is revoked.
    sign_in(&browser, &g, &admin).await;
    browser.goto(&g.url("/console/policy")).await;
    browser
        .find("#text")
        .await
        .send_keys("Transfer funds from treasury to vendor account immediately.")
        .await;
    browser.find("#explain").await.click().await;
    assert_eq!(browser.wait_for("#verdict-risk", WAIT).await.text().await, "RED");
    assert!(!browser.find_all("#verdict-text mark").await.is_empty());
    shot(&browser, "policy").await;

    browser.goto(&g.url("/console/keys")).await;
    browser.find("#k-name").await.send_keys("robot").await;
    browser.find("#k-role-requester").await.click().await;
    browser.find("#create").await.click().await;
    let made = browser.wait_for("#new-key-value", WAIT).await;
    let key = made
        .property("value")
        .await
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    assert!(key.starts_with("wdn_"), "{key}");
    assert_eq!(g.get("/v1/models", &key).await.status, 200);
    shot(&browser, "keys").await;
    browser
        .find("tr.key[data-name='robot'] button")
        .await
        .click()
        .await;
    let asked = browser.accept_dialog(WAIT).await;
    assert!(asked.contains("Revoke the key robot?"), "{asked}");
    let deadline = std::time::Instant::now() + WAIT;
    while browser.try_find("tr.key[data-name='robot']").await.is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the revoked key left the list"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        g.get("/v1/models", &key).await.status,
        401,
        "revoked within the key cache's 2 s"
    );
    let stages: Vec<String> = g
        .trail()
        .iter()
        .filter(|r| r["stage"] == "console")
        .map(|r| r["payload"]["action"].as_str().unwrap_or("").to_string())
        .collect();
    for action in ["sign_in", "sign_out", "verify", "key_created", "key_revoked"] {
        assert!(
            stages.iter().any(|a| a == action),
            "{action} recorded: {stages:?}"
        );
    }
    browser.close().await;
}

/// A signed-in session over plain HTTP: its cookie and its CSRF token.
struct Session {
    cookie: String,
    csrf: String,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn csrf_in(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    html[at..].split('"').next().unwrap().to_string()
}

fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| v.split(';').next().unwrap().to_string())
}

/// GETs `url` in a signed-in session, redirects not followed.
async fn get_in(url: String, session: &Session) -> reqwest::Response {
    client()
        .get(url)
        .header("cookie", &session.cookie)
        .send()
        .await
        .unwrap()
}

async fn http_sign_in(g: &Gateway, key: &str) -> Result<Session, u16> {
    let page = client().get(g.url("/console/sign-in")).send().await.unwrap();
    let sign_in_cookie = set_cookie(&page, "warden_console_signin").unwrap();
    let token = csrf_in(&page.text().await.unwrap());
    let answer = client()
        .post(g.url("/console/sign-in"))
        .header("cookie", &sign_in_cookie)
        .form(&[
            ("csrf", token.as_str()),
            ("key", key),
            ("next", "/console/approvals"),
        ])
        .send()
        .await
        .unwrap();
    if answer.status() != 303 {
        return Err(answer.status().as_u16());
    }
    let cookie = set_cookie(&answer, "warden_console").unwrap();
    let page = client()
        .get(g.url("/console/policy"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csrf = csrf_in(&page.text().await.unwrap());
    Ok(Session { cookie, csrf })
}

#[tokio::test]
async fn forged_and_cross_site_forms_other_tenants_and_ended_sessions_are_refused() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let g = gateway(&agent.url())
        .config("[testing]\nmanual_clock = true\n[console]\nsession_idle_secs = 600")
        .start();
    let approver = g.key("hana", "approver", &[]);
    let admin = g.key("ada", "admin", &[]);
    let stranger = g.tenant_key("otto", "approver", "other");
    let first = g.chat(&green(AMBER)).await;
    let id = first.json()["error"]["approval_id"].as_str().unwrap().to_string();
    let page = format!("/console/approvals/{id}");
    let status_of = || async { g.get(&format!("/v1/approvals/{id}"), &admin).await.json()["status"].clone() };

    // Every console answer keeps the page from being framed or running other scripts.
    let signin = client().get(g.url("/console/sign-in")).send().await.unwrap();
    let csp = signin.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert_eq!(signin.headers()["x-frame-options"], "DENY");
    let nowhere = client().get(g.url("/console/no/such/page")).send().await.unwrap();
    assert_eq!(nowhere.status(), 404);
    assert!(
        nowhere.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    // Sign-in needs its own double-submitted token; a requester's key is not a console key.
    let no_cookie = client()
        .post(g.url("/console/sign-in"))
        .form(&[("csrf", "x"), ("key", approver.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(no_cookie.status(), 403);
    assert_eq!(http_sign_in(&g, &g.requester).await.err(), Some(403));
    assert_eq!(
        http_sign_in(&g, "wdn_0123456789abcdef_nope").await.err(),
        Some(401)
    );

    let hana = http_sign_in(&g, &approver).await.unwrap();
    let vote = |session: &Session, csrf: &str, origin: Option<&str>| {
        let mut request = client()
            .post(g.url(&page))
            .header("cookie", &session.cookie)
            .form(&[("csrf", csrf), ("decision", "approve"), ("reason", "ok")]);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    // A form without the session's token, or from another site, changes nothing.
    assert_eq!(vote(&hana, "", None).await.unwrap().status(), 403);
    assert_eq!(vote(&hana, "forged", None).await.unwrap().status(), 403);
    assert_eq!(
        vote(&hana, &hana.csrf, Some("http://evil.example"))
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(status_of().await, "pending");

    // Another tenant's approver: not found, and the vote refused.
    let otto = http_sign_in(&g, &stranger).await.unwrap();
    let seen = get_in(g.url(&page), &otto).await;
    assert_eq!(seen.status(), 404);
    assert_eq!(vote(&otto, &otto.csrf, None).await.unwrap().status(), 404);
    assert_eq!(status_of().await, "pending");

    // The real approver, same origin, with the token: decided.
    let origin = g.url("");
    let done = vote(&hana, &hana.csrf, Some(origin.trim_end_matches('/')))
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    assert_eq!(status_of().await, "approved");

    // The auditor's export of a filtered set: only that trace's records, chained.
    let audrey = http_sign_in(&g, &g.auditor).await.unwrap();
    let trace_id = first.trace_id();
    let csv = get_in(
        g.url(&format!("/console/traces/export?format=csv&trace={trace_id}")),
        &audrey,
    )
    .await;
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("warden-traces.csv")
    );
    let text = csv.text().await.unwrap();
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let stages: Vec<String> = rows.records().map(|r| r.unwrap()[2].to_string()).collect();
    assert!(
        stages.contains(&"classification".to_string()) && stages.contains(&"approval_vote".to_string()),
        "{stages:?}"
    );
    assert!(
        text.lines().skip(1).all(|l| l.starts_with(&trace_id)),
        "only the filtered trace"
    );
    // An approver is not an auditor.
    let denied = get_in(g.url("/console/traces"), &hana).await;
    assert_eq!(denied.status(), 403);

    // Sessions end when idle past their limit, and when their key is revoked.
    let clock = g
        .post(
            "/v1/admin/clock",
            &admin,
            br#"{"advance_ms": 601000}"#.to_vec(),
            &[],
        )
        .await;
    assert_eq!(clock.status, 200, "{}", String::from_utf8_lossy(&clock.bytes));
    let expired = get_in(g.url("/console/approvals"), &hana).await;
    assert_eq!(expired.status(), 303);
    assert!(
        expired.headers()["location"]
            .to_str()
            .unwrap()
            .contains("/console/sign-in")
    );
    let otto = http_sign_in(&g, &stranger).await.unwrap();
    let (code, _, err) = crate::support::warden(&["keys", "revoke", "otto", "--database-url", &g.db_url]);
    assert_eq!(code, 0, "{err}");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let revoked = get_in(g.url("/console/approvals"), &otto).await;
    assert_eq!(revoked.status(), 303);
}

#[tokio::test]
async fn the_console_can_be_turned_off() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let g = gateway(&agent.url()).config("[console]\nenabled = false").start();
    let answer = client().get(g.url("/console/sign-in")).send().await.unwrap();
    assert_eq!(answer.status(), 404);
}

#[tokio::test]
async fn a_fleet_on_postgresql_shares_sessions_and_indexes_each_record_once() {
    let db = warden_store::testing::TestDatabase::postgres().await;
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let a = gateway(&agent.url())
        .database(db.url())
        .config("[console]\nindex_interval_ms = 100")
        .start();
    let b = a.replica();
    let approver = a.key("hana", "approver", &[]);
    let admin = a.key("ada", "admin", &[]);

    // Signed in on one replica, served by the other.
    let session = http_sign_in(&a, &admin).await.unwrap();
    let on_b = get_in(b.url("/console/traces"), &session).await;
    assert_eq!(on_b.status(), 200);

    // Traffic through both replicas while both index: every trace found once, counted once.
    for i in 0..10 {
        let g = if i % 2 == 0 { &a } else { &b };
        assert_eq!(
            g.chat(&green(&format!("Summarize item {i} of the roadmap.")))
                .await
                .status,
            200
        );
    }
    let amber = b.chat(&green(AMBER)).await;
    let id = amber.json()["error"]["approval_id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let page = get_in(a.url("/console/traces?key=alice"), &session)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(
        page.matches("<tr class=\"trace\"").count(),
        11,
        "each trace listed once"
    );
    let overview = get_in(b.url("/console/overview"), &session)
        .await
        .text()
        .await
        .unwrap();
    let requests = overview
        .split("<span class=\"value\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap();
    assert_eq!(requests, "11", "each request counted once across replicas");

    // A vote in the console of the replica that did not queue the request.
    let hana = http_sign_in(&a, &approver).await.unwrap();
    let done = client()
        .post(a.url(&format!("/console/approvals/{id}")))
        .header("cookie", &hana.cookie)
        .form(&[
            ("csrf", hana.csrf.as_str()),
            ("decision", "approve"),
            ("reason", ""),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    let shown = b.get(&format!("/v1/approvals/{id}"), &admin).await.json();
    assert_eq!(shown["status"], "approved");
    drop((a, b));
    db.drop_database().await.unwrap();
}

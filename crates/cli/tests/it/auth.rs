//! Authentication and roles: OpenAI-shaped 401 and 403, revoked keys, and role checks.

use warden_standin::StandIn;

use crate::support::{gateway, green, warden};

#[tokio::test]
async fn missing_wrong_and_revoked_keys_get_401() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let g = gateway(&agent.url()).start();
    let body = green("hello").to_string().into_bytes();

    let none = g.post("/v1/chat/completions", "", body.clone(), &[]).await;
    none.assert_error(401, "authentication_error", "invalid_api_key");
    assert_eq!(none.header("www-authenticate"), "Bearer");

    // Right id, wrong secret: the comparison must fail.
    let id_part = &g.requester[..21];
    let forged = format!("{id_part}{}", "A".repeat(64));
    g.post("/v1/chat/completions", &forged, body.clone(), &[])
        .await
        .assert_error(401, "authentication_error", "invalid_api_key");
    for junk in ["sk-not-a-warden-key", "wdn_", "wdn_zz_zz"] {
        g.post("/v1/chat/completions", junk, body.clone(), &[])
            .await
            .assert_error(401, "authentication_error", "invalid_api_key");
    }

    let (code, key, _) = warden(&[
        "keys",
        "create",
        "--name",
        "bob",
        "--role",
        "requester",
        "--database-url",
        &g.db_url,
    ]);
    assert_eq!(code, 0);
    let key = key.trim().to_string();
    let (code, _, err) = warden(&["keys", "revoke", "bob", "--database-url", &g.db_url]);
    assert_eq!(code, 0, "{err}");
    g.post("/v1/chat/completions", &key, body.clone(), &[])
        .await
        .assert_error(401, "authentication_error", "invalid_api_key");

    assert!(agent.received().is_empty());
    // The listing shows names and roles, never secrets.
    let (code, list, _) = warden(&["keys", "list", "--database-url", &g.db_url]);
    assert_eq!(code, 0);
    assert!(list.contains("alice") && list.contains("bob"));
    assert!(!list.contains(&g.requester[21..]));
}

#[tokio::test]
async fn roles_are_enforced() {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let g = gateway(&agent.url()).start();
    // An auditor may not send requests; a requester may not read the trail.
    g.post(
        "/v1/chat/completions",
        &g.auditor,
        green("hello").to_string().into_bytes(),
        &[],
    )
    .await
    .assert_error(403, "permission_error", "insufficient_role");
    let ok = g.chat(&green("hello")).await;
    assert_eq!(ok.status, 200);
    g.get(&format!("/v1/audit/traces/{}", ok.trace_id()), &g.requester)
        .await
        .assert_error(403, "permission_error", "insufficient_role");
    g.get("/v1/audit/traces/no-such-trace", &g.auditor)
        .await
        .assert_error(404, "invalid_request_error", "not_found");

    // An admin holds every role.
    let (_, admin, _) = warden(&[
        "keys",
        "create",
        "--name",
        "root",
        "--role",
        "admin",
        "--database-url",
        &g.db_url,
    ]);
    let admin = admin.trim();
    assert_eq!(
        g.post(
            "/v1/chat/completions",
            admin,
            green("hi").to_string().into_bytes(),
            &[]
        )
        .await
        .status,
        200
    );
    assert_eq!(
        g.get(&format!("/v1/audit/traces/{}", ok.trace_id()), admin)
            .await
            .status,
        200
    );

    let (code, _, err) = warden(&[
        "keys",
        "create",
        "--name",
        "x",
        "--role",
        "superuser",
        "--database-url",
        &g.db_url,
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("unknown role `superuser`"), "{err}");
}

#[test]
fn read_only_commands_refuse_a_missing_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("typo.db").display());
    for args in [
        vec!["audit", "verify"],
        vec!["audit", "export"],
        vec!["keys", "list"],
    ] {
        let mut args = args.clone();
        args.extend(["--database-url", &url]);
        let (code, _, err) = warden(&args);
        assert_ne!(code, 0, "{args:?}");
        assert!(err.contains("no database at"), "{err}");
    }
    assert!(!dir.path().join("typo.db").exists(), "nothing may be created");
}

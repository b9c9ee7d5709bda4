//! The audit trail from the outside: `warden audit verify` finds tampering and names the first
//! bad record, in full or from an anchor; `warden audit export` writes JSONL and CSV.

use sqlx::Connection;
use warden_standin::StandIn;

use crate::support::{Gateway, gateway, green, warden};

async fn with_traffic() -> (Gateway, warden_standin::Running) {
    let agent = StandIn::new().start("127.0.0.1:0").await.unwrap();
    let g = gateway(&agent.url()).auto_approve().start();
    for text in [
        "hello",
        "Draft an email to the team",
        "sudo rm -rf /",
        "what time is it?",
    ] {
        g.chat(&green(text)).await;
    }
    (g, agent)
}

async fn tamper(g: &Gateway, sql: &str) {
    let mut conn = sqlx::SqliteConnection::connect(&g.db_url).await.unwrap();
    sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

fn first_bad(g: &Gateway) -> String {
    let (code, out) = g.verify();
    assert_eq!(code, 1, "verify must fail on a tampered chain: {out}");
    assert!(out.starts_with("TAMPERED: first bad record"), "{out}");
    out
}

#[tokio::test]
async fn verify_passes_then_names_the_first_tampered_record() {
    let (mut g, _agent) = with_traffic().await;
    g.kill();
    let (code, out) = g.verify();
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("ok: 10 records"), "{out}");

    // Modified: a payload edited in place.
    tamper(
        &g,
        "UPDATE audit_events SET payload = replace(payload, 'hello', 'HELLO') WHERE seq = 1",
    )
    .await;
    assert!(first_bad(&g).contains("seq=1 "), "modified");
    tamper(
        &g,
        "UPDATE audit_events SET payload = replace(payload, 'HELLO', 'hello') WHERE seq = 1",
    )
    .await;
    assert_eq!(g.verify().0, 0, "restoring the bytes restores the chain");

    // Reordered: two records' contents swapped.
    tamper(
        &g,
        "UPDATE audit_events SET seq = -4 WHERE seq = 4; UPDATE audit_events SET seq = 4 WHERE seq = 5; UPDATE audit_events SET seq = 5 WHERE seq = -4;",
    )
    .await;
    assert!(first_bad(&g).contains("seq=4 "), "reordered");
    tamper(
        &g,
        "UPDATE audit_events SET seq = -4 WHERE seq = 4; UPDATE audit_events SET seq = 4 WHERE seq = 5; UPDATE audit_events SET seq = 5 WHERE seq = -4;",
    )
    .await;
    assert_eq!(g.verify().0, 0);

    // Inserted: a forged record slipped in with a plausible seq.
    tamper(
        &g,
        "UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 6; UPDATE audit_events SET seq = seq - 999 WHERE seq >= 1006;
         INSERT INTO audit_events (seq, trace_id, ts, stage, actor, payload, prev_hash, hash)
           SELECT 6, trace_id, ts, 'approval', 'mallory', '{\"approved\":true}', hash, hash FROM audit_events WHERE seq = 5;",
    )
    .await;
    assert!(first_bad(&g).contains("seq=6 "), "inserted");
    tamper(
        &g,
        "DELETE FROM audit_events WHERE seq = 6; UPDATE audit_events SET seq = seq - 1 WHERE seq >= 7;",
    )
    .await;
    assert_eq!(g.verify().0, 0);

    // Deleted: a record from the middle, and one from the end.
    tamper(&g, "DELETE FROM audit_events WHERE seq = 3").await;
    assert!(first_bad(&g).contains("records deleted"));
}

/// `--incremental` goes on from the last good verification recorded, `--from` from a head kept
/// elsewhere; either checks its anchor first.
#[tokio::test]
async fn incremental_verify_goes_on_from_the_last_good_one() {
    let (mut g, _agent) = with_traffic().await;
    g.kill();
    let url = g.db_url.clone();
    let verify = |args: &[&str]| {
        let mut all = vec!["audit", "verify", "--database-url", &url];
        all.extend_from_slice(args);
        warden(&all)
    };
    // Nothing recorded yet: the whole chain, said on stderr.
    let (code, out, err) = verify(&["--incremental"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("ok: 10 records, chain head "), "{out}");
    assert!(err.contains("verifying the whole chain"), "{err}");
    let head10 = out.trim().rsplit(' ').next().unwrap().to_string();

    g.restart();
    g.chat(&green("one more")).await;
    g.kill();
    let (code, out, _) = verify(&["--incremental"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("ok: 2 records after record 10 (incremental), chain head "),
        "{out}"
    );

    // A record after a head kept elsewhere.
    tamper(
        &g,
        "UPDATE audit_events SET payload = replace(payload, 'one more', 'ONE MORE') WHERE seq = 11",
    )
    .await;
    let (code, out, _) = verify(&["--from", &format!("10:{head10}")]);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("TAMPERED: first bad record seq=11 "), "{out}");
    assert!(
        out.contains("(0 records after record 10 (from the given anchor) verified before it)"),
        "{out}"
    );
    tamper(
        &g,
        "UPDATE audit_events SET payload = replace(payload, 'ONE MORE', 'one more') WHERE seq = 11",
    )
    .await;
    // A failed verification anchors nothing: the next incremental one walks the whole chain.
    let (code, out, _) = verify(&["--incremental"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("ok: 12 records, chain head "), "{out}");

    // The anchor itself.
    tamper(&g, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 12").await;
    let (code, out, _) = verify(&["--incremental"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("seq=12 ") && out.contains("the anchor changed"),
        "{out}"
    );

    let (code, _, err) = verify(&["--from", "10:not-a-hash"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("64 hex digits"), "{err}");
}

#[tokio::test]
async fn truncating_the_tail_is_detected() {
    let (mut g, _agent) = with_traffic().await;
    g.kill();
    tamper(
        &g,
        "DELETE FROM audit_events WHERE seq = (SELECT MAX(seq) FROM audit_events)",
    )
    .await;
    assert!(first_bad(&g).contains("removed from the end"));
}

#[tokio::test]
async fn export_writes_jsonl_and_csv_with_the_chain() {
    let (g, _agent) = with_traffic().await;
    let trail = g.trail();
    assert_eq!(trail.len(), 10);
    for (i, r) in trail.iter().enumerate() {
        assert_eq!(r["seq"], i as i64 + 1);
        for field in ["trace_id", "ts", "stage", "actor", "payload", "prev_hash", "hash"] {
            assert!(!r[field].is_null(), "{field} missing in {r}");
        }
        if i > 0 {
            assert_eq!(r["prev_hash"], trail[i - 1]["hash"]);
        }
    }
    let stages: Vec<_> = trail.iter().map(|r| r["stage"].as_str().unwrap()).collect();
    for stage in ["classification", "approval", "blocked", "executed"] {
        assert!(stages.contains(&stage), "{stage} in {stages:?}");
    }

    let csv_path = g.dir.path().join("trail.csv");
    let (code, _, err) = warden(&[
        "audit",
        "export",
        "--format",
        "csv",
        "--output",
        csv_path.to_str().unwrap(),
        "--database-url",
        &g.db_url,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("exported 10 records"));
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("trace_id,ts,stage,payload,seq,actor,prev_hash,hash")
    );
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 10);
    assert_eq!(&rows[0][4], "1");
    let payload: serde_json::Value = serde_json::from_str(&rows[0][3]).unwrap();
    assert_eq!(payload["decision"]["risk"], "green");
}

//! The audit chain with several writers on PostgreSQL (docs/security.md,
//! "Audit trail"): two nodes (separate stores and pools on one database,
//! sharing one data directory) append concurrently to one chain, each
//! anchors the head it observes in its own checkpoint file, and
//! `dmp-server audit --verify` checks the chain and every file, so that a
//! trail rewritten in PostgreSQL (even re-hashed from the edited row on) is
//! reported. Runs on the PostgreSQL that `scripts/with-postgres.sh` starts;
//! without `DMP_TEST_POSTGRES_URL` the tests fail, they never skip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chrono::Utc;
use common::test_config;
use dmp_server::config::DatabaseUrl;
use dmp_server::store::anchor::AuditAnchor;
use dmp_server::store::postgres::{testing, PgAnchor, PgStore};
use dmp_server::store::*;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_dmp-server");

async fn fresh_database() -> String {
    let admin = std::env::var("DMP_TEST_POSTGRES_URL").unwrap_or_else(|_| {
        panic!(
            "DMP_TEST_POSTGRES_URL is not set: run the PostgreSQL tests through \
             scripts/with-postgres.sh (e.g. `scripts/with-postgres.sh cargo nextest run ...`)"
        )
    });
    testing::fresh_database(&admin).await.unwrap()
}

/// A node's store: its own pool, its own anchor opened from the shared key
/// (as a separate process would), its own checkpoint file.
fn node(url: &str, dir: &Path, node_id: &str) -> Arc<PgStore> {
    let anchor = Arc::new(
        AuditAnchor::open(
            &dir.join("audit-anchor.key"),
            &dir.join("audit-checkpoints"),
            false,
        )
        .unwrap(),
    );
    let file = anchor.node_file(node_id).unwrap();
    Arc::new(
        PgStore::open(url, 4, Durability::Normal)
            .unwrap()
            .with_anchor(PgAnchor::Node(Arc::new(file))),
    )
}

fn event(actor: &str, i: usize) -> AuditEvent {
    let meta = RequestMeta {
        ip: "127.0.0.1".into(),
        user_agent: "audit-nodes".into(),
        request_id: format!("{actor}-{i}"),
    };
    AuditEvent::new(Utc::now(), actor, "ping", format!("row {i}"), "ok", &meta)
}

/// `dmp-server audit --verify` on `dir` and the database `url`: exit code and stdout.
fn cli_verify(dir: &Path, url: &str) -> (i32, String) {
    let out = Command::new(BIN)
        .args(["audit", "--verify", "--data-dir"])
        .arg(dir)
        .env("DMP_DATABASE_URL", url)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), format!("{stdout}{stderr}"))
}

/// Rewrites the target of row `from` through SQL, then re-hashes the chain
/// from that row on, as someone with database access but not the key would.
async fn rewrite_and_rehash(url: &str, from: i64) {
    let plain = PgStore::open(url, 1, Durability::Normal).unwrap();
    let rows = plain.audit_rows(None, None, None, u32::MAX).await.unwrap();
    let mut sql = String::from("ALTER TABLE audit DISABLE TRIGGER USER;\n");
    let mut prev = rows
        .iter()
        .find(|r| r.id == from)
        .map(|r| r.prev_hash.clone())
        .unwrap();
    for r in rows.iter().filter(|r| r.id >= from) {
        let target = if r.id == from {
            "forged".to_owned()
        } else {
            r.target.clone()
        };
        let ev = AuditEvent {
            time: r.time,
            actor: r.actor.clone(),
            action: r.action.clone(),
            target: target.clone(),
            outcome: r.outcome.clone(),
            meta: RequestMeta {
                ip: r.ip.clone(),
                user_agent: r.user_agent.clone(),
                request_id: r.request_id.clone(),
            },
            session_id: r.session_id.clone(),
        };
        let hash = dmp_server::store::sqlite::audit_hash(&prev, r.time.timestamp_millis(), &ev);
        sql.push_str(&format!(
            "UPDATE audit SET target = '{target}', prev_hash = '{prev}', hash = '{hash}' WHERE id = {};\n",
            r.id
        ));
        prev = hash;
    }
    sql.push_str("ALTER TABLE audit ENABLE TRIGGER USER;");
    testing::execute(url, &sql).await.unwrap();
    // The forgery is a good one: the chain alone still verifies.
    assert!(
        matches!(
            plain.verify_audit().await.unwrap(),
            AuditVerdict::Intact { .. }
        ),
        "the rewritten chain should hold without its anchors"
    );
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).unwrap().lines().count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_one_chain_anchored_by_both_and_a_rewrite_is_reported() {
    const TASKS: usize = 8;
    const ROWS: usize = 25;
    let url = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let a = node(&url, dir.path(), "node-a");
    let b = node(&url, dir.path(), "node-b");
    // Two nodes on one data directory never write one file: a second
    // process with the same node id is refused while the first runs.
    let anchor = Arc::new(
        AuditAnchor::open(
            &dir.path().join("audit-anchor.key"),
            &dir.path().join("audit-checkpoints"),
            false,
        )
        .unwrap(),
    );
    let err = anchor.node_file("node-a").unwrap_err().to_string();
    assert!(err.contains("node_id"), "{err}");

    // Many tasks on each node append at once; each task also checkpoints
    // every few rows, so checkpoints race with appends on both nodes.
    let mut tasks = Vec::new();
    for (name, store) in [("a", &a), ("b", &b)] {
        for t in 0..TASKS {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..ROWS {
                    store
                        .audit(event(&format!("node-{name}-{t}"), i))
                        .await
                        .unwrap();
                    if i % 5 == 4 {
                        store.checkpoint_audit().await.unwrap();
                    }
                }
            }));
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    a.checkpoint_audit().await.unwrap();
    b.checkpoint_audit().await.unwrap();
    let total = (2 * TASKS * ROWS) as i64;

    // One chain, ids 1..=total in commit order, and both files anchor its head.
    let report = a.verify_audit_report().await.unwrap();
    match &report.verdict {
        AuditVerdict::Intact {
            rows,
            last_row,
            anchored_through,
            ..
        } => {
            assert_eq!(*rows, total as u64);
            assert_eq!(*last_row, total);
            assert_eq!(*anchored_through, Some(total));
        }
        other => panic!("{other:?}"),
    }
    let names: Vec<String> = report
        .files
        .iter()
        .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["audit-checkpoints.node-a", "audit-checkpoints.node-b"]
    );
    for f in &report.files {
        match &f.outcome {
            AnchorOutcome::Holds {
                checkpoints,
                anchored_through,
            } => {
                assert!(*checkpoints >= 2, "{f:?}");
                assert_eq!(*anchored_through, Some(total), "{f:?}");
            }
            other => panic!("{other:?}"),
        }
    }
    let (code, out) = cli_verify(dir.path(), &url);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("audit-checkpoints.node-a: ok"), "{out}");
    assert!(out.contains("audit-checkpoints.node-b: ok"), "{out}");
    assert!(
        out.contains(&format!(
            "audit chain intact: {total} rows verified; every row anchored"
        )),
        "{out}"
    );

    // Someone with database access rewrites a row and re-hashes the chain
    // after it: both anchors no longer match, `audit --verify` says so and
    // exits non-zero.
    rewrite_and_rehash(&url, 40).await;
    let (code, out) = cli_verify(dir.path(), &url);
    assert_eq!(code, 1, "{out}");
    for n in ["node-a", "node-b"] {
        assert!(
            out.contains(&format!("audit-checkpoints.{n}: BROKEN")),
            "{out}"
        );
    }
    assert!(out.contains("rewritten"), "{out}");
    assert!(out.contains("audit chain BROKEN"), "{out}");

    // A running node notices too: it no longer finds the row it anchored
    // last, so it stops anchoring the rewritten trail.
    let before = lines(&dir.path().join("audit-checkpoints.node-a"));
    a.audit(event("node-a", 999)).await.unwrap();
    a.checkpoint_audit().await.unwrap();
    assert_eq!(
        lines(&dir.path().join("audit-checkpoints.node-a")),
        before,
        "a node anchored a rewritten trail"
    );
}

/// Each file gets its own result: a cut trail is reported as truncated by
/// the node that anchored the cut rows, a forged line in one file as
/// forged, while the other file still holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncation_and_forgery_are_reported_per_file() {
    let url = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let a = node(&url, dir.path(), "a");
    for i in 0..5 {
        a.audit(event("a", i)).await.unwrap();
    }
    a.checkpoint_audit().await.unwrap();
    let b = node(&url, dir.path(), "b");
    b.checkpoint_audit().await.unwrap();
    for i in 5..10 {
        a.audit(event("a", i)).await.unwrap();
    }
    a.checkpoint_audit().await.unwrap();
    let (code, out) = cli_verify(dir.path(), &url);
    assert_eq!(code, 0, "{out}");

    // The last five rows are cut: node a anchored row 10, node b row 5 only.
    testing::execute(
        &url,
        "ALTER TABLE audit DISABLE TRIGGER USER; DELETE FROM audit WHERE id > 5; \
         ALTER TABLE audit ENABLE TRIGGER USER;",
    )
    .await
    .unwrap();
    let (code, out) = cli_verify(dir.path(), &url);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("audit-checkpoints.a: BROKEN at row 10: truncated"),
        "{out}"
    );
    assert!(out.contains("audit-checkpoints.b: ok"), "{out}");

    // A line of b's file edited without the key.
    let path = dir.path().join("audit-checkpoints.b");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen(" 5 ", " 4 ", 1)).unwrap();
    let (code, out) = cli_verify(dir.path(), &url);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("audit-checkpoints.b: BROKEN at row 0: checkpoint line 1 does not verify"),
        "{out}"
    );
}

/// The server wiring: two real nodes on one database and one data
/// directory, each with its `node_id`, checkpoint periodically into their
/// own files and once more at shutdown; the admin CLI anchors its own rows
/// in the base file; a third node reusing a running node's id is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_nodes_anchor_in_their_own_files() {
    let url = fresh_database().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.database_url = DatabaseUrl(url.clone());
    config.database_pool_size = 4;
    config.insecure_http = true;
    config.audit.checkpoint_interval_ms = 20;
    let start = |id: &str| {
        let mut c = config.clone();
        c.node_id = id.to_owned();
        dmp_server::start(c, Arc::new(dmp_server::clock::SystemClock))
    };
    let n1 = start("n1").await.unwrap();
    let n2 = start("n2").await.unwrap();
    let err = start("n1").await.unwrap_err();
    assert!(format!("{err:#}").contains("node_id"), "{err:#}");
    for i in 0..3 {
        n1.state.store.audit(event("n1", i)).await.unwrap();
        n2.state.store.audit(event("n2", i)).await.unwrap();
    }
    // The periodic checkpoint reaches both files (polled, with a deadline).
    let deadline = Instant::now() + Duration::from_secs(10);
    for n in ["n1", "n2"] {
        let path = dir.path().join(format!("audit-checkpoints.{n}"));
        while !std::fs::read_to_string(&path).is_ok_and(|t| t.contains(" 6 ")) {
            assert!(Instant::now() < deadline, "{n} did not anchor row 6");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // Appended just before shutdown: anchored by the shutdown checkpoint.
    n2.state.store.audit(event("n2", 3)).await.unwrap();
    n2.shutdown().await;
    n1.shutdown().await;
    let text = std::fs::read_to_string(dir.path().join("audit-checkpoints.n2")).unwrap();
    assert!(text.lines().last().unwrap().contains(" 7 "), "{text}");

    // The admin CLI's store (no node running) anchors its rows in the base file.
    let store = dmp_server::app::open_store(&config).unwrap();
    store.audit(event("admin-cli", 0)).await.unwrap();
    let base = std::fs::read_to_string(dir.path().join("audit-checkpoints")).unwrap();
    assert!(base.lines().last().unwrap().contains(" 8 "), "{base}");
    let (code, out) = cli_verify(dir.path(), &url);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("audit chain intact: 8 rows verified; every row anchored"),
        "{out}"
    );
    assert_eq!(out.matches(": ok").count(), 3, "{out}");
}

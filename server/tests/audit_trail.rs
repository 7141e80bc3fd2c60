//! The audit trail an attacker cannot quietly edit: fields escaped at write
//! time and on output, a chain anchored by keyed checkpoints outside the
//! database, and `restore` that refuses a tampered backup. The attacks are
//! done the way an intruder with the files would: straight on the SQLite file,
//! without the anchor key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use dmp_server::store::sqlite::audit_hash;
use dmp_server::store::{AuditEvent, RequestMeta};
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_dmp-server");

fn cli(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("DMP_DURABILITY", "normal")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// A data directory with the demo data and a few admin actions (each one an
/// audit row, each CLI run leaving a checkpoint).
fn trail(dir: &Path) {
    assert_eq!(cli(dir, &["demo"]).0, 0);
    for args in [
        ["user", "disable", "patient_126"],
        ["user", "disable", "patient_125"],
        ["user", "disable", "patient_124"],
    ] {
        let (code, _, err) = cli(dir, &args);
        assert_eq!(code, 0, "{err}");
    }
}

fn db(path: &Path) -> rusqlite::Connection {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(
        "DROP TRIGGER IF EXISTS audit_no_update; DROP TRIGGER IF EXISTS audit_no_delete;",
    )
    .unwrap();
    c
}

/// What an intruder without the key does after editing rows: recompute every
/// chain hash from `from` on, so that the chain alone verifies again.
fn rehash_from(c: &rusqlite::Connection, from: i64) {
    let mut prev: String = c
        .query_row(
            "SELECT hash FROM audit WHERE id < ?1 ORDER BY id DESC LIMIT 1",
            [from],
            |r| r.get(0),
        )
        .unwrap_or_else(|_| "0".repeat(64));
    let rows: Vec<(i64, i64, [String; 8])> = c
        .prepare("SELECT id, time, actor, action, target, outcome, ip, user_agent, request_id, session_id FROM audit WHERE id >= ?1 ORDER BY id")
        .unwrap()
        .query_map([from], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                [
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                ],
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    for (id, time, [actor, action, target, outcome, ip, user_agent, request_id, session_id]) in rows
    {
        let ev = AuditEvent {
            time: chrono::DateTime::from_timestamp_millis(time).unwrap(),
            actor,
            action,
            target,
            outcome,
            meta: RequestMeta {
                ip,
                user_agent,
                request_id,
            },
            session_id,
        };
        let hash = audit_hash(&prev, time, &ev);
        c.execute(
            "UPDATE audit SET prev_hash = ?2, hash = ?3 WHERE id = ?1",
            rusqlite::params![id, prev, hash],
        )
        .unwrap();
        prev = hash;
    }
}

#[tokio::test]
async fn control_characters_never_reach_a_row_or_the_terminal() {
    let s = TestServer::start().await;
    let evil_name =
        "jean.dupont\n     9 2026-01-01T00:00:00.000Z admin-cli      login ok\u{1b}[2J\u{202e}";
    let (st, _) = s
        .post(
            "/api/auth/login",
            None,
            json!({"username": evil_name, "password": "Wrong-Password-99"}),
        )
        .await;
    assert_eq!(st, 401);
    let p = s.login(PATIENT).await;
    let (st, _) = s
        .get(
            "/api/messaging/history/ordonnance/ord_1%0A%1B%5B31mFAUX%1B%5D0%3Bx%07",
            Some(&p.access),
        )
        .await;
    assert_eq!(st, 403);

    // Stored escaped: no row holds a raw control character.
    let c = rusqlite::Connection::open(s.database()).unwrap();
    let fields: Vec<String> = c
        .prepare("SELECT actor || action || target || outcome || ip || user_agent || request_id || session_id FROM audit")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(fields.iter().all(|f| !f.chars().any(char::is_control)));
    let joined = fields.join("|");
    assert!(joined.contains("jean.dupont\\u{a}"), "{joined}");
    assert!(joined.contains("\\u{1b}[2J\\u{202e}"), "{joined}");
    assert!(
        joined.contains("ordonnance/ord_1\\u{a}\\u{1b}[31mFAUX"),
        "{joined}"
    );

    // Printed escaped, one line per row, including a row written raw before escaping existed.
    c.execute_batch("DROP TRIGGER audit_no_update;").unwrap();
    c.execute(
        "UPDATE audit SET target = 'old\u{1b}[31m\nrow' WHERE id = (SELECT MAX(id) FROM audit)",
        [],
    )
    .unwrap();
    let store = dmp_server::store::sqlite::SqliteStore::open(
        s.database(),
        dmp_server::store::sqlite::Durability::Normal,
    )
    .unwrap();
    let mut out = Vec::new();
    let n = dmp_server::admin::audit_print(&store, None, None, false, 1000, &mut out)
        .await
        .unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(out.lines().count(), n, "{out}");
    assert!(!out.chars().any(|c| c.is_control() && c != '\n'), "{out:?}");
    assert!(out.contains("old\\u{1b}[31m\\u{a}row"), "{out}");
}

#[test]
fn verify_detects_a_rewritten_trail_without_the_key() {
    let dir = tempfile::tempdir().unwrap();
    trail(dir.path());
    let (code, out, err) = cli(dir.path(), &["audit", "--verify"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("intact: 4 rows"), "{out}");
    assert!(out.contains("every row anchored"), "{out}");
    let key = dir.path().join("audit-anchor.key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the anchor key is private");
    }

    // Row 2 is edited and every later hash recomputed: the chain alone is fine again.
    let c = db(&dir.path().join("dmp.sqlite3"));
    c.execute("UPDATE audit SET target = 'patient_999' WHERE id = 2", [])
        .unwrap();
    rehash_from(&c, 2);
    drop(c);
    let (code, out, _) = cli(dir.path(), &["audit", "--verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("BROKEN") && out.contains("rewritten"), "{out}");

    // A forged checkpoint (no key) does not help.
    let cp = dir.path().join("audit-checkpoints");
    let mut text = std::fs::read_to_string(&cp).unwrap();
    text.push_str(&format!(
        "v1 cp 4 {} {}\n",
        "ab".repeat(32),
        "00".repeat(32)
    ));
    std::fs::write(&cp, text).unwrap();
    let (code, out, _) = cli(dir.path(), &["audit", "--verify"]);
    assert_eq!(code, 1);
    assert!(out.contains("does not verify"), "{out}");

    // Without its key the server refuses to start over existing checkpoints.
    std::fs::remove_file(&key).unwrap();
    let (code, _, err) = cli(dir.path(), &["audit", "--verify"]);
    assert_eq!(code, 2);
    assert!(err.contains("missing"), "{err}");
}

#[test]
fn verify_detects_a_truncated_trail_and_a_removed_anchor() {
    let dir = tempfile::tempdir().unwrap();
    trail(dir.path());
    // The last two rows are removed; what is left is a valid chain.
    let c = db(&dir.path().join("dmp.sqlite3"));
    c.execute("DELETE FROM audit WHERE id > 2", []).unwrap();
    drop(c);
    let (code, out, _) = cli(dir.path(), &["audit", "--verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("truncated") && out.contains("ends at row 2"),
        "{out}"
    );
    // Emptying the checkpoint file as well is reported, not passed.
    std::fs::write(dir.path().join("audit-checkpoints"), "").unwrap();
    let (code, out, _) = cli(dir.path(), &["audit", "--verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("no checkpoint anchors the trail"), "{out}");
}

#[test]
fn restore_refuses_a_tampered_backup_and_leaves_the_database_alone() {
    let dir = tempfile::tempdir().unwrap();
    trail(dir.path());
    let good = dir.path().join("good.sqlite3");
    assert_eq!(cli(dir.path(), &["backup", good.to_str().unwrap()]).0, 0);
    // More activity after the backup: checkpoints now anchor rows the backup lacks.
    assert_eq!(
        cli(dir.path(), &["user", "disable", "patient_124", "--enable"]).0,
        0
    );

    for (name, rehash) in [("edited.sqlite3", false), ("rehashed.sqlite3", true)] {
        let bad = dir.path().join(name);
        std::fs::copy(&good, &bad).unwrap();
        let c = db(&bad);
        c.execute("UPDATE audit SET actor = 'someone-else' WHERE id = 2", [])
            .unwrap();
        if rehash {
            rehash_from(&c, 2);
        }
        drop(c);
        let live = dir.path().join("dmp.sqlite3");
        let before = std::fs::read(&live).unwrap();
        let (code, out, err) = cli(dir.path(), &["restore", bad.to_str().unwrap()]);
        assert_eq!(code, 2, "{name}: {out}");
        assert!(
            err.contains("refused") && err.contains("row 2"),
            "{name}: {err}"
        );
        assert_eq!(
            std::fs::read(&live).unwrap(),
            before,
            "{name}: database untouched"
        );
        let kept = std::fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                let n = e.as_ref().unwrap().file_name();
                n.to_string_lossy().contains("before-restore")
            })
            .count();
        assert_eq!(kept, 0, "{name}: nothing was moved aside");
    }

    // The genuine backup restores, and the trail verifies afterwards.
    let (code, out, err) = cli(dir.path(), &["restore", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("restored"));
    let (code, out, _) = cli(dir.path(), &["audit", "--verify"]);
    assert_eq!(code, 0, "{out}");
    let (_, out, _) = cli(dir.path(), &["audit", "--json"]);
    let actions: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(actions.last().map(String::as_str), Some("restore"));
    assert!(
        !actions.iter().any(|a| a == "backup"),
        "the backup predates its own audit row"
    );
}

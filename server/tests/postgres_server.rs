//! The real server on PostgreSQL: `database_url` names a database of the
//! PostgreSQL that `scripts/with-postgres.sh` starts, reached over TLS
//! (verified against that cluster's CA); demo import, login, send and history
//! go through it, and the rows are in PostgreSQL, not in an SQLite file. A
//! second node shares the data directory and the database (no lock); the admin
//! CLI works on PostgreSQL too.
//! Without `DMP_TEST_POSTGRES_*` the test fails: run it through the script.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use dmp_server::config::DatabaseUrl;
use dmp_server::store::postgres::{testing, PgStore};
use dmp_server::store::{Durability, Store};
use serde_json::json;
use std::process::Command;
use std::sync::Arc;

const BIN: &str = env!("CARGO_BIN_EXE_dmp-server");

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the PostgreSQL tests through scripts/with-postgres.sh \
             (e.g. `scripts/with-postgres.sh cargo nextest run ...`)"
        )
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_send_and_history_on_postgres_over_tls() {
    let plain = env("DMP_TEST_POSTGRES_URL");
    let tls = env("DMP_TEST_POSTGRES_TLS_URL");
    let name = format!("dmp_server_{}", uuid::Uuid::new_v4().simple());
    testing::execute(&plain, &format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let url = testing::with_database(&tls, &name);
    assert!(url.contains("sslmode=require"));
    let s = TestServer::start_with(|c| {
        migration_mode(c);
        c.database_url = DatabaseUrl(url.clone());
        c.database_pool_size = 4;
    })
    .await;
    assert!(
        !s.database().exists(),
        "an SQLite file was created next to PostgreSQL"
    );
    let p = s.login(PATIENT).await;
    let d = s.login(DOCTOR).await;
    let (st, sent) = s.send(&p, ORD, "pg-1", "Bonjour docteur").await;
    assert_eq!(st, 201, "{sent}");
    assert_eq!(sent["seq"], 1);
    let (st, again) = s.send(&p, ORD, "pg-1", "Bonjour docteur").await;
    assert!(st == 200 || st == 201, "{again}");
    assert_eq!(again["id"], sent["id"]);
    let (st, _) = s.send(&d, ORD, "pg-2", "Bonjour, je vous écoute").await;
    assert_eq!(st, 201);
    let (st, h) = s
        .get("/api/messaging/history/ordonnance/ord_789", Some(&d.access))
        .await;
    assert_eq!(st, 200);
    let msgs = h["messages"].as_array().unwrap();
    assert_eq!(
        msgs.iter().map(|m| m["seq"].clone()).collect::<Vec<_>>(),
        vec![json!(1), json!(2)]
    );
    assert_eq!(msgs[0]["content"], "Bonjour docteur");
    // A second node on the same data directory (keys) and database: it starts
    // (no data-directory lock), accepts the first node's tokens, sees its
    // messages and continues the session's numbering.
    let mut config2 = s.config.clone();
    config2.node_id = "node-2".into();
    let node2 = dmp_server::start(config2, Arc::new(dmp_server::clock::SystemClock))
        .await
        .unwrap();
    let http = http_client(&s.tls);
    let res = http
        .get(format!(
            "{}/api/messaging/history/ordonnance/ord_789",
            node2.url()
        ))
        .bearer_auth(&p.access)
        .send()
        .await
        .unwrap();
    let (st, h2) = into_parts(res).await;
    assert_eq!(st, 200);
    assert_eq!(h2["messages"], h["messages"]);
    let res = http
        .post(format!("{}/api/messaging/send", node2.url()))
        .bearer_auth(&p.access)
        .json(&json!({"clientMessageId": "pg-3", "contextType": "ordonnance", "contextId": "ord_789", "content": "Merci"}))
        .send()
        .await
        .unwrap();
    let (st, third) = into_parts(res).await;
    assert_eq!(st, 201, "{third}");
    assert_eq!(third["seq"], 3);
    node2.shutdown().await;
    // The rows are in PostgreSQL, and the audit chain there holds.
    let store = PgStore::open(&url, 1, Durability::Normal).unwrap();
    let id = dmp_protocol::MessageId::new(sent["id"].as_str().unwrap());
    assert_eq!(store.message(&id).await.unwrap().unwrap().seq, 1);
    assert!(matches!(
        store.verify_audit().await.unwrap(),
        dmp_server::store::AuditVerdict::Intact { rows, .. } if rows >= 4
    ));
    // A backup is PostgreSQL's own tool's job: the CLI path says so.
    let err = dmp_server::admin::backup(&store, &s.config.data_dir.join("b.db"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("pg_dump"), "{err}");
}

/// The admin CLI with `DMP_DATABASE_URL`: demo import, disabling a user (its
/// logins end), audit verification; backup and restore point to PostgreSQL's tools.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_cli_on_postgres() {
    let plain = env("DMP_TEST_POSTGRES_URL");
    let name = format!("dmp_cli_{}", uuid::Uuid::new_v4().simple());
    testing::execute(&plain, &format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let url = testing::with_database(&plain, &name);
    let dir = tempfile::tempdir().unwrap();
    let cli = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .arg("--data-dir")
            .arg(dir.path())
            .env("DMP_DATABASE_URL", &url)
            .env("DMP_LOGIN__KDF_MEMORY_KIB", "19456")
            .env("DMP_LOGIN__KDF_ITERATIONS", "2")
            .env("DMP_LOGIN__KDF_PARALLELISM", "1")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = cli(&["demo"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!dir.path().join("dmp.sqlite3").exists());
    let store = PgStore::open(&url, 1, Durability::Normal).unwrap();
    assert!(store
        .user_by_username("jean.dupont")
        .await
        .unwrap()
        .is_some());
    let (code, out, err) = cli(&["user", "disable", "patient_123"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        store
            .user_by_username("jean.dupont")
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    let (code, out, err) = cli(&["audit", "--verify"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("audit chain intact"), "{out}");
    let backup = dir.path().join("backup.db");
    let (code, out, err) = cli(&["backup", backup.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(format!("{out}{err}").contains("pg_dump"), "{out}{err}");
    let (code, out, err) = cli(&["restore", backup.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(format!("{out}{err}").contains("pg_restore"), "{out}{err}");
    // The password never reaches the output.
    let password = url.split(':').nth(2).unwrap().split('@').next().unwrap();
    assert!(!format!("{out}{err}").contains(password));
}

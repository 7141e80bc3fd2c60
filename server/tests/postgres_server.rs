//! The real server on PostgreSQL: `database_url` names a database of the
//! PostgreSQL that `scripts/with-postgres.sh` starts, reached over TLS
//! (verified against that cluster's CA); demo import, login, send and history
//! go through it, and the rows are in PostgreSQL, not in an SQLite file.
//! Without `DMP_TEST_POSTGRES_*` the test fails: run it through the script.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use dmp_server::config::DatabaseUrl;
use dmp_server::store::postgres::{testing, PgStore};
use dmp_server::store::{Durability, Store};
use serde_json::json;

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

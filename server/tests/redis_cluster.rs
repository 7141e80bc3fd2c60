//! Two nodes linked by Redis, in process, on one PostgreSQL: frames cross
//! nodes (message, status, typing, presence), limits, login throttles and
//! socket caps hold across nodes, a directory change made by the admin CLI's
//! code reaches both nodes through Redis within a second. The load balancer,
//! separate processes and faults are in client/tests/cluster.rs.
//! Needs `scripts/with-postgres.sh` and `scripts/with-redis.sh` (the test
//! command runs through both); without their variables the test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use dmp_server::config::DatabaseUrl;
use dmp_server::store::postgres::testing;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run this test through scripts/with-postgres.sh and scripts/with-redis.sh \
             (./scripts/test.sh does)"
        )
    })
}

/// A second node: its own data directory holding the first one's keys.
async fn second_node(a: &TestServer, node_id: &str) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    for f in ["jwt.key", "audit-anchor.key"] {
        let from = a.config.data_dir.join(f);
        if from.exists() {
            std::fs::copy(&from, dir.path().join(f)).unwrap();
        }
    }
    let mut config = a.config.clone();
    config.data_dir = dir.path().to_owned();
    config.node_id = node_id.into();
    config.tls = Default::default();
    TestServer::start_in(dir, config).await
}

async fn ws_on(s: &TestServer, login: &Login) -> Ws {
    s.ws(login).await
}

/// An upgrade answered with an HTTP status instead of a socket.
async fn refused_upgrade(s: &TestServer, login: &Login) -> u16 {
    let mut req = s
        .url("/api/messaging/ws")
        .replacen("http", "ws", 1)
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", login.access).parse().unwrap(),
    );
    match s.ws_connect(req).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => res.status().as_u16(),
        Ok(_) => 101,
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_frames_limits_and_directory_through_redis() {
    let plain = env("DMP_TEST_POSTGRES_URL");
    let redis_tls = env("DMP_TEST_REDIS_TLS_URL");
    let redis_ca = env("DMP_TEST_REDIS_CA");
    let name = format!("dmp_redis_{}", uuid::Uuid::new_v4().simple());
    testing::execute(&plain, &format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let url = testing::with_database(&plain, &name);
    let a = TestServer::start_with(|c| {
        migration_mode(c);
        c.database_url = DatabaseUrl(url.clone());
        c.database_pool_size = 4;
        // Over TLS, verified against the test Redis's CA.
        c.redis_url = DatabaseUrl(redis_tls.clone());
        c.redis_ca_file = Some(redis_ca.clone().into());
        c.node_id = "a".into();
        c.rate_limit.send_burst = 6.0;
        c.rate_limit.send_per_second = 0.01;
        c.login.max_failures = 4;
        c.ws.max_per_user = 2;
    })
    .await;
    let b = second_node(&a, "b").await;
    let (st, _) = b.get("/readyz", None).await;
    assert_eq!(st, 200);
    let res = b.http.get(b.url("/readyz")).send().await.unwrap();
    assert_eq!(res.headers()["x-dmp-node"], "b");

    // The patient on node A, the doctor on node B.
    let p = a.login(PATIENT).await;
    let d = b.login(DOCTOR).await;
    let mut pw = ws_on(&a, &p).await;
    let mut dw = ws_on(&b, &d).await;
    // Presence crosses: the patient (on A) sees the doctor (on B) come online.
    let presence = pw.next_of("presence").await;
    assert_eq!(presence["userId"], d.user_id.as_str());
    assert_eq!(presence["online"], true);

    // A message sent on A reaches the doctor's socket on B; ✓ then ✓✓ come back.
    let ack = pw.send_message(ORD, "c-1", "Bonjour docteur").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let m = dw.next_of("message").await;
    assert_eq!(m["message"]["content"], "Bonjour docteur");
    let id = m["message"]["id"].as_str().unwrap().to_owned();
    dw.send(json!({"type":"delivered","messageId":id})).await;
    let st = pw.next_of("status").await;
    assert_eq!(st["status"], "delivered");
    dw.send(json!({"type":"read","messageId":id})).await;
    let st = pw.next_of("status").await;
    assert_eq!(st["status"], "read");
    // Typing crosses too.
    dw.send(
        json!({"type":"typing","contextType":"ordonnance","contextId":"ord_789","isTyping":true}),
    )
    .await;
    let t = pw.next_of("typing").await;
    assert_eq!(t["isTyping"], true);
    // And a reply sent through REST on B reaches the patient on A.
    let (st, _) = b.send(&d, ORD, "c-2", "Je vous écoute").await;
    assert_eq!(st, 201);
    let m = pw.next_of("message").await;
    assert_eq!(m["message"]["content"], "Je vous écoute");

    // One send budget for both nodes: 6 in a burst, whichever node.
    let mut statuses = Vec::new();
    for i in 0..8 {
        let node = if i % 2 == 0 { &a } else { &b };
        let (st, _) = node.send(&p, ORD, &format!("burst-{i}"), "…").await;
        statuses.push(st);
    }
    // c-1 already took one token.
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 3);

    // One socket cap for both nodes: the patient holds one on A; one more on
    // B fits, a third anywhere does not.
    let _pw2 = ws_on(&b, &p).await;
    assert_eq!(refused_upgrade(&a, &p).await, 429);
    assert_eq!(refused_upgrade(&b, &p).await, 429);

    // One login throttle for both nodes: 4 failures spread over A and B lock
    // the name everywhere.
    for i in 0..4 {
        let node = if i % 2 == 0 { &a } else { &b };
        let (st, _) = node
            .post(
                "/api/auth/login",
                None,
                json!({"username":"marie.lefevre","password":"wrong"}),
            )
            .await;
        assert_eq!(st, 401);
    }
    for node in [&a, &b] {
        let (st, body) = node
            .post(
                "/api/auth/login",
                None,
                json!({"username":"marie.lefevre","password":"wrong"}),
            )
            .await;
        assert_eq!(st, 429, "{body}");
    }

    // The admin CLI's code disables the doctor and wakes the nodes through
    // Redis: both nodes lock the doctor out within a second (the fallback
    // poll is 5 s, so only the wake-up can make it).
    let store = dmp_server::app::open_store(&a.config).unwrap();
    let started = Instant::now();
    dmp_server::admin::user_disable(&store, &d.user_id, true)
        .await
        .unwrap();
    dmp_server::cluster::wake_nodes(&a.config).await.unwrap();
    assert_eq!(dw.closed(2).await, Some(4403));
    let (st, body) = a.get("/api/contexts", Some(&d.access)).await;
    assert!(st == 401 || st == 403, "{st} {body}");
    let (st, body) = b.get("/api/contexts", Some(&d.access)).await;
    assert!(st == 401 || st == 403, "{st} {body}");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "lock-out took {took:?} (the wake-up did not arrive?)"
    );
    // The doctor went offline everywhere: the patient on A is told.
    let presence = pw.next_of("presence").await;
    assert_eq!(presence["userId"], d.user_id.as_str());
    assert_eq!(presence["online"], false);
}

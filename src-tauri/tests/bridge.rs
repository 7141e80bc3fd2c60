//! The event bridge of the desktop shell with a real client signed in to the
//! real server over TLS (and the real Secret Service): it survives a lag of
//! the event channel (inbox + resync), and the login's end — logout or an
//! expired session — stops it and drops every clone of the client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../client/tests/common/mod.rs"]
mod common;

use common::*;
use dmp_client::ClientEvent;
use dmp_desktop::bridge::{Session, Window};
use dmp_protocol::*;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;

/// Records what the bridge shows.
#[derive(Clone, Default)]
struct Recorder {
    events: Arc<Mutex<Vec<(String, Value)>>>,
    title: Arc<Mutex<String>>,
}

impl Window for Recorder {
    fn emit(&self, name: &str, payload: Value) {
        self.events.lock().unwrap().push((name.to_owned(), payload));
    }

    fn set_title(&self, title: &str) {
        *self.title.lock().unwrap() = title.to_owned();
    }
}

impl Recorder {
    fn count(&self, name: &str) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _)| n == name)
            .count()
    }

    async fn wait(&self, name: &str, payload: Value) {
        for _ in 0..100 {
            if self
                .events
                .lock()
                .unwrap()
                .iter()
                .any(|(n, p)| n == name && *p == payload)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no {name} {payload}");
    }
}

fn presence(i: usize) -> ClientEvent {
    ClientEvent::Presence {
        user_id: UserId(format!("user_{i}")),
        online: true,
    }
}

async fn wait_dropped(watch: &dmp_client::DropWatch) {
    for _ in 0..100 {
        if watch.is_dropped() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("a clone of the client is still alive");
}

#[tokio::test]
async fn the_bridge_survives_a_lag_and_ends_with_the_login() {
    require_desktop_services();
    let server = Server::start(|_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let doctor = login(&server, dir.path(), DOCTOR, false).await;
    doctor.contexts().await.unwrap();
    let unread = doctor.inbox().unwrap().unread_total;
    let watch = doctor.drop_watch();

    // A small channel the test feeds, so that the bridge lags for sure.
    let (tx, rx) = broadcast::channel(4);
    let session = Arc::new(Session::default());
    let window = Recorder::default();
    session.begin(window.clone(), doctor, rx).await;
    assert_eq!(window.count("dmp://inbox"), 1, "the inbox is shown at once");
    assert_eq!(
        *window.title.lock().unwrap(),
        dmp_desktop::bridge::title(unread)
    );
    for i in 0..20 {
        tx.send(presence(i)).unwrap();
    }
    window.wait("dmp://resync", Value::Null).await;
    assert!(window.count("dmp://inbox") >= 2, "the inbox is recomputed");
    window
        .wait(
            "dmp://presence",
            json!({"userId": "user_19", "online": true}),
        )
        .await;
    // Still forwarding after the lag.
    tx.send(presence(100)).unwrap();
    window
        .wait(
            "dmp://presence",
            json!({"userId": "user_100", "online": true}),
        )
        .await;

    // Logout: the bridge stops and the shell gives its client up.
    let c = session.end().await.unwrap();
    assert!(session.client().await.is_none());
    c.logout().await.unwrap();
    wait_dropped(&watch).await;
    assert!(tx.send(presence(101)).is_err(), "nobody listens any more");

    // An expired session ends the login the same way, from the bridge itself.
    let doctor = login(&server, dir.path(), DOCTOR, false).await;
    doctor.contexts().await.unwrap();
    let watch = doctor.drop_watch();
    let (tx, rx) = broadcast::channel(16);
    session.begin(window.clone(), doctor, rx).await;
    tx.send(ClientEvent::SessionExpired {
        reason: dmp_client::SessionEndReason::Disabled,
    })
    .unwrap();
    window
        .wait("dmp://session-expired", json!({"reason": "disabled"}))
        .await;
    wait_dropped(&watch).await;
    assert!(session.client().await.is_none());
}

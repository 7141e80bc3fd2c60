//! The inbox layer and batched read receipts against the real server over
//! TLS: the receiving side makes no HTTP request while messages arrive, its
//! inbox follows from events, receipts go over the socket in one frame and
//! the sender sees ✓✓ for every id; REST only while disconnected.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use dmp_client::{ClientEvent, DmpClient};
use dmp_protocol::*;
use std::collections::HashSet;

fn ord() -> (ContextType, ContextId) {
    (ContextType::Ordonnance, ContextId::new("ord_789"))
}

/// Sends `n` messages from `from` (the first one urgent).
async fn send_many(from: &DmpClient, n: usize, tag: &str) {
    let (k, id) = ord();
    for i in 0..n {
        let meta = MessageMetadata {
            is_urgent: i == 0,
            requires_response: false,
            category: None,
            system: None,
        };
        from.send(k, &id, &format!("{tag} {i}"), meta, vec![])
            .await
            .unwrap();
    }
}

/// The doctor's unread messages of ord_789, from the cache (no request).
fn unread_ids(doctor: &DmpClient) -> Vec<MessageId> {
    let (k, id) = ord();
    doctor
        .cached_history(k, &id, None, 500)
        .unwrap()
        .messages
        .into_iter()
        .filter(|m| m.recipient.id == doctor.user().id && m.status != MessageStatus::Read)
        .map(|m| m.message.id)
        .collect()
}

async fn wait_unread(
    ev: &mut tokio::sync::broadcast::Receiver<ClientEvent>,
    total: u64,
) -> dmp_client::Inbox {
    wait_for(ev, "inbox", |e| match e {
        ClientEvent::Inbox { inbox } if inbox.unread_total == total => Some(inbox.clone()),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn messages_arrive_without_requests_and_receipts_go_over_the_socket() {
    require_desktop_services();
    let server = Server::start(|_| {}).await;
    let (pd, dd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let patient = login(&server, pd.path(), PATIENT, false).await;
    let doctor = login(&server, dd.path(), DOCTOR, false).await;
    patient.contexts().await.unwrap();
    doctor.contexts().await.unwrap();
    let mut pev = patient.subscribe();
    let mut dev = doctor.subscribe();
    patient.connect();
    doctor.connect();
    wait_connected(&patient).await;
    wait_connected(&doctor).await;
    let base = doctor.inbox().unwrap().unread_total;
    let requests = doctor.api().request_count();

    const N: usize = 12;
    send_many(&patient, N, "Question").await;
    let inbox = wait_unread(&mut dev, base + N as u64).await;
    let row = &inbox.contexts[0];
    assert_eq!(
        row.context.id,
        ord().1,
        "the urgent conversation comes first"
    );
    assert!(row.has_urgent_unread);
    assert_eq!(row.unread_count, N as u64);
    assert!(row.last_message_at.is_some());
    assert_eq!(
        doctor.api().request_count(),
        requests,
        "no HTTP request while messages arrive"
    );

    let ids = unread_ids(&doctor);
    assert_eq!(ids.len(), N);
    doctor.mark_read_many(&ids).await.unwrap();
    let mut waiting: HashSet<MessageId> = ids.iter().cloned().collect();
    wait_for(&mut pev, "✓✓ for every id", |e| {
        if let ClientEvent::Status {
            message_id,
            status: MessageStatus::Read,
            ..
        } = e
        {
            waiting.remove(message_id);
        }
        waiting.is_empty().then_some(())
    })
    .await;
    let inbox = wait_unread(&mut dev, base).await;
    let row = inbox
        .contexts
        .iter()
        .find(|c| c.context.id == ord().1)
        .unwrap();
    assert_eq!(row.unread_count, 0);
    assert!(!row.has_urgent_unread);
    assert_eq!(
        doctor.api().request_count(),
        requests,
        "read receipts went over the WebSocket"
    );

    // While disconnected the receipts fall back to REST, one request per id.
    send_many(&patient, 2, "Relance").await;
    wait_unread(&mut dev, base + 2).await;
    let ids = unread_ids(&doctor);
    assert_eq!(ids.len(), 2);
    doctor.disconnect().await;
    doctor.mark_read_many(&ids).await.unwrap();
    assert_eq!(doctor.api().request_count(), requests + 2);
    assert_eq!(doctor.inbox().unwrap().unread_total, base);
    let mut waiting: HashSet<MessageId> = ids.iter().cloned().collect();
    wait_for(&mut pev, "✓✓ after REST", |e| {
        if let ClientEvent::Status {
            message_id,
            status: MessageStatus::Read,
            ..
        } = e
        {
            waiting.remove(message_id);
        }
        waiting.is_empty().then_some(())
    })
    .await;
    patient.disconnect().await;
}

#[tokio::test]
async fn the_last_clone_going_drops_the_client() {
    require_desktop_services();
    let server = Server::start(|_| {}).await;
    let dd = tempfile::tempdir().unwrap();
    let doctor = login(&server, dd.path(), DOCTOR, false).await;
    let watch = doctor.drop_watch();
    doctor.connect();
    wait_connected(&doctor).await;
    let clone = doctor.clone();
    doctor.disconnect().await;
    drop(doctor);
    assert!(!watch.is_dropped(), "a clone still holds it");
    clone.shutdown().await;
    assert!(watch.is_dropped());
}

//! The registry of open WebSocket connections and the fan-out to them.
//!
//! Each connection owns a bounded queue of outgoing frames (its [`Mailbox`]). Fan-out never
//! waits: a frame that does not fit marks the connection as too slow and it
//! is closed (the client resumes from its last `seq` when it reconnects), so
//! a slow reader cannot make the server's memory grow.

use crate::cluster::Redis;
use crate::metrics::Metrics;
use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;
use dmp_protocol::ws::ServerFrame;
use dmp_protocol::UserId;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tokio::sync::Notify;

/// A frame queued for one connection: the JSON text, shared between
/// recipients, and when the message it carries was persisted.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// Serialized frame (reference-counted, cloned for free).
    pub text: Utf8Bytes,
    /// Persist time, for the messageLatency histogram.
    pub persisted: Option<Instant>,
}

/// A connection's outgoing queue and its close request, in one small
/// allocation that holds no frame buffer while the socket is idle
/// (docs/performance.md, "Connections"): the queue's storage exists only
/// while frames wait, and the connection's task takes it whole.
#[derive(Debug)]
pub struct Mailbox {
    inner: parking_lot::Mutex<Queue>,
    /// Wakes the connection's task: frames queued, or a close asked. A
    /// wake with no task waiting is kept for its next wait.
    wake: Notify,
    /// Frames that may wait; one more marks the connection as too slow.
    capacity: usize,
}

#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<Outbound>,
    /// The close code asked for, 0 when none.
    close: u16,
    /// The connection's task has ended: frames are dropped.
    ended: bool,
}

/// What a connection's task takes from its mailbox.
#[derive(Debug)]
pub enum Mail {
    /// Close the socket with this code.
    Close(u16),
    /// Frames to write, oldest first (at most [`Mailbox::BATCH`]).
    Frames(VecDeque<Outbound>),
}

/// What [`Mailbox::push`] did with a frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Pushed {
    Queued,
    /// The queue was full: the frame was dropped and the connection asked to close.
    Full,
    /// The connection has ended.
    Ended,
}

impl Mailbox {
    /// Frames taken at once by the connection's task.
    pub const BATCH: usize = 64;

    /// An empty mailbox for at most `capacity` waiting frames.
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            inner: parking_lot::Mutex::new(Queue::default()),
            wake: Notify::new(),
            capacity: capacity.max(1),
        })
    }

    fn queue(&self) -> parking_lot::MutexGuard<'_, Queue> {
        self.inner.lock()
    }

    /// Queues a frame without waiting; a full queue drops it and asks the
    /// connection to close as too slow (the client resumes from its last
    /// `seq`).
    pub fn push(&self, out: Outbound) -> Pushed {
        let mut q = self.queue();
        if q.ended {
            return Pushed::Ended;
        }
        if q.frames.len() >= self.capacity {
            if q.close == 0 {
                q.close = dmp_protocol::ws::CLOSE_POLICY;
            }
            drop(q);
            self.wake.notify_one();
            return Pushed::Full;
        }
        let was_empty = q.frames.is_empty();
        q.frames.push_back(out);
        drop(q);
        // A non-empty queue has already woken the task, which takes it whole.
        if was_empty {
            self.wake.notify_one();
        }
        Pushed::Queued
    }

    /// Asks the connection to close with `code` (the first request wins).
    pub fn fire(&self, code: u16) {
        let mut q = self.queue();
        if q.close == 0 {
            q.close = code;
        }
        drop(q);
        self.wake.notify_one();
    }

    /// Waits for a close request (first) or frames.
    pub async fn next(&self) -> Mail {
        loop {
            {
                let mut q = self.queue();
                if q.close != 0 {
                    return Mail::Close(q.close);
                }
                if q.frames.len() > Self::BATCH {
                    return Mail::Frames(q.frames.drain(..Self::BATCH).collect());
                }
                if !q.frames.is_empty() {
                    return Mail::Frames(std::mem::take(&mut q.frames));
                }
            }
            // A push between the check above and this wait leaves a wake behind.
            self.wake.notified().await;
        }
    }

    /// The connection's task has ended: drops what waits and refuses the rest.
    pub fn end(&self) {
        let mut q = self.queue();
        q.ended = true;
        q.frames = VecDeque::new();
    }
}

/// The hub's handle on one connection.
#[derive(Debug, Clone)]
pub struct ConnHandle {
    /// Connection id.
    pub id: u64,
    /// The login the socket authenticated with.
    pub login: Arc<str>,
    /// Outgoing queue and close request.
    pub mailbox: Arc<Mailbox>,
}

/// All open connections by user.
#[derive(Debug)]
pub struct Hub {
    conns: DashMap<UserId, Vec<ConnHandle>>,
    next_id: AtomicU64,
    metrics: Arc<Metrics>,
    /// Sockets per user, from the upgrade (or the `auth` frame) to the close.
    per_user: Counts<UserId>,
    /// Sockets per source address, from the upgrade to the close.
    per_source: Counts<String>,
    /// The other nodes, in a cluster (docs/deployment.md, "Redis").
    remote: OnceLock<Arc<Redis>>,
}

/// Open sockets per key, with a cap; a key leaves the map with its last socket.
#[derive(Debug)]
struct Counts<K: Eq + std::hash::Hash> {
    map: DashMap<K, usize>,
    max: usize,
}

impl<K: Eq + std::hash::Hash + Clone> Counts<K> {
    fn new(max: usize) -> Self {
        Self {
            map: DashMap::new(),
            max,
        }
    }

    /// Takes one place for `key`; false when `max` are taken.
    fn take(&self, key: &K) -> bool {
        let mut n = self.map.entry(key.clone()).or_insert(0);
        if *n >= self.max {
            drop(n);
            self.map.remove_if(key, |_, n| *n == 0);
            return false;
        }
        *n += 1;
        true
    }

    fn give_back(&self, key: &K) {
        self.map.remove_if_mut(key, |_, n| {
            *n = n.saturating_sub(1);
            *n == 0
        });
    }
}

/// Where a socket's place was taken: in the cluster-wide count (Redis key),
/// or in this node's own (single node, or Redis not answering).
#[derive(Debug)]
enum Place {
    Cluster(String),
    Here,
}

impl Place {
    /// Gives a cluster place back (in the background: a drop cannot wait).
    fn give_back(&mut self, hub: &Hub) -> bool {
        let Place::Cluster(key) = std::mem::replace(self, Place::Here) else {
            return false;
        };
        if let (Some(r), Ok(rt)) = (hub.remote.get(), tokio::runtime::Handle::try_current()) {
            let r = r.clone();
            rt.spawn(async move { r.give_slot(&key).await });
        }
        true
    }
}

/// A socket's place under `ws.max_per_source`; given back when dropped.
#[derive(Debug)]
pub struct SourceSlot {
    hub: Arc<Hub>,
    source: String,
    place: Place,
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        if !self.place.give_back(&self.hub) {
            self.hub.per_source.give_back(&self.source);
        }
    }
}

/// A socket's place under `ws.max_per_user`; given back when dropped.
#[derive(Debug)]
pub struct UserSlot {
    hub: Arc<Hub>,
    user: UserId,
    place: Place,
}

impl Drop for UserSlot {
    fn drop(&mut self) {
        if !self.place.give_back(&self.hub) {
            self.hub.per_user.give_back(&self.user);
        }
    }
}

impl Hub {
    /// An empty hub that lets each user, and each source address, hold at
    /// most `max_per_user` and `max_per_source` sockets.
    pub fn new(metrics: Arc<Metrics>, max_per_user: usize, max_per_source: usize) -> Self {
        Self {
            conns: DashMap::new(),
            next_id: AtomicU64::new(1),
            metrics,
            per_user: Counts::new(max_per_user),
            per_source: Counts::new(max_per_source),
            remote: OnceLock::new(),
        }
    }

    /// Links the hub to the other nodes: frames also go to their sockets,
    /// caps and presence count theirs.
    pub fn link(&self, redis: Arc<Redis>) {
        let _ = self.remote.set(redis);
    }

    /// The cluster place of a socket-count key, when linked and Redis answers.
    async fn cluster_place(&self, key: String, max: usize) -> Option<Option<Place>> {
        let r = self.remote.get()?;
        match r.take_slot(&key, max).await {
            Ok(true) => Some(Some(Place::Cluster(key))),
            Ok(false) => Some(None),
            Err(_) => None,
        }
    }

    /// A place for one more socket from `source`, if under the cap (of the
    /// whole cluster when linked).
    pub async fn source_slot(self: &Arc<Self>, source: &str) -> Option<SourceSlot> {
        let source = source.to_owned();
        let place = match self
            .cluster_place(format!("dmp:ws:src:{source}"), self.per_source.max)
            .await
        {
            Some(place) => place?,
            None => self.per_source.take(&source).then_some(Place::Here)?,
        };
        Some(SourceSlot {
            hub: self.clone(),
            source,
            place,
        })
    }

    /// A place for one more socket of `user`, if under the cap (of the
    /// whole cluster when linked).
    pub async fn user_slot(self: &Arc<Self>, user: &UserId) -> Option<UserSlot> {
        let place = match self
            .cluster_place(format!("dmp:ws:user:{user}"), self.per_user.max)
            .await
        {
            Some(place) => place?,
            None => self.per_user.take(user).then_some(Place::Here)?,
        };
        Some(UserSlot {
            hub: self.clone(),
            user: user.clone(),
            place,
        })
    }

    /// Keys held in the per-user and per-source counts (for tests of pruning).
    pub fn slot_keys(&self) -> (usize, usize) {
        (self.per_user.map.len(), self.per_source.map.len())
    }

    /// A fresh connection id.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Adds a connection; true when it is the user's first (they came online).
    pub fn register(&self, user: &UserId, handle: ConnHandle) -> bool {
        let mut entry = self.conns.entry(user.clone()).or_default();
        entry.push(handle);
        let first = entry.len() == 1;
        drop(entry);
        if first {
            if let Some(r) = self.remote.get() {
                r.here(user);
            }
        }
        first
    }

    /// Removes a connection; true when it was the user's last (they went offline).
    pub fn unregister(&self, user: &UserId, id: u64) -> bool {
        let mut last = false;
        self.conns.remove_if_mut(user, |_, v| {
            v.retain(|h| h.id != id);
            last = v.is_empty();
            last
        });
        if last {
            if let Some(r) = self.remote.get() {
                r.gone(user);
            }
        }
        last
    }

    /// Whether the user has at least one open connection on this node.
    pub fn is_online(&self, user: &UserId) -> bool {
        self.conns.get(user).is_some_and(|v| !v.is_empty())
    }

    /// Whether each of `users` has a socket on this node or, when linked,
    /// on another live node (this node's view alone if Redis does not answer).
    pub async fn online_among(&self, users: &[UserId]) -> Vec<bool> {
        let mut flags: Vec<bool> = users.iter().map(|u| self.is_online(u)).collect();
        let Some(r) = self.remote.get() else {
            return flags;
        };
        let elsewhere: Vec<UserId> = users
            .iter()
            .zip(&flags)
            .filter(|(_, here)| !**here)
            .map(|(u, _)| u.clone())
            .collect();
        if elsewhere.is_empty() {
            return flags;
        }
        if let Ok(there) = r.online_elsewhere(&elsewhere).await {
            let mut there = there.into_iter();
            for f in flags.iter_mut().filter(|f| !**f) {
                *f = there.next().unwrap_or(false);
            }
        }
        flags
    }

    /// Serializes a frame once for many recipients.
    pub fn encode(frame: &ServerFrame) -> Utf8Bytes {
        serde_json::to_string(frame).unwrap_or_default().into()
    }

    /// Queues a frame on every connection of `user` except `except`, on
    /// this node and, when linked, on the others.
    pub fn send_to(
        &self,
        user: &UserId,
        text: &Utf8Bytes,
        persisted: Option<Instant>,
        except: Option<u64>,
    ) {
        if let Some(r) = self.remote.get() {
            r.publish(user, text);
        }
        self.send_local(user, text, persisted, except);
    }

    /// Queues a frame on every connection of `user` on this node except `except`.
    pub fn send_local(
        &self,
        user: &UserId,
        text: &Utf8Bytes,
        persisted: Option<Instant>,
        except: Option<u64>,
    ) {
        let Some(handles) = self.conns.get(user) else {
            return;
        };
        for h in handles.iter() {
            if Some(h.id) == except {
                continue;
            }
            self.push(
                h,
                Outbound {
                    text: text.clone(),
                    persisted,
                },
            );
        }
    }

    /// Queues a frame on one connection; closes it when its queue is full.
    pub fn push(&self, h: &ConnHandle, out: Outbound) {
        if h.mailbox.push(out) == Pushed::Full {
            self.metrics.slow_consumers.inc();
        }
    }

    /// Closes every connection of a user (disabled, password changed).
    pub fn close_user(&self, user: &UserId, code: u16) {
        if let Some(handles) = self.conns.get(user) {
            for h in handles.iter() {
                h.mailbox.fire(code);
            }
        }
    }

    /// Closes the connections opened with one login (logout, revocation).
    pub fn close_login(&self, user: &UserId, login: &str, code: u16) {
        if let Some(handles) = self.conns.get(user) {
            for h in handles.iter().filter(|h| &*h.login == login) {
                h.mailbox.fire(code);
            }
        }
    }

    /// Closes the connections of a user opened with another login than `keep`
    /// (the user changed their credential from the `keep` login).
    pub fn close_logins_except(&self, user: &UserId, keep: &str, code: u16) {
        if let Some(handles) = self.conns.get(user) {
            for h in handles.iter().filter(|h| &*h.login != keep) {
                h.mailbox.fire(code);
            }
        }
    }

    /// The logins the user's open connections authenticated with.
    pub fn logins_of(&self, user: &UserId) -> Vec<Arc<str>> {
        let mut out: Vec<Arc<str>> = self
            .conns
            .get(user)
            .map(|v| v.iter().map(|h| h.login.clone()).collect())
            .unwrap_or_default();
        out.sort();
        out.dedup();
        out
    }

    /// The users with at least one open connection.
    pub fn online(&self) -> Vec<UserId> {
        self.conns.iter().map(|e| e.key().clone()).collect()
    }

    /// Closes everything (shutdown).
    pub fn close_all(&self, code: u16) {
        for entry in self.conns.iter() {
            for h in entry.value() {
                h.mailbox.fire(code);
            }
        }
    }

    /// Number of users online.
    pub fn online_users(&self) -> usize {
        self.conns.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: usize) -> Outbound {
        Outbound {
            text: n.to_string().into(),
            persisted: None,
        }
    }

    fn texts(mail: Mail) -> Vec<String> {
        match mail {
            Mail::Frames(f) => f.iter().map(|o| o.text.as_str().to_owned()).collect(),
            Mail::Close(code) => panic!("expected frames, got a close ({code})"),
        }
    }

    #[tokio::test]
    async fn an_idle_mailbox_holds_no_frame_storage() {
        let m = Mailbox::new(8);
        assert_eq!(m.queue().frames.capacity(), 0);
        assert_eq!(m.push(frame(1)), Pushed::Queued);
        assert_eq!(m.push(frame(2)), Pushed::Queued);
        assert_eq!(texts(m.next().await), ["1", "2"]);
        // Taken whole: nothing stays allocated once the frames are written.
        assert_eq!(m.queue().frames.capacity(), 0);
    }

    #[tokio::test]
    async fn frames_come_in_order_and_in_batches() {
        let m = Mailbox::new(1000);
        for i in 0..Mailbox::BATCH + 3 {
            assert_eq!(m.push(frame(i)), Pushed::Queued);
        }
        let first = texts(m.next().await);
        assert_eq!(first.len(), Mailbox::BATCH);
        assert_eq!(first[0], "0");
        let rest = texts(m.next().await);
        assert_eq!(rest, ["64", "65", "66"]);
    }

    #[tokio::test]
    async fn a_full_queue_asks_to_close_and_a_close_comes_first() {
        let m = Mailbox::new(2);
        assert_eq!(m.push(frame(1)), Pushed::Queued);
        assert_eq!(m.push(frame(2)), Pushed::Queued);
        assert_eq!(m.push(frame(3)), Pushed::Full);
        assert!(matches!(
            m.next().await,
            Mail::Close(dmp_protocol::ws::CLOSE_POLICY)
        ));
        // The first close request wins.
        m.fire(dmp_protocol::ws::CLOSE_UNAUTHENTICATED);
        assert!(matches!(
            m.next().await,
            Mail::Close(dmp_protocol::ws::CLOSE_POLICY)
        ));
    }

    #[tokio::test]
    async fn a_waiting_task_is_woken_by_a_push_or_a_close() {
        let m = Mailbox::new(8);
        let waiter = tokio::spawn({
            let m = m.clone();
            async move { texts(m.next().await) }
        });
        tokio::task::yield_now().await;
        m.push(frame(7));
        assert_eq!(waiter.await.unwrap(), ["7"]);
        let waiter = tokio::spawn({
            let m = m.clone();
            async move { m.next().await }
        });
        tokio::task::yield_now().await;
        m.fire(4001);
        assert!(matches!(waiter.await.unwrap(), Mail::Close(4001)));
    }

    #[test]
    fn an_ended_mailbox_drops_what_comes() {
        let m = Mailbox::new(8);
        m.push(frame(1));
        m.end();
        assert_eq!(m.push(frame(2)), Pushed::Ended);
        assert!(m.queue().frames.is_empty());
    }
}

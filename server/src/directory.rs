//! The directory: users, contexts and active logins, read through bounded
//! caches (moka) from the store, so that authenticating a request or
//! authorizing a frame stays in memory on a hit while memory does not grow
//! with the size of the DMP. Entries leave the caches when the store's change
//! log names them ([`Directory::invalidate`], fed by a [`DirectoryEvents`]
//! source), after a TTL, or when a cache is full. The design, the sizes and
//! why a disabled account is never served stale are in docs/directory.md.
//!
//! Access to a context is decided in one place, [`Directory::authorize`],
//! which returns a [`ContextAccess`] proof that handlers need to proceed.

use crate::store::{
    ContextRecord, DirectoryChange, FamilyRecord, LoggedChange, Store, StoreResult, UserRecord,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use dmp_protocol::*;
use moka::sync::Cache;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

/// Cache bounds and change polling (`[directory]` in the configuration).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DirectoryConfig {
    /// Users held at most.
    pub max_users: u64,
    /// Contexts held at most (looked up one by one: authorization).
    pub max_contexts: u64,
    /// Contexts held at most in the per-user lists (`GET /api/contexts`, peers).
    pub max_listed_contexts: u64,
    /// Active logins held at most.
    pub max_logins: u64,
    /// Seconds an entry lives at most, whatever the change log says.
    pub ttl_secs: u64,
    /// Milliseconds between two reads of the store's change log (single node).
    pub poll_ms: u64,
    /// In a cluster, the log is read when Redis says it changed, and at
    /// least every `cluster_poll_ms` in case a wake-up was lost.
    pub cluster_poll_ms: u64,
    /// Contexts listed per user at most (newest first).
    pub max_contexts_per_user: u32,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        Self {
            max_users: 50_000,
            max_contexts: 50_000,
            max_listed_contexts: 100_000,
            max_logins: 100_000,
            ttl_secs: 300,
            poll_ms: 250,
            cluster_poll_ms: 5_000,
            max_contexts_per_user: 10_000,
        }
    }
}

/// Where the directory changes come from: [`LogChanges`] reads the store's
/// change log, every `poll_ms` on a single node (the admin CLI is another
/// process), or when Redis says it changed in a cluster.
#[async_trait]
pub trait DirectoryEvents: Send + std::fmt::Debug {
    /// Waits for the next changes, oldest first.
    async fn next(&mut self) -> StoreResult<Vec<LoggedChange>>;
}

/// Reads the store's change log when woken (by a Redis publish from the
/// node or CLI that made the change), and at least every `every`.
#[derive(Debug)]
pub struct LogChanges {
    store: Arc<dyn Store>,
    last: i64,
    wake: Arc<tokio::sync::Notify>,
    every: Duration,
}

impl LogChanges {
    /// Changes after the log's current head, read every `every` (nothing
    /// wakes it: a single node).
    pub async fn polled(store: Arc<dyn Store>, every: Duration) -> StoreResult<Self> {
        Self::from_head(store, Arc::new(tokio::sync::Notify::new()), every).await
    }

    /// Changes after the log's current head.
    pub async fn from_head(
        store: Arc<dyn Store>,
        wake: Arc<tokio::sync::Notify>,
        every: Duration,
    ) -> StoreResult<Self> {
        let last = store.directory_head().await?;
        Ok(Self {
            store,
            last,
            wake,
            every,
        })
    }
}

#[async_trait]
impl DirectoryEvents for LogChanges {
    async fn next(&mut self) -> StoreResult<Vec<LoggedChange>> {
        loop {
            let changes = self.store.directory_changes_since(self.last, 1000).await?;
            if let Some(c) = changes.last() {
                self.last = c.rev;
                return Ok(changes);
            }
            // A wake-up that came while reading left a permit: not lost.
            let _ = tokio::time::timeout(self.every, self.wake.notified()).await;
        }
    }
}

/// The other party of each of a user's contexts, each once.
pub type Peers = Arc<[UserId]>;

fn peers_in<C: std::borrow::Borrow<ContextRecord>>(user: &UserId, list: &[C]) -> Peers {
    let mut seen = HashSet::new();
    list.iter()
        .map(|c| {
            let c = c.borrow();
            if c.patient_id == *user {
                c.doctor_id.clone()
            } else {
                c.patient_id.clone()
            }
        })
        .filter(|p| seen.insert(p.clone()))
        .collect()
}

/// Users, contexts and logins, read through bounded caches.
pub struct Directory {
    store: Arc<dyn Store>,
    max_contexts_per_user: u32,
    users: Cache<UserId, Arc<UserRecord>>,
    contexts: Cache<(ContextType, ContextId), Arc<ContextRecord>>,
    lists: Cache<UserId, Arc<Vec<Arc<ContextRecord>>>>,
    /// The people each user shares a context with, for presence when a
    /// socket opens. Kept apart from `lists`: an idle socket then costs its
    /// user a few ids, not the records of every context (docs/performance.md,
    /// "Connections").
    peers: Cache<UserId, Peers>,
    logins: Cache<String, Arc<FamilyRecord>>,
    /// Doctors' absences (the stored one, or none), for 30 s: every
    /// patient's message asks (docs/messaging.md, "Absence").
    absences: Cache<UserId, Option<Arc<(String, Absence)>>>,
    /// Doctors' office hours, the same way (docs/messaging.md, "Office hours").
    office_hours: Cache<UserId, Option<Arc<OfficeHours>>>,
    /// Bumped (write-locked) by every invalidation; a value read from the
    /// store is cached only if no invalidation ran since the read began, so
    /// an invalidation racing a read can never leave a stale entry behind.
    generation: RwLock<u64>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("users", &self.users.entry_count())
            .field("contexts", &self.contexts.entry_count())
            .field("logins", &self.logins.entry_count())
            .finish_non_exhaustive()
    }
}

/// Proof that a user may use a context's messaging: only [`Directory::authorize`] makes one.
#[derive(Clone, Debug)]
#[allow(clippy::manual_non_exhaustive)] // private field: only this module may make the proof
pub struct ContextAccess {
    /// The context.
    pub context: Arc<ContextRecord>,
    /// The caller.
    pub me: Arc<UserRecord>,
    /// The other participant.
    pub peer: Arc<UserRecord>,
    _private: (),
}

impl ContextAccess {
    /// The session id of this context.
    pub fn session_id(&self) -> SessionId {
        Session::id_for(
            self.context.kind,
            &self.context.id,
            &self.context.patient_id,
            &self.context.doctor_id,
        )
    }
}

/// Why access was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessRefusal {
    /// No such context.
    UnknownContext,
    /// The user is not its patient or doctor.
    NotParticipant,
    /// The account is disabled or unknown.
    AccountDisabled,
}

impl AccessRefusal {
    /// Stable reason code for the permission endpoint.
    pub fn reason(self) -> &'static str {
        match self {
            Self::UnknownContext => "UNKNOWN_CONTEXT",
            Self::NotParticipant => "NOT_A_PARTICIPANT",
            Self::AccountDisabled => "ACCOUNT_DISABLED",
        }
    }
}

fn cache<K, V>(max: u64, ttl: Duration) -> Cache<K, V>
where
    K: Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Cache::builder().max_capacity(max).time_to_live(ttl).build()
}

impl Directory {
    /// An empty directory over `store`.
    pub fn new(store: Arc<dyn Store>, config: &DirectoryConfig) -> Self {
        let ttl = Duration::from_secs(config.ttl_secs.max(1));
        Self {
            store,
            max_contexts_per_user: config.max_contexts_per_user.max(1),
            users: cache(config.max_users, ttl),
            contexts: cache(config.max_contexts, ttl),
            lists: Cache::builder()
                .max_capacity(config.max_listed_contexts)
                .weigher(|_, v: &Arc<Vec<Arc<ContextRecord>>>| {
                    u32::try_from(v.len()).unwrap_or(u32::MAX).saturating_add(1)
                })
                .time_to_live(ttl)
                .build(),
            peers: cache(config.max_users, ttl),
            logins: Cache::builder()
                .max_capacity(config.max_logins)
                .time_to_live(ttl)
                .support_invalidation_closures()
                .build(),
            absences: cache(config.max_users, Duration::from_secs(30)),
            office_hours: cache(config.max_users, Duration::from_secs(30)),
            generation: RwLock::new(0),
        }
    }

    /// The absence of `doctor` under way at `now`, with its id.
    pub async fn absence_now(
        &self,
        doctor: &UserId,
        now: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Option<Arc<(String, Absence)>>> {
        let stored = match self.absences.get(doctor) {
            Some(a) => a,
            None => {
                let a = self.store.absence(doctor).await?.map(Arc::new);
                self.absences.insert(doctor.clone(), a.clone());
                a
            }
        };
        Ok(stored.filter(|a| a.1.from <= now && now < a.1.until))
    }

    /// The office hours of `doctor`, if set.
    pub async fn office_hours(&self, doctor: &UserId) -> StoreResult<Option<Arc<OfficeHours>>> {
        if let Some(h) = self.office_hours.get(doctor) {
            return Ok(h);
        }
        let h = self.store.office_hours(doctor).await?.map(Arc::new);
        self.office_hours.insert(doctor.clone(), h.clone());
        Ok(h)
    }

    /// Forgets the cached office hours of `doctor` (after they changed here).
    pub fn forget_office_hours(&self, doctor: &UserId) {
        self.office_hours.invalidate(doctor);
    }

    /// Forgets the cached absence of `doctor` (after it changed here).
    pub fn forget_absence(&self, doctor: &UserId) {
        self.absences.invalidate(doctor);
    }

    /// Reads `key` from `cache`, or from the store with `load` (cached only
    /// when no invalidation ran meanwhile). Absent values are not cached.
    async fn read_through<K, V, F>(
        &self,
        cache: &Cache<K, V>,
        key: K,
        load: F,
    ) -> StoreResult<Option<V>>
    where
        K: Hash + Eq + Send + Sync + 'static,
        V: Clone + Send + Sync + 'static,
        F: std::future::Future<Output = StoreResult<Option<V>>>,
    {
        if let Some(v) = cache.get(&key) {
            return Ok(Some(v));
        }
        let started = *self.generation.read();
        let value = load.await?;
        if let Some(v) = &value {
            let generation = self.generation.read();
            if *generation == started {
                cache.insert(key, v.clone());
            }
        }
        Ok(value)
    }

    /// A user by id.
    pub async fn user(&self, id: &UserId) -> StoreResult<Option<Arc<UserRecord>>> {
        self.read_through(&self.users, id.clone(), async {
            Ok(self.store.user(id).await?.map(Arc::new))
        })
        .await
    }

    /// Several users by id (one store read for those not cached); unknown ones left out.
    pub async fn users(&self, ids: &[UserId]) -> StoreResult<Vec<Arc<UserRecord>>> {
        let mut out = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        for id in ids {
            match self.users.get(id) {
                Some(u) => out.push(u),
                None => missing.push(id.clone()),
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let started = *self.generation.read();
        let loaded = self.store.users(&missing).await?;
        let generation = self.generation.read();
        for u in loaded {
            let u = Arc::new(u);
            if *generation == started {
                self.users.insert(u.id.clone(), u.clone());
            }
            out.push(u);
        }
        Ok(out)
    }

    /// A context by type and id.
    pub async fn context(
        &self,
        kind: ContextType,
        id: &ContextId,
    ) -> StoreResult<Option<Arc<ContextRecord>>> {
        self.read_through(&self.contexts, (kind, id.clone()), async {
            Ok(self.store.context(kind, id).await?.map(Arc::new))
        })
        .await
    }

    /// The contexts of a user (as patient or doctor), newest first, at most
    /// `max_contexts_per_user`.
    pub async fn contexts_of(&self, user: &UserId) -> StoreResult<Arc<Vec<Arc<ContextRecord>>>> {
        let list = self
            .read_through(&self.lists, user.clone(), async {
                let list = self
                    .store
                    .contexts_of(user, self.max_contexts_per_user)
                    .await?;
                Ok(Some(Arc::new(list.into_iter().map(Arc::new).collect())))
            })
            .await?;
        Ok(list.unwrap_or_default())
    }

    /// The people a user shares at least one (listed) context with, from
    /// the user's cached list when it is there, else from the store (only
    /// the ids are kept).
    pub async fn peers_of(&self, user: &UserId) -> StoreResult<Peers> {
        if let Some(list) = self.lists.get(user) {
            return Ok(peers_in(user, &list));
        }
        let peers = self
            .read_through(&self.peers, user.clone(), async {
                let list = self
                    .store
                    .contexts_of(user, self.max_contexts_per_user)
                    .await?;
                Ok(Some(peers_in(user, &list)))
            })
            .await?;
        Ok(peers.unwrap_or_default())
    }

    /// Records a login just opened by this node.
    pub fn add_login(&self, f: FamilyRecord) {
        let _generation = self.generation.read();
        self.logins.insert(f.id.clone(), Arc::new(f));
    }

    /// Forgets a login revoked by this node.
    pub fn remove_login(&self, id: &str) {
        self.logins.invalidate(id);
    }

    /// Whether a login is active for this user at `now`.
    pub async fn login_active(
        &self,
        id: &str,
        user: &UserId,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let login = self
            .read_through(&self.logins, id.to_owned(), async {
                Ok(self.store.login(id, now).await?.map(Arc::new))
            })
            .await?;
        Ok(login.is_some_and(|l| l.user_id == *user && l.expires_at > now))
    }

    /// Number of logins held in the cache.
    pub fn login_count(&self) -> u64 {
        self.logins.entry_count()
    }

    /// Entries held: users, contexts, listed contexts (weight), logins (after
    /// pending evictions ran; for tests and metrics).
    pub fn sizes(&self) -> [u64; 4] {
        self.users.run_pending_tasks();
        self.contexts.run_pending_tasks();
        self.lists.run_pending_tasks();
        self.logins.run_pending_tasks();
        [
            self.users.entry_count(),
            self.contexts.entry_count(),
            self.lists.weighted_size(),
            self.logins.entry_count(),
        ]
    }

    /// Drops the entries a change concerns.
    pub fn invalidate(&self, change: &DirectoryChange) {
        let mut generation = self.generation.write();
        *generation += 1;
        match change {
            DirectoryChange::User(id) => self.users.invalidate(id),
            DirectoryChange::Context {
                kind,
                id,
                patient_id,
                doctor_id,
            } => {
                self.contexts.invalidate(&(*kind, id.clone()));
                self.lists.invalidate(patient_id);
                self.lists.invalidate(doctor_id);
                self.peers.invalidate(patient_id);
                self.peers.invalidate(doctor_id);
            }
            DirectoryChange::Login { id, .. } => self.logins.invalidate(id),
            DirectoryChange::LoginsOf(user) => {
                let user = user.clone();
                // Only fails when closures are not enabled (they are, above).
                let _ = self
                    .logins
                    .invalidate_entries_if(move |_, l| l.user_id == user);
            }
            DirectoryChange::All => {
                self.users.invalidate_all();
                self.contexts.invalidate_all();
                self.lists.invalidate_all();
                self.peers.invalidate_all();
                self.logins.invalidate_all();
            }
        }
    }

    /// The one authorization rule: the context's patient or its doctor, with
    /// an enabled account. The outer error is a store failure.
    pub async fn authorize(
        &self,
        user: &UserId,
        kind: ContextType,
        id: &ContextId,
    ) -> StoreResult<Result<ContextAccess, AccessRefusal>> {
        let Some(me) = self.user(user).await?.filter(|u| !u.disabled) else {
            return Ok(Err(AccessRefusal::AccountDisabled));
        };
        let Some(context) = self.context(kind, id).await? else {
            return Ok(Err(AccessRefusal::UnknownContext));
        };
        let peer_id = if context.patient_id == *user {
            &context.doctor_id
        } else if context.doctor_id == *user {
            &context.patient_id
        } else {
            return Ok(Err(AccessRefusal::NotParticipant));
        };
        let Some(peer) = self.user(peer_id).await? else {
            return Ok(Err(AccessRefusal::UnknownContext));
        };
        Ok(Ok(ContextAccess {
            context,
            me,
            peer,
            _private: (),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::{Durability, SqliteStore};
    use crate::store::{AuditEvent, RequestMeta};

    fn user(i: usize) -> UserRecord {
        UserRecord {
            id: UserId(format!("patient_{i}")),
            kind: UserType::Patient,
            name: format!("P {i}"),
            username: format!("p{i}"),
            password_hash: "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
            disabled: false,
        }
    }

    fn audit() -> AuditEvent {
        AuditEvent::new(
            Utc::now(),
            "test",
            "import",
            "",
            "ok",
            &RequestMeta::default(),
        )
    }

    #[tokio::test]
    async fn the_user_cache_is_bounded_and_sees_invalidated_changes() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(dir.path().join("db"), Durability::Normal).unwrap());
        let users: Vec<_> = (0..300).map(|i| (user(i), None)).collect();
        store
            .upsert_directory(users, vec![], true, audit())
            .await
            .unwrap();
        let config = DirectoryConfig {
            max_users: 50,
            ..DirectoryConfig::default()
        };
        let directory = Directory::new(store.clone(), &config);
        for i in 0..300 {
            let u = directory
                .user(&UserId(format!("patient_{i}")))
                .await
                .unwrap();
            assert_eq!(u.unwrap().name, format!("P {i}"));
        }
        let [users, ..] = directory.sizes();
        assert!(users <= 50, "{users} users cached with a bound of 50");
        assert!(users > 0, "nothing cached");

        // A cached user changed in the store: seen only after the invalidation.
        let id = UserId("patient_299".into());
        directory.user(&id).await.unwrap();
        let head = store.directory_head().await.unwrap();
        store.set_user_disabled(&id, true, audit()).await.unwrap();
        let changes = store.directory_changes_since(head, 10).await.unwrap();
        assert_eq!(
            changes.iter().map(|c| c.change.clone()).collect::<Vec<_>>(),
            vec![
                DirectoryChange::User(id.clone()),
                DirectoryChange::LoginsOf(id.clone())
            ]
        );
        for c in &changes {
            directory.invalidate(&c.change);
        }
        assert!(directory.user(&id).await.unwrap().unwrap().disabled);
    }

    fn doctor(i: usize) -> UserRecord {
        UserRecord {
            id: UserId(format!("doctor_{i}")),
            kind: UserType::Medecin,
            username: format!("d{i}"),
            name: format!("Dr {i}"),
            ..user(i)
        }
    }

    fn context(id: &str, patient: usize, doctor: usize) -> ContextRecord {
        ContextRecord {
            kind: ContextType::Ordonnance,
            id: ContextId(id.into()),
            title: "T".into(),
            date: "2026-12-04".into(),
            patient_id: UserId(format!("patient_{patient}")),
            doctor_id: UserId(format!("doctor_{doctor}")),
            summary: String::new(),
        }
    }

    /// Presence's list of peers is cached apart from the contexts (an idle
    /// socket keeps only ids), and follows the directory's changes.
    #[tokio::test]
    async fn peers_are_cached_as_ids_and_follow_new_contexts() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> =
            Arc::new(SqliteStore::open(dir.path().join("db"), Durability::Normal).unwrap());
        let people = vec![(user(0), None), (doctor(1), None), (doctor(2), None)];
        store
            .upsert_directory(
                people,
                vec![context("ord_1", 0, 1), context("ord_2", 0, 1)],
                true,
                audit(),
            )
            .await
            .unwrap();
        let directory = Directory::new(store.clone(), &DirectoryConfig::default());
        let patient = UserId("patient_0".into());
        let peers = directory.peers_of(&patient).await.unwrap();
        assert_eq!(&*peers, [UserId("doctor_1".into())], "each peer once");
        let [_, _, listed, _] = directory.sizes();
        assert_eq!(listed, 0, "the contexts were not kept for presence");

        // A new context with another doctor: seen once the change is applied.
        let head = store.directory_head().await.unwrap();
        store
            .upsert_directory(vec![], vec![context("ord_3", 0, 2)], false, audit())
            .await
            .unwrap();
        assert_eq!(
            directory.peers_of(&patient).await.unwrap().len(),
            1,
            "cached"
        );
        for c in store.directory_changes_since(head, 10).await.unwrap() {
            directory.invalidate(&c.change);
        }
        let mut peers = directory.peers_of(&patient).await.unwrap().to_vec();
        peers.sort();
        assert_eq!(
            peers,
            [UserId("doctor_1".into()), UserId("doctor_2".into())]
        );

        // With the user's list cached, the peers come from it.
        directory
            .contexts_of(&UserId("doctor_2".into()))
            .await
            .unwrap();
        assert_eq!(
            &*directory
                .peers_of(&UserId("doctor_2".into()))
                .await
                .unwrap(),
            [patient]
        );
    }
}

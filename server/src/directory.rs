//! The in-memory directory: users, contexts and active logins, so that
//! authenticating a request or authorizing a frame never touches the disk.
//! It is loaded at start and refreshed when the store's admin revision moves
//! (the admin CLI writes to the same database from another process).
//!
//! Access to a context is decided in one place, [`Directory::authorize`],
//! which returns a [`ContextAccess`] proof that handlers need to proceed.

use crate::store::{ContextRecord, Directory as Snapshot, FamilyRecord, UserRecord};
use chrono::{DateTime, Utc};
use dashmap::DashMap;
use dmp_protocol::*;
use parking_lot::RwLock;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

#[derive(Debug, Default)]
struct Tables {
    users: HashMap<UserId, Arc<UserRecord>>,
    contexts: HashMap<(ContextType, ContextId), Arc<ContextRecord>>,
    peers: HashMap<UserId, HashSet<UserId>>,
    contexts_of: HashMap<UserId, Vec<Arc<ContextRecord>>>,
    revision: i64,
}

/// Users, contexts and logins held in memory.
#[derive(Debug, Default)]
pub struct Directory {
    tables: RwLock<Arc<Tables>>,
    logins: DashMap<String, (UserId, DateTime<Utc>)>,
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

impl Directory {
    /// Replaces users and contexts with a fresh snapshot; adds its logins.
    pub fn load(&self, snap: Snapshot) {
        let mut t = Tables {
            revision: snap.revision,
            ..Tables::default()
        };
        for u in snap.users {
            t.users.insert(u.id.clone(), Arc::new(u));
        }
        for c in snap.contexts {
            let c = Arc::new(c);
            t.peers
                .entry(c.patient_id.clone())
                .or_default()
                .insert(c.doctor_id.clone());
            t.peers
                .entry(c.doctor_id.clone())
                .or_default()
                .insert(c.patient_id.clone());
            t.contexts_of
                .entry(c.patient_id.clone())
                .or_default()
                .push(c.clone());
            t.contexts_of
                .entry(c.doctor_id.clone())
                .or_default()
                .push(c.clone());
            t.contexts.insert((c.kind, c.id.clone()), c);
        }
        for v in t.contexts_of.values_mut() {
            v.sort_by(|a, b| b.date.cmp(&a.date).then_with(|| a.id.cmp(&b.id)));
        }
        for f in snap.families {
            self.add_login(f);
        }
        *self.tables.write() = Arc::new(t);
    }

    /// The revision of the loaded snapshot.
    pub fn revision(&self) -> i64 {
        self.tables.read().revision
    }

    /// A user by id.
    pub fn user(&self, id: &UserId) -> Option<Arc<UserRecord>> {
        self.tables.read().users.get(id).cloned()
    }

    /// Every user id.
    pub fn user_ids(&self) -> Vec<(UserId, bool)> {
        self.tables
            .read()
            .users
            .values()
            .map(|u| (u.id.clone(), u.disabled))
            .collect()
    }

    /// A context by type and id.
    pub fn context(&self, kind: ContextType, id: &ContextId) -> Option<Arc<ContextRecord>> {
        self.tables
            .read()
            .contexts
            .get(&(kind, id.clone()))
            .cloned()
    }

    /// The contexts of a user (as patient or doctor), newest first.
    pub fn contexts_of(&self, user: &UserId) -> Vec<Arc<ContextRecord>> {
        self.tables
            .read()
            .contexts_of
            .get(user)
            .cloned()
            .unwrap_or_default()
    }

    /// The people a user shares at least one context with.
    pub fn peers_of(&self, user: &UserId) -> Vec<UserId> {
        self.tables
            .read()
            .peers
            .get(user)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Records an active login.
    pub fn add_login(&self, f: FamilyRecord) {
        self.logins.insert(f.id, (f.user_id, f.expires_at));
    }

    /// Forgets a revoked login.
    pub fn remove_login(&self, id: &str) {
        self.logins.remove(id);
    }

    /// The active logins of a user.
    pub fn logins_of(&self, user: &UserId) -> Vec<String> {
        self.logins
            .iter()
            .filter(|e| e.value().0 == *user)
            .map(|e| e.key().clone())
            .collect()
    }

    /// Forgets logins that expired (run by the maintenance job, so that the
    /// map holds only live logins).
    pub fn prune_logins(&self, now: DateTime<Utc>) {
        self.logins.retain(|_, e| e.1 > now);
    }

    /// Number of logins held.
    pub fn login_count(&self) -> usize {
        self.logins.len()
    }

    /// Whether a login is active for this user.
    pub fn login_active(&self, id: &str, user: &UserId, now: DateTime<Utc>) -> bool {
        self.logins
            .get(id)
            .is_some_and(|e| e.0 == *user && e.1 > now)
    }

    /// The one authorization rule: the context's patient or its doctor, with an enabled account.
    pub fn authorize(
        &self,
        user: &UserId,
        kind: ContextType,
        id: &ContextId,
    ) -> Result<ContextAccess, AccessRefusal> {
        let t = self.tables.read();
        let me = t
            .users
            .get(user)
            .filter(|u| !u.disabled)
            .cloned()
            .ok_or(AccessRefusal::AccountDisabled)?;
        let context = t
            .contexts
            .get(&(kind, id.clone()))
            .cloned()
            .ok_or(AccessRefusal::UnknownContext)?;
        let peer_id = if context.patient_id == *user {
            &context.doctor_id
        } else if context.doctor_id == *user {
            &context.patient_id
        } else {
            return Err(AccessRefusal::NotParticipant);
        };
        let peer = t
            .users
            .get(peer_id)
            .cloned()
            .ok_or(AccessRefusal::UnknownContext)?;
        Ok(ContextAccess {
            context,
            me,
            peer,
            _private: (),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_logins_are_pruned() {
        let d = Directory::default();
        let now = Utc::now();
        let user = UserId("patient_1".into());
        for (id, left) in [("old", -1), ("live", 60)] {
            d.add_login(FamilyRecord {
                id: id.into(),
                user_id: user.clone(),
                expires_at: now + chrono::Duration::seconds(left),
            });
        }
        d.prune_logins(now);
        assert_eq!(d.login_count(), 1);
        assert!(d.login_active("live", &user, now));
    }
}

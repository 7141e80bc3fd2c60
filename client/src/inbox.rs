//! The inbox layer: unread counts, the urgent flag and the order of the
//! user's conversations, kept current from events without an HTTP request
//! per incoming message (docs/desktop-ipc.md "The inbox").
//!
//! The list of contexts comes from the server once (`GET /api/contexts` at
//! sign-in or on reconnect, which also carries `lastMessageAt` and
//! `hasUrgentUnread`) and lives in the cache; every message, status and
//! deletion the client learns afterwards updates that cached row. A message
//! counts once: only when its `seq` is past the session's `lastSeq` of the
//! row, so a replay after a reconnect or a history page never counts twice.

use crate::error::ClientResult;
use crate::realtime::ClientEvent;
use crate::Inner;
use dmp_protocol::*;
use std::cmp::Ordering;

/// The inbox as one value: the contexts in display order and the unread total.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Inbox {
    /// Doctor: urgent unread first, then the questions waiting for an answer
    /// (urgent, then oldest first), then unread, then newest message first
    /// (none last), then record date newest first. Patient: record date newest
    /// first. The UI never re-sorts it.
    pub contexts: Vec<ContextSummary>,
    /// Unread messages to the user, over all contexts.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub unread_total: u64,
}

impl Inbox {
    /// Sorts `contexts` for `viewer` and totals the unread counts.
    pub fn new(mut contexts: Vec<ContextSummary>, viewer: UserType) -> Self {
        sort(&mut contexts, viewer);
        let unread_total = contexts.iter().map(|c| c.unread_count).sum();
        Self {
            contexts,
            unread_total,
        }
    }
}

/// The display order of an inbox (see [`Inbox::contexts`]).
pub fn sort(list: &mut [ContextSummary], viewer: UserType) {
    let by_date = |a: &ContextSummary, b: &ContextSummary| {
        b.context
            .date
            .cmp(&a.context.date)
            .then_with(|| a.context.id.cmp(&b.context.id))
    };
    if viewer != UserType::Medecin {
        list.sort_by(by_date);
        return;
    }
    // What waits for the doctor's answer: urgent first, then the oldest.
    let waiting =
        |a: &ContextSummary, b: &ContextSummary| match (&a.awaiting_answer, &b.awaiting_answer) {
            (Some(x), Some(y)) => y.urgent.cmp(&x.urgent).then_with(|| x.since.cmp(&y.since)),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
    list.sort_by(|a, b| {
        b.has_urgent_unread
            .cmp(&a.has_urgent_unread)
            .then_with(|| waiting(a, b))
            .then_with(|| (b.unread_count > 0).cmp(&(a.unread_count > 0)))
            .then_with(|| match (a.last_message_at, b.last_message_at) {
                (Some(x), Some(y)) => y.cmp(&x),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            })
            .then_with(|| by_date(a, b))
    });
}

/// Whether a message still counts as unread for its recipient.
fn unread(m: &Message) -> bool {
    m.status != MessageStatus::Read && m.deleted_at.is_none()
}

/// The session a first message opens, as far as the client knows it.
fn opened_session(c: &ContextSummary, m: &Message) -> Session {
    Session {
        id: m.session_id.clone(),
        context_type: c.context.kind,
        context_id: c.context.id.clone(),
        participants: SessionParticipants {
            patient: c.context.patient.clone(),
            doctor: c.context.doctor.clone(),
        },
        status: SessionStatus::Active,
        created_at: m.timestamp,
        last_activity: m.timestamp,
        message_count: 0,
        unread_count: UnreadCount::default(),
        last_seq: 0,
    }
}

/// What a new message changes in the row's question waiting for an answer
/// (the server's rule, docs/messaging.md "Answers that wait"): the doctor's
/// message answers it; a patient's message that expects an answer starts
/// one, or adds its urgency to the one already waiting. `overdue` is left to
/// the reader's clock until the next list from the server.
fn awaiting_on_message(c: &mut ContextSummary, m: &Message, within: chrono::Duration) {
    if m.sender.id == c.context.doctor.id {
        c.awaiting_answer = None;
    } else if m.sender.id == c.context.patient.id
        && m.metadata.requires_response
        && m.deleted_at.is_none()
    {
        match c.awaiting_answer.as_mut() {
            Some(a) => a.urgent |= m.metadata.is_urgent,
            None => {
                c.awaiting_answer = Some(AwaitingAnswer::new(
                    m.timestamp,
                    within,
                    m.timestamp,
                    m.metadata.is_urgent,
                    m.metadata.category,
                ))
            }
        }
    }
}

/// The conversation's status after a `system` message's event (`None`: the
/// event does not change it).
fn status_after(event: SystemEventKind) -> Option<SessionStatus> {
    match event {
        SystemEventKind::Closed => Some(SessionStatus::Closed),
        SystemEventKind::Reopened => Some(SessionStatus::Active),
        SystemEventKind::Absent | SystemEventKind::OutsideHours => None,
    }
}

/// Copies the row's unread count into the session's count for `me`.
fn sync_session_count(c: &mut ContextSummary, me: &UserId) {
    let n = c.unread_count;
    let patient = c.context.patient.id == *me;
    if let Some(s) = c.session.as_mut() {
        if patient {
            s.unread_count.patient = n;
        } else {
            s.unread_count.doctor = n;
        }
    }
}

impl Inner {
    /// The inbox from the cache (no request).
    pub(crate) fn inbox(&self) -> ClientResult<Inbox> {
        Ok(Inbox::new(self.cache.contexts()?, self.user.kind))
    }

    /// Tells the user interface the current inbox.
    pub(crate) fn emit_inbox(&self) {
        match self.inbox() {
            Ok(inbox) => self.emit(ClientEvent::Inbox { inbox }),
            Err(e) => tracing::warn!(code = e.code(), "cannot compute the inbox"),
        }
    }

    /// A server message was stored; `before` is the cached copy it replaced.
    /// Updates its context's row and emits the inbox when it changed.
    /// Stores a message from the server in the cache and updates the inbox
    /// from what changed; the one way the client keeps a server message.
    pub(crate) fn keep_message(&self, m: &Message) -> ClientResult<Message> {
        let before = self.cache.message(&m.id)?;
        let m = self.cache.put_message(m)?;
        self.inbox_on_message(before.as_ref(), &m);
        Ok(m)
    }

    fn inbox_on_message(&self, before: Option<&Message>, m: &Message) {
        if m.seq == 0 {
            return; // a local (not acknowledged) message
        }
        if let Err(e) = self.apply_message(before, m) {
            tracing::warn!(code = e.code(), "cannot update the inbox");
        }
    }

    /// A status moved forward (`m` as cached after the change).
    pub(crate) fn inbox_on_status(&self, m: &Message) {
        if m.status == MessageStatus::Read {
            let mut before = m.clone();
            before.status = MessageStatus::Delivered;
            self.inbox_on_message(Some(&before), m);
        }
    }

    fn apply_message(&self, before: Option<&Message>, m: &Message) -> ClientResult<()> {
        let me = &self.user.id;
        // Only the one field: `limits()` clones the whole set (file types included).
        let answer_within =
            chrono::Duration::hours(i64::from(self.limits.read().answer_within_hours));
        let to_me = m.recipient.id == *me;
        let mut recheck = false;
        let changed = self
            .cache
            .update_context(m.context.kind, &m.context.id, |c| {
                let session = match c.session.take() {
                    Some(s) => s,
                    None => opened_session(c, m),
                };
                let s = c.session.insert(session);
                let changed = if m.seq > s.last_seq {
                    if let Some(status) = m.metadata.system.and_then(|e| status_after(e.event)) {
                        s.status = status;
                    }
                    s.last_seq = m.seq;
                    s.message_count += 1;
                    s.last_activity = s.last_activity.max(m.timestamp);
                    c.last_message_at = Some(
                        c.last_message_at
                            .map_or(m.timestamp, |t| t.max(m.timestamp)),
                    );
                    if to_me && unread(m) {
                        c.unread_count += 1;
                        c.has_urgent_unread |= m.metadata.is_urgent;
                    }
                    awaiting_on_message(c, m, answer_within);
                    true
                } else if to_me && before.is_some_and(unread) && !unread(m) {
                    c.unread_count = c.unread_count.saturating_sub(1);
                    recheck = true;
                    true
                } else {
                    false
                };
                sync_session_count(c, me);
                changed
            })?;
        if recheck {
            let urgent = self
                .cache
                .has_urgent_unread(m.context.kind, &m.context.id, me)?;
            self.cache
                .update_context(m.context.kind, &m.context.id, |c| {
                    let now = urgent && c.unread_count > 0;
                    let was = std::mem::replace(&mut c.has_urgent_unread, now);
                    was != now
                })?;
        }
        if changed {
            self.emit_inbox();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: &str, kind: UserType) -> Participant {
        Participant {
            id: UserId::new(id),
            kind,
            name: id.into(),
        }
    }

    fn ctx(id: &str, date: &str, unread: u64, urgent: bool, last: Option<i64>) -> ContextSummary {
        ContextSummary {
            context: Context {
                kind: ContextType::Ordonnance,
                id: ContextId::new(id),
                title: id.into(),
                date: date.into(),
                summary: String::new(),
                patient: p("patient_1", UserType::Patient),
                doctor: p("medecin_1", UserType::Medecin),
                allowed_actions: ContextType::Ordonnance.allowed_actions().to_vec(),
            },
            session: None,
            unread_count: unread,
            last_message_at: last.and_then(chrono::DateTime::from_timestamp_millis),
            has_urgent_unread: urgent,
            awaiting_answer: None,
            doctor_absence: None,
            doctor_office_hours: None,
        }
    }

    fn ids(i: &Inbox) -> Vec<&str> {
        i.contexts.iter().map(|c| c.context.id.as_str()).collect()
    }

    #[test]
    fn doctor_order_urgent_unread_recent_then_date() {
        let list = vec![
            ctx("old_quiet", "2026-01-01", 0, false, None),
            ctx("recent_read", "2025-01-01", 0, false, Some(3_000)),
            ctx("unread", "2025-01-01", 2, false, Some(1_000)),
            ctx("urgent", "2024-01-01", 1, true, Some(500)),
            ctx("new_quiet", "2026-02-01", 0, false, None),
            ctx("older_read", "2025-01-01", 0, false, Some(2_000)),
        ];
        let inbox = Inbox::new(list.clone(), UserType::Medecin);
        assert_eq!(
            ids(&inbox),
            [
                "urgent",
                "unread",
                "recent_read",
                "older_read",
                "new_quiet",
                "old_quiet"
            ]
        );
        assert_eq!(inbox.unread_total, 3);
        let inbox = Inbox::new(list, UserType::Patient);
        assert_eq!(ids(&inbox)[..2], ["new_quiet", "old_quiet"]);
    }

    fn waiting(mut c: ContextSummary, since_ms: i64, urgent: bool) -> ContextSummary {
        let since = chrono::DateTime::from_timestamp_millis(since_ms).unwrap_or_default();
        c.awaiting_answer = Some(AwaitingAnswer {
            since,
            due_at: since,
            overdue: false,
            urgent,
            category: None,
        });
        c
    }

    #[test]
    fn doctor_sees_what_waits_after_urgent_unread_urgent_then_oldest() {
        let list = vec![
            ctx("unread", "2025-01-01", 2, false, Some(9_000)),
            waiting(
                ctx("waits_new", "2025-01-01", 0, false, Some(8_000)),
                8_000,
                false,
            ),
            waiting(
                ctx("waits_old", "2025-01-01", 0, false, Some(2_000)),
                1_000,
                false,
            ),
            waiting(
                ctx("waits_urgent", "2025-01-01", 0, false, Some(7_000)),
                7_000,
                true,
            ),
            ctx("urgent", "2024-01-01", 1, true, Some(500)),
        ];
        assert_eq!(
            ids(&Inbox::new(list, UserType::Medecin)),
            ["urgent", "waits_urgent", "waits_old", "waits_new", "unread"]
        );
    }

    fn message(from: &str, seq: u64, at_ms: i64, requires: bool, urgent: bool) -> Message {
        let patient = p("patient_1", UserType::Patient);
        let doctor = p("medecin_1", UserType::Medecin);
        let (sender, recipient) = if from == "patient_1" {
            (patient, doctor)
        } else {
            (doctor, patient)
        };
        Message {
            id: MessageId::new(format!("msg_{seq}")),
            content: String::new(),
            kind: MessageType::Text,
            sender,
            recipient,
            context: ContextRef {
                kind: ContextType::Ordonnance,
                id: ContextId::new("ord_1"),
            },
            timestamp: chrono::DateTime::from_timestamp_millis(at_ms).unwrap_or_default(),
            status: MessageStatus::Sent,
            attachments: vec![],
            metadata: MessageMetadata {
                is_urgent: urgent,
                requires_response: requires,
                category: requires.then_some(QuestionCategory::SideEffects),
                system: None,
            },
            client_message_id: ClientMessageId::new(format!("c{seq}")),
            session_id: SessionId::new("s"),
            seq,
            delivered_at: None,
            read_at: None,
            deleted_at: None,
            encrypted: None,
            e2e_error: None,
        }
    }

    #[test]
    fn a_question_waits_from_the_oldest_until_the_doctor_writes() {
        let within = chrono::Duration::hours(72);
        let mut c = ctx("ord_1", "2025-01-01", 0, false, None);
        awaiting_on_message(
            &mut c,
            &message("patient_1", 1, 1_000, false, false),
            within,
        );
        assert_eq!(c.awaiting_answer, None, "a message that asks for nothing");
        awaiting_on_message(&mut c, &message("patient_1", 2, 2_000, true, false), within);
        awaiting_on_message(&mut c, &message("patient_1", 3, 3_000, true, true), within);
        let a = c.awaiting_answer.clone().unwrap();
        assert_eq!(a.since.timestamp_millis(), 2_000, "the oldest question");
        assert_eq!(a.due_at - a.since, within);
        assert!(a.urgent, "the later one is urgent");
        assert_eq!(a.category, Some(QuestionCategory::SideEffects));
        awaiting_on_message(
            &mut c,
            &message("medecin_1", 4, 4_000, false, false),
            within,
        );
        assert_eq!(c.awaiting_answer, None, "the doctor answered");
    }
}

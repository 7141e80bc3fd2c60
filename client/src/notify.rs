//! Native notifications (notify-rust, D-Bus on Linux): one per incoming
//! message when its conversation is not open, grouped per conversation (the
//! notification is replaced and counts up), critical for urgent messages,
//! and without the message text unless the user allowed previews.

use crate::error::{ClientError, ClientResult};
use dmp_protocol::*;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

/// Application name shown by the notification server.
pub const APP_NAME: &str = "DMP Messagerie";

/// What a notification will show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    /// "Dr. Sophie Martin — Ordonnance du 12/01/2026".
    pub summary: String,
    /// "Nouveau message", "3 nouveaux messages", or a preview when allowed.
    pub body: String,
    /// Critical urgency.
    pub urgent: bool,
}

/// Builds the text of a notification. Pure, so its privacy rule is testable.
///
/// A message that is not verified end to end (clear text, or a failed
/// signature) is never urgent and never previewed: anyone who can reach the
/// server could have written it, flag included.
pub fn compose(msg: &Message, context_title: &str, count: u32, preview: bool) -> Composed {
    let summary = format!("{} — {}", msg.sender.name, context_title);
    let verified = msg.is_verified();
    let urgent = msg.metadata.is_urgent && verified;
    let mut body = if !verified {
        "Message non vérifié (non chiffré de bout en bout)".to_owned()
    } else if preview && !msg.content.is_empty() {
        let mut p: String = msg.content.chars().take(120).collect();
        if msg.content.chars().count() > 120 {
            p.push('…');
        }
        p
    } else if count <= 1 {
        "Nouveau message".to_owned()
    } else {
        format!("{count} nouveaux messages")
    };
    if urgent {
        body = format!("Urgent — {body}");
    }
    Composed {
        summary,
        body,
        urgent,
    }
}

/// Called with the conversation of a notification the user clicked.
pub type OnClick = std::sync::Arc<dyn Fn(ContextRef) + Send + Sync>;

/// Shows native notifications.
#[derive(Default)]
pub struct Notifier {
    preview: AtomicBool,
    groups: Mutex<HashMap<SessionId, (u32, u32)>>,
    on_click: Option<OnClick>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("preview", &self.preview)
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// A notifier; previews off by default.
    pub fn new(preview: bool, on_click: Option<OnClick>) -> Self {
        Self {
            preview: AtomicBool::new(preview),
            groups: Mutex::new(HashMap::new()),
            on_click,
        }
    }

    /// Allows or forbids message previews.
    pub fn set_preview(&self, on: bool) {
        self.preview.store(on, Ordering::Relaxed);
    }

    /// Forgets the group of a conversation (it was opened).
    pub fn clear(&self, session: &SessionId) {
        self.groups.lock().remove(session);
    }

    /// Notifies of `msg`; returns the notification id.
    pub async fn message(&self, msg: &Message, context_title: &str) -> ClientResult<u32> {
        let (replaces, count) = {
            let g = self.groups.lock();
            g.get(&msg.session_id)
                .map_or((0, 1), |(id, n)| (*id, n + 1))
        };
        let composed = compose(
            msg,
            context_title,
            count,
            self.preview.load(Ordering::Relaxed),
        );
        let id = show(
            composed,
            replaces,
            self.on_click.clone().map(|cb| (cb, msg.context.clone())),
        )
        .await?;
        self.groups
            .lock()
            .insert(msg.session_id.clone(), (id, count));
        Ok(id)
    }
}

#[cfg(target_os = "linux")]
async fn show(
    c: Composed,
    replaces: u32,
    click: Option<(OnClick, ContextRef)>,
) -> ClientResult<u32> {
    tokio::task::spawn_blocking(move || {
        let mut n = notify_rust::Notification::new();
        n.appname(APP_NAME)
            .summary(&c.summary)
            .body(&c.body)
            .icon("mail-message-new")
            .hint(notify_rust::Hint::Category("im.received".into()))
            .action("default", "Ouvrir")
            .urgency(if c.urgent {
                notify_rust::Urgency::Critical
            } else {
                notify_rust::Urgency::Normal
            });
        if replaces != 0 {
            n.id(replaces);
        }
        let handle = n
            .show()
            .map_err(|e| ClientError::Io(format!("notification failed: {e}")))?;
        let id = handle.id();
        if let Some((cb, context)) = click {
            // Waits on its own thread until the notification is clicked or closed.
            std::thread::spawn(move || {
                handle.wait_for_action(|action| {
                    if action == "default" {
                        cb(context);
                    }
                });
            });
        }
        Ok(id)
    })
    .await
    .map_err(|e| ClientError::Io(e.to_string()))?
}

#[cfg(not(target_os = "linux"))]
async fn show(
    _c: Composed,
    _replaces: u32,
    _click: Option<(OnClick, ContextRef)>,
) -> ClientResult<u32> {
    Err(ClientError::Io(
        "native notifications are not wired on this platform yet".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn msg(content: &str, urgent: bool) -> Message {
        let p = |id: &str, kind, name: &str| Participant {
            id: UserId::new(id),
            kind,
            name: name.into(),
        };
        Message {
            id: MessageId::new("m1"),
            content: content.into(),
            kind: MessageType::Text,
            sender: p("medecin_456", UserType::Medecin, "Dr. Sophie Martin"),
            recipient: p("patient_123", UserType::Patient, "Jean Dupont"),
            context: ContextRef {
                kind: ContextType::Ordonnance,
                id: ContextId::new("ord_789"),
            },
            timestamp: Utc::now(),
            status: MessageStatus::Sent,
            attachments: vec![],
            metadata: MessageMetadata {
                is_urgent: urgent,
                requires_response: false,
            },
            client_message_id: ClientMessageId::new("c1"),
            session_id: SessionId::new("s1"),
            seq: 1,
            delivered_at: None,
            read_at: None,
            deleted_at: None,
            encrypted: Some(true),
            e2e_error: None,
        }
    }

    #[test]
    fn default_text_never_contains_the_message() {
        let c = compose(
            &msg("Votre taux de glycémie est élevé", false),
            "Ordonnance du 12/01/2026",
            1,
            false,
        );
        assert_eq!(c.summary, "Dr. Sophie Martin — Ordonnance du 12/01/2026");
        assert_eq!(c.body, "Nouveau message");
        assert!(!c.summary.contains("glycémie") && !c.body.contains("glycémie"));
        let c = compose(&msg("x", true), "Bilan", 3, false);
        assert_eq!(c.body, "Urgent — 3 nouveaux messages");
        assert!(c.urgent);
        let c = compose(&msg("Prenez-le au repas", false), "Bilan", 1, true);
        assert_eq!(c.body, "Prenez-le au repas");
    }

    #[test]
    fn unverified_messages_are_never_urgent_nor_previewed() {
        let mut clear = msg("Rappelez le 06 00 00 00 00", true);
        clear.encrypted = Some(false);
        let mut forged = msg("Arrêtez votre traitement", true);
        forged.e2e_error = Some("E2E_BAD_SIGNATURE".into());
        let mut unchecked = msg("x", true);
        unchecked.encrypted = None;
        for m in [clear, forged, unchecked] {
            let c = compose(&m, "Bilan", 1, true);
            assert!(
                !c.urgent,
                "an unverified message raised an urgent notification"
            );
            assert!(!c.body.contains("Urgent"), "{}", c.body);
            assert!(c.body.contains("non vérifié"), "{}", c.body);
            assert!(!c.body.contains(&m.content) || m.content == "x");
        }
        assert!(
            compose(&msg("x", true), "Bilan", 1, false).urgent,
            "a verified one still is"
        );
    }
}

//! Native notifications (the Desktop Notifications Specification over D-Bus on Linux, zbus): one per incoming
//! message when its conversation is not open, grouped per conversation (the
//! notification is replaced and counts up), critical for urgent messages,
//! and without the message text unless the user allowed previews.

use crate::error::{ClientError, ClientResult};
use dmp_protocol::*;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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
pub type OnClick = Arc<dyn Fn(ContextRef) + Send + Sync>;

/// Shows native notifications.
///
/// One D-Bus connection serves the whole session: notifications are sent on
/// it, and one listener task reads the clicks from it (the notification
/// server sends `ActionInvoked` to the connection that sent the
/// notification). It opens with the first notification and closes when the
/// notifier is dropped at logout. There used to be a connection and a thread
/// per notification, each waiting for its click until the notification was
/// closed, which a replaced notification never is: a day of messages piled
/// up hundreds of threads (docs/desktop-ipc.md, "Notifications").
#[derive(Default)]
pub struct Notifier {
    preview: AtomicBool,
    groups: Mutex<HashMap<SessionId, (u32, u32)>>,
    on_click: Option<OnClick>,
    /// The conversation of each notification still on screen, by id.
    targets: Arc<Mutex<HashMap<u32, ContextRef>>>,
    bus: tokio::sync::Mutex<Option<Bus>>,
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
            targets: Arc::default(),
            bus: tokio::sync::Mutex::new(None),
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
        let id = {
            let mut bus = self.bus.lock().await;
            if bus.as_ref().is_none_or(Bus::is_closed) {
                *bus = Some(Bus::open(self.on_click.clone(), self.targets.clone()).await?);
            }
            let sent = match bus.as_ref() {
                Some(b) => b.show(&composed, replaces, self.on_click.is_some()).await,
                None => Err(ClientError::Io("no session bus".into())),
            };
            if sent.is_err() {
                // Reconnect next time (the bus or the notification server restarted).
                *bus = None;
            }
            sent?
        };
        if self.on_click.is_some() {
            self.targets.lock().insert(id, msg.context.clone());
        }
        self.groups
            .lock()
            .insert(msg.session_id.clone(), (id, count));
        Ok(id)
    }
}

/// The notification server's well-known D-Bus name, object and interface.
const NOTIFICATIONS: &str = "org.freedesktop.Notifications";
const NOTIFICATIONS_PATH: &str = "/org/freedesktop/Notifications";

/// The session's connection to the notification server and its click listener.
struct Bus {
    #[cfg(target_os = "linux")]
    conn: zbus::Connection,
    listener: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Bus {
    fn drop(&mut self) {
        if let Some(task) = self.listener.take() {
            task.abort();
        }
    }
}

#[cfg(target_os = "linux")]
impl Bus {
    async fn open(
        on_click: Option<OnClick>,
        targets: Arc<Mutex<HashMap<u32, ContextRef>>>,
    ) -> ClientResult<Self> {
        let bus_err = |e: zbus::Error| ClientError::Io(format!("notification bus: {e}"));
        let conn = zbus::Connection::session().await.map_err(bus_err)?;
        let listener = match on_click {
            Some(cb) => {
                let dbus = zbus::fdo::DBusProxy::new(&conn).await.map_err(bus_err)?;
                for member in ["ActionInvoked", "NotificationClosed"] {
                    let rule = zbus::MatchRule::builder()
                        .msg_type(zbus::message::Type::Signal)
                        .interface(NOTIFICATIONS)
                        .member(member)
                        .build()
                        .map_err(bus_err)?;
                    dbus.add_match_rule(rule)
                        .await
                        .map_err(zbus::Error::from)
                        .map_err(bus_err)?;
                }
                // Subscribed before the first notification goes out: no click is missed.
                let stream = zbus::MessageStream::from(&conn);
                Some(tokio::spawn(async move {
                    if let Err(e) = listen(stream, dbus, &targets, &cb).await {
                        tracing::warn!(error = %e, "notification clicks are no longer received");
                    }
                }))
            }
            None => None,
        };
        Ok(Self { conn, listener })
    }

    fn is_closed(&self) -> bool {
        self.listener.as_ref().is_some_and(|t| t.is_finished())
    }

    /// `Notify` (the Desktop Notifications Specification); returns the id.
    async fn show(&self, c: &Composed, replaces: u32, clickable: bool) -> ClientResult<u32> {
        use zbus::Variant;
        let actions: &[&str] = if clickable {
            &["default", "Ouvrir"]
        } else {
            &[]
        };
        let hints: HashMap<&str, Variant<'_>> = HashMap::from([
            ("category", Variant::from("im.received")),
            ("urgency", Variant::U8(if c.urgent { 2 } else { 1 })),
        ]);
        let reply = self
            .conn
            .call_method(
                Some(NOTIFICATIONS),
                NOTIFICATIONS_PATH,
                Some(NOTIFICATIONS),
                "Notify",
                &(
                    APP_NAME,
                    replaces,
                    "mail-message-new",
                    c.summary.as_str(),
                    c.body.as_str(),
                    actions,
                    hints,
                    -1i32,
                ),
            )
            .await
            .map_err(|e| ClientError::Io(format!("notification failed: {e}")))?;
        reply
            .body()
            .deserialize::<u32>()
            .map_err(|e| ClientError::Io(format!("notification failed: {e}")))
    }
}

/// Reads `ActionInvoked` and `NotificationClosed` until the connection ends.
/// Only signals sent by the current owner of the notification server's name
/// count: another program on the bus cannot open a conversation by faking a
/// click.
#[cfg(target_os = "linux")]
async fn listen(
    mut stream: zbus::MessageStream,
    dbus: zbus::fdo::DBusProxy<'static>,
    targets: &Mutex<HashMap<u32, ContextRef>>,
    cb: &OnClick,
) -> Result<(), zbus::Error> {
    use futures_util::TryStreamExt as _;
    while let Some(msg) = stream.try_next().await? {
        let header = msg.header();
        if header.message_type() != zbus::message::Type::Signal
            || header
                .interface()
                .is_none_or(|i| i.as_str() != NOTIFICATIONS)
        {
            continue;
        }
        let member = header.member().map(|m| m.as_str().to_owned());
        let Some(sender) = header.sender().map(|s| s.as_str().to_owned()) else {
            continue;
        };
        let owner = dbus
            .get_name_owner(zbus::names::BusName::from_static_str(NOTIFICATIONS)?)
            .await
            .ok();
        if owner.as_ref().map(|o| o.as_str()) != Some(sender.as_str()) {
            continue;
        }
        match member.as_deref() {
            Some("ActionInvoked") => {
                if let Ok((id, action)) = msg.body().deserialize::<(u32, String)>() {
                    let target = targets.lock().get(&id).cloned();
                    if let (Some(context), "default") = (target, action.as_str()) {
                        cb(context);
                    }
                }
            }
            Some("NotificationClosed") => {
                if let Ok((id, _reason)) = msg.body().deserialize::<(u32, u32)>() {
                    targets.lock().remove(&id);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
impl Bus {
    async fn open(
        _on_click: Option<OnClick>,
        _targets: Arc<Mutex<HashMap<u32, ContextRef>>>,
    ) -> ClientResult<Self> {
        Ok(Self { listener: None })
    }

    fn is_closed(&self) -> bool {
        false
    }

    async fn show(&self, _c: &Composed, _replaces: u32, _clickable: bool) -> ClientResult<u32> {
        Err(ClientError::Io(
            "native notifications are not wired on this platform yet".into(),
        ))
    }
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
                category: None,
                system: None,
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

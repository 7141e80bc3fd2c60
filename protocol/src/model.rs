//! Domain objects as they travel: users, contexts, sessions, messages,
//! attachments, notifications. Field names are the seed's (camelCase).

use crate::ids::*;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! wire_enum {
    // `$s:tt`, not `$s:literal`: a `literal` fragment reaches derive macros wrapped
    // in an invisible group that utoipa does not read, and the schema then shows
    // the Rust variant names (`Ordonnance`) instead of the wire values.
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $s:tt),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $s)] $variant),+
        }

        impl $name {
            /// The value as it appears on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $s),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownVariant;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($s => Ok(Self::$variant),)+
                    _ => Err(UnknownVariant(stringify!($name))),
                }
            }
        }
    };
}

/// A string that names no variant of the enum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownVariant(pub &'static str);

impl fmt::Display for UnknownVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {} value", self.0)
    }
}

impl std::error::Error for UnknownVariant {}

wire_enum!(
    /// Kind of account.
    UserType { Patient = "patient", Medecin = "medecin", Admin = "admin",
        /// The sender of `system` messages (no account).
        System = "system" }
);
wire_enum!(
    /// Kind of DMP record a conversation is about.
    ContextType { Ordonnance = "ordonnance", Examen = "examen" }
);
wire_enum!(
    /// Kind of message.
    MessageType { Text = "text", Image = "image", File = "file", Voice = "voice", System = "system" }
);
wire_enum!(
    /// Delivery status; it only moves forward.
    MessageStatus { Sent = "sent", Delivered = "delivered", Read = "read" }
);
wire_enum!(
    /// What a patient's question is about. Each kind of record offers its
    /// own (`ContextType::allowed_actions`), and `other` always fits.
    /// (docs/messaging.md, "Question categories").
    QuestionCategory {
        /// Ordonnance: a question about the prescription.
        Question = "question",
        /// Ordonnance: a dose, a duration, a wording to clarify.
        Clarification = "clarification",
        /// Ordonnance: side effects of a treatment.
        SideEffects = "side_effects",
        /// Examen: what the result says.
        Explanation = "explanation",
        /// Examen: what the result means for the patient.
        Interpretation = "interpretation",
        /// Examen: what comes next.
        NextSteps = "next_steps",
        /// Anything else, for any record.
        Other = "other",
    }
);

impl ContextType {
    /// The question categories a patient may pick for this kind of record,
    /// besides `other` (the seed's `allowedActions`).
    pub fn allowed_actions(self) -> &'static [QuestionCategory] {
        match self {
            Self::Ordonnance => &[
                QuestionCategory::Question,
                QuestionCategory::Clarification,
                QuestionCategory::SideEffects,
            ],
            Self::Examen => &[
                QuestionCategory::Explanation,
                QuestionCategory::Interpretation,
                QuestionCategory::NextSteps,
            ],
        }
    }

    /// Whether a message about this kind of record may carry `category`.
    pub fn allows(self, category: QuestionCategory) -> bool {
        category == QuestionCategory::Other || self.allowed_actions().contains(&category)
    }
}

wire_enum!(
    /// Lifecycle of a messaging session.
    SessionStatus { Active = "active", Archived = "archived", Closed = "closed" }
);

impl MessageStatus {
    /// Position in the forward-only order sent < delivered < read.
    pub fn rank(self) -> u8 {
        match self {
            Self::Sent => 0,
            Self::Delivered => 1,
            Self::Read => 2,
        }
    }
}

#[allow(clippy::derivable_impls)] // the enum is made by a macro
impl Default for MessageType {
    fn default() -> Self {
        Self::Text
    }
}

/// A user as others see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// Stable id (`patient_123`).
    pub id: UserId,
    /// Kind of account.
    #[serde(rename = "type")]
    pub kind: UserType,
    /// Display name ("Dr. Sophie Martin").
    pub name: String,
    /// Login name.
    pub username: String,
}

/// The sender or recipient of a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Participant {
    /// User id.
    pub id: UserId,
    /// Kind of account.
    #[serde(rename = "type")]
    pub kind: UserType,
    /// Display name.
    pub name: String,
}

/// Which DMP record a message belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ContextRef {
    /// ordonnance or examen.
    #[serde(rename = "type")]
    pub kind: ContextType,
    /// The record's id.
    pub id: ContextId,
}

/// Urgency flags of a message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", default)]
pub struct MessageMetadata {
    /// The sender marked the message urgent.
    pub is_urgent: bool,
    /// The sender expects an answer.
    pub requires_response: bool,
    /// What a patient's question is about (patients only; one of the
    /// record's `allowedActions` or `other`). The server sees this code: it
    /// sorts and counts the doctor's waiting questions by it
    /// (docs/security.md, "Messages").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<QuestionCategory>,
    /// On a `system` message only (set by the server, refused from clients):
    /// what happened to the conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<SystemEvent>,
}

wire_enum!(
    /// What a `system` message tells (docs/messaging.md, "Closing a conversation").
    SystemEventKind {
        /// The doctor closed the conversation: the patient can read, not write.
        Closed = "closed",
        /// The doctor reopened it.
        Reopened = "reopened",
        /// The patient wrote while the doctor is away (`absence`): the
        /// automatic answer, once per conversation and absence.
        Absent = "absent",
        /// The patient wrote outside the doctor's office hours: the
        /// automatic answer, once per conversation until the next opening.
        OutsideHours = "outside_hours"
    }
);

wire_enum!(
    /// A day of the week (ISO 8601 order).
    Weekday { Monday = "monday", Tuesday = "tuesday", Wednesday = "wednesday", Thursday = "thursday",
        Friday = "friday", Saturday = "saturday", Sunday = "sunday" }
);

/// One weekly span during which a doctor reads messages, in the time zone
/// of its [`OfficeHours`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OfficeSlot {
    /// The day.
    pub day: Weekday,
    /// Local start, `HH:MM`.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$")
    )]
    pub start: String,
    /// Local end, `HH:MM`, after the start (`24:00`: midnight).
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")
    )]
    pub end: String,
}

/// A doctor's weekly office hours (docs/messaging.md, "Office hours"): a
/// patient who writes outside them is told at once when the doctor reads
/// messages again. Public to the doctor's patients, like an office's door.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OfficeHours {
    /// IANA time zone of the slots, e.g. `Europe/Paris`.
    pub time_zone: String,
    /// The weekly spans, at most 28, not overlapping.
    pub slots: Vec<OfficeSlot>,
}

wire_enum!(
    /// Why a doctor closed a conversation: a code, not free text, because a
    /// `system` message is written by the server in clear (a doctor who wants
    /// to say more sends an end-to-end encrypted message first).
    CloseReason {
        /// The questions were answered.
        Answered = "answered",
        /// The matter needs a consultation.
        Consultation = "consultation",
        /// The patient should contact the practice another way.
        ContactPractice = "contact_practice",
        /// No reason given.
        Other = "other"
    }
);

/// The event a `system` message carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct SystemEvent {
    /// What happened.
    pub event: SystemEventKind,
    /// Why, for `closed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<CloseReason>,
    /// For `absent`: when the doctor is back (the doctor's note to patients
    /// is on the context, `doctorAbsence`); for `outside_hours`: when the
    /// doctor's next office hours start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

impl SystemEvent {
    /// The participant that sends `system` messages.
    pub fn sender() -> Participant {
        Participant {
            id: UserId::new(SYSTEM_SENDER),
            kind: UserType::System,
            name: "DMP Messagerie".into(),
        }
    }

    /// The clear-text line stored as the message's content, for readers that
    /// do not know the event (older clients, exports); French, like the
    /// product's first language. The UIs render `metadata.system` instead.
    pub fn fallback_text(&self) -> &'static str {
        match self.event {
            SystemEventKind::Closed => "Le médecin a clôturé cette conversation.",
            SystemEventKind::Reopened => "Le médecin a rouvert cette conversation.",
            SystemEventKind::Absent => {
                "Votre médecin est absent : il lira votre message à son retour. \
                 En cas d'urgence, appelez le 15 ou le 112."
            }
            SystemEventKind::OutsideHours => {
                "Votre médecin lit les messages pendant ses horaires : il lira le vôtre \
                 à sa prochaine plage. En cas d'urgence, appelez le 15 ou le 112."
            }
        }
    }
}

wire_enum!(
    /// What an entry of the patient's access log records (docs/messaging.md,
    /// "The patient's access log").
    AccessAction {
        /// Read the conversation's history (a page of it).
        Read = "read",
        /// Exported the conversation.
        Export = "export",
        /// Downloaded an attachment of it.
        Download = "download",
        /// Closed it.
        Close = "close",
        /// Reopened it.
        Reopen = "reopen",
        /// Archived it.
        Archive = "archive",
        /// An administrator acted on the patient's account (`detail` says what).
        Account = "account"
    }
);

/// One entry of the patient's access log: who, what, when; never content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct AccessLogEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Who: the patient, the doctor, or the administrator (`type: admin`).
    pub who: Participant,
    /// What.
    pub action: AccessAction,
    /// For `account`: the administrator's action (`user_disable`,
    /// `user_enable`, `user_passwd`, `import`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The sender id of `system` messages (no account has it: user ids are
/// `patient_…`, `medecin_…` or `admin_…`).
pub const SYSTEM_SENDER: &str = "system";

/// An uploaded file attached to a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// Attachment id, used to download it.
    pub id: AttachmentId,
    /// Original file name.
    pub name: String,
    /// MIME type established from the content.
    pub mime_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Hex SHA-256 of the stored bytes.
    pub sha256: String,
    /// Client side only (from the encrypted envelope, never set by the server):
    /// the encrypted thumbnail of an image, an attachment of its own on the
    /// wire (docs/security.md, "Media").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_id: Option<AttachmentId>,
    /// Client side only: width in pixels of an image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Client side only: height in pixels of an image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Client side only: duration of a voice message in milliseconds, as the
    /// sender's client measured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

impl Attachment {
    /// An attachment as the server knows it (no client-side media details).
    pub fn stored(
        id: AttachmentId,
        name: String,
        mime_type: String,
        size: u64,
        sha256: String,
    ) -> Self {
        Self {
            id,
            name,
            mime_type,
            size,
            sha256,
            thumbnail_id: None,
            width: None,
            height: None,
            duration_ms: None,
        }
    }
}

/// A message, exactly the seed's object plus `clientMessageId`, `seq`,
/// `sessionId` and the soft-delete / receipt times.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// Server-made id.
    pub id: MessageId,
    /// Content, opaque to the server (an encrypted envelope once E2E is on);
    /// empty once deleted.
    pub content: String,
    /// Kind of message.
    #[serde(rename = "type")]
    pub kind: MessageType,
    /// Who sent it.
    pub sender: Participant,
    /// Who it is for.
    pub recipient: Participant,
    /// The DMP record it is about.
    pub context: ContextRef,
    /// When the server stored it.
    pub timestamp: DateTime<Utc>,
    /// sent, delivered or read.
    pub status: MessageStatus,
    /// Attached files.
    pub attachments: Vec<Attachment>,
    /// Urgency flags.
    pub metadata: MessageMetadata,
    /// The sender's idempotency key.
    pub client_message_id: ClientMessageId,
    /// The session it belongs to.
    pub session_id: SessionId,
    /// Per-session sequence number, strictly increasing from 1.
    pub seq: u64,
    /// When the recipient's device received it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    /// When the recipient read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<DateTime<Utc>>,
    /// Set when the sender deleted it; the content is then gone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<DateTime<Utc>>,
    /// Client side only: whether the content was end-to-end encrypted (never set by the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypted: Option<bool>,
    /// Client side only: why an encrypted message could not be verified or opened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e2e_error: Option<String>,
}

impl Message {
    /// Client side: whether the content was end-to-end encrypted and every
    /// check passed (signature included). Anything else (clear text, a failed
    /// check, not checked) is shown as unverified and never raises an urgent
    /// notification.
    pub fn is_verified(&self) -> bool {
        self.encrypted == Some(true) && self.e2e_error.is_none()
    }
}

/// Unread counts of a session, per participant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct UnreadCount {
    /// Messages to the patient not yet read.
    pub patient: u64,
    /// Messages to the doctor not yet read.
    pub doctor: u64,
}

/// The two people of a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SessionParticipants {
    /// The context's patient.
    pub patient: Participant,
    /// The context's doctor.
    pub doctor: Participant,
}

/// A messaging session: one per (context, patient, doctor).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// `session_<contextType>_<contextId>_<patientId>_<doctorId>`.
    pub id: SessionId,
    /// ordonnance or examen.
    pub context_type: ContextType,
    /// The record's id.
    pub context_id: ContextId,
    /// Patient and doctor.
    pub participants: SessionParticipants,
    /// active, archived or closed.
    pub status: SessionStatus,
    /// When the session was opened.
    pub created_at: DateTime<Utc>,
    /// Time of the last message or status change.
    pub last_activity: DateTime<Utc>,
    /// Messages in the session (deleted ones included).
    pub message_count: u64,
    /// Unread messages per participant.
    pub unread_count: UnreadCount,
    /// Highest message `seq` so far (0 when empty).
    pub last_seq: u64,
}

impl Session {
    /// The id a session of this (context, patient, doctor) has.
    pub fn id_for(
        kind: ContextType,
        context: &ContextId,
        patient: &UserId,
        doctor: &UserId,
    ) -> SessionId {
        SessionId(format!(
            "session_{}_{}_{}_{}",
            kind, context, patient, doctor
        ))
    }
}

/// A DMP record (ordonnance or examen) as listed for its patient or doctor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Context {
    /// ordonnance or examen.
    #[serde(rename = "type")]
    pub kind: ContextType,
    /// Record id (`ord_789`).
    pub id: ContextId,
    /// Title ("Ordonnance du 12/01/2026").
    pub title: String,
    /// Date of the record (YYYY-MM-DD).
    #[cfg_attr(feature = "openapi", schema(format = Date))]
    pub date: String,
    /// Short description shown to the patient.
    pub summary: String,
    /// The patient.
    pub patient: Participant,
    /// The prescribing or requesting doctor.
    pub doctor: Participant,
    /// The question categories a patient may pick for this record (besides
    /// `other`), from its kind.
    #[serde(default)]
    pub allowed_actions: Vec<QuestionCategory>,
}

/// A context with its messaging state, as `GET /api/contexts` lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct ContextSummary {
    /// The record.
    #[serde(flatten)]
    pub context: Context,
    /// Its session, when one was opened.
    pub session: Option<Session>,
    /// Messages to the caller not yet read.
    pub unread_count: u64,
    /// Timestamp of the newest message of the session (null: none).
    #[serde(default)]
    pub last_message_at: Option<DateTime<Utc>>,
    /// An urgent message addressed to the caller is not read yet.
    #[serde(default)]
    pub has_urgent_unread: bool,
    /// The patient's question that waits for the doctor's answer: the
    /// oldest message from the patient marked `requiresResponse` and sent
    /// after the doctor's last message (null: nothing waits).
    #[serde(default)]
    pub awaiting_answer: Option<AwaitingAnswer>,
    /// The record's doctor is away now (docs/messaging.md, "Absence"):
    /// shown before the patient writes (null: not away).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doctor_absence: Option<Absence>,
    /// The record's doctor's weekly office hours, for the patient, when the
    /// doctor set them (docs/messaging.md, "Office hours").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doctor_office_hours: Option<OfficeHours>,
}

/// A doctor's absence: from, until, and a note to patients (docs/messaging.md,
/// "Absence"). The note is the doctor's public notice (who replaces them,
/// how to reach the practice), shown to every patient of theirs in clear.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Absence {
    /// Start.
    pub from: DateTime<Utc>,
    /// End (the doctor is back).
    pub until: DateTime<Utc>,
    /// The doctor's note to patients (at most 300 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One of a doctor's reply templates (docs/messaging.md, "Reply templates").
/// The server only ever holds the list sealed for the doctor
/// ([`crate::api::SealedTemplates`]); placeholders are filled in on the
/// doctor's device ([`ReplyTemplate::render`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplyTemplate {
    /// Made by the client (`tpl_` + a UUID); empty for a new template.
    pub id: String,
    /// What the doctor picks it by.
    pub title: String,
    /// The text, with placeholders ([`TEMPLATE_PLACEHOLDERS`]).
    pub text: String,
}

/// The placeholders a template's text may hold, and what fills them.
pub const TEMPLATE_PLACEHOLDERS: [(&str, &str); 3] = [
    ("{prenom}", "the patient's first name"),
    ("{nom}", "the patient's full name"),
    ("{document}", "the record's title"),
];

impl ReplyTemplate {
    /// Most templates a doctor keeps.
    pub const MAX_COUNT: usize = 100;
    /// Longest title, in characters.
    pub const MAX_TITLE_CHARS: usize = 80;
    /// Longest text, in characters.
    pub const MAX_TEXT_CHARS: usize = 2000;

    /// Why the template cannot be kept, if it cannot.
    pub fn problem(&self) -> Option<String> {
        let title = self.title.trim();
        if title.is_empty() || title.chars().count() > Self::MAX_TITLE_CHARS {
            return Some(format!(
                "a template's title has 1 to {} characters",
                Self::MAX_TITLE_CHARS
            ));
        }
        if title.chars().any(char::is_control) {
            return Some("a template's title is one line of text".into());
        }
        let text = self.text.trim();
        if text.is_empty() || text.chars().count() > Self::MAX_TEXT_CHARS {
            return Some(format!(
                "a template's text has 1 to {} characters",
                Self::MAX_TEXT_CHARS
            ));
        }
        if text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Some("a template's text holds no control characters".into());
        }
        None
    }

    /// The text with its placeholders filled in for one record's patient.
    /// The first name is the first word of the patient's name.
    pub fn render(&self, patient_name: &str, record_title: &str) -> String {
        let first = patient_name.split_whitespace().next().unwrap_or("");
        self.text
            .replace("{prenom}", first)
            .replace("{nom}", patient_name.trim())
            .replace("{document}", record_title.trim())
    }
}

impl AwaitingAnswer {
    /// The wait that started at `since`, due `within` later, as seen at `now`.
    pub fn new(
        since: DateTime<Utc>,
        within: chrono::Duration,
        now: DateTime<Utc>,
        urgent: bool,
        category: Option<QuestionCategory>,
    ) -> Self {
        let due_at = since + within;
        Self {
            since,
            due_at,
            overdue: now >= due_at,
            urgent,
            category,
        }
    }
}

/// A question that waits for the doctor's answer (docs/messaging.md,
/// "Answers that wait").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct AwaitingAnswer {
    /// When the oldest waiting question was sent.
    pub since: DateTime<Utc>,
    /// When an answer is expected: `since` + the server's
    /// `answer_within_hours`.
    pub due_at: DateTime<Utc>,
    /// `due_at` has passed.
    pub overdue: bool,
    /// One of the waiting questions is urgent.
    pub urgent: bool,
    /// The category of the oldest waiting question, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<QuestionCategory>,
}

/// A notification of a new message. Its text names the sender and the
/// context, never the message content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Notification id.
    pub id: NotificationId,
    /// Always `new_message` for now.
    #[serde(rename = "type")]
    pub kind: String,
    /// "Dr. Sophie Martin — Ordonnance du 12/01/2026".
    pub title: String,
    /// "Nouveau message" (no content).
    pub body: String,
    /// Who sent the message.
    pub sender: Participant,
    /// The record it is about.
    pub context: ContextRef,
    /// Its session.
    pub session_id: SessionId,
    /// The message.
    pub message_id: MessageId,
    /// Whether the message is urgent.
    pub is_urgent: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When the user saw it (the message was read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip() {
        assert_eq!("medecin".parse::<UserType>().unwrap(), UserType::Medecin);
        assert_eq!(
            serde_json::to_string(&ContextType::Examen).unwrap(),
            "\"examen\""
        );
        assert!("doctor".parse::<UserType>().is_err());
        assert!(MessageStatus::Read.rank() > MessageStatus::Delivered.rank());
    }

    #[test]
    fn session_id_shape() {
        let id = Session::id_for(
            ContextType::Ordonnance,
            &ContextId::new("ord_789"),
            &UserId::new("patient_123"),
            &UserId::new("medecin_456"),
        );
        assert_eq!(
            id.as_str(),
            "session_ordonnance_ord_789_patient_123_medecin_456"
        );
    }
}

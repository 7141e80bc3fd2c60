//! Typed identifiers. Every id is a string on the wire (`serde(transparent)`)
//! but a distinct type in code, so a `UserId` can never be passed where a
//! `ContextId` is expected.

use std::fmt;

/// Longest id accepted anywhere; ids are short machine strings.
pub const MAX_ID_LEN: usize = 128;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_:-][A-Za-z0-9_.:-]{0,127}$"))]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// Wraps a string as this id type (no validation; see [`is_valid_id`]).
            pub fn new(s: impl Into<String>) -> Self {
                Self(s.into())
            }
            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// Whether the id has an acceptable shape.
            pub fn is_valid(&self) -> bool {
                is_valid_id(&self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    };
}

typed_id!(
    /// A user: `patient_…`, `medecin_…` or `admin_…`.
    UserId
);
typed_id!(
    /// A DMP record: `ord_…` for an ordonnance, `exa_…` for an examen.
    ContextId
);
typed_id!(
    /// A messaging session, one per (context, patient, doctor).
    SessionId
);
typed_id!(
    /// A message, made by the server.
    MessageId
);
typed_id!(
    /// The idempotency key a client attaches to a send.
    ClientMessageId
);
typed_id!(
    /// An uploaded attachment.
    AttachmentId
);
typed_id!(
    /// A notification for one recipient.
    NotificationId
);

/// The shape of a valid id as a regular expression, for the OpenAPI document.
pub const ID_PATTERN: &str = "^[A-Za-z0-9_:-][A-Za-z0-9_.:-]{0,127}$";

/// Ids are 1..=128 characters of `[A-Za-z0-9_.:-]` that do not start with a
/// dot: enough for every id the DMP and the clients make, and nothing that
/// could smuggle a path or markup (`.` and `..` are not ids: HTTP clients
/// rewrite them as path segments).
pub fn is_valid_id(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.len() <= MAX_ID_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_shapes() {
        assert!(is_valid_id("patient_123"));
        assert!(is_valid_id(
            "session_ordonnance_ord_789_patient_123_medecin_456"
        ));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("../etc/passwd"));
        assert!(!is_valid_id(".."));
        assert!(!is_valid_id(".hidden"));
        assert!(is_valid_id("a.b:c-d_e"));
        assert!(!is_valid_id("a b"));
        assert!(!is_valid_id(&"x".repeat(129)));
    }

    #[test]
    fn ids_are_plain_strings_on_the_wire() {
        let id = UserId::new("patient_123");
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"patient_123\"");
        assert_eq!(id.to_string(), "patient_123");
    }
}

//! The UI's Vitest fixtures of messages must be exactly what the Rust side
//! sends (serde of `Message`): each one is parsed and serialized back, and the
//! result must be the same JSON, field for field.
#![allow(clippy::unwrap_used)]

use dmp_protocol::{Message, MessageType, SystemEvent, SystemEventKind};

#[test]
fn ui_message_fixtures_match_the_rust_type() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../ui/src/test/rust-messages.json"
    );
    let fixtures: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(!fixtures.is_empty());
    for f in fixtures {
        let m: Message = serde_json::from_value(f.clone()).unwrap();
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            f,
            "fixture differs from the Rust shape"
        );
    }
    let [verified, clear, forged]: [Message; 3] =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(verified.is_verified() && !clear.is_verified() && !forged.is_verified());
}

/// The UI's fixtures of `system` messages (closed, absent, outside office
/// hours) are what the server writes: the system sender, the event in
/// `metadata.system`, and the French fallback text of that event.
#[test]
fn ui_system_message_fixtures_match_what_the_server_writes() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../ui/src/test/rust-system-messages.json"
    );
    let fixtures: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut events = Vec::new();
    for f in fixtures {
        let m: Message = serde_json::from_value(f.clone()).unwrap();
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            f,
            "fixture differs from the Rust shape"
        );
        assert_eq!(m.kind, MessageType::System);
        assert_eq!(m.sender, SystemEvent::sender());
        let event = m
            .metadata
            .system
            .expect("a system message carries its event");
        assert_eq!(m.content, event.fallback_text());
        events.push(event.event);
    }
    assert_eq!(
        events,
        [
            SystemEventKind::OutsideHours,
            SystemEventKind::Absent,
            SystemEventKind::Closed
        ]
    );
}

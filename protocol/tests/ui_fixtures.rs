//! The UI's Vitest fixtures of messages must be exactly what the Rust side
//! sends (serde of `Message`): each one is parsed and serialized back, and the
//! result must be the same JSON, field for field.
#![allow(clippy::unwrap_used)]

use dmp_protocol::Message;

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

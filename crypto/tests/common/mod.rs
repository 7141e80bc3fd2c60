//! Helpers shared by the integration tests.
#![allow(dead_code)]

use dmp_crypto::{
    seal, AttachmentSecret, Envelope, HeaderInput, Identity, Plaintext, PublicIdentity,
};
use rand::rngs::StdRng;
use rand::SeedableRng;

/// A deterministic CSPRNG for reproducible tests.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// A user and their keys.
pub struct Party {
    pub user: &'static str,
    pub id: Identity,
    pub public: PublicIdentity,
}

impl Party {
    pub fn new(user: &'static str, seed: u64) -> Self {
        let id = Identity::generate(&mut rng(seed));
        let public = id.public();
        Self { user, id, public }
    }
}

pub fn header_input(sender: &str, recipient: &str) -> HeaderInput {
    HeaderInput {
        client_message_id: "cm_01HX7Y".into(),
        context: "ordonnance/ord_789".into(),
        session_id: "ses_42".into(),
        sender: sender.into(),
        recipient: recipient.into(),
        timestamp_ms: 1_716_000_000_123,
    }
}

pub fn attachment(n: usize) -> AttachmentSecret {
    AttachmentSecret {
        id: format!("att_{n}"),
        name: format!("résultats_{n}.pdf"),
        mime_type: "application/pdf".into(),
        size: 1000 + n as u64,
        sha256: "ab".repeat(32),
        key: "A".repeat(43),
        media: None,
    }
}

pub fn plaintext(text: &str, attachments: usize) -> Plaintext {
    Plaintext {
        text: text.into(),
        attachments: (0..attachments).map(attachment).collect(),
        category: None,
    }
}

/// Alice writes to Bob, with her own copy.
pub fn alice_to_bob(seed: u64, alice: &Party, bob: &Party, pt: &Plaintext) -> Envelope {
    seal(
        &mut rng(seed),
        &alice.id,
        header_input(alice.user, bob.user),
        pt,
        &[(bob.user, &bob.public), (alice.user, &alice.public)],
    )
    .unwrap()
}

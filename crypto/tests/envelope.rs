//! Envelope behaviour: round trips, tampering of every field, wrong keys and
//! recipients, and an independent re-implementation of the documented
//! construction (plain RFC 9180 HPKE, XChaCha20-Poly1305, Ed25519) that must
//! agree with what `seal` produces.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use common::*;
use dmp_crypto::{
    open, seal, AttachmentSecret, CryptoError, Envelope, Header, Plaintext, WrappedKey,
    ENVELOPE_PREFIX, SUITE,
};
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use hpke::{Deserializable as _, OpModeR, OpModeS, Serializable as _};
use proptest::prelude::*;
use sha2::{Digest as _, Sha256};

type Kem = hpke::kem::X25519HkdfSha256;
type HpkeAead = hpke::aead::ChaCha20Poly1305;
type HpkeKdf = hpke::kdf::HkdfSha256;

const SECRET_TEXT: &str = "Bonjour Dr Lefèvre, voici mes résultats: glycémie 1,32 g/L";

fn parties() -> (Party, Party) {
    (Party::new("alice", 1), Party::new("bob", 2))
}

// ---- the documented construction, re-implemented independently ----

fn lp(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u64).to_be_bytes());
    out.extend_from_slice(b);
}

fn spec_signed_bytes(env: &Envelope) -> Vec<u8> {
    let mut out = b"dmp-e2e-v1 signature\0".to_vec();
    lp(&mut out, &serde_json::to_vec(&env.header).unwrap());
    lp(&mut out, &env.nonce);
    lp(&mut out, &env.ciphertext);
    out.extend_from_slice(&(env.recipients.len() as u64).to_be_bytes());
    for r in &env.recipients {
        lp(&mut out, r.user.as_bytes());
        lp(&mut out, &r.enc);
        lp(&mut out, &r.wrapped);
    }
    out
}

fn spec_commitment(key: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(b"dmp-kc-v1");
    h.update(key);
    base64_url(&h.finalize())
}

fn base64_url(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn kem_secret(p: &Party) -> <Kem as hpke::Kem>::PrivateKey {
    let secret = p.id.to_secret_bytes();
    <Kem as hpke::Kem>::PrivateKey::from_bytes(&secret[1..33]).unwrap()
}

fn signing_key(p: &Party) -> SigningKey {
    let secret = p.id.to_secret_bytes();
    SigningKey::from_bytes(&secret[33..65].try_into().unwrap())
}

fn kem_public(p: &Party) -> <Kem as hpke::Kem>::PublicKey {
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&p.public.encryption_key)
        .unwrap();
    <Kem as hpke::Kem>::PublicKey::from_bytes(&raw).unwrap()
}

#[test]
fn seal_follows_the_documented_construction() {
    let (alice, bob) = parties();
    let pt = plaintext(SECRET_TEXT, 2);
    let env = alice_to_bob(10, &alice, &bob, &pt);
    let aad = serde_json::to_vec(&env.header).unwrap();

    // Signature: Ed25519 over the documented bytes, with Alice's public key.
    let vk = VerifyingKey::from_bytes(&signing_key(&alice).verifying_key().to_bytes()).unwrap();
    vk.verify(
        &spec_signed_bytes(&env),
        &Signature::from_bytes(&env.signature),
    )
    .unwrap();
    assert_eq!(env.header.version, 1);
    assert_eq!(env.header.suite, SUITE);

    // Key wrap: plain RFC 9180 HPKE Base single-shot, for Bob and for Alice.
    let mut keys = Vec::new();
    for p in [&bob, &alice] {
        let w = env.recipients.iter().find(|r| r.user == p.user).unwrap();
        assert_eq!(w.enc.len(), 32);
        assert_eq!(w.wrapped.len(), 48);
        let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&w.enc).unwrap();
        let key = hpke::single_shot_open::<HpkeAead, HpkeKdf, Kem>(
            &OpModeR::Base,
            &kem_secret(p),
            &enc,
            b"dmp-e2e-v1 content key",
            &w.wrapped,
            &aad,
        )
        .unwrap();
        keys.push(key);
    }
    assert_eq!(keys[0], keys[1], "one content key for all");
    assert_eq!(spec_commitment(&keys[0]), env.header.key_commitment);

    // Content: XChaCha20-Poly1305 under that key, aad = header bytes.
    let clear = XChaCha20Poly1305::new(keys[0].as_slice().into())
        .decrypt(
            XNonce::from_slice(&env.nonce),
            Payload {
                msg: &env.ciphertext,
                aad: &aad,
            },
        )
        .unwrap();
    let back: Plaintext = serde_json::from_slice(&clear).unwrap();
    assert_eq!(back, pt);
    let json: serde_json::Value = serde_json::from_slice(&clear).unwrap();
    assert!(json["attachments"][0].get("mimeType").is_some());
}

#[test]
fn both_recipients_open_and_header_is_the_input() {
    let (alice, bob) = parties();
    let pt = plaintext(SECRET_TEXT, 1);
    let env = alice_to_bob(11, &alice, &bob, &pt);
    let input = header_input("alice", "bob");
    for (me, who) in [("bob", &bob), ("alice", &alice)] {
        let (header, got) = open(&env, me, &who.id, &alice.public).unwrap();
        assert_eq!(got, pt);
        assert_eq!(header, env.header);
        assert_eq!(header.client_message_id, input.client_message_id);
        assert_eq!(header.context, input.context);
        assert_eq!(header.session_id, input.session_id);
        assert_eq!(header.sender, input.sender);
        assert_eq!(header.recipient, input.recipient);
        assert_eq!(header.timestamp_ms, input.timestamp_ms);
    }
}

#[test]
fn content_round_trip() {
    let (alice, bob) = parties();
    let env = alice_to_bob(12, &alice, &bob, &plaintext(SECRET_TEXT, 0));
    let content = env.to_content();
    assert!(content.starts_with(ENVELOPE_PREFIX));
    assert!(Envelope::is_envelope(&content));
    assert!(!content.contains('=') && !content.contains('+') && !content.contains('/'));
    let back = Envelope::from_content(&content).unwrap();
    assert_eq!(back, env);
    assert_eq!(back.to_content(), content);
    // Nothing of the text is visible on the wire.
    assert!(!content.contains("Lef"));
}

#[test]
fn not_a_recipient() {
    let (alice, bob) = parties();
    let carol = Party::new("carol", 3);
    let env = alice_to_bob(13, &alice, &bob, &plaintext(SECRET_TEXT, 0));
    assert_eq!(
        open(&env, "carol", &carol.id, &alice.public).unwrap_err(),
        CryptoError::NotARecipient
    );
    // Carol's keys under Bob's name: the HPKE open fails.
    assert_eq!(
        open(&env, "bob", &carol.id, &alice.public).unwrap_err(),
        CryptoError::DecryptionFailed
    );
}

#[test]
fn wrong_signer_is_bad_signature() {
    let (alice, bob) = parties();
    let mallory = Party::new("mallory", 4);
    // Mallory seals a message claiming to be Alice.
    let forged = seal(
        &mut rng(14),
        &mallory.id,
        header_input("alice", "bob"),
        &plaintext("Arrêtez le traitement", 0),
        &[("bob", &bob.public), ("alice", &alice.public)],
    )
    .unwrap();
    assert_eq!(
        open(&forged, "bob", &bob.id, &alice.public).unwrap_err(),
        CryptoError::BadSignature
    );
}

#[test]
fn swapped_sender_key_is_bad_signature() {
    let (alice, bob) = parties();
    let mallory = Party::new("mallory", 4);
    let env = alice_to_bob(15, &alice, &bob, &plaintext(SECRET_TEXT, 0));
    for wrong in [&bob.public, &mallory.public] {
        assert_eq!(
            open(&env, "bob", &bob.id, wrong).unwrap_err(),
            CryptoError::BadSignature
        );
    }
    // Alice's encryption key with Mallory's signing key, and the reverse.
    let mixed = dmp_crypto::PublicIdentity {
        encryption_key: alice.public.encryption_key.clone(),
        signing_key: mallory.public.signing_key.clone(),
    };
    assert_eq!(
        open(&env, "bob", &bob.id, &mixed).unwrap_err(),
        CryptoError::BadSignature
    );
}

#[test]
fn recipient_list_cannot_be_edited() {
    let (alice, bob) = parties();
    let mallory = Party::new("mallory", 4);
    let env = alice_to_bob(16, &alice, &bob, &plaintext(SECRET_TEXT, 0));

    let mut dropped = env.clone();
    dropped.recipients.retain(|r| r.user == "bob");
    let mut reordered = env.clone();
    reordered.recipients.reverse();
    let mut added = env.clone();
    added.recipients.push(WrappedKey {
        user: "mallory".into(),
        enc: env.recipients[0].enc.clone(),
        wrapped: env.recipients[0].wrapped.clone(),
    });
    // The server swaps in a key wrapped for Bob by Mallory.
    let other = seal(
        &mut rng(17),
        &mallory.id,
        header_input("alice", "bob"),
        &plaintext("x", 0),
        &[("bob", &bob.public)],
    )
    .unwrap();
    let mut swapped = env.clone();
    swapped.recipients[0] = other.recipients[0].clone();

    for e in [dropped, reordered, added, swapped] {
        assert_eq!(
            open(&e, "bob", &bob.id, &alice.public).unwrap_err(),
            CryptoError::BadSignature
        );
    }
}

#[test]
fn header_is_checked_before_signature() {
    let (alice, bob) = parties();
    let env = alice_to_bob(18, &alice, &bob, &plaintext(SECRET_TEXT, 0));
    let mut v2 = env.clone();
    v2.header.version = 2;
    let mut suite = env.clone();
    suite.header.suite = "RSA-OAEP".into();
    for e in [v2, suite] {
        assert_eq!(
            open(&e, "bob", &bob.id, &alice.public).unwrap_err(),
            CryptoError::UnsupportedVersion
        );
    }
    // A replay into another context is caught by the signature.
    let mut moved = env.clone();
    moved.header.context = "ordonnance/ord_790".into();
    assert_eq!(
        open(&moved, "bob", &bob.id, &alice.public).unwrap_err(),
        CryptoError::BadSignature
    );
}

/// A malicious but validly signing sender gives Bob a different content key
/// than the one committed in the header: Bob refuses it.
#[test]
fn commitment_mismatch_is_detected() {
    let (alice, bob) = parties();
    let pt = plaintext(SECRET_TEXT, 0);
    let mut env = alice_to_bob(19, &alice, &bob, &pt);
    let aad = serde_json::to_vec(&env.header).unwrap();
    let other_key = [7u8; 32];
    let (enc, wrapped) = hpke::single_shot_seal::<HpkeAead, HpkeKdf, Kem, _>(
        &OpModeS::Base,
        &kem_public(&bob),
        b"dmp-e2e-v1 content key",
        &other_key,
        &aad,
        &mut rng(20),
    )
    .unwrap();
    let i = env.recipients.iter().position(|r| r.user == "bob").unwrap();
    env.recipients[i].enc = enc.to_bytes().to_vec();
    env.recipients[i].wrapped = wrapped;
    env.signature = signing_key(&alice)
        .sign(&spec_signed_bytes(&env))
        .to_bytes();

    assert_eq!(
        open(&env, "bob", &bob.id, &alice.public).unwrap_err(),
        CryptoError::CommitmentMismatch
    );
    // Alice's own copy still opens: the envelope is otherwise valid.
    assert_eq!(open(&env, "alice", &alice.id, &alice.public).unwrap().1, pt);
}

#[test]
fn duplicate_recipient_entries_are_refused() {
    let (alice, bob) = parties();
    let mut env = alice_to_bob(21, &alice, &bob, &plaintext(SECRET_TEXT, 0));
    let dup = env.recipients[0].clone();
    env.recipients.push(dup);
    env.signature = signing_key(&alice)
        .sign(&spec_signed_bytes(&env))
        .to_bytes();
    assert!(matches!(
        open(&env, "bob", &bob.id, &alice.public),
        Err(CryptoError::Malformed(_))
    ));
}

#[test]
fn debug_output_is_redacted() {
    let (alice, bob) = parties();
    let mut pt = plaintext(SECRET_TEXT, 1);
    pt.attachments[0].key = base64_url(&[0x42; 32]);
    let dbg = format!("{pt:?}");
    assert!(dbg.contains("redacted"), "{dbg}");
    assert!(!dbg.contains("Lef") && !dbg.contains(&pt.attachments[0].key));
    assert!(
        !dbg.contains("résultats"),
        "file names are patient data: {dbg}"
    );
    let env = alice_to_bob(22, &alice, &bob, &pt);
    let dbg = format!("{env:?}");
    assert!(!dbg.contains("Lef"));
}

// ---- properties ----

#[derive(Debug, Clone, Copy)]
enum Field {
    Header,
    Nonce,
    Ciphertext,
    Enc(usize),
    Wrapped(usize),
    User(usize),
    Signature,
}

fn field() -> impl Strategy<Value = Field> {
    prop_oneof![
        Just(Field::Header),
        Just(Field::Nonce),
        Just(Field::Ciphertext),
        (0..2usize).prop_map(Field::Enc),
        (0..2usize).prop_map(Field::Wrapped),
        (0..2usize).prop_map(Field::User),
        Just(Field::Signature),
    ]
}

fn flip(bytes: &mut [u8], pos: usize, bit: u8) {
    let i = pos % bytes.len();
    bytes[i] ^= 1 << bit;
}

/// Applies the flip; `None` if the result is not even representable (a
/// header that no longer parses, a user id that is no longer UTF-8).
fn tampered(env: &Envelope, f: Field, pos: usize, bit: u8) -> Option<Envelope> {
    let mut e = env.clone();
    match f {
        Field::Header => {
            let mut bytes = serde_json::to_vec(&e.header).unwrap();
            flip(&mut bytes, pos, bit);
            let h: Header = serde_json::from_slice(&bytes).ok()?;
            assert_ne!(h, env.header, "a flipped header parsed to the same header");
            e.header = h;
        }
        Field::Nonce => flip(&mut e.nonce, pos, bit),
        Field::Ciphertext => flip(&mut e.ciphertext, pos, bit),
        Field::Enc(i) => flip(&mut e.recipients[i].enc, pos, bit),
        Field::Wrapped(i) => flip(&mut e.recipients[i].wrapped, pos, bit),
        Field::User(i) => {
            let mut b = e.recipients[i].user.clone().into_bytes();
            flip(&mut b, pos, bit);
            e.recipients[i].user = String::from_utf8(b).ok()?;
        }
        Field::Signature => flip(&mut e.signature, pos, bit),
    }
    Some(e)
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{0,300}",
        Just("Ordonnance renouvelée — posologie: 2×/jour, à jeun 💊🩺".to_owned()),
        Just(String::new()),
        "[a-zàâçéèêëîïôûùüÿœæ😀-🙏 ]{0,100}",
    ]
}

fn attachment_secret() -> impl Strategy<Value = AttachmentSecret> {
    (
        "[a-z0-9_]{1,20}",
        "\\PC{1,40}",
        "[a-z]{1,10}/[a-z0-9.+-]{1,20}",
        any::<u64>(),
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
    )
        .prop_map(
            |(id, name, mime_type, size, digest, key)| AttachmentSecret {
                id,
                name,
                mime_type,
                size,
                sha256: hex::encode(digest),
                key: base64_url(&key),
                media: None,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trip(
        seed in any::<u64>(),
        text in text(),
        attachments in prop::collection::vec(attachment_secret(), 0..5),
    ) {
        let (alice, bob) = parties();
        let pt = Plaintext {
            text,
            attachments,
            category: None,
        };
        let env = alice_to_bob(seed, &alice, &bob, &pt);
        let env = Envelope::from_content(&env.to_content()).unwrap();
        let (_, for_bob) = open(&env, "bob", &bob.id, &alice.public).unwrap();
        let (_, for_alice) = open(&env, "alice", &alice.id, &alice.public).unwrap();
        prop_assert_eq!(&for_bob, &pt);
        prop_assert_eq!(&for_alice, &pt);
    }

    #[test]
    fn any_single_bit_flip_is_rejected(
        seed in any::<u64>(),
        f in field(),
        pos in any::<usize>(),
        bit in 0u8..8,
    ) {
        let (alice, bob) = parties();
        let env = alice_to_bob(seed, &alice, &bob, &plaintext(SECRET_TEXT, 1));
        if let Some(bad) = tampered(&env, f, pos, bit) {
            for (me, who) in [("bob", &bob), ("alice", &alice)] {
                let err = open(&bad, me, &who.id, &alice.public);
                prop_assert!(err.is_err(), "{:?} flip accepted for {}", f, me);
                let msg = err.unwrap_err().to_string();
                prop_assert!(!msg.contains("Lef") && !msg.contains("glyc"), "{}", msg);
            }
        }
    }

    /// The same on the wire: flip one bit of the decoded JSON.
    #[test]
    fn any_single_bit_flip_of_the_wire_json_is_rejected(
        seed in any::<u64>(),
        pos in any::<usize>(),
        bit in 0u8..8,
    ) {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (alice, bob) = parties();
        let env = alice_to_bob(seed, &alice, &bob, &plaintext(SECRET_TEXT, 0));
        let content = env.to_content();
        let mut json = engine.decode(&content[ENVELOPE_PREFIX.len()..]).unwrap();
        flip(&mut json, pos, bit);
        let bad = format!("{ENVELOPE_PREFIX}{}", engine.encode(&json));
        if let Ok(parsed) = Envelope::from_content(&bad) {
            prop_assert_ne!(&parsed, &env);
            prop_assert!(open(&parsed, "bob", &bob.id, &alice.public).is_err());
        }
    }

    #[test]
    fn strangers_are_not_recipients(seed in any::<u64>(), stranger in "[a-z]{1,12}") {
        prop_assume!(stranger != "alice" && stranger != "bob");
        let (alice, bob) = parties();
        let env = alice_to_bob(seed, &alice, &bob, &plaintext(SECRET_TEXT, 0));
        let carol = Party::new("carol", seed ^ 0x5555);
        prop_assert_eq!(
            open(&env, &stranger, &carol.id, &alice.public).unwrap_err(),
            CryptoError::NotARecipient
        );
    }

    #[test]
    fn foreign_signers_are_bad_signatures(seed in any::<u64>()) {
        let (alice, bob) = parties();
        let mallory = Party::new("mallory", seed);
        let forged = seal(
            &mut rng(seed),
            &mallory.id,
            header_input("alice", "bob"),
            &plaintext(SECRET_TEXT, 0),
            &[("bob", &bob.public)],
        )
        .unwrap();
        prop_assert_eq!(
            open(&forged, "bob", &bob.id, &alice.public).unwrap_err(),
            CryptoError::BadSignature
        );
    }
}

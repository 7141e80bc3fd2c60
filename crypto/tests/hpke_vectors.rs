//! RFC 9180 known-answer tests for the HPKE suites this crate relies on:
//! DHKEM(X25519, HKDF-SHA256) with HKDF-SHA256 and ChaCha20-Poly1305 (the
//! suite of the envelope's key wrap), plus AES-128-GCM since it costs nothing.
//! All four modes are checked. See `tests/vectors/README.md` for provenance.
//!
//! For each vector, both sides are run from the vector's inputs alone:
//! - key derivation: `derive_keypair(ikmR / ikmE / ikmS)` gives exactly
//!   skRm/pkRm, skEm/pkEm, skSm/pkSm;
//! - sender: `setup_sender` with an RNG that yields exactly `ikmE` (hpke
//!   derives the ephemeral key pair from 32 random bytes with `DeriveKeyPair`,
//!   as RFC 9180 §7.1.3 specifies) gives exactly `enc`; sealing every
//!   plaintext in sequence gives exactly every `ct`; exports match;
//! - receiver: `setup_receiver(skR, enc)` opens every `ct` with its `aad` to
//!   `pt`, refuses it under a wrong aad, and its exports match.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hpke::aead::{Aead, AesGcm128, ChaCha20Poly1305};
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, PskBundle, Serializable};
use rand_core::{CryptoRng, RngCore};
use serde_json::Value;

type Kem = X25519HkdfSha256;

const VECTORS: &str = include_str!("vectors/hpke-rfc9180-x25519-sha256.json");

/// An "RNG" that hands out a fixed byte string once, then panics. Test-only:
/// it lets the sender's ephemeral key be the vector's.
struct FixedBytes {
    bytes: Vec<u8>,
    pos: usize,
}

impl RngCore for FixedBytes {
    fn next_u32(&mut self) -> u32 {
        unreachable!("hpke only uses fill_bytes")
    }
    fn next_u64(&mut self) -> u64 {
        unreachable!("hpke only uses fill_bytes")
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        let end = self.pos + dest.len();
        assert!(end <= self.bytes.len(), "FixedBytes exhausted");
        dest.copy_from_slice(&self.bytes[self.pos..end]);
        self.pos = end;
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for FixedBytes {}

fn h(v: &Value, field: &str) -> Vec<u8> {
    hex::decode(
        v[field]
            .as_str()
            .unwrap_or_else(|| panic!("missing {field}")),
    )
    .unwrap()
}

fn vectors() -> Vec<Value> {
    serde_json::from_str::<Vec<Value>>(VECTORS).unwrap()
}

/// Runs one vector; returns the number of encryptions and exports checked.
fn check_vector<A: Aead>(v: &Value) -> (usize, usize) {
    let mode = v["mode"].as_u64().unwrap();
    let info = h(v, "info");

    // Key derivation.
    let (sk_r, pk_r) = Kem::derive_keypair(&h(v, "ikmR"));
    assert_eq!(sk_r.to_bytes().to_vec(), h(v, "skRm"), "skRm");
    assert_eq!(pk_r.to_bytes().to_vec(), h(v, "pkRm"), "pkRm");
    let (sk_e, pk_e) = Kem::derive_keypair(&h(v, "ikmE"));
    assert_eq!(sk_e.to_bytes().to_vec(), h(v, "skEm"), "skEm");
    assert_eq!(pk_e.to_bytes().to_vec(), h(v, "pkEm"), "pkEm");
    let sender_static = if mode == 2 || mode == 3 {
        let (sk_s, pk_s) = Kem::derive_keypair(&h(v, "ikmS"));
        assert_eq!(sk_s.to_bytes().to_vec(), h(v, "skSm"), "skSm");
        assert_eq!(pk_s.to_bytes().to_vec(), h(v, "pkSm"), "pkSm");
        Some((sk_s, pk_s))
    } else {
        None
    };
    // The private keys given in the vector deserialize to the derived ones.
    assert!(<Kem as hpke::Kem>::PrivateKey::from_bytes(&h(v, "skRm")).unwrap() == sk_r);

    let (psk, psk_id) = if mode == 1 || mode == 3 {
        (h(v, "psk"), h(v, "psk_id"))
    } else {
        (Vec::new(), Vec::new())
    };
    let bundle = PskBundle {
        psk: &psk,
        psk_id: &psk_id,
    };
    let (mode_s, mode_r): (OpModeS<Kem>, OpModeR<Kem>) = match (mode, sender_static) {
        (0, None) => (OpModeS::Base, OpModeR::Base),
        (1, None) => (OpModeS::Psk(bundle), OpModeR::Psk(bundle)),
        (2, Some((sk, pk))) => (OpModeS::Auth((sk, pk.clone())), OpModeR::Auth(pk)),
        (3, Some((sk, pk))) => (
            OpModeS::AuthPsk((sk, pk.clone()), bundle),
            OpModeR::AuthPsk(pk, bundle),
        ),
        _ => panic!("unexpected mode {mode}"),
    };

    // Sender, with the vector's ephemeral.
    let mut rng = FixedBytes {
        bytes: h(v, "ikmE"),
        pos: 0,
    };
    let (enc, mut sender) =
        hpke::setup_sender::<A, HkdfSha256, Kem, _>(&mode_s, &pk_r, &info, &mut rng).unwrap();
    assert_eq!(rng.pos, 32, "the ephemeral consumed exactly ikmE");
    assert_eq!(enc.to_bytes().to_vec(), h(v, "enc"), "enc");

    // Receiver, from the vector's enc.
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&h(v, "enc")).unwrap();
    let mut receiver =
        hpke::setup_receiver::<A, HkdfSha256, Kem>(&mode_r, &sk_r, &enc, &info).unwrap();

    let encryptions = v["encryptions"].as_array().unwrap();
    for (i, e) in encryptions.iter().enumerate() {
        let (aad, pt, ct) = (h(e, "aad"), h(e, "pt"), h(e, "ct"));
        assert_eq!(sender.seal(&pt, &aad).unwrap(), ct, "seal #{i}");
        // A wrong aad fails without advancing the receiver's sequence number.
        let mut wrong_aad = aad.clone();
        wrong_aad.push(0);
        assert!(
            receiver.open(&ct, &wrong_aad).is_err(),
            "open #{i} wrong aad"
        );
        assert_eq!(receiver.open(&ct, &aad).unwrap(), pt, "open #{i}");
    }

    let exports = v["exports"].as_array().unwrap();
    for (i, x) in exports.iter().enumerate() {
        let len = usize::try_from(x["L"].as_u64().unwrap()).unwrap();
        let ctx = h(x, "exporter_context");
        let expected = h(x, "exported_value");
        let mut out_s = vec![0u8; len];
        sender.export(&ctx, &mut out_s).unwrap();
        let mut out_r = vec![0u8; len];
        receiver.export(&ctx, &mut out_r).unwrap();
        assert_eq!(out_s, expected, "sender export #{i}");
        assert_eq!(out_r, expected, "receiver export #{i}");
    }
    (encryptions.len(), exports.len())
}

#[test]
fn rfc9180_x25519_sha256_all_modes() {
    let mut seen = Vec::new();
    let (mut n_enc, mut n_exp) = (0, 0);
    for v in vectors() {
        assert_eq!(v["kem_id"], 0x20);
        assert_eq!(v["kdf_id"], 1);
        let (a, b) = match v["aead_id"].as_u64().unwrap() {
            1 => check_vector::<AesGcm128>(&v),
            3 => check_vector::<ChaCha20Poly1305>(&v),
            other => panic!("unexpected aead {other}"),
        };
        n_enc += a;
        n_exp += b;
        seen.push((v["aead_id"].as_u64().unwrap(), v["mode"].as_u64().unwrap()));
    }
    seen.sort_unstable();
    let expected: Vec<(u64, u64)> = [1, 3]
        .iter()
        .flat_map(|&a| (0..4).map(move |m| (a, m)))
        .collect();
    assert_eq!(seen, expected, "one vector per (aead, mode)");
    assert_eq!((n_enc, n_exp), (8 * 257, 8 * 3));
}

#[test]
fn suite_identifiers_match_the_vectors() {
    assert_eq!(<Kem as hpke::Kem>::KEM_ID, 0x0020);
    assert_eq!(<HkdfSha256 as hpke::kdf::Kdf>::KDF_ID, 0x0001);
    assert_eq!(<ChaCha20Poly1305 as Aead>::AEAD_ID, 0x0003);
}

#[test]
fn a_tampered_vector_is_caught() {
    // The checker itself must be able to fail: corrupt one ciphertext.
    let mut v = vectors()
        .into_iter()
        .find(|v| v["aead_id"] == 3 && v["mode"] == 0)
        .unwrap();
    let ct = v["encryptions"][5]["ct"].as_str().unwrap().to_owned();
    let flipped = format!(
        "{}{}",
        if ct.starts_with('0') { "1" } else { "0" },
        &ct[1..]
    );
    v["encryptions"][5]["ct"] = Value::String(flipped);
    let result = std::panic::catch_unwind(|| check_vector::<ChaCha20Poly1305>(&v));
    assert!(result.is_err());
}

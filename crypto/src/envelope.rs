//! One message, end to end. A fresh 32-byte content key encrypts the message
//! (text plus the keys of its attachments) with XChaCha20-Poly1305; the
//! content key is wrapped with HPKE (RFC 9180, mode Base,
//! DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305) to every
//! participant, the sender included so that their other devices can read
//! their own history. The header (ids, context, timestamp, a commitment to the
//! content key) is the associated data of every AEAD, and the sender signs the
//! header, nonce, ciphertext and every wrapped key with Ed25519.
//!
//! [`open`] checks in a fixed order and returns nothing until everything has
//! passed: version and suite, then the signature (before any decryption), then
//! this user's wrapped key, the HPKE open, the key commitment (so that every
//! recipient provably gets the same content key, hence the same plaintext) and
//! finally the content AEAD.
//!
//! On the wire an envelope is [`ENVELOPE_PREFIX`] followed by the unpadded
//! base64url of its JSON, so it fits the existing `content` string of a
//! message and the server can tell encrypted content from clear text.

use std::collections::HashSet;
use std::fmt;

use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use ed25519_dalek::{Signature, Signer as _};
use hpke::{Deserializable as _, OpModeR, OpModeS, Serializable as _};
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::encoding::{b64, b64_array, b64_vec, put_lp, unb64, unb64_array};
use crate::error::json_error;
use crate::identity::{Identity, Kem, PublicIdentity};
use crate::CryptoError;

/// Prefix of an encrypted message's `content` on the wire.
pub const ENVELOPE_PREFIX: &str = "dmp-e2e:v1:";
/// Header `suite` of version 1: HPKE for the key wrap, XChaCha20-Poly1305 for
/// the content, Ed25519 for the signature.
pub const SUITE: &str =
    "HPKE-Base(X25519-HKDF-SHA256,HKDF-SHA256,ChaCha20Poly1305)+XChaCha20Poly1305+Ed25519";
/// Header `version` of this format.
const VERSION: u8 = 1;
/// HPKE `info` for wrapping a content key.
const HPKE_INFO: &[u8] = b"dmp-e2e-v1 content key";
/// Domain separation of the signed bytes.
const SIGNATURE_LABEL: &[u8] = b"dmp-e2e-v1 signature\0";
/// Domain separation of the key commitment.
const COMMITMENT_LABEL: &[u8] = b"dmp-kc-v1";

type HpkeAead = hpke::aead::ChaCha20Poly1305;
type HpkeKdf = hpke::kdf::HkdfSha256;
type EncappedKey = <Kem as hpke::Kem>::EncappedKey;

/// What the caller knows about a message before it is sealed. Every field ends
/// up in the authenticated [`Header`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderInput {
    /// Client-made idempotency id of the message.
    pub client_message_id: String,
    /// Medical context the message belongs to, e.g. `ordonnance/ord_789`.
    pub context: String,
    /// Consultation session id.
    pub session_id: String,
    /// User id of the sender.
    pub sender: String,
    /// User id of the peer the message is addressed to.
    pub recipient: String,
    /// Sender's clock, milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

/// The authenticated, unencrypted part of an envelope: what the message is
/// about and who sent it to whom. Its canonical JSON (this struct's field
/// order, no whitespace) is the associated data of every AEAD in the envelope
/// and is covered by the signature.
///
/// The server can read it; a receiving client should check that `sender`,
/// `context` and `session_id` agree with the conversation the server delivered
/// the message in, so that a validly signed message cannot be replayed
/// elsewhere.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Header {
    /// Format version, 1.
    pub version: u8,
    /// Cipher suite, [`SUITE`].
    pub suite: String,
    /// Client-made idempotency id of the message.
    pub client_message_id: String,
    /// Medical context, e.g. `ordonnance/ord_789`.
    pub context: String,
    /// Consultation session id.
    pub session_id: String,
    /// User id of the sender.
    pub sender: String,
    /// User id of the addressed peer.
    pub recipient: String,
    /// Sender's clock, milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// Unpadded base64url of SHA-256(`dmp-kc-v1` || content key).
    pub key_commitment: String,
}

impl Header {
    /// The canonical bytes that are authenticated: `serde_json` of the struct.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, CryptoError> {
        serde_json::to_vec(self).map_err(|e| json_error("header", &e))
    }
}

/// The encrypted part of a message. Zeroized on drop; `Debug` is redacted.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
#[serde(rename_all = "camelCase")]
pub struct Plaintext {
    /// The message text.
    pub text: String,
    /// Keys and metadata of the attachments; the blobs themselves are
    /// uploaded encrypted (see [`crate::attachment`]).
    #[serde(default)]
    pub attachments: Vec<AttachmentSecret>,
    /// The patient's question category (`side_effects`, …), sealed so that
    /// the recipient can check the clear code the server sees against it
    /// (docs/security.md, "Question categories"). Absent from messages
    /// sealed before it existed, and from those without a category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

impl fmt::Debug for Plaintext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Plaintext")
            .field("text", &"<redacted>")
            .field("attachments", &self.attachments)
            .field("category", &self.category)
            .finish()
    }
}

/// What a recipient needs to fetch, decrypt and check one attachment. Travels
/// only inside the encrypted [`Plaintext`]. Zeroized on drop; `Debug` shows
/// the server id and size only.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentSecret {
    /// Server attachment id of the encrypted blob.
    pub id: String,
    /// Original file name.
    pub name: String,
    /// MIME type of the clear file.
    pub mime_type: String,
    /// Size of the clear file in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256 of the clear file.
    pub sha256: String,
    /// Unpadded base64url of the 32-byte file key.
    pub key: String,
    /// Image or voice details (absent for other files and in messages of
    /// older clients, which ignore it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<MediaSecret>,
}

/// What the sender's client measured of an image or a voice message; only
/// inside the encrypted [`Plaintext`] (docs/security.md, "Media").
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop, Default)]
#[serde(rename_all = "camelCase")]
pub struct MediaSecret {
    /// Width in pixels of an image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Height in pixels of an image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Duration of a voice message in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// The image's thumbnail: an encrypted attachment of its own, with its own key.
    /// (Skipped by `zeroize()`: the boxed secret zeroizes itself when dropped.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[zeroize(skip)]
    pub thumbnail: Option<Box<AttachmentSecret>>,
}

impl fmt::Debug for MediaSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaSecret")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("duration_ms", &self.duration_ms)
            .field("thumbnail", &self.thumbnail)
            .finish()
    }
}

impl fmt::Debug for AttachmentSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachmentSecret")
            .field("id", &self.id)
            .field("size", &self.size)
            .field("name", &"<redacted>")
            .field("key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// The content key of one envelope, wrapped to one participant.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[serde(deny_unknown_fields)]
pub struct WrappedKey {
    /// User id of the participant.
    pub user: String,
    /// HPKE encapsulated key (32 bytes for X25519).
    #[serde(with = "b64_vec")]
    pub enc: Vec<u8>,
    /// HPKE ciphertext of the content key (32 bytes + 16-byte tag).
    #[serde(with = "b64_vec")]
    pub wrapped: Vec<u8>,
}

/// A sealed message. Serialized as JSON with unpadded base64url byte fields;
/// [`Envelope::to_content`] gives the wire string.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Authenticated header, readable by the server.
    pub header: Header,
    /// XChaCha20-Poly1305 nonce of the content.
    #[serde(with = "b64_array")]
    pub nonce: [u8; 24],
    /// Encrypted [`Plaintext`] JSON, with its 16-byte tag.
    #[serde(with = "b64_vec")]
    pub ciphertext: Vec<u8>,
    /// The content key wrapped to each participant, in the order signed.
    pub recipients: Vec<WrappedKey>,
    /// Sender's Ed25519 signature (see [`seal`]).
    #[serde(with = "b64_array")]
    pub signature: [u8; 64],
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let users: Vec<&str> = self.recipients.iter().map(|r| r.user.as_str()).collect();
        f.debug_struct("Envelope")
            .field("header", &self.header)
            .field("ciphertext_len", &self.ciphertext.len())
            .field("recipients", &users)
            .finish_non_exhaustive()
    }
}

impl Envelope {
    /// The wire form: [`ENVELOPE_PREFIX`] + unpadded base64url of the JSON.
    pub fn to_content(&self) -> String {
        #[allow(clippy::expect_used)]
        let json = serde_json::to_vec(self)
            .expect("an envelope is strings, integers and byte fields: serializing cannot fail");
        format!("{ENVELOPE_PREFIX}{}", b64(&json))
    }

    /// Parses [`Envelope::to_content`]. Only parses: nothing is verified
    /// until [`open`].
    pub fn from_content(s: &str) -> Result<Self, CryptoError> {
        let Some(body) = s.strip_prefix(ENVELOPE_PREFIX) else {
            return Err(if s.starts_with("dmp-e2e:") {
                CryptoError::UnsupportedVersion
            } else {
                CryptoError::malformed("envelope: missing prefix")
            });
        };
        let json = unb64(body, "envelope")?;
        let value: serde_json::Value =
            serde_json::from_slice(&json).map_err(|e| json_error("envelope", &e))?;
        // A newer header may carry fields this version does not know: say
        // "unsupported version" rather than "malformed" for it.
        if let Some(v) = value.pointer("/header/version") {
            if v.as_u64() != Some(u64::from(VERSION)) {
                return Err(CryptoError::UnsupportedVersion);
            }
        }
        serde_json::from_value(value).map_err(|e| json_error("envelope", &e))
    }

    /// Whether a message `content` is an encrypted envelope (by its prefix).
    pub fn is_envelope(s: &str) -> bool {
        s.starts_with(ENVELOPE_PREFIX)
    }
}

/// Seals `plaintext` from `sender` to `recipients`.
///
/// `recipients` are `(user id, public identity)` pairs and must include the
/// sender's own, or the sender's other devices cannot read the message back.
/// Each is validated (`BadKey`); an empty list or a repeated user id is
/// `Malformed`.
///
/// Construction: content key `k` and nonce random; `header.key_commitment =
/// SHA-256("dmp-kc-v1" || k)`; `ciphertext = XChaCha20-Poly1305(k, nonce,
/// aad = header bytes, plaintext JSON)`; for each recipient, HPKE Base
/// single-shot seal of `k` with info `dmp-e2e-v1 content key` and aad = header
/// bytes; signature = Ed25519 over `"dmp-e2e-v1 signature\0"` followed by the
/// length-prefixed header bytes, nonce, ciphertext, the recipient count and
/// each recipient's user, enc and wrapped key in order.
pub fn seal<R: CryptoRng + RngCore>(
    rng: &mut R,
    sender: &Identity,
    input: HeaderInput,
    plaintext: &Plaintext,
    recipients: &[(&str, &PublicIdentity)],
) -> Result<Envelope, CryptoError> {
    if recipients.is_empty() {
        return Err(CryptoError::malformed("envelope: no recipients"));
    }
    let mut seen = HashSet::new();
    let mut keys = Vec::with_capacity(recipients.len());
    for (user, public) in recipients {
        if !seen.insert(*user) {
            return Err(CryptoError::malformed("envelope: duplicate recipient"));
        }
        public.validate()?;
        keys.push((*user, public.kem_public_key()?));
    }

    let mut content_key = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(content_key.as_mut());
    let mut nonce = [0u8; 24];
    rng.fill_bytes(&mut nonce);

    let header = Header {
        version: VERSION,
        suite: SUITE.to_owned(),
        client_message_id: input.client_message_id,
        context: input.context,
        session_id: input.session_id,
        sender: input.sender,
        recipient: input.recipient,
        timestamp_ms: input.timestamp_ms,
        key_commitment: b64(&key_commitment(&content_key)),
    };
    let aad = header.canonical_bytes()?;

    let clear =
        Zeroizing::new(serde_json::to_vec(plaintext).map_err(|e| json_error("plaintext", &e))?);
    let ciphertext = XChaCha20Poly1305::new(content_key.as_ref().into())
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &clear,
                aad: &aad,
            },
        )
        .map_err(|_| CryptoError::malformed("plaintext: too large"))?;

    let mut wrapped_keys = Vec::with_capacity(keys.len());
    for (user, pk) in &keys {
        let (enc, wrapped) = hpke::single_shot_seal::<HpkeAead, HpkeKdf, Kem, R>(
            &OpModeS::Base,
            pk,
            HPKE_INFO,
            content_key.as_ref(),
            &aad,
            rng,
        )
        .map_err(|_| CryptoError::BadKey)?;
        wrapped_keys.push(WrappedKey {
            user: (*user).to_owned(),
            enc: enc.to_bytes().to_vec(),
            wrapped,
        });
    }

    let to_sign = signed_bytes(&aad, &nonce, &ciphertext, &wrapped_keys);
    let signature = sender.signing_key().sign(&to_sign).to_bytes();
    Ok(Envelope {
        header,
        nonce,
        ciphertext,
        recipients: wrapped_keys,
        signature,
    })
}

/// Verifies and decrypts `env` for user `me`, holder of `my_identity`.
///
/// `sender_public` must be the pinned public identity of `env.header.sender`
/// as this client knows it, not one taken from the envelope or blindly from
/// the server. The caller should also check that the header's `sender`,
/// `context` and `session_id` match where the message was delivered.
///
/// Checks, in order: version and suite (`UnsupportedVersion`); the sender's
/// key (`BadKey`) and signature (`BadSignature`), before anything is
/// decrypted; a single wrapped key for `me` (`NotARecipient`, or `Malformed`
/// if the user appears twice); HPKE open (`DecryptionFailed`); key commitment
/// (`CommitmentMismatch`); content AEAD (`DecryptionFailed`); plaintext JSON
/// (`Malformed`). Returns nothing unless every check passes.
pub fn open(
    env: &Envelope,
    me: &str,
    my_identity: &Identity,
    sender_public: &PublicIdentity,
) -> Result<(Header, Plaintext), CryptoError> {
    let header = &env.header;
    if header.version != VERSION || header.suite != SUITE {
        return Err(CryptoError::UnsupportedVersion);
    }

    let verifying_key = sender_public.verifying_key()?;
    let aad = header.canonical_bytes()?;
    let to_verify = signed_bytes(&aad, &env.nonce, &env.ciphertext, &env.recipients);
    verifying_key
        .verify_strict(&to_verify, &Signature::from_bytes(&env.signature))
        .map_err(|_| CryptoError::BadSignature)?;

    let mut mine = env.recipients.iter().filter(|r| r.user == me);
    let wrapped = mine.next().ok_or(CryptoError::NotARecipient)?;
    if mine.next().is_some() {
        return Err(CryptoError::malformed("envelope: duplicate recipient"));
    }
    let enc = EncappedKey::from_bytes(&wrapped.enc).map_err(|_| CryptoError::DecryptionFailed)?;
    let content_key = Zeroizing::new(
        hpke::single_shot_open::<HpkeAead, HpkeKdf, Kem>(
            &OpModeR::Base,
            my_identity.kem_secret(),
            &enc,
            HPKE_INFO,
            &wrapped.wrapped,
            &aad,
        )
        .map_err(|_| CryptoError::DecryptionFailed)?,
    );
    let content_key: Zeroizing<[u8; 32]> = Zeroizing::new(
        content_key
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::DecryptionFailed)?,
    );

    let expected: [u8; 32] = unb64_array(&header.key_commitment, "keyCommitment")?;
    if !bool::from(key_commitment(&content_key).ct_eq(&expected)) {
        return Err(CryptoError::CommitmentMismatch);
    }

    let clear = Zeroizing::new(
        XChaCha20Poly1305::new(content_key.as_ref().into())
            .decrypt(
                XNonce::from_slice(&env.nonce),
                Payload {
                    msg: &env.ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::DecryptionFailed)?,
    );
    let plaintext: Plaintext =
        serde_json::from_slice(&clear).map_err(|e| json_error("plaintext", &e))?;
    Ok((header.clone(), plaintext))
}

/// SHA-256(`dmp-kc-v1` || key): binds the header to one content key, since
/// the AEAD alone does not commit to its key.
fn key_commitment(key: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(COMMITMENT_LABEL);
    h.update(key);
    h.finalize().into()
}

/// The bytes the sender signs.
fn signed_bytes(
    aad: &[u8],
    nonce: &[u8; 24],
    ciphertext: &[u8],
    recipients: &[WrappedKey],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        SIGNATURE_LABEL.len() + aad.len() + ciphertext.len() + 128 * (recipients.len() + 1),
    );
    out.extend_from_slice(SIGNATURE_LABEL);
    put_lp(&mut out, aad);
    put_lp(&mut out, nonce);
    put_lp(&mut out, ciphertext);
    out.extend_from_slice(&(recipients.len() as u64).to_be_bytes());
    for r in recipients {
        put_lp(&mut out, r.user.as_bytes());
        put_lp(&mut out, &r.enc);
        put_lp(&mut out, &r.wrapped);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn input() -> HeaderInput {
        HeaderInput {
            client_message_id: "cm_1".into(),
            context: "ordonnance/ord_789".into(),
            session_id: "ses_1".into(),
            sender: "alice".into(),
            recipient: "bob".into(),
            timestamp_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn header_json_is_camel_case_in_declared_order() {
        let mut rng = StdRng::seed_from_u64(1);
        let alice = Identity::generate(&mut rng);
        let bob = Identity::generate(&mut rng);
        let pt = Plaintext {
            text: "x".into(),
            attachments: vec![],
            category: None,
        };
        let env = seal(&mut rng, &alice, input(), &pt, &[("bob", &bob.public())]).unwrap();
        let s = String::from_utf8(env.header.canonical_bytes().unwrap()).unwrap();
        assert!(s.starts_with(r#"{"version":1,"suite":"HPKE-Base("#), "{s}");
        assert!(s.contains(r#","clientMessageId":"cm_1","context":"ordonnance/ord_789","sessionId":"ses_1","sender":"alice","recipient":"bob","timestampMs":1700000000000,"keyCommitment":""#));
    }

    #[test]
    fn seal_refuses_bad_recipient_lists() {
        let mut rng = StdRng::seed_from_u64(2);
        let alice = Identity::generate(&mut rng);
        let pa = alice.public();
        let pt = Plaintext {
            text: "x".into(),
            attachments: vec![],
            category: None,
        };
        assert!(matches!(
            seal(&mut rng, &alice, input(), &pt, &[]),
            Err(CryptoError::Malformed(_))
        ));
        assert!(matches!(
            seal(&mut rng, &alice, input(), &pt, &[("a", &pa), ("a", &pa)]),
            Err(CryptoError::Malformed(_))
        ));
        let bad = PublicIdentity {
            encryption_key: b64(&[0u8; 32]),
            signing_key: pa.signing_key.clone(),
        };
        assert_eq!(
            seal(&mut rng, &alice, input(), &pt, &[("a", &bad)]).unwrap_err(),
            CryptoError::BadKey
        );
    }

    #[test]
    fn from_content_distinguishes_versions() {
        assert_eq!(
            Envelope::from_content("dmp-e2e:v2:AAAA").unwrap_err(),
            CryptoError::UnsupportedVersion
        );
        assert!(matches!(
            Envelope::from_content("hello"),
            Err(CryptoError::Malformed(_))
        ));
        let v2 = format!(
            "{ENVELOPE_PREFIX}{}",
            b64(br#"{"header":{"version":2,"future":true}}"#)
        );
        assert_eq!(
            Envelope::from_content(&v2).unwrap_err(),
            CryptoError::UnsupportedVersion
        );
        assert!(Envelope::is_envelope("dmp-e2e:v1:xyz"));
        assert!(!Envelope::is_envelope("Bonjour docteur"));
    }
}

//! Data a user keeps for themselves only, such as a doctor's reply templates
//! (docs/messaging.md, "Reply templates"). The server stores the sealed form
//! and cannot read it; every device holding the user's [`Identity`] (restored
//! from the key backup on a new device) can.
//!
//! The key is derived from the identity's secret with HKDF-SHA256, separately
//! per `label`, so one kind of private data can never be opened as another.
//! The data is sealed with XChaCha20-Poly1305 under a random nonce; the
//! associated data binds the label and the user id. Encoded as
//! `dmp-private:v1:` + base64url(nonce || ciphertext).

use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand_core::{CryptoRng, RngCore};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::encoding::{b64, unb64};
use crate::identity::Identity;
use crate::CryptoError;

/// Prefix of a sealed value.
pub const PRIVATE_PREFIX: &str = "dmp-private:v1:";
const INFO: &[u8] = b"dmp-private-v1";
const NONCE_LEN: usize = 24;

fn key(identity: &Identity, label: &str) -> Zeroizing<[u8; 32]> {
    let secret = identity.to_secret_bytes();
    let hk = Hkdf::<Sha256>::new(None, &secret);
    let mut info = INFO.to_vec();
    info.push(0);
    info.extend_from_slice(label.as_bytes());
    let mut out = Zeroizing::new([0u8; 32]);
    #[allow(clippy::expect_used)]
    hk.expand(&info, out.as_mut())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    out
}

fn aad(user_id: &str, label: &str) -> Vec<u8> {
    let mut aad = INFO.to_vec();
    aad.push(0);
    aad.extend_from_slice(label.as_bytes());
    aad.push(0);
    aad.extend_from_slice(user_id.as_bytes());
    aad
}

/// Seals `plaintext` for `user_id` alone, under a key derived from their
/// identity for `label` (for example `reply-templates`).
pub fn seal_private<R: CryptoRng + RngCore>(
    rng: &mut R,
    identity: &Identity,
    user_id: &str,
    label: &str,
    plaintext: &[u8],
) -> String {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let k = key(identity, label);
    #[allow(clippy::expect_used)]
    let ciphertext = XChaCha20Poly1305::new(k.as_ref().into())
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad(user_id, label),
            },
        )
        .expect("XChaCha20-Poly1305 encrypts any length below 256 GiB");
    let mut raw = nonce.to_vec();
    raw.extend_from_slice(&ciphertext);
    format!("{PRIVATE_PREFIX}{}", b64(&raw))
}

/// Opens what [`seal_private`] made. Another identity, user id or label, or
/// a tampered value, give `DecryptionFailed`; another prefix gives
/// `UnsupportedVersion`.
pub fn open_private(
    identity: &Identity,
    user_id: &str,
    label: &str,
    sealed: &str,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let Some(body) = sealed.strip_prefix(PRIVATE_PREFIX) else {
        return Err(if sealed.starts_with("dmp-private:") {
            CryptoError::UnsupportedVersion
        } else {
            CryptoError::malformed("private data: prefix")
        });
    };
    let raw = unb64(body, "private data")?;
    if raw.len() < NONCE_LEN + 16 {
        return Err(CryptoError::malformed("private data: too short"));
    }
    let (nonce, ciphertext) = raw.split_at(NONCE_LEN);
    let k = key(identity, label);
    XChaCha20Poly1305::new(k.as_ref().into())
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: &aad(user_id, label),
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::DecryptionFailed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    const LABEL: &str = "reply-templates";

    #[test]
    fn only_the_same_identity_user_and_label_open_it() {
        let me = Identity::generate(&mut OsRng);
        let other = Identity::generate(&mut OsRng);
        let text = "Bonjour {prenom}, vos résultats sont normaux.";
        let sealed = seal_private(&mut OsRng, &me, "medecin_456", LABEL, text.as_bytes());
        assert!(sealed.starts_with(PRIVATE_PREFIX));
        assert!(!sealed.contains("Bonjour"));
        // The same identity restored from its secret (a new device) opens it.
        let restored = Identity::from_secret_bytes(&me.to_secret_bytes()).unwrap();
        let opened = open_private(&restored, "medecin_456", LABEL, &sealed).unwrap();
        assert_eq!(opened.as_slice(), text.as_bytes());
        for (id, user, label) in [
            (&other, "medecin_456", LABEL),
            (&me, "medecin_999", LABEL),
            (&me, "medecin_456", "drafts"),
        ] {
            assert!(matches!(
                open_private(id, user, label, &sealed),
                Err(CryptoError::DecryptionFailed)
            ));
        }
    }

    #[test]
    fn tampered_or_foreign_values_are_refused() {
        let me = Identity::generate(&mut OsRng);
        let sealed = seal_private(&mut OsRng, &me, "u", LABEL, b"x");
        let mut raw = unb64(sealed.strip_prefix(PRIVATE_PREFIX).unwrap(), "t").unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let tampered = format!("{PRIVATE_PREFIX}{}", b64(&raw));
        assert!(matches!(
            open_private(&me, "u", LABEL, &tampered),
            Err(CryptoError::DecryptionFailed)
        ));
        assert!(matches!(
            open_private(&me, "u", LABEL, "dmp-private:v2:AAAA"),
            Err(CryptoError::UnsupportedVersion)
        ));
        assert!(matches!(
            open_private(&me, "u", LABEL, "clear text"),
            Err(CryptoError::Malformed(_))
        ));
        assert!(matches!(
            open_private(&me, "u", LABEL, &format!("{PRIVATE_PREFIX}AAAA")),
            Err(CryptoError::Malformed(_))
        ));
    }
}

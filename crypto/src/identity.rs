//! A user's long-term identity: an X25519 key pair used as the HPKE KEM key
//! (content keys are wrapped to it) and an Ed25519 key pair that signs every
//! envelope the user sends. The private half is made on the client, kept in the
//! OS keychain (as [`Identity::to_secret_bytes`]) and backed up only encrypted
//! ([`crate::backup`]). The public half ([`PublicIdentity`]) is published through
//! the server; peers pin it and can compare a [`safety_code`] out of band, so a
//! server that substitutes keys is detected.

use std::fmt;

use ed25519_dalek::{SigningKey, VerifyingKey};
use hpke::{Deserializable as _, Kem as _, Serializable as _};
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use zeroize::{Zeroize as _, ZeroizeOnDrop, Zeroizing};

use crate::encoding::{b64, put_lp, unb64_array};
use crate::CryptoError;

/// The HPKE KEM of suite v1: DHKEM(X25519, HKDF-SHA256).
pub(crate) type Kem = hpke::kem::X25519HkdfSha256;
pub(crate) type KemPrivateKey = <Kem as hpke::Kem>::PrivateKey;
pub(crate) type KemPublicKey = <Kem as hpke::Kem>::PublicKey;

/// Version byte of [`Identity::to_secret_bytes`].
const SECRET_ENCODING_V1: u8 = 1;
/// Length of the v1 secret encoding: version, X25519 secret, Ed25519 seed.
const SECRET_LEN_V1: usize = 1 + 32 + 32;

/// A user's private keys: the X25519 HPKE key and the Ed25519 signing key.
///
/// Zeroized on drop (both inner keys are zeroize-on-drop); `Debug` prints
/// `<redacted>`. Deliberately not `Clone`, so that copies of the secret stay
/// few and visible.
pub struct Identity {
    kem_secret: KemPrivateKey,
    kem_public: KemPublicKey,
    signing: SigningKey,
}

// Both fields holding secrets (x25519_dalek::StaticSecret inside the HPKE key,
// and SigningKey) zeroize themselves on drop; see `secret_fields_zeroize_on_drop`.
impl ZeroizeOnDrop for Identity {}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Identity(<redacted>)")
    }
}

impl Identity {
    /// Makes a fresh identity from `rng` (an OS-backed CSPRNG in production).
    pub fn generate<R: CryptoRng + RngCore>(rng: &mut R) -> Self {
        let (kem_secret, kem_public) = Kem::gen_keypair(rng);
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        let signing = SigningKey::from_bytes(&seed);
        Self {
            kem_secret,
            kem_public,
            signing,
        }
    }

    /// The public half, to publish and to give to peers.
    pub fn public(&self) -> PublicIdentity {
        PublicIdentity {
            encryption_key: b64(&self.kem_public.to_bytes()),
            signing_key: b64(self.signing.verifying_key().as_bytes()),
        }
    }

    /// Versioned secret encoding for the keychain and the backup:
    /// `0x01 || X25519 secret (32) || Ed25519 seed (32)`.
    pub fn to_secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(vec![0u8; SECRET_LEN_V1]);
        out[0] = SECRET_ENCODING_V1;
        self.kem_secret.write_exact(&mut out[1..33]);
        out[33..].copy_from_slice(self.signing.as_bytes());
        out
    }

    /// Parses [`Identity::to_secret_bytes`]. Unknown version →
    /// `UnsupportedVersion`; wrong length → `Malformed`.
    pub fn from_secret_bytes(b: &[u8]) -> Result<Self, CryptoError> {
        match b.first() {
            None => return Err(CryptoError::malformed("identity secret: empty")),
            Some(&SECRET_ENCODING_V1) => {}
            Some(_) => return Err(CryptoError::UnsupportedVersion),
        }
        if b.len() != SECRET_LEN_V1 {
            return Err(CryptoError::malformed("identity secret: wrong length"));
        }
        let kem_secret = KemPrivateKey::from_bytes(&b[1..33]).map_err(|_| CryptoError::BadKey)?;
        let kem_public = Kem::sk_to_pk(&kem_secret);
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&b[33..]);
        let signing = SigningKey::from_bytes(&seed);
        Ok(Self {
            kem_secret,
            kem_public,
            signing,
        })
    }

    pub(crate) fn kem_secret(&self) -> &KemPrivateKey {
        &self.kem_secret
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }
}

/// The public half of an [`Identity`], as published through the server.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct PublicIdentity {
    /// X25519 HPKE public key, 32 bytes, unpadded base64url.
    pub encryption_key: String,
    /// Ed25519 verifying key, 32 bytes, unpadded base64url.
    pub signing_key: String,
}

impl PublicIdentity {
    /// Checks both keys: right length, a valid Ed25519 point that is not of
    /// small order, and an X25519 key that is not of small order (which would
    /// make every shared secret predictable). `BadKey` otherwise.
    pub fn validate(&self) -> Result<(), CryptoError> {
        self.kem_public_key()?;
        self.verifying_key()?;
        Ok(())
    }

    /// Short hex fingerprint for display and pinning: the first 16 bytes of
    /// SHA-256 over a label and both 32-byte keys.
    ///
    /// For an identity that does not [`validate`](Self::validate), the hash is
    /// taken over the text form under another label, so it still differs from
    /// every valid identity's fingerprint.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        match (self.raw_encryption_key(), self.raw_signing_key()) {
            (Ok(e), Ok(s)) => {
                h.update(b"dmp-fingerprint-v1\0");
                h.update(e);
                h.update(s);
            }
            _ => {
                let mut buf = Vec::new();
                put_lp(&mut buf, self.encryption_key.as_bytes());
                put_lp(&mut buf, self.signing_key.as_bytes());
                h.update(b"dmp-fingerprint-invalid-v1\0");
                h.update(&buf);
            }
        }
        hex::encode(&h.finalize()[..16])
    }

    fn raw_encryption_key(&self) -> Result<[u8; 32], CryptoError> {
        unb64_array::<32>(&self.encryption_key, "encryptionKey").map_err(|_| CryptoError::BadKey)
    }

    fn raw_signing_key(&self) -> Result<[u8; 32], CryptoError> {
        unb64_array::<32>(&self.signing_key, "signingKey").map_err(|_| CryptoError::BadKey)
    }

    /// The X25519 key, refusing small-order points.
    pub(crate) fn kem_public_key(&self) -> Result<KemPublicKey, CryptoError> {
        let raw = self.raw_encryption_key()?;
        // Any clamped scalar is a multiple of the cofactor 8, so the product
        // is the identity (all-zero output) exactly for small-order points.
        let probe = x25519_dalek::StaticSecret::from([0x5a; 32]);
        let contributory = probe
            .diffie_hellman(&x25519_dalek::PublicKey::from(raw))
            .was_contributory();
        if !contributory {
            return Err(CryptoError::BadKey);
        }
        KemPublicKey::from_bytes(&raw).map_err(|_| CryptoError::BadKey)
    }

    /// The Ed25519 key, refusing invalid encodings and weak (small-order) keys.
    pub(crate) fn verifying_key(&self) -> Result<VerifyingKey, CryptoError> {
        let raw = self.raw_signing_key()?;
        let key = VerifyingKey::from_bytes(&raw).map_err(|_| CryptoError::BadKey)?;
        if key.is_weak() {
            return Err(CryptoError::BadKey);
        }
        Ok(key)
    }
}

/// A 24-digit code that two users compare out of band (read aloud, in person)
/// to confirm that each sees the other's real keys.
///
/// Symmetric: the pair is ordered by user id (then by keys, for equal ids), so
/// both sides compute the same code. It is SHA-256 over a label and the
/// length-prefixed ids and keys, shown as six groups of four decimal digits
/// (each group is a 40-bit chunk of the hash mod 10 000, so ~80 bits in all).
pub fn safety_code(a_user: &str, a: &PublicIdentity, b_user: &str, b: &PublicIdentity) -> String {
    let key_a = (a_user, &a.encryption_key, &a.signing_key);
    let key_b = (b_user, &b.encryption_key, &b.signing_key);
    let (first, second) = if key_a <= key_b {
        (key_a, key_b)
    } else {
        (key_b, key_a)
    };
    let mut buf = Vec::new();
    for (user, enc, sig) in [first, second] {
        put_lp(&mut buf, user.as_bytes());
        put_lp(&mut buf, enc.as_bytes());
        put_lp(&mut buf, sig.as_bytes());
    }
    let mut h = Sha256::new();
    h.update(b"dmp-safety-code-v1\0");
    h.update(&buf);
    let digest = h.finalize();
    let groups: Vec<String> = digest[..30]
        .chunks_exact(5)
        .map(|c| {
            let n = c.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
            format!("{:04}", n % 10_000)
        })
        .collect();
    buf.zeroize();
    groups.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    #[test]
    fn secret_bytes_round_trip() {
        let id = Identity::generate(&mut rng());
        let bytes = id.to_secret_bytes();
        assert_eq!(bytes.len(), 65);
        assert_eq!(bytes[0], 1);
        let back = Identity::from_secret_bytes(&bytes).unwrap();
        assert_eq!(back.public(), id.public());
        assert_eq!(*back.to_secret_bytes(), *bytes);
    }

    #[test]
    fn secret_bytes_reject_bad_input() {
        let id = Identity::generate(&mut rng());
        let mut bytes = id.to_secret_bytes().to_vec();
        assert!(matches!(
            Identity::from_secret_bytes(&bytes[..64]),
            Err(CryptoError::Malformed(_))
        ));
        assert!(matches!(
            Identity::from_secret_bytes(&[]),
            Err(CryptoError::Malformed(_))
        ));
        bytes[0] = 2;
        assert_eq!(
            Identity::from_secret_bytes(&bytes).unwrap_err(),
            CryptoError::UnsupportedVersion
        );
    }

    #[test]
    fn public_identity_validates() {
        let public = Identity::generate(&mut rng()).public();
        public.validate().unwrap();
        assert_eq!(public.encryption_key.len(), 43);
        assert_eq!(public.signing_key.len(), 43);
        let json = serde_json::to_value(&public).unwrap();
        assert!(json.get("encryptionKey").is_some() && json.get("signingKey").is_some());
    }

    #[test]
    fn small_order_and_malformed_keys_are_refused() {
        let good = Identity::generate(&mut rng()).public();
        // X25519: zero, one, and a point of order 8 (RFC 7748 / libsodium blacklist).
        let order8 = "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800";
        for bad in [
            [0u8; 32].to_vec(),
            {
                let mut one = [0u8; 32];
                one[0] = 1;
                one.to_vec()
            },
            hex::decode(order8).unwrap(),
        ] {
            let p = PublicIdentity {
                encryption_key: b64(&bad),
                ..good.clone()
            };
            assert_eq!(p.validate(), Err(CryptoError::BadKey));
        }
        // Ed25519: the identity point is weak.
        let mut ident = [0u8; 32];
        ident[0] = 1;
        let p = PublicIdentity {
            signing_key: b64(&ident),
            ..good.clone()
        };
        assert_eq!(p.validate(), Err(CryptoError::BadKey));
        // Wrong lengths and bad base64.
        for s in ["", "AAAA", "not base64!"] {
            let p = PublicIdentity {
                encryption_key: s.to_owned(),
                ..good.clone()
            };
            assert_eq!(p.validate(), Err(CryptoError::BadKey));
        }
    }

    #[test]
    fn fingerprint_is_stable_and_key_dependent() {
        let a = Identity::generate(&mut rng()).public();
        let b = Identity::generate(&mut StdRng::seed_from_u64(8)).public();
        assert_eq!(a.fingerprint(), a.clone().fingerprint());
        assert_eq!(a.fingerprint().len(), 32);
        assert_ne!(a.fingerprint(), b.fingerprint());
        let mixed = PublicIdentity {
            encryption_key: a.encryption_key.clone(),
            signing_key: b.signing_key.clone(),
        };
        assert_ne!(mixed.fingerprint(), a.fingerprint());
    }

    #[test]
    fn safety_code_is_symmetric_and_formatted() {
        let a = Identity::generate(&mut rng()).public();
        let b = Identity::generate(&mut StdRng::seed_from_u64(9)).public();
        let c1 = safety_code("alice", &a, "bob", &b);
        let c2 = safety_code("bob", &b, "alice", &a);
        assert_eq!(c1, c2);
        let groups: Vec<&str> = c1.split(' ').collect();
        assert_eq!(groups.len(), 6);
        assert!(groups
            .iter()
            .all(|g| g.len() == 4 && g.bytes().all(|x| x.is_ascii_digit())));
        // Any change of key or id changes the code.
        let m = Identity::generate(&mut StdRng::seed_from_u64(10)).public();
        assert_ne!(c1, safety_code("alice", &a, "bob", &m));
        assert_ne!(c1, safety_code("alice", &a, "bobby", &b));
        assert_ne!(c1, safety_code("alice", &b, "bob", &a));
    }

    #[test]
    fn debug_is_redacted() {
        let id = Identity::generate(&mut rng());
        let dbg = format!("{id:?}");
        assert!(dbg.contains("redacted"));
        let secret = id.to_secret_bytes();
        assert!(!dbg.contains(&hex::encode(&secret[1..33])));
        assert!(!dbg.contains(&b64(&secret[1..33])));
    }

    #[test]
    fn secret_fields_zeroize_on_drop() {
        fn zeroizes_on_drop<T: ZeroizeOnDrop>() {}
        fn zeroizable<T: zeroize::Zeroize>() {}
        // These bounds only hold with the `zeroize` features of x25519-dalek
        // and ed25519-dalek enabled; hpke alone turns x25519-dalek's off.
        // StaticSecret has `#[zeroize(drop)]` under the same cfg as its
        // `Zeroize` impl, but does not carry the `ZeroizeOnDrop` marker.
        zeroizable::<x25519_dalek::StaticSecret>();
        zeroizes_on_drop::<SigningKey>();
        zeroizes_on_drop::<Identity>();
    }
}

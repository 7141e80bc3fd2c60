//! Password-derived keys: zero-knowledge login and the identity backup.
//!
//! The client runs Argon2id over the password and a per-user salt (both the
//! salt and the [`KdfParams`] are stored by the server and handed back at
//! login), giving a [`MasterKey`] that never leaves the client. HKDF-SHA256
//! splits it into two independent keys ([`LoginKeys`]):
//!
//! - `auth_secret` (`dmp-auth-v1`) is what the client sends to the server *as
//!   its password*; the server hashes it again as usual. Knowing it tells the
//!   server nothing about the other key.
//! - the key-encryption key (`dmp-kek-v1`) seals the user's [`Identity`] into a
//!   [`KeyBackup`] that the server stores, so that a new device can recover the
//!   identity and read the whole history, as medical retention requires.
//!
//! The server therefore holds only ciphertext and a hash of a derived secret;
//! recovering the identity needs the password. A server that wants to attack
//! a password must still run Argon2id per guess, and [`KdfParams::validate`]
//! keeps it from handing the client weak parameters.

use std::fmt;

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand_core::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::{ZeroizeOnDrop, Zeroizing};

use crate::encoding::{b64, unb64, unb64_array};
use crate::{CryptoError, Identity};

/// Length of the salts made by [`generate_salt`] (the minimum accepted is 16).
pub const SALT_LEN: usize = 16;
/// Version of the [`KeyBackup`] format.
const BACKUP_VERSION: u8 = 1;
/// Prefix of the backup AEAD's associated data; the user id follows.
const BACKUP_AAD_LABEL: &[u8] = b"dmp-backup-v1";
/// Floor of [`KdfParams::validate`]: OWASP's minimum for Argon2id.
const MIN_MEMORY_KIB: u32 = 19_456;
const MIN_ITERATIONS: u32 = 2;
/// Ceilings: 1 GiB, and enough passes and lanes for any sane setting.
const MAX_MEMORY_KIB: u32 = 1024 * 1024;
const MAX_ITERATIONS: u32 = 64;
const MAX_PARALLELISM: u32 = 16;

/// Argon2id cost parameters, stored beside the salt on the server.
#[derive(Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Debug)]
#[serde(rename_all = "camelCase")]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Number of passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for KdfParams {
    /// RFC 9106 §4, second recommended option: Argon2id, 64 MiB, t = 3, p = 4.
    fn default() -> Self {
        Self {
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 4,
        }
    }
}

impl KdfParams {
    /// Refuses parameters weaker than OWASP's Argon2id minimum (m = 19 456 KiB,
    /// t = 2) or absurdly expensive ones (more than 1 GiB, 64 passes or 16
    /// lanes): parameters come from the server, which must not be able to
    /// weaken the derivation nor stall the client.
    pub fn validate(&self) -> Result<(), CryptoError> {
        let ok = (MIN_MEMORY_KIB..=MAX_MEMORY_KIB).contains(&self.memory_kib)
            && (MIN_ITERATIONS..=MAX_ITERATIONS).contains(&self.iterations)
            && (1..=MAX_PARALLELISM).contains(&self.parallelism);
        if ok {
            Ok(())
        } else {
            Err(CryptoError::malformed("kdf parameters out of bounds"))
        }
    }
}

/// The Argon2id output. Never leaves the client; zeroized on drop; `Debug`
/// prints `<redacted>`.
#[derive(ZeroizeOnDrop)]
pub struct MasterKey([u8; 32]);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// A fresh random salt for a new account (or a password change).
pub fn generate_salt<R: CryptoRng + RngCore>(rng: &mut R) -> [u8; SALT_LEN] {
    let mut salt = [0u8; SALT_LEN];
    rng.fill_bytes(&mut salt);
    salt
}

/// Argon2id (v1.3) of `password` under `salt` (at least 16 bytes) with
/// validated `params`.
pub fn derive_master_key(
    password: &str,
    salt: &[u8],
    params: KdfParams,
) -> Result<MasterKey, CryptoError> {
    params.validate()?;
    if salt.len() < SALT_LEN {
        return Err(CryptoError::malformed("salt shorter than 16 bytes"));
    }
    let argon_params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(32),
    )
    .map_err(|_| CryptoError::malformed("kdf parameters rejected by argon2"))?;
    let mut out = MasterKey([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params)
        .hash_password_into(password.as_bytes(), salt, &mut out.0)
        .map_err(|_| CryptoError::malformed("password or salt rejected by argon2"))?;
    Ok(out)
}

/// The two keys split from a [`MasterKey`].
pub struct LoginKeys {
    /// Lower-case hex of 32 bytes: sent to the server as the password.
    pub auth_secret: Zeroizing<String>,
    /// Key-encryption key of the identity backup; never leaves the client.
    kek: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for LoginKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginKeys")
            .field("auth_secret", &"<redacted>")
            .field("kek", &"<redacted>")
            .finish()
    }
}

impl MasterKey {
    /// HKDF-SHA256 (no salt) with info `dmp-auth-v1` and `dmp-kek-v1`.
    pub fn split(&self) -> LoginKeys {
        let hk = Hkdf::<Sha256>::new(None, &self.0);
        let mut auth = Zeroizing::new([0u8; 32]);
        let mut kek = Zeroizing::new([0u8; 32]);
        // 32 bytes is far below HKDF-SHA256's 8160-byte limit: expand cannot
        // fail, and on the impossible failure the keys would stay zero and
        // differ from any real derivation.
        let _ = hk.expand(b"dmp-auth-v1", auth.as_mut());
        let _ = hk.expand(b"dmp-kek-v1", kek.as_mut());
        LoginKeys {
            auth_secret: Zeroizing::new(hex::encode(auth.as_ref())),
            kek,
        }
    }
}

/// The user's [`Identity`] sealed under the key-encryption key; stored by the
/// server. Byte fields are unpadded base64url.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
pub struct KeyBackup {
    /// Format version, 1.
    pub version: u8,
    /// XChaCha20-Poly1305 nonce (24 bytes).
    pub nonce: String,
    /// Encrypted [`Identity::to_secret_bytes`] with its tag.
    pub ciphertext: String,
}

/// Seals `identity` under `keys` for `user_id` (XChaCha20-Poly1305, random
/// nonce, associated data `dmp-backup-v1` || `user_id`).
pub fn seal_backup<R: CryptoRng + RngCore>(
    rng: &mut R,
    identity: &Identity,
    keys: &LoginKeys,
    user_id: &str,
) -> KeyBackup {
    let mut nonce = [0u8; 24];
    rng.fill_bytes(&mut nonce);
    let secret = identity.to_secret_bytes();
    let aad = backup_aad(user_id);
    #[allow(clippy::expect_used)]
    let ciphertext = XChaCha20Poly1305::new(keys.kek.as_ref().into())
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &secret,
                aad: &aad,
            },
        )
        .expect("encrypting 65 bytes with XChaCha20-Poly1305 cannot fail");
    KeyBackup {
        version: BACKUP_VERSION,
        nonce: b64(&nonce),
        ciphertext: b64(&ciphertext),
    }
}

/// Opens a [`KeyBackup`]. A wrong password, another user id or a tampered
/// backup all give `WrongPassword`: the AEAD cannot tell them apart.
pub fn open_backup(
    backup: &KeyBackup,
    keys: &LoginKeys,
    user_id: &str,
) -> Result<Identity, CryptoError> {
    if backup.version != BACKUP_VERSION {
        return Err(CryptoError::UnsupportedVersion);
    }
    let nonce: [u8; 24] = unb64_array(&backup.nonce, "backup nonce")?;
    let ciphertext = unb64(&backup.ciphertext, "backup ciphertext")?;
    let aad = backup_aad(user_id);
    let secret = Zeroizing::new(
        XChaCha20Poly1305::new(keys.kek.as_ref().into())
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::WrongPassword)?,
    );
    Identity::from_secret_bytes(&secret)
}

fn backup_aad(user_id: &str) -> Vec<u8> {
    let mut aad = BACKUP_AAD_LABEL.to_vec();
    aad.extend_from_slice(user_id.as_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_rfc9106_second_option() {
        let d = KdfParams::default();
        assert_eq!((d.memory_kib, d.iterations, d.parallelism), (65_536, 3, 4));
        d.validate().unwrap();
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(
            json,
            r#"{"memoryKib":65536,"iterations":3,"parallelism":4}"#
        );
    }

    #[test]
    fn master_key_debug_is_redacted() {
        let mk = MasterKey([0xab; 32]);
        let dbg = format!("{mk:?}");
        assert!(dbg.contains("redacted") && !dbg.contains("ab") && !dbg.contains("171"));
    }
}

//! Credentials: Argon2id password verifiers, HS256 access tokens with the
//! algorithm pinned, and opaque refresh tokens stored as hashes.
//!
//! The JWT is verified by hand rather than by a generic library so that
//! exactly one algorithm exists in the code path: the header must be
//! `{"alg":"HS256","typ":"JWT"}` byte for byte after decoding, the MAC is
//! compared in constant time, and `iss`, `aud`, `exp` and `iat` are checked.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use dmp_protocol::{UserId, UserType};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use zeroize::Zeroizing;

/// OWASP Password Storage Cheat Sheet: Argon2id, m=19 MiB, t=2, p=1.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password into a PHC string. CPU-heavy: call from a blocking thread.
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Checks a password against a PHC string. `None` runs the same work against
/// a fixed verifier so that unknown usernames take as long as known ones.
pub fn verify_password(password: &str, phc: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("dmp-timing-equaliser").unwrap_or_default());
    let (target, real) = match phc {
        Some(p) => (p, true),
        None => (dummy.as_str(), false),
    };
    let ok = PasswordHash::new(target)
        .is_ok_and(|h| argon2().verify_password(password.as_bytes(), &h).is_ok());
    ok && real
}

/// What the server stores for an account it creates with a clear password,
/// so that it is zero-knowledge from creation: the login keys are derived
/// as a client would (`derive_master_key(password, random salt, kdf).split()`),
/// only the Argon2id verifier of the authentication secret is kept with the
/// salt and the parameters, and the password is forgotten.
#[derive(Clone, PartialEq, Eq)]
pub struct NewZkLogin {
    /// PHC verifier of the authentication secret.
    pub verifier: String,
    /// base64url salt of the derivation.
    pub salt: String,
    /// Parameters of the derivation (JSON of `KdfParams`, as stored).
    pub params: String,
}

impl std::fmt::Debug for NewZkLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewZkLogin")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

/// Derives the zero-knowledge login of a new password. CPU-heavy (two
/// Argon2id runs): call from a blocking thread.
pub fn new_zk_login(
    password: &str,
    kdf: dmp_protocol::api::KdfParams,
) -> Result<NewZkLogin, String> {
    let salt = dmp_crypto::generate_salt(&mut rand::rngs::OsRng);
    let params = dmp_crypto::KdfParams {
        memory_kib: kdf.memory_kib,
        iterations: kdf.iterations,
        parallelism: kdf.parallelism,
    };
    let keys = dmp_crypto::derive_master_key(password, &salt, params)
        .map_err(|e| e.to_string())?
        .split();
    Ok(NewZkLogin {
        verifier: hash_password(&keys.auth_secret)?,
        salt: B64.encode(salt),
        params: serde_json::to_string(&kdf).map_err(|e| e.to_string())?,
    })
}

/// Password policy for accounts made by admins.
pub fn check_password_policy(password: &str) -> Result<(), String> {
    let len = password.chars().count();
    if len < 10 {
        return Err("password must have at least 10 characters".into());
    }
    if len > 256 {
        return Err("password must have at most 256 characters".into());
    }
    Ok(())
}

/// Claims of an access token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// User id.
    pub sub: UserId,
    /// User type.
    pub typ: UserType,
    /// Login (refresh family) id.
    pub sid: String,
    /// Issued at (seconds).
    pub iat: i64,
    /// Expires at (seconds).
    pub exp: i64,
}

/// Why a token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// Not a token of ours.
    Invalid,
    /// Ours, but expired.
    Expired,
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;
/// Lifetime of a device token; every successful login hands out a fresh one.
pub const DEVICE_TOKEN_TTL_DAYS: i64 = 180;
const AUDIENCE: &str = "dmp-clients";

/// Issues and verifies access tokens.
pub struct TokenSigner {
    key: Zeroizing<Vec<u8>>,
    issuer: String,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("key", &"<redacted>")
            .field("issuer", &self.issuer)
            .finish()
    }
}

impl TokenSigner {
    /// A signer with a secret of at least 32 bytes.
    pub fn new(key: Vec<u8>, issuer: impl Into<String>) -> Self {
        Self {
            key: Zeroizing::new(key),
            issuer: issuer.into(),
        }
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length.
        <Hmac<Sha256> as Mac>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable_mac())
    }

    /// A device token for `username` (OWASP device cookie): a random nonce, an
    /// expiry and an HMAC binding both to the account. It gives the device
    /// its own login failure budget (docs/security.md, "Throttling").
    pub fn device_token(&self, username: &str, now: DateTime<Utc>) -> String {
        let mut nonce = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut nonce);
        let nonce = B64.encode(nonce);
        let exp = now.timestamp() + DEVICE_TOKEN_TTL_DAYS * 86_400;
        let mac = self.device_mac(username, &nonce, exp);
        format!("{nonce}.{exp}.{}", B64.encode(mac.finalize().into_bytes()))
    }

    /// The nonce of a valid, unexpired device token of `username`.
    pub fn verify_device_token(
        &self,
        token: &str,
        username: &str,
        now: DateTime<Utc>,
    ) -> Option<String> {
        if token.len() > 128 {
            return None;
        }
        let mut parts = token.split('.');
        let (Some(nonce), Some(exp), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        let exp: i64 = exp.parse().ok()?;
        let sig = B64.decode(sig).ok()?;
        self.device_mac(username, nonce, exp)
            .verify_slice(&sig)
            .ok()?;
        (exp > now.timestamp()).then(|| nonce.to_owned())
    }

    fn device_mac(&self, username: &str, nonce: &str, exp: i64) -> Hmac<Sha256> {
        let mut mac = self.mac();
        mac.update(b"dmp-device-token-v1\n");
        mac.update(username.to_lowercase().as_bytes());
        mac.update(b"\n");
        mac.update(nonce.as_bytes());
        mac.update(b"\n");
        mac.update(exp.to_string().as_bytes());
        mac
    }

    /// A key for made-up prelogin salts (the signing key itself never leaves this type).
    pub fn prelogin_key(&self) -> &[u8] {
        &self.key
    }

    /// Signs claims for `user`.
    pub fn issue(
        &self,
        user: &UserId,
        kind: UserType,
        sid: &str,
        now: DateTime<Utc>,
        ttl_secs: u64,
    ) -> String {
        let iat = now.timestamp();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: AUDIENCE.into(),
            sub: user.clone(),
            typ: kind,
            sid: sid.to_owned(),
            iat,
            exp: iat + i64::try_from(ttl_secs).unwrap_or(900),
        };
        let payload = serde_json::to_vec(&claims).unwrap_or_default();
        let signing_input = format!("{}.{}", B64.encode(HEADER), B64.encode(payload));
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        format!(
            "{signing_input}.{}",
            B64.encode(mac.finalize().into_bytes())
        )
    }

    /// Verifies a token: pinned header, constant-time MAC, issuer, audience, times.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        if token.len() > 4096 {
            return Err(TokenError::Invalid);
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Invalid);
        };
        let header = B64.decode(h).map_err(|_| TokenError::Invalid)?;
        if header != HEADER.as_bytes() {
            return Err(TokenError::Invalid);
        }
        let sig = B64.decode(s).map_err(|_| TokenError::Invalid)?;
        let mut mac = self.mac();
        mac.update(h.as_bytes());
        mac.update(b".");
        mac.update(p.as_bytes());
        mac.verify_slice(&sig).map_err(|_| TokenError::Invalid)?;
        let payload = B64.decode(p).map_err(|_| TokenError::Invalid)?;
        let claims: Claims = serde_json::from_slice(&payload).map_err(|_| TokenError::Invalid)?;
        if claims.iss != self.issuer || claims.aud != AUDIENCE {
            return Err(TokenError::Invalid);
        }
        let t = now.timestamp();
        if claims.iat > t + 60 {
            return Err(TokenError::Invalid);
        }
        if claims.exp <= t {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[allow(clippy::panic)]
fn unreachable_mac() -> Hmac<Sha256> {
    // Hmac::new_from_slice never fails for HMAC; keep the type checker happy without unwrap.
    panic!("HMAC rejected its key")
}

/// A fresh refresh token (256 random bits, base64url) and the hash stored for it.
pub fn new_refresh_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = B64.encode(bytes);
    let hash = hash_refresh_token(&token);
    (token, hash)
}

/// The stored form of a refresh token.
pub fn hash_refresh_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A random id for a login family.
pub fn new_family_id() -> String {
    format!("login_{}", uuid::Uuid::new_v4().simple())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> TokenSigner {
        TokenSigner::new(vec![7u8; 32], "dmp-server")
    }

    #[test]
    fn round_trip_and_expiry() {
        let s = signer();
        let now = Utc::now();
        let t = s.issue(
            &UserId::new("patient_123"),
            UserType::Patient,
            "login_1",
            now,
            900,
        );
        let c = s.verify(&t, now).unwrap();
        assert_eq!(c.sub.as_str(), "patient_123");
        assert_eq!(
            s.verify(&t, now + chrono::Duration::seconds(901)),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn forged_tokens_are_refused() {
        let s = signer();
        let now = Utc::now();
        let t = s.issue(
            &UserId::new("patient_123"),
            UserType::Patient,
            "login_1",
            now,
            900,
        );
        let other = TokenSigner::new(vec![8u8; 32], "dmp-server");
        assert_eq!(other.verify(&t, now), Err(TokenError::Invalid));
        // alg:none with the same payload and no signature.
        let parts: Vec<&str> = t.split('.').collect();
        let none = format!(
            "{}.{}.",
            B64.encode(r#"{"alg":"none","typ":"JWT"}"#),
            parts[1]
        );
        assert_eq!(s.verify(&none, now), Err(TokenError::Invalid));
        // Payload swapped for another user, signature kept.
        let evil = B64.encode(
            String::from_utf8(B64.decode(parts[1]).unwrap())
                .unwrap()
                .replace("patient_123", "patient_999"),
        );
        assert_eq!(
            s.verify(&format!("{}.{}.{}", parts[0], evil, parts[2]), now),
            Err(TokenError::Invalid)
        );
        assert_eq!(s.verify("garbage", now), Err(TokenError::Invalid));
    }

    #[test]
    fn device_tokens_are_bound_to_the_account() {
        let s = signer();
        let now = Utc::now();
        let t = s.device_token("Jean.Dupont", now);
        assert!(s.verify_device_token(&t, "jean.dupont", now).is_some());
        assert!(s.verify_device_token(&t, "marie.lefevre", now).is_none());
        let later = now + chrono::Duration::days(DEVICE_TOKEN_TTL_DAYS + 1);
        assert!(s.verify_device_token(&t, "jean.dupont", later).is_none());
        let other = TokenSigner::new(vec![8u8; 32], "dmp-server");
        assert!(other.verify_device_token(&t, "jean.dupont", now).is_none());
        let (nonce, rest) = t.split_once('.').unwrap();
        let forged = format!("{nonce}.{}", rest.replacen(char::is_numeric, "9", 1));
        assert!(s.verify_device_token(&forged, "jean.dupont", now).is_none());
    }

    #[test]
    fn passwords() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse battery", Some(&h)));
        assert!(!verify_password("wrong", Some(&h)));
        assert!(!verify_password("correct horse battery", None));
        assert!(check_password_policy("short").is_err());
    }
}

/// A small pool of threads that run Argon2: at most one computation per
/// core at a time, each thread reusing its own 19 MiB work area. (Hashing on
/// arbitrary blocking threads made the C allocator keep one work area per
/// thread: gigabytes after a burst of logins.)
#[derive(Debug)]
pub struct Hasher {
    jobs: tokio::sync::mpsc::Sender<HashJob>,
    verifications: std::sync::atomic::AtomicU64,
}

enum HashJob {
    Verify {
        password: Zeroizing<String>,
        phc: Option<String>,
        reply: tokio::sync::oneshot::Sender<bool>,
    },
    Hash {
        password: Zeroizing<String>,
        reply: tokio::sync::oneshot::Sender<Result<String, String>>,
    },
}

impl Hasher {
    /// Starts `threads` hashing threads.
    pub fn new(threads: usize) -> Self {
        let (tx, rx) = tokio::sync::mpsc::channel::<HashJob>(4096);
        let rx = std::sync::Arc::new(parking_lot::Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let _ = std::thread::Builder::new()
                .name(format!("dmp-argon2-{i}"))
                .spawn(move || {
                    let mut blocks: Vec<argon2::Block> = Vec::new();
                    loop {
                        let job = rx.lock().blocking_recv();
                        match job {
                            Some(HashJob::Verify {
                                password,
                                phc,
                                reply,
                            }) => {
                                let _ =
                                    reply.send(verify_with(&mut blocks, &password, phc.as_deref()));
                            }
                            Some(HashJob::Hash { password, reply }) => {
                                let _ = reply.send(hash_password(&password));
                            }
                            None => return,
                        }
                    }
                });
        }
        Self {
            jobs: tx,
            verifications: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// How many verifications were asked for since the start (each one is a
    /// full Argon2id run, for unknown names too).
    pub fn verifications(&self) -> u64 {
        self.verifications
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Checks a password (see [`verify_password`]).
    pub async fn verify(&self, password: &str, phc: Option<String>) -> bool {
        self.verifications
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (reply, rx) = tokio::sync::oneshot::channel();
        let job = HashJob::Verify {
            password: Zeroizing::new(password.to_owned()),
            phc,
            reply,
        };
        if self.jobs.send(job).await.is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: &str) -> Result<String, String> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let job = HashJob::Hash {
            password: Zeroizing::new(password.to_owned()),
            reply,
        };
        self.jobs
            .send(job)
            .await
            .map_err(|_| "hasher stopped".to_owned())?;
        rx.await.map_err(|_| "hasher stopped".to_owned())?
    }
}

/// [`verify_password`] with a reusable work area.
fn verify_with(blocks: &mut Vec<argon2::Block>, password: &str, phc: Option<&str>) -> bool {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("dmp-timing-equaliser").unwrap_or_default());
    let (target, real) = match phc {
        Some(p) => (p, true),
        None => (dummy.as_str(), false),
    };
    let ok = (|| {
        let parsed = PasswordHash::new(target).ok()?;
        if parsed.algorithm != argon2::ARGON2ID_IDENT {
            return None;
        }
        let params = Params::try_from(&parsed).ok()?;
        let expected = parsed.hash?;
        let mut salt_buf = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt_buf).ok()?;
        let engine = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        blocks.resize(params.block_count(), argon2::Block::default());
        let mut out = vec![0u8; expected.len()];
        engine
            .hash_password_into_with_memory(
                password.as_bytes(),
                salt,
                &mut out,
                blocks.as_mut_slice(),
            )
            .ok()?;
        Some(subtle::ConstantTimeEq::ct_eq(out.as_slice(), expected.as_bytes()).into())
    })()
    .unwrap_or(false);
    ok && real
}

//! Password-derived keys and the identity backup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Instant;

use common::{rng, Party};
use dmp_crypto::{
    derive_master_key, generate_salt, open_backup, seal_backup, CryptoError, KdfParams, KeyBackup,
    LoginKeys,
};

/// OWASP's minimum for Argon2id: valid, and fast enough for tests.
const FAST: KdfParams = KdfParams {
    memory_kib: 19_456,
    iterations: 2,
    parallelism: 1,
};
const SALT: &[u8; 16] = b"dmp-test-salt-16";

fn keys(password: &str) -> LoginKeys {
    derive_master_key(password, SALT, FAST).unwrap().split()
}

#[test]
fn round_trip() {
    let alice = Party::new("alice", 1);
    let k = keys("correct horse battery staple");
    let backup = seal_backup(&mut rng(1), &alice.id, &k, "alice");
    assert_eq!(backup.version, 1);
    let json = serde_json::to_string(&backup).unwrap();
    let back: KeyBackup = serde_json::from_str(&json).unwrap();
    let restored = open_backup(&back, &keys("correct horse battery staple"), "alice").unwrap();
    assert_eq!(restored.public(), alice.public);
    assert_eq!(*restored.to_secret_bytes(), *alice.id.to_secret_bytes());
    // Nothing of the secret in the backup.
    let secret = alice.id.to_secret_bytes();
    assert!(!json.contains(&hex::encode(&secret[1..33])));
}

#[test]
fn wrong_password_is_wrong_password() {
    let alice = Party::new("alice", 1);
    let backup = seal_backup(&mut rng(2), &alice.id, &keys("mot de passe"), "alice");
    assert_eq!(
        open_backup(&backup, &keys("mot de passe "), "alice").unwrap_err(),
        CryptoError::WrongPassword
    );
}

#[test]
fn user_id_is_bound() {
    let alice = Party::new("alice", 1);
    let k = keys("mot de passe");
    let backup = seal_backup(&mut rng(3), &alice.id, &k, "alice");
    assert_eq!(
        open_backup(&backup, &k, "mallory").unwrap_err(),
        CryptoError::WrongPassword
    );
    assert_eq!(
        open_backup(&backup, &k, "alic").unwrap_err(),
        CryptoError::WrongPassword
    );
}

#[test]
fn tampered_or_unknown_backups_are_refused() {
    let alice = Party::new("alice", 1);
    let k = keys("mot de passe");
    let backup = seal_backup(&mut rng(4), &alice.id, &k, "alice");
    let mut v2 = backup.clone();
    v2.version = 2;
    assert_eq!(
        open_backup(&v2, &k, "alice").unwrap_err(),
        CryptoError::UnsupportedVersion
    );
    let mut flipped = backup.clone();
    let first = if flipped.ciphertext.starts_with('A') {
        "B"
    } else {
        "A"
    };
    flipped.ciphertext.replace_range(..1, first);
    assert_eq!(
        open_backup(&flipped, &k, "alice").unwrap_err(),
        CryptoError::WrongPassword
    );
    let mut short_nonce = backup.clone();
    short_nonce.nonce.pop();
    short_nonce.nonce.pop();
    assert!(matches!(
        open_backup(&short_nonce, &k, "alice"),
        Err(CryptoError::Malformed(_))
    ));
}

#[test]
fn auth_secret_and_kek_are_deterministic_and_distinct() {
    let a = keys("mot de passe");
    let b = keys("mot de passe");
    assert_eq!(*a.auth_secret, *b.auth_secret);
    assert_eq!(a.auth_secret.len(), 64);
    assert!(a.auth_secret.bytes().all(|c| c.is_ascii_hexdigit()));
    // Same KEK: a backup sealed under one opens under the other.
    let alice = Party::new("alice", 1);
    let backup = seal_backup(&mut rng(5), &alice.id, &a, "alice");
    open_backup(&backup, &b, "alice").unwrap();

    // Other password or salt: other secrets.
    let c = keys("mot de passf");
    assert_ne!(*a.auth_secret, *c.auth_secret);
    let d = derive_master_key("mot de passe", b"another-salt-16b", FAST)
        .unwrap()
        .split();
    assert_ne!(*a.auth_secret, *d.auth_secret);
    assert_eq!(
        open_backup(&backup, &d, "alice").unwrap_err(),
        CryptoError::WrongPassword
    );
}

/// The auth secret is not the KEK: a backup cannot be opened with a key made
/// from what the server learns.
#[test]
fn the_server_cannot_open_the_backup_with_the_auth_secret() {
    use base64::Engine as _;
    use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;

    let alice = Party::new("alice", 1);
    let k = keys("mot de passe");
    let backup = seal_backup(&mut rng(6), &alice.id, &k, "alice");
    let auth: [u8; 32] = hex::decode(&*k.auth_secret).unwrap().try_into().unwrap();
    let nonce = b64.decode(&backup.nonce).unwrap();
    let ct = b64.decode(&backup.ciphertext).unwrap();
    let tried = XChaCha20Poly1305::new((&auth).into()).decrypt(
        XNonce::from_slice(&nonce),
        Payload {
            msg: &ct,
            aad: b"dmp-backup-v1alice",
        },
    );
    assert!(tried.is_err());
}

#[test]
fn kdf_params_validation() {
    KdfParams::default().validate().unwrap();
    FAST.validate().unwrap();
    let weak = [
        KdfParams {
            memory_kib: 19_455,
            ..FAST
        },
        KdfParams {
            iterations: 1,
            ..FAST
        },
        KdfParams {
            parallelism: 0,
            ..FAST
        },
        KdfParams {
            memory_kib: 1024 * 1024 + 1,
            ..FAST
        },
        KdfParams {
            iterations: 1_000,
            ..FAST
        },
        KdfParams {
            parallelism: 64,
            ..FAST
        },
        KdfParams {
            memory_kib: 0,
            iterations: 0,
            parallelism: 0,
        },
    ];
    for p in weak {
        assert!(
            matches!(p.validate(), Err(CryptoError::Malformed(_))),
            "{p:?}"
        );
        assert!(derive_master_key("x", SALT, p).is_err(), "{p:?}");
    }
    KdfParams {
        memory_kib: 1024 * 1024,
        ..FAST
    }
    .validate()
    .unwrap();
}

#[test]
fn short_salt_is_refused() {
    assert!(matches!(
        derive_master_key("x", b"fifteen-bytes!!", FAST),
        Err(CryptoError::Malformed(_))
    ));
    let salt = generate_salt(&mut rng(7));
    assert_eq!(salt.len(), 16);
    assert_ne!(salt, generate_salt(&mut rng(8)));
    derive_master_key("x", &salt, FAST).unwrap();
}

/// The derivation is exactly Argon2id v1.3 (32-byte output) then HKDF-SHA256
/// with info `dmp-auth-v1`, recomputed here with the crates' own APIs.
/// (Fixed values are pinned by the golden file.)
#[test]
fn derivation_is_argon2id_then_hkdf() {
    let k = derive_master_key("password", b"somesaltsomesalt", FAST)
        .unwrap()
        .split();
    let k2 = keys("password");
    assert_ne!(*k.auth_secret, *k2.auth_secret, "salt matters");
    // Independent computation with the argon2 crate's own API.
    use argon2::{Algorithm, Argon2, Params, Version};
    let mut out = [0u8; 32];
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19_456, 2, 1, Some(32)).unwrap(),
    )
    .hash_password_into(b"password", b"somesaltsomesalt", &mut out)
    .unwrap();
    let hk = hkdf::Hkdf::<sha2::Sha256>::new(None, &out);
    let mut auth = [0u8; 32];
    hk.expand(b"dmp-auth-v1", &mut auth).unwrap();
    assert_eq!(*k.auth_secret, hex::encode(auth));
}

#[test]
fn debug_output_is_redacted() {
    let mk = derive_master_key("mot de passe", SALT, FAST).unwrap();
    let k = mk.split();
    for dbg in [format!("{mk:?}"), format!("{k:?}")] {
        assert!(dbg.contains("redacted"), "{dbg}");
        assert!(!dbg.contains(&k.auth_secret[..16]), "{dbg}");
    }
}

/// The default parameters once (64 MiB, t = 3, p = 4), with a timing report.
#[test]
fn default_params_derive() {
    let start = Instant::now();
    let k = derive_master_key("mot de passe", SALT, KdfParams::default())
        .unwrap()
        .split();
    eprintln!(
        "derive_master_key with default params: {:?} ({} build)",
        start.elapsed(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    assert_ne!(*k.auth_secret, *keys("mot de passe").auth_secret);
}

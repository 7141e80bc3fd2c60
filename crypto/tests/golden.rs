//! Golden data made by version 1 of this crate, committed in
//! `tests/golden/v1.json`: two test identities, an envelope with an
//! attachment, a key backup, fingerprints and a safety code. Every future
//! version must still open and reproduce them; a failure here means the wire
//! or storage format changed incompatibly (messages already stored in the DMP
//! would become unreadable).
//!
//! To (re)generate, deliberately: `DMP_CRYPTO_WRITE_GOLDEN=1 cargo test -p
//! dmp-crypto --test golden`, then commit the file. Never regenerate to make
//! this test pass after a format change.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::PathBuf;

use common::{header_input, rng};
use dmp_crypto::{
    decrypt_attachment, derive_master_key, encrypt_attachment, open, open_backup, safety_code,
    seal, seal_backup, AttachmentSecret, Envelope, Header, Identity, KdfParams, KeyBackup,
    Plaintext, PublicIdentity,
};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Golden {
    comment: String,
    alice: Person,
    bob: Person,
    safety_code: String,
    envelope: GoldenEnvelope,
    attachment: GoldenAttachment,
    backup: GoldenBackup,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Person {
    user: String,
    /// Hex of `Identity::to_secret_bytes` (test-only keys).
    secret_hex: String,
    public: PublicIdentity,
    fingerprint: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GoldenEnvelope {
    content: String,
    header: Header,
    plaintext: Plaintext,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GoldenAttachment {
    clear_utf8: String,
    blob_hex: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GoldenBackup {
    user: String,
    password: String,
    salt_hex: String,
    params: KdfParams,
    auth_secret: String,
    backup: KeyBackup,
}

const PARAMS: KdfParams = KdfParams {
    memory_kib: 19_456,
    iterations: 2,
    parallelism: 1,
};

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/v1.json")
}

fn person(user: &str, id: &Identity) -> Person {
    Person {
        user: user.into(),
        secret_hex: hex::encode(&*id.to_secret_bytes()),
        public: id.public(),
        fingerprint: id.public().fingerprint(),
    }
}

fn generate() -> Golden {
    let alice = Identity::generate(&mut rng(0xa11ce));
    let bob = Identity::generate(&mut rng(0xb0b));
    let (a_user, b_user) = ("pat_7f3a", "doc_19c2");

    let clear = "Compte rendu: TA 12/8, poursuivre le traitement. ✅\n";
    let mut blob = Vec::new();
    let (key, size, sha256) =
        encrypt_attachment(&mut rng(1), clear.as_bytes(), &mut blob).expect("encrypt");
    let plaintext = Plaintext {
        text: "Bonjour Docteur, voici le compte rendu demandé. Merci ! 🙏".into(),
        attachments: vec![AttachmentSecret {
            id: "att_0001".into(),
            name: "compte-rendu.txt".into(),
            mime_type: "text/plain; charset=utf-8".into(),
            size,
            sha256,
            key: {
                use base64::Engine as _;
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(*key)
            },
            media: None,
        }],
        category: None,
    };
    let env = seal(
        &mut rng(2),
        &alice,
        header_input(a_user, b_user),
        &plaintext,
        &[(b_user, &bob.public()), (a_user, &alice.public())],
    )
    .expect("seal");

    let password = "Mot de passe très sûr, 2024 !";
    let salt = *b"golden-salt-0001";
    let keys = derive_master_key(password, &salt, PARAMS)
        .expect("kdf")
        .split();
    let backup = seal_backup(&mut rng(3), &alice, &keys, a_user);

    Golden {
        comment: "dmp-crypto v1 golden data. Test-only keys. Do not regenerate to fix a failing test: see tests/golden.rs.".into(),
        safety_code: safety_code(a_user, &alice.public(), b_user, &bob.public()),
        alice: person(a_user, &alice),
        bob: person(b_user, &bob),
        envelope: GoldenEnvelope {
            content: env.to_content(),
            header: env.header.clone(),
            plaintext,
        },
        attachment: GoldenAttachment {
            clear_utf8: clear.into(),
            blob_hex: hex::encode(&blob),
        },
        backup: GoldenBackup {
            user: a_user.into(),
            password: password.into(),
            salt_hex: hex::encode(salt),
            params: PARAMS,
            auth_secret: (*keys.auth_secret).clone(),
            backup,
        },
    }
}

fn load() -> Golden {
    // The tests of this file run in parallel: write once, before any read.
    static WRITE: std::sync::Once = std::sync::Once::new();
    WRITE.call_once(|| {
        if std::env::var_os("DMP_CRYPTO_WRITE_GOLDEN").is_some_and(|v| v == "1") {
            let json = serde_json::to_string_pretty(&generate()).expect("json");
            std::fs::write(path(), json + "\n").expect("write golden file");
        }
    });
    let text = std::fs::read_to_string(path()).unwrap_or_else(|e| {
        panic!(
            "{} is missing ({e}). It is made once, by the format's first version: \
             run `DMP_CRYPTO_WRITE_GOLDEN=1 cargo test -p dmp-crypto --test golden` \
             and commit it. If it existed before, restore it from git instead.",
            path().display()
        )
    });
    serde_json::from_str(&text).expect("golden file parses")
}

fn identity(p: &Person) -> Identity {
    let id = Identity::from_secret_bytes(&hex::decode(&p.secret_hex).unwrap()).unwrap();
    assert_eq!(id.public(), p.public, "{} public key", p.user);
    assert_eq!(
        id.public().fingerprint(),
        p.fingerprint,
        "{} fingerprint",
        p.user
    );
    id
}

#[test]
fn identities_fingerprints_and_safety_code() {
    let g = load();
    let alice = identity(&g.alice);
    let bob = identity(&g.bob);
    assert_eq!(
        safety_code(&g.alice.user, &alice.public(), &g.bob.user, &bob.public()),
        g.safety_code
    );
    assert_eq!(
        safety_code(&g.bob.user, &bob.public(), &g.alice.user, &alice.public()),
        g.safety_code
    );
}

#[test]
fn envelope_still_opens() {
    let g = load();
    let alice = identity(&g.alice);
    let bob = identity(&g.bob);
    let env = Envelope::from_content(&g.envelope.content).unwrap();
    assert_eq!(
        env.to_content(),
        g.envelope.content,
        "re-encoding is stable"
    );
    for (user, id) in [(&g.bob.user, &bob), (&g.alice.user, &alice)] {
        let (header, plaintext) = open(&env, user, id, &g.alice.public).unwrap();
        assert_eq!(header, g.envelope.header);
        assert_eq!(plaintext, g.envelope.plaintext);
    }
}

#[test]
fn attachment_still_decrypts() {
    let g = load();
    let blob = hex::decode(&g.attachment.blob_hex).unwrap();
    let secret = &g.envelope.plaintext.attachments[0];
    let mut out = Vec::new();
    secret.decrypt_verified(blob.as_slice(), &mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), g.attachment.clear_utf8);
    let mut out = Vec::new();
    decrypt_attachment(&secret.file_key().unwrap(), blob.as_slice(), &mut out).unwrap();
    assert_eq!(out, g.attachment.clear_utf8.as_bytes());
}

#[test]
fn backup_still_opens_and_login_secret_is_stable() {
    let g = load();
    let b = &g.backup;
    let keys = derive_master_key(&b.password, &hex::decode(&b.salt_hex).unwrap(), b.params)
        .unwrap()
        .split();
    assert_eq!(
        *keys.auth_secret, b.auth_secret,
        "auth secret changed: logins would break"
    );
    let restored = open_backup(&b.backup, &keys, &b.user).unwrap();
    assert_eq!(restored.public(), g.alice.public);
}

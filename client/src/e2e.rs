//! End-to-end encryption in the client: the zero-knowledge login, the
//! identity (restored from the keychain or from the password-sealed backup),
//! peer keys pinned on first use, and sealing / opening of every message
//! and attachment with `dmp-crypto`. The server only ever sees envelopes.

use crate::error::{ClientError, ClientResult};
use crate::keychain::Secret;
use crate::{ClientEvent, Inner};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use dmp_crypto::{Envelope, HeaderInput, Identity, LoginKeys, Plaintext, PublicIdentity};
use dmp_protocol::api::{KdfParams, PublicKeys, PutKeysRequest};
use dmp_protocol::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use zeroize::Zeroizing;

/// What the login step learnt that the identity step needs.
pub(crate) enum LoginSecret {
    /// Zero-knowledge login: the keys derived from the password.
    Zk(LoginKeys),
    /// First login of an account made by an admin: the password, once, to upgrade it.
    Legacy(Zeroizing<String>),
}

pub(crate) fn to_wire(p: &PublicIdentity) -> PublicKeys {
    PublicKeys {
        encryption_key: p.encryption_key.clone(),
        signing_key: p.signing_key.clone(),
    }
}

pub(crate) fn from_wire(k: &PublicKeys) -> ClientResult<PublicIdentity> {
    let p = PublicIdentity {
        encryption_key: k.encryption_key.clone(),
        signing_key: k.signing_key.clone(),
    };
    p.validate()?;
    Ok(p)
}

fn kdf_in(k: KdfParams) -> dmp_crypto::KdfParams {
    dmp_crypto::KdfParams {
        memory_kib: k.memory_kib,
        iterations: k.iterations,
        parallelism: k.parallelism,
    }
}

fn kdf_out(k: dmp_crypto::KdfParams) -> KdfParams {
    KdfParams {
        memory_kib: k.memory_kib,
        iterations: k.iterations,
        parallelism: k.parallelism,
    }
}

/// Argon2id over the password (on a blocking thread), split into the authentication secret and the KEK.
pub(crate) async fn derive(
    password: &str,
    salt: &[u8],
    kdf: dmp_crypto::KdfParams,
) -> ClientResult<LoginKeys> {
    kdf.validate()?;
    let password = Zeroizing::new(password.to_owned());
    let salt = salt.to_vec();
    tokio::task::spawn_blocking(move || {
        Ok(dmp_crypto::derive_master_key(&password, &salt, kdf)?.split())
    })
    .await
    .map_err(|e| ClientError::Io(e.to_string()))?
}

/// Derives the login keys for a prelogin answer of scheme `zk-v1`.
pub(crate) async fn derive_for(
    password: &str,
    salt_b64: &str,
    kdf: KdfParams,
) -> ClientResult<LoginKeys> {
    let salt = B64.decode(salt_b64).map_err(|_| ClientError::E2e {
        code: "E2E_MALFORMED",
        message: "the server sent a bad salt".into(),
    })?;
    derive(password, &salt, kdf_in(kdf)).await
}

/// Accounts upgraded to the zero-knowledge login on this device. Not secret:
/// it only lets the client refuse a server that asks for the password again.
pub(crate) struct UpgradedAccounts(PathBuf);

impl UpgradedAccounts {
    pub(crate) fn at(data_dir: &Path) -> Self {
        Self(data_dir.join("upgraded-accounts.json"))
    }

    fn load(&self) -> Vec<String> {
        std::fs::read(&self.0)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub(crate) fn contains(&self, server: &str, username: &str) -> bool {
        self.load().contains(&format!("{username}@{server}"))
    }

    pub(crate) fn add(&self, server: &str, username: &str) -> ClientResult<()> {
        let mut all = self.load();
        let key = format!("{username}@{server}");
        if !all.contains(&key) {
            all.push(key);
            if let Some(dir) = self.0.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&self.0, serde_json::to_vec(&all).unwrap_or_default())?;
        }
        Ok(())
    }
}

/// Device tokens returned by successful logins, per `username@server`: sent
/// with the next login from this device so that it keeps its own failure
/// budget when others lock the account name (docs/security.md,
/// "Throttling"). Not a credential: it only proves this device signed in
/// before. The file is private to the user (0600).
pub(crate) struct DeviceTokens(PathBuf);

impl DeviceTokens {
    pub(crate) fn at(data_dir: &Path) -> Self {
        Self(data_dir.join("device-tokens.json"))
    }

    fn load(&self) -> std::collections::BTreeMap<String, String> {
        std::fs::read(&self.0)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    pub(crate) fn get(&self, server: &str, username: &str) -> Option<String> {
        self.load()
            .remove(&format!("{}@{server}", username.to_lowercase()))
    }

    pub(crate) fn set(&self, server: &str, username: &str, token: &str) -> ClientResult<()> {
        let mut all = self.load();
        all.insert(
            format!("{}@{server}", username.to_lowercase()),
            token.to_owned(),
        );
        if let Some(dir) = self.0.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = self.0.with_extension("json.tmp");
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).write(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp)?;
        std::io::Write::write_all(&mut f, &serde_json::to_vec(&all).unwrap_or_default())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &self.0)?;
        Ok(())
    }
}

fn identity_hex(id: &Identity) -> Zeroizing<String> {
    Zeroizing::new(hex::encode(id.to_secret_bytes().as_slice()))
}

pub(crate) fn identity_from_hex(s: &str) -> ClientResult<Identity> {
    let bytes = Zeroizing::new(
        hex::decode(s)
            .map_err(|_| ClientError::Keychain("the stored identity is damaged".into()))?,
    );
    Ok(Identity::from_secret_bytes(&bytes)?)
}

impl Inner {
    /// The user's identity (private keys), once set up.
    pub(crate) fn identity(&self) -> ClientResult<Arc<Identity>> {
        self.identity.read().clone().ok_or(ClientError::E2e {
            code: "E2E_NOT_READY",
            message:
                "end-to-end encryption is not set up on this device: sign in with your password"
                    .into(),
        })
    }

    /// Sets up the identity after a password login: from the keychain, from
    /// the backup, or made now (first login), and upgrades a legacy account.
    pub(crate) async fn setup_identity(&self, secret: LoginSecret) -> ClientResult<()> {
        let me = self.user.id.clone();
        let stored = self
            .keychain
            .get(Secret::Identity)
            .await?
            .map(|h| identity_from_hex(&h))
            .transpose()?;
        let identity = match secret {
            LoginSecret::Zk(keys) => {
                let mine = self.api.my_keys().await?;
                match (stored, mine.backup) {
                    (Some(id), Some(_)) => id,
                    (Some(id), None) => {
                        // The backup was dropped (password reset by an admin): seal it again.
                        self.publish(&id, &keys, None, &keys.auth_secret).await?;
                        id
                    }
                    (None, Some(b)) => {
                        let backup = dmp_crypto::KeyBackup {
                            version: b.version,
                            nonce: b.nonce,
                            ciphertext: b.ciphertext,
                        };
                        dmp_crypto::open_backup(&backup, &keys, me.as_str())?
                    }
                    (None, None) => {
                        let id = Identity::generate(&mut rand::rngs::OsRng);
                        self.publish(&id, &keys, None, &keys.auth_secret).await?;
                        id
                    }
                }
            }
            LoginSecret::Legacy(password) => {
                // Keep the keys this device has (history stays readable), or make new ones.
                let identity = stored.unwrap_or_else(|| Identity::generate(&mut rand::rngs::OsRng));
                let salt = dmp_crypto::generate_salt(&mut rand::rngs::OsRng);
                let kdf = dmp_crypto::KdfParams::default();
                let keys = derive(&password, &salt, kdf).await?;
                // The proof of a legacy account is its password.
                self.publish(
                    &identity,
                    &keys,
                    Some((B64.encode(salt), kdf_out(kdf))),
                    &password,
                )
                .await?;
                identity
            }
        };
        self.keychain
            .set(Secret::Identity, &identity_hex(&identity))
            .await?;
        *self.identity.write() = Some(Arc::new(identity));
        Ok(())
    }

    /// Publishes the public keys and the backup sealed under `keys`; with
    /// `zk`, switches the login. `proof` is the current login credential
    /// (what the login sent), which the server requires for any change.
    async fn publish(
        &self,
        id: &Identity,
        keys: &LoginKeys,
        zk: Option<(String, KdfParams)>,
        proof: &str,
    ) -> ClientResult<()> {
        let b = dmp_crypto::seal_backup(&mut rand::rngs::OsRng, id, keys, self.user.id.as_str());
        let (auth_secret, salt, kdf) = match zk {
            Some((salt, kdf)) => (Some(keys.auth_secret.to_string()), Some(salt), Some(kdf)),
            None => (None, None, None),
        };
        let req = PutKeysRequest {
            current_secret: proof.to_owned(),
            public_keys: to_wire(&id.public()),
            backup: api::KeyBackup {
                version: b.version,
                nonce: b.nonce,
                ciphertext: b.ciphertext,
            },
            auth_secret,
            salt,
            kdf,
        };
        self.api.put_my_keys(&req).await
    }

    /// A peer's pinned public keys to encrypt to; refused while a key change waits for the user.
    pub(crate) async fn peer_public(&self, user: &UserId) -> ClientResult<PublicIdentity> {
        self.peer_key(user, true).await
    }

    /// A peer's pinned public keys; fetched and pinned on first use. With
    /// `for_sending`, a pending key change is an error; signatures are always
    /// checked against the key pinned first (the one the user trusted).
    async fn peer_key(&self, user: &UserId, for_sending: bool) -> ClientResult<PublicIdentity> {
        if *user == self.user.id {
            return Ok(self.identity()?.public());
        }
        if let Some((keys, changed)) = self.cache.pinned(user)? {
            if for_sending && changed.is_some() {
                return Err(ClientError::PeerKeyChanged(user.to_string()));
            }
            let k: PublicKeys =
                serde_json::from_str(&keys).map_err(|e| ClientError::Cache(e.to_string()))?;
            return from_wire(&k);
        }
        let fetched = self.api.user_keys(user).await?.ok_or_else(|| ClientError::E2e {
            code: "E2E_PEER_NOT_READY",
            message: format!("{user} has not signed in yet, so their encryption key is not known: try again later"),
        })?;
        let public = from_wire(&fetched.public_keys)?;
        let json = serde_json::to_string(&fetched.public_keys).unwrap_or_default();
        self.cache
            .pin(user, &json, chrono::Utc::now().timestamp_millis())?;
        Ok(public)
    }

    /// Compares the server's current keys of a peer with the pinned ones;
    /// raises `PeerKeyChanged` when they differ.
    pub(crate) async fn check_peer(&self, user: &UserId, name: &str) -> ClientResult<()> {
        let Some(fetched) = self.api.user_keys(user).await? else {
            return Ok(());
        };
        let json = serde_json::to_string(&fetched.public_keys).unwrap_or_default();
        match self.cache.pinned(user)? {
            None => self
                .cache
                .pin(user, &json, chrono::Utc::now().timestamp_millis())?,
            Some((pinned, changed))
                if pinned != json && changed.as_deref() != Some(json.as_str()) =>
            {
                tracing::warn!(peer = %user, "a peer's public key changed");
                self.cache.mark_changed(user, &json)?;
                self.emit(ClientEvent::PeerKeyChanged {
                    user_id: user.clone(),
                    name: name.to_owned(),
                });
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// Seals a message to the peer and to oneself.
    pub(crate) async fn seal(
        &self,
        ctx: &Context,
        cmid: &ClientMessageId,
        text: &str,
        attachments: &[AttachmentId],
        category: Option<QuestionCategory>,
    ) -> ClientResult<String> {
        let identity = self.identity()?;
        let me = self.user.id.clone();
        let peer = if ctx.patient.id == me {
            ctx.doctor.id.clone()
        } else {
            ctx.patient.id.clone()
        };
        let peer_public = self.peer_public(&peer).await?;
        let mut secrets = Vec::with_capacity(attachments.len());
        for a in attachments {
            let s = self.secret_of(a)?.ok_or_else(|| {
                ClientError::Invalid(format!("attachment {a} was not uploaded from this device"))
            })?;
            secrets.push(s);
        }
        // A thumbnail's blob is on the wire list, its secret nested in its image's (see `media`).
        let nested: Vec<String> = secrets
            .iter()
            .filter_map(|s| s.media.as_ref()?.thumbnail.as_ref().map(|t| t.id.clone()))
            .collect();
        secrets.retain(|s| !nested.contains(&s.id));
        let input = HeaderInput {
            client_message_id: cmid.to_string(),
            context: format!("{}/{}", ctx.kind, ctx.id),
            session_id: Session::id_for(ctx.kind, &ctx.id, &ctx.patient.id, &ctx.doctor.id)
                .to_string(),
            sender: me.to_string(),
            recipient: peer.to_string(),
            timestamp_ms: chrono::Utc::now().timestamp_millis(),
        };
        let plaintext = Plaintext {
            text: text.to_owned(),
            attachments: secrets,
            category: category.map(|c| c.as_str().to_owned()),
        };
        let my_public = identity.public();
        let env = dmp_crypto::seal(
            &mut rand::rngs::OsRng,
            &identity,
            input,
            &plaintext,
            &[(peer.as_str(), &peer_public), (me.as_str(), &my_public)],
        )?;
        Ok(env.to_content())
    }

    /// The wire form of a queued send: its text sealed now, to the peer's
    /// current pinned key. The outbox keeps the clear request (inside the
    /// encrypted cache), so a message written before the peer has keys simply
    /// waits; a repeat is harmless because the server keeps the first copy of
    /// a `clientMessageId`.
    pub(crate) async fn seal_request(
        &self,
        req: &api::SendRequest,
    ) -> ClientResult<api::SendRequest> {
        if Envelope::is_envelope(&req.content) {
            return Ok(req.clone());
        }
        let ctx = self
            .cache
            .context(req.context_type, &req.context_id)?
            .ok_or_else(ClientError::not_yours)?;
        let mut sealed = req.clone();
        sealed.content = self
            .seal(
                &ctx.context,
                &req.client_message_id,
                &req.content,
                &req.attachments,
                req.metadata.category,
            )
            .await?;
        Ok(sealed)
    }

    /// Opens a message from the server. Clear-text (pre-E2E) messages are kept
    /// and flagged; a message that fails any check keeps no content and
    /// carries the reason.
    pub(crate) async fn decrypt(&self, mut m: Message) -> Message {
        if m.deleted_at.is_some() {
            m.encrypted = Some(Envelope::is_envelope(&m.content) || m.content.is_empty());
            m.content.clear();
            return m;
        }
        if m.kind == MessageType::System && m.sender.kind == UserType::System {
            // Written by the server, in clear by design (docs/messaging.md,
            // "Closing a conversation"): neither encrypted nor a warning.
            return m;
        }
        if !Envelope::is_envelope(&m.content) {
            m.encrypted = Some(false);
            return m;
        }
        m.encrypted = Some(true);
        match self.open(&m).await {
            Ok(pt) => {
                m.content = pt.text.clone();
                m.attachments = pt
                    .attachments
                    .iter()
                    .map(crate::media::attachment_view)
                    .collect();
                let thumbnails = pt
                    .attachments
                    .iter()
                    .filter_map(|a| a.media.as_ref()?.thumbnail.as_deref());
                for a in pt.attachments.iter().chain(thumbnails) {
                    if let Ok(json) = serde_json::to_string(a) {
                        let _ = self
                            .cache
                            .put_attachment_secret(&AttachmentId(a.id.clone()), &json);
                    }
                }
                m.e2e_error = None;
            }
            Err(e) => {
                tracing::warn!(message = %m.id, code = e.code(), "an encrypted message failed verification");
                m.content.clear();
                m.attachments.clear();
                m.e2e_error = Some(e.code().to_owned());
            }
        }
        m
    }

    async fn open(&self, m: &Message) -> ClientResult<Plaintext> {
        let identity = self.identity()?;
        let env = Envelope::from_content(&m.content)?;
        let sender_public = self.peer_key(&m.sender.id, false).await?;
        let (header, pt) =
            dmp_crypto::open(&env, self.user.id.as_str(), &identity, &sender_public)?;
        let context = format!("{}/{}", m.context.kind, m.context.id);
        let consistent = header.sender == m.sender.id.as_str()
            && header.recipient == m.recipient.id.as_str()
            && header.context == context
            && header.client_message_id == m.client_message_id.as_str()
            && (m.session_id.as_str().is_empty() || header.session_id == m.session_id.as_str());
        if !consistent {
            return Err(ClientError::E2e {
                code: "E2E_HEADER_MISMATCH",
                message: "the message was moved to another conversation or sender".into(),
            });
        }
        // The category the patient sealed must be the clear code the server
        // files the question under (docs/security.md, "Question categories").
        if let Some(sealed) = pt.category.as_deref() {
            if m.metadata.category.map(QuestionCategory::as_str) != Some(sealed) {
                return Err(ClientError::E2e {
                    code: "E2E_HEADER_MISMATCH",
                    message: "the question's category differs from the one its sender sealed"
                        .into(),
                });
            }
        }
        Ok(pt)
    }

    /// A local (outbox) message with its own envelope opened for display.
    pub(crate) fn local(&self, mut m: Message) -> Message {
        if !Envelope::is_envelope(&m.content) {
            return m;
        }
        let opened = self.identity().ok().and_then(|id| {
            let env = Envelope::from_content(&m.content).ok()?;
            dmp_crypto::open(&env, self.user.id.as_str(), &id, &id.public()).ok()
        });
        match opened {
            Some((_, pt)) => {
                m.content = pt.text.clone();
                m.encrypted = Some(true);
            }
            None => {
                m.content.clear();
                m.e2e_error = Some("E2E_NOT_READY".into());
            }
        }
        m
    }

    /// The safety code of this user and a peer (same on both sides).
    pub(crate) async fn safety_code(&self, peer: &UserId) -> ClientResult<String> {
        let identity = self.identity()?;
        let peer_public = match self.cache.pinned(peer)? {
            Some((keys, _)) => from_wire(
                &serde_json::from_str(&keys).map_err(|e| ClientError::Cache(e.to_string()))?,
            )?,
            None => self.peer_public(peer).await?,
        };
        Ok(dmp_crypto::safety_code(
            self.user.id.as_str(),
            &identity.public(),
            peer.as_str(),
            &peer_public,
        ))
    }
}

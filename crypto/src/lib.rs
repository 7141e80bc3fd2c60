//! End-to-end encryption for DMP secure messaging (DESIGN.md §6): the server
//! stores and relays only what this crate produces, and never sees message
//! text, attachment bytes or private keys.
//!
//! - [`identity`]: a user's long-term keys (X25519 for HPKE, Ed25519 for
//!   signatures), their public form, fingerprints and safety codes.
//! - [`envelope`]: one message, sealed under a fresh content key that is
//!   wrapped with HPKE (RFC 9180) to every participant and signed by the sender.
//! - [`attachment`]: chunked, streamed encryption of files under a per-file
//!   key carried inside the message envelope.
//! - [`backup`]: Argon2id over the password, split into a login secret for the
//!   server and a key-encryption key that protects the identity backup.
//! - [`private`]: data a user keeps for themselves only (reply templates),
//!   sealed under a key derived from their identity.
//!
//! The crate is pure: no network, no filesystem, no clock and no ambient
//! randomness. Callers pass in the random number generator and the
//! `Read`/`Write` streams. Every secret type zeroizes itself on drop and prints
//! `<redacted>` under `Debug`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod attachment;
pub mod backup;
mod encoding;
pub mod envelope;
mod error;
pub mod identity;
pub mod private;

pub use attachment::{
    decrypt_attachment, encrypt_attachment, encrypted_size, ATTACHMENT_MAGIC, CHUNK_SIZE,
};
pub use backup::{
    derive_master_key, generate_salt, open_backup, seal_backup, KdfParams, KeyBackup, LoginKeys,
    MasterKey, SALT_LEN,
};
pub use envelope::{
    open, seal, AttachmentSecret, Envelope, Header, HeaderInput, MediaSecret, Plaintext,
    WrappedKey, ENVELOPE_PREFIX, SUITE,
};
pub use error::CryptoError;
pub use identity::{safety_code, Identity, PublicIdentity};
pub use private::{open_private, seal_private, PRIVATE_PREFIX};

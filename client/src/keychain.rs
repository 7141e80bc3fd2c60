//! The OS keychain (Secret Service on Linux) holds, per (server, user), the
//! refresh token and the key of the encrypted local cache. Nothing secret is
//! written to a file. Calls are blocking D-Bus round trips, so they run on
//! blocking threads.

use crate::error::{ClientError, ClientResult};
use std::sync::Once;
use zeroize::Zeroizing;

/// Keychain service name of every entry.
pub const SERVICE: &str = "dmp-messagerie";

/// What an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Secret {
    /// The current refresh token.
    RefreshToken,
    /// The 256-bit key of the local cache (hex).
    CacheKey,
    /// The user's end-to-end identity (private keys).
    Identity,
}

impl Secret {
    fn label(self) -> &'static str {
        match self {
            Self::RefreshToken => "refresh-token",
            Self::CacheKey => "cache-key",
            Self::Identity => "identity",
        }
    }
}

/// Entries of one (server, user).
#[derive(Debug, Clone)]
pub struct Keychain {
    account: String,
}

static INIT: Once = Once::new();

fn init_store() -> ClientResult<()> {
    #[cfg(target_os = "linux")]
    {
        let mut err: Option<String> = None;
        INIT.call_once(|| match zbus_secret_service_keyring_store::Store::new() {
            Ok(store) => keyring_core::set_default_store(store),
            Err(e) => err = Some(e.to_string()),
        });
        if let Some(e) = err {
            return Err(ClientError::Keychain(format!(
                "the Secret Service is not available: {e}"
            )));
        }
        if keyring_core::get_default_store().is_none() {
            return Err(ClientError::Keychain(
                "the Secret Service is not available".into(),
            ));
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(ClientError::Keychain(
            "no keychain backend for this platform yet".into(),
        ))
    }
}

impl Keychain {
    /// The entries of `user` on `server`.
    pub fn new(server: &str, user: &str) -> Self {
        Self {
            account: format!("{user}@{server}"),
        }
    }

    fn entry(&self, what: Secret) -> ClientResult<keyring_core::Entry> {
        init_store()?;
        keyring_core::Entry::new(SERVICE, &format!("{}#{}", self.account, what.label()))
            .map_err(|e| ClientError::Keychain(e.to_string()))
    }

    /// Reads a secret; `None` when absent.
    pub async fn get(&self, what: Secret) -> ClientResult<Option<Zeroizing<String>>> {
        let this = self.clone();
        blocking(move || match this.entry(what)?.get_password() {
            Ok(v) => Ok(Some(Zeroizing::new(v))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(ClientError::Keychain(e.to_string())),
        })
        .await
    }

    /// Writes a secret.
    pub async fn set(&self, what: Secret, value: &str) -> ClientResult<()> {
        let this = self.clone();
        let value = Zeroizing::new(value.to_owned());
        blocking(move || {
            this.entry(what)?
                .set_password(&value)
                .map_err(|e| ClientError::Keychain(e.to_string()))
        })
        .await
    }

    /// Deletes a secret (absent is fine).
    pub async fn delete(&self, what: Secret) -> ClientResult<()> {
        let this = self.clone();
        blocking(move || match this.entry(what)?.delete_credential() {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(ClientError::Keychain(e.to_string())),
        })
        .await
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> ClientResult<T> + Send + 'static,
) -> ClientResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ClientError::Keychain(e.to_string()))?
}

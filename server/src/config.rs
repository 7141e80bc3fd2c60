//! Server configuration: built-in defaults, then a TOML file, then `DMP_*`
//! environment variables (`DMP_BIND`, `DMP_RATE_LIMIT__SEND_PER_SECOND`:
//! a double underscore enters a section).

use crate::store::sqlite::Durability;
use dmp_protocol::Limits;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Everything the server can be told.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Where the database, keys and attachments live.
    pub data_dir: PathBuf,
    /// Issuer and audience of access tokens.
    pub token_issuer: String,
    /// Access token lifetime (at most 900 s).
    pub access_token_ttl_secs: u64,
    /// Refresh family lifetime.
    pub refresh_token_ttl_days: u32,
    /// Allowed `Origin` values for the WebSocket (absent Origin is allowed: native clients).
    pub allowed_origins: Vec<String>,
    /// Largest JSON body.
    pub max_json_body_bytes: usize,
    /// Commit durability.
    pub durability: Durability,
    /// Refuse messages that are not end-to-end encrypted envelopes (and clear-text
    /// attachments). On by default; `false` (`DMP_REQUIRE_E2E=false`) is the
    /// operator's migration mode for clients from before E2E (docs/security.md).
    pub require_e2e: bool,
    /// Seconds between maintenance runs (auto-archive, retention).
    pub maintenance_interval_secs: u64,
    /// Messaging limits.
    pub limits: Limits,
    /// Rate limits.
    pub rate_limit: RateLimitConfig,
    /// Login throttling.
    pub login: LoginConfig,
    /// WebSocket tuning.
    pub ws: WsConfig,
    /// Audit trail anchor (docs/security.md, "Audit trail").
    pub audit: AuditConfig,
}

/// Where the audit chain's anchor lives and how often it is written.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// HMAC key of the checkpoints (created 0600 on first start); default
    /// `<data_dir>/audit-anchor.key`. Keep it off the database's disk if you can.
    pub anchor_key_file: Option<PathBuf>,
    /// Append-only checkpoint file; default `<data_dir>/audit-checkpoints`.
    pub checkpoint_file: Option<PathBuf>,
    /// Under load, at most one checkpoint per this many milliseconds (an idle
    /// writer checkpoints at once, so a quiet trail is always fully anchored).
    pub checkpoint_interval_ms: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            anchor_key_file: None,
            checkpoint_file: None,
            checkpoint_interval_ms: 1000,
        }
    }
}

/// Per-user and per-connection rates.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained sends per user per second (REST and WebSocket together).
    pub send_per_second: f64,
    /// Burst of sends per user.
    pub send_burst: f64,
    /// Sustained frames per WebSocket connection per second.
    pub ws_frames_per_second: f64,
    /// Burst of frames per connection.
    pub ws_frames_burst: f64,
}

/// Login throttling per account name.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginConfig {
    /// Failed attempts allowed before the account name is locked.
    pub max_failures: u32,
    /// First lock duration; doubles with every further failure.
    pub lockout_secs: u64,
    /// Longest lock.
    pub max_lockout_secs: u64,
}

/// WebSocket behaviour.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WsConfig {
    /// Seconds an unauthenticated socket may wait before sending `auth`.
    pub auth_timeout_secs: u64,
    /// Seconds between server pings.
    pub ping_interval_secs: u64,
    /// Seconds without any frame from the client before the socket is closed.
    pub idle_timeout_secs: u64,
    /// Frames queued for one connection before it is considered too slow.
    pub send_queue: usize,
    /// Largest accepted frame.
    pub max_frame_bytes: usize,
    /// Seconds after the last `typing` before an `isTyping:false` is sent for a silent sender.
    pub typing_expiry_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8443)),
            data_dir: PathBuf::from("data"),
            token_issuer: "dmp-server".into(),
            access_token_ttl_secs: 900,
            refresh_token_ttl_days: 30,
            allowed_origins: vec![
                "tauri://localhost".into(),
                "http://tauri.localhost".into(),
                "http://localhost:1420".into(),
            ],
            max_json_body_bytes: 64 * 1024,
            durability: Durability::Full,
            require_e2e: true,
            maintenance_interval_secs: 60,
            limits: Limits::default(),
            rate_limit: RateLimitConfig::default(),
            login: LoginConfig::default(),
            ws: WsConfig::default(),
            audit: AuditConfig::default(),
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            send_per_second: 5.0,
            send_burst: 20.0,
            ws_frames_per_second: 50.0,
            ws_frames_burst: 200.0,
        }
    }
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            max_failures: 5,
            lockout_secs: 30,
            max_lockout_secs: 900,
        }
    }
}

impl Default for WsConfig {
    fn default() -> Self {
        Self {
            auth_timeout_secs: 10,
            ping_interval_secs: 30,
            idle_timeout_secs: 90,
            send_queue: 256,
            max_frame_bytes: dmp_protocol::ws::MAX_FRAME_BYTES,
            typing_expiry_secs: 5,
        }
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The merged configuration is not valid.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Defaults, then `file` (if given), then the `DMP_*` variables of `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut merged = toml::Table::try_from(Config::default())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            let table: toml::Table = text
                .parse()
                .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
            merge(&mut merged, table);
        }
        let mut from_env = toml::Table::new();
        for (key, value) in env {
            let Some(rest) = key.strip_prefix("DMP_") else {
                continue;
            };
            let path: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
            // Other DMP_* variables (the client's, the test scripts') are not ours.
            if !path.first().is_some_and(|k| merged.contains_key(k)) {
                tracing::debug!(variable = %key, "ignoring an environment variable that is not a server setting");
                continue;
            }
            set_path(&mut from_env, &path, parse_scalar(&value));
        }
        merge(&mut merged, from_env);
        let config: Config = toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.access_token_ttl_secs == 0 || self.access_token_ttl_secs > 900 {
            return Err(ConfigError::Invalid(
                "access_token_ttl_secs must be between 1 and 900".into(),
            ));
        }
        if self.rate_limit.send_per_second <= 0.0 || self.rate_limit.send_burst < 1.0 {
            return Err(ConfigError::Invalid(
                "rate_limit.send_* must be positive".into(),
            ));
        }
        if self.limits.max_message_length == 0 || self.ws.send_queue == 0 {
            return Err(ConfigError::Invalid("limits must be positive".into()));
        }
        Ok(())
    }

    /// The SQLite database file.
    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("dmp.sqlite3")
    }

    /// The audit anchor's key file.
    pub fn audit_key_path(&self) -> PathBuf {
        self.audit
            .anchor_key_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("audit-anchor.key"))
    }

    /// The audit checkpoint file.
    pub fn audit_checkpoint_path(&self) -> PathBuf {
        self.audit
            .checkpoint_file
            .clone()
            .unwrap_or_else(|| self.data_dir.join("audit-checkpoints"))
    }

    /// The attachment directory.
    pub fn attachments_dir(&self) -> PathBuf {
        self.data_dir.join("attachments")
    }
}

/// A variable's value as TOML when it parses as a scalar or array, else as a string.
fn parse_scalar(value: &str) -> toml::Value {
    format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_owned()))
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) {
    match path {
        [] => {}
        [last] => {
            table.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = table
                .entry(first.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(t) = entry {
                set_path(t, rest, value);
            }
        }
    }
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order() {
        let dir = std::env::temp_dir().join(format!("dmp-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "bind = \"127.0.0.1:9000\"\n[rate_limit]\nsend_per_second = 7.0\n",
        )
        .unwrap();
        let env = vec![
            ("DMP_RATE_LIMIT__SEND_BURST".to_owned(), "40".to_owned()),
            ("DMP_DATA_DIR".to_owned(), "/tmp/x y".to_owned()),
            ("HOME".to_owned(), "/root".to_owned()),
        ];
        let c = Config::load(Some(&file), env).unwrap();
        assert_eq!(c.bind.port(), 9000);
        assert_eq!(c.rate_limit.send_per_second, 7.0);
        assert_eq!(c.rate_limit.send_burst, 40.0);
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x y"));
        assert_eq!(c.limits.max_message_length, 1000);
    }

    #[test]
    fn bad_values_are_refused() {
        let env = vec![("DMP_ACCESS_TOKEN_TTL_SECS".to_owned(), "3600".to_owned())];
        assert!(Config::load(None, env).is_err());
        // A misspelt key inside a known section is refused; unrelated DMP_* variables are ignored.
        let env = vec![("DMP_RATE_LIMIT__NO_SUCH_KEY".to_owned(), "1".to_owned())];
        assert!(Config::load(None, env).is_err());
        let env = vec![("DMP_CLIENT_DATA_DIR".to_owned(), "/tmp".to_owned())];
        assert!(Config::load(None, env).is_ok());
    }
}

//! Server configuration: built-in defaults, then a TOML file, then `DMP_*`
//! environment variables (`DMP_BIND`, `DMP_RATE_LIMIT__SEND_PER_SECOND`:
//! a double underscore enters a section), layered with figment.

use crate::store::Durability;
use dmp_protocol::Limits;
use figment::providers::{Format, Serialized, Toml};
use figment::{Figment, Profile, Provider};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Everything the server can be told.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Where the keys, the attachments and (by default) the SQLite database live.
    pub data_dir: PathBuf,
    /// Which database: empty (the default) is the SQLite file `dmp.sqlite3`
    /// in `data_dir`; `sqlite://PATH` another SQLite file; `postgres://…`
    /// (or `postgresql://…`, libpq syntax) a PostgreSQL shared by several
    /// nodes (docs/deployment.md). Its password is never printed.
    pub database_url: DatabaseUrl,
    /// Connections kept by a PostgreSQL store (ignored for SQLite).
    pub database_pool_size: usize,
    /// This node's name (default: random, new at each start): logs, the
    /// `x-dmp-node` response header, its Redis instance in a cluster, its
    /// audit checkpoint file with PostgreSQL (docs/security.md, "Audit trail").
    pub node_id: String,
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
    // Transport (docs/security.md "Transport").
    /// Serve plain HTTP instead of HTTPS: only on a loopback `bind`, for local tools and benchmarks.
    pub insecure_http: bool,
    /// Certificate and key of the HTTPS listener.
    pub tls: TlsConfig,
    /// HTTP connection timeouts.
    pub http: HttpConfig,
    // Resource bounds (docs/security.md, "Resource bounds").
    /// Address of the Prometheus `/metrics` listener, apart from the API
    /// (loopback by default); `"off"` serves no metrics.
    #[serde(with = "optional_addr")]
    pub metrics_bind: Option<SocketAddr>,
    /// Attachment uploads: quota, rate and purge of the unused ones.
    pub uploads: UploadConfig,
    /// Audit trail anchor (docs/security.md, "Audit trail").
    pub audit: AuditConfig,
    /// Directory cache bounds and change polling (docs/directory.md).
    pub directory: crate::directory::DirectoryConfig,
    /// E-mail to a doctor when an urgent message stays unread
    /// (docs/messaging.md, "Urgent e-mail"); off while `smtp_host` is empty.
    pub mail: MailConfig,
    // Several nodes (docs/deployment.md, "Cluster").
    /// Redis linking the nodes of a cluster: empty (the default) is a single
    /// node; `redis://[:password@]host:port[/db]` or `rediss://…` (TLS).
    /// Its password is never printed.
    pub redis_url: DatabaseUrl,
    /// A PEM CA that signs the Redis server's certificate (`rediss://`), on
    /// top of the system and Mozilla roots.
    pub redis_ca_file: Option<PathBuf>,
    /// Load balancers in front of the nodes: a request whose TCP peer is in
    /// one of these networks takes its client address from the rightmost
    /// `X-Forwarded-For` entry that is not itself trusted (TOML list, or a
    /// comma-separated `DMP_TRUSTED_PROXIES`).
    #[serde(with = "proxy_list")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// `trusted_proxies`: a list of networks, or one comma-separated string
/// (an environment variable).
mod proxy_list {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &[ipnet::IpNet], s: S) -> Result<S::Ok, S::Error> {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .serialize(s)
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        One(String),
        Many(Vec<String>),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
        let items = match Raw::deserialize(d)? {
            Raw::One(s) => s.split(',').map(str::to_owned).collect(),
            Raw::Many(v) => v,
        };
        items
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<ipnet::IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        serde::de::Error::custom(format!(
                            "trusted_proxies: {s:?} is not an IP address or network (a.b.c.d/n)"
                        ))
                    })
            })
            .collect()
    }
}

/// A URL setting (`database_url`, `redis_url`); its `Debug` hides a password.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(pub String);

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl DatabaseUrl {
    /// The URL with the password of its user-info (`user:password@`) replaced, for logs.
    pub fn redacted(&self) -> String {
        let url = &self.0;
        let Some(scheme_end) = url.find("://") else {
            return url.clone();
        };
        let rest = &url[scheme_end + 3..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        match rest[..authority_end].rfind('@') {
            Some(at) => match rest[..at].find(':') {
                Some(colon) => format!(
                    "{}{}:<redacted>{}",
                    &url[..scheme_end + 3],
                    &rest[..colon],
                    &rest[at..]
                ),
                None => url.clone(),
            },
            None if url.contains("password=") => format!("{}<redacted>", &url[..scheme_end + 3]),
            None => url.clone(),
        }
    }
}

/// The database a configuration selects.
#[derive(Clone, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (the embedded default).
    Sqlite(PathBuf),
    /// A PostgreSQL server, by its libpq URL.
    Postgres(DatabaseUrl),
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(p) => write!(f, "Sqlite({})", p.display()),
            Self::Postgres(u) => write!(f, "Postgres({u:?})"),
        }
    }
}

/// Certificate and key files (PEM) of the HTTPS listener.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain, leaf first (default `<data_dir>/tls/server.pem`).
    pub cert_file: Option<PathBuf>,
    /// Private key: PKCS#8, PKCS#1 or SEC1 (default `<data_dir>/tls/server.key`, mode 0600).
    pub key_file: Option<PathBuf>,
    /// Seconds a client has to complete the TLS handshake (0 means 10).
    pub handshake_timeout_secs: u64,
}

/// Timeouts of an HTTP connection (before any WebSocket upgrade).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Seconds to receive a request's complete headers, counted from the first wait for them.
    pub header_read_timeout_secs: u64,
    /// Seconds without a byte read or written before a connection is closed.
    pub idle_timeout_secs: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
        }
    }
}

/// Attachment upload bounds.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UploadConfig {
    /// Bytes of attachments one user may keep stored (sent or not).
    pub quota_bytes_per_user: u64,
    /// Sustained uploads per user per minute.
    pub per_minute: f64,
    /// Burst of uploads per user.
    pub burst: f64,
    /// Hours after which an upload never attached to a message, or a `.part`
    /// file left by an interrupted upload, is deleted by the maintenance job.
    pub orphan_after_hours: u32,
}

impl Default for UploadConfig {
    fn default() -> Self {
        Self {
            quota_bytes_per_user: 512 * 1024 * 1024,
            per_minute: 30.0,
            burst: 20.0,
            orphan_after_hours: 24,
        }
    }
}

/// `metrics_bind`: an address, or `"off"`.
mod optional_addr {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::net::SocketAddr;

    pub fn serialize<S: Serializer>(v: &Option<SocketAddr>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(a) => s.collect_str(a),
            None => s.serialize_str("off"),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
        let text = String::deserialize(d)?;
        match text.trim() {
            "" | "off" => Ok(None),
            a => a.parse().map(Some).map_err(serde::de::Error::custom),
        }
    }
}

/// SMTP submission for the urgent-message e-mail (docs/messaging.md,
/// "Urgent e-mail"). The connection always upgrades with STARTTLS before
/// any credential or message is sent, and checks the server's certificate.
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// SMTP server; empty (the default) sends no e-mail.
    pub smtp_host: String,
    /// Submission port (587).
    pub smtp_port: u16,
    /// Login at the SMTP server (empty: no authentication).
    pub username: String,
    /// Its password; never printed.
    pub password: String,
    /// The sender, e.g. `DMP Messagerie <no-reply@hopital.example>`.
    pub from: String,
    /// A CA certificate (PEM) trusted for the SMTP server besides the public
    /// roots (an internal relay).
    pub ca_file: Option<PathBuf>,
    /// Minutes an urgent message to a doctor stays unread before the e-mail.
    pub urgent_after_minutes: u32,
    /// Seconds between two looks for such messages.
    pub scan_interval_secs: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            smtp_host: String::new(),
            smtp_port: 587,
            username: String::new(),
            password: String::new(),
            from: "DMP Messagerie <no-reply@localhost>".into(),
            ca_file: None,
            urgent_after_minutes: 10,
            scan_interval_secs: 60,
        }
    }
}

impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailConfig")
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.smtp_port)
            .field("username", &self.username)
            .field(
                "password",
                &if self.password.is_empty() { "" } else { "***" },
            )
            .field("from", &self.from)
            .field("ca_file", &self.ca_file)
            .field("urgent_after_minutes", &self.urgent_after_minutes)
            .field("scan_interval_secs", &self.scan_interval_secs)
            .finish()
    }
}

impl MailConfig {
    /// Whether e-mail is configured.
    pub fn enabled(&self) -> bool {
        !self.smtp_host.is_empty()
    }
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
    /// Requests per source address per minute (also the burst) to each of:
    /// login, prelogin and refresh together; WebSocket upgrades (their own
    /// budget). 429 + `Retry-After` beyond. Load tests from one address raise it.
    pub auth_per_source_per_minute: u32,
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
    /// Argon2id memory (KiB) of the login keys the server derives for accounts
    /// it creates with a clear password (import, `user add`, `user passwd`,
    /// demo), and of the made-up answer prelogin gives for unknown names.
    /// Floor 19456 (OWASP); default 65536 (what clients use).
    pub kdf_memory_kib: u32,
    /// Argon2id passes of those keys (2-16; default 3).
    pub kdf_iterations: u32,
    /// Argon2id lanes of those keys (1-16; default 4).
    pub kdf_parallelism: u32,
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
    /// Open sockets per user (devices); one more is refused.
    pub max_per_user: usize,
    /// Open sockets per source address (authenticated or not); one more is refused.
    pub max_per_source: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8443)),
            data_dir: PathBuf::from("data"),
            database_url: DatabaseUrl::default(),
            database_pool_size: 16,
            node_id: format!("node-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]),
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
            insecure_http: false,
            tls: TlsConfig::default(),
            http: HttpConfig::default(),
            metrics_bind: Some(SocketAddr::from(([127, 0, 0, 1], 9464))),
            uploads: UploadConfig::default(),
            audit: AuditConfig::default(),
            mail: MailConfig::default(),
            directory: crate::directory::DirectoryConfig::default(),
            redis_url: DatabaseUrl::default(),
            redis_ca_file: None,
            trusted_proxies: Vec::new(),
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
            auth_per_source_per_minute: 60,
        }
    }
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self {
            max_failures: 5,
            lockout_secs: 30,
            max_lockout_secs: 900,
            kdf_memory_kib: 64 * 1024,
            kdf_iterations: 3,
            kdf_parallelism: 4,
        }
    }
}

impl LoginConfig {
    /// The Argon2id parameters of accounts the server creates (and of unknown names).
    pub fn new_account_kdf(&self) -> dmp_protocol::api::KdfParams {
        dmp_protocol::api::KdfParams {
            memory_kib: self.kdf_memory_kib,
            iterations: self.kdf_iterations,
            parallelism: self.kdf_parallelism,
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
            max_per_user: 8,
            max_per_source: 64,
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
        let defaults = Serialized::defaults(Config::default());
        let known: Vec<String> = defaults
            .data()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?
            .remove(&Profile::Default)
            .map(|d| d.into_keys().collect())
            .unwrap_or_default();
        let mut figment = Figment::from(defaults);
        let mut file_used = None;
        if let Some(path) = file {
            // Read here: figment would take a missing file for an empty one.
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            figment = figment.merge(Toml::string(&text));
            file_used = Some(path);
        }
        for (key, value) in env {
            let Some(rest) = key.strip_prefix("DMP_") else {
                continue;
            };
            let path: Vec<String> = rest.split("__").map(|p| p.to_ascii_lowercase()).collect();
            // Other DMP_* variables (the client's, the test scripts') are not ours.
            if !path.first().is_some_and(|k| known.contains(k)) || path.iter().any(String::is_empty)
            {
                tracing::debug!(variable = %key, "ignoring an environment variable that is not a server setting");
                continue;
            }
            figment = figment.merge((path.join("."), parse_scalar(&value)));
        }
        let config: Config = figment.extract().map_err(|e| {
            ConfigError::Invalid(match file_used {
                Some(path) => format!("{e} (file {}, then DMP_* variables)", path.display()),
                None => e.to_string(),
            })
        })?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.mail.enabled() {
            if !(1..=24 * 60).contains(&self.mail.urgent_after_minutes) {
                return Err(ConfigError::Invalid(
                    "mail.urgent_after_minutes must be between 1 and 1440".into(),
                ));
            }
            if self.mail.from.parse::<lettre::message::Mailbox>().is_err() {
                return Err(ConfigError::Invalid(
                    "mail.from must be an address, e.g. \"DMP Messagerie <no-reply@example.org>\""
                        .into(),
                ));
            }
        }
        if !(1..=24 * 365).contains(&self.limits.answer_within_hours) {
            return Err(ConfigError::Invalid(
                "limits.answer_within_hours must be between 1 and 8760".into(),
            ));
        }
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
        if self.rate_limit.auth_per_source_per_minute == 0 || self.login.max_failures == 0 {
            return Err(ConfigError::Invalid(
                "rate_limit.auth_per_source_per_minute and login.max_failures must be positive"
                    .into(),
            ));
        }
        let kdf = self.login.new_account_kdf();
        let kdf_ok = (19 * 1024..=1024 * 1024).contains(&kdf.memory_kib)
            && (2..=16).contains(&kdf.iterations)
            && (1..=16).contains(&kdf.parallelism);
        if !kdf_ok {
            return Err(ConfigError::Invalid(
                "login.kdf_* must be within m 19456-1048576 KiB, t 2-16, p 1-16".into(),
            ));
        }
        self.backend()?;
        let redis = self.redis_url.0.trim();
        if !redis.is_empty() && !redis.starts_with("redis://") && !redis.starts_with("rediss://") {
            return Err(ConfigError::Invalid(
                "redis_url must be empty (a single node), redis://… or rediss://…".into(),
            ));
        }
        if !self.node_id.is_empty()
            && (self.node_id.len() > 64
                || !self
                    .node_id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'))
        {
            return Err(ConfigError::Invalid(
                "node_id: at most 64 letters, digits, '-', '_' or '.'".into(),
            ));
        }
        if self.database_pool_size == 0 {
            return Err(ConfigError::Invalid(
                "database_pool_size must be positive".into(),
            ));
        }
        if self.limits.max_message_length == 0 || self.ws.send_queue == 0 {
            return Err(ConfigError::Invalid("limits must be positive".into()));
        }
        if self.ws.max_per_user == 0
            || self.ws.max_per_source == 0
            || self.uploads.per_minute <= 0.0
            || self.uploads.burst < 1.0
        {
            return Err(ConfigError::Invalid(
                "ws.max_per_* and uploads.per_minute must be positive, uploads.burst at least 1"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The database `database_url` selects.
    pub fn backend(&self) -> Result<Backend, ConfigError> {
        let url = self.database_url.0.trim();
        if url.is_empty() {
            return Ok(Backend::Sqlite(self.data_dir.join("dmp.sqlite3")));
        }
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(ConfigError::Invalid(
                    "database_url: sqlite:// needs a file path".into(),
                ));
            }
            return Ok(Backend::Sqlite(PathBuf::from(path)));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Backend::Postgres(DatabaseUrl(url.to_owned())));
        }
        Err(ConfigError::Invalid(
            "database_url must be empty (SQLite in data_dir), sqlite://PATH or postgres://…".into(),
        ))
    }

    /// The SQLite database file (the default one in `data_dir` when
    /// `database_url` names another backend).
    pub fn database_path(&self) -> PathBuf {
        match self.backend() {
            Ok(Backend::Sqlite(path)) => path,
            _ => self.data_dir.join("dmp.sqlite3"),
        }
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

    /// The directory of the default certificate, key and local CA.
    pub fn tls_dir(&self) -> PathBuf {
        self.data_dir.join("tls")
    }

    /// The certificate chain file in use.
    pub fn tls_cert_path(&self) -> PathBuf {
        self.tls
            .cert_file
            .clone()
            .unwrap_or_else(|| self.tls_dir().join("server.pem"))
    }

    /// The private key file in use.
    pub fn tls_key_path(&self) -> PathBuf {
        self.tls
            .key_file
            .clone()
            .unwrap_or_else(|| self.tls_dir().join("server.key"))
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
        let env = vec![("DMP_WS__MAX_PER_USER".to_owned(), "0".to_owned())];
        assert!(Config::load(None, env).is_err());
        let missing = std::env::temp_dir().join("dmp-config-no-such-file.toml");
        assert!(matches!(
            Config::load(Some(&missing), Vec::new()),
            Err(ConfigError::Read { .. })
        ));
    }

    #[test]
    fn database_url_selects_the_backend() {
        let d = Config::load(None, Vec::new()).unwrap();
        assert_eq!(
            d.backend().unwrap(),
            Backend::Sqlite(PathBuf::from("data/dmp.sqlite3"))
        );
        let env = vec![(
            "DMP_DATABASE_URL".to_owned(),
            "postgres://dmp:s3cret@db.example:5433/dmp?sslmode=require".to_owned(),
        )];
        let c = Config::load(None, env).unwrap();
        let Backend::Postgres(url) = c.backend().unwrap() else {
            panic!("not postgres");
        };
        assert!(url.0.contains("s3cret"));
        assert!(!format!("{c:?}").contains("s3cret"));
        assert_eq!(
            url.redacted(),
            "postgres://dmp:<redacted>@db.example:5433/dmp?sslmode=require"
        );
        let env = vec![(
            "DMP_DATABASE_URL".to_owned(),
            "sqlite:///tmp/x.db".to_owned(),
        )];
        let c = Config::load(None, env).unwrap();
        assert_eq!(
            c.backend().unwrap(),
            Backend::Sqlite(PathBuf::from("/tmp/x.db"))
        );
        assert_eq!(c.database_path(), PathBuf::from("/tmp/x.db"));
        let env = vec![("DMP_DATABASE_URL".to_owned(), "mysql://x".to_owned())];
        assert!(Config::load(None, env).is_err());
        let env = vec![("DMP_DATABASE_POOL_SIZE".to_owned(), "0".to_owned())];
        assert!(Config::load(None, env).is_err());
    }

    #[test]
    fn bounds_are_settings() {
        let env = vec![
            ("DMP_WS__MAX_PER_USER".to_owned(), "3".to_owned()),
            ("DMP_WS__MAX_PER_SOURCE".to_owned(), "500".to_owned()),
            ("DMP_METRICS_BIND".to_owned(), "off".to_owned()),
            (
                "DMP_UPLOADS__QUOTA_BYTES_PER_USER".to_owned(),
                "1000".to_owned(),
            ),
        ];
        let c = Config::load(None, env).unwrap();
        assert_eq!((c.ws.max_per_user, c.ws.max_per_source), (3, 500));
        assert_eq!(c.metrics_bind, None);
        assert_eq!(c.uploads.quota_bytes_per_user, 1000);
        let d = Config::load(None, Vec::new()).unwrap();
        assert_eq!(d.ws.max_per_user, 8);
        assert!(d.metrics_bind.is_some_and(|a| a.ip().is_loopback()));
        let env = vec![("DMP_METRICS_BIND".to_owned(), "127.0.0.1:9999".to_owned())];
        let c = Config::load(None, env).unwrap();
        assert_eq!(c.metrics_bind.map(|a| a.port()), Some(9999));
    }
}

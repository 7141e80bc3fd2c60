//! Transport security (docs/security.md "Transport"): the rustls server
//! configuration built from the PEM files named by `tls.cert_file` and
//! `tls.key_file`, the rule that plain HTTP is only for an explicit
//! `insecure_http` on a loopback address, and the local CA that
//! `dmp-server demo` and `dmp-server tls init` create so that a fresh
//! install serves HTTPS at once.
//!
//! The local CA's private key is never written to disk: it signs the server
//! certificate once and is dropped, so a client that pins `ca.pem` trusts
//! exactly that one server certificate and nothing else.

use crate::config::Config;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why the transport could not be set up. Messages name the setting and the
/// file, never the content of a key.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// `insecure_http` on an address other hosts can reach.
    #[error(
        "insecure_http is only allowed on a loopback address (127.0.0.1, ::1), not on {0}; \
         configure tls.cert_file and tls.key_file instead"
    )]
    InsecureNotLoopback(std::net::SocketAddr),
    /// The certificate file is missing or unusable.
    #[error(
        "tls.cert_file {path}: {reason} (run `dmp-server tls init` or `dmp-server demo` to create \
         a local certificate, or set DMP_INSECURE_HTTP=true on a loopback address for local tools)"
    )]
    Cert {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The key file is missing or unusable.
    #[error("tls.key_file {path}: {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A timeout setting is zero.
    #[error("{0} must be at least 1 second")]
    Timeout(&'static str),
    /// Creating the local CA failed.
    #[error("cannot create the local certificate: {0}")]
    Create(String),
    /// Writing a certificate or key failed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// What the listener speaks: TLS with this configuration, or plain HTTP.
#[derive(Clone, Debug)]
pub enum Transport {
    /// HTTPS (the default).
    Tls(Arc<rustls::ServerConfig>),
    /// Plain HTTP on a loopback address (`insecure_http`).
    Plain,
}

impl Transport {
    /// The URL scheme clients use.
    pub fn scheme(&self) -> &'static str {
        match self {
            Transport::Tls(_) => "https",
            Transport::Plain => "http",
        }
    }
}

/// Checks the transport settings and loads the certificate and key.
pub fn transport(config: &Config) -> Result<Transport, TlsError> {
    if config.http.header_read_timeout_secs == 0 {
        return Err(TlsError::Timeout("http.header_read_timeout_secs"));
    }
    if config.http.idle_timeout_secs == 0 {
        return Err(TlsError::Timeout("http.idle_timeout_secs"));
    }
    if config.insecure_http {
        if !config.bind.ip().is_loopback() {
            return Err(TlsError::InsecureNotLoopback(config.bind));
        }
        return Ok(Transport::Plain);
    }
    Ok(Transport::Tls(Arc::new(server_config(
        &config.tls_cert_path(),
        &config.tls_key_path(),
    )?)))
}

/// A rustls server configuration (ring provider, TLS 1.2 and 1.3, HTTP/1.1).
pub fn server_config(cert_path: &Path, key_path: &Path) -> Result<rustls::ServerConfig, TlsError> {
    let cert_err = |reason| TlsError::Cert {
        path: cert_path.to_owned(),
        reason,
    };
    let key_err = |reason| TlsError::Key {
        path: key_path.to_owned(),
        reason,
    };
    if !cert_path.exists() {
        return Err(cert_err("file not found"));
    }
    let certs = CertificateDer::pem_file_iter(cert_path)
        .map_err(|_| cert_err("cannot be read"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| cert_err("is not a PEM certificate chain"))?;
    if certs.is_empty() {
        return Err(cert_err("holds no PEM certificate"));
    }
    if !key_path.exists() {
        return Err(key_err("file not found"));
    }
    warn_if_readable_by_others(key_path);
    // The parse error is not shown: it could quote a line of the key.
    let key = PrivateKeyDer::from_pem_file(key_path)
        .map_err(|_| key_err("is not a PEM private key (PKCS#8, PKCS#1 or SEC1)"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| TlsError::Create("no TLS protocol version available".into()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|_| key_err("does not match tls.cert_file, or its algorithm is not supported"))?;
    // HTTP/1.1 only: WebSocket upgrades need it, and it is what the clients speak.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(file = %path.display(), "tls.key_file is readable by other users: chmod 600 it");
        }
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

/// The local CA and server certificate of a data directory.
#[derive(Debug, Clone)]
pub struct LocalCa {
    /// The CA certificate clients pin (`--ca-file`, `DMP_CA_FILE`).
    pub ca_file: PathBuf,
    /// Whether it was created now (false: kept from an earlier run).
    pub created: bool,
}

/// Names every local certificate is valid for.
const LOCAL_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Creates, unless they exist, a local CA (`<data_dir>/tls/ca.pem`) and a
/// server certificate and key signed by it at the configured paths, valid
/// for localhost, 127.0.0.1, ::1 and `hostnames`. With `replace`, existing
/// files are replaced. Keys are written 0600 in a 0700 directory.
pub fn ensure_local_ca(
    config: &Config,
    hostnames: &[String],
    now: chrono::DateTime<chrono::Utc>,
    replace: bool,
) -> Result<LocalCa, TlsError> {
    let ca_file = config.tls_dir().join("ca.pem");
    let cert_file = config.tls_cert_path();
    let key_file = config.tls_key_path();
    if !replace && cert_file.exists() && key_file.exists() {
        return Ok(LocalCa {
            ca_file,
            created: false,
        });
    }
    let (ca_pem, cert_pem, key_pem) = generate(hostnames, now)?;
    private_dir(&config.tls_dir())?;
    // Configured paths elsewhere: create their directories, never change their modes.
    for f in [&cert_file, &key_file] {
        if let Some(parent) = f.parent() {
            std::fs::create_dir_all(parent).map_err(|source| TlsError::Write {
                path: parent.to_owned(),
                source,
            })?;
        }
    }
    write_file(&ca_file, ca_pem.as_bytes(), 0o644)?;
    write_file(&key_file, key_pem.as_bytes(), 0o600)?;
    write_file(&cert_file, cert_pem.as_bytes(), 0o644)?;
    Ok(LocalCa {
        ca_file,
        created: true,
    })
}

/// A CA and a server certificate signed by it: (CA PEM, chain PEM, key PEM).
fn generate(
    hostnames: &[String],
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(String, String, zeroize::Zeroizing<String>), TlsError> {
    use chrono::Datelike;
    use rcgen::{
        BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
        IsCa, KeyPair, KeyUsagePurpose,
    };
    let err = |e: rcgen::Error| TlsError::Create(e.to_string());
    // Day 28 exists in every month; a day back so that a clock slightly behind accepts it.
    let ymd = |t: chrono::DateTime<chrono::Utc>, years: i32| {
        rcgen::date_time_ymd(
            t.year() + years,
            u8::try_from(t.month()).unwrap_or(1),
            u8::try_from(t.day().min(28)).unwrap_or(1),
        )
    };
    let start = ymd(now - chrono::Duration::days(1), 0);
    let day = |years: i32| ymd(now, years);

    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name
        .push(DnType::CommonName, "DMP messaging local CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = start;
    ca.not_after = day(10);
    let ca_cert = ca.self_signed(&ca_key).map_err(err)?;

    let mut names: Vec<String> = LOCAL_NAMES.iter().map(|s| (*s).to_owned()).collect();
    for h in hostnames {
        let h = h.trim();
        if !h.is_empty() && !names.iter().any(|n| n.eq_ignore_ascii_case(h)) {
            names.push(h.to_owned());
        }
    }
    let key = KeyPair::generate().map_err(err)?;
    let mut leaf = CertificateParams::new(names).map_err(err)?;
    leaf.distinguished_name = DistinguishedName::new();
    leaf.distinguished_name
        .push(DnType::CommonName, "DMP messaging server");
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = start;
    // Under the 825 days that some platforms accept for a server certificate.
    leaf.not_after = day(2);
    let cert = leaf.signed_by(&key, &ca_cert, &ca_key).map_err(err)?;
    Ok((
        ca_cert.pem(),
        format!("{}{}", cert.pem(), ca_cert.pem()),
        zeroize::Zeroizing::new(key.serialize_pem()),
    ))
}

/// Creates `dir` (and parents) and makes it 0700.
pub fn private_dir(dir: &Path) -> Result<(), TlsError> {
    let werr = |source| TlsError::Write {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(werr)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(werr)?;
    }
    Ok(())
}

/// Writes a new file with `mode` from its creation on (never briefly readable by others).
fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    let werr = |source| TlsError::Write {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::File::options();
    opts.create_new(true).write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts.open(&tmp).map_err(werr)?;
    f.write_all(bytes).map_err(werr)?;
    f.sync_all().map_err(werr)?;
    std::fs::rename(&tmp, path).map_err(werr)?;
    Ok(())
}

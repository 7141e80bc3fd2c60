//! Transport security of the client (docs/security.md "Transport"): one
//! rustls configuration, used by both the HTTP client (reqwest) and the
//! WebSocket (tokio-tungstenite), that trusts the web PKI roots, the
//! operating system's store, and an optional pinned CA file (the local CA
//! that `dmp-server demo` creates, or a company CA). Plain `http://` is
//! only accepted for a loopback server.

use crate::error::{ClientError, ClientResult};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::RootCertStore;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use url::{Host, Url};

/// Web PKI roots plus the OS store, loaded once per process.
fn public_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let native = rustls_native_certs::load_native_certs();
        if !native.errors.is_empty() {
            tracing::debug!(
                errors = native.errors.len(),
                "some OS certificates could not be loaded"
            );
        }
        native.certs
    })
}

/// The client's TLS configuration, trusting `ca_file` besides the public roots.
pub fn client_config(ca_file: Option<&Path>) -> ClientResult<Arc<rustls::ClientConfig>> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    roots.add_parsable_certificates(public_roots().iter().cloned());
    if let Some(path) = ca_file {
        let bad = |what: &str| ClientError::Tls(format!("CA file {}: {what}", path.display()));
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|_| bad("cannot be read"))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| bad("is not a PEM certificate file"))?;
        if certs.is_empty() {
            return Err(bad("holds no PEM certificate"));
        }
        for c in certs {
            roots
                .add(c)
                .map_err(|_| bad("holds a certificate that cannot be used as a CA"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // HTTP/1.1: what the server speaks, and what a WebSocket upgrade needs.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Whether `url` names this machine (where plain HTTP never crosses a network).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// A human reason when `err` (or one of its causes) is a TLS failure.
pub(crate) fn tls_failure(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(r) = e.downcast_ref::<rustls::Error>() {
            return Some(describe(r));
        }
        // An `io::Error`'s `source()` skips the error it wraps (hyper wraps
        // tokio-rustls's `io::Error(InvalidData, rustls::Error)` in another
        // `io::Error`): descend through `get_ref` instead.
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                let inner: &(dyn std::error::Error + 'static) = inner;
                cur = Some(inner);
                continue;
            }
        }
        cur = e.source();
    }
    None
}

fn describe(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(c) => format!(
            "the server's certificate is not trusted ({c:?}); check the server address, or give \
             the CA file of this server (--ca-file, DMP_CA_FILE, or the login screen's advanced options)"
        ),
        other => format!("secure connection failed: {other}"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::api::parse_server;

    #[test]
    fn plain_http_only_for_this_machine() {
        for ok in [
            "https://dmp.example.fr",
            "https://10.0.0.7:8443",
            "http://127.0.0.1:8443",
            "http://127.8.9.10:1",
            "http://localhost:8443",
            "http://LOCALHOST",
            "http://[::1]:8443",
        ] {
            assert!(parse_server(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://dmp.example.fr",
            "http://10.0.0.7:8443",
            "http://0.0.0.0:8443",
            "http://[2001:db8::1]",
            "http://localhost.example.fr",
            "http://127.0.0.1.nip.io",
        ] {
            assert_eq!(
                parse_server(bad).unwrap_err().code(),
                "INSECURE_SERVER_ADDRESS",
                "{bad}"
            );
        }
        assert_eq!(
            parse_server("ftp://dmp.example.fr").unwrap_err().code(),
            "VALIDATION_FAILED"
        );
    }

    #[test]
    fn a_ca_file_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let err = super::client_config(Some(&missing)).unwrap_err();
        assert_eq!(err.code(), "TLS_ERROR");
        assert!(err.to_string().contains("missing.pem"));
        assert!(super::client_config(None).is_ok());
    }
}

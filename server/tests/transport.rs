//! Transport security and connection bounds, against the real server on a
//! loopback port: HTTPS with HSTS, plain HTTP refused, insecure mode only on
//! loopback, clear errors for missing or bad certificates, and connections
//! that never complete a request are closed (slow loris, idle sockets).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{test_config, TestServer};
use dmp_server::clock::SystemClock;
use rustls::pki_types::ServerName;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn short_timeouts(c: &mut dmp_server::Config) {
    c.tls.handshake_timeout_secs = 1;
    c.http.header_read_timeout_secs = 1;
    c.http.idle_timeout_secs = 2;
}

/// Reads until the peer closes; returns how long that took (panics after `limit`).
async fn closed_within(mut io: impl AsyncRead + Unpin, limit: Duration) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout_at((start + limit).into(), io.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return start.elapsed(),
            Ok(Ok(_)) => continue,
            Err(_) => panic!("connection still open after {limit:?}"),
        }
    }
}

async fn tls_connect(s: &TestServer) -> tokio_rustls::client::TlsStream<TcpStream> {
    let tcp = TcpStream::connect(s.server.as_ref().unwrap().addr)
        .await
        .unwrap();
    tokio_rustls::TlsConnector::from(s.tls.clone())
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .unwrap()
}

#[tokio::test]
async fn https_with_hsts_and_no_answer_in_clear() {
    let s = TestServer::start().await;
    assert!(s.base.starts_with("https://127.0.0.1:"));
    let res = s.http.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    // Error answers carry it too.
    let (status, _) = s.get("/api/contexts", None).await;
    assert_eq!(status, 401);
    let res = s.http.get(s.url("/api/contexts")).send().await.unwrap();
    assert!(res.headers().contains_key("strict-transport-security"));

    // Plain HTTP to the TLS port gets no HTTP answer.
    let plain = s.url("/healthz").replacen("https", "http", 1);
    assert!(reqwest::Client::new().get(plain).send().await.is_err());
    let mut tcp = TcpStream::connect(s.server.as_ref().unwrap().addr)
        .await
        .unwrap();
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut answer)).await;
    assert!(!answer.starts_with(b"HTTP/"), "answered in clear");

    // A client that trusts another CA refuses the server's certificate.
    let (other_ca, _, _) = common::test_certificates("another CA", &["127.0.0.1"]);
    let other = s.dir.path().join("other-ca.pem");
    std::fs::write(&other, other_ca).unwrap();
    let err = common::http_client(&common::client_tls(&other))
        .get(s.url("/healthz"))
        .send()
        .await
        .unwrap_err();
    assert!(format!("{err:?}").contains("UnknownIssuer"), "{err:?}");
}

#[tokio::test]
async fn insecure_http_only_on_loopback_and_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.insecure_http = true;
    config.bind = "0.0.0.0:0".parse().unwrap();
    let err = dmp_server::start(config.clone(), Arc::new(SystemClock))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("insecure_http is only allowed on a loopback address"),
        "{err}"
    );
    config.bind = "[::]:0".parse().unwrap();
    assert!(dmp_server::start(config.clone(), Arc::new(SystemClock))
        .await
        .is_err());

    // On loopback it serves plain HTTP, without HSTS.
    let s = TestServer::start_with(|c| c.insecure_http = true).await;
    assert!(s.base.starts_with("http://127.0.0.1:"), "{}", s.base);
    let res = reqwest::Client::new()
        .get(s.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(!res.headers().contains_key("strict-transport-security"));
    let login = s.login(common::PATIENT).await;
    let mut ws = s.ws(&login).await;
    ws.send(serde_json::json!({"type":"ping"})).await;
    ws.next_of("pong").await;
}

#[tokio::test]
async fn missing_or_bad_certificate_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(dir.path());
    let err = dmp_server::start(config.clone(), Arc::new(SystemClock))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tls.cert_file") && err.contains("file not found"),
        "{err}"
    );

    common::install_test_ca(&config);
    // A key file that is not a key: named, and its content never shown.
    let secret =
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n";
    std::fs::write(config.tls_key_path(), secret).unwrap();
    let err = dmp_server::start(config.clone(), Arc::new(SystemClock))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("tls.key_file"), "{err}");
    assert!(!err.contains("c2VjcmV0"), "{err}");
    // A key of another certificate.
    let (_, _, other_key) = common::test_certificates("another CA", &["127.0.0.1"]);
    std::fs::write(config.tls_key_path(), other_key).unwrap();
    let err = dmp_server::start(config.clone(), Arc::new(SystemClock))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not match tls.cert_file"), "{err}");
    // A certificate file that holds no certificate.
    std::fs::write(config.tls_cert_path(), "not a certificate\n").unwrap();
    let err = dmp_server::start(config, Arc::new(SystemClock))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tls.cert_file") && err.contains("no PEM certificate"),
        "{err}"
    );
}

#[tokio::test]
async fn connections_that_never_complete_a_request_are_closed() {
    let s = TestServer::start_with(short_timeouts).await;
    let addr = s.server.as_ref().unwrap().addr;

    // Slow loris over TLS: half a request line, then silence.
    let mut tls = tls_connect(&s).await;
    tls.write_all(b"GET /healthz HT").await.unwrap();
    tls.flush().await.unwrap();
    let took = closed_within(tls, Duration::from_secs(10)).await;
    assert!(
        took >= Duration::from_millis(800),
        "closed too early: {took:?}"
    );

    // Headers trickled one byte at a time stay under the idle timeout but not the header one.
    let mut tls = tls_connect(&s).await;
    let start = Instant::now();
    let mut closed = false;
    for b in b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa".iter() {
        if tls.write_all(&[*b]).await.is_err() || tls.flush().await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        if start.elapsed() > Duration::from_secs(8) {
            break;
        }
    }
    if !closed {
        closed_within(tls, Duration::from_secs(3)).await;
    }
    assert!(
        start.elapsed() < Duration::from_secs(8),
        "trickled headers kept the connection open"
    );

    // A TCP connection that never starts the TLS handshake.
    let tcp = TcpStream::connect(addr).await.unwrap();
    closed_within(tcp, Duration::from_secs(10)).await;

    // A TLS connection that never sends a byte.
    let tls = tls_connect(&s).await;
    closed_within(tls, Duration::from_secs(10)).await;

    // Kept-alive connections are closed once idle; requests on them work before that.
    let res = s.http.get(s.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn plain_http_slow_loris_is_closed_too() {
    let s = TestServer::start_with(|c| {
        short_timeouts(c);
        c.insecure_http = true;
    })
    .await;
    let mut tcp = TcpStream::connect(s.server.as_ref().unwrap().addr)
        .await
        .unwrap();
    tcp.write_all(b"GET /healthz HT").await.unwrap();
    closed_within(tcp, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn websockets_outlive_the_http_timeouts() {
    let s = TestServer::start_with(short_timeouts).await;
    let login = s.login(common::PATIENT).await;
    let mut ws = s.ws(&login).await;
    // Longer than the header-read and idle timeouts of a plain HTTP connection.
    tokio::time::sleep(Duration::from_secs(3)).await;
    ws.send(serde_json::json!({"type":"ping"})).await;
    ws.next_of("pong").await;
}

/// A request refused before its body was read (here, the wrong content
/// type on a 300 KiB body) gets its error answer, and the connection stays
/// usable: the server reads and drops the rest of the body first. It used to
/// close the connection with the body unread, and over TLS the client, still
/// sending, got a reset instead of the answer (seen as schemathesis's
/// "EOF occurred in violation of protocol").
#[tokio::test]
async fn a_refused_body_gets_its_answer_and_the_connection_stays_open() {
    let s = TestServer::start().await;
    let mut tls = tls_connect(&s).await;
    let body = vec![b'x'; 300 * 1024];
    let head = format!(
        "POST /api/auth/login HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.write_all(&body).await.unwrap();
    tls.write_all(b"GET /healthz HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    tls.flush().await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some(i) = text.find("HTTP/1.1 415") {
            if text[i..].contains("HTTP/1.1 200") {
                assert!(
                    text.contains("VALIDATION_FAILED") || text.contains("\"code\""),
                    "{text}"
                );
                break;
            }
        }
        match tokio::time::timeout_at(deadline.into(), tls.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            other => panic!(
                "connection ended before both answers ({other:?}): {}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
}

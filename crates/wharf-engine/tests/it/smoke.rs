//! The one smoke check against a server on loopback: the test header and Host sent, the status
//! and the body compared.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wharf_engine::smoke::smoke_check;
use wharf_http::Endpoint;

use crate::service;

/// Answers one request with `answer`; hands back what it read.
async fn server(answer: &'static str) -> (u16, tokio::task::JoinHandle<String>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = l.local_addr().expect("addr").port();
    let seen = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.expect("accept");
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).await.expect("read");
        s.write_all(answer.as_bytes()).await.expect("write");
        let _ = s.shutdown().await;
        String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase()
    });
    (port, seen)
}

fn check(status: u16, body: Option<&str>) -> wharf_manifest::SmokeCheck {
    wharf_manifest::SmokeCheck {
        path: "/_health".into(),
        method: "GET".into(),
        status,
        body_contains: body.map(str::to_owned),
    }
}

#[tokio::test]
async fn a_passing_check_sends_the_test_header_and_the_host() {
    let svc = service("blue-green", "");
    let (port, seen) =
        server("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n").await;
    smoke_check(
        &Endpoint::plain("127.0.0.1", port),
        "web.example.com",
        "the test server",
        &svc,
        &check(200, Some("ok")),
    )
    .await
    .expect("passes");
    let seen = seen.await.expect("server");
    let header = svc.deploy.blue_green.test_header.to_ascii_lowercase();
    assert!(seen.starts_with("get /_health "), "{seen}");
    assert!(seen.contains(&format!("{header}: 1\r\n")), "{seen}");
    assert!(seen.contains("host: web.example.com\r\n"), "{seen}");
}

#[tokio::test]
async fn another_status_or_a_missing_body_fails_saying_what_differed() {
    let svc = service("blue-green", "");
    let (port, _) = server("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n").await;
    let err = smoke_check(
        &Endpoint::plain("127.0.0.1", port),
        "h",
        "the test server",
        &svc,
        &check(200, None),
    )
    .await
    .expect_err("503");
    assert!(err.message.contains("answered 503, expected 200"), "{err}");
    let (port, _) = server("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello").await;
    let err = smoke_check(
        &Endpoint::plain("127.0.0.1", port),
        "h",
        "the test server",
        &svc,
        &check(200, Some("ready")),
    )
    .await
    .expect_err("body");
    assert!(err.message.contains("does not contain \"ready\""), "{err}");
}

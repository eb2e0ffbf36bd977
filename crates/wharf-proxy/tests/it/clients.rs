//! Client connections as the workers take them: a client that goes away while its answer is
//! awaited or streamed lets go of the target (the connection is read directly and, while a
//! request is in the proxy's hands, looked at by the workers' sweep), and a connection that
//! sends nothing is not handed to the proxy until it does or the kernel's second is up.

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wharf_proxy::Proxy;

use super::{exchange, limited, raw_target, timed};

/// A target that answers its health check, holds `/silent` without a word and answers
/// `/streams` with a head and the first bytes of a body that never ends; it holds each for
/// 30 s.
async fn holding_backend() -> SocketAddr {
    raw_target(|mut s| async move {
        let mut buf = [0u8; 4096];
        loop {
            let Ok(n) = s.read(&mut buf).await else {
                return;
            };
            let head = String::from_utf8_lossy(&buf[..n]).into_owned();
            if n == 0 {
                return;
            } else if head.starts_with("GET /_health ") {
                let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                if s.write_all(ok).await.is_err() {
                    return;
                }
            } else {
                if head.starts_with("GET /streams ") {
                    let part = b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\nfirst";
                    let _ = s.write_all(part).await;
                }
                tokio::time::sleep(Duration::from_secs(30)).await;
                return;
            }
        }
    })
    .await
}

/// Requests in the proxy's hands for the one target.
fn inflight(p: &Proxy) -> usize {
    p.status()
        .first()
        .and_then(|g| g.targets.first())
        .map_or(0, |t| t.2)
}

/// Waits (at most 10 s) until the target has `n` requests in flight.
async fn until_inflight(p: &Proxy, n: usize, why: &str) {
    for _ in 0..200 {
        if inflight(p) == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{why}: {} in flight after 10 s, not {n}", inflight(p));
}

/// The limit (20 s) is past the test's 10 s wait, and the target holds each request 30 s:
/// only the client's close, seen by the proxy, lets go of the target in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gone_while_its_answer_is_awaited_or_streamed_lets_go_of_the_target() {
    let target = holding_backend().await;
    let (p, port, _stop) = timed(target, Duration::from_secs(20)).await;
    for path in ["/silent", "/streams"] {
        let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let request = format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n");
        client.write_all(request.as_bytes()).expect("send");
        until_inflight(&p, 1, "the request reaches the target").await;
        if path == "/streams" {
            let mut some = [0u8; 12];
            client.read_exact(&mut some).expect("the answer's head");
            assert_eq!(&some, b"HTTP/1.1 200");
        }
        drop(client);
        until_inflight(&p, 0, &format!("{path}: the client's close is seen")).await;
    }
}

/// The proxy's listener hands over a connection once its first bytes have come: a client
/// that connects and says nothing does not take the one place a proxy capped at one
/// connection has.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_is_handed_over_with_its_request() {
    let (port, _stop) = limited(wharf_proxy::Limits {
        max_connections: 1,
        ..Default::default()
    })
    .await;
    let request = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    // Serving (its listener set up) once it answers: 503, nothing configured.
    let mut serving = false;
    for _ in 0..50 {
        if exchange(port, request.to_vec())
            .await
            .starts_with("HTTP/1.1 503")
        {
            serving = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(serving, "the proxy never answered");
    let silent = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    // Time for a proxy that took silent connections to take this one.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer = exchange(port, request.to_vec()).await;
    assert!(
        answer.starts_with("HTTP/1.1 503"),
        "a silent connection took the only place: {answer:?}"
    );
    drop(silent);
}

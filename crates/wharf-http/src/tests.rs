//! The client against small servers on loopback: chunked bodies, the body bound, the time
//! bound, the Host header sent as given.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// A server that answers one connection with `answer` and hands back the request it read.
async fn serve_once(answer: &'static [u8]) -> (u16, tokio::task::JoinHandle<String>) {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = l.local_addr().expect("addr").port();
    let h = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.expect("accept");
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).await.expect("read");
        s.write_all(answer).await.expect("write");
        let _ = s.shutdown().await;
        String::from_utf8_lossy(&buf[..n]).into_owned()
    });
    (port, h)
}

#[tokio::test]
async fn a_chunked_answer_is_read_whole_and_the_host_is_the_one_given() {
    let (port, seen) = serve_once(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Task: t1\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    )
    .await;
    let req = request("GET", "/_health", "web.example.com", &[("x-test", "1")]).expect("req");
    let r = send(&Endpoint::plain("127.0.0.1", port), req, Limits::default())
        .await
        .expect("answer");
    assert_eq!((r.status, r.text().as_str()), (200, "hello world"));
    assert_eq!(r.headers["x-task"], "t1");
    let seen = seen.await.expect("server").to_ascii_lowercase();
    assert!(seen.starts_with("get /_health http/1.1\r\n"), "{seen}");
    assert!(
        seen.contains("host: web.example.com\r\n") && seen.contains("x-test: 1\r\n"),
        "{seen}"
    );
}

#[tokio::test]
async fn a_body_over_the_bound_is_refused() {
    let (port, _) = serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\n0123456789012345678901234567890123456789012345678901234567890123").await;
    let req = request("GET", "/", "x", &[]).expect("req");
    let limits = Limits {
        max_body: 16,
        ..Limits::default()
    };
    let err = send(&Endpoint::plain("127.0.0.1", port), req, limits)
        .await
        .expect_err("too large");
    assert!(matches!(err, HttpError::TooLarge { max: 16 }), "{err}");
}

#[tokio::test]
async fn a_server_that_never_answers_hits_the_time_bound() {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = l.local_addr().expect("addr").port();
    let hold = tokio::spawn(async move {
        let (s, _) = l.accept().await.expect("accept");
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(s);
    });
    let req = request("GET", "/", "x", &[]).expect("req");
    let limits = Limits {
        timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let err = send(&Endpoint::plain("127.0.0.1", port), req, limits)
        .await
        .expect_err("silent");
    assert!(matches!(err, HttpError::Timeout(_)), "{err}");
    hold.abort();
}

#[tokio::test]
async fn nobody_listening_is_a_connect_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let req = request("GET", "/", "x", &[]).expect("req");
    let err = send(&Endpoint::plain("127.0.0.1", port), req, Limits::default())
        .await
        .expect_err("refused");
    assert!(matches!(err, HttpError::Connect { .. }), "{err}");
}

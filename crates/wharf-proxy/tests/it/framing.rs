//! The proxy's own HTTP/1.1 exchange with targets, against a target that writes its answers
//! byte for byte: every way an answer's body can end (a length, chunks with extensions and
//! trailers, the connection's close, none for HEAD and 204), informational answers skipped,
//! a malformed answer, request bodies of known and unknown length, a kept connection the
//! target closes as a request goes out (sent again for GET, not for POST), and an answer that
//! streams longer than the timeouts.

use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Frame};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::upstream::proxy_for;

/// A request as the scripted target read it: its connection's number and its index on it.
#[derive(Debug, Clone)]
struct Seen {
    conn: usize,
    nth: usize,
    method: String,
    path: String,
    head: String,
    body: Vec<u8>,
}

/// The bytes of the 1 MiB answer.
fn big() -> Vec<u8> {
    (0..1 << 20).map(|i: u32| (i * 7 % 251) as u8).collect()
}

/// Reads more until `buf` holds `want` bytes; false at the end of the stream.
async fn fill(buf: &mut Vec<u8>, s: &mut TcpStream, want: usize) -> bool {
    while buf.len() < want {
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk).await {
            Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return false,
        }
    }
    true
}

/// Reads one request (head, then a body by its length or chunks); None at the end.
async fn read_request(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(String, Vec<u8>)> {
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    buf.drain(..end);
    let lower = head.to_ascii_lowercase();
    let mut body = Vec::new();
    if let Some(n) = lower
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
    {
        if !fill(buf, s, n).await {
            return None;
        }
        body = buf.drain(..n).collect();
    } else if lower.contains("transfer-encoding: chunked") {
        loop {
            let line_end = loop {
                if let Some(at) = buf.windows(2).position(|w| w == b"\r\n") {
                    break at;
                }
                if !fill(buf, s, buf.len() + 1).await {
                    return None;
                }
            };
            let size = usize::from_str_radix(
                String::from_utf8_lossy(&buf[..line_end])
                    .split(';')
                    .next()?,
                16,
            )
            .ok()?;
            buf.drain(..line_end + 2);
            if !fill(buf, s, size + 2).await {
                return None;
            }
            body.extend(buf.drain(..size));
            buf.drain(..2);
            if size == 0 {
                break;
            }
        }
    }
    Some((head, body))
}

/// A target that answers each path with fixed bytes, recording every request but health
/// checks.
async fn scripted() -> (std::net::SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for conn in 0.. {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                for nth in 0.. {
                    let Some((head, body)) = read_request(&mut s, &mut buf).await else {
                        return;
                    };
                    let mut words = head.split(' ');
                    let method = words.next().unwrap_or_default().to_owned();
                    let path = words.next().unwrap_or_default().to_owned();
                    if path != "/_health" {
                        log.lock().expect("log").push(Seen {
                            conn,
                            nth,
                            method: method.clone(),
                            path: path.clone(),
                            head: head.clone(),
                            body: body.clone(),
                        });
                    }
                    let answer: Vec<u8> = match path.as_str() {
                        "/_health" => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
                        // A length beside chunked is ignored (and not passed on).
                        "/chunked" => b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n".to_vec(),
                        "/continue" => b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec(),
                        "/empty" => b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(),
                        "/bad" => b"SPDY/9 what\r\n\r\n".to_vec(),
                        "/echo" => {
                            let te = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
                            let mut a = format!("HTTP/1.1 200 OK\r\nX-Seen-Chunked: {te}\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
                            a.extend_from_slice(&body);
                            a
                        }
                        "/race" if nth > 0 => return, // closed as the request came
                        "/race" => b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nrace".to_vec(),
                        // An answer slower than the proxy's limit, a byte at a time.
                        "/slow-body" => {
                            if s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n").await.is_err() {
                                return;
                            }
                            for b in b"abcde" {
                                tokio::time::sleep(std::time::Duration::from_millis(150)).await;
                                if s.write_all(&[*b]).await.is_err() {
                                    return;
                                }
                            }
                            continue;
                        }
                        "/close" => {
                            let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\nuntil the end").await;
                            return;
                        }
                        "/big" => {
                            let body = big();
                            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
                            if s.write_all(head.as_bytes()).await.is_err() {
                                return;
                            }
                            if method != "HEAD" {
                                // In uneven pieces, so the proxy sees partial reads.
                                let mut at = 0;
                                let mut step = 1000;
                                while at < body.len() {
                                    let end = (at + step).min(body.len());
                                    if s.write_all(&body[at..end]).await.is_err() {
                                        return;
                                    }
                                    at = end;
                                    step = step * 3 % 70_001 + 1;
                                }
                            }
                            continue;
                        }
                        _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
                    };
                    if s.write_all(&answer).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, seen)
}

/// A client connection to the proxy: one connection, so one worker and its pool serve it.
async fn client(port: u16) -> SendRequest<Body> {
    let s = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let (tx, conn) = http1::handshake(TokioIo::new(s)).await.expect("handshake");
    tokio::spawn(conn);
    tx
}

/// What the test client sends.
type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

fn empty() -> Body {
    Full::new(Bytes::new()).map_err(|n| match n {}).boxed()
}

/// Sends one request: status, headers, whole body.
async fn send(
    tx: &mut SendRequest<Body>,
    method: &str,
    path: &str,
    body: Body,
) -> (u16, hyper::HeaderMap, Vec<u8>) {
    tx.ready().await.expect("ready");
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "framing.test")
        .body(body)
        .expect("request");
    let resp = tx.send_request(req).await.expect("an answer");
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.expect("the whole body").to_bytes();
    (parts.status.as_u16(), parts.headers, body.to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_of_every_framing_reach_the_client_whole() {
    let (target, seen) = scripted().await;
    let (_p, port, _stop, _) = proxy_for(target, None).await;
    let mut c = client(port).await;

    let (status, headers, body) = send(&mut c, "GET", "/chunked", empty()).await;
    assert_eq!((status, body.as_slice()), (200, &b"hello world"[..]));
    assert!(headers.get("content-length").is_none(), "{headers:?}");
    assert!(
        headers.get("x-trailer").is_none(),
        "trailers are not passed on"
    );

    let (status, _, body) = send(&mut c, "GET", "/continue", empty()).await;
    assert_eq!(
        (status, body.as_slice()),
        (200, &b"ok"[..]),
        "1xx answers skipped"
    );

    let (status, headers, body) = send(&mut c, "GET", "/big", empty()).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-length"], "1048576");
    assert!(
        body == big(),
        "the 1 MiB answer arrives byte for byte ({} bytes)",
        body.len()
    );

    // A HEAD answer has no body whatever its length says; the connection serves on.
    let (status, headers, body) = send(&mut c, "HEAD", "/big", empty()).await;
    assert_eq!((status, body.len()), (200, 0));
    assert_eq!(headers["content-length"], "1048576");

    let (status, _, body) = send(&mut c, "GET", "/empty", empty()).await;
    assert_eq!((status, body.len()), (204, 0));

    let (status, _, body) = send(&mut c, "GET", "/close", empty()).await;
    assert_eq!((status, body.as_slice()), (200, &b"until the end"[..]));
    let (status, _, body) = send(&mut c, "GET", "/chunked", empty()).await;
    assert_eq!((status, body.as_slice()), (200, &b"hello world"[..]));

    let (status, _, _) = send(&mut c, "GET", "/bad", empty()).await;
    assert_eq!(status, 502, "a malformed answer is a bad gateway");

    // Every answer that ends by its framing left its connection for the next request; the
    // one that ended by closing did not.
    let seen = seen.lock().expect("seen").clone();
    let on = |i: usize| (seen[i].conn, seen[i].nth);
    let first = seen[0].conn;
    for (i, nth) in (0..6).zip(0..) {
        assert_eq!(on(i), (first, nth), "{}: {:?}", seen[i].path, on(i));
    }
    assert_eq!(seen[3].method, "HEAD");
    assert_ne!(seen[6].conn, first, "after /close: {:?}", on(6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_reach_the_target_as_sent() {
    let (target, seen) = scripted().await;
    let (_p, port, _stop, _) = proxy_for(target, None).await;
    let mut c = client(port).await;

    let sized: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    let (status, headers, body) = send(
        &mut c,
        "POST",
        "/echo",
        Full::new(Bytes::from(sized.clone()))
            .map_err(|n| match n {})
            .boxed(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["x-seen-chunked"], "false",
        "a sized body keeps its length"
    );
    assert!(
        body == sized,
        "the sized body came back whole ({} bytes)",
        body.len()
    );

    // A body of unknown length: the client sends it chunked, the proxy too.
    let pieces = ["one ", "two ", "three"].map(Bytes::from);
    let stream = Chunks(pieces.into_iter().collect()).boxed();
    let (status, headers, body) = send(&mut c, "PUT", "/echo", stream).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-seen-chunked"], "true");
    assert_eq!(body, b"one two three");
    let seen = seen.lock().expect("seen").clone();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        seen[1].body, b"one two three",
        "the target read the chunks whole"
    );
    assert!(
        seen[1]
            .head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
            && !seen[1].head.to_ascii_lowercase().contains("content-length"),
        "{}",
        seen[1].head
    );
}

/// Frames one at a time, with no size hint: hyper's client sends them chunked.
struct Chunks(std::collections::VecDeque<Bytes>);

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|b| Ok(Frame::data(b))))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_connection_closed_as_a_request_goes_out_is_retried_for_get_not_post() {
    let (target, seen) = scripted().await;
    let (_p, port, _stop, _) = proxy_for(target, None).await;
    let mut c = client(port).await;
    // The target answers the first request on a connection and closes it when the second
    // arrives, unanswered: the race between a target's idle close and a reused connection.
    let (status, _, body) = send(&mut c, "GET", "/race", empty()).await;
    assert_eq!((status, body.as_slice()), (200, &b"race"[..]));
    let (status, _, body) = send(&mut c, "GET", "/race", empty()).await;
    assert_eq!(
        (status, body.as_slice()),
        (200, &b"race"[..]),
        "a GET goes out again"
    );
    // A POST may have been acted on: it is not sent twice.
    let (status, _, _) = send(&mut c, "POST", "/race", empty()).await;
    assert_eq!(status, 502);
    let seen = seen.lock().expect("seen").clone();
    let posts = seen.iter().filter(|s| s.method == "POST").count();
    assert_eq!(posts, 1, "{seen:?}");
    assert_eq!(
        seen.len(),
        4,
        "GET, GET (closed), GET again, POST (closed): {seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_streaming_past_the_timeout_is_not_cut() {
    // The header read timeout bounds the wait for a head, and the answer timeout the wait for
    // an answer's head: neither cuts an answer whose body takes longer (750 ms here, against
    // 300 ms), and the connection then serves on.
    let (target, _seen) = scripted().await;
    let (_p, port, _stop) = super::timed(target, std::time::Duration::from_millis(300)).await;
    let mut c = client(port).await;
    let (status, _, body) = send(&mut c, "GET", "/slow-body", empty()).await;
    assert_eq!((status, body.as_slice()), (200, &b"abcde"[..]));
    let (status, _, body) = send(&mut c, "GET", "/continue", empty()).await;
    assert_eq!((status, body.as_slice()), (200, &b"ok"[..]));
}

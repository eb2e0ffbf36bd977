//! What the workers keep of their own: connections to targets reused and given up when a
//! target closes them, and the access log each worker buffers, written as whole lines.

use std::collections::{BTreeSet, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use wharf_proxy::{AccessLog, Config, Proxy};

use super::{get, group, rule, until_healthy};

/// A backend that numbers its connections and records which served a request other than a
/// health check. `keep_alive`: keeps connections open between requests; `idle`: closes one
/// that waits longer than this for its next request.
struct Counted {
    addr: SocketAddr,
    served_on: Arc<Mutex<HashSet<usize>>>,
}

async fn counted(keep_alive: bool, idle: Option<Duration>) -> Counted {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let served_on = Arc::new(Mutex::new(HashSet::new()));
    let seen = served_on.clone();
    let next = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let conn = next.fetch_add(1, Ordering::SeqCst);
            let seen = seen.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let path = req.uri().path().to_owned();
                        if path != "/_health" {
                            seen.lock().expect("seen").insert(conn);
                        }
                        let resp = if path == "/empty" {
                            Response::builder()
                                .status(StatusCode::NO_CONTENT)
                                .body(Full::new(Bytes::new()))
                        } else {
                            Response::builder().body(Full::new(Bytes::from("ok")))
                        };
                        Ok::<_, std::convert::Infallible>(resp.expect("response"))
                    }
                });
                let mut http = http1::Builder::new();
                http.keep_alive(keep_alive);
                if let Some(idle) = idle {
                    http.timer(TokioTimer::new()).header_read_timeout(idle);
                }
                let _ = http.serve_connection(TokioIo::new(stream), svc).await;
            });
        }
    });
    Counted { addr, served_on }
}

/// A proxy for `target` alone, with `log` as its access log; stopped by the returned sender,
/// its serving task returned to await the end (and the last lines written).
pub(super) async fn proxy_for(
    target: SocketAddr,
    log: Option<AccessLog>,
) -> (
    Arc<Proxy>,
    u16,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let p = Proxy::new(log);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(p.clone().serve(listener, async move {
        let _ = rx.await;
    }));
    p.apply(&Config {
        target_groups: vec![group("a", "v1", &[target])],
        rules: vec![rule(199, &[("a", 100)])],
    });
    until_healthy(&p).await;
    (p, port, tx, served)
}

fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_to_a_target_are_kept_and_reused() {
    let b = counted(true, None).await;
    let (_p, port, _stop, _) = proxy_for(b.addr, None).await;
    // Each request on a new client connection, so any worker may take it; answers with a
    // body and without one (204) both give their connection back.
    for i in 0..40 {
        let path = if i % 2 == 0 { "/" } else { "/empty" };
        let r = get(port, path, &[]).await;
        assert!(r.status == 200 || r.status == 204, "{}", r.status);
    }
    let used = b.served_on.lock().expect("seen").len();
    assert!(
        used <= workers(),
        "40 requests one after another used {used} connections to the target; at most one a worker ({}) was expected",
        workers()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_closing_its_connections_costs_no_request() {
    // One target closes every connection after its answer, another a kept one after 100 ms
    // idle: a pooled connection found closed is dropped and the request goes on a new one.
    for (keep_alive, idle) in [(false, None), (true, Some(Duration::from_millis(100)))] {
        let b = counted(keep_alive, idle).await;
        let (_p, port, _stop, _) = proxy_for(b.addr, None).await;
        for i in 0..12 {
            let r = get(port, "/", &[]).await;
            assert_eq!(
                r.status, 200,
                "request {i} (keep_alive {keep_alive}, idle {idle:?})"
            );
            if idle.is_some() && i % 3 == 2 {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
        if !keep_alive {
            assert_eq!(b.served_on.lock().expect("seen").len(), 12);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_has_a_whole_json_line_per_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("access.log");
    let b = counted(true, None).await;
    let log = AccessLog::open(&path).expect("open the access log");
    let (_p, port, stop, served) = proxy_for(b.addr, Some(log)).await;
    // Enough requests from four clients at once that both workers fill their buffers past
    // the 32 KiB they write out at, and the rest is written when the proxy stops.
    let mut clients = Vec::new();
    for c in 0..4 {
        clients.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in 0..100 {
                let r = get(port, &format!("/c{c}/r{i}?q=x"), &[]).await;
                assert_eq!(r.status, 200);
                let id = r.header("x-request-id").expect("a request id").to_owned();
                ids.push((id, format!("/c{c}/r{i}")));
            }
            ids
        }));
    }
    let mut sent = BTreeSet::new();
    for c in clients {
        sent.extend(c.await.expect("client"));
    }
    drop(stop);
    served.await.expect("join").expect("served");
    let text = std::fs::read_to_string(&path).expect("read the access log");
    assert!(text.ends_with('\n'), "the log ends with a whole line");
    let mut logged = BTreeSet::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line:?}"));
        assert_eq!(v["status"], 200, "{line}");
        assert_eq!(v["method"], "GET", "{line}");
        assert_eq!(v["target_group"], "a", "{line}");
        assert_eq!(v["target"], b.addr.to_string(), "{line}");
        assert!(v["client"]
            .as_str()
            .is_some_and(|c| c.starts_with("127.0.0.1:")));
        logged.insert((
            v["request_id"].as_str().expect("request_id").to_owned(),
            v["path"].as_str().expect("path").to_owned(),
        ));
    }
    assert_eq!(text.lines().count(), 400, "one line per request");
    assert_eq!(
        logged, sent,
        "each request's id and path, as the client saw them"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bodiless_request_refused_by_one_target_is_sent_to_another() {
    // Both targets fail their checks, so the proxy fails open over both (ALB's way); one of
    // them refuses connections. A GET it refuses goes to the other one.
    let good = super::backend("a").await;
    good.healthy.store(false, Ordering::SeqCst);
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let (p, port, _stop) = super::proxy().await;
    p.apply(&Config {
        target_groups: vec![group("a", "v1", &[good.addr, dead])],
        rules: vec![rule(199, &[("a", 100)])],
    });
    let unhealthy = |p: &Proxy| {
        p.status()[0]
            .targets
            .iter()
            .all(|t| t.1 == wharf_proxy::group::TargetState::Unhealthy)
    };
    for _ in 0..200 {
        if unhealthy(&p) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(unhealthy(&p), "{:?}", p.status());
    for i in 0..10 {
        let r = get(port, "/", &[]).await;
        assert_eq!(r.status, 200, "request {i}: {}", r.body);
        assert!(r.body.starts_with('a'), "{}", r.body);
    }
}

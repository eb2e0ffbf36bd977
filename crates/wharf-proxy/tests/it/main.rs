//! The proxy with real backends on loopback port 0: routing, exact weighted splits, health
//! checks, draining without failed requests, the affinity cookie, forwarded headers, counters;
//! `upstream`: connections to targets and the access log; `framing`: the exchange with a target
//! byte for byte; `clients`: client connections read directly, gone clients, deferred accept.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use wharf_proxy::{Config, HealthConfig, Proxy, RuleConfig, TargetGroupConfig};
use wharf_testkit::http::{request, Response as HttpResponse};

mod clients;
mod framing;
mod upstream;

/// A backend answering its name (and the headers it saw) on `/`, `/slow` after 1.5 s, and a
/// health check that follows `healthy`.
struct Backend {
    addr: SocketAddr,
    healthy: Arc<AtomicBool>,
    failing: Arc<AtomicBool>,
}

async fn backend(name: &'static str) -> Backend {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let healthy = Arc::new(AtomicBool::new(true));
    let failing = Arc::new(AtomicBool::new(false));
    let (h, f) = (healthy.clone(), failing.clone());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (h, f) = (h.clone(), f.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (h, f) = (h.clone(), f.clone());
                    async move {
                        let path = req.uri().path().to_owned();
                        let (status, body) = match path.as_str() {
                            "/_health" if h.load(Ordering::SeqCst) => {
                                (StatusCode::OK, "ok".to_owned())
                            }
                            "/_health" => (StatusCode::SERVICE_UNAVAILABLE, "failing".to_owned()),
                            _ if f.load(Ordering::SeqCst) => {
                                (StatusCode::INTERNAL_SERVER_ERROR, "boom".to_owned())
                            }
                            "/consume" => {
                                use http_body_util::BodyExt as _;
                                let n = req
                                    .into_body()
                                    .collect()
                                    .await
                                    .map_or(0, |b| b.to_bytes().len());
                                (StatusCode::OK, format!("{name} read {n}"))
                            }
                            "/slow" => {
                                tokio::time::sleep(Duration::from_millis(1500)).await;
                                (StatusCode::OK, name.to_owned())
                            }
                            _ => {
                                let xff = req
                                    .headers()
                                    .get("x-forwarded-for")
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or("-");
                                let rid = req.headers().get("x-request-id").is_some();
                                let ridv = req
                                    .headers()
                                    .get("x-request-id")
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or("-");
                                let mut names: Vec<&str> =
                                    req.headers().keys().map(|k| k.as_str()).collect();
                                names.sort();
                                let names = names.join(",");
                                (
                                    StatusCode::OK,
                                    format!("{name} xff={xff} rid={rid} ridv={ridv} names={names}"),
                                )
                            }
                        };
                        Ok::<_, std::convert::Infallible>(
                            Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::from(body)))
                                .expect("response"),
                        )
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Backend {
        addr,
        healthy,
        failing,
    }
}

fn health() -> HealthConfig {
    HealthConfig {
        path: "/_health".into(),
        interval_ms: 50,
        timeout_ms: 500,
        healthy: 2,
        unhealthy: 2,
        matcher: "200-399".into(),
    }
}

fn group(name: &str, deployment: &str, targets: &[SocketAddr]) -> TargetGroupConfig {
    TargetGroupConfig {
        name: name.into(),
        deployment: Some(deployment.into()),
        targets: targets.to_vec(),
        health: health(),
        deregistration_delay_ms: 5_000,
    }
}

fn rule(priority: u32, forward: &[(&str, u32)]) -> RuleConfig {
    RuleConfig {
        priority,
        listener: None,
        hosts: vec![],
        paths: vec!["/*".into()],
        headers: vec![],
        cookies: vec![],
        forward: forward.iter().map(|(g, w)| (g.to_string(), *w)).collect(),
        affinity_cookie: None,
        fixed: None,
    }
}

/// Starts a proxy on a free port; it stops when the returned sender is dropped.
async fn proxy() -> (Arc<Proxy>, u16, tokio::sync::oneshot::Sender<()>) {
    let p = Proxy::new(None);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(p.clone().serve(listener, async move {
        let _ = rx.await;
    }));
    (p, port, tx)
}

async fn get(port: u16, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        request(port, "GET", &path, &h, Duration::from_secs(10)).expect("request")
    })
    .await
    .expect("join")
}

/// Waits until every target of the proxy's groups is healthy (bounded).
async fn until_healthy(p: &Proxy) {
    for _ in 0..200 {
        if p.status().iter().all(|g| {
            g.targets
                .iter()
                .all(|t| t.1 == wharf_proxy::group::TargetState::Healthy)
        }) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("targets did not become healthy within 4s: {:?}", p.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_configured_answers_the_default_503() {
    let (_p, port, _stop) = proxy().await;
    let r = get(port, "/", &[]).await;
    assert_eq!((r.status, r.body.trim()), (503, "no deployment yet"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_split_traffic_exactly() {
    let (a, b) = (backend("a").await, backend("b").await);
    let (p, port, _stop) = proxy().await;
    p.apply(&Config {
        target_groups: vec![group("a", "v1", &[a.addr]), group("b", "v2", &[b.addr])],
        rules: vec![rule(199, &[("a", 80), ("b", 20)])],
    });
    until_healthy(&p).await;
    let mut to_b = 0;
    for _ in 0..100 {
        let r = get(port, "/", &[]).await;
        assert_eq!(r.status, 200);
        to_b += usize::from(r.body.starts_with('b'));
    }
    assert_eq!(
        to_b, 20,
        "smooth weighted round robin gives the exact share"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_healthy_targets_get_traffic() {
    let (good, bad) = (backend("good").await, backend("bad").await);
    bad.healthy.store(false, Ordering::SeqCst);
    let (p, port, _stop) = proxy().await;
    p.apply(&Config {
        target_groups: vec![group("g", "v1", &[good.addr, bad.addr])],
        rules: vec![rule(1, &[("g", 100)])],
    });
    for _ in 0..200 {
        let st = p.status();
        if st[0]
            .targets
            .iter()
            .any(|t| t.1 == wharf_proxy::group::TargetState::Unhealthy)
            && st[0]
                .targets
                .iter()
                .any(|t| t.1 == wharf_proxy::group::TargetState::Healthy)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for _ in 0..20 {
        assert!(get(port, "/", &[]).await.body.starts_with("good"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deregistered_target_finishes_its_requests_and_gets_no_new_ones() {
    let (old, new) = (backend("old").await, backend("new").await);
    let (p, port, _stop) = proxy().await;
    p.apply(&Config {
        target_groups: vec![group("g", "v1", &[old.addr])],
        rules: vec![rule(1, &[("g", 100)])],
    });
    until_healthy(&p).await;
    let slow = tokio::spawn(async move { get(port, "/slow", &[]).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    p.apply(&Config {
        target_groups: vec![group("g", "v2", &[new.addr])],
        rules: vec![rule(1, &[("g", 100)])],
    });
    until_healthy_target(&p, new.addr).await;
    for _ in 0..10 {
        assert!(
            get(port, "/", &[]).await.body.starts_with("new"),
            "no new request reaches the draining target"
        );
    }
    let r = slow.await.expect("join");
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "old"),
        "the in-flight request completed"
    );
    // Removed once its last request finished (well before the 5 s delay).
    for _ in 0..100 {
        if !p.status()[0].targets.iter().any(|t| t.0 == old.addr) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the drained target was not removed: {:?}", p.status());
}

async fn until_healthy_target(p: &Proxy, addr: SocketAddr) {
    for _ in 0..200 {
        if p.status().iter().any(|g| {
            g.targets
                .iter()
                .any(|t| t.0 == addr && t.1 == wharf_proxy::group::TargetState::Healthy)
        }) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{addr} did not become healthy: {:?}", p.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_affinity_cookie_keeps_users_on_their_deployment() {
    let (v1, v2) = (backend("v1").await, backend("v2").await);
    let (p, port, _stop) = proxy().await;
    let mut sticky = rule(100, &[("g1", 100)]);
    sticky.cookies = vec![("aff".into(), "dep-1".into())];
    let mut default = rule(199, &[("g2", 100)]);
    default.affinity_cookie = Some("aff".into());
    p.apply(&Config {
        target_groups: vec![
            group("g1", "dep-1", &[v1.addr]),
            group("g2", "dep-2", &[v2.addr]),
        ],
        rules: vec![sticky, default],
    });
    until_healthy(&p).await;
    let first = get(port, "/", &[]).await;
    assert!(
        first.body.starts_with("v2"),
        "new users get the newest deployment"
    );
    assert_eq!(
        first
            .header("set-cookie")
            .map(|c| c.split(';').next().unwrap_or_default()),
        Some("aff=dep-2")
    );
    let old_user = get(port, "/", &[("cookie", "aff=dep-1")]).await;
    assert!(
        old_user.body.starts_with("v1"),
        "a sticky user stays on their deployment"
    );
    assert!(old_user.header("set-cookie").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_request_id_and_5xx_counters() {
    let b = backend("b").await;
    let (p, port, _stop) = proxy().await;
    p.apply(&Config {
        target_groups: vec![group("g", "v1", &[b.addr])],
        rules: vec![rule(1, &[("g", 100)])],
    });
    until_healthy(&p).await;
    let r = get(port, "/", &[("x-forwarded-for", "10.1.2.3")]).await;
    assert!(
        r.body.contains("xff=10.1.2.3, 127.0.0.1") && r.body.contains("rid=true"),
        "{}",
        r.body
    );
    assert!(r.header("x-request-id").is_some_and(|v| !v.is_empty()));
    b.failing.store(true, Ordering::SeqCst);
    for _ in 0..4 {
        assert_eq!(get(port, "/", &[]).await.status, 500);
    }
    let (total, errors) = p.requests("g", Duration::from_secs(60));
    assert_eq!((total, errors), (5, 4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clients_hop_underscore_drain_and_request_id_headers_never_reach_the_backend() {
    let b = backend("b").await;
    let (p, port, _stop) = proxy().await;
    p.apply(&Config {
        target_groups: vec![group("g", "v1", &[b.addr])],
        rules: vec![rule(1, &[("g", 100)])],
    });
    until_healthy(&p).await;
    let r = get(
        port,
        "/",
        &[
            ("connection", "x-hop-named"),
            ("x-hop-named", "1"),
            ("proxy-connection", "keep-alive"),
            ("x_user", "admin"),
            ("x-drain-secret", "guess"),
            ("x-request-id", "forged-id"),
            ("x-kept", "1"),
        ],
    )
    .await;
    let names = r.body.split("names=").nth(1).unwrap_or_default().to_owned();
    assert!(names.split(',').any(|n| n == "x-kept"), "{}", r.body);
    for gone in [
        "x-hop-named",
        "proxy-connection",
        "x_user",
        "x-drain-secret",
        "connection",
    ] {
        assert!(
            !names.split(',').any(|n| n == gone),
            "{gone} passed: {}",
            r.body
        );
    }
    assert!(!r.body.contains("ridv=forged-id"), "{}", r.body);
    assert_ne!(r.header("x-request-id"), Some("forged-id"));
}

/// A proxy with `limits` on a free port.
async fn limited(limits: wharf_proxy::Limits) -> (u16, tokio::sync::oneshot::Sender<()>) {
    let p = Proxy::with_limits(None, limits);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(p.serve(listener, async move {
        let _ = rx.await;
    }));
    (port, tx)
}

/// A proxy for `target` alone whose header read and answer timeout is `limit`, its target
/// healthy; it stops when the returned sender is dropped.
async fn timed(
    target: SocketAddr,
    limit: Duration,
) -> (Arc<Proxy>, u16, tokio::sync::oneshot::Sender<()>) {
    let p = Proxy::with_limits(
        None,
        wharf_proxy::Limits {
            header_read: limit,
            ..Default::default()
        },
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(p.clone().serve(listener, async move {
        let _ = rx.await;
    }));
    p.apply(&Config {
        target_groups: vec![group("a", "v1", &[target])],
        rules: vec![rule(199, &[("a", 100)])],
    });
    until_healthy(&p).await;
    (p, port, tx)
}

/// Writes `sent` and reads until the proxy closes the connection (bounded: 10 s).
async fn exchange(port: u16, sent: Vec<u8>) -> String {
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let _ = s.write_all(&sent);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
    .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let (port, _stop) = limited(wharf_proxy::Limits {
        header_read: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    // Half a request, then silence: the connection is closed (not held for ever).
    let answer = exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ".to_vec()).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_over_the_limit_are_answered_431() {
    let (port, _stop) = limited(wharf_proxy::Limits::default()).await;
    let mut req = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..100 {
        req.extend(format!("X-Big-{i}: {}\r\n", "a".repeat(1000)).as_bytes());
    }
    req.extend(b"\r\n");
    let answer = exchange(port, req).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_closed_at_once() {
    let (port, _stop) = limited(wharf_proxy::Limits {
        max_connections: 2,
        ..Default::default()
    })
    .await;
    // Each held connection has begun a request: the kernel hands the proxy a connection
    // once its first bytes have come (TCP_DEFER_ACCEPT), a silent one only a second later.
    let held: Vec<std::net::TcpStream> = (0..2)
        .map(|_| {
            use std::io::Write as _;
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
            s.write_all(b"GET / HTTP/1.1\r\n").expect("begin a request");
            s
        })
        .collect();
    // Let the proxy accept both before the third arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answer = exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec()).await;
    assert_eq!(answer, "", "the third connection got an answer");
    drop(held);
    // Room again: the proxy answers (503: no route configured).
    let mut ok = false;
    for _ in 0..50 {
        let a = exchange(
            port,
            b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".to_vec(),
        )
        .await;
        if a.starts_with("HTTP/1.1 503") {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ok, "the proxy answers once connections are free");
}

/// A raw TCP target on a free port: `each` serves every connection it accepts, in a task
/// of its own.
async fn raw_target<F, Fut>(each: F) -> SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(each(s));
        }
    });
    addr
}

/// A target that answers its health check 200 and then never finishes the body.
async fn trickling_backend() -> SocketAddr {
    raw_target(|mut s| async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\nok")
            .await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_check_whose_body_never_ends_fails() {
    let addr = trickling_backend().await;
    let (p, _port, _stop) = proxy().await;
    let mut g = group("g", "v1", &[addr]);
    g.health.timeout_ms = 200;
    g.health.interval_ms = 300;
    p.apply(&Config {
        target_groups: vec![g],
        rules: vec![rule(1, &[("g", 100)])],
    });
    let mut state = None;
    for _ in 0..100 {
        state = p
            .status()
            .first()
            .and_then(|g| g.targets.first())
            .map(|t| t.1);
        if state == Some(wharf_proxy::group::TargetState::Unhealthy) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(state, Some(wharf_proxy::group::TargetState::Unhealthy));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_kept_alive_connection_is_closed() {
    let (port, _stop) = limited(wharf_proxy::Limits {
        header_read: Duration::from_millis(300),
        ..Default::default()
    })
    .await;
    // One whole request, kept alive, then nothing: answered, then closed by the proxy.
    let answer = exchange(port, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n".to_vec()).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_not_answered_within_the_idle_timeout_gets_504() {
    let b = backend("a").await;
    let (_p, port, _stop) = timed(b.addr, Duration::from_millis(500)).await;
    assert_eq!(
        get(port, "/", &[]).await.status,
        200,
        "a quick answer passes"
    );
    // /slow answers after 1.5 s; so does a body that stops short of its length.
    assert_eq!(get(port, "/slow", &[]).await.status, 504);
    let stalled = exchange(
        port,
        b"POST /consume HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\nConnection: close\r\n\r\nonly ten b"
            .to_vec(),
    )
    .await;
    assert!(stalled.starts_with("HTTP/1.1 504"), "{stalled:?}");
}

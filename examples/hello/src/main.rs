//! hello: wharf's example service, and the workload of its rollout tests.
//!
//! - `GET /` answers JSON with the deployment id (`DEPLOYMENT_ID`) and version (`HELLO_VERSION`);
//!   `?delay_ms=N` holds the answer N ms (to have requests in flight during a drain).
//! - `GET /_health` answers 200 `ok`, or 503 when failing or draining.
//! - `POST /_health/fail` and `POST /_health/ok` flip the health switch (drain secret required).
//! - `GET /call` asks the URL in `API_URL` (what wharf gives a service that talks to an
//!   internal service `api`) and answers `{"via":DEPLOYMENT,"upstream":BODY}` with its status
//!   (502 when it cannot be reached): a caller of an internal service by its name.
//! - `POST /drain` with header `X-Drain-Secret: $DRAIN_SECRET` makes it report draining; the
//!   answer names the task in `X-Wharf-Task` (its ECS task id, or its host name).
//! - On SIGTERM or SIGINT it stops accepting, finishes requests in flight, and exits 0.
//!
//! - `hello --check` asks its own `/_health` on 127.0.0.1:$PORT and exits 0 on a 200, 1
//!   otherwise: the container health check of an image with nothing else in it.
//!
//! - `hello --job [exit=N] [sleep_ms=N]` is a one-off task of the same image (as a migration
//!   is): it prints its run, deployment, `GREETING` and whether `JOB_SECRET` is set, waits, and
//!   exits N; SIGTERM ends it at once with 143.
//!
//! Fault modes for tests, by `HELLO_MODE`: `exit` (exits 1 at start), `unhealthy` (health fails
//! from the start), `error500` (every `/` answers 500).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

/// Longest `?delay_ms` honoured, so a test cannot park a request for ever.
const MAX_DELAY_MS: u64 = 30_000;
/// The largest body `/bytes` sends.
const MAX_BYTES: usize = 8 << 20;
/// How long in-flight requests get after SIGTERM before the process exits anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

struct State {
    deployment: String,
    version: String,
    drain_secret: Option<String>,
    healthy: AtomicBool,
    draining: AtomicBool,
    error500: bool,
    served: AtomicU64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().nth(1).as_deref() == Some("--check") {
        std::process::exit(check());
    }
    if std::env::args().nth(1).as_deref() == Some("--job") {
        std::process::exit(job().await);
    }
    let mode = std::env::var("HELLO_MODE").unwrap_or_default();
    if mode == "exit" {
        eprintln!("hello: HELLO_MODE=exit, exiting at start");
        std::process::exit(1);
    }
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8000);
    let state = Arc::new(State {
        deployment: std::env::var("DEPLOYMENT_ID").unwrap_or_else(|_| "unknown".into()),
        version: std::env::var("HELLO_VERSION")
            .unwrap_or_else(|_| env!("CARGO_PKG_VERSION").into()),
        drain_secret: std::env::var("DRAIN_SECRET").ok().filter(|s| !s.is_empty()),
        healthy: AtomicBool::new(mode != "unhealthy"),
        draining: AtomicBool::new(false),
        error500: mode == "error500",
        served: AtomicU64::new(0),
    });
    let addr = SocketAddr::from(([0, 0, 0, 0], port));
    let listener = match TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("hello: cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "hello: deployment {} version {} listening on {addr}",
        state.deployment, state.version
    );

    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    let graceful = GracefulShutdown::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let state = state.clone();
                let conn = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service_fn(move |req| handle(state.clone(), req)));
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    drop(listener);
    println!("hello: shutting down, finishing requests in flight");
    tokio::select! {
        _ = graceful.shutdown() => println!("hello: all requests finished ({} served)", state.served.load(Ordering::Relaxed)),
        _ = tokio::time::sleep(SHUTDOWN_GRACE) => eprintln!("hello: requests still in flight after {SHUTDOWN_GRACE:?}, exiting"),
    }
}

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let authorised = || {
        let given = req
            .headers()
            .get("x-drain-secret")
            .and_then(|v| v.to_str().ok());
        matches!((&state.drain_secret, given), (Some(want), Some(got)) if same(want.as_bytes(), got.as_bytes()))
    };
    let resp = match (req.method(), path.as_str()) {
        (&Method::GET | &Method::HEAD, "/") => {
            if let Some(ms) = query_u64(req.uri().query(), "delay_ms") {
                tokio::time::sleep(Duration::from_millis(ms.min(MAX_DELAY_MS))).await;
            }
            state.served.fetch_add(1, Ordering::Relaxed);
            if state.error500 {
                text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "hello: failing on purpose (HELLO_MODE=error500)\n",
                )
            } else {
                json(StatusCode::OK, &state)
            }
        }
        // A body of `n` bytes (at most 8 MiB), for benchmarks of large responses.
        (&Method::GET, "/bytes") => {
            static BIG: std::sync::OnceLock<Bytes> = std::sync::OnceLock::new();
            let big = BIG.get_or_init(|| Bytes::from(vec![b'x'; MAX_BYTES]));
            let n = query_u64(req.uri().query(), "n").map_or(0, |n| n.min(MAX_BYTES as u64));
            Response::builder()
                .header("content-type", "application/octet-stream")
                .body(Full::new(big.slice(..n as usize)))
                .expect("response parts")
        }
        (&Method::GET, "/call") => match call_upstream().await {
            Ok((status, body)) => {
                let body = format!(
                    "{{\"via\":\"{}\",\"upstream\":{}}}\n",
                    escape(&state.deployment),
                    body.trim()
                );
                Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body)))
                    .expect("response parts")
            }
            Err(e) => {
                eprintln!("hello: /call: {e}");
                text(StatusCode::BAD_GATEWAY, "upstream unreachable\n")
            }
        },
        (&Method::GET | &Method::HEAD, "/_health") => {
            if state.draining.load(Ordering::Relaxed) {
                text(StatusCode::SERVICE_UNAVAILABLE, "draining\n")
            } else if state.healthy.load(Ordering::Relaxed) {
                text(StatusCode::OK, "ok\n")
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "failing\n")
            }
        }
        (&Method::POST, "/drain")
        | (&Method::POST, "/_health/fail")
        | (&Method::POST, "/_health/ok") => {
            if !authorised() {
                text(StatusCode::FORBIDDEN, "missing or wrong X-Drain-Secret\n")
            } else {
                match path.as_str() {
                    "/drain" => state.draining.store(true, Ordering::Relaxed),
                    "/_health/fail" => state.healthy.store(false, Ordering::Relaxed),
                    _ => state.healthy.store(true, Ordering::Relaxed),
                }
                let mut resp = json(StatusCode::OK, &state);
                if path == "/drain" {
                    if let Ok(v) = hyper::header::HeaderValue::from_str(&task_name().await) {
                        resp.headers_mut().insert("x-wharf-task", v);
                    }
                }
                resp
            }
        }
        (_, "/" | "/bytes" | "/_health" | "/drain" | "/_health/fail" | "/_health/ok") => {
            text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
        }
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    };
    Ok(resp)
}

/// What this task is called in its answer to the drain POST (`X-Wharf-Task`, which wharf
/// counts acknowledgements by): on ECS the task's id, from the task metadata endpoint; else
/// the host name (a container's id under Docker).
async fn task_name() -> String {
    if let Ok(uri) = std::env::var("ECS_CONTAINER_METADATA_URI_V4") {
        if let Ok((_, body)) = get(&format!("{uri}/task")).await {
            if let Some(arn) = body
                .split("\"TaskARN\":\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
            {
                return arn.rsplit('/').next().unwrap_or(arn).to_owned();
            }
        }
    }
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

/// GET the URL in `API_URL` on a fresh connection: its status and body.
async fn call_upstream() -> Result<(StatusCode, String), String> {
    let url = std::env::var("API_URL").map_err(|_| "API_URL is not set".to_owned())?;
    get(&url).await
}

/// GET `url` (`http://host[:port]/path`) on a fresh connection: its status and body.
async fn get(url: &str) -> Result<(StatusCode, String), String> {
    use http_body_util::BodyExt;
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url} is not http://"))?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = authority.rsplit_once(':').unwrap_or((authority, "80"));
    let port: u16 = port.parse().map_err(|_| format!("bad port in {url}"))?;
    let ip = resolve(host).await?;
    let stream = tokio::net::TcpStream::connect((ip, port))
        .await
        .map_err(|e| format!("connect {host}:{port}: {e}"))?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = Request::get(format!("/{path}"))
        .header("host", authority)
        .body(http_body_util::Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(Duration::from_secs(10), send.send_request(req))
        .await
        .map_err(|_| "no answer in 10s".to_owned())?
        .map_err(|e| e.to_string())?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

/// A host's address from `/etc/hosts` (where Docker writes a container's extra hosts; a
/// `FROM scratch` image has no resolver libraries), else from DNS.
async fn resolve(host: &str) -> Result<std::net::IpAddr, String> {
    if let Ok(ip) = host.parse() {
        return Ok(ip);
    }
    let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    for line in hosts.lines() {
        let mut words = line.split('#').next().unwrap_or("").split_whitespace();
        let Some(ip) = words.next().and_then(|w| w.parse().ok()) else {
            continue;
        };
        if words.any(|w| w.eq_ignore_ascii_case(host)) {
            return Ok(ip);
        }
    }
    tokio::net::lookup_host((host, 0))
        .await
        .map_err(|e| format!("resolve {host}: {e}"))?
        .next()
        .map(|a| a.ip())
        .ok_or_else(|| format!("{host} has no address"))
}

fn query_u64(query: Option<&str>, key: &str) -> Option<u64> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

fn json(status: StatusCode, s: &State) -> Response<Full<Bytes>> {
    let body = format!(
        "{{\"app\":\"hello\",\"deployment\":\"{}\",\"version\":\"{}\",\"draining\":{},\"healthy\":{}}}\n",
        escape(&s.deployment),
        escape(&s.version),
        s.draining.load(Ordering::Relaxed),
        s.healthy.load(Ordering::Relaxed)
    );
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("static response parts")
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("static response parts")
}

fn escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '"' => vec!['\\', '"'],
            '\\' => vec!['\\', '\\'],
            c if c.is_control() => vec![],
            c => vec![c],
        })
        .collect()
}

/// `--job [exit=N] [sleep_ms=N]`: says who it is, waits, exits N (143 on SIGTERM).
async fn job() -> i32 {
    let (mut code, mut sleep_ms) = (0, 0u64);
    for a in std::env::args().skip(2) {
        if let Some(v) = a.strip_prefix("exit=") {
            code = v.parse().unwrap_or(1);
        } else if let Some(v) = a.strip_prefix("sleep_ms=") {
            sleep_ms = v.parse().unwrap_or(0);
        }
    }
    let var = |k: &str| std::env::var(k).unwrap_or_else(|_| "-".into());
    println!(
        "hello job: run {} deployment {}",
        var("WHARF_RUN_ID"),
        var("DEPLOYMENT_ID")
    );
    println!("hello job: greeting {}", var("GREETING"));
    let secret = std::env::var_os("JOB_SECRET").is_some_and(|s| !s.is_empty());
    println!(
        "hello job: secret {}",
        if secret { "set" } else { "missing" }
    );
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        return 1;
    };
    tokio::select! {
        () = tokio::time::sleep(Duration::from_millis(sleep_ms)) => {}
        _ = term.recv() => {
            println!("hello job: stopped");
            return 143;
        }
    }
    println!("hello job: done, exit {code}");
    code
}

/// `--check`: 0 when this container's `/_health` answers 200 within two seconds, else 1.
fn check() -> i32 {
    use std::io::{Read, Write};
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8000);
    let limit = Duration::from_secs(2);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, limit) else {
        return 1;
    };
    let _ = s.set_read_timeout(Some(limit));
    let _ = s.set_write_timeout(Some(limit));
    let request = "GET /_health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    if s.write_all(request.as_bytes()).is_err() {
        return 1;
    }
    let mut head = [0u8; 12];
    match s.read_exact(&mut head) {
        Ok(()) if head.starts_with(b"HTTP/1.1 200") => 0,
        _ => 1,
    }
}

/// Compares two secrets in time that depends on their lengths only, never on where they
/// first differ (a timing side channel would let a client guess the secret byte by byte).
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parsing() {
        assert_eq!(query_u64(Some("a=1&delay_ms=250"), "delay_ms"), Some(250));
        assert_eq!(query_u64(Some("delay_ms=x"), "delay_ms"), None);
        assert_eq!(query_u64(None, "delay_ms"), None);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same(b"s3cret", b"s3cret"));
        assert!(!same(b"s3cret", b"s3creT") && !same(b"s3cret", b"s3cre") && !same(b"", b"x"));
    }

    #[test]
    fn escaping_keeps_json_valid() {
        assert_eq!(escape("a\"b\\c\n"), "a\\\"b\\\\c");
    }
}

//! Forwarding: route the request, pick a target group by weight (smooth weighted round robin,
//! so splits are exact), pick a healthy target, and proxy with X-Forwarded-For/-Proto/-Port and
//! X-Request-Id. A connection failure on a bodiless request is retried once on another target.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Bytes, Frame, Incoming};
use hyper::header::{HeaderName, HeaderValue, SET_COOKIE};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;

use crate::config::RuleConfig;
use crate::group::{Backend, Group};
use crate::router;

pub type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// Receives one entry per request (the access log).
pub type AccessLog = Box<dyn Fn(&AccessEntry) + Send + Sync>;

/// What one request did, for the access log.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AccessEntry {
    pub request_id: String,
    pub client: SocketAddr,
    pub method: String,
    pub host: String,
    pub path: String,
    pub status: u16,
    pub target_group: Option<String>,
    pub target: Option<SocketAddr>,
    pub duration_ms: u64,
}

/// The configuration requests are served with.
pub struct Snapshot {
    pub rules: Vec<RuleConfig>,
    pub groups: HashMap<String, Arc<Group>>,
    /// Smooth weighted round-robin state per rule priority.
    wrr: Mutex<HashMap<u32, Vec<i64>>>,
}

impl Snapshot {
    pub fn new(mut rules: Vec<RuleConfig>, groups: HashMap<String, Arc<Group>>) -> Self {
        rules.sort_by_key(|r| r.priority);
        Snapshot {
            rules,
            groups,
            wrr: Mutex::new(HashMap::new()),
        }
    }

    /// nginx's smooth weighted round robin: exact proportions, interleaved.
    fn pick_group<'r>(&self, rule: &'r RuleConfig) -> Option<&'r str> {
        let total: i64 = rule.forward.iter().map(|(_, w)| i64::from(*w)).sum();
        if total == 0 {
            return None;
        }
        let mut wrr = self.wrr.lock().unwrap_or_else(|p| p.into_inner());
        let current = wrr.entry(rule.priority).or_default();
        // A configuration is validated (priorities are unique), but a state of another length
        // is started over rather than indexed out of bounds.
        if current.len() != rule.forward.len() {
            *current = vec![0; rule.forward.len()];
        }
        let mut best = 0;
        for (i, (_, w)) in rule.forward.iter().enumerate() {
            current[i] += i64::from(*w);
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        Some(rule.forward[best].0.as_str())
    }
}

/// Forwards requests for one worker thread, with that thread's pool of backend connections.
pub struct Forwarder {
    pub client: Client<HttpConnector, ProxyBody>,
    /// What the request ids this worker makes start with: when it started, in microseconds,
    /// and its index (`{micros:x}-{worker:x}-`), so ids never repeat across workers or runs.
    id_prefix: String,
    seq: AtomicU64,
    pub access_log: Option<Arc<AccessLog>>,
    pub upstream_timeout: Duration,
}

const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// What a client may not pass to a backend, as ALB and nginx treat it: hop-by-hop headers and
/// the ones `Connection` names, `Proxy-Connection`, header names with underscores (nginx's
/// default: they alias dashes in CGI-style backends), and the drain secret, which only wharf
/// sends, straight to a container. One pass over the names; a request carrying none of them
/// (nearly all) removes nothing (a removal of an absent name still hashes it).
pub fn strip_client_headers(headers: &mut hyper::HeaderMap) {
    let mut drop: Vec<HeaderName> = Vec::new();
    for name in headers.keys() {
        let n = name.as_str();
        if n == "connection" {
            drop.extend(
                headers
                    .get_all(name)
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .flat_map(|v| v.split(','))
                    .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok()),
            );
        }
        if HOP_BY_HOP.contains(&n)
            || n == "proxy-connection"
            || n == "x-drain-secret"
            || n.contains('_')
        {
            drop.push(name.clone());
        }
    }
    for h in drop {
        headers.remove(h);
    }
}

fn fixed(status: StatusCode, body: impl Into<Bytes>) -> Response<ProxyBody> {
    let mut r = Response::new(
        Full::new(body.into())
            .map_err(|n: Infallible| match n {})
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/plain"));
    r
}

impl Forwarder {
    /// `upstream_timeout` bounds a forwarded request from its start to the target's answer,
    /// the request's body included (ALB's idle timeout: 504 past it).
    pub fn new(
        access_log: Option<Arc<AccessLog>>,
        worker: usize,
        upstream_timeout: Duration,
    ) -> Self {
        let client = Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(256)
            .build_http::<ProxyBody>();
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros());
        Forwarder {
            client,
            id_prefix: format!("{started:x}-{worker:x}-"),
            seq: AtomicU64::new(0),
            access_log,
            upstream_timeout,
        }
    }

    /// The worker's prefix and its next sequence number in hex: no clock read or formatter
    /// per request.
    fn request_id(&self) -> String {
        let mut n = self.seq.fetch_add(1, Ordering::Relaxed);
        let mut digits = [0u8; 16];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b"0123456789abcdef"[(n & 0xf) as usize];
            n >>= 4;
            if n == 0 {
                break;
            }
        }
        let mut id = String::with_capacity(self.id_prefix.len() + digits.len() - i);
        id.push_str(&self.id_prefix);
        id.extend(digits[i..].iter().map(|&b| b as char));
        id
    }

    /// Serves one request that came in on `listener` (None: the main one) at `local`.
    pub async fn handle(
        &self,
        snapshot: Arc<Snapshot>,
        req: Request<Incoming>,
        client: SocketAddr,
        listener: Option<&str>,
        local: SocketAddr,
    ) -> Response<ProxyBody> {
        let started = Instant::now();
        let host = router::host(req.headers(), req.uri()).unwrap_or_default();
        let path = req.uri().path().to_owned();
        let method = req.method().clone();
        // The proxy's own id: a client's X-Request-Id is not trusted (it could forge or
        // collide with another request's in the logs); the backend gets this one.
        let request_id = self.request_id();
        let (resp, group, target) = self
            .forward(&snapshot, req, &host, client, listener, local, &request_id)
            .await;
        let mut resp = resp;
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert("x-request-id", v);
        }
        if let Some(g) = &group {
            g.counters.record(resp.status().as_u16());
        }
        if let Some(log) = &self.access_log {
            log(&AccessEntry {
                request_id,
                client,
                method: method.to_string(),
                host,
                path,
                status: resp.status().as_u16(),
                target_group: group.map(|g| g.name.clone()),
                target,
                duration_ms: started.elapsed().as_millis() as u64,
            });
        }
        resp
    }

    #[allow(clippy::too_many_arguments)]
    async fn forward(
        &self,
        snapshot: &Snapshot,
        req: Request<Incoming>,
        host: &str,
        client: SocketAddr,
        listener: Option<&str>,
        local: SocketAddr,
        request_id: &str,
    ) -> (Response<ProxyBody>, Option<Arc<Group>>, Option<SocketAddr>) {
        let Some(rule) = router::route(
            &snapshot.rules,
            listener,
            Some(host),
            req.uri().path(),
            req.headers(),
        ) else {
            return (
                fixed(StatusCode::SERVICE_UNAVAILABLE, "no deployment yet\n"),
                None,
                None,
            );
        };
        if let Some(status) = rule.fixed {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::NOT_FOUND);
            let body = status.canonical_reason().unwrap_or("fixed response");
            return (fixed(status, format!("{body}\n")), None, None);
        }
        let Some(group) = snapshot
            .pick_group(rule)
            .and_then(|n| snapshot.groups.get(n))
            .cloned()
        else {
            return (
                fixed(StatusCode::SERVICE_UNAVAILABLE, "no deployment yet\n"),
                None,
                None,
            );
        };
        let had_cookie = rule
            .affinity_cookie
            .as_ref()
            .is_some_and(|c| router::cookie(req.headers(), c).is_some());
        let (parts, body) = req.into_parts();
        let bodiless = parts.headers.get("content-length").is_none_or(|v| v == "0")
            && !parts.headers.contains_key("transfer-encoding");
        let mut body = Some(body);
        let mut tried = None;
        for attempt in 0..2 {
            let Some(target) = group.pick(tried) else {
                return (
                    fixed(StatusCode::SERVICE_UNAVAILABLE, "no healthy target\n"),
                    Some(group),
                    None,
                );
            };
            let b: ProxyBody = match body.take() {
                Some(b) if !bodiless => b.boxed(),
                _ => Empty::new().map_err(|n: Infallible| match n {}).boxed(),
            };
            let Ok(out) = self.backend_request(&parts, b, &target, client, local, host, request_id)
            else {
                return (
                    fixed(StatusCode::BAD_REQUEST, "bad request\n"),
                    Some(group),
                    None,
                );
            };
            target.inflight.fetch_add(1, Ordering::SeqCst);
            let guard = Inflight(target.clone());
            match tokio::time::timeout(self.upstream_timeout, self.client.request(out)).await {
                Ok(Ok(resp)) => {
                    let (mut rparts, rbody) = resp.into_parts();
                    for h in HOP_BY_HOP {
                        rparts.headers.remove(h);
                    }
                    if let (Some(cookie), false) = (&rule.affinity_cookie, had_cookie) {
                        if let Some(dep) = group
                            .deployment
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .clone()
                        {
                            if let Ok(v) = HeaderValue::from_str(&format!(
                                "{cookie}={dep}; Path=/; HttpOnly; SameSite=Lax"
                            )) {
                                rparts.headers.append(SET_COOKIE, v);
                            }
                        }
                    }
                    let body = Tracked {
                        inner: rbody,
                        _guard: guard,
                    }
                    .boxed();
                    return (
                        Response::from_parts(rparts, body),
                        Some(group),
                        Some(target.addr),
                    );
                }
                Ok(Err(e)) if e.is_connect() && bodiless && attempt == 0 => {
                    tried = Some(target.addr);
                    continue;
                }
                Ok(Err(_)) => {
                    return (
                        fixed(StatusCode::BAD_GATEWAY, "bad gateway\n"),
                        Some(group),
                        Some(target.addr),
                    )
                }
                Err(_) => {
                    return (
                        fixed(StatusCode::GATEWAY_TIMEOUT, "gateway timeout\n"),
                        Some(group),
                        Some(target.addr),
                    )
                }
            }
        }
        (
            fixed(StatusCode::BAD_GATEWAY, "bad gateway\n"),
            Some(group),
            None,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn backend_request(
        &self,
        parts: &hyper::http::request::Parts,
        body: ProxyBody,
        target: &Backend,
        client: SocketAddr,
        local: SocketAddr,
        host: &str,
        request_id: &str,
    ) -> Result<Request<ProxyBody>, hyper::http::Error> {
        // The target's authority (made once) and the request's path and query, shared.
        let mut uri = hyper::http::uri::Parts::default();
        uri.scheme = Some(hyper::http::uri::Scheme::HTTP);
        uri.authority = Some(target.authority.clone());
        uri.path_and_query = Some(
            parts
                .uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| hyper::http::uri::PathAndQuery::from_static("/")),
        );
        let uri = hyper::Uri::from_parts(uri).map_err(hyper::http::Error::from)?;
        // The client's headers are cloned once and edited in place: cheaper than rebuilding.
        let mut headers = parts.headers.clone();
        strip_client_headers(&mut headers);
        let xff = match headers
            .remove("x-forwarded-for")
            .as_ref()
            .and_then(|v| v.to_str().ok())
        {
            Some(prev) => HeaderValue::from_str(&format!("{prev}, {}", client.ip())),
            None => HeaderValue::from_str(&client.ip().to_string()),
        };
        if let Ok(v) = xff {
            headers.insert(HeaderName::from_static("x-forwarded-for"), v);
        }
        headers.insert(
            HeaderName::from_static("x-forwarded-proto"),
            HeaderValue::from_static("http"),
        );
        headers.insert(
            HeaderName::from_static("x-forwarded-port"),
            HeaderValue::from(local.port()),
        );
        if let Ok(v) = HeaderValue::from_str(request_id) {
            headers.insert(HeaderName::from_static("x-request-id"), v);
        }
        if !headers.contains_key("host") && !host.is_empty() {
            if let Ok(v) = HeaderValue::from_str(host) {
                headers.insert("host", v);
            }
        }
        let mut out = Request::new(body);
        *out.method_mut() = parts.method.clone();
        *out.uri_mut() = uri;
        *out.version_mut() = hyper::Version::HTTP_11;
        *out.headers_mut() = headers;
        Ok(out)
    }
}

/// Counts a request in flight on its target until the response body is finished or dropped.
struct Inflight(Arc<Backend>);

impl Drop for Inflight {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::SeqCst);
    }
}

struct Tracked {
    inner: Incoming,
    _guard: Inflight,
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

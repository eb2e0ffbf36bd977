//! Forwarding: route the request, pick a target group by weight (smooth weighted round robin,
//! so splits are exact), pick a healthy target, and proxy with X-Forwarded-For/-Proto/-Port and
//! X-Request-Id. A connection failure on a bodiless request is retried once on another target.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Bytes, Frame, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderName, HeaderValue, CONTENT_LENGTH, HOST, SET_COOKIE, TRANSFER_ENCODING};
use hyper::{Request, Response, StatusCode};

use crate::access::{push_ipv4, AccessEntry, AccessLog, LogBuffer};
use crate::group::{self, Backend, Group};
use crate::pool::{Pool, UpstreamError};
use crate::router;
use crate::snapshot::View;

pub type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// Forwards requests for one worker thread, with that thread's pool of backend connections
/// and its access-log buffer.
pub struct Forwarder {
    pool: Arc<Pool>,
    /// The worker's index: its shard of the groups' counters.
    worker: usize,
    /// What the request ids this worker makes start with: when it started, in microseconds,
    /// and its index (`{micros:x}-{worker:x}-`), so ids never repeat across workers or runs.
    id_prefix: String,
    seq: AtomicU64,
    log: Option<LogBuffer>,
    upstream_timeout: Duration,
}

/// A client connection: its address, and its IP as a header value, made once per connection
/// for the X-Forwarded-For of each of its requests.
pub struct Peer {
    pub addr: SocketAddr,
    ip: HeaderValue,
}

impl Peer {
    pub fn new(addr: SocketAddr) -> Self {
        let ip = match addr {
            SocketAddr::V4(v4) => {
                let mut text = Vec::with_capacity(15);
                push_ipv4(&mut text, *v4.ip());
                HeaderValue::from_bytes(&text)
            }
            SocketAddr::V6(v6) => HeaderValue::from_str(&v6.ip().to_string()),
        };
        Peer {
            addr,
            ip: ip.unwrap_or_else(|_| HeaderValue::from_static("unknown")),
        }
    }
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

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
                    .map(str::trim)
                    // The usual tokens are not header names (or are dropped already).
                    .filter(|n| {
                        !n.eq_ignore_ascii_case("close") && !n.eq_ignore_ascii_case("keep-alive")
                    })
                    .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok()),
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

/// A target's answer loses its hop-by-hop headers: one pass over its names, and nothing
/// hashed when there are none (nearly always).
fn strip_hop_by_hop(headers: &mut hyper::HeaderMap) {
    if headers.keys().any(|n| HOP_BY_HOP.contains(&n.as_str())) {
        for h in HOP_BY_HOP {
            headers.remove(h);
        }
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
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros());
        Forwarder {
            pool: Arc::new(Pool::default()),
            worker,
            id_prefix: format!("{started:x}-{worker:x}-"),
            seq: AtomicU64::new(0),
            log: access_log.map(LogBuffer::new),
            upstream_timeout,
        }
    }

    /// The worker's once-a-second chores: buffered access lines written out, idle backend
    /// connections past their timeout closed.
    pub fn tick(&self) {
        if let Some(log) = &self.log {
            log.flush();
        }
        self.pool.purge();
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
        view: Arc<View>,
        req: Request<Incoming>,
        client: &Peer,
        listener: Option<&str>,
        local: SocketAddr,
    ) -> Response<ProxyBody> {
        let started = Instant::now();
        let host = router::host(req.headers(), req.uri()).unwrap_or_default();
        let path = self.log.as_ref().map(|_| req.uri().path().to_owned());
        let method = req.method().clone();
        // The proxy's own id: a client's X-Request-Id is not trusted (it could forge or
        // collide with another request's in the logs); the backend gets this one.
        let request_id = self.request_id();
        let (resp, group, target) = self
            .forward(&view, req, &host, client, listener, local, &request_id)
            .await;
        let mut resp = resp;
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            resp.headers_mut().insert(X_REQUEST_ID, v);
        }
        if let Some(g) = group {
            g.counters
                .record(self.worker, started, resp.status().as_u16());
        }
        if let (Some(log), Some(path)) = (&self.log, &path) {
            log.record(&AccessEntry {
                request_id: &request_id,
                client: client.addr,
                method: method.as_str(),
                host: &host,
                path,
                status: resp.status().as_u16(),
                target_group: group.map(|g| g.name.as_str()),
                target,
                duration_ms: started.elapsed().as_millis() as u64,
            });
        }
        resp
    }

    #[allow(clippy::too_many_arguments)]
    async fn forward<'v>(
        &self,
        view: &'v View,
        req: Request<Incoming>,
        host: &str,
        client: &Peer,
        listener: Option<&str>,
        local: SocketAddr,
        request_id: &str,
    ) -> (Response<ProxyBody>, Option<&'v Group>, Option<SocketAddr>) {
        let snapshot = &*view.snapshot;
        let Some(at) = snapshot.route(listener, host, req.uri().path(), req.headers()) else {
            return (
                fixed(StatusCode::SERVICE_UNAVAILABLE, "no deployment yet\n"),
                None,
                None,
            );
        };
        let rule = &snapshot.rules[at];
        if let Some(status) = rule.fixed {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::NOT_FOUND);
            let body = status.canonical_reason().unwrap_or("fixed response");
            return (fixed(status, format!("{body}\n")), None, None);
        }
        let Some((forward, turn)) = snapshot.pick(at).map(|i| view.group(i)) else {
            return (
                fixed(StatusCode::SERVICE_UNAVAILABLE, "no deployment yet\n"),
                None,
                None,
            );
        };
        let group = &*forward.group;
        let had_cookie = rule
            .affinity_cookie
            .as_ref()
            .is_some_and(|c| router::cookie(req.headers(), c).is_some());
        let (parts, body) = req.into_parts();
        let bodiless = parts.headers.get(CONTENT_LENGTH).is_none_or(|v| v == "0")
            && !parts.headers.contains_key(TRANSFER_ENCODING);
        let no_target = || fixed(StatusCode::SERVICE_UNAVAILABLE, "no healthy target\n");
        let Some(mut target) = group::pick(&forward.targets, turn, None) else {
            return (no_target(), Some(group), None);
        };
        let body: ProxyBody = if bodiless {
            Empty::new().map_err(|n: Infallible| match n {}).boxed()
        } else {
            body.boxed()
        };
        let Ok(mut out) =
            self.backend_request(parts, body, target, client, local, host, request_id)
        else {
            return (
                fixed(StatusCode::BAD_REQUEST, "bad request\n"),
                Some(group),
                None,
            );
        };
        let mut retried = false;
        loop {
            target.inflight.fetch_add(1, Ordering::SeqCst);
            let guard = Inflight(target.clone());
            let sent = self.pool.send(target.addr, out);
            let (resp, conn) = match tokio::time::timeout(self.upstream_timeout, sent).await {
                Ok(Ok(answered)) => answered,
                // Nothing reached the target: a bodiless request goes to another, once.
                Ok(Err(UpstreamError::Connect(back))) if bodiless && !retried => {
                    drop(guard);
                    retried = true;
                    let Some(next) = group::pick(&forward.targets, turn + 1, Some(target.addr))
                    else {
                        return (no_target(), Some(group), None);
                    };
                    out = *back;
                    if host.is_empty() {
                        if let Ok(v) = HeaderValue::from_str(next.authority.as_str()) {
                            out.headers_mut().insert(HOST, v);
                        }
                    }
                    target = next;
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
            };
            let (mut rparts, rbody) = resp.into_parts();
            strip_hop_by_hop(&mut rparts.headers);
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
                done: false,
                conn: Some((self.pool.clone(), target.addr, conn)),
                _guard: guard,
            }
            .boxed();
            return (
                Response::from_parts(rparts, body),
                Some(group),
                Some(target.addr),
            );
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn backend_request(
        &self,
        parts: hyper::http::request::Parts,
        body: ProxyBody,
        target: &Backend,
        client: &Peer,
        local: SocketAddr,
        host: &str,
        request_id: &str,
    ) -> Result<Request<ProxyBody>, hyper::http::Error> {
        // Origin form (the path and query, shared): the connection is the target's already.
        let uri = match parts.uri.path_and_query() {
            Some(pq) => hyper::Uri::from(pq.clone()),
            None => hyper::Uri::from_static("/"),
        };
        // The client's headers, edited in place: cheaper than rebuilding; room made at once
        // for the five added (growing a step at a time rehashed the map each step).
        let mut headers = parts.headers;
        headers.reserve(5);
        strip_client_headers(&mut headers);
        // The client's address appended to what it sent (the connection's, made once).
        let xff = match headers.get(X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
            Some(prev) => HeaderValue::from_str(&format!("{prev}, {}", client.addr.ip())),
            None => Ok(client.ip.clone()),
        };
        if let Ok(v) = xff {
            headers.insert(X_FORWARDED_FOR, v);
        }
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
        headers.insert(X_FORWARDED_PORT, HeaderValue::from(local.port()));
        if let Ok(v) = HeaderValue::from_str(request_id) {
            headers.insert(X_REQUEST_ID, v);
        }
        // HTTP/1.1 requires a Host: the client's, else the target's address.
        if !headers.contains_key(HOST) {
            let v = if host.is_empty() {
                HeaderValue::from_str(target.authority.as_str())
            } else {
                HeaderValue::from_str(host)
            };
            if let Ok(v) = v {
                headers.insert(HOST, v);
            }
        }
        let mut out = Request::new(body);
        *out.method_mut() = parts.method;
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

/// A target's answer on its way to the client: counted in flight until finished, and its
/// connection back in the worker's pool once read to the end (one dropped early is closed).
struct Tracked {
    inner: Incoming,
    done: bool,
    conn: Option<(Arc<Pool>, SocketAddr, SendRequest<ProxyBody>)>,
    _guard: Inflight,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if self.done || self.inner.is_end_stream() {
            if let Some((pool, addr, tx)) = self.conn.take() {
                pool.put(addr, tx);
            }
        }
    }
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let frame = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = frame {
            self.done = true;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

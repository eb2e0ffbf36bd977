//! Forwarding: route the request, pick a target group by weight (smooth weighted round robin,
//! so splits are exact), pick a healthy target, and proxy with X-Forwarded-For/-Proto/-Port and
//! X-Request-Id. A connection failure on a bodiless request is retried once on another target.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{
    HeaderName, HeaderValue, CONNECTION, CONTENT_LENGTH, SET_COOKIE, TRANSFER_ENCODING,
};
use hyper::{Method, Request, Response, StatusCode};

use crate::access::{push_ipv4, AccessEntry, AccessLog, LogBuffer};
use crate::group::{self, Backend, Group, Inflight};
use crate::pool::{Outgoing, Pool, UpstreamError};
use crate::router;
use crate::snapshot::View;
use crate::upstream::Answer;
use crate::watch::Watch;

pub type ProxyBody = BoxBody<Bytes, BoxError>;
/// What a body's error becomes on its way through the proxy.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

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
}

/// A client connection: its address, and its address as text (for the access log) whose
/// first part is its IP (for X-Forwarded-For), made once per connection.
pub struct Peer {
    pub addr: SocketAddr,
    text: String,
    ip_len: usize,
}

impl Peer {
    pub fn new(addr: SocketAddr) -> Self {
        let (text, ip_len) = match addr {
            SocketAddr::V4(v4) => {
                let mut text = Vec::with_capacity(21);
                push_ipv4(&mut text, *v4.ip());
                let ip_len = text.len();
                text.push(b':');
                text.extend_from_slice(itoa::Buffer::new().format(v4.port()).as_bytes());
                (String::from_utf8(text).unwrap_or_default(), ip_len)
            }
            // `[ip]:port`: the IP within the brackets.
            SocketAddr::V6(v6) => (addr.to_string(), v6.ip().to_string().len() + 1),
        };
        Peer { addr, text, ip_len }
    }

    fn ip(&self) -> &str {
        match self.addr {
            SocketAddr::V4(_) => &self.text[..self.ip_len],
            SocketAddr::V6(_) => &self.text[1..self.ip_len],
        }
    }
}

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub(crate) const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether a client's field may go on to a target, as ALB and nginx treat it: not a
/// hop-by-hop field (nor one `Connection` names, checked apart), not `Proxy-Connection`, no
/// underscore in the name (nginx's default: they alias dashes in CGI-style backends), and not
/// the drain secret, which only wharf sends, straight to a container.
pub fn forwardable(name: &str) -> bool {
    !(HOP_BY_HOP.contains(&name)
        || name == "proxy-connection"
        || name == "x-drain-secret"
        || name.contains('_'))
}

fn fixed(status: StatusCode, body: impl Into<Bytes>) -> Response<ProxyBody> {
    let mut r = Response::new(
        Full::new(body.into())
            .map_err(|n: Infallible| -> BoxError { match n {} })
            .boxed(),
    );
    *r.status_mut() = status;
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/plain"));
    r
}

impl Forwarder {
    pub fn new(access_log: Option<Arc<AccessLog>>, worker: usize) -> Self {
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros());
        Forwarder {
            pool: Arc::new(Pool::default()),
            worker,
            id_prefix: format!("{started:x}-{worker:x}-"),
            seq: AtomicU64::new(0),
            log: access_log.map(LogBuffer::new),
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
        watch: &Watch,
    ) -> Response<ProxyBody> {
        let started = Instant::now();
        let host = router::host(req.headers(), req.uri()).unwrap_or_default();
        let path = self.log.as_ref().map(|_| req.uri().path().to_owned());
        let method = req.method().clone();
        // The proxy's own id: a client's X-Request-Id is not trusted (it could forge or
        // collide with another request's in the logs); the backend gets this one.
        let request_id = self.request_id();
        let (mut resp, group, target) = self
            .forward(
                &view,
                req,
                &host,
                client,
                listener,
                local,
                &request_id,
                watch,
            )
            .await;
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
                client: &client.text,
                method: method.as_str(),
                host: &host,
                path,
                status: resp.status().as_u16(),
                target_group: group.map(|g| g.name.as_str()),
                target: target.map(|t| t.authority.as_str()),
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
        watch: &Watch,
    ) -> (Response<ProxyBody>, Option<&'v Group>, Option<&'v Backend>) {
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
        let coded = parts.headers.contains_key(TRANSFER_ENCODING);
        let bodiless = parts.headers.get(CONTENT_LENGTH).is_none_or(|v| v == "0") && !coded;
        // A body of unknown length (the client's chunked one) goes chunked.
        let chunked = !bodiless && (coded || !parts.headers.contains_key(CONTENT_LENGTH));
        let no_target = || fixed(StatusCode::SERVICE_UNAVAILABLE, "no healthy target\n");
        let Some(mut target) = group::pick(&forward.targets, turn, None) else {
            return (no_target(), Some(group), None);
        };
        let mut body = (!bodiless).then(|| (body.map_err(BoxError::from).boxed(), chunked));
        let mut head = Vec::with_capacity(512);
        let mut retried = false;
        loop {
            let fwd = Forwarded {
                client_ip: client.ip().as_bytes(),
                port: local.port(),
                request_id,
                authority: if host.is_empty() {
                    target.authority.as_str()
                } else {
                    host
                },
            };
            head.clear();
            encode_head(&mut head, &parts, &fwd, chunked);
            let inflight = Inflight::new(target);
            let out = Outgoing {
                head: &head,
                body: body.take(),
                head_request: parts.method == Method::HEAD,
                repeatable: bodiless && parts.method.is_idempotent(),
            };
            let sent = self.pool.send(target.addr, out);
            // Sending the request (its body included) and waiting for the answer's head are
            // bounded by the connection's watch (ALB's idle timeout: 504 past it).
            let mut sent = std::pin::pin!(sent);
            let outcome = std::future::poll_fn(|cx| match sent.as_mut().poll(cx) {
                Poll::Ready(r) => Poll::Ready(Ok(r)),
                Poll::Pending => watch.poll_late(cx).map(Err),
            })
            .await;
            let (answer, conn) = match outcome {
                Ok(Ok(answered)) => answered,
                // Nothing reached the target: a bodiless request goes to another, once.
                Ok(Err(UpstreamError::Connect)) if bodiless && !retried => {
                    drop(inflight);
                    retried = true;
                    let Some(next) = group::pick(&forward.targets, turn + 1, Some(target.addr))
                    else {
                        return (no_target(), Some(group), None);
                    };
                    target = next;
                    continue;
                }
                Ok(Err(_)) => {
                    return (
                        fixed(StatusCode::BAD_GATEWAY, "bad gateway\n"),
                        Some(group),
                        Some(&**target),
                    )
                }
                Err(_) => {
                    return (
                        fixed(StatusCode::GATEWAY_TIMEOUT, "gateway timeout\n"),
                        Some(group),
                        Some(&**target),
                    )
                }
            };
            let body = Answer::new(&answer, conn, self.pool.clone(), target.addr, inflight);
            let mut resp = Response::new(body.map_err(BoxError::from).boxed());
            *resp.status_mut() = answer.status;
            *resp.headers_mut() = answer.headers;
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
                        resp.headers_mut().append(SET_COOKIE, v);
                    }
                }
            }
            return (resp, Some(group), Some(&**target));
        }
    }
}

/// What the proxy adds to a request it forwards.
pub struct Forwarded<'a> {
    /// The client's IP address, as text.
    pub client_ip: &'a [u8],
    /// The port the client connected to.
    pub port: u16,
    pub request_id: &'a str,
    /// The Host sent when the client sent none: the request's host, else the target's address.
    pub authority: &'a str,
}

/// The head a target gets, written straight from the client's: origin-form target, HTTP/1.1,
/// the client's fields but those it may not pass on ([`forwardable`]), then X-Forwarded-For
/// (the client's list and its address), -Proto, -Port, X-Request-Id, a Host if the client
/// sent none, and `Transfer-Encoding: chunked` for a body of unknown length. Every name and
/// value comes from a parsed `HeaderMap`, so the head is well-formed HTTP whatever the client
/// sent (the fuzz target checks it).
pub fn encode_head(
    out: &mut Vec<u8>,
    parts: &hyper::http::request::Parts,
    fwd: &Forwarded<'_>,
    chunked: bool,
) {
    let headers = &parts.headers;
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    out.extend_from_slice(if target.is_empty() { "/" } else { target }.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let named = connection_named(headers);
    let mut host = false;
    let mut xff = Vec::new();
    for (name, value) in headers {
        let n = name.as_str();
        if !forwardable(n) || named.iter().any(|c| c == name) {
            continue;
        }
        match n {
            "x-forwarded-for" => {
                xff.extend_from_slice(value.as_bytes());
                xff.extend_from_slice(b", ");
                continue;
            }
            "x-forwarded-proto" | "x-forwarded-port" | "x-request-id" => continue,
            "content-length" if chunked => continue,
            "host" => host = true,
            _ => {}
        }
        push_field(out, n, value.as_bytes());
    }
    if !host {
        push_field(out, "host", fwd.authority.as_bytes());
    }
    xff.extend_from_slice(fwd.client_ip);
    push_field(out, "x-forwarded-for", &xff);
    push_field(out, "x-forwarded-proto", b"http");
    push_field(
        out,
        "x-forwarded-port",
        itoa::Buffer::new().format(fwd.port).as_bytes(),
    );
    push_field(out, "x-request-id", fwd.request_id.as_bytes());
    if chunked {
        push_field(out, "transfer-encoding", b"chunked");
    }
    out.extend_from_slice(b"\r\n");
}

fn push_field(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The fields a `Connection` header names (hop-by-hop by that naming): none for nearly every
/// request, and then nothing is allocated.
fn connection_named(headers: &hyper::HeaderMap) -> Vec<HeaderName> {
    let mut named = Vec::new();
    for v in headers.get_all(CONNECTION) {
        let Ok(v) = v.to_str() else { continue };
        named.extend(
            v.split(',')
                .map(str::trim)
                // The usual tokens are not header names (or are dropped already).
                .filter(|n| {
                    !n.eq_ignore_ascii_case("close") && !n.eq_ignore_ascii_case("keep-alive")
                })
                .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok()),
        );
    }
    named
}

#[cfg(test)]
mod tests {
    use super::Peer;

    #[test]
    fn a_peer_is_its_address_as_displayed_and_its_ip() {
        for (addr, ip) in [
            ("127.0.0.1:50312", "127.0.0.1"),
            ("[::1]:443", "::1"),
            ("[2001:db8::7%3]:80", "2001:db8::7"),
        ] {
            let a: std::net::SocketAddr = addr.parse().expect("address");
            let p = Peer::new(a);
            assert_eq!((p.text.as_str(), p.ip()), (a.to_string().as_str(), ip));
        }
    }
}

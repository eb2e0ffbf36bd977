//! wharf's one HTTP/1.1 client. A request goes to one address on a fresh connection, with its
//! own `Host` header and, over TLS, its own server name — a smoke check connects to the load
//! balancer (or the local proxy) while naming the service's host —, verified against the
//! system's roots. hyper speaks the protocol (chunked bodies included); the whole exchange is
//! bounded in time and the body read in size.
//!
//! hyper's connection API is used rather than hyper-util's pooled client on purpose: the pooled
//! client takes the address, the `Host` and the TLS name from one URI, and every caller here
//! needs them apart; each request is a fresh connection anyway (drain requests must reach new
//! tasks, smoke checks must not reuse a connection to an old target).
#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

/// Where to send a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The address to connect to: a host name or IP, and a port.
    pub host: String,
    pub port: u16,
    /// Over TLS, the server name to verify (None: plain HTTP).
    pub tls_name: Option<String>,
}

impl Endpoint {
    pub fn plain(host: impl Into<String>, port: u16) -> Endpoint {
        Endpoint {
            host: host.into(),
            port,
            tls_name: None,
        }
    }

    pub fn tls(host: impl Into<String>, port: u16, name: impl Into<String>) -> Endpoint {
        Endpoint {
            host: host.into(),
            port,
            tls_name: Some(name.into()),
        }
    }
}

/// What may be read: the whole exchange's time and the body's size.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub timeout: Duration,
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(15),
            max_body: 1 << 20,
        }
    }
}

/// An answer: its status, headers and body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value (the name in any case), when it is there and is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name.to_ascii_lowercase().as_str())
            .and_then(|v| v.to_str().ok())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("TLS with {name} failed: {message}")]
    Tls { name: String, message: String },
    #[error("{0}")]
    Protocol(String),
    #[error("the answer's body is over {max} bytes")]
    TooLarge { max: usize },
    #[error("no answer within {}s", .0.as_secs())]
    Timeout(Duration),
}

/// Sends `request` to `endpoint` on a fresh connection and reads the answer within `limits`.
/// The request carries its own `Host` header (hyper adds none on a bare connection).
pub async fn send(
    endpoint: &Endpoint,
    request: hyper::Request<Full<Bytes>>,
    limits: Limits,
) -> Result<Response, HttpError> {
    tokio::time::timeout(limits.timeout, exchange(endpoint, request, limits.max_body))
        .await
        .map_err(|_| HttpError::Timeout(limits.timeout))?
}

/// A request with no body: `method path`, `Host: host` and `headers`.
pub fn request(
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
) -> Result<hyper::Request<Full<Bytes>>, HttpError> {
    let mut b = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", host)
        .header("user-agent", concat!("wharf/", env!("CARGO_PKG_VERSION")));
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Full::new(Bytes::new()))
        .map_err(|e| HttpError::Protocol(format!("{method} {path}: {e}")))
}

/// A POST of a JSON body to `path`, `Host: host`.
pub fn post_json(
    path: &str,
    host: &str,
    body: Vec<u8>,
) -> Result<hyper::Request<Full<Bytes>>, HttpError> {
    hyper::Request::builder()
        .method("POST")
        .uri(path)
        .header("host", host)
        .header("content-type", "application/json")
        .header("user-agent", concat!("wharf/", env!("CARGO_PKG_VERSION")))
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| HttpError::Protocol(format!("POST {path}: {e}")))
}

/// Where a `http://` or `https://` URL points, and the path (with its query) to ask for.
pub fn parse_url(url: &str) -> Result<(Endpoint, String), HttpError> {
    let bad = |why: &str| HttpError::Protocol(format!("not a URL ({why})"));
    let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return Err(bad("it must start with http:// or https://"));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() => {
            (h, p.parse().map_err(|_| bad("the port is not a number"))?)
        }
        _ => (authority, if tls { 443 } else { 80 }),
    };
    if host.is_empty() {
        return Err(bad("it names no host"));
    }
    let endpoint = if tls {
        Endpoint::tls(host, port, host)
    } else {
        Endpoint::plain(host, port)
    };
    Ok((endpoint, path.to_owned()))
}

async fn exchange(
    endpoint: &Endpoint,
    request: hyper::Request<Full<Bytes>>,
    max_body: usize,
) -> Result<Response, HttpError> {
    let addr = format!("{}:{}", endpoint.host, endpoint.port);
    let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
        .await
        .map_err(|source| HttpError::Connect {
            addr: addr.clone(),
            source,
        })?;
    let _ = tcp.set_nodelay(true);
    match &endpoint.tls_name {
        Some(name) => over(TokioIo::new(tls(name, tcp).await?), request, max_body).await,
        None => over(TokioIo::new(tcp), request, max_body).await,
    }
}

async fn over<I>(
    io: I,
    request: hyper::Request<Full<Bytes>>,
    max_body: usize,
) -> Result<Response, HttpError>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let protocol = |what: &str| {
        let what = what.to_owned();
        move |e: hyper::Error| HttpError::Protocol(format!("{what}: {e}"))
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(protocol("HTTP handshake failed"))?;
    let driver = tokio::spawn(conn);
    let result = async {
        let answer = sender
            .send_request(request)
            .await
            .map_err(protocol("request failed"))?;
        let (parts, body) = answer.into_parts();
        let body = Limited::new(body, max_body)
            .collect()
            .await
            .map_err(|e| match e.downcast::<http_body_util::LengthLimitError>() {
                Ok(_) => HttpError::TooLarge { max: max_body },
                Err(e) => HttpError::Protocol(format!("reading the answer failed: {e}")),
            })?
            .to_bytes();
        Ok(Response {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        })
    }
    .await;
    driver.abort();
    result
}

/// The client configuration with the system's roots, made once.
fn tls_config() -> Arc<ClientConfig> {
    static CONFIG: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
            Arc::new(
                ClientConfig::builder()
                    .with_root_certificates(roots)
                    .with_no_client_auth(),
            )
        })
        .clone()
}

/// TLS over `tcp`, verifying `name` against the system's roots.
async fn tls(
    name: &str,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, HttpError> {
    let failed = |message: String| HttpError::Tls {
        name: name.to_owned(),
        message,
    };
    let server = ServerName::try_from(name.to_owned())
        .map_err(|e| failed(format!("not a server name: {e}")))?;
    tokio_rustls::TlsConnector::from(tls_config())
        .connect(server, tcp)
        .await
        .map_err(|e| failed(e.to_string()))
}

#[cfg(test)]
mod tests;

//! Smoke checks on AWS: one request through the environment's load balancer carrying the
//! blue/green test header (so the test route sends it to the new deployment), over HTTPS with
//! the system's roots when the environment has a domain, else plain HTTP; the status and,
//! when asked, a piece of the body compared.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use wharf_engine::TargetError;
use wharf_manifest::{Service, SmokeCheck};

use crate::ecs::EnvOutputs;

/// A smoke request's whole exchange must finish within this.
const LIMIT: Duration = Duration::from_secs(15);
/// The most of a body read.
const MAX_BODY: usize = 1 << 20;

/// Runs one smoke check against the load balancer.
pub async fn check(
    out: &EnvOutputs,
    service: &Service,
    check: &SmokeCheck,
) -> Result<(), TargetError> {
    let routing = service.routing.as_ref();
    let host = routing
        .and_then(|r| r.hosts.first().cloned())
        .unwrap_or_else(|| out.load_balancer_dns.clone());
    let path = check.path.replace('*', "");
    let request = format!(
        "{} {path} HTTP/1.1\r\nHost: {host}\r\n{}: 1\r\nUser-Agent: wharf-smoke\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        check.method, service.deploy.blue_green.test_header
    );
    let what = format!("{} {path} through {}", check.method, out.load_balancer_dns);
    let exchange = async {
        let tcp = TcpStream::connect((
            out.load_balancer_dns.as_str(),
            if out.https { 443 } else { 80 },
        ))
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
        if out.https {
            let tls = tls(&host, tcp).await?;
            exchange(tls, &request).await
        } else {
            exchange(tcp, &request).await
        }
    };
    let (status, body) = tokio::time::timeout(LIMIT, exchange)
        .await
        .map_err(|_| TargetError::new(format!("{what}: no answer within {}s", LIMIT.as_secs())))?
        .map_err(|e| TargetError::new(format!("{what}: {e}")))?;
    if status != check.status {
        return Err(TargetError::new(format!(
            "{what} answered {status}, expected {}",
            check.status
        )));
    }
    if let Some(want) = &check.body_contains {
        if !body.contains(want.as_str()) {
            return Err(TargetError::new(format!(
                "{what}: the body does not contain {want:?}"
            )));
        }
    }
    Ok(())
}

/// TLS over `tcp` to `host`, verified against the system's roots.
pub(crate) async fn tls(
    host: &str,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    let config = tokio_rustls::rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| format!("{host} is not a server name: {e}"))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {host} failed: {e}"))
}

/// Sends the request and reads the answer's status and (at most 1 MiB of) body.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    request: &str,
) -> Result<(u16, String), String> {
    s.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 || buf.len() > MAX_BODY {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&buf);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| "the answer is not HTTP".to_owned())?;
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((status, body))
}

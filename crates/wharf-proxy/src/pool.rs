//! One worker's connections to its targets, kept alive between requests: hyper's HTTP/1
//! client connections without hyper-util's pool, which hashed its key with SipHash, spawned a
//! task per request to return a connection and took a lock shared by every worker (13% of the
//! proxy's instructions a request, README "Speed"). A worker's pool is its own, so its lock is
//! never contended; a connection goes back when its answer's body has been read to the end,
//! and is taken again, newest first, once hyper says it is ready for another request.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

use crate::server::ProxyBody;

/// The most idle connections kept per target and worker.
const MAX_IDLE: usize = 256;
/// An idle connection unused this many of the worker's ticks (seconds) is closed.
const IDLE_TICKS: u64 = 30;

/// Why a request could not be forwarded.
#[derive(Debug)]
pub enum UpstreamError {
    /// No connection to the target could be made: nothing was sent, and the request is
    /// given back for another target.
    Connect(Box<Request<ProxyBody>>),
    /// The connection failed while the request was sent or answered.
    Http,
}

struct Idle {
    tx: SendRequest<ProxyBody>,
    /// The tick it was put back at.
    since: u64,
}

/// A worker's idle connections, by target. Its clock is the worker's once-a-second tick
/// ([`Pool::purge`]): no clock is read per request.
#[derive(Default)]
pub struct Pool {
    idle: Mutex<Vec<(SocketAddr, Vec<Idle>)>>,
    tick: AtomicU64,
}

impl Pool {
    /// Sends `req` to `addr` on an idle connection, or a new one. A pooled connection that
    /// closed before the request was written to it gives the request back, and the next one
    /// (or a new one) is tried: only a request hyper never wrote is sent again.
    pub async fn send(
        &self,
        addr: SocketAddr,
        mut req: Request<ProxyBody>,
    ) -> Result<(Response<Incoming>, SendRequest<ProxyBody>), UpstreamError> {
        loop {
            let (mut tx, reused) = match self.take(addr) {
                Some(tx) => (tx, true),
                // Boxed: a request that finds a kept connection (nearly all) carries no
                // connecting state in its future.
                None => match Box::pin(connect(addr)).await {
                    Ok(tx) => (tx, false),
                    Err(Refused::Tcp) => return Err(UpstreamError::Connect(Box::new(req))),
                    Err(Refused::Http) => return Err(UpstreamError::Http),
                },
            };
            match tx.try_send_request(req).await {
                Ok(resp) => return Ok((resp, tx)),
                Err(mut e) => match e.take_message() {
                    Some(back) if reused => req = back,
                    _ => return Err(UpstreamError::Http),
                },
            }
        }
    }

    /// The newest idle connection to `addr` ready for a request; closed or expired ones are
    /// dropped, one still finishing its last exchange is left for later.
    fn take(&self, addr: SocketAddr) -> Option<SendRequest<ProxyBody>> {
        let now = self.tick.load(Ordering::Relaxed);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = &mut idle.iter_mut().find(|(a, _)| *a == addr)?.1;
        let mut i = list.len();
        while i > 0 {
            i -= 1;
            let c = &list[i];
            if c.tx.is_closed() || now - c.since >= IDLE_TICKS {
                list.swap_remove(i);
            } else if c.tx.is_ready() {
                return Some(list.swap_remove(i).tx);
            }
        }
        None
    }

    /// Keeps a connection whose answer was read to the end, for the next request.
    pub fn put(&self, addr: SocketAddr, tx: SendRequest<ProxyBody>) {
        if tx.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let at = match idle.iter().position(|(a, _)| *a == addr) {
            Some(at) => at,
            None => {
                idle.push((addr, Vec::new()));
                idle.len() - 1
            }
        };
        let list = &mut idle[at].1;
        if list.len() < MAX_IDLE {
            list.push(Idle {
                tx,
                since: self.tick.load(Ordering::Relaxed),
            });
        }
    }

    /// The worker's tick, once a second: closes connections idle 30 ticks or closed by their
    /// target, and forgets targets with none left.
    pub fn purge(&self) {
        let now = self.tick.fetch_add(1, Ordering::Relaxed) + 1;
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        for (_, list) in idle.iter_mut() {
            list.retain(|c| !c.tx.is_closed() && now - c.since < IDLE_TICKS);
        }
        idle.retain(|(_, list)| !list.is_empty());
    }
}

/// Why no new connection was made.
enum Refused {
    Tcp,
    Http,
}

/// A new connection to `addr`, its HTTP/1 exchange driven by a task of the worker's runtime.
async fn connect(addr: SocketAddr) -> Result<SendRequest<ProxyBody>, Refused> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|_| Refused::Tcp)?;
    let _ = stream.set_nodelay(true);
    let (tx, conn) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|_| Refused::Http)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(tx)
}

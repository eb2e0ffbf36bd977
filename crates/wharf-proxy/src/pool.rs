//! One worker's connections to its targets, kept alive between requests. A worker's pool is
//! its own, so its lock is never contended; a connection goes back the moment its answer's
//! end is read ([`crate::upstream::Answer`]), and is taken again newest first, once tokio's
//! readiness says nothing arrived on it while idle (no system call for that unless the target
//! closed it or sent stray bytes).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::server::ProxyBody;
use crate::upstream::{Conn, Failure, Head};

/// The most idle connections kept per target and worker.
const MAX_IDLE: usize = 256;
/// An idle connection unused this many of the worker's ticks (seconds) is closed.
const IDLE_TICKS: u64 = 30;

/// Why a request could not be forwarded.
#[derive(Debug)]
pub enum UpstreamError {
    /// No connection to the target could be made: nothing was sent.
    Connect,
    /// The connection failed while the request was sent or answered.
    Http,
}

struct Idle {
    conn: Conn,
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

/// A request as the pool sends it: the head encoded, and the body, if any (with whether it
/// goes chunked).
pub struct Outgoing<'a> {
    pub head: &'a [u8],
    pub body: Option<(ProxyBody, bool)>,
    /// A HEAD request: its answer has no body.
    pub head_request: bool,
    /// Safe to send again when a kept connection closed under it (bodiless, idempotent).
    pub repeatable: bool,
}

impl Pool {
    /// Sends the request to `addr` on an idle connection, or a new one, and reads the answer's
    /// head. A kept connection the target closed as the request went out is not an error for
    /// a repeatable request: it goes out again on the next connection.
    pub async fn send(
        &self,
        addr: SocketAddr,
        mut req: Outgoing<'_>,
    ) -> Result<(Head, Conn), UpstreamError> {
        loop {
            let (mut conn, reused) = match self.take(addr) {
                Some(conn) => (conn, true),
                None => (
                    Conn::connect(addr)
                        .await
                        .map_err(|_| UpstreamError::Connect)?,
                    false,
                ),
            };
            match conn
                .exchange(req.head, req.body.take(), req.head_request)
                .await
            {
                Ok(head) => return Ok((head, conn)),
                Err(Failure::Unanswered) if reused && req.repeatable => continue,
                Err(_) => return Err(UpstreamError::Http),
            }
        }
    }

    /// The newest idle connection to `addr` still usable; closed or expired ones are dropped.
    fn take(&self, addr: SocketAddr) -> Option<Conn> {
        let now = self.tick.load(Ordering::Relaxed);
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        let list = &mut idle.iter_mut().find(|(a, _)| *a == addr)?.1;
        while let Some(c) = list.pop() {
            if now - c.since < IDLE_TICKS && c.conn.idle_usable() {
                return Some(c.conn);
            }
        }
        None
    }

    /// Keeps a connection whose answer was read to the end, for the next request.
    pub fn put(&self, addr: SocketAddr, conn: Conn) {
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
                conn,
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
            list.retain(|c| now - c.since < IDLE_TICKS && c.conn.idle_usable());
        }
        idle.retain(|(_, list)| !list.is_empty());
    }
}

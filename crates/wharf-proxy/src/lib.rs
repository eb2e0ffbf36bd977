//! wharf's ALB-compatible proxy, for the local target: a listener, rules by priority with host,
//! path, header and cookie conditions, weighted forwards to target groups, active health
//! checks so only healthy targets get traffic, deregistration delay so a draining target
//! finishes its requests and gets no new ones, the affinity cookie, X-Forwarded-For/-Proto, a
//! request id and an access log. The engine drives it by applying whole configurations.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod access;
pub mod config;
pub mod group;
mod health;
mod pool;
pub mod router;
pub mod server;
mod snapshot;
mod socket;
mod upstream;
mod watch;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::server::graceful::GracefulShutdown;
use serde::Serialize;
use tokio::net::TcpListener;

pub use access::{AccessEntry, AccessLog};
pub use config::{Config, HealthConfig, RuleConfig, TargetGroupConfig};
use group::{Group, TargetState};
use server::Forwarder;
use snapshot::{Published, Snapshot};

/// The proxy: configuration, target groups and the access log.
pub struct Proxy {
    published: Published,
    groups: Mutex<HashMap<String, Arc<Group>>>,
    access_log: Option<Arc<AccessLog>>,
    limits: Limits,
}

/// What the listener allows a client, ALB-like by default; a hostile client (slowloris,
/// huge headers, a flood of connections) costs it a bounded amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Limits {
    /// ALB's idle timeout (60 s): a request's headers must have arrived within this, counted
    /// from when the connection waits for them; a kept-alive connection may idle this long
    /// between requests; and a forwarded request, its body included, must be answered by the
    /// target within it (504 past it). Each worker checks every quarter limit (10 ms to 1 s
    /// apart), so a connection or request goes that much past it at most.
    pub header_read: Duration,
    /// The most bytes of request line and headers (64 KiB; hyper's floor, 8 KiB, at least);
    /// more is answered 431.
    pub max_header_bytes: usize,
    /// Connections open at once; one more is closed at once. The kernel hands the proxy a
    /// connection once its first bytes have come (TCP_DEFER_ACCEPT, on Linux), or a second
    /// or so after it opened if none do: one that has said nothing yet costs the proxy
    /// nothing and does not count.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read: Duration::from_secs(60),
            max_header_bytes: 64 * 1024,
            max_connections: 10_000,
        }
    }
}

/// Whichever listener has a connection first (no allocation per accept).
fn accept_any(
    listeners: &[(Option<Arc<str>>, SocketAddr, socket::Listening)],
) -> impl Future<Output = (usize, std::io::Result<(socket::Client, SocketAddr)>)> + '_ {
    std::future::poll_fn(move |cx| {
        for (i, (_, _, l)) in listeners.iter().enumerate() {
            if let std::task::Poll::Ready(r) = l.poll_accept(cx) {
                return std::task::Poll::Ready((i, r));
            }
        }
        std::task::Poll::Pending
    })
}

/// Sets TCP_NODELAY on a listening socket, for the connections it accepts: answers are
/// written whole, so Nagle's algorithm would only hold back the last segment of a large one.
fn nodelay_inherited(listener: &std::net::TcpListener) -> std::io::Result<()> {
    socket2::SockRef::from(listener).set_tcp_nodelay(true)
}

/// A listening socket for each of `workers`: the given one and, bound beside it with
/// SO_REUSEPORT, one more a further worker, so the kernel hands each new connection to one
/// worker. One socket shared by all (the fallback, when a socket cannot be added) can wake
/// every worker for a connection, and all but one find nothing to accept (with a new
/// connection per request: 0.41 context switches a request on one socket, 0.31 on one each;
/// README, "Speed").
fn worker_sockets(
    socket: std::net::TcpListener,
    workers: usize,
) -> std::io::Result<Vec<std::net::TcpListener>> {
    let shared = |socket: std::net::TcpListener| {
        let mut v = Vec::with_capacity(workers);
        for _ in 1..workers {
            v.push(socket.try_clone()?);
        }
        v.push(socket);
        Ok(v)
    };
    // Elsewhere than Linux, SO_REUSEPORT gives every connection to one socket.
    if workers < 2 || !cfg!(target_os = "linux") {
        return shared(socket);
    }
    let added = || -> std::io::Result<Vec<std::net::TcpListener>> {
        let first = socket2::SockRef::from(&socket);
        let local = first.local_addr()?;
        first.set_reuse_port(true)?;
        let mut v = Vec::with_capacity(workers - 1);
        for _ in 1..workers {
            let s = socket2::Socket::new(local.domain(), socket2::Type::STREAM, None)?;
            if local.is_ipv6() {
                s.set_only_v6(first.only_v6()?)?;
            }
            s.set_reuse_port(true)?;
            // As the given one has it (std and tokio set it): the connections a socket
            // accepts inherit it, and without it those left in TIME_WAIT would keep the
            // next proxy from binding the address for a minute.
            s.set_reuse_address(first.reuse_address()?)?;
            s.set_tcp_nodelay(true)?;
            s.set_nonblocking(true)?;
            s.bind(&local)?;
            s.listen(1024)?;
            let s = std::net::TcpListener::from(s);
            let _ = socket::defer_accept(&s);
            v.push(s);
        }
        Ok(v)
    };
    match added() {
        Ok(mut v) => {
            v.insert(0, socket);
            Ok(v)
        }
        Err(_) => {
            let _ = socket2::SockRef::from(&socket).set_reuse_port(false);
            shared(socket)
        }
    }
}

/// A socket the proxy serves on: the main listener (no name) or a named one, whose requests
/// are matched against the rules that name it.
pub struct Listener {
    pub name: Option<String>,
    pub socket: TcpListener,
}

/// A target group's state, for `wharf status`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct GroupStatus {
    pub name: String,
    pub deployment: Option<String>,
    pub targets: Vec<(SocketAddr, TargetState, usize)>,
}

impl Proxy {
    pub fn new(access_log: Option<AccessLog>) -> Arc<Self> {
        Proxy::with_limits(access_log, Limits::default())
    }

    pub fn with_limits(access_log: Option<AccessLog>, limits: Limits) -> Arc<Self> {
        Arc::new(Proxy {
            published: Published::new(Snapshot::new(Vec::new(), &HashMap::new())),
            groups: Mutex::new(HashMap::new()),
            access_log: access_log.map(Arc::new),
            limits,
        })
    }

    /// What the listener allows a client.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Applies a whole configuration. Existing targets keep their health; new ones start
    /// initial; removed ones drain. Must be called within a tokio runtime (health checks).
    pub fn apply(&self, cfg: &Config) {
        let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        for tg in &cfg.target_groups {
            match groups.get(&tg.name) {
                Some(g) if g.active.load(std::sync::atomic::Ordering::SeqCst) => g.update(tg),
                _ => {
                    let g = Group::new(tg);
                    health::spawn(g.clone());
                    groups.insert(tg.name.clone(), g);
                }
            }
        }
        for (name, g) in groups.iter() {
            if !cfg.target_groups.iter().any(|t| &t.name == name) {
                g.drain_all();
            }
        }
        let live: HashMap<String, Arc<Group>> = groups
            .iter()
            .filter(|(n, _)| cfg.target_groups.iter().any(|t| &t.name == *n))
            .map(|(n, g)| (n.clone(), g.clone()))
            .collect();
        self.published.set(Snapshot::new(cfg.rules.clone(), &live));
    }

    /// Requests and 5xx answers of a target group over the last `window`.
    pub fn requests(&self, group: &str, window: Duration) -> (u64, u64) {
        self.groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(group)
            .map_or((0, 0), |g| g.counters.window(window))
    }

    /// Every target group with its targets' states (draining ones included).
    pub fn status(&self) -> Vec<GroupStatus> {
        let groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<GroupStatus> = groups
            .values()
            .map(|g| GroupStatus {
                name: g.name.clone(),
                deployment: g
                    .deployment
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone(),
                targets: g.status(),
            })
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Serves on `listener` until `shutdown` resolves, then lets requests in flight finish
    /// (at most 30 s). See [`Proxy::serve_on`].
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        self.serve_on(
            vec![Listener {
                name: None,
                socket: listener,
            }],
            shutdown,
        )
        .await
    }

    /// Serves on every listener until `shutdown` resolves, then lets requests in flight
    /// finish (at most 30 s). A request is matched against the rules of the listener it came
    /// in on.
    ///
    /// Like nginx's workers, one thread per core accepts and forwards on its own
    /// single-threaded runtime with its own pool of backend connections: a request and its
    /// backend connection never wake another thread. Health checks and the sweeper run on the
    /// caller's runtime.
    pub async fn serve_on(
        self: Arc<Self>,
        listeners: Vec<Listener>,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let mut sockets = Vec::new();
        for l in listeners {
            let local = l
                .socket
                .local_addr()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
            let name: Option<Arc<str>> = l.name.map(Arc::from);
            let socket = l.socket.into_std()?;
            // Set on the listener, TCP_NODELAY is every accepted connection's (Linux copies
            // a listener's options to its connections): no system call a connection.
            if nodelay_inherited(&socket).is_err() {
                return Err(std::io::Error::other(
                    "cannot set TCP_NODELAY on a listener",
                ));
            }
            // Best effort: without it a connection can be accepted before its request has
            // come, and its first read waits (registering it), which is only slower.
            let _ = socket::defer_accept(&socket);
            sockets.push((name, local, socket));
        }
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let permits = Arc::new(tokio::sync::Semaphore::new(self.limits.max_connections));
        let mut per_worker: Vec<Vec<_>> = (0..workers).map(|_| Vec::new()).collect();
        for (name, local, socket) in sockets {
            for (mine, socket) in per_worker.iter_mut().zip(worker_sockets(socket, workers)?) {
                mine.push((name.clone(), local, socket));
            }
        }
        let mut threads = Vec::new();
        for (w, mine) in per_worker.into_iter().enumerate() {
            let me = self.clone();
            let stop = stop_rx.clone();
            let permits = permits.clone();
            let thread = std::thread::Builder::new()
                .name(format!("wharf-proxy-{w}"))
                .spawn(move || -> std::io::Result<()> {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?
                        .block_on(me.worker(w, mine, stop, permits))
                })?;
            threads.push(thread);
        }
        let sweeper = {
            let me = self.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    let mut groups = me.groups.lock().unwrap_or_else(|p| p.into_inner());
                    groups.retain(|_, g| {
                        !g.sweep() || g.active.load(std::sync::atomic::Ordering::SeqCst)
                    });
                }
            })
        };
        shutdown.await;
        let _ = stop_tx.send(true);
        let joined = tokio::task::spawn_blocking(move || {
            threads
                .into_iter()
                .map(|t| {
                    t.join()
                        .unwrap_or_else(|_| Err(std::io::Error::other("a proxy worker panicked")))
                })
                .collect::<std::io::Result<Vec<()>>>()
        })
        .await;
        sweeper.abort();
        joined.map_err(std::io::Error::other)?.map(|_| ())
    }

    /// One worker: accepts on its copies of the listeners until told to stop, then waits (at
    /// most 30 s) for its connections to finish.
    async fn worker(
        self: Arc<Self>,
        index: usize,
        sockets: Vec<(Option<Arc<str>>, SocketAddr, std::net::TcpListener)>,
        mut stop: tokio::sync::watch::Receiver<bool>,
        permits: Arc<tokio::sync::Semaphore>,
    ) -> std::io::Result<()> {
        let mut listeners = Vec::new();
        for (name, local, socket) in sockets {
            listeners.push((name, local, socket::Listening::new(socket)?));
        }
        let mut http = http1::Builder::new();
        // The header read timeout is the workers' own (`watch`): no timer a request.
        http.keep_alive(true)
            .max_buf_size(self.limits.max_header_bytes.max(8192));
        let watches = Arc::new(watch::Watches::new(self.limits.header_read));
        let mut sweep = tokio::time::interval(watches.period());
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let forwarder = Arc::new(Forwarder::new(self.access_log.clone(), index));
        let seen = Arc::new(Mutex::new(self.published.seen()));
        let graceful = GracefulShutdown::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => forwarder.tick(),
                _ = sweep.tick() => watches.sweep(),
                (which, accepted) = accept_any(&listeners) => {
                    let Ok((stream, client)) = accepted else {
                        // Out of descriptors, say: back off instead of spinning on accept.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    // Over the connection cap: closed at once, costing nothing more.
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        drop(stream);
                        continue;
                    };
                    let (name, local) = (listeners[which].0.clone(), listeners[which].1);
                    let me = self.clone();
                    let forwarder = forwarder.clone();
                    let seen = seen.clone();
                    let peer = Arc::new(server::Peer::new(client));
                    let watch = watches.watch();
                    let io = watch::Watched { io: stream, watch: watch.clone() };
                    let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        watch.begin(hyper::body::Body::is_end_stream(req.body()));
                        let view = me.published.view(&seen);
                        let forwarder = forwarder.clone();
                        let name = name.clone();
                        let peer = peer.clone();
                        let watch = watch.clone();
                        // Boxed: the connection future holds a pointer, not a request's whole
                        // state, and moving it (spawning, each request) copies little.
                        Box::pin(async move {
                            let resp = forwarder.handle(view, req, &peer, name.as_deref(), local, &watch).await;
                            Ok::<_, std::convert::Infallible>(resp.map(|b| watch::Ends::new(b, watch)))
                        })
                    });
                    let conn = graceful.watch(http.serve_connection(io, svc));
                    // Boxed once here rather than copied whole into the task at each step.
                    tokio::spawn(Box::pin(async move {
                        let _ = conn.await;
                        drop(permit);
                    }));
                }
                _ = stop.changed() => break,
            }
        }
        drop(listeners);
        let _ = tokio::time::timeout(Duration::from_secs(30), graceful.shutdown()).await;
        forwarder.tick();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn connections_accepted_by_a_nodelay_listener_are_nodelay() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        super::nodelay_inherited(&listener).expect("set on the listener");
        let addr = listener.local_addr().expect("addr");
        let _client = std::net::TcpStream::connect(addr).expect("connect");
        let (accepted, _) = listener.accept().expect("accept");
        assert!(accepted.nodelay().expect("read TCP_NODELAY"));
    }

    /// `n` connections to `addr` that have each sent a byte.
    fn sending_a_byte(addr: std::net::SocketAddr, n: usize) -> Vec<std::net::TcpStream> {
        use std::io::Write as _;
        (0..n)
            .map(|_| {
                let mut c = std::net::TcpStream::connect(addr).expect("connect");
                c.write_all(b"G").expect("send");
                c
            })
            .collect()
    }

    /// Each worker's socket gets a share of the new connections, with TCP_NODELAY: the kernel
    /// spreads them by a hash of the client's port, so among 64 connections each of two
    /// sockets has some (all 64 on one would be a chance of 2^-63), and none is lost.
    #[test]
    fn each_worker_has_a_socket_of_its_own_that_gets_connections() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        super::nodelay_inherited(&listener).expect("set on the listener");
        let addr = listener.local_addr().expect("addr");
        let sockets = super::worker_sockets(listener, 2).expect("a socket for each worker");
        assert_eq!(sockets.len(), 2);
        // Each sends a byte: the added sockets defer a connection until its first bytes.
        let clients = sending_a_byte(addr, 64);
        let mut counts = Vec::new();
        for s in &sockets {
            s.set_nonblocking(true).expect("nonblocking");
            let mut n = 0;
            // Connections are queued by the time the byte is sent (loopback).
            while let Ok((accepted, _)) = s.accept() {
                assert!(accepted.nodelay().expect("read TCP_NODELAY"));
                n += 1;
            }
            counts.push(n);
        }
        assert_eq!(counts.iter().sum::<usize>(), clients.len(), "{counts:?}");
        assert!(
            counts.iter().all(|&n| n > 0),
            "one socket took all: {counts:?}"
        );
    }

    /// Connections closed by the proxy leave TIME_WAIT behind on whichever socket accepted
    /// them; once the proxy's sockets are closed, a new proxy binds the address at once (a
    /// restart with new limits does exactly this).
    #[test]
    fn the_address_is_free_again_once_the_worker_sockets_close() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let sockets = super::worker_sockets(listener, 2).expect("a socket for each worker");
        let clients = sending_a_byte(addr, 16);
        for s in &sockets {
            s.set_nonblocking(true).expect("nonblocking");
            // Read, then closed by the proxy first: TIME_WAIT on its side (a close with
            // unread bytes would reset instead).
            while let Ok((mut accepted, _)) = s.accept() {
                use std::io::Read as _;
                accepted.set_nonblocking(false).expect("blocking");
                accepted.read_exact(&mut [0u8; 1]).expect("the byte");
                drop(accepted);
            }
        }
        drop(sockets);
        drop(clients);
        std::net::TcpListener::bind(addr).expect("the address is free for the next proxy");
    }

    #[test]
    fn one_worker_keeps_the_socket_it_was_given() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let sockets = super::worker_sockets(listener, 1).expect("the socket");
        assert_eq!(sockets.len(), 1);
        assert_eq!(sockets[0].local_addr().expect("addr"), addr);
        let reuse = socket2::SockRef::from(&sockets[0]).reuse_port();
        assert!(
            !reuse.expect("read SO_REUSEPORT"),
            "no port shared for one worker"
        );
    }
}

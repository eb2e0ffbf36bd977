//! How long a client connection may take to send its next request head (the header read
//! timeout, which is also the keep-alive idle timeout), without a timer a request: hyper's
//! own made, registered and cancelled a timer for every head it read (5% of the proxy's
//! instructions a request, README "Speed"). Each worker sweeps its connections a few times a
//! timeout: one that has waited past the limit for a head is woken and its next read fails,
//! so hyper closes it. A connection waits for a head from its accept and from the end of each
//! answer, and not while a request is in the proxy's hands. The same sweep bounds the wait for
//! a target's answer (the same limit, ALB's idle timeout): a request past it is woken and
//! answered 504, again without a timer of its own.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use hyper::body::{Body, Frame, SizeHint};
use hyper::rt::{Read, ReadBufCursor, Write};

use crate::socket::Client;

/// A worker's coarse clock, in milliseconds since it started, advanced by its sweeps: read
/// per request without a system call.
struct Clock {
    start: Instant,
    now_ms: AtomicU64,
}

/// One client connection's head deadline.
pub struct Watch {
    clock: Arc<Clock>,
    /// When it started waiting for its next head (the clock's milliseconds).
    since: AtomicU64,
    /// A request is in the proxy's hands: no head is awaited.
    busy: AtomicBool,
    expired: AtomicBool,
    /// The connection's task, to wake when it expires.
    waker: Slot,
    /// When the request in the proxy's hands began, and whether it is past the limit.
    began: AtomicU64,
    late: AtomicBool,
    /// The request's task, waiting for a target's answer.
    request: Slot,
    /// The request in the proxy's hands has no body: the connection's task is woken by its
    /// answer, so a read that finds nothing need not register the socket (`socket.rs`).
    bodiless: AtomicBool,
    /// A read returned `Pending` without the socket: wake it when the answer ends.
    idle: AtomicBool,
    /// A sweep asks such a read to look again (for the client's close).
    probe: AtomicBool,
}

impl Watch {
    /// A head was read: the request is the proxy's until its answer ends.
    pub fn begin(&self, bodiless: bool) {
        self.bodiless.store(bodiless, Ordering::Relaxed);
        self.began
            .store(self.clock.now_ms.load(Ordering::Relaxed), Ordering::Relaxed);
        self.late.store(false, Ordering::Relaxed);
        self.busy.store(true, Ordering::Relaxed);
    }

    /// Ready once the request has waited past the limit (what [`Watches::sweep`] decides).
    pub fn poll_late(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.late.load(Ordering::Relaxed) {
            return Poll::Ready(());
        }
        self.request.register(cx);
        Poll::Pending
    }

    /// The answer ended: the next head is awaited from now.
    pub fn end(&self) {
        self.since
            .store(self.clock.now_ms.load(Ordering::Relaxed), Ordering::Relaxed);
        self.busy.store(false, Ordering::Relaxed);
        // A read that did not register waits for the next head through the socket now.
        if self.idle.swap(false, Ordering::Relaxed) {
            self.waker.wake();
        }
    }
}

/// The task to wake when a watch expires: the one that waited last.
#[derive(Default)]
struct Slot(Mutex<Option<Waker>>);

impl Slot {
    fn register(&self, cx: &Context<'_>) {
        let mut waker = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match &*waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => *waker = Some(cx.waker().clone()),
        }
    }

    fn wake(&self) {
        if let Some(waker) = self.0.lock().unwrap_or_else(|p| p.into_inner()).take() {
            waker.wake();
        }
    }
}

/// A worker's connections and their limit.
pub struct Watches {
    clock: Arc<Clock>,
    limit_ms: u64,
    all: Mutex<Vec<Weak<Watch>>>,
}

impl Watches {
    pub fn new(limit: Duration) -> Self {
        Watches {
            clock: Arc::new(Clock {
                start: Instant::now(),
                now_ms: AtomicU64::new(0),
            }),
            limit_ms: u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
            all: Mutex::new(Vec::new()),
        }
    }

    /// How often to sweep: four times a limit, between 10 ms and a second.
    pub fn period(&self) -> Duration {
        Duration::from_millis(self.limit_ms / 4)
            .clamp(Duration::from_millis(10), Duration::from_secs(1))
    }

    /// A new connection's watch, awaiting its first head from now.
    pub fn watch(&self) -> Arc<Watch> {
        let w = Arc::new(Watch {
            clock: self.clock.clone(),
            since: AtomicU64::new(self.clock.now_ms.load(Ordering::Relaxed)),
            busy: AtomicBool::new(false),
            expired: AtomicBool::new(false),
            waker: Slot::default(),
            began: AtomicU64::new(0),
            late: AtomicBool::new(false),
            request: Slot::default(),
            bodiless: AtomicBool::new(false),
            idle: AtomicBool::new(false),
            probe: AtomicBool::new(false),
        });
        self.all
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::downgrade(&w));
        w
    }

    /// Advances the clock; expires and wakes each connection that has awaited a head past
    /// the limit, wakes each request that has awaited its answer past it, and forgets closed
    /// connections.
    pub fn sweep(&self) {
        let now = u64::try_from(self.clock.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.clock.now_ms.store(now, Ordering::Relaxed);
        let mut all = self.all.lock().unwrap_or_else(|p| p.into_inner());
        all.retain(|w| {
            let Some(w) = w.upgrade() else {
                return false;
            };
            if w.busy.load(Ordering::Relaxed) {
                if now.saturating_sub(w.began.load(Ordering::Relaxed)) >= self.limit_ms
                    && !w.late.swap(true, Ordering::Relaxed)
                {
                    w.request.wake();
                } else if w.idle.load(Ordering::Relaxed) {
                    // The client's close is found by a read: one each sweep.
                    w.probe.store(true, Ordering::Relaxed);
                    w.waker.wake();
                }
            } else if now.saturating_sub(w.since.load(Ordering::Relaxed)) >= self.limit_ms
                && !w.expired.swap(true, Ordering::Relaxed)
            {
                w.waker.wake();
            }
            true
        });
    }
}

/// A client connection's I/O under its watch: a read after the watch expired fails, and a
/// read that waits leaves its waker for the sweep.
pub struct Watched {
    pub io: Client,
    pub watch: Arc<Watch>,
}

impl Read for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        if self.watch.expired.load(Ordering::Relaxed) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no request head within the header read timeout",
            )));
        }
        let w = &*self.watch;
        let woken_anyway = w.busy.load(Ordering::Relaxed) && w.bodiless.load(Ordering::Relaxed);
        let probe = w.probe.swap(false, Ordering::Relaxed);
        let polled = self.io.poll_read_as(cx, buf, woken_anyway, probe);
        if polled.is_pending() {
            let idle = woken_anyway && self.io.is_direct();
            self.watch.idle.store(idle, Ordering::Relaxed);
            self.watch.waker.register(cx);
        }
        polled
    }
}

impl Write for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    /// Passed on: the FIN it sends lets a client read the last answer even when the close
    /// that follows resets the connection (a client whose request was not read to its end,
    /// answered 431, say: a close with unread bytes sends a reset, and without the FIN first
    /// the client loses the answer; the CLI's proxy-limits test caught it).
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
}

/// An answer's body that ends its request's hold on the connection when it ends or is
/// dropped: from then the next head is awaited.
pub struct Ends<B> {
    inner: B,
    watch: Option<Arc<Watch>>,
}

impl<B> Ends<B> {
    pub fn new(inner: B, watch: Arc<Watch>) -> Self {
        Ends {
            inner,
            watch: Some(watch),
        }
    }
}

impl<B> Drop for Ends<B> {
    fn drop(&mut self) {
        if let Some(w) = self.watch.take() {
            w.end();
        }
    }
}

impl<B: Body + Unpin> Body for Ends<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        let frame = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = frame {
            if let Some(w) = self.watch.take() {
                w.end();
            }
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

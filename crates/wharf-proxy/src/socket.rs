//! Client sockets that join the worker's event loop only when they have to wait.
//!
//! A tokio `TcpStream` is registered with epoll as it is accepted (`epoll_ctl` ADD), read only
//! once epoll has reported it readable (a turn of the event loop), and unregistered as it is
//! dropped (`epoll_ctl` DEL). A client that opens a connection for one request has usually
//! sent it by the time the worker reads, and its answer fits the socket's send buffer: such a
//! connection never has to wait, so [`Client`] reads and writes it directly and registers it
//! only at the first read or write that would block. Its close is then a plain `close`. A
//! kept-alive connection registers at its second request, when it first waits.
//!
//! hyper reads on while a request is in the proxy's hands, to see a client's close. For a
//! bodiless request that read need not register the socket: the answer wakes the task
//! anyway, and then the read is made again (`watch.rs`: the answer's end wakes it, and each
//! sweep wakes it to look for the client's close while the answer is awaited).
//!
//! The listeners ask the kernel for connections whose request has come (TCP_DEFER_ACCEPT),
//! so the first read finds it.

use std::io::{self, Write as _};
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::rt::TokioIo;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A listening socket whose connections come out unregistered.
pub struct Listening(AsyncFd<mio::net::TcpListener>);

impl Listening {
    /// Registers the listener (non-blocking) with the current runtime.
    #[allow(unsafe_code)]
    pub fn new(listener: std::net::TcpListener) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        let listener = mio::net::TcpListener::from_std(listener);
        // SAFETY: the listener owns its descriptor, and nothing closes or replaces it while
        // the `AsyncFd` holds it (it is dropped with it).
        let fd = unsafe { AsyncFd::register_with_interest(listener, Interest::READABLE)? };
        Ok(Listening(fd))
    }

    /// The next connection (non-blocking, close-on-exec), with the client's address.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Client, SocketAddr)>> {
        loop {
            let mut ready = ready!(self.0.poll_read_ready(cx))?;
            match ready.try_io(|l| l.get_ref().accept()) {
                Ok(Ok((stream, client))) => {
                    let stream = std::net::TcpStream::from(std::os::fd::OwnedFd::from(stream));
                    return Poll::Ready(Ok((Client::from(stream), client)));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                // Nothing left to accept: readiness cleared, wait for epoll.
                Err(_would_block) => continue,
            }
        }
    }
}

/// How long the kernel holds a connection that has sent nothing before handing it over
/// anyway (TCP_DEFER_ACCEPT, whole seconds, rounded up to its SYN-ACK retransmissions).
const DEFER_ACCEPT_SECS: libc::c_int = 1;

/// Asks the kernel to hand over a connection once its first bytes (the request) have come,
/// or after [`DEFER_ACCEPT_SECS`] if none do: then the first read finds the request and no
/// connection waits on the worker before it has something to say (nginx's `deferred`).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn defer_accept(listener: &std::net::TcpListener) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let secs = DEFER_ACCEPT_SECS;
    // SAFETY: a valid descriptor, and a pointer to a c_int with its size.
    let r = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            std::ptr::from_ref(&secs).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
pub fn defer_accept(_: &std::net::TcpListener) -> io::Result<()> {
    Ok(())
}

/// A client connection: used directly until it has to wait, then through the runtime.
pub struct Client {
    state: State,
    /// The last direct read left the socket empty (it filled less than it was given): the
    /// next would fail, so it is not made.
    drained: bool,
}

enum State {
    Direct(std::net::TcpStream),
    Registered(TokioIo<tokio::net::TcpStream>),
    /// Registration failed and the socket was closed.
    Closed,
}

impl Client {
    /// Whether the connection has joined the event loop.
    #[cfg(test)]
    pub fn is_registered(&self) -> bool {
        matches!(self.state, State::Registered(_))
    }

    /// Whether the connection is still used directly.
    pub fn is_direct(&self) -> bool {
        matches!(self.state, State::Direct(_))
    }

    /// Registers a direct socket with the current runtime, for a read or write that would
    /// block; epoll then reports it as soon as it is ready (a socket ready already included).
    fn register(&mut self) -> io::Result<&mut TokioIo<tokio::net::TcpStream>> {
        // Closed, unless it registers (a failed registration has dropped the socket).
        match std::mem::replace(&mut self.state, State::Closed) {
            State::Direct(stream) => {
                let stream = tokio::net::TcpStream::from_std(stream)?;
                self.state = State::Registered(TokioIo::new(stream));
            }
            other => self.state = other,
        }
        match &mut self.state {
            State::Registered(io) => Ok(io),
            _ => Err(closed()),
        }
    }

    /// Reads what has come. `woken_anyway`: the caller's task will be woken without the
    /// socket (a bodiless request is in the proxy's hands, and its answer or a sweep wakes
    /// it), so a read that finds nothing returns `Pending` without registering; `probe`:
    /// read even when the last read drained the socket (a sweep looking for the client's
    /// close). Otherwise a read that would wait registers the socket and waits for epoll.
    pub fn poll_read_as(
        &mut self,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
        woken_anyway: bool,
        probe: bool,
    ) -> Poll<io::Result<()>> {
        if let State::Direct(stream) = &self.state {
            if !self.drained || probe {
                let room = buf.remaining();
                match recv_into(stream, &mut buf) {
                    Ok(n) => {
                        self.drained = n < room;
                        return Poll::Ready(Ok(()));
                    }
                    Err(e) if e.kind() != io::ErrorKind::WouldBlock => return Poll::Ready(Err(e)),
                    Err(_) => self.drained = true,
                }
            }
            if woken_anyway {
                return Poll::Pending;
            }
        }
        Pin::new(self.register()?).poll_read(cx, buf)
    }
}

impl From<std::net::TcpStream> for Client {
    fn from(stream: std::net::TcpStream) -> Self {
        Client {
            state: State::Direct(stream),
            drained: false,
        }
    }
}

fn closed() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the client connection could not join the event loop and was closed",
    )
}

/// Reads what the socket has into the cursor's unfilled part; how many bytes.
#[allow(unsafe_code)]
fn recv_into(stream: &std::net::TcpStream, buf: &mut ReadBufCursor<'_>) -> io::Result<usize> {
    let sock = socket2::SockRef::from(stream);
    loop {
        // SAFETY: `recv` only writes into the slice and never de-initialises a byte.
        match sock.recv(unsafe { buf.as_mut() }) {
            Ok(n) => {
                // SAFETY: `recv` initialised the `n` bytes it reports.
                unsafe { buf.advance(n) };
                return Ok(n);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Retries a direct call interrupted by a signal.
fn direct<T>(mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match op() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

fn would_block<T>(r: &io::Result<T>) -> bool {
    matches!(r, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

impl Read for Client {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut().poll_read_as(cx, buf, false, false)
    }
}

impl Write for Client {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[io::IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let State::Direct(stream) = &this.state {
            let written = direct(|| (&*stream).write_vectored(bufs));
            if !would_block(&written) {
                return Poll::Ready(written);
            }
        }
        Pin::new(this.register()?).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    /// Nothing to flush: a TCP socket sends what it is given.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().state {
            State::Direct(_) => Poll::Ready(Ok(())),
            State::Registered(io) => Pin::new(io).poll_flush(cx),
            State::Closed => Poll::Ready(Err(closed())),
        }
    }

    /// Sends the FIN, as tokio's stream does (`shutdown(SHUT_WR)`).
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().state {
            State::Direct(stream) => Poll::Ready(stream.shutdown(Shutdown::Write)),
            State::Registered(io) => Pin::new(io).poll_shutdown(cx),
            State::Closed => Poll::Ready(Err(closed())),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::pin::Pin;
    use std::task::Poll;

    use hyper::rt::{Read, Write};

    use super::{Client, Listening};

    async fn read_some(client: &mut Client) -> Vec<u8> {
        let mut storage = [0u8; 64];
        let mut buf = hyper::rt::ReadBuf::new(&mut storage);
        std::future::poll_fn(|cx| Pin::new(&mut *client).poll_read(cx, buf.unfilled()))
            .await
            .expect("read");
        buf.filled().to_vec()
    }

    /// A connection accepted after the peer sent `sent`, which the first read returns.
    async fn connected(sent: &[u8]) -> (std::net::TcpStream, Client) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let listening = Listening::new(listener).expect("listening");
        let mut peer = std::net::TcpStream::connect(addr).expect("connect");
        peer.write_all(sent).expect("send");
        let mut client = std::future::poll_fn(|cx| listening.poll_accept(cx))
            .await
            .expect("accept")
            .0;
        assert_eq!(read_some(&mut client).await, sent);
        (peer, client)
    }

    /// A request already sent is read, and its answer written, without the socket joining
    /// the event loop; the first read that would wait registers it, and it is woken when the
    /// peer writes.
    #[tokio::test]
    async fn a_connection_joins_the_event_loop_only_when_it_waits() {
        let (mut peer, mut client) = connected(b"GET / HTTP/1.1\r\n\r\n").await;
        let wrote = std::future::poll_fn(|cx| Pin::new(&mut client).poll_write(cx, b"answer"));
        assert_eq!(wrote.await.expect("write"), 6);
        assert!(!client.is_registered(), "nothing had to wait");
        let mut answer = [0u8; 6];
        peer.read_exact(&mut answer).expect("the answer");
        assert_eq!(&answer, b"answer");

        let mut storage = [0u8; 64];
        let mut buf = hyper::rt::ReadBuf::new(&mut storage);
        let waits = std::future::poll_fn(|cx| {
            Poll::Ready(
                Pin::new(&mut client)
                    .poll_read(cx, buf.unfilled())
                    .is_pending(),
            )
        });
        assert!(waits.await, "nothing to read yet");
        assert!(client.is_registered(), "the read waits for the peer");
        peer.write_all(b"next").expect("send");
        std::future::poll_fn(|cx| Pin::new(&mut client).poll_read(cx, buf.unfilled()))
            .await
            .expect("read once woken");
        assert_eq!(buf.filled(), b"next");
        std::future::poll_fn(|cx| Pin::new(&mut client).poll_shutdown(cx))
            .await
            .expect("shutdown");
        let mut rest = Vec::new();
        peer.read_to_end(&mut rest).expect("EOF after the FIN");
        assert!(rest.is_empty());
    }

    /// While a bodiless request is in the proxy's hands a read that finds nothing waits
    /// without registering; a sweep's probe reads the client's close directly; the FIN sent
    /// back reaches the client.
    #[tokio::test]
    async fn a_read_woken_anyway_does_not_register_and_a_probe_sees_the_close() {
        let (mut peer, mut client) = connected(b"GET").await;

        let mut storage = [0u8; 64];
        let mut buf = hyper::rt::ReadBuf::new(&mut storage);
        let idle = std::future::poll_fn(|cx| {
            Poll::Ready(
                client
                    .poll_read_as(cx, buf.unfilled(), true, false)
                    .is_pending(),
            )
        });
        assert!(idle.await, "nothing to read");
        assert!(client.is_direct(), "waiting without the event loop");

        peer.shutdown(std::net::Shutdown::Write)
            .expect("the client's FIN");
        let probed = std::future::poll_fn(|cx| client.poll_read_as(cx, buf.unfilled(), true, true));
        probed.await.expect("the probe's read");
        assert!(
            buf.filled().is_empty(),
            "the client's close reads as the end"
        );
        assert!(client.is_direct());

        std::future::poll_fn(|cx| Pin::new(&mut client).poll_shutdown(cx))
            .await
            .expect("shutdown");
        let mut rest = Vec::new();
        peer.read_to_end(&mut rest).expect("EOF");
        assert!(rest.is_empty());
    }
}

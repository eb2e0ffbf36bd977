//! One HTTP/1.1 exchange with a target, driven inside the client connection's own task: the
//! request head written as the proxy encoded it, the request body after it, the answer's head
//! parsed with `httparse` (hyper's own parser) and its body read by its framing (length,
//! chunked, or to the connection's end). hyper's client drove each connection from a task of
//! its own, reached through a channel and a oneshot per request, and parsed and encoded
//! through its generic machinery: a third of the proxy's instructions a request (README,
//! "Speed"). The framing rules are RFC 9112's, section 6.3.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll, Waker};

use http_body_util::BodyExt;
use hyper::body::{Body, Bytes, Frame, SizeHint};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{HeaderMap, StatusCode};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::group::Inflight;
use crate::pool::Pool;
use crate::server::ProxyBody;

/// The largest answer head accepted from a target, as hyper's default buffer.
const MAX_HEAD: usize = 64 * 1024;
/// The most header fields an answer may carry.
const MAX_HEADERS: usize = 128;
/// A read asks for this much room at first, and up to [`MAX_READ`] while reads fill it.
const MIN_READ: usize = 16 * 1024;
const MAX_READ: usize = 256 * 1024;

/// A kept-alive connection to a target and what was read from it past the last answer's end
/// (nothing, for a connection that may be kept).
pub struct Conn {
    stream: TcpStream,
    buf: bytes::BytesMut,
    /// How much the next read asks for: doubled while reads fill it.
    read_size: usize,
}

/// Why an exchange failed.
#[derive(Debug)]
pub enum Failure {
    /// The connection closed or refused the request before a byte of an answer came: on a kept
    /// connection, the target closed it idle as the request went out (the request is safe to
    /// send again if it is idempotent and bodiless, as nginx does).
    Unanswered,
    /// Anything else: a connection lost mid-answer, a malformed answer.
    Broken,
}

/// How an answer's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// This many bytes more.
    Length(u64),
    /// Chunked: the state of the decoder.
    Chunked(Chunk),
    /// When the target closes the connection.
    Close,
    /// Read to its end.
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// A chunk-size line is next.
    Size,
    /// This many bytes of the chunk's data are left.
    Data(u64),
    /// The CRLF after a chunk's data.
    Crlf,
    /// The trailer section after the last chunk, up to its empty line.
    Trailers,
}

/// The head of a target's answer, the hop-by-hop fields left out.
pub struct Head {
    pub status: StatusCode,
    pub headers: HeaderMap,
    framing: Framing,
    keep_alive: bool,
}

fn broken(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            buf: bytes::BytesMut::new(),
            read_size: MIN_READ,
        })
    }

    /// An idle connection is usable when nothing arrived on it since its last answer: no end
    /// of stream, no stray bytes. Its readiness is tokio's, kept from the last read (a read
    /// shorter than asked clears it), so this makes no system call unless the socket became
    /// readable.
    pub fn idle_usable(&self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        match self.stream.poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            Poll::Ready(Ok(())) => {
                let mut byte = [0u8; 1];
                matches!(self.stream.try_read(&mut byte), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
        }
    }

    /// Reads more into the buffer: the number of bytes (0 at the end of the stream).
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.buf.capacity() - self.buf.len() < self.read_size / 2
            && !self.buf.try_reclaim(self.read_size)
        {
            // Its memory cannot be reused as it is (what was split off is still out, or it
            // is too small): a new buffer with what is left of the old. `reserve` would grow
            // the old memory by reallocation, copying every byte already read and split off
            // too (with 1 MiB answers, 63% of the proxy's instructions; README, "Speed").
            let mut fresh = bytes::BytesMut::with_capacity(self.buf.len() + self.read_size);
            fresh.extend_from_slice(&self.buf);
            self.buf = fresh;
        }
        let spare = self.buf.capacity() - self.buf.len();
        let n = ready!(tokio_util::io::poll_read_buf(
            Pin::new(&mut self.stream),
            cx,
            &mut self.buf
        ))?;
        self.read_size = if n == spare {
            (self.read_size * 2).min(MAX_READ)
        } else {
            MIN_READ
        };
        Poll::Ready(Ok(n))
    }

    /// Writes the request (head, then body) and reads the answer's head. `head_request`: the
    /// request was HEAD, so the answer has no body whatever its length says.
    pub async fn exchange(
        &mut self,
        head: &[u8],
        body: Option<(ProxyBody, bool)>,
        head_request: bool,
    ) -> Result<Head, Failure> {
        self.buf.clear();
        // A write refused (a reset kept connection) is as unanswered as a close.
        self.send(head, body)
            .await
            .map_err(|_| Failure::Unanswered)?;
        let mut answered = false;
        loop {
            if !self.buf.is_empty() {
                answered = true;
                match parse_head(&mut self.buf, head_request) {
                    Ok(Some(head)) => return Ok(head),
                    Ok(None) if self.buf.len() < MAX_HEAD => {}
                    _ => return Err(Failure::Broken),
                }
            }
            match std::future::poll_fn(|cx| self.poll_fill(cx)).await {
                Ok(n) if n > 0 => {}
                // Closed or reset before any answer: the idle-close race.
                _ if !answered => return Err(Failure::Unanswered),
                _ => return Err(Failure::Broken),
            }
        }
    }

    /// The head in one write; a body after it, chunked when its length is not known.
    async fn send(&mut self, head: &[u8], body: Option<(ProxyBody, bool)>) -> io::Result<()> {
        self.stream.write_all(head).await?;
        let Some((mut body, chunked)) = body else {
            return Ok(());
        };
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(io::Error::other)?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers are not passed on
            };
            if data.is_empty() {
                continue;
            }
            if chunked {
                let size = format!("{:x}\r\n", data.len());
                self.stream.write_all(size.as_bytes()).await?;
                self.stream.write_all(&data).await?;
                self.stream.write_all(b"\r\n").await?;
            } else {
                self.stream.write_all(&data).await?;
            }
        }
        if chunked {
            self.stream.write_all(b"0\r\n\r\n").await?;
        }
        Ok(())
    }
}

/// Parses an answer's head from the front of `buf`, consuming it: None while incomplete.
/// Informational answers (1xx but 101) before the final one are skipped.
fn parse_head(buf: &mut bytes::BytesMut, head_request: bool) -> io::Result<Option<Head>> {
    loop {
        // Uninitialised room for the fields: zeroing 128 of them was a third of this.
        let mut fields = [std::mem::MaybeUninit::<httparse::Header<'_>>::uninit(); MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut []);
        let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut resp,
            buf,
            &mut fields,
        );
        let len = match parsed {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(_) => return Err(broken("a malformed answer head")),
        };
        let code = resp.code.unwrap_or(0);
        if (100..200).contains(&code) && code != 101 {
            let _ = buf.split_to(len);
            continue;
        }
        let status = StatusCode::from_u16(code).map_err(|_| broken("a bad status"))?;
        let mut keep_alive = resp.version == Some(1);
        let mut length: Option<u64> = None;
        let mut chunked = None;
        // Where each kept field's value lies in the head, to share its bytes once split off.
        let base = buf.as_ptr() as usize;
        let mut kept: Vec<(HeaderName, usize, usize)> = Vec::with_capacity(resp.headers.len());
        for field in resp.headers.iter() {
            let (name, value) = (field.name, field.value);
            // Only names of these lengths need a closer look (content-length,
            // transfer-encoding, connection and keep-alive, and the other hop-by-hop ones).
            if matches!(name.len(), 2 | 7 | 10 | 14 | 17 | 18 | 19) {
                if name.eq_ignore_ascii_case("content-length") {
                    let n = std::str::from_utf8(value)
                        .ok()
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .ok_or_else(|| broken("a bad content-length"))?;
                    if length.is_some_and(|l| l != n) {
                        return Err(broken("two content-lengths"));
                    }
                    length = Some(n);
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    // Chunked only when it is the last coding (RFC 9112 6.3).
                    let last = value.rsplit(|&b| b == b',').next().unwrap_or_default();
                    chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
                    continue;
                } else if name.eq_ignore_ascii_case("connection") {
                    keep_alive &= !value
                        .split(|&b| b == b',')
                        .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"));
                    continue;
                } else if crate::server::HOP_BY_HOP
                    .iter()
                    .any(|h| name.eq_ignore_ascii_case(h))
                {
                    continue;
                }
            }
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| broken("a bad name"))?;
            let at = if value.is_empty() {
                0
            } else {
                value.as_ptr() as usize - base
            };
            kept.push((name, at, value.len()));
        }
        let bytes = buf.split_to(len).freeze();
        // Room for what the proxy adds (X-Request-Id, an affinity cookie).
        let mut headers = HeaderMap::with_capacity(kept.len() + 2);
        for (name, at, n) in kept {
            let value = HeaderValue::from_maybe_shared(bytes.slice(at..at + n))
                .map_err(|_| broken("a bad value"))?;
            headers.append(name, value);
        }
        let framing = if head_request || code == 204 || code == 304 || code == 101 {
            Framing::Done
        } else {
            match (chunked, length) {
                (Some(true), _) => Framing::Chunked(Chunk::Size),
                (Some(false), _) => Framing::Close,
                (None, Some(0)) => Framing::Done,
                (None, Some(n)) => Framing::Length(n),
                (None, None) => Framing::Close,
            }
        };
        if chunked.is_some() {
            // A length next to a transfer coding is ignored, and not passed on.
            headers.remove(hyper::header::CONTENT_LENGTH);
        }
        if framing == Framing::Close {
            keep_alive = false;
        }
        return Ok(Some(Head {
            status,
            headers,
            framing,
            keep_alive,
        }));
    }
}

/// A target's answer body on its way to the client: its connection goes back to the worker's
/// pool the moment its end is read (a body dropped early closes it), and the target counts a
/// request in flight until then.
pub struct Answer {
    conn: Option<Conn>,
    framing: Framing,
    keep_alive: bool,
    home: Option<(Arc<Pool>, SocketAddr)>,
    _inflight: Option<Inflight>,
}

impl Answer {
    pub fn new(
        head: &Head,
        conn: Conn,
        pool: Arc<Pool>,
        addr: SocketAddr,
        inflight: Inflight,
    ) -> Self {
        let mut answer = Answer {
            conn: Some(conn),
            framing: head.framing,
            keep_alive: head.keep_alive,
            home: Some((pool, addr)),
            _inflight: Some(inflight),
        };
        if answer.framing == Framing::Done {
            answer.finish();
        }
        answer
    }

    /// The end of the answer: the connection is kept if the target keeps it and nothing was
    /// read past the end; the request is no longer in flight.
    fn finish(&mut self) {
        self.framing = Framing::Done;
        self._inflight = None;
        if let (Some(conn), Some((pool, addr))) = (self.conn.take(), self.home.take()) {
            if self.keep_alive && conn.buf.is_empty() {
                pool.put(addr, conn);
            }
        }
    }

    fn data(&mut self, n: usize) -> Bytes {
        let conn = self
            .conn
            .as_mut()
            .expect("an unfinished answer has its connection");
        conn.buf.split_to(n).freeze()
    }

    /// Reads more; false at the end of the stream.
    fn poll_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<bool>> {
        let conn = self
            .conn
            .as_mut()
            .expect("an unfinished answer has its connection");
        let n = ready!(conn.poll_fill(cx))?;
        Poll::Ready(Ok(n > 0))
    }
}

impl Body for Answer {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        loop {
            let buffered = this.conn.as_ref().map_or(0, |c| c.buf.len());
            match this.framing {
                Framing::Done => return Poll::Ready(None),
                Framing::Length(left) => {
                    if buffered > 0 {
                        let n = buffered.min(usize::try_from(left).unwrap_or(usize::MAX));
                        let data = this.data(n);
                        this.framing = Framing::Length(left - n as u64);
                        if left == n as u64 {
                            this.finish();
                        }
                        return Poll::Ready(Some(Ok(Frame::data(data))));
                    }
                    if !ready!(this.poll_more(cx))? {
                        return Poll::Ready(Some(Err(broken("the target closed mid-answer"))));
                    }
                }
                Framing::Close => {
                    if buffered > 0 {
                        return Poll::Ready(Some(Ok(Frame::data(this.data(buffered)))));
                    }
                    if !ready!(this.poll_more(cx))? {
                        this.finish();
                        return Poll::Ready(None);
                    }
                }
                Framing::Chunked(state) => {
                    match chunk_step(this, state, buffered)? {
                        Step::Data(data) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                        Step::Again => continue,
                        Step::More => {}
                        Step::End => {
                            this.finish();
                            return Poll::Ready(None);
                        }
                    }
                    if !ready!(this.poll_more(cx))? {
                        return Poll::Ready(Some(Err(broken("the target closed mid-answer"))));
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.framing == Framing::Done
    }

    fn size_hint(&self) -> SizeHint {
        match self.framing {
            Framing::Length(n) => SizeHint::with_exact(n),
            Framing::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

/// What the chunked decoder made of the buffered bytes.
enum Step {
    Data(Bytes),
    /// The state moved on: look again.
    Again,
    /// More bytes are needed.
    More,
    End,
}

fn chunk_step(a: &mut Answer, state: Chunk, buffered: usize) -> io::Result<Step> {
    let conn = a
        .conn
        .as_mut()
        .expect("an unfinished answer has its connection");
    let buf = &mut conn.buf;
    Ok(match state {
        Chunk::Size => match httparse::parse_chunk_size(buf) {
            Ok(httparse::Status::Complete((used, size))) => {
                let _ = buf.split_to(used);
                a.framing = Framing::Chunked(if size == 0 {
                    Chunk::Trailers
                } else {
                    Chunk::Data(size)
                });
                Step::Again
            }
            Ok(httparse::Status::Partial) if buffered < 4096 => Step::More,
            _ => return Err(broken("a bad chunk size")),
        },
        Chunk::Data(left) => {
            if buffered == 0 {
                return Ok(Step::More);
            }
            let n = buffered.min(usize::try_from(left).unwrap_or(usize::MAX));
            let data = buf.split_to(n).freeze();
            a.framing = Framing::Chunked(if left == n as u64 {
                Chunk::Crlf
            } else {
                Chunk::Data(left - n as u64)
            });
            Step::Data(data)
        }
        Chunk::Crlf => {
            if buffered < 2 {
                return Ok(Step::More);
            }
            if &buf[..2] != b"\r\n" {
                return Err(broken("a chunk without its CRLF"));
            }
            let _ = buf.split_to(2);
            a.framing = Framing::Chunked(Chunk::Size);
            Step::Again
        }
        // Trailer fields are not passed on: up to the empty line that ends them.
        Chunk::Trailers => {
            if buf.starts_with(b"\r\n") {
                let _ = buf.split_to(2);
                Step::End
            } else if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let _ = buf.split_to(at + 4);
                Step::End
            } else if buffered < MAX_HEAD {
                Step::More
            } else {
                return Err(broken("trailers too long"));
            }
        }
    })
}

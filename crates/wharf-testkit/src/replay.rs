//! Recorded AWS responses served on a loopback port, for what the moto server cannot produce
//! (a stack in UPDATE_ROLLBACK_FAILED, a circuit breaker's rollback, throttling bursts).
//!
//! The real SDK client is pointed at it with `--endpoint-url`: each request is matched by its
//! operation (the `Action` form field of the query protocol, or the `X-Amz-Target` header of
//! the JSON protocol) and answered with the next recorded response for that operation (the last
//! one repeats). Every request is logged, so a test asserts what was sent and in which order.
//!
//! In front of the moto server ([`Replay::forward_to`]) it is a recording proxy: operations
//! with no recorded response go to moto, and [`Faults`] make it answer ThrottlingException or
//! drop the connection (before forwarding) for every n-th request; [`Replay::throttle_burst`]
//! throttles one operation n times before letting it through.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One recorded response.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

/// A request the replay server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub operation: String,
    /// The form body (query protocol) or JSON body, as sent.
    pub body: String,
    /// Answered by a fault (throttled or dropped) instead of a response.
    pub faulted: bool,
}

/// Faults injected in front of the upstream: every `throttle_every`-th request is answered
/// with a throttling error, every `drop_every`-th has its connection closed unanswered
/// (0 turns either off). Neither reaches the upstream.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    pub throttle_every: u32,
    pub drop_every: u32,
}

#[derive(Default)]
struct State {
    responses: HashMap<String, Vec<Recorded>>,
    log: Vec<Received>,
    upstream: Option<u16>,
    faults: Faults,
    seen: u32,
}

/// A recorded "response" that sends the request on to the upstream.
const FORWARD: u16 = 0;

/// A throttling error as the service's protocol shapes it: the JSON protocol's `__type`, the
/// Query protocol's error document, or for a REST-JSON service (EventBridge Scheduler) the
/// `x-amzn-errortype` header beside a JSON message.
fn throttling(json: bool, rest: bool) -> (&'static str, &'static str, String) {
    if json {
        (
            "application/x-amz-json-1.1",
            "",
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_owned(),
        )
    } else if rest {
        (
            "application/json",
            "x-amzn-errortype: ThrottlingException\r\n",
            r#"{"message":"Rate exceeded"}"#.to_owned(),
        )
    } else {
        ("text/xml", "", "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>fault</RequestId></ErrorResponse>".to_owned())
    }
}

enum Fault {
    Throttle,
    Drop,
}

/// A replay server on a free loopback port; it stops when dropped.
pub struct Replay {
    pub port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Replay {
    pub fn start() -> Replay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (st, sp) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            while !sp.load(std::sync::atomic::Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let st = st.clone();
                        std::thread::spawn(move || serve(stream, &st));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Replay { port, state, stop }
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Queues an XML (query protocol) response for `operation`.
    pub fn xml(&self, operation: &str, status: u16, body: impl Into<String>) -> &Self {
        self.push(
            operation,
            Recorded {
                status,
                content_type: "text/xml",
                body: body.into(),
            },
        )
    }

    /// Queues a JSON (JSON protocol) response for `operation`.
    pub fn json(&self, operation: &str, status: u16, body: impl Into<String>) -> &Self {
        self.push(
            operation,
            Recorded {
                status,
                content_type: "application/x-amz-json-1.1",
                body: body.into(),
            },
        )
    }

    fn push(&self, operation: &str, r: Recorded) -> &Self {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .responses
            .entry(operation.to_owned())
            .or_default()
            .push(r);
        self
    }

    /// Answers the next `n` requests for `operation` with a throttling error (JSON protocol
    /// when `json`, else query/XML), then sends it to the upstream again: a burst.
    pub fn throttle_burst(&self, operation: &str, n: usize, json: bool) -> &Self {
        for _ in 0..n {
            let (content_type, _, body) = throttling(json, false);
            self.push(
                operation,
                Recorded {
                    status: 400,
                    content_type,
                    body,
                },
            );
        }
        self.push(
            operation,
            Recorded {
                status: FORWARD,
                content_type: "",
                body: String::new(),
            },
        )
    }

    /// Drops what is queued for `operation`: it goes to the upstream again.
    pub fn clear(&self, operation: &str) -> &Self {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .responses
            .remove(operation);
        self
    }

    /// Queues a pass to the upstream for `operation`: the next call of it goes to moto, so
    /// recorded answers queued after it apply only from the one after.
    pub fn forward(&self, operation: &str) -> &Self {
        self.push(
            operation,
            Recorded {
                status: FORWARD,
                content_type: "",
                body: String::new(),
            },
        )
    }

    /// Sends operations with no recorded response to `127.0.0.1:port` (the moto server).
    pub fn forward_to(&self, port: u16) -> &Self {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .upstream = Some(port);
        self
    }

    /// Injects faults from now on.
    pub fn faults(&self, faults: Faults) -> &Self {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).faults = faults;
        self
    }

    /// Every request so far, in order.
    pub fn log(&self) -> Vec<Received> {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .log
            .clone()
    }

    /// The operations received so far, in order.
    pub fn operations(&self) -> Vec<String> {
        self.log().into_iter().map(|r| r.operation).collect()
    }
}

impl Drop for Replay {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        let mut target = None;
        let mut head = vec![line.trim_end().to_owned()];
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            head.push(h.to_owned());
            if let Some((k, v)) = h.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
                if k == "content-length" {
                    length = v.parse().unwrap_or(0);
                } else if k == "x-amz-target" {
                    target = v.rsplit('.').next().map(str::to_owned);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let raw_body = body;
        let body = String::from_utf8_lossy(&raw_body).into_owned();
        let json = target.is_some();
        let body_is_query = body.split('&').any(|kv| kv.starts_with("Action="));
        let operation = target.unwrap_or_else(|| {
            body.split('&')
                .find_map(|kv| kv.strip_prefix("Action="))
                .unwrap_or("?")
                .to_owned()
        });
        let (reply, fault, upstream) = {
            let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
            s.seen += 1;
            let (n, f) = (s.seen, s.faults);
            let fault = if f.drop_every > 0 && n % f.drop_every == 0 {
                Some(Fault::Drop)
            } else if f.throttle_every > 0 && n % f.throttle_every == 0 {
                Some(Fault::Throttle)
            } else {
                None
            };
            s.log.push(Received {
                operation: operation.clone(),
                body,
                faulted: fault.is_some(),
            });
            let reply = match s.responses.get_mut(&operation) {
                Some(q) if q.len() > 1 => Some(q.remove(0)),
                Some(q) => q.first().cloned(),
                None => None,
            };
            (reply, fault, s.upstream)
        };
        match fault {
            Some(Fault::Drop) => return,
            Some(Fault::Throttle) => {
                let status = 400;
                let rest = !json && !body_is_query;
                let (ct, extra, body) = throttling(json, rest);
                let head = format!("HTTP/1.1 {status} Bad Request\r\ncontent-type: {ct}\r\n{extra}content-length: {}\r\nx-amzn-requestid: fault\r\n\r\n", body.len());
                if out.write_all(head.as_bytes()).is_err()
                    || out.write_all(body.as_bytes()).is_err()
                {
                    return;
                }
                continue;
            }
            None => {}
        }
        let forwarded = reply.as_ref().is_none_or(|r| r.status == FORWARD);
        if let (true, Some(port)) = (forwarded, upstream) {
            forward(port, &head, &raw_body, &mut out);
            return;
        }
        let reply = reply.filter(|r| r.status != FORWARD);
        let r = reply.unwrap_or_else(|| Recorded {
            status: 400,
            content_type: "text/xml",
            body: format!("<ErrorResponse><Error><Type>Sender</Type><Code>ReplayMissing</Code><Message>no recorded response for {operation}</Message></Error><RequestId>replay</RequestId></ErrorResponse>"),
        });
        let head = format!(
            "HTTP/1.1 {} R\r\ncontent-type: {}\r\ncontent-length: {}\r\nx-amzn-requestid: replay\r\n\r\n",
            r.status,
            r.content_type,
            r.body.len()
        );
        if out.write_all(head.as_bytes()).is_err() || out.write_all(r.body.as_bytes()).is_err() {
            return;
        }
    }
}

/// Relays one request to the upstream and its whole answer back, marked `Connection: close`
/// so the client does not reuse the connection.
fn forward(port: u16, head: &[String], body: &[u8], out: &mut TcpStream) {
    let Ok(mut up) = TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = up.set_read_timeout(Some(Duration::from_secs(60)));
    let mut req = String::new();
    for h in head {
        if !h.to_ascii_lowercase().starts_with("connection:") {
            req.push_str(h);
            req.push_str("\r\n");
        }
    }
    req.push_str("connection: close\r\n\r\n");
    if up.write_all(req.as_bytes()).is_err() || up.write_all(body).is_err() {
        return;
    }
    let mut answer = Vec::new();
    if up.read_to_end(&mut answer).is_err() && answer.is_empty() {
        return;
    }
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(answer.len());
    let head = String::from_utf8_lossy(&answer[..split]);
    let mut relayed = String::new();
    for h in head.split("\r\n") {
        if !h.to_ascii_lowercase().starts_with("connection:") {
            relayed.push_str(h);
            relayed.push_str("\r\n");
        }
    }
    relayed.push_str("connection: close");
    let _ = out.write_all(relayed.as_bytes());
    let _ = out.write_all(&answer[split..]);
}

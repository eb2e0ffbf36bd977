//! The access log: a JSON line per request, appended to one file. Each worker keeps its own
//! buffer (no lock shared between workers on the request path) and appends whole lines in one
//! write, when its buffer passes 32 KiB and every second, so lines of two workers never
//! interleave within a line.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// What one request did, a line of the access log.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AccessEntry<'a> {
    pub request_id: &'a str,
    /// The client's address, as `SocketAddr` displays it.
    pub client: &'a str,
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub target_group: Option<&'a str>,
    /// The target's address, as `SocketAddr` displays it.
    pub target: Option<&'a str>,
    pub duration_ms: u64,
}

impl AccessEntry<'_> {
    /// The entry as one JSON object, as `serde_json` writes it (the test compares), written
    /// directly: serde's formatter for addresses and its escaping of plain strings were a
    /// tenth of the proxy's instructions a request (README, "Speed").
    pub fn write_json(&self, out: &mut Vec<u8>) {
        // The id and the addresses are the proxy's own text (hex digits, dashes, address
        // characters): nothing in them needs escaping, nothing is checked.
        out.extend_from_slice(b"{\"request_id\":");
        plain(out, self.request_id);
        out.extend_from_slice(b",\"client\":");
        plain(out, self.client);
        out.extend_from_slice(b",\"method\":");
        string(out, self.method);
        out.extend_from_slice(b",\"host\":");
        string(out, self.host);
        out.extend_from_slice(b",\"path\":");
        string(out, self.path);
        out.extend_from_slice(b",\"status\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.status).as_bytes());
        out.extend_from_slice(b",\"target_group\":");
        match self.target_group {
            Some(g) => string(out, g),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"target\":");
        match &self.target {
            Some(t) => plain(out, t),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"duration_ms\":");
        out.extend_from_slice(itoa::Buffer::new().format(self.duration_ms).as_bytes());
        out.push(b'}');
    }
}

/// A JSON string: copied as it is when nothing in it needs escaping (printable ASCII without
/// quotes or backslashes: nearly every method, host and path), else escaped by `serde_json`.
fn string(out: &mut Vec<u8>, s: &str) {
    if s.bytes().fold(true, |plain, b| plain & PLAIN[b as usize]) {
        plain(out, s);
    } else if serde_json::to_writer(&mut *out, s).is_err() {
        out.extend_from_slice(b"null");
    }
}

/// A string known to need no escaping, quoted.
fn plain(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

/// The bytes a JSON string holds as they are: one lookup a byte.
const PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0x20;
    while b < 0x7f {
        t[b] = b != b'"' as usize && b != b'\\' as usize;
        b += 1;
    }
    t
};

/// An IPv4 address as `Display` writes it, digit by digit (the formatter was a tenth of the
/// proxy's instructions a request, README "Speed").
pub(crate) fn push_ipv4(out: &mut Vec<u8>, ip: std::net::Ipv4Addr) {
    let mut digits = itoa::Buffer::new();
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        out.extend_from_slice(digits.format(octet).as_bytes());
    }
}

/// The file access lines are appended to.
#[derive(Debug)]
pub struct AccessLog {
    file: std::fs::File,
}

/// A worker flushes its buffer when it holds this much.
const FLUSH_AT: usize = 32 * 1024;

impl AccessLog {
    /// Opens (creating) `path` for appending.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(AccessLog { file })
    }
}

/// One worker's lines not yet written.
pub(crate) struct LogBuffer {
    log: Arc<AccessLog>,
    buf: Mutex<Vec<u8>>,
}

impl LogBuffer {
    pub(crate) fn new(log: Arc<AccessLog>) -> Self {
        LogBuffer {
            log,
            buf: Mutex::new(Vec::with_capacity(FLUSH_AT + 1024)),
        }
    }

    /// Adds a request's line; writes the buffer out when it is full.
    pub(crate) fn record(&self, e: &AccessEntry<'_>) {
        let mut buf = self.buf.lock().unwrap_or_else(|p| p.into_inner());
        e.write_json(&mut buf);
        buf.push(b'\n');
        if buf.len() >= FLUSH_AT {
            self.write_out(&mut buf);
        }
    }

    /// Writes out what is buffered.
    pub(crate) fn flush(&self) {
        let mut buf = self.buf.lock().unwrap_or_else(|p| p.into_inner());
        self.write_out(&mut buf);
    }

    /// One append of whole lines (appends to a file do not interleave); a failed write (a
    /// full disk) drops the lines rather than blocking requests.
    fn write_out(&self, buf: &mut Vec<u8>) {
        if !buf.is_empty() {
            let _ = (&self.log.file).write_all(buf);
            buf.clear();
        }
    }
}

impl Drop for LogBuffer {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_what_serde_json_writes() {
        let entry =
            |client: &'static str, target: Option<&'static str>, path: &'static str| AccessEntry {
                request_id: "19a2b-0-7f",
                client,
                method: "GET",
                host: "app.example.com:8080",
                path,
                status: 200,
                target_group: target.map(|_| "web-v2"),
                target,
                duration_ms: 12_345,
            };
        for e in [
            entry("127.0.0.1:50312", Some("10.0.12.3:8080"), "/"),
            entry("0.0.0.0:0", Some("255.255.255.255:65535"), "/a b/\"q\"\\x"),
            entry("[::1]:443", None, "/café/\u{7}/tab\there"),
            entry("[2001:db8::7]:80", Some("[::1]:9"), ""),
        ] {
            let mut line = Vec::new();
            e.write_json(&mut line);
            let text = String::from_utf8(line).expect("utf-8");
            assert_eq!(text, serde_json::to_string(&e).expect("serde_json"));
        }
    }
}

//! The proxy daemon's control protocol: JSON lines on `{state_dir}/proxy.sock`, one command
//! and one answer per line, each line bounded ([`MAX_LINE`]). Route changes are versioned:
//! `status` answers the routes with their version, and an `apply` that names a version is
//! refused with `conflict` when another process changed the routes since.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use wharf_proxy::{Config, GroupStatus};

use crate::daemon::DaemonError;

/// The longest command or answer line: a configuration with hundreds of groups fits.
pub const MAX_LINE: usize = 4 * 1024 * 1024;

/// A command on the control socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Command {
    Ping,
    /// Replaces the routes; with `expect`, only if they are still at that version.
    Apply {
        config: Config,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expect: Option<u64>,
    },
    Status,
    Requests {
        group: String,
        window_ms: u64,
    },
    Shutdown,
}

/// The answer to a command.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "kebab-case")]
pub enum Answer {
    Pong {
        pid: u32,
        listen: std::net::SocketAddr,
        /// What the proxy allows clients (absent from a proxy older than the setting).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limits: Option<wharf_proxy::Limits>,
        /// The internal services' listeners: service and address.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        internal: Vec<(String, std::net::SocketAddr)>,
    },
    Applied {
        version: u64,
    },
    /// The routes changed since the version an apply named: read them again.
    Conflict {
        version: u64,
    },
    Status {
        groups: Vec<GroupStatus>,
        config: Config,
        version: u64,
    },
    Requests {
        total: u64,
        errors_5xx: u64,
    },
    Stopping,
    Error {
        message: String,
    },
}

/// Reads one line into `buf` (without its newline); `Ok(false)` at the end of the stream.
/// A line longer than [`MAX_LINE`] is an error: the connection is not worth reading on.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    buf: &mut Vec<u8>,
) -> std::io::Result<bool> {
    buf.clear();
    let n = (&mut *r)
        .take(MAX_LINE as u64 + 1)
        .read_until(b'\n', buf)
        .await?;
    if n == 0 {
        return Ok(false);
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
    } else if buf.len() > MAX_LINE {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a line longer than {MAX_LINE} bytes"),
        ));
    }
    Ok(true)
}

/// Talks to a running proxy.
pub struct ProxyClient {
    path: PathBuf,
}

impl ProxyClient {
    pub fn new(state_dir: &Path) -> Self {
        ProxyClient {
            path: crate::daemon::socket_path(state_dir),
        }
    }

    /// Sends one command and reads its answer (bounded: 10 s).
    pub async fn send(&self, cmd: &Command) -> Result<Answer, DaemonError> {
        let fut = async {
            let stream =
                UnixStream::connect(&self.path)
                    .await
                    .map_err(|_| DaemonError::NotRunning {
                        path: self.path.clone(),
                    })?;
            let (r, mut w) = stream.into_split();
            let mut line = serde_json::to_vec(cmd).map_err(|e| self.failed(e.to_string()))?;
            line.push(b'\n');
            w.write_all(&line)
                .await
                .map_err(|e| self.failed(e.to_string()))?;
            let mut answer = Vec::new();
            if !read_line(&mut BufReader::new(r), &mut answer)
                .await
                .map_err(|e| self.failed(e.to_string()))?
            {
                return Err(self.failed("no answer".into()));
            }
            match serde_json::from_slice::<Answer>(&answer)
                .map_err(|e| self.failed(e.to_string()))?
            {
                Answer::Error { message } => Err(self.failed(message)),
                a => Ok(a),
            }
        };
        tokio::time::timeout(Duration::from_secs(10), fut)
            .await
            .map_err(|_| self.failed("no answer within 10s".into()))?
    }

    fn failed(&self, message: String) -> DaemonError {
        DaemonError::Failed {
            path: self.path.clone(),
            message,
        }
    }
}

//! `wharf local serve`: wharf's proxy as a long-lived process. It listens on the environment's
//! address, restores its routes from `{state_dir}/proxy.json` (so a restart drops nothing),
//! and takes commands on `{state_dir}/proxy.sock` (mode 0600; never TCP) as JSON lines.

use std::io::Write as _;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UnixListener, UnixStream};
use wharf_proxy::{Config, GroupStatus, Proxy};

/// A command on the control socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Command {
    Ping,
    Apply { config: Config },
    Status,
    Requests { group: String, window_ms: u64 },
    Shutdown,
}

/// The answer to a command.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "kebab-case")]
pub enum Answer {
    Pong {
        pid: u32,
        listen: SocketAddr,
    },
    Applied,
    Status {
        groups: Vec<GroupStatus>,
        config: Config,
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

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DaemonError {
    #[error("cannot listen on {addr}: {source}")]
    #[diagnostic(
        code(wharf::local::listen),
        help(
            "another program uses the port: stop it, or set another `listen` for the environment"
        )
    )]
    Listen {
        addr: String,
        source: std::io::Error,
    },

    #[error("cannot create the control socket {}: {source}", path.display())]
    #[diagnostic(
        code(wharf::local::socket),
        help("is another `wharf local serve` running for this environment? `wharf down` stops it")
    )]
    Socket {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("no proxy answers on {}", path.display())]
    #[diagnostic(
        code(wharf::local::no_proxy),
        help("run `wharf up --env local` to start it")
    )]
    NotRunning { path: PathBuf },

    #[error("the proxy on {} failed: {message}", path.display())]
    #[diagnostic(code(wharf::local::proxy_failed))]
    Failed { path: PathBuf, message: String },
}

pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join("proxy.sock")
}

fn config_path(state_dir: &Path) -> PathBuf {
    state_dir.join("proxy.json")
}

/// Runs the proxy until a `shutdown` command or SIGTERM/SIGINT.
pub async fn serve(state_dir: &Path, listen: &str) -> Result<(), DaemonError> {
    std::fs::create_dir_all(state_dir).map_err(|source| DaemonError::Socket {
        path: state_dir.to_path_buf(),
        source,
    })?;
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|source| DaemonError::Listen {
            addr: listen.to_owned(),
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| DaemonError::Listen {
            addr: listen.to_owned(),
            source,
        })?;
    let sock = socket_path(state_dir);
    if UnixStream::connect(&sock).await.is_ok() {
        return Err(DaemonError::Socket {
            path: sock,
            source: std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "a proxy already answers there",
            ),
        });
    }
    let _ = std::fs::remove_file(&sock);
    let control = UnixListener::bind(&sock).map_err(|source| DaemonError::Socket {
        path: sock.clone(),
        source,
    })?;
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600)).map_err(|source| {
        DaemonError::Socket {
            path: sock.clone(),
            source,
        }
    })?;

    let log_path = state_dir.join("access.log");
    // Buffered: one write per request would cost a syscall each; a task flushes every second.
    let log = Arc::new(std::sync::Mutex::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .ok()
            .map(|f| std::io::BufWriter::with_capacity(64 * 1024, f)),
    ));
    let flusher = {
        let log = log.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if let Some(f) = log.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
                    let _ = f.flush();
                }
            }
        })
    };
    let access = log.clone();
    let proxy = Proxy::new(Some(Box::new(move |e| {
        if let Some(f) = access.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            if serde_json::to_writer(&mut *f, e).is_ok() {
                let _ = f.write_all(b"\n");
            }
        }
    })));
    let config = std::fs::read_to_string(config_path(state_dir))
        .ok()
        .and_then(|s| serde_json::from_str::<Config>(&s).ok())
        .unwrap_or_default();
    proxy.apply(&config);
    let current = Arc::new(std::sync::Mutex::new(config));

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(proxy.clone().serve(listener, {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.changed().await;
        }
    }));
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|source| DaemonError::Socket {
            path: sock.clone(),
            source,
        })?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|source| DaemonError::Socket {
            path: sock.clone(),
            source,
        })?;
    let state_dir = state_dir.to_path_buf();
    let mut stopped = stop_rx.clone();
    loop {
        tokio::select! {
            _ = stopped.changed() => {}
            accepted = control.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let (proxy, current, stop_tx, state_dir) = (proxy.clone(), current.clone(), stop_tx.clone(), state_dir.clone());
                tokio::spawn(async move {
                    let (r, mut w) = stream.into_split();
                    let mut lines = BufReader::new(r).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let answer = match serde_json::from_str::<Command>(&line) {
                            Ok(Command::Ping) => Answer::Pong { pid: std::process::id(), listen: addr },
                            Ok(Command::Apply { config }) => match persist(&state_dir, &config) {
                                Ok(()) => {
                                    proxy.apply(&config);
                                    *current.lock().unwrap_or_else(|p| p.into_inner()) = config;
                                    Answer::Applied
                                }
                                Err(e) => Answer::Error { message: format!("cannot save the routes: {e}") },
                            },
                            Ok(Command::Status) => Answer::Status { groups: proxy.status(), config: current.lock().unwrap_or_else(|p| p.into_inner()).clone() },
                            Ok(Command::Requests { group, window_ms }) => {
                                let (total, errors_5xx) = proxy.requests(&group, Duration::from_millis(window_ms));
                                Answer::Requests { total, errors_5xx }
                            }
                            Ok(Command::Shutdown) => {
                                let _ = stop_tx.send(true);
                                Answer::Stopping
                            }
                            Err(e) => Answer::Error { message: format!("unknown command: {e}") },
                        };
                        let mut out = serde_json::to_string(&answer).unwrap_or_default();
                        out.push('\n');
                        if w.write_all(out.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                });
            }
            _ = term.recv() => { let _ = stop_tx.send(true); }
            _ = int.recv() => { let _ = stop_tx.send(true); }
        }
        if *stop_rx.borrow() {
            break;
        }
    }
    let served = server.await;
    flusher.abort();
    if let Some(f) = log.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
        let _ = f.flush();
    }
    let _ = std::fs::remove_file(&sock);
    match served {
        Ok(Err(source)) => Err(DaemonError::Listen {
            addr: listen.to_owned(),
            source,
        }),
        _ => Ok(()),
    }
}

/// Writes the routes atomically (temp file, then rename).
fn persist(state_dir: &Path, config: &Config) -> std::io::Result<()> {
    let tmp = state_dir.join("proxy.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(config)?)?;
    std::fs::rename(tmp, config_path(state_dir))
}

/// Talks to a running proxy.
pub struct ProxyClient {
    path: PathBuf,
}

impl ProxyClient {
    pub fn new(state_dir: &Path) -> Self {
        ProxyClient {
            path: socket_path(state_dir),
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
            let mut line = serde_json::to_string(cmd).map_err(|e| self.failed(e.to_string()))?;
            line.push('\n');
            w.write_all(line.as_bytes())
                .await
                .map_err(|e| self.failed(e.to_string()))?;
            let answer = BufReader::new(r)
                .lines()
                .next_line()
                .await
                .map_err(|e| self.failed(e.to_string()))?
                .ok_or_else(|| self.failed("no answer".into()))?;
            match serde_json::from_str::<Answer>(&answer).map_err(|e| self.failed(e.to_string()))? {
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

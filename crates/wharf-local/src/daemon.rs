//! `wharf local serve`: wharf's proxy as a long-lived process. It listens on the environment's
//! address (and, per internal service, on the host's address on the environment's network),
//! restores its routes from `{state_dir}/proxy.json` ([`crate::saved`]: a restart drops nothing, a corrupt file is refused), and takes commands on `{state_dir}/proxy.sock`
//! (0600 from the start, in a 0700 dir; never TCP) in the [`crate::control`] protocol. Route
//! changes are applied one at a time: check the version, save, apply. It also runs the
//! environment's scheduled jobs when they are due ([`crate::schedules`]).

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UnixListener, UnixStream};
use wharf_proxy::{Config, Limits, Proxy};

use crate::control::read_line;
pub use crate::control::{Answer, Command, ProxyClient};
use crate::saved;

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

    #[error("the proxy's saved routes {} do not read: {message}", path.display())]
    #[diagnostic(
        code(wharf::local::routes_corrupt),
        help("the proxy will not start on routes it cannot read (it would drop every route): fix the file, copy {} (the routes before the last change) over it, or delete it to start with none (`wharf deploy` puts them back)", good.display())
    )]
    Corrupt {
        path: PathBuf,
        good: PathBuf,
        message: String,
    },

    #[error(transparent)]
    #[diagnostic(transparent)]
    StateDir(#[from] crate::statedir::StateDirError),
}

/// The routes being served and their version.
struct Routes {
    config: Config,
    version: u64,
}

pub fn socket_path(state_dir: &Path) -> PathBuf {
    state_dir.join("proxy.sock")
}

/// Runs the proxy until a `shutdown` command or SIGTERM/SIGINT.
pub async fn serve(state_dir: &Path, listen: &str) -> Result<(), DaemonError> {
    serve_with(state_dir, listen, Limits::default(), &[]).await
}

/// [`serve`] with the given limits on clients (the manifest's `[environments.NAME.proxy]`)
/// and a listener per internal service (its name and address).
pub async fn serve_with(
    state_dir: &Path,
    listen: &str,
    limits: Limits,
    internal: &[(String, SocketAddr)],
) -> Result<(), DaemonError> {
    crate::statedir::prepare(state_dir)?;
    // Before anything listens: a proxy must not serve (and later save) an empty
    // configuration in place of routes it could not read.
    let config = saved::load(state_dir)?;
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
    let mut listeners = vec![wharf_proxy::Listener {
        name: None,
        socket: listener,
    }];
    for (name, at) in internal {
        let socket = TcpListener::bind(at)
            .await
            .map_err(|source| DaemonError::Listen {
                addr: format!("{at} (internal service {name})"),
                source,
            })?;
        listeners.push(wharf_proxy::Listener {
            name: Some(name.clone()),
            socket,
        });
    }
    let internal = internal.to_vec();
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
    // 0600 from the moment it exists (the dir is 0700 as well); the mask is put back at once.
    let mask = rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o177));
    let bound = UnixListener::bind(&sock);
    rustix::process::umask(mask);
    let control = bound.map_err(|source| DaemonError::Socket {
        path: sock.clone(),
        source,
    })?;
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o600)).map_err(|source| {
        DaemonError::Socket {
            path: sock.clone(),
            source,
        }
    })?;

    // A JSON line per request; each proxy worker buffers its own and appends whole lines.
    let access_log = wharf_proxy::AccessLog::open(&state_dir.join("access.log")).ok();
    let proxy = Proxy::with_limits(access_log, limits);
    proxy.apply(&config);
    // A restarted proxy's versions never repeat its predecessor's.
    let version = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    let current = Arc::new(Mutex::new(Routes { config, version }));

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(proxy.clone().serve_on(listeners, {
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
    let scheduler = tokio::spawn(crate::schedules::run_due(
        state_dir.clone(),
        stop_rx.clone(),
    ));
    let mut stopped = stop_rx.clone();
    loop {
        tokio::select! {
            _ = stopped.changed() => {}
            accepted = control.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let (proxy, current, stop_tx, state_dir, internal) = (proxy.clone(), current.clone(), stop_tx.clone(), state_dir.clone(), internal.clone());
                tokio::spawn(async move {
                    let (r, mut w) = stream.into_split();
                    let mut r = BufReader::new(r);
                    let mut line = Vec::new();
                    loop {
                        let (answer, more) = match read_line(&mut r, &mut line).await {
                            Ok(false) => break,
                            Ok(true) => match serde_json::from_slice::<Command>(&line) {
                                Ok(cmd) => (answer(cmd, &proxy, &current, &state_dir, &stop_tx, addr, &internal), true),
                                Err(e) => (Answer::Error { message: format!("unknown command: {e}") }, true),
                            },
                            Err(e) => (Answer::Error { message: e.to_string() }, false),
                        };
                        let mut out = serde_json::to_vec(&answer).unwrap_or_default();
                        out.push(b'\n');
                        if w.write_all(&out).await.is_err() || !more {
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
    let _ = scheduler.await;
    let _ = std::fs::remove_file(&sock);
    match served {
        Ok(Err(source)) => Err(DaemonError::Listen {
            addr: listen.to_owned(),
            source,
        }),
        _ => Ok(()),
    }
}

/// Carries out one command.
fn answer(
    cmd: Command,
    proxy: &Proxy,
    current: &Mutex<Routes>,
    state_dir: &Path,
    stop: &tokio::sync::watch::Sender<bool>,
    listen: SocketAddr,
    internal: &[(String, SocketAddr)],
) -> Answer {
    match cmd {
        Command::Ping => Answer::Pong {
            pid: std::process::id(),
            listen,
            limits: Some(proxy.limits().clone()),
            internal: internal.to_vec(),
        },
        Command::Apply { config, expect } => {
            if let Err(message) = config.validate() {
                return Answer::Error {
                    message: format!("refused routes: {message}"),
                };
            }
            // One change at a time, from the version check to the new routes serving.
            let mut routes = current.lock().unwrap_or_else(|p| p.into_inner());
            if expect.is_some_and(|v| v != routes.version) {
                return Answer::Conflict {
                    version: routes.version,
                };
            }
            if let Err(e) = saved::save(state_dir, &config) {
                return Answer::Error {
                    message: format!("cannot save the routes: {e}"),
                };
            }
            proxy.apply(&config);
            routes.config = config;
            routes.version += 1;
            Answer::Applied {
                version: routes.version,
            }
        }
        Command::Status => {
            let routes = current.lock().unwrap_or_else(|p| p.into_inner());
            Answer::Status {
                groups: proxy.status(),
                config: routes.config.clone(),
                version: routes.version,
            }
        }
        Command::Requests { group, window_ms } => {
            let (total, errors_5xx) = proxy.requests(&group, Duration::from_millis(window_ms));
            Answer::Requests { total, errors_5xx }
        }
        Command::Shutdown => {
            let _ = stop.send(true);
            Answer::Stopping
        }
    }
}

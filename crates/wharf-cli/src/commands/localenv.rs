//! What the local-target commands share: the environment's state dir, its proxy daemon
//! (started detached when it is not running), the secrets file, and rendering engine events.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wharf_engine::{Event, EventSink};
use wharf_local::daemon::{Answer, Command, ProxyClient};
use wharf_local::docker::Docker;
use wharf_local::{LocalStore, LocalTarget};
use wharf_manifest::{Environment, LocalEnv, Manifest};

use crate::error::CliError;
use crate::output::Printer;

/// An opened local environment.
pub struct LocalEnvCtx {
    pub state_dir: PathBuf,
    pub listen: SocketAddr,
    pub target: LocalTarget,
}

pub fn local_of(env: &Environment) -> Result<&LocalEnv, CliError> {
    env.local().ok_or_else(|| CliError::NotLocal {
        env: env.name.clone(),
    })
}

pub fn state_dir(manifest: &Manifest, local: &LocalEnv) -> PathBuf {
    manifest.root.join(&local.state_dir)
}

/// Makes sure the environment's proxy runs; starts `wharf local serve` detached if not.
pub async fn ensure_proxy(state_dir: &Path, listen: &str) -> Result<SocketAddr, CliError> {
    let client = ProxyClient::new(state_dir);
    if let Ok(Answer::Pong { listen: now, .. }) = client.send(&Command::Ping).await {
        match listen.parse::<SocketAddr>() {
            // The manifest's `listen` changed: move the proxy there (its routes are saved and
            // restored; the containers are not touched), unless the new address is taken.
            Ok(want) if want != now && want.port() != 0 => {
                if let Err(source) = std::net::TcpListener::bind(want) {
                    return Err(CliError::Daemon(wharf_local::daemon::DaemonError::Listen {
                        addr: listen.to_owned(),
                        source,
                    }));
                }
                let _ = client.send(&Command::Shutdown).await;
                for _ in 0..100 {
                    if !state_dir.join("proxy.sock").exists() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            _ => return Ok(now),
        }
    }
    std::fs::create_dir_all(state_dir).map_err(|source| CliError::Write {
        path: state_dir.to_path_buf(),
        source,
    })?;
    let log_path = state_dir.join("proxy.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|source| CliError::Write {
            path: log_path.clone(),
            source,
        })?;
    let exe = std::env::current_exe().map_err(|source| CliError::Runtime { source })?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["local", "serve", "--state-dir"])
        .arg(state_dir)
        .args(["--listen", listen])
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().map_err(|source| CliError::Write {
            path: log_path.clone(),
            source,
        })?)
        .stderr(log);
    {
        use std::os::unix::process::CommandExt;
        // Its own process group: it outlives this command and the terminal's Ctrl-C.
        cmd.process_group(0);
    }
    let mut child = cmd.spawn().map_err(|source| CliError::Runtime { source })?;
    let _ = std::fs::write(state_dir.join("proxy.pid"), child.id().to_string());
    for _ in 0..100 {
        if let Ok(Answer::Pong { listen, .. }) = client.send(&Command::Ping).await {
            return Ok(listen);
        }
        if let Ok(Some(status)) = child.try_wait() {
            let tail = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(8).collect();
            return Err(CliError::ProxyStart {
                status: status.to_string(),
                log: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(CliError::ProxyStart {
        status: "not answering after 10s".into(),
        log: log_path.display().to_string(),
    })
}

/// `KEY=value` lines (`ssm:/path=value`), comments and blank lines ignored.
pub fn read_secrets(
    manifest: &Manifest,
    local: &LocalEnv,
) -> Result<HashMap<String, String>, CliError> {
    let Some(file) = &local.secrets_file else {
        return Ok(HashMap::new());
    };
    let path = manifest.root.join(file);
    let text = std::fs::read_to_string(&path).map_err(|source| CliError::Secrets {
        path: path.clone(),
        source,
    })?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            // References contain ':' and '/', never '='; the value may.
            l.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect())
}

/// Opens the environment: Docker, the proxy (started if needed), the state.
pub async fn open(manifest: &Manifest, env: &Environment) -> Result<LocalEnvCtx, CliError> {
    let local = local_of(env)?;
    let state_dir = state_dir(manifest, local);
    let docker = Docker::connect().await?;
    let listen = ensure_proxy(&state_dir, &local.listen).await?;
    let store = LocalStore::open(&state_dir)?;
    let secrets = read_secrets(manifest, local)?;
    let target = LocalTarget::new(
        store,
        docker,
        ProxyClient::new(&state_dir),
        &manifest.app.name,
        &env.name,
        listen,
        secrets,
        manifest.root.clone(),
    );
    Ok(LocalEnvCtx {
        state_dir,
        listen,
        target,
    })
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "localhost".into())
}

/// `user@host pid N`, shown to a concurrent deploy.
pub fn holder() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "someone".into());
    format!("{user}@{} pid {}", hostname(), std::process::id())
}

/// Whether process `pid` of this host still runs.
fn alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        std::process::Command::new("sh")
            .args(["-c", &format!("kill -0 {pid} 2>/dev/null")])
            .status()
            .map_or(true, |s| s.success())
    }
}

/// A lock whose holder was a `wharf` on this host that no longer runs (killed, crashed) is
/// released, so `--resume` and `abort` work at once instead of after the lease. Answers the
/// released holder. A holder on another host or still running is left alone.
pub async fn release_dead_holder(
    target: &LocalTarget,
    service: &str,
) -> Result<Option<String>, CliError> {
    use wharf_engine::Store as _;
    let lock =
        target
            .current_lock(service)
            .await
            .map_err(|source| wharf_engine::EngineError::Target {
                action: "read the deployment lock".into(),
                source,
            })?;
    let Some(lock) = lock else { return Ok(None) };
    let Some((who, pid)) = lock.holder.rsplit_once(" pid ") else {
        return Ok(None);
    };
    let on_this_host = who
        .split_once('@')
        .is_some_and(|(_, host)| host == hostname());
    let Ok(pid) = pid.parse::<u32>() else {
        return Ok(None);
    };
    if !on_this_host || pid == std::process::id() || alive(pid) {
        return Ok(None);
    }
    target
        .unlock(service, &lock.holder)
        .await
        .map_err(|source| wharf_engine::EngineError::Target {
            action: "release a dead process's lock".into(),
            source,
        })?;
    Ok(Some(lock.holder))
}

/// Renders engine events: a live view on a terminal, plain lines on stderr elsewhere, or JSON
/// lines on stdout with --output json.
pub struct Render {
    pub json: bool,
    pub quiet: bool,
    live: Option<std::sync::Mutex<crate::live::Live<std::io::Stderr>>>,
}

impl EventSink for Render {
    fn emit(&self, event: Event) {
        if self.json {
            if let Ok(line) = serde_json::to_string(&event) {
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
        } else if let Some(live) = &self.live {
            live.lock().unwrap_or_else(|p| p.into_inner()).event(&event);
        } else if !self.quiet && !matches!(event, Event::Gate { .. } | Event::Health { .. }) {
            // A bounded wait reports every poll; a line every 5 s is enough in a log.
            if let Event::Waiting { elapsed_ms, .. } = &event {
                if elapsed_ms / 1000 % 5 != 0 || elapsed_ms % 1000 >= 500 {
                    return;
                }
            }
            let _ = writeln!(std::io::stderr().lock(), "{event}");
        }
    }
}

impl Render {
    pub fn new(printer: &Printer) -> Self {
        use std::io::IsTerminal;
        let terminal =
            std::io::stderr().is_terminal() && std::env::var("TERM").map_or(true, |t| t != "dumb");
        let live = (!printer.json() && !printer.quiet && terminal).then(|| {
            let now = || {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64)
            };
            std::sync::Mutex::new(crate::live::Live::new(
                std::io::stderr(),
                printer.color_stderr,
                Box::new(now),
            ))
        });
        Render {
            json: printer.json(),
            quiet: printer.quiet,
            live,
        }
    }
}

impl Drop for Render {
    /// The block goes before the command's result or error is printed.
    fn drop(&mut self) {
        if let Some(live) = &self.live {
            live.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
    }
}

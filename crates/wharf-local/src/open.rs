//! Opening a local environment: its state dir, its proxy daemon (started detached as
//! `wharf local serve` when it does not answer, with a listener per internal service on the
//! host's address on the environment's Docker network), the secrets file, Docker, the state
//! database.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wharf_docker::{Docker, DockerError};
use wharf_engine::Mode;
use wharf_manifest::{Environment, LocalEnv, Manifest, ProxyLimits};
use wharf_proxy::Limits;

use crate::daemon::{Answer, Command, DaemonError, ProxyClient};
use crate::store::{LocalStore, StoreError};
use crate::target::LocalTarget;

/// Why a local environment could not be opened or changed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum LocalError {
    #[error("environment `{env}` is not a local environment")]
    #[diagnostic(
        code(wharf::cli::not_local),
        help("pick a local environment with --env")
    )]
    NotLocal { env: String },

    #[error("environment `{env}` is a local environment: {what} works on AWS environments")]
    #[diagnostic(code(wharf::cli::not_aws), help("pick an AWS environment with --env"))]
    NotAws { env: String, what: &'static str },

    #[error("the proxy did not start ({status})\n{log}")]
    #[diagnostic(code(wharf::local::proxy_start), help("the lines above are the end of its log; a taken port is the usual cause: change `listen`"))]
    ProxyStart { status: String, log: String },

    #[error("the Docker network {network} has no IPv4 gateway for the proxy to listen on")]
    #[diagnostic(
        code(wharf::local::no_gateway),
        help("internal services are served on the host's address on the environment's network: run `wharf down` and `wharf up` to make the network again")
    )]
    NoGateway { network: String },

    #[error("cannot read the secrets file {}", path.display())]
    #[diagnostic(
        code(wharf::local::secrets),
        help("create it with lines `ssm:/path=value`, or remove `secrets_file`")
    )]
    Secrets {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("failed to write {}", path.display())]
    #[diagnostic(code(wharf::cli::write))]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Daemon(#[from] DaemonError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Docker(#[from] DockerError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Store(#[from] StoreError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    StateDir(#[from] crate::statedir::StateDirError),
}

impl LocalError {
    /// Docker or the proxy cannot be reached (exit code 7), as opposed to a refusal.
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            LocalError::Daemon(_)
                | LocalError::ProxyStart { .. }
                | LocalError::Docker(DockerError::Unreachable { .. })
        )
    }
}

/// The local settings of an environment.
pub fn local_env(env: &Environment) -> Result<&LocalEnv, LocalError> {
    env.local().ok_or_else(|| LocalError::NotLocal {
        env: env.name.clone(),
    })
}

/// Where the environment keeps its state: the manifest's `state_dir`, under its directory.
pub fn state_dir(manifest: &Manifest, local: &LocalEnv) -> PathBuf {
    manifest.root.join(&local.state_dir)
}

impl LocalTarget {
    /// Opens the environment. [`Mode::Act`] starts its proxy when it does not answer and
    /// connects to Docker; [`Mode::Look`] starts nothing (the URL is None when the proxy is
    /// down) and contacts Docker only when a call needs it.
    pub async fn open(
        manifest: &Manifest,
        env: &Environment,
        mode: Mode,
    ) -> Result<LocalTarget, LocalError> {
        let local = local_env(env)?;
        let state_dir = state_dir(manifest, local);
        crate::statedir::prepare(&state_dir)?;
        let (docker, listen, gateway) = match mode {
            Mode::Act => {
                let docker = Docker::connect().await?;
                let (gateway, internal) = internal_listeners(&docker, manifest, env).await?;
                let listen =
                    ensure_proxy(&state_dir, &local.listen, &limits(&local.proxy), &internal)
                        .await?;
                (docker, Some(listen), gateway)
            }
            Mode::Look => (Docker::lazy()?, running_proxy(&state_dir).await, None),
        };
        let store = LocalStore::open(&state_dir)?;
        let secrets = match mode {
            Mode::Act => read_secrets(manifest, local)?,
            Mode::Look => HashMap::new(),
        };
        let mut target = LocalTarget::new(
            store,
            docker,
            ProxyClient::new(&state_dir),
            &manifest.app.name,
            &env.name,
            listen,
            secrets,
            manifest.root.clone(),
        );
        target.private = manifest.private_paths();
        target.manifest_file =
            std::path::absolute(&manifest.file).unwrap_or_else(|_| manifest.file.clone());
        target.gateway = gateway;
        target.callees = env
            .services
            .keys()
            .map(|s| (s.clone(), env.callee_urls(&manifest.app.name, s)))
            .collect();
        target.job_bindings = env
            .jobs
            .keys()
            .map(|j| (j.clone(), wharf_cfn::bindings::for_job(manifest, env, j)))
            .collect();
        Ok(target)
    }
}

/// The proxy's listeners for internal services: per internal service, the host's address on
/// the environment's Docker network (made here when missing) and the service's internal
/// port. Callers' containers resolve the service's names to that address.
async fn internal_listeners(
    docker: &Docker,
    manifest: &Manifest,
    env: &Environment,
) -> Result<(Option<std::net::IpAddr>, Vec<(String, SocketAddr)>), LocalError> {
    let internal: Vec<(&String, u16)> = env
        .services
        .iter()
        .filter_map(|(n, s)| Some((n, s.internal.as_ref()?.port)))
        .collect();
    if internal.is_empty() {
        return Ok((None, vec![]));
    }
    let names = wharf_manifest::Names::new(&manifest.app.name, &env.name);
    let labels = [
        (wharf_docker::LABEL_APP, manifest.app.name.as_str()),
        (wharf_docker::LABEL_ENV, env.name.as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let network = names.network();
    let gateway = docker
        .ensure_network(&network, labels)
        .await?
        .ok_or(LocalError::NoGateway { network })?;
    Ok((
        Some(gateway),
        internal
            .into_iter()
            .map(|(n, port)| (n.clone(), SocketAddr::new(gateway, port)))
            .collect(),
    ))
}

/// Where the environment's proxy listens, when it answers.
pub async fn running_proxy(state_dir: &Path) -> Option<SocketAddr> {
    match ProxyClient::new(state_dir).send(&Command::Ping).await {
        Ok(Answer::Pong { listen, .. }) => Some(listen),
        _ => None,
    }
}

/// Waits (bounded: 5 s) for a stopped proxy to let go of its control socket.
pub async fn wait_proxy_gone(state_dir: &Path) {
    for _ in 0..100 {
        if !state_dir.join("proxy.sock").exists() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The proxy's limits as the manifest sets them.
pub fn limits(l: &ProxyLimits) -> Limits {
    Limits {
        header_read: std::time::Duration::from_millis(l.idle_timeout.as_millis()),
        max_header_bytes: l.max_header_bytes as usize,
        max_connections: l.max_connections as usize,
    }
}

/// Makes sure the environment's proxy runs with `limits`; starts `wharf local serve` (this
/// executable) detached if not.
pub async fn ensure_proxy(
    state_dir: &Path,
    listen: &str,
    limits: &Limits,
    internal: &[(String, SocketAddr)],
) -> Result<SocketAddr, LocalError> {
    let client = ProxyClient::new(state_dir);
    let sorted = |v: &[(String, SocketAddr)]| {
        let mut v = v.to_vec();
        v.sort();
        v
    };
    if let Ok(Answer::Pong {
        listen: now,
        limits: theirs,
        internal: served,
        ..
    }) = client.send(&Command::Ping).await
    {
        match listen.parse::<SocketAddr>() {
            // The manifest's `listen` changed: move the proxy there (its routes are saved and
            // restored; the containers are not touched), unless the new address is taken.
            Ok(want) if want != now && want.port() != 0 => {
                if let Err(source) = std::net::TcpListener::bind(want) {
                    return Err(LocalError::Daemon(DaemonError::Listen {
                        addr: listen.to_owned(),
                        source,
                    }));
                }
                let _ = client.send(&Command::Shutdown).await;
                wait_proxy_gone(state_dir).await;
            }
            // The limits or the internal services changed: the proxy starts again with
            // them, on the same address.
            _ if theirs.as_ref() != Some(limits) || sorted(&served) != sorted(internal) => {
                let _ = client.send(&Command::Shutdown).await;
                wait_proxy_gone(state_dir).await;
            }
            _ => return Ok(now),
        }
    }
    let write = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LocalError::Write { path, source }
    };
    crate::statedir::prepare(state_dir)?;
    let log_path = state_dir.join("proxy.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(write(&log_path))?;
    let exe = std::env::current_exe().map_err(|e| LocalError::ProxyStart {
        status: format!("cannot find the wharf executable: {e}"),
        log: String::new(),
    })?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["local", "serve", "--state-dir"])
        .arg(state_dir)
        .args(["--listen", listen])
        .args([
            "--idle-timeout-ms",
            &limits.header_read.as_millis().to_string(),
        ])
        .args(["--max-header-bytes", &limits.max_header_bytes.to_string()])
        .args(["--max-connections", &limits.max_connections.to_string()])
        .args(
            internal
                .iter()
                .flat_map(|(n, a)| ["--internal".to_owned(), format!("{n}={a}")]),
        )
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().map_err(write(&log_path))?)
        .stderr(log);
    {
        use std::os::unix::process::CommandExt;
        // Its own process group: it outlives this command and the terminal's Ctrl-C.
        cmd.process_group(0);
    }
    let mut child = cmd.spawn().map_err(|e| LocalError::ProxyStart {
        status: e.to_string(),
        log: String::new(),
    })?;
    let _ = std::fs::write(state_dir.join("proxy.pid"), child.id().to_string());
    for _ in 0..100 {
        if let Ok(Answer::Pong { listen, .. }) = client.send(&Command::Ping).await {
            return Ok(listen);
        }
        if let Ok(Some(status)) = child.try_wait() {
            let tail = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(8).collect();
            return Err(LocalError::ProxyStart {
                status: status.to_string(),
                log: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(LocalError::ProxyStart {
        status: "not answering after 10s".into(),
        log: log_path.display().to_string(),
    })
}

/// A warning when the environment's secrets file can be read (or written) by other users
/// than its owner, with the fix.
pub fn secrets_exposed(manifest: &Manifest, env: &Environment) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let file = env.local()?.secrets_file.as_ref()?;
    let path = manifest.root.join(file);
    let mode = std::fs::metadata(&path).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "the secrets file {} is open to other users (mode {mode:o}): run `chmod 600 {}`",
            path.display(),
            path.display()
        )
    })
}

/// `KEY=value` lines (`ssm:/path=value`), comments and blank lines ignored.
pub fn read_secrets(
    manifest: &Manifest,
    local: &LocalEnv,
) -> Result<HashMap<String, String>, LocalError> {
    let Some(file) = &local.secrets_file else {
        return Ok(HashMap::new());
    };
    let path = manifest.root.join(file);
    let text = std::fs::read_to_string(&path).map_err(|source| LocalError::Secrets {
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

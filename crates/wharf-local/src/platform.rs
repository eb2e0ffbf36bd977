//! A local environment as a whole: `up` starts its proxy, `down` removes what wharf made for
//! it (labelled containers and images, its network, the proxy, the state dir). It has no
//! stacks: `recover`, `plan --remote` and `validate --remote` say so.

use std::fmt;

use serde::Serialize;
use wharf_engine::{Confirm, Mode, Platform, Verdict};
use wharf_manifest::{Environment, Manifest, Names};

use crate::daemon::{Command, ProxyClient};
use crate::open::{local_env, state_dir, wait_proxy_gone, LocalError};
use crate::target::LocalTarget;
use wharf_docker::{Docker, LABEL_APP, LABEL_ENV};

/// A local environment of a manifest.
pub struct LocalPlatform<'m> {
    pub manifest: &'m Manifest,
    pub env: &'m Environment,
}

/// What `up` did.
#[derive(Debug, Serialize)]
pub struct Up {
    pub environment: String,
    pub url: String,
    pub state_dir: String,
}

impl fmt::Display for Up {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "environment {} is up: wharf's proxy answers on {}",
            self.environment, self.url
        )?;
        writeln!(
            f,
            "state in {}; next: wharf deploy --env {}",
            self.state_dir, self.environment
        )
    }
}

/// What `down` removed.
#[derive(Debug, Serialize, Default)]
pub struct Down {
    pub environment: String,
    pub containers: usize,
    pub images: usize,
    pub proxy_stopped: bool,
    /// Files in the state dir that wharf did not make, left where they are (with the dir).
    pub kept: Vec<String>,
}

impl fmt::Display for Down {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "environment {} is down: {} container(s) and {} image(s) removed{}",
            self.environment,
            self.containers,
            self.images,
            if self.proxy_stopped {
                ", proxy stopped"
            } else {
                ""
            }
        )?;
        if !self.kept.is_empty() {
            writeln!(
                f,
                "kept the state dir: it holds {} file(s) wharf did not make: {}",
                self.kept.len(),
                self.kept.join(", ")
            )?;
        }
        Ok(())
    }
}

/// The files wharf makes in a state dir: the proxy's, the state database's (SQLite's WAL
/// companions too), the daemon's schedules. `down` removes these, the `.log` files of
/// [`JOB_LOGS`], the kept evidence of [`crate::evidence`], and nothing else.
pub const STATE_FILES: &[&str] = &[
    "proxy.sock",
    "proxy.json",
    "proxy.json.tmp",
    "proxy.json.good",
    "proxy.pid",
    "proxy.log",
    "access.log",
    "state.db",
    "state.db-wal",
    "state.db-shm",
    "state.db-journal",
    "schedules.json",
];

/// The directory of scheduled runs' logs (`{job}.log`) in a state dir.
pub const JOB_LOGS: &str = "jobs";

/// Removes wharf's files from `dir`, then `dir` if it is empty; returns what else it holds.
fn remove_state(dir: &std::path::Path) -> Result<Vec<String>, LocalError> {
    let write = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| LocalError::Write { path, source }
    };
    if !dir.exists() {
        return Ok(Vec::new());
    }
    for name in STATE_FILES {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(write(&path)(e)),
            _ => {}
        }
    }
    let logs = dir.join(JOB_LOGS);
    if let Ok(entries) = std::fs::read_dir(&logs) {
        for e in entries.filter_map(|e| e.ok()) {
            if e.file_name().to_string_lossy().ends_with(".log") {
                std::fs::remove_file(e.path()).map_err(write(&e.path()))?;
            }
        }
        // Kept when it holds anything else.
        let _ = std::fs::remove_dir(&logs);
    }
    crate::evidence::remove_all(dir).map_err(write(&dir.join(crate::evidence::EVIDENCE)))?;
    let mut kept: Vec<String> = std::fs::read_dir(dir)
        .map_err(write(dir))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    kept.sort();
    if kept.is_empty() {
        std::fs::remove_dir(dir).map_err(write(dir))?;
    }
    Ok(kept)
}

/// Never produced: what a local environment cannot do is an error.
#[derive(Debug, Serialize)]
pub enum Never {}

impl fmt::Display for Never {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

impl LocalPlatform<'_> {
    fn not_aws(&self, what: &'static str) -> LocalError {
        LocalError::NotAws {
            env: self.env.name.clone(),
            what,
        }
    }
}

impl<'m> Platform for LocalPlatform<'m> {
    type Target = LocalTarget;
    type Error = LocalError;
    type Up = Up;
    type Down = Down;
    type Recovered = Never;
    type Preview = Never;
    type Preflight = Never;

    async fn target(&self, mode: Mode) -> Result<LocalTarget, LocalError> {
        LocalTarget::open(self.manifest, self.env, mode).await
    }

    async fn up(&self, _allow_replace: bool) -> Result<Up, LocalError> {
        let dir = state_dir(self.manifest, local_env(self.env)?);
        // Everything a deploy needs: Docker, the proxy, the state, the secrets file.
        let target = LocalTarget::open(self.manifest, self.env, Mode::Act).await?;
        Ok(Up {
            environment: self.env.name.clone(),
            url: wharf_engine::Target::url(&target).unwrap_or_default(),
            state_dir: dir.display().to_string(),
        })
    }

    async fn down(&self, _purge: bool, _confirm: Confirm<'_>) -> Result<Down, LocalError> {
        let (m, env) = (self.manifest, self.env);
        let dir = state_dir(m, local_env(env)?);
        let mut out = Down {
            environment: env.name.clone(),
            ..Down::default()
        };
        out.proxy_stopped = ProxyClient::new(&dir)
            .send(&Command::Shutdown)
            .await
            .is_ok();
        let docker = Docker::connect().await?;
        let labels = [
            (LABEL_APP, m.app.name.as_str()),
            (LABEL_ENV, env.name.as_str()),
        ];
        for c in docker.list(&labels).await? {
            docker.stop_and_remove(&c.id, 10).await?;
            out.containers += 1;
        }
        for image in docker.images(&labels).await? {
            docker.remove_image(&image).await?;
            out.images += 1;
        }
        docker
            .remove_network(&Names::new(&m.app.name, &env.name).network())
            .await?;
        // The proxy lets go of its files (bounded), then wharf's own files go, and the dir
        // with them when nothing else is in it.
        wait_proxy_gone(&dir).await;
        out.kept = remove_state(&dir)?;
        Ok(out)
    }

    async fn recover(&self, _confirm: Confirm<'_>) -> Result<Never, LocalError> {
        Err(self.not_aws("recover"))
    }

    async fn preview(&self) -> Result<Never, LocalError> {
        Err(self.not_aws("plan --remote"))
    }

    async fn preflight(
        &self,
        _progress: &(dyn Fn(&str) + Sync),
    ) -> Result<(Never, Verdict), LocalError> {
        Err(self.not_aws("validate --remote"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!(
            "wharf-state-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn rand_suffix() -> u128 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    }

    #[test]
    fn down_removes_wharfs_files_and_keeps_everything_else() {
        let d = dir();
        for f in ["state.db", "state.db-wal", "proxy.json", "proxy.log"] {
            std::fs::write(d.join(f), "x").unwrap();
        }
        std::fs::write(d.join("main.rs"), "fn main() {}").unwrap();
        std::fs::create_dir(d.join("src")).unwrap();
        let kept = remove_state(&d).unwrap();
        assert_eq!(kept, ["main.rs", "src"]);
        assert!(d.join("main.rs").exists() && d.join("src").is_dir());
        assert!(!d.join("state.db").exists() && !d.join("proxy.json").exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn down_removes_a_state_dir_holding_only_wharfs_files() {
        let d = dir();
        for f in STATE_FILES {
            std::fs::write(d.join(f), "x").unwrap();
        }
        assert!(remove_state(&d).unwrap().is_empty());
        assert!(!d.exists());
        assert!(
            remove_state(&d).unwrap().is_empty(),
            "a second down is fine"
        );
    }
}

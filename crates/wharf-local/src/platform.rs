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
        )
    }
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

    async fn up(&self) -> Result<Up, LocalError> {
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
        // The proxy lets go of its files (bounded), then the state dir goes.
        wait_proxy_gone(&dir).await;
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|source| LocalError::Write {
                path: dir.clone(),
                source,
            })?;
        }
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

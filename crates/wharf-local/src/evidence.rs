//! The local target's evidence for `wharf diagnose`. A container that stopped is replaced (and
//! removed) by the next health look, as ECS's scheduler does; what it said on its way out — why
//! it stopped, its health check's failures, its last lines — is kept first in
//! `{state_dir}/evidence/{deployment}.json`, as ECS keeps stopped tasks for a while. `down`
//! removes the directory's files.

use std::path::PathBuf;

use wharf_docker::Container;
use wharf_engine::{Clock, Clue, Source, SystemClock, TargetError};

use crate::target::LocalTarget;

/// The directory of kept evidence in a state dir.
pub const EVIDENCE: &str = "evidence";
/// Lines of a stopped container's log kept.
const LOG_LINES_KEPT: u32 = 20;
/// Clues kept per deployment (the latest).
const KEPT: usize = 200;

impl LocalTarget {
    /// Why the deployment's containers stopped, as this process saw them replaced.
    pub(crate) fn stop_reasons(&self, deployment: &str) -> Vec<String> {
        self.stopped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(deployment)
            .cloned()
            .unwrap_or_default()
    }

    /// The labels of a service's containers or a job's runs' (of one deployment or run).
    pub(crate) fn source_labels<'a>(
        &'a self,
        of: wharf_engine::LogSource<'a>,
        deployment: Option<&'a str>,
    ) -> Vec<(&'static str, &'a str)> {
        let (key, name) = match of {
            wharf_engine::LogSource::Service(s) => (wharf_docker::LABEL_SERVICE, s.name.as_str()),
            wharf_engine::LogSource::Job(j) => (wharf_docker::LABEL_JOB, j.name.as_str()),
        };
        let mut labels = vec![
            (wharf_docker::LABEL_APP, self.app.as_str()),
            (wharf_docker::LABEL_ENV, self.env.as_str()),
            (key, name),
        ];
        if let Some(d) = deployment {
            labels.push((wharf_docker::LABEL_DEPLOYMENT, d));
        }
        labels
    }

    fn evidence_path(&self, deployment: &str) -> PathBuf {
        self.state_dir()
            .join(EVIDENCE)
            .join(format!("{deployment}.json"))
    }

    fn kept_evidence(&self, deployment: &str) -> Vec<Clue> {
        std::fs::read(self.evidence_path(deployment))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Before a stopped container is removed: keeps why it stopped, its health check's
    /// failures and its last lines. Answers why it stopped.
    pub(crate) async fn keep_evidence(&self, deployment: &str, c: &Container) -> String {
        let state = self.docker.state(&c.id).await;
        let reason = state
            .stopped
            .clone()
            .unwrap_or_else(|| "stopped".to_owned());
        let mut clues = vec![Clue::new(Source::Stopped, reason.clone())
            .task(&c.name)
            .at(Some(SystemClock.now_ms()))];
        clues.extend(
            state
                .health_failures
                .iter()
                .map(|h| Clue::new(Source::ContainerHealth, h.clone()).task(&c.name)),
        );
        let _ = self
            .docker
            .logs(
                std::slice::from_ref(c),
                false,
                Some(LOG_LINES_KEPT),
                None,
                |name, ts, line| clues.push(Clue::new(Source::Log, line).task(name).at(ts)),
            )
            .await;
        let mut all = self.kept_evidence(deployment);
        all.extend(clues);
        let excess = all.len().saturating_sub(KEPT);
        all.drain(..excess);
        // Evidence is a help, not a duty: a write that fails loses only it.
        let _ = self.write_evidence(deployment, &all);
        reason
    }

    fn write_evidence(&self, deployment: &str, clues: &[Clue]) -> std::io::Result<()> {
        let path = self.evidence_path(deployment);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension(format!("json.{}.tmp", std::process::id()));
        std::fs::write(&tmp, serde_json::to_vec(clues).unwrap_or_default())?;
        std::fs::rename(&tmp, &path)
    }

    /// What the stopped containers left, and what Docker says of the deployment's containers
    /// now: exited ones not yet replaced, running ones their health check calls unhealthy.
    pub(crate) async fn evidence_of(&self, deployment: &str) -> Result<Vec<Clue>, TargetError> {
        let mut out = self.kept_evidence(deployment);
        let mut add = |c: Clue| {
            if !out.iter().any(|o| o.text == c.text && o.task == c.task) {
                out.push(c);
            }
        };
        for c in self.deployment_containers(deployment).await? {
            let state = self.docker.state(&c.id).await;
            if let Some(r) = state.stopped {
                add(Clue::new(Source::Stopped, r).task(&c.name));
            }
            if state.unhealthy {
                add(Clue::new(Source::ContainerHealth, "the container is unhealthy").task(&c.name));
            }
            for h in state.health_failures {
                add(Clue::new(Source::ContainerHealth, h).task(&c.name));
            }
        }
        for r in self.stop_reasons(deployment) {
            if !out.iter().any(|o| o.text == r) {
                out.push(Clue::new(Source::Stopped, r));
            }
        }
        Ok(out)
    }
}

/// Removes the kept evidence of every deployment from a state dir (`down`).
pub fn remove_all(state_dir: &std::path::Path) -> std::io::Result<()> {
    let dir = state_dir.join(EVIDENCE);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(());
    };
    for e in entries.filter_map(|e| e.ok()) {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") || name.ends_with(".tmp") {
            std::fs::remove_file(e.path())?;
        }
    }
    // Kept when it holds anything else.
    let _ = std::fs::remove_dir(&dir);
    Ok(())
}

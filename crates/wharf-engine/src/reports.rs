//! What a target reports and takes besides records: its errors, the health and request
//! counts of a deployment, a service's routes, a built image, log queries and lines, and the
//! deployment lock.

use serde::{Deserialize, Serialize};

use wharf_manifest::{Job, Service};

use crate::holder::Holder;

/// A failure of a target operation, already explained for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{message}")]
pub struct TargetError {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    /// A transient failure (throttling, a connection reset): worth retrying.
    #[serde(default)]
    pub transient: bool,
    /// The cloud provider's API refused the call or could not be reached (the CLI's exit
    /// code 8), as opposed to a failure of the deployment itself.
    #[serde(default)]
    pub cloud: bool,
}

impl TargetError {
    pub fn new(message: impl Into<String>) -> Self {
        TargetError {
            message: message.into(),
            help: None,
            transient: false,
            cloud: false,
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}

/// A stored record that does not read as one: skipped by `status` and `history`, named in
/// their warnings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unreadable {
    pub service: String,
    pub id: String,
    pub error: String,
}

impl std::fmt::Display for Unreadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the record {} of {} does not read: {}",
            self.id, self.service, self.error
        )
    }
}

/// Health of a deployment's tasks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Tasks running.
    pub running: u32,
    /// Targets passing health checks.
    pub healthy: u32,
    /// Why tasks stopped since the deployment started (exit codes, OOM, failed pulls),
    /// newest last. Their count never decreases.
    pub stopped: Vec<String>,
    /// The runtime itself gave the deployment up (ECS's circuit breaker): no point waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    /// The deployment's alarms in ALARM state, each with its reason (the alarm gate fails).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<String>,
}

/// Requests served by a deployment over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requests {
    pub total: u64,
    pub errors_5xx: u64,
}

impl Requests {
    pub fn error_percent(self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.errors_5xx as f64 * 100.0 / self.total as f64
        }
    }
}

/// How a service's traffic is routed now, as the runtime has it (what `status` shows).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Routes {
    /// The default split: `(deployment, percent)`.
    pub weights: Vec<(String, u32)>,
    /// The deployment requests with the test header reach, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
}

impl Routes {
    /// The deployment's share of the default traffic (None: not in the split).
    pub fn weight(&self, deployment: &str) -> Option<u32> {
        self.weights
            .iter()
            .find(|(d, _)| d == deployment)
            .map(|(_, w)| *w)
    }
}

/// The image a deployment runs: a reference, and its digest when a registry pinned one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The platform its tasks must run on (`linux/arm64`): what the built image is, or the
    /// manifest's `platform` for a prebuilt one; `None` leaves it to the runtime's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
}

impl Image {
    /// An image used as the manifest names it, with no digest pinned.
    pub fn unpinned(reference: impl Into<String>) -> Image {
        Image {
            reference: reference.into(),
            digest: None,
            platform: None,
        }
    }

    /// What a task runs: the repository with the digest when one is pinned (whatever tag the
    /// reference had), else the reference as it is.
    pub fn pinned(&self) -> String {
        match &self.digest {
            Some(d) => format!(
                "{}@{d}",
                self.reference
                    .rsplit_once(':')
                    .filter(|(repo, tag)| !tag.contains('/') && !repo.contains('@'))
                    .map_or(self.reference.as_str(), |(repo, _)| repo)
            ),
            None => self.reference.clone(),
        }
    }
}

/// Whose logs `wharf logs` reads.
#[derive(Debug, Clone, Copy)]
pub enum LogSource<'a> {
    Service(&'a Service),
    /// A job's runs' tasks.
    Job(&'a Job),
}

impl LogSource<'_> {
    pub fn name(&self) -> &str {
        match self {
            LogSource::Service(s) => &s.name,
            LogSource::Job(j) => &j.name,
        }
    }
}

/// Which logs `wharf logs` reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogQuery<'a> {
    /// Only this deployment's tasks (a job: this run's).
    pub deployment: Option<&'a str>,
    /// Only this task (its id, or the end of it; a container's name locally).
    pub task: Option<&'a str>,
    /// Keep reading new lines (until the user interrupts).
    pub follow: bool,
    /// Only the last lines, merged across tasks (None: every line since `since_ms`).
    pub tail: Option<u32>,
    /// Only lines from this moment (ms since the epoch) on.
    pub since_ms: Option<i64>,
    /// Only lines containing this text.
    pub grep: Option<&'a str>,
}

impl LogQuery<'_> {
    /// Whether a line passes the `grep` filter.
    pub fn keeps(&self, line: &str) -> bool {
        self.grep.is_none_or(|g| line.contains(g))
    }
}

/// One line of a task's log, with the task (container) it came from and when it was written.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LogLine<'a> {
    #[serde(rename = "container")]
    pub source: &'a str,
    pub line: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp_ms: Option<i64>,
}

/// What a retiring deployment said to the drain POST: how many tasks ran, and which of them
/// answered it (by the id they gave).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drained {
    pub tasks: u32,
    pub acknowledged: Vec<String>,
}

impl std::fmt::Display for Drained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} of {} task{} acknowledged the drain",
            self.acknowledged.len(),
            self.tasks,
            if self.tasks == 1 { "" } else { "s" }
        )?;
        if !self.acknowledged.is_empty() {
            write!(f, " ({})", self.acknowledged.join(", "))?;
        }
        Ok(())
    }
}

/// A held deployment lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lock {
    pub service: String,
    pub holder: Holder,
    pub acquired_ms: i64,
    pub expires_ms: i64,
}

//! What wharf remembers of a job's runs: one [`RunRecord`] per run, saved in the target's
//! [`Store`](crate::Store) when the task starts and again when it ends, whoever started it
//! (`wharf run`, a deploy hook, the local daemon's schedule). `status` shows each job's last.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::job::RunEnd;

/// Who started a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum Trigger {
    /// `wharf run`.
    Manual,
    /// The job's schedule.
    Schedule,
    /// A deployment's hook.
    Hook {
        service: String,
        deployment: String,
        hook: String,
    },
    /// Found on the runtime, started by nothing wharf recorded (a schedule on AWS, the ECS
    /// console).
    Runtime,
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Trigger::Manual => f.write_str("wharf run"),
            Trigger::Schedule => f.write_str("its schedule"),
            Trigger::Hook {
                service,
                deployment,
                hook,
            } => write!(f, "the {hook} hook of {service} {deployment}"),
            Trigger::Runtime => f.write_str("the runtime"),
        }
    }
}

/// One run of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub job: String,
    pub run: String,
    pub trigger: Trigger,
    /// The runtime's task (a container, a task ARN).
    pub task: String,
    pub image: String,
    pub started_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_ms: Option<i64>,
    /// How it ended; None while it runs, or when the run was left running (`--detach`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<RunEnd>,
}

impl fmt::Display for RunRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} by {}: ",
            wharf_manifest::names::utc(self.started_ms),
            self.trigger
        )?;
        match (&self.end, self.ended_ms) {
            (Some(end), Some(ended)) => write!(
                f,
                "{end}, after {:.0}s",
                (ended - self.started_ms) as f64 / 1000.0
            ),
            (Some(end), None) => write!(f, "{end}"),
            (None, _) => write!(
                f,
                "no end recorded (it runs, or was left running) as {}",
                self.task
            ),
        }
    }
}

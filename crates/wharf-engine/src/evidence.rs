//! What a runtime can tell about a deployment going wrong, as lines `wharf diagnose` reads:
//! why tasks stopped, the scheduler's events, the load balancer's health reasons, alarms,
//! failed stack resources, the tasks' last log lines. Each line says where it came from and,
//! where the runtime says, when.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::target::Health;

/// Where a line of evidence comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// Why a task (a container) stopped: stop code, reason, exit code, OOM.
    Stopped,
    /// The scheduler's own events (ECS service events).
    Event,
    /// The load balancer's (or wharf's proxy's) reason for a target failing its checks.
    TargetHealth,
    /// The container's own health check (its command's output).
    ContainerHealth,
    /// An alarm in ALARM, with its reason.
    Alarm,
    /// The runtime gave the deployment up (ECS's circuit breaker).
    Runtime,
    /// A failed CloudFormation resource of the environment, with its reason.
    Stack,
    /// A line the tasks wrote.
    Log,
    /// The deployment's record: the gate or step that failed.
    Record,
    /// A setting the runtime has that the manifest does not agree with (ports, platform).
    Setting,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::Stopped => "stopped task",
            Source::Event => "service event",
            Source::TargetHealth => "target health",
            Source::ContainerHealth => "container health check",
            Source::Alarm => "alarm",
            Source::Runtime => "runtime",
            Source::Stack => "stack",
            Source::Log => "log",
            Source::Record => "record",
            Source::Setting => "setting",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One line of evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clue {
    pub source: Source,
    pub text: String,
    /// When the runtime saw it (ms since the epoch), where it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<i64>,
    /// The task (container) it is about, where there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
}

impl Clue {
    pub fn new(source: Source, text: impl Into<String>) -> Clue {
        Clue {
            source,
            text: text.into(),
            at_ms: None,
            task: None,
        }
    }

    pub fn at(mut self, at_ms: Option<i64>) -> Clue {
        self.at_ms = at_ms;
        self
    }

    pub fn task(mut self, task: impl Into<String>) -> Clue {
        self.task = Some(task.into());
        self
    }
}

impl fmt::Display for Clue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.task {
            Some(t) => write!(f, "{} [{}]: {}", self.source, short_task(t), self.text),
            None => write!(f, "{}: {}", self.source, self.text),
        }
    }
}

/// A task's short name: the last part of an ARN.
pub fn short_task(task: &str) -> &str {
    task.rsplit('/').next().unwrap_or(task)
}

/// What a deployment's health says: its stop reasons, the runtime giving it up, its alarms.
/// The evidence of a target that has nothing more to add.
pub fn from_health(h: &Health) -> Vec<Clue> {
    let mut out: Vec<Clue> = Vec::new();
    for s in &h.stopped {
        if !out.iter().any(|c| c.text == *s) {
            out.push(Clue::new(Source::Stopped, s.clone()));
        }
    }
    out.extend(
        h.failed
            .iter()
            .map(|f| Clue::new(Source::Runtime, f.clone())),
    );
    out.extend(h.alarms.iter().map(|a| Clue::new(Source::Alarm, a.clone())));
    out
}

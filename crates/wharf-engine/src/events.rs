//! What the engine reports while it works. The CLI renders these as a live view on a terminal,
//! plain lines elsewhere, or JSON lines; the engine itself never prints.

use std::fmt;
use std::sync::Mutex;

use serde::Serialize;

use crate::record::Record;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    Started {
        id: String,
        service: String,
        strategy: String,
        previous: Option<String>,
        steps: Vec<String>,
    },
    Resumed {
        id: String,
        step: String,
    },
    Step {
        id: String,
        index: usize,
        total: usize,
        step: String,
    },
    /// A bounded wait, repeated while it lasts.
    Waiting {
        id: String,
        what: String,
        elapsed_ms: i64,
        limit_ms: i64,
    },
    Health {
        id: String,
        healthy: u32,
        running: u32,
        wanted: u32,
    },
    Weights {
        weights: Vec<(String, u32)>,
    },
    Gate {
        id: String,
        gate: String,
        value: f64,
        threshold: f64,
        requests: u64,
    },
    AwaitingApproval {
        id: String,
    },
    RollingBack {
        id: String,
        reason: String,
    },
    Retired {
        id: String,
    },
    /// A retiring deployment's tasks were told to drain.
    Drained {
        id: String,
        drained: crate::reports::Drained,
    },
    Finished {
        id: String,
        outcome: String,
        reason: Option<String>,
    },
    /// The lock of a process of this machine that no longer runs was released.
    LockReleased {
        service: String,
        holder: String,
    },
    /// What a target is doing for a service outside the steps: building, pushing, scanning.
    Progress {
        service: String,
        message: String,
    },
    /// A job's task started.
    JobStarted {
        job: String,
        run: String,
        task: String,
        image: String,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Started {
                id,
                service,
                strategy,
                previous,
                steps,
            } => write!(
                f,
                "{id}: deploying {service} ({strategy}{}), {} steps",
                previous
                    .as_ref()
                    .map(|p| format!(", replacing {p}"))
                    .unwrap_or_default(),
                steps.len()
            ),
            Event::Resumed { id, step } => write!(f, "{id}: resuming at {step}"),
            Event::Step {
                id,
                index,
                total,
                step,
            } => write!(f, "{id}: [{}/{total}] {step}", index + 1),
            Event::Waiting {
                id,
                what,
                elapsed_ms,
                limit_ms,
            } => {
                write!(
                    f,
                    "{id}: waiting for {what} ({}s of at most {}s)",
                    elapsed_ms / 1000,
                    limit_ms / 1000
                )
            }
            Event::Health {
                id,
                healthy,
                running,
                wanted,
            } => write!(f, "{id}: {healthy}/{wanted} healthy ({running} running)"),
            Event::Weights { weights } => {
                let parts: Vec<String> = weights.iter().map(|(d, p)| format!("{d} {p}%")).collect();
                write!(
                    f,
                    "traffic: {}",
                    if parts.is_empty() {
                        "none".into()
                    } else {
                        parts.join(", ")
                    }
                )
            }
            Event::Gate {
                id,
                gate,
                value,
                threshold,
                requests,
            } => {
                write!(
                    f,
                    "{id}: {gate} {value:.2} (limit {threshold:.2}, {requests} requests)"
                )
            }
            Event::AwaitingApproval { id } => write!(
                f,
                "{id}: awaiting approval: `wharf promote` to continue, `wharf abort` to roll back"
            ),
            Event::RollingBack { id, reason } => write!(f, "{id}: rolling back: {reason}"),
            Event::Retired { id } => write!(f, "{id}: drained and removed"),
            Event::Drained { id, drained } => write!(f, "{id}: {drained}"),
            Event::Finished {
                id,
                outcome,
                reason,
            } => {
                write!(
                    f,
                    "{id}: {outcome}{}",
                    reason
                        .as_ref()
                        .map(|r| format!(": {r}"))
                        .unwrap_or_default()
                )
            }
            Event::LockReleased { service, holder } => write!(
                f,
                "{service}: released the lock of {holder}, which no longer runs"
            ),
            Event::Progress { service, message } => write!(f, "{service}: {message}"),
            Event::JobStarted {
                job,
                run,
                task,
                image,
            } => write!(f, "{job}: run {run} started as {task} ({image})"),
        }
    }
}

/// Receives the engine's events.
pub trait EventSink: Send + Sync {
    fn emit(&self, event: Event);
}

/// Drops every event.
pub struct Discard;

impl EventSink for Discard {
    fn emit(&self, _: Event) {}
}

/// Keeps every event (tests, and `--output json` summaries).
#[derive(Default)]
pub struct Collect(pub Mutex<Vec<Event>>);

impl EventSink for Collect {
    fn emit(&self, event: Event) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(event);
    }
}

impl Collect {
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

pub(crate) fn started(r: &Record) -> Event {
    Event::Started {
        id: r.id.clone(),
        service: r.service.clone(),
        strategy: r.strategy.to_string(),
        previous: r.previous.clone(),
        steps: r.steps.iter().map(ToString::to_string).collect(),
    }
}

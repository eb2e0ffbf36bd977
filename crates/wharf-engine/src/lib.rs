//! The deployment engine, target-neutral: it knows nothing of Docker or AWS.
//!
//! - [`plan`]: each strategy (rolling, canary, linear, blue-green, affinity) compiles to an
//!   explicit list of steps: hooks, provisioning, the health gate, test route and smoke checks,
//!   traffic shifts, bakes under the alarm gate, approval, retiring the previous deployment.
//! - [`controller`]: the one place where transitions happen. It holds the service's lock,
//!   persists the [`record`] after every step (so a killed `wharf` resumes or aborts from it),
//!   and rolls back by itself — traffic first, then the failed deployment is removed.
//! - `gates`: the bounded health wait, the alarm gate, shifts, retiring and rolling back,
//!   used by the controller.
//! - [`gc`]: leftovers no serving deployment needs, found and removed.
//! - [`holder`]: who holds a lock, and whether that process is gone.
//! - [`hooks`]: lifecycle hooks, the user's commands, run alike for every target.
//! - [`job`]: one-off tasks run to their end: their image, start, logs, timeout, how they ended.
//! - [`runs`]: what wharf remembers of a job's runs; [`schedules`]: jobs' schedules made
//!   to match the manifest.
//! - [`smoke`]: the one smoke check every target runs.
//! - [`target`]: what a runtime provides; [`sim`] is a deterministic one with a fake clock.
//! - [`notify`]: deployment notices posted to a webhook and published to an SNS topic.
//! - [`platform`]: an environment as a whole (`up`, `down`, `recover`), opening its target.
//! - [`view`]: `status` and `history`, read through the trait alone.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod controller;
pub mod error;
pub mod events;
pub mod evidence;
pub mod exec;
mod gates;
pub mod gc;
pub mod holder;
pub mod hooks;
pub mod job;
mod locking;
pub mod notify;
pub mod plan;
pub mod platform;
pub mod record;
mod reports;
mod rollback;
pub mod runs;
pub mod schedules;
pub mod sim;
pub mod smoke;
pub mod target;
pub mod view;

pub use controller::{live, Engine, Options, Request};
pub use error::EngineError;
pub use events::{Collect, Discard, Event, EventSink};
pub use evidence::{Clue, Source};
pub use exec::{ExecRequest, Session};
pub use gc::Collected;
pub use holder::Holder;
pub use job::{JobSpec, JobTask, RunEnd, Runner, Started};
pub use notify::{Notice, Notifier};
pub use plan::{plan, plan_for, HookKind, Step};
pub use platform::{Before, Confirm, Mode, Platform, Verdict};
pub use record::{Ask, Mark, Outcome, Record, Status};
pub use runs::{RunRecord, Trigger};
pub use schedules::{ScheduleSpec, Scheduled, Synced};
pub use target::{
    Clock, Drained, Health, Image, Lock, LogLine, LogQuery, LogSource, Requests, Routes, Store,
    SystemClock, Target, TargetError, Unreadable,
};
pub use view::{DeploymentStatus, EnvStatus, History, JobStatus, ServiceStatus};

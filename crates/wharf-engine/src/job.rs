//! Jobs: one-off tasks run to their end. What a runtime provides for them is in [`Target`]
//! (`job_image`, `start_job`, `follow_job`, `stop_job`); what every target shares is here: the
//! image a job runs, a run's id, and [`Runner`], which starts the task, streams its logs, stops
//! it at the job's timeout and says how it ended.

use std::fmt;

use serde::{Deserialize, Serialize};
use wharf_manifest::{Job, JobImage, Names};

use crate::controller::target_err;
use crate::controller::{live, Engine};
use crate::error::EngineError;
use crate::events::{Event, EventSink};
use crate::plan::HookKind;
use crate::runs::{RunRecord, Trigger};
use crate::target::{Clock, Image, LogLine, Target};
use crate::Record;

/// How long a stopped task gets to report its end after `stop_job` (its stop timeout, the
/// runtime's SIGKILL and the last log lines), beyond which the run ends without it.
pub const STOP_GRACE_MS: u64 = 120_000;

/// What to run: a job, as one run.
#[derive(Debug, Clone)]
pub struct JobSpec<'a> {
    pub job: &'a Job,
    /// The run's id ([`run_id`]): it names and labels the task.
    pub run: &'a str,
    pub image: &'a str,
    /// The platform the image is for ([`Image::platform`]).
    pub platform: Option<&'a str>,
    /// Replaces the job's command (`wharf run JOB -- ARGS`).
    pub command: Option<Vec<String>>,
    /// Set beside the job's own env: `WHARF_RUN_ID`, and for a hook `DEPLOYMENT_ID`,
    /// `WHARF_SERVICE` and `WHARF_HOOK`.
    pub env: Vec<(String, String)>,
    /// Who starts the run (what its record says).
    pub trigger: Trigger,
}

/// A started run: its task, and its record as saved.
#[derive(Debug, Clone)]
pub struct Started {
    pub task: JobTask,
    pub record: RunRecord,
}

/// A started run's task, as the runtime calls it (a container id, a task ARN).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobTask {
    pub id: String,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunEnd {
    /// The container's exit code; None when it never ran to an exit (it did not start, or the
    /// runtime killed it).
    pub exit_code: Option<i32>,
    /// The runtime's word for the stop: ECS's stop code (`EssentialContainerExited`,
    /// `TaskFailedToStart`, `UserInitiated`, …) or, locally, `exited`, `oom-killed`,
    /// `stopped`; `Timeout` when wharf stopped it at the job's timeout.
    pub stop_code: String,
    /// Why, in the runtime's words.
    pub reason: String,
    /// What to do about it, for a failure wharf recognises.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl RunEnd {
    /// The run did what it was for: its container exited 0.
    pub fn succeeded(&self) -> bool {
        self.exit_code == Some(0) && self.stop_code != TIMEOUT
    }
}

/// The stop code of a run wharf stopped at its timeout.
pub const TIMEOUT: &str = "Timeout";

impl fmt::Display for RunEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.exit_code {
            Some(c) if self.stop_code == TIMEOUT => write!(
                f,
                "{}: {} (it exited {c} then)",
                self.stop_code, self.reason
            )?,
            Some(c) => write!(f, "exit code {c} ({}: {})", self.stop_code, self.reason)?,
            None => write!(f, "{}: {}", self.stop_code, self.reason)?,
        }
        if let Some(h) = &self.help {
            write!(f, "; {h}")?;
        }
        Ok(())
    }
}

/// A run's id: the environment and the time, like a deployment's, with a few hex digits of
/// the process and the clock so two runs started in the same second differ.
pub fn run_id(names: &Names<'_>, now_ms: i64) -> String {
    let salt = (now_ms.rem_euclid(1000) as u32).wrapping_mul(2_654_435_761) ^ std::process::id();
    format!(
        "{}-{:04x}",
        names.deployment_id(now_ms.div_euclid(1000)),
        salt & 0xffff
    )
}

/// The image a job runs: its own build (made by the target), its image as named, or a
/// service's — the deployment being made when the job is that deployment's hook, else the one
/// serving now.
pub async fn job_image<T: Target>(
    target: &T,
    job: &Job,
    run: &str,
    registry: Option<&str>,
    deploying: Option<&Record>,
    events: &dyn EventSink,
) -> Result<Image, JobImageError<T::ImageError>> {
    match &job.image {
        JobImage::Image(r) => Ok(Image::unpinned(r.as_str())),
        JobImage::Build(b) => target
            .job_image(job, b, run, registry, events)
            .await
            .map_err(JobImageError::Build),
        JobImage::Service(s) => {
            if let Some(r) = deploying.filter(|r| &r.service == s) {
                return Ok(image_of(r));
            }
            let records = target
                .list(s)
                .await
                .map_err(target_err(format!("read the records of {s}")))
                .map_err(JobImageError::Engine)?;
            match live(&records).last() {
                Some(r) => Ok(image_of(r)),
                None => Err(JobImageError::Engine(EngineError::NoServingImage {
                    job: job.name.clone(),
                    service: s.clone(),
                })),
            }
        }
    }
}

fn image_of(r: &Record) -> Image {
    Image {
        reference: r.image.clone(),
        digest: r.digest.clone(),
        platform: r.platform.clone(),
    }
}

/// Why a job's image could not be had: the target's build failed, or the engine could not
/// find the image to use.
#[derive(Debug, thiserror::Error)]
pub enum JobImageError<E: std::error::Error + 'static> {
    #[error(transparent)]
    Build(E),
    #[error(transparent)]
    Engine(EngineError),
}

/// Runs jobs on a target: start, follow to the end, stop at the timeout.
pub struct Runner<'a, T, C> {
    pub target: &'a T,
    pub clock: &'a C,
    pub events: &'a dyn EventSink,
}

impl<T: Target, C: Clock> Runner<'_, T, C> {
    /// Starts the run's task and saves its record.
    pub async fn start(&self, spec: &JobSpec<'_>) -> Result<Started, EngineError> {
        let started_ms = self.clock.now_ms();
        let task = self
            .target
            .start_job(spec)
            .await
            .map_err(target_err(format!("start job {}", spec.job.name)))?;
        self.events.emit(Event::JobStarted {
            job: spec.job.name.clone(),
            run: spec.run.to_owned(),
            task: task.id.clone(),
            image: spec.image.to_owned(),
        });
        let record = RunRecord {
            job: spec.job.name.clone(),
            run: spec.run.to_owned(),
            trigger: spec.trigger.clone(),
            task: task.id.clone(),
            image: spec.image.to_owned(),
            started_ms,
            ended_ms: None,
            end: None,
        };
        self.record(&record).await;
        Ok(Started { task, record })
    }

    /// Streams the task's logs to `line` until it ends; at the job's `timeout` (counted from
    /// its start) stops it and waits a bounded time for its end. The end is saved in the
    /// run's record.
    pub async fn finish(
        &self,
        job: &Job,
        started: &Started,
        line: &(dyn Fn(LogLine<'_>) + Sync),
    ) -> Result<RunEnd, EngineError> {
        let task = &started.task;
        let deadline = job.timeout.map(|t| {
            started
                .record
                .started_ms
                .saturating_add(t.as_millis() as i64)
        });
        let end = self
            .target
            .follow_job(job, task, deadline, line)
            .await
            .map_err(target_err(format!("follow job {}", job.name)))?;
        let end = match end {
            Some(end) => end,
            None => {
                let timeout = job.timeout.expect("only a deadline ends a follow early");
                self.events.emit(Event::Progress {
                    service: job.name.clone(),
                    message: format!("stopping {}: it ran past its timeout of {timeout}", task.id),
                });
                let ended = self.stop_task(job, task).await?;
                RunEnd {
                    exit_code: ended.as_ref().and_then(|e| e.exit_code),
                    stop_code: TIMEOUT.into(),
                    reason: format!("stopped by wharf after its timeout of {timeout}"),
                    help: Some(format!(
                        "raise `timeout` in [jobs.{}] if the job needs longer, or find out from its log why it hung",
                        job.name
                    )),
                }
            }
        };
        self.ended(started, &end).await;
        Ok(end)
    }

    /// Asks the task to stop (`wharf run` interrupted) and waits a bounded time for its end
    /// (None: it did not report one in time), saved in the run's record.
    pub async fn stop(&self, job: &Job, started: &Started) -> Result<Option<RunEnd>, EngineError> {
        let end = self.stop_task(job, &started.task).await?;
        if let Some(end) = &end {
            self.ended(started, end).await;
        }
        Ok(end)
    }

    async fn stop_task(&self, job: &Job, task: &JobTask) -> Result<Option<RunEnd>, EngineError> {
        self.target
            .stop_job(job, task)
            .await
            .map_err(target_err(format!("stop job {}", job.name)))?;
        let deadline = self.clock.now_ms() + STOP_GRACE_MS as i64;
        self.target
            .follow_job(job, task, Some(deadline), &|_| {})
            .await
            .map_err(target_err(format!("wait for job {} to stop", job.name)))
    }

    async fn ended(&self, started: &Started, end: &RunEnd) {
        let record = RunRecord {
            ended_ms: Some(self.clock.now_ms()),
            end: Some(end.clone()),
            ..started.record.clone()
        };
        self.record(&record).await;
    }

    /// Saves a run's record; a store that refuses it costs the record, not the run.
    async fn record(&self, record: &RunRecord) {
        if let Err(e) = self.target.save_run(record).await {
            self.events.emit(Event::Progress {
                service: record.job.clone(),
                message: format!(
                    "warning: the record of run {} was not saved: {e}",
                    record.run
                ),
            });
        }
    }
}

impl<T: Target, C: Clock> Engine<'_, T, C> {
    /// Runs job `name` as the `hook` of deployment `r`, inside the environment, with
    /// `DEPLOYMENT_ID`, `WHARF_SERVICE` and `WHARF_HOOK` set; a job of the deploying service's
    /// image runs the new deployment's. Err(why) when the run failed (the deployment rolls
    /// back); an error the target calls transient stops the deploy, resumable (a resumed
    /// deployment runs the job again: hook jobs must be safe to repeat, as migrations are).
    pub(crate) async fn hook_job(
        &self,
        r: &Record,
        hook: HookKind,
        name: &str,
    ) -> Result<Result<(), String>, EngineError> {
        let Some(job) = self.options.jobs.get(name) else {
            return Ok(Err(format!("job {name} is not in the manifest")));
        };
        let names = Names::new(&r.app, &r.env);
        let run = run_id(&names, self.clock.now_ms());
        let image = match job_image(self.target, job, &run, None, Some(r), self.events).await {
            Ok(i) => i,
            Err(JobImageError::Engine(e @ EngineError::Target { .. })) => return Err(e),
            Err(e) => return Ok(Err(format!("job {name} has no image: {e}"))),
        };
        let pinned = image.pinned();
        let spec = JobSpec {
            job,
            run: &run,
            image: &pinned,
            platform: image.platform.as_deref(),
            command: None,
            env: vec![
                ("WHARF_RUN_ID".into(), run.clone()),
                ("DEPLOYMENT_ID".into(), r.id.clone()),
                ("WHARF_SERVICE".into(), r.service.clone()),
                ("WHARF_HOOK".into(), hook.to_string()),
            ],
            trigger: Trigger::Hook {
                service: r.service.clone(),
                deployment: r.id.clone(),
                hook: hook.to_string(),
            },
        };
        let runner = Runner {
            target: self.target,
            clock: self.clock,
            events: self.events,
        };
        let started = runner.start(&spec).await?;
        let events = self.events;
        let end = runner
            .finish(job, &started, &|l: LogLine<'_>| {
                events.emit(Event::Progress {
                    service: name.to_owned(),
                    message: l.line.to_owned(),
                })
            })
            .await?;
        if end.succeeded() {
            Ok(Ok(()))
        } else {
            Ok(Err(format!("job {name} (run {run}) ended with {end}")))
        }
    }
}

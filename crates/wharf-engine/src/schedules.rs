//! Jobs' schedules, made to match the manifest by `wharf deploy` ([`sync`]): each job with a
//! `schedule` gets its image made ready and its schedule created or updated on the runtime
//! (EventBridge Scheduler on AWS, wharf's daemon locally, [`Target::schedule`]); a schedule
//! whose job left the manifest or lost its `schedule` is removed.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use wharf_manifest::schedule::Schedule;
use wharf_manifest::{Job, Names};

use crate::controller::target_err;
use crate::events::{Event, EventSink};
use crate::job::{job_image, run_id, JobImageError};
use crate::target::{Clock, Target};

/// A job's schedule as wharf asks the runtime for it.
#[derive(Debug, Clone)]
pub struct ScheduleSpec<'a> {
    pub job: &'a Job,
    /// `rate(…)` or `cron(…)`, as the manifest has it (validated).
    pub expression: &'a str,
    /// What every run runs (pinned where a registry gave a digest).
    pub image: &'a str,
    /// The platform the image is for.
    pub platform: Option<&'a str>,
    /// Names what `deploy` made for the schedule (an image tag, a task definition's tag).
    pub id: &'a str,
}

/// A schedule the runtime has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scheduled {
    pub job: String,
    pub expression: String,
    /// What its runs start: the image locally, the task definition on AWS.
    pub runs: String,
    /// When the schedule was made: a rate counts from here.
    pub since_ms: i64,
}

impl Scheduled {
    /// The next run after `now_ms` (None: the expression never fires again, or does not
    /// read).
    pub fn next_run(&self, now_ms: i64) -> Option<i64> {
        Schedule::parse(&self.expression)
            .ok()?
            .next_after(self.since_ms, now_ms)
    }
}

/// What [`sync`] changed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Synced {
    pub scheduled: Vec<Scheduled>,
    /// Jobs whose schedule was removed.
    pub removed: Vec<String>,
    /// When it was done: the next runs are counted from here.
    pub at_ms: i64,
}

impl fmt::Display for Synced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for s in &self.scheduled {
            write!(f, "job {} scheduled {}", s.job, s.expression)?;
            match s.next_run(self.at_ms) {
                Some(n) => writeln!(f, ", next run {}", wharf_manifest::names::utc(n))?,
                None => writeln!(f, ", which never runs again")?,
            }
        }
        for j in &self.removed {
            writeln!(
                f,
                "job {j} no longer scheduled (removed from the manifest or its `schedule`)"
            )?;
        }
        Ok(())
    }
}

/// Makes the runtime's schedules match the jobs': creates or updates the schedule of each job
/// that has one (its image built and pushed first, or a service's serving image), removes
/// the others wharf made.
pub async fn sync<T: Target, C: Clock>(
    target: &T,
    clock: &C,
    names: &Names<'_>,
    jobs: &BTreeMap<String, Job>,
    registry: Option<&str>,
    events: &dyn EventSink,
) -> Result<Synced, JobImageError<T::ImageError>> {
    let mut done = Synced::default();
    for job in jobs.values() {
        let Some(expression) = &job.schedule else {
            continue;
        };
        let id = run_id(names, clock.now_ms());
        events.emit(Event::Progress {
            service: job.name.clone(),
            message: format!("scheduling {expression}"),
        });
        let image = job_image(target, job, &id, registry, None, events).await?;
        let pinned = image.pinned();
        let spec = ScheduleSpec {
            job,
            expression,
            image: &pinned,
            platform: image.platform.as_deref(),
            id: &id,
        };
        let s = target
            .schedule(&spec)
            .await
            .map_err(target_err(format!("schedule job {}", job.name)))
            .map_err(JobImageError::Engine)?;
        done.scheduled.push(s);
    }
    let present = target
        .schedules()
        .await
        .map_err(target_err("list the schedules"))
        .map_err(JobImageError::Engine)?;
    for s in present {
        if jobs.get(&s.job).is_some_and(|j| j.schedule.is_some()) {
            continue;
        }
        events.emit(Event::Progress {
            service: s.job.clone(),
            message: "removing its schedule".into(),
        });
        target
            .unschedule(&s.job)
            .await
            .map_err(target_err(format!("remove the schedule of {}", s.job)))
            .map_err(JobImageError::Engine)?;
        done.removed.push(s.job);
    }
    done.at_ms = clock.now_ms();
    Ok(done)
}

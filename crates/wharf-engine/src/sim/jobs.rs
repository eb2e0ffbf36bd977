//! The simulator's jobs: tasks whose run is scripted per image (exit after a while with a
//! code, fail to start, hang until stopped), on the fake clock.

use wharf_manifest::{Build, Job};

use super::SimTarget;
use crate::job::{JobSpec, JobTask, RunEnd};
use crate::schedules::{ScheduleSpec, Scheduled};
use crate::target::{Clock, Image, LogLine, TargetError};

/// How a simulated job's task behaves, chosen by its image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobBehaviour {
    /// Runs `after_ms`, then exits with `code`.
    Exits { after_ms: i64, code: i32 },
    /// The runtime never gets it running (a pull error, an unreadable secret).
    FailsToStart { reason: String },
    /// Runs until it is stopped.
    Hangs,
}

/// One run as the simulator keeps it: what it was started with, and when it stopped.
#[derive(Debug, Clone)]
pub struct SimRun {
    pub job: String,
    pub run: String,
    pub image: String,
    pub command: Option<Vec<String>>,
    /// The job's env, its secrets' references and the spec's additions, as the task gets them.
    pub env: Vec<(String, String)>,
    pub started_ms: i64,
    /// When `stop_job` asked it to stop.
    pub stopped_ms: Option<i64>,
    behaviour: JobBehaviour,
}

impl SimRun {
    /// How the run ended by `now`, if it has.
    fn end(&self, now: i64) -> Option<RunEnd> {
        let exited = |code: i32, stop_code: &str, reason: String| RunEnd {
            exit_code: Some(code),
            stop_code: stop_code.into(),
            reason,
            help: None,
        };
        match &self.behaviour {
            JobBehaviour::FailsToStart { reason } => Some(RunEnd {
                exit_code: None,
                stop_code: "TaskFailedToStart".into(),
                reason: reason.clone(),
                help: Some("the image or a secret could not be had; see the reason".into()),
            }),
            JobBehaviour::Exits { after_ms, code } if now >= self.started_ms + after_ms => {
                let at = self.started_ms + after_ms;
                match self.stopped_ms {
                    Some(s) if s < at => Some(exited(143, "UserInitiated", "stopped".into())),
                    _ => Some(exited(
                        *code,
                        "EssentialContainerExited",
                        format!("essential container exited with code {code}"),
                    )),
                }
            }
            _ => self
                .stopped_ms
                .map(|_| exited(143, "UserInitiated", "stopped".into())),
        }
    }
}

impl SimTarget {
    /// Scripts how runs of jobs with `image` behave (default: exit 0 after 5 s).
    pub fn behave_job(&self, image: &str, b: JobBehaviour) {
        self.st().job_behaviours.insert(image.to_owned(), b);
    }

    /// Every job run started, oldest first.
    pub fn job_runs(&self) -> Vec<SimRun> {
        self.st().runs.clone()
    }

    pub(super) fn sim_job_image(&self, job: &Job, _build: &Build, run: &str) -> Image {
        self.st().log.push(format!("build job {} {run}", job.name));
        Image::unpinned(format!("sim/{}:{run}", job.name))
    }

    pub(super) fn sim_start_job(&self, spec: &JobSpec<'_>) -> Result<JobTask, TargetError> {
        self.call("start job")?;
        let now = self.clock.now_ms();
        let mut st = self.st();
        let behaviour = st
            .job_behaviours
            .get(spec.image)
            .cloned()
            .unwrap_or(JobBehaviour::Exits {
                after_ms: 5_000,
                code: 0,
            });
        let mut env: Vec<(String, String)> = spec
            .job
            .env
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        env.extend(
            spec.job
                .secrets
                .iter()
                .map(|(k, r)| (k.clone(), format!("secret:{r}"))),
        );
        env.extend(spec.env.iter().cloned());
        let id = format!("task-{}", st.runs.len() + 1);
        st.log
            .push(format!("start job {} {}", spec.job.name, spec.run));
        st.runs.push(SimRun {
            job: spec.job.name.clone(),
            run: spec.run.to_owned(),
            image: spec.image.to_owned(),
            command: spec.command.clone().or_else(|| spec.job.command.clone()),
            env,
            started_ms: now,
            stopped_ms: None,
            behaviour,
        });
        Ok(JobTask { id })
    }

    fn sim_run(&self, task: &JobTask) -> Result<SimRun, TargetError> {
        run_index(task)
            .and_then(|i| self.st().runs.get(i).cloned())
            .ok_or_else(|| TargetError::new(format!("no task {}", task.id)))
    }

    pub(super) async fn sim_follow_job(
        &self,
        task: &JobTask,
        deadline_ms: Option<i64>,
        line: &(dyn Fn(LogLine<'_>) + Sync),
    ) -> Result<Option<RunEnd>, TargetError> {
        self.call("follow job")?;
        let mut said = false;
        loop {
            let run = self.sim_run(task)?;
            let now = self.clock.now_ms();
            if !said {
                line(LogLine {
                    source: &task.id,
                    line: &format!("{} running {}", run.job, run.image),
                    timestamp_ms: Some(now),
                });
                said = true;
            }
            if let Some(end) = run.end(now) {
                line(LogLine {
                    source: &task.id,
                    line: &format!("{end}"),
                    timestamp_ms: Some(now),
                });
                return Ok(Some(end));
            }
            let step = match deadline_ms {
                Some(d) if now >= d => return Ok(None),
                Some(d) => (d - now).min(1_000),
                None => 1_000,
            };
            self.clock.sleep(step as u64).await;
        }
    }

    pub(super) fn sim_stop_job(&self, task: &JobTask) -> Result<(), TargetError> {
        self.call("stop job")?;
        let now = self.clock.now_ms();
        let mut st = self.st();
        st.log.push(format!("stop job {}", task.id));
        if let Some(r) = run_index(task).and_then(|i| st.runs.get_mut(i)) {
            r.stopped_ms.get_or_insert(now);
        }
        Ok(())
    }
}

/// Where `task-N` (the N-th run started) is in the list of runs.
fn run_index(task: &JobTask) -> Option<usize> {
    task.id
        .strip_prefix("task-")?
        .parse::<usize>()
        .ok()?
        .checked_sub(1)
}

impl SimTarget {
    /// Keeps the schedule as EventBridge Scheduler would: made now, or updated (a rate keeps
    /// counting from when the schedule was first made).
    pub(super) fn sim_schedule(&self, spec: &ScheduleSpec<'_>) -> Result<Scheduled, TargetError> {
        self.call(&format!("schedule {}", spec.job.name))?;
        let now = self.clock.now_ms();
        let mut st = self.st();
        let since_ms = st.schedules.get(&spec.job.name).map_or(now, |s| s.since_ms);
        let s = Scheduled {
            job: spec.job.name.clone(),
            expression: spec.expression.to_owned(),
            runs: spec.image.to_owned(),
            since_ms,
        };
        st.schedules.insert(s.job.clone(), s.clone());
        Ok(s)
    }
}

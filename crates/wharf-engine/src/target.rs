//! The interface a target implements (the local Docker target, AWS, the simulator): run a
//! deployment's tasks, report their health and request metrics, route traffic, drain, and keep
//! records and locks. Every operation is idempotent: the engine may repeat it after a crash.

use std::future::Future;

use wharf_manifest::{Build, Job, SecretRef, Service, SmokeCheck};

use crate::events::EventSink;
use crate::evidence::Clue;
use crate::exec::{ExecRequest, Session};
use crate::holder::Holder;
use crate::job::{JobSpec, JobTask, RunEnd};
use crate::notify::Notice;
use crate::plan::HookKind;
use crate::record::Record;
pub use crate::reports::*;
use crate::runs::RunRecord;
use crate::schedules::{ScheduleSpec, Scheduled};

/// Where time comes from: the wall clock, or a fake one in tests.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
    /// Waits `ms` (a fake clock advances instead).
    fn sleep(&self, ms: u64) -> impl Future<Output = ()> + Send;
    /// Waits a little (a second) without moving time: what a watcher of [`Clock::now_ms`]
    /// waits between looks. A fake clock only yields, so a heartbeat never hurries time.
    fn tick(&self) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(std::time::Duration::from_secs(1))
    }
}

/// The system clock with tokio's sleep.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }

    async fn sleep(&self, ms: u64) {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}

/// Where deployment records and locks live (the local state database, the DynamoDB table).
pub trait Store: Send + Sync {
    fn save(&self, record: &Record) -> impl Future<Output = Result<(), TargetError>> + Send;
    fn load(
        &self,
        service: &str,
        id: &str,
    ) -> impl Future<Output = Result<Option<Record>, TargetError>> + Send;
    /// The service's records, oldest first; one that does not read is an error (a deploy
    /// must not pass over an unfinished deployment it cannot read).
    fn list(&self, service: &str) -> impl Future<Output = Result<Vec<Record>, TargetError>> + Send {
        async move {
            let (records, unreadable) = self.list_readable(service).await?;
            match unreadable.into_iter().next() {
                Some(u) => Err(TargetError::new(u.to_string())
                    .help("a newer wharf may have written it (upgrade wharf), or it was damaged: move it away from the state store")),
                None => Ok(records),
            }
        }
    }
    /// The service's records that read, oldest first, and the ones that do not (what
    /// `status` and `history` show past, with a warning naming each).
    fn list_readable(
        &self,
        service: &str,
    ) -> impl Future<Output = Result<(Vec<Record>, Vec<Unreadable>), TargetError>> + Send;
    /// Records `ask` beside the deployment's record without rewriting it (a field-level
    /// update): the process running the deployment sees it at its next look, and its own saves
    /// cannot erase it. False when there is no such record.
    fn ask(
        &self,
        service: &str,
        id: &str,
        ask: crate::Ask,
    ) -> impl Future<Output = Result<bool, TargetError>> + Send;
    /// Takes the service's lock, or answers the current holder when someone else has it and
    /// its lease has not expired.
    fn lock(
        &self,
        service: &str,
        holder: &Holder,
        now_ms: i64,
        lease_ms: i64,
    ) -> impl Future<Output = Result<Result<Lock, Lock>, TargetError>> + Send;
    /// Extends the lease of a lock this holder has.
    fn renew(
        &self,
        service: &str,
        holder: &Holder,
        now_ms: i64,
        lease_ms: i64,
    ) -> impl Future<Output = Result<bool, TargetError>> + Send;
    fn unlock(
        &self,
        service: &str,
        holder: &Holder,
    ) -> impl Future<Output = Result<(), TargetError>> + Send;
    /// The service's lock as stored, expired or not (None when nobody took it).
    fn current_lock(
        &self,
        service: &str,
    ) -> impl Future<Output = Result<Option<Lock>, TargetError>> + Send;
    /// Breaks the lock whoever holds it (`--force-unlock`).
    fn force_unlock(
        &self,
        service: &str,
    ) -> impl Future<Output = Result<Option<Lock>, TargetError>> + Send;
    /// Saves a job run's record (again, when it ended).
    fn save_run(&self, run: &RunRecord) -> impl Future<Output = Result<(), TargetError>> + Send;
    /// The job's latest run by its start, as recorded.
    fn last_run(
        &self,
        job: &str,
    ) -> impl Future<Output = Result<Option<RunRecord>, TargetError>> + Send;
}

/// What the engine asks of a runtime.
pub trait Target: Store {
    /// Why an image could not be made ready (a failed build, push or scan gate), typed so the
    /// command can tell a refusal from an unreachable registry.
    type ImageError: std::error::Error + Send + Sync + 'static;

    /// The runtime replaces a rolling service's tasks itself (ECS's rolling deployment with
    /// its circuit breaker): a rolling deployment is then one provision and one health wait,
    /// and `scale(previous, n)` makes the service run the previous version again.
    fn native_rolling(&self) -> bool {
        false
    }

    /// Starts (or scales to) `count` tasks of the deployment and, for traffic-shifting
    /// strategies, creates its target group and rules with no traffic.
    fn provision(
        &self,
        service: &Service,
        record: &Record,
        count: u32,
    ) -> impl Future<Output = Result<(), TargetError>> + Send;
    /// Sets how many tasks a deployment runs (rolling batches; 0 stops them all).
    fn scale(
        &self,
        service: &Service,
        deployment: &str,
        count: u32,
    ) -> impl Future<Output = Result<(), TargetError>> + Send;
    fn health(
        &self,
        service: &Service,
        deployment: &str,
    ) -> impl Future<Output = Result<Health, TargetError>> + Send;
    /// Requests and 5xx answers of the deployment over the last `window_ms`.
    fn requests(
        &self,
        service: &Service,
        deployment: &str,
        window_ms: u64,
    ) -> impl Future<Output = Result<Requests, TargetError>> + Send;
    /// Sets the service's default traffic split: `(deployment, percent)` summing to 100.
    fn set_weights(
        &self,
        service: &Service,
        weights: &[(String, u32)],
    ) -> impl Future<Output = Result<(), TargetError>> + Send;
    /// Routes requests with the test header to `deployment` (None removes the route).
    fn set_test_route(
        &self,
        service: &Service,
        deployment: Option<&str>,
    ) -> impl Future<Output = Result<(), TargetError>> + Send;
    /// Affinity: makes `deployment` the default for new users, with its own sticky rule.
    fn make_default(
        &self,
        service: &Service,
        deployment: &str,
    ) -> impl Future<Output = Result<(), TargetError>> + Send;
    /// Runs one smoke check through the test route; Err says what differed.
    fn smoke(
        &self,
        service: &Service,
        deployment: &str,
        check: &SmokeCheck,
    ) -> impl Future<Output = Result<(), TargetError>> + Send;
    /// Tells a retiring deployment's tasks to drain: a POST to the service's drain path with
    /// the drain secret, until each running task has answered or a bound passes. None when
    /// the service has no drain secret or the target cannot reach the tasks.
    fn drain(
        &self,
        _service: &Service,
        _deployment: &str,
    ) -> impl Future<Output = Result<Option<crate::reports::Drained>, TargetError>> + Send {
        async { Ok(None) }
    }
    /// Stops new traffic to the deployment, waits
    /// for in-flight requests (the deregistration delay), then stops its tasks and removes its
    /// target group and rules.
    fn retire(
        &self,
        service: &Service,
        deployment: &str,
    ) -> impl Future<Output = Result<(), TargetError>> + Send;
    /// Deployments of the service the runtime still has resources of (tasks, target groups,
    /// alarms…), whatever their records say: what `gc` compares with the records.
    fn present(
        &self,
        service: &Service,
    ) -> impl Future<Output = Result<Vec<String>, TargetError>> + Send;
    /// Where the environment answers (wharf's proxy locally, the load balancer on AWS); None
    /// when nothing answers now.
    fn url(&self) -> Option<String>;
    /// Where the environment's dashboard is (the CloudWatch console on AWS); None without one.
    fn dashboard(&self) -> Option<String> {
        None
    }
    /// The service's current traffic split and test route, read from the runtime.
    fn routes(&self, service: &Service)
        -> impl Future<Output = Result<Routes, TargetError>> + Send;
    /// Health as [`Target::health`] reports it, read without changing anything (`health`
    /// may replace stopped tasks, as a scheduler does; `status` only looks).
    fn observe(
        &self,
        service: &Service,
        deployment: &str,
    ) -> impl Future<Output = Result<Health, TargetError>> + Send {
        self.health(service, deployment)
    }
    /// The image deployment `id` of the service runs: a prebuilt reference as it is, or the
    /// service built for it (and pushed, where the runtime pulls from a registry; `registry`
    /// overrides where). Progress goes to `events`.
    fn image(
        &self,
        service: &Service,
        id: &str,
        registry: Option<&str>,
        events: &dyn EventSink,
    ) -> impl Future<Output = Result<Image, Self::ImageError>> + Send;
    /// Hands the log lines of the service's or job's tasks that `query` selects to `line`,
    /// oldest first (merged across tasks by time); answers how many tasks' logs were read
    /// (0: none).
    fn logs(
        &self,
        of: LogSource<'_>,
        query: LogQuery<'_>,
        line: &(dyn Fn(LogLine<'_>) + Sync),
    ) -> impl Future<Output = Result<usize, TargetError>> + Send;
    /// Runs a hook command with DEPLOYMENT_ID in its environment.
    fn run_hook(
        &self,
        service: &Service,
        record: &Record,
        hook: HookKind,
        command: &[String],
    ) -> impl Future<Output = Result<(), TargetError>> + Send;
    /// A job's image built from source for run `run` (and pushed, where the runtime pulls
    /// from a registry), as [`Target::image`] does for a service.
    fn job_image(
        &self,
        job: &Job,
        build: &Build,
        run: &str,
        registry: Option<&str>,
        events: &dyn EventSink,
    ) -> impl Future<Output = Result<Image, Self::ImageError>> + Send;
    /// Starts one task of the job, inside the environment: its network, security group and
    /// roles, its env, secrets and data bindings, its size; no traffic reaches it.
    fn start_job(
        &self,
        spec: &JobSpec<'_>,
    ) -> impl Future<Output = Result<JobTask, TargetError>> + Send;
    /// Hands the task's log lines to `line` until it has stopped, and says how it ended (the
    /// runtime forgets the task then: its container is removed); None when it still runs at
    /// `deadline_ms` (ms since the epoch, on the target's clock).
    fn follow_job(
        &self,
        job: &Job,
        task: &JobTask,
        deadline_ms: Option<i64>,
        line: &(dyn Fn(LogLine<'_>) + Sync),
    ) -> impl Future<Output = Result<Option<RunEnd>, TargetError>> + Send;
    /// Asks the task to stop: SIGTERM, then SIGKILL after the job's stop timeout. Stopping a
    /// task that already ended does nothing.
    fn stop_job(
        &self,
        job: &Job,
        task: &JobTask,
    ) -> impl Future<Output = Result<(), TargetError>> + Send;
    /// Creates or updates the job's schedule: from now on the runtime starts a task of the
    /// job with `spec.image` on `spec.expression` by itself (EventBridge Scheduler on AWS,
    /// wharf's daemon locally).
    fn schedule(
        &self,
        spec: &ScheduleSpec<'_>,
    ) -> impl Future<Output = Result<Scheduled, TargetError>> + Send;
    /// The schedules wharf made in the environment, by job.
    fn schedules(&self) -> impl Future<Output = Result<Vec<Scheduled>, TargetError>> + Send;
    /// Removes the job's schedule (nothing when it has none).
    fn unschedule(&self, job: &str) -> impl Future<Output = Result<(), TargetError>> + Send;
    /// A secret's value as the runtime holds it (SSM or Secrets Manager on AWS, the secrets
    /// file locally): what wharf itself needs, such as the notification webhook's URL.
    fn secret_value(
        &self,
        secret: &SecretRef,
    ) -> impl Future<Output = Result<String, TargetError>> + Send;
    /// How many tasks the runtime keeps running for deployment `deployment` of the service
    /// now — what an autoscaler moved it to — or `None` when it runs none: a new deployment
    /// of an autoscaled service starts at the serving one's count, not the manifest's.
    fn current_count(
        &self,
        service: &Service,
        deployment: &str,
    ) -> impl Future<Output = Result<Option<u32>, TargetError>> + Send;
    /// The ARN of the SNS topic `[notify] sns` names (an ARN, or a topic name in the
    /// environment's account and region); a target without SNS refuses, saying so.
    fn topic(&self, topic: &str) -> impl Future<Output = Result<String, TargetError>> + Send {
        async move {
            Err(TargetError::new(format!(
                "SNS topics are published to from AWS environments only, not from this one \
                 ({topic} gets no notices from it)"
            ))
            .help("the webhook (`[notify] webhook`) gets the notices in every environment"))
        }
    }
    /// Publishes a deployment notice to the SNS topic `topic` (an ARN from [`Target::topic`]).
    fn publish(
        &self,
        topic: &str,
        notice: &Notice,
    ) -> impl Future<Output = Result<(), TargetError>> + Send {
        let _ = notice;
        async move { Err(TargetError::new(format!("{topic} cannot be published to"))) }
    }
    /// The job's latest run: its record, or a run the runtime knows of that wharf did not
    /// start (a schedule on AWS starts tasks by itself).
    fn latest_run(
        &self,
        job: &Job,
    ) -> impl Future<Output = Result<Option<RunRecord>, TargetError>> + Send {
        self.last_run(&job.name)
    }
    /// What the runtime can tell about deployment `deployment` of the service going wrong:
    /// why its tasks stopped, the scheduler's events, the targets' health reasons, its alarms
    /// and settings the runtime disagrees on. Only looks.
    fn evidence(
        &self,
        service: &Service,
        deployment: &str,
    ) -> impl Future<Output = Result<Vec<Clue>, TargetError>> + Send {
        async move {
            let health = self.observe(service, deployment).await?;
            Ok(crate::evidence::from_health(&health))
        }
    }
    /// Failures of the environment's own infrastructure: the failed resources of a stack
    /// that did not reach a stable state, each with its reason (none where there are no
    /// stacks).
    fn stack_evidence(&self) -> impl Future<Output = Result<Vec<Clue>, TargetError>> + Send {
        async { Ok(Vec::new()) }
    }
    /// The session to start for `wharf exec` in a running task of `req.of` (see
    /// [`crate::exec`]); a target without processes to enter refuses.
    fn exec(
        &self,
        req: ExecRequest<'_>,
    ) -> impl Future<Output = Result<Session, TargetError>> + Send {
        async move {
            Err(TargetError::new(format!(
                "no task of {} can be entered on this target",
                req.of.name()
            )))
        }
    }
}

/// Implements [`Store`] for a target by handing every call to one of its fields, e.g.
/// `wharf_engine::delegate_store!(LocalTarget, store);`.
#[macro_export]
macro_rules! delegate_store {
    ($target:ty, $field:ident) => {
        impl $crate::Store for $target {
            async fn save(&self, record: &$crate::Record) -> Result<(), $crate::TargetError> {
                self.$field.save(record).await
            }
            async fn load(
                &self,
                service: &str,
                id: &str,
            ) -> Result<Option<$crate::Record>, $crate::TargetError> {
                self.$field.load(service, id).await
            }
            async fn list_readable(
                &self,
                service: &str,
            ) -> Result<(Vec<$crate::Record>, Vec<$crate::Unreadable>), $crate::TargetError> {
                self.$field.list_readable(service).await
            }
            async fn ask(
                &self,
                service: &str,
                id: &str,
                ask: $crate::Ask,
            ) -> Result<bool, $crate::TargetError> {
                self.$field.ask(service, id, ask).await
            }
            async fn lock(
                &self,
                service: &str,
                holder: &$crate::Holder,
                now_ms: i64,
                lease_ms: i64,
            ) -> Result<Result<$crate::Lock, $crate::Lock>, $crate::TargetError> {
                self.$field.lock(service, holder, now_ms, lease_ms).await
            }
            async fn renew(
                &self,
                service: &str,
                holder: &$crate::Holder,
                now_ms: i64,
                lease_ms: i64,
            ) -> Result<bool, $crate::TargetError> {
                self.$field.renew(service, holder, now_ms, lease_ms).await
            }
            async fn unlock(
                &self,
                service: &str,
                holder: &$crate::Holder,
            ) -> Result<(), $crate::TargetError> {
                self.$field.unlock(service, holder).await
            }
            async fn current_lock(
                &self,
                service: &str,
            ) -> Result<Option<$crate::Lock>, $crate::TargetError> {
                self.$field.current_lock(service).await
            }
            async fn force_unlock(
                &self,
                service: &str,
            ) -> Result<Option<$crate::Lock>, $crate::TargetError> {
                self.$field.force_unlock(service).await
            }
            async fn save_run(&self, run: &$crate::RunRecord) -> Result<(), $crate::TargetError> {
                self.$field.save_run(run).await
            }
            async fn last_run(
                &self,
                job: &str,
            ) -> Result<Option<$crate::RunRecord>, $crate::TargetError> {
                self.$field.last_run(job).await
            }
        }
    };
}

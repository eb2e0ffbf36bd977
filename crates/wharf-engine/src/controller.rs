//! The controller: takes the service's lock, creates or resumes a record, and executes its
//! steps one at a time, persisting after each. Every gate and rollback decision is made here.

use std::collections::BTreeMap;

use wharf_manifest::{Hook, Job, Service};

use crate::error::EngineError;
use crate::events::{started, Event, EventSink};
use crate::holder::Holder;
use crate::plan::Step;
use crate::record::{Ask, Outcome, Record, Status};
use crate::target::{Clock, Target, TargetError};

/// Tunables; the defaults suit real targets.
#[derive(Debug, Clone)]
pub struct Options {
    /// How often gates and waits look again.
    pub poll_ms: u64,
    /// Lease of the deployment lock; renewed every third of it (and by a heartbeat during a
    /// long step), not on every poll: each renewal is a call to the store.
    pub lease_ms: i64,
    /// Extra time a task gets to start before its health checks count.
    pub start_allowance_ms: u64,
    /// Return at an approval gate instead of waiting for `wharf promote`.
    pub detach_at_approval: bool,
    /// Fault injection: stop (as if killed) after this many persisted transitions.
    pub crash_after: Option<usize>,
    /// The environment's jobs, for hooks that run one.
    pub jobs: BTreeMap<String, Job>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            poll_ms: 1000,
            lease_ms: 120_000,
            start_allowance_ms: 60_000,
            detach_at_approval: false,
            crash_after: None,
            jobs: BTreeMap::new(),
        }
    }
}

/// What one deploy needs to know about the service.
pub struct Request<'a> {
    pub app: &'a str,
    pub env: &'a str,
    pub service: &'a Service,
    pub id: &'a str,
    pub image: &'a str,
    pub digest: Option<&'a str>,
    /// The platform the image is for ([`crate::Image::platform`]).
    pub platform: Option<&'a str>,
}

/// Drives deployments of one target.
pub struct Engine<'a, T: Target, C: Clock> {
    pub target: &'a T,
    pub clock: &'a C,
    pub events: &'a dyn EventSink,
    /// Who holds the lock: shown to a concurrent deploy, and released at once by the next
    /// `wharf` on this machine when its process is gone.
    pub holder: Holder,
    pub options: Options,
}

/// Result of executing a step once.
pub(crate) enum Progress {
    Done,
    Wait,
    Fail(String),
}

pub(crate) fn target_err(action: impl Into<String>) -> impl FnOnce(TargetError) -> EngineError {
    let action = action.into();
    move |source| EngineError::target(action, source)
}

impl<T: Target, C: Clock> Engine<'_, T, C> {
    /// Deploys a new version with the service's strategy.
    pub async fn deploy(&self, req: Request<'_>) -> Result<Record, EngineError> {
        let name = &req.service.name;
        self.lock(name).await?;
        let result = self.deploy_locked(&req).await;
        self.unlock_unless_killed(name, &result).await;
        result
    }

    /// Tasks for the new deployment and those the serving one runs: the manifest's count;
    /// for an autoscaled service, the serving deployment's current count within the
    /// autoscaling bounds, so a deployment at peak load does not start undersized.
    async fn sizes(
        &self,
        service: &Service,
        previous: Option<&str>,
    ) -> Result<(u32, u32), EngineError> {
        let Some(previous) = previous else {
            return Ok((service.count, 0));
        };
        let manifest = service.count.max(1);
        let Some(a) = &service.autoscaling else {
            return Ok((service.count, manifest));
        };
        let now = self
            .target
            .current_count(service, previous)
            .await
            .map_err(target_err(format!("read how many tasks {previous} runs")))?;
        let current = now.map_or(manifest, |c| c.clamp(a.min.max(1), a.max.max(1)));
        if current != service.count {
            self.events.emit(Event::Progress {
                service: service.name.clone(),
                message: format!(
                    "starting at {current} tasks, as many as {previous} runs now (autoscaled; the manifest says {})",
                    service.count
                ),
            });
        }
        Ok((current, current))
    }

    /// The service's records, when none is unfinished (else the error naming it).
    pub(crate) async fn settled_records(&self, name: &str) -> Result<Vec<Record>, EngineError> {
        let records = self
            .target
            .list(name)
            .await
            .map_err(target_err(format!("read the records of {name}")))?;
        if let Some(open) = records.iter().rev().find(|r| !r.is_finished()) {
            return Err(EngineError::Unfinished {
                service: name.to_owned(),
                id: open.id.clone(),
                phase: open.phase(),
            });
        }
        Ok(records)
    }

    pub(crate) async fn deploy_locked(&self, req: &Request<'_>) -> Result<Record, EngineError> {
        let name = &req.service.name;
        let records = self.settled_records(name).await?;
        let previous = live(&records).last().map(|r| r.id.clone());
        let (count, previous_count) = self.sizes(req.service, previous.as_deref()).await?;
        let now = self.clock.now_ms();
        let mut record = Record {
            id: req.id.to_owned(),
            app: req.app.to_owned(),
            env: req.env.to_owned(),
            service: name.clone(),
            image: req.image.to_owned(),
            digest: req.digest.map(str::to_owned),
            platform: req.platform.map(str::to_owned),
            strategy: req.service.deploy.strategy,
            previous,
            steps: crate::plan::plan_sized(
                req.service,
                count,
                previous_count,
                self.target.native_rolling(),
            ),
            step: 0,
            step_started_ms: now,
            status: Status::InProgress,
            weight: 0,
            started_ms: now,
            updated_ms: now,
            finished_ms: None,
            outcome: None,
            reason: None,
            approved: false,
            abort_requested: false,
            drained: None,
            service_digest: Some(crate::record::service_digest(req.service)),
            marks: Vec::new(),
            refs: Default::default(),
        };
        self.save(&mut record).await?;
        self.events.emit(started(&record));
        self.run(req.service, record).await
    }

    /// Continues the service's unfinished deployment from its record.
    pub async fn resume(&self, service: &Service) -> Result<Record, EngineError> {
        self.with_open(service, "resume", None).await
    }

    /// Lets a deployment held at its approval gate continue.
    pub async fn promote(&self, service: &Service) -> Result<Record, EngineError> {
        self.with_open(service, "promote", Some(Ask::Approve)).await
    }

    /// Rolls the unfinished deployment back.
    pub async fn abort(&self, service: &Service) -> Result<Record, EngineError> {
        self.with_open(service, "abort", Some(Ask::Abort)).await
    }

    /// Finds the open record, asks `ask` of it and runs it. When another process holds the
    /// lock (a deploy waiting at a gate), the ask is stored beside the record for that process
    /// to act on; the record itself, which that process keeps writing, is not touched.
    async fn with_open(
        &self,
        service: &Service,
        action: &'static str,
        ask: Option<Ask>,
    ) -> Result<Record, EngineError> {
        let name = &service.name;
        let records = self
            .target
            .list(name)
            .await
            .map_err(target_err(format!("read the records of {name}")))?;
        let open =
            records
                .into_iter()
                .rev()
                .find(|r| !r.is_finished())
                .ok_or(EngineError::Nothing {
                    service: name.clone(),
                    action,
                })?;
        if action != "abort" {
            let now = crate::record::service_digest(service);
            if open.service_digest.as_ref().is_some_and(|d| *d != now) {
                return Err(EngineError::ManifestChanged {
                    service: name.clone(),
                    id: open.id.clone(),
                    action,
                });
            }
        }
        let mut record = open;
        match self.lock(name).await {
            Ok(()) => {
                if let Some(a) = ask {
                    a.apply(&mut record);
                }
                self.save(&mut record).await?;
                self.events.emit(Event::Resumed {
                    id: record.id.clone(),
                    step: record.phase(),
                });
                let result = self.run(service, record).await;
                self.unlock_unless_killed(name, &result).await;
                result
            }
            Err(e @ EngineError::Locked { .. }) => {
                let Some(a) = ask else { return Err(e) };
                self.target
                    .ask(name, &record.id, a)
                    .await
                    .map_err(target_err(format!("ask {} to {action}", record.id)))?;
                a.apply(&mut record);
                Ok(record)
            }
            Err(e) => Err(e),
        }
    }

    /// Executes steps until the record is finished (or waits at approval when detached).
    async fn run(&self, service: &Service, mut r: Record) -> Result<Record, EngineError> {
        let mut transitions = 0usize;
        // The lock was just taken, and the record just written or read (with what was asked
        // of it): the first renewal and the first look are due a period from now.
        let start = self.clock.now_ms();
        let mut renewed_at = start;
        let mut asked_at = start;
        loop {
            let now = self.clock.now_ms();
            if now - renewed_at >= self.options.lease_ms / 3 {
                if !self
                    .target
                    .renew(&service.name, &self.holder, now, self.options.lease_ms)
                    .await
                    .map_err(target_err("renew the lock"))?
                {
                    return Err(EngineError::LockLost {
                        service: service.name.clone(),
                    });
                }
                renewed_at = now;
            }
            // promote and abort from another process arrive through the store: looked for every
            // fifth poll while a gate waits, not on every one (each look is a call to the store).
            let ask_every = 5 * self.options.poll_ms as i64;
            if now - asked_at >= ask_every {
                if let Ok(Some(stored)) = self.target.load(&service.name, &r.id).await {
                    r.approved |= stored.approved;
                    r.abort_requested |= stored.abort_requested;
                }
                asked_at = now;
            }
            if r.abort_requested
                && matches!(r.status, Status::InProgress | Status::AwaitingApproval)
            {
                // Once retiring the previous deployment has begun (even if a killed process
                // left it half done), there is nothing healthy to return to: finishing is the
                // only safe way out.
                if r.steps
                    .iter()
                    .take(r.step + 1)
                    .any(|s| *s == Step::RetirePrevious)
                {
                    // The request stays asked (it lives beside the record); it is answered once.
                    let note = format!(
                        "abort came after {} was retired; the deployment was finished instead",
                        r.previous.as_deref().unwrap_or("the previous deployment")
                    );
                    if r.reason.as_deref() != Some(note.as_str()) {
                        r.reason = Some(note);
                        self.save(&mut r).await?;
                    }
                } else {
                    self.begin_rollback(&mut r, "aborted on request").await?;
                }
            }
            let before = (r.step, r.status);
            match r.status {
                Status::Finished => return Ok(r),
                Status::RollingBack => {
                    self.roll_back(service, &mut r).await?;
                    return Ok(r);
                }
                Status::InProgress | Status::AwaitingApproval => {}
            }
            let Some(step) = r.current_step().cloned() else {
                let reason = r.reason.clone();
                self.finish(service, &mut r, Outcome::Succeeded, reason)
                    .await?;
                return Ok(r);
            };
            // A step the target refuses for good (an image that does not exist, a bad
            // setting) fails the deployment like a gate: traffic goes back. A transient failure
            // (the runtime unreachable, throttling) stops here with the record resumable, and
            // so does any failure once the previous deployment is being retired.
            let progress = match self
                .with_heartbeat(&service.name, self.execute(service, &mut r, &step))
                .await
            {
                Err(EngineError::Target { action, source, .. })
                    if !source.transient
                        && !matches!(step, Step::RetirePrevious | Step::EnforceKeep { .. }) =>
                {
                    Progress::Fail(format!("failed to {action}: {source}"))
                }
                other => other?,
            };
            match progress {
                Progress::Done => {
                    r.step += 1;
                    r.step_started_ms = self.clock.now_ms();
                    r.status = Status::InProgress;
                    // Saved after each step but two: provisioning (the health wait after it
                    // starts over on resume, and provisioning again is idempotent) and the
                    // last step (the finish is saved next, at once; a kill between them redoes
                    // that step, idempotent unless it is a hook, a command).
                    let redo_is_safe = match step {
                        Step::Provision { .. } => true,
                        Step::Hook { .. } => false,
                        _ => r.current_step().is_none(),
                    };
                    if !redo_is_safe {
                        self.save(&mut r).await?;
                    }
                    if let Some(next) = r.current_step() {
                        self.events.emit(Event::Step {
                            id: r.id.clone(),
                            index: r.step,
                            total: r.steps.len(),
                            step: next.to_string(),
                        });
                    }
                }
                Progress::Wait => {
                    if r.status == Status::AwaitingApproval && self.options.detach_at_approval {
                        return Ok(r);
                    }
                    self.clock.sleep(self.options.poll_ms).await;
                }
                Progress::Fail(reason) => self.begin_rollback(&mut r, &reason).await?,
            }
            if (r.step, r.status) != before {
                transitions += 1;
                if self.options.crash_after.is_some_and(|n| transitions >= n) {
                    return Err(EngineError::Injected { transitions });
                }
            }
        }
    }

    async fn execute(
        &self,
        service: &Service,
        r: &mut Record,
        step: &Step,
    ) -> Result<Progress, EngineError> {
        let t = self.target;
        let id = r.id.clone();
        let elapsed = self.clock.now_ms() - r.step_started_ms;
        Ok(match step {
            Step::Hook { hook } => {
                let cmd = match hook {
                    crate::plan::HookKind::PreDeploy => &service.deploy.hooks.pre_deploy,
                    crate::plan::HookKind::PostScaleUp => &service.deploy.hooks.post_scale_up,
                    crate::plan::HookKind::PreTraffic => &service.deploy.hooks.pre_traffic,
                    crate::plan::HookKind::PostTraffic => &service.deploy.hooks.post_traffic,
                };
                match cmd {
                    Some(Hook::Command(cmd)) => match t.run_hook(service, r, *hook, cmd).await {
                        Ok(()) => Progress::Done,
                        Err(e) => Progress::Fail(format!("the {hook} hook failed: {e}")),
                    },
                    Some(Hook::Job(job)) => match self.hook_job(r, *hook, job).await? {
                        Ok(()) => Progress::Done,
                        Err(why) => Progress::Fail(format!("the {hook} hook failed: {why}")),
                    },
                    None => Progress::Done,
                }
            }
            Step::Provision { count } => {
                t.provision(service, r, *count)
                    .await
                    .map_err(target_err(format!("start deployment {id}")))?;
                Progress::Done
            }
            Step::WaitHealthy { count } => self.wait_healthy(service, r, *count, elapsed).await?,
            Step::Scale { new, old } => {
                // provision is idempotent: it creates the deployment once, then sets its count.
                t.provision(service, r, *new)
                    .await
                    .map_err(target_err(format!("scale {id} to {new}")))?;
                match self.wait_healthy(service, r, *new, elapsed).await? {
                    Progress::Done => {
                        if let Some(prev) = r.previous.clone() {
                            // Rolling shares traffic by running tasks. Traffic moves first, so
                            // the old deployment never keeps a share it has no tasks for.
                            let pct = (new * 100).checked_div(new + old).unwrap_or(100);
                            self.shift(service, r, pct).await?;
                            t.scale(service, &prev, *old)
                                .await
                                .map_err(target_err(format!("scale {prev} to {old}")))?;
                        }
                        Progress::Done
                    }
                    other => other,
                }
            }
            Step::TestRoute => {
                t.set_test_route(service, Some(&id))
                    .await
                    .map_err(target_err("add the test route"))?;
                Progress::Done
            }
            Step::Smoke => {
                for check in &service.deploy.smoke {
                    if let Err(e) = t.smoke(service, &id, check).await {
                        return Ok(Progress::Fail(format!(
                            "smoke check {} {} failed: {e}",
                            check.method, check.path
                        )));
                    }
                }
                Progress::Done
            }
            Step::Shift { percent } => {
                self.shift(service, r, *percent).await?;
                Progress::Done
            }
            Step::Bake { ms } => match self.alarm_gate(service, r).await? {
                Some(reason) => Progress::Fail(reason),
                None if elapsed >= *ms as i64 => Progress::Done,
                None => Progress::Wait,
            },
            Step::Approval => {
                if r.approved {
                    Progress::Done
                } else {
                    if r.status != Status::AwaitingApproval {
                        r.status = Status::AwaitingApproval;
                        self.save(r).await?;
                        self.events.emit(Event::AwaitingApproval { id: id.clone() });
                    }
                    match self.alarm_gate(service, r).await? {
                        Some(reason) => Progress::Fail(reason),
                        None => Progress::Wait,
                    }
                }
            }
            Step::MakeDefault => {
                t.make_default(service, &id)
                    .await
                    .map_err(target_err(format!("make {id} the default")))?;
                r.weight = 100;
                self.events.emit(Event::Weights {
                    weights: vec![(id.clone(), 100)],
                });
                Progress::Done
            }
            Step::RetirePrevious => {
                t.set_test_route(service, None)
                    .await
                    .map_err(target_err("remove the test route"))?;
                if let Some(prev) = r.previous.clone() {
                    self.retire(service, &prev).await?;
                }
                Progress::Done
            }
            Step::EnforceKeep { keep } => {
                t.set_test_route(service, None)
                    .await
                    .map_err(target_err("remove the test route"))?;
                let records = t
                    .list(&service.name)
                    .await
                    .map_err(target_err("read the records"))?;
                let older: Vec<String> = live(&records)
                    .iter()
                    .filter(|x| x.id != id)
                    .map(|x| x.id.clone())
                    .collect();
                let excess = older.len().saturating_sub(*keep as usize);
                for old in older.iter().take(excess) {
                    self.retire(service, old).await?;
                }
                Progress::Done
            }
        })
    }

    pub(crate) async fn finish(
        &self,
        _service: &Service,
        r: &mut Record,
        outcome: Outcome,
        reason: Option<String>,
    ) -> Result<(), EngineError> {
        let now = self.clock.now_ms();
        r.status = Status::Finished;
        r.outcome = Some(outcome);
        r.reason = reason.clone();
        r.finished_ms = Some(now);
        r.step = r.step.min(r.steps.len());
        self.save(r).await?;
        self.events.emit(Event::Finished {
            id: r.id.clone(),
            outcome: outcome.to_string(),
            reason,
        });
        Ok(())
    }

    /// Saves the record, its timeline marked with the phase it reached.
    pub(crate) async fn save(&self, r: &mut Record) -> Result<(), EngineError> {
        r.updated_ms = self.clock.now_ms();
        r.mark(r.updated_ms);
        self.target
            .save(r)
            .await
            .map_err(target_err(format!("save the record of {}", r.id)))
    }
}

/// Deployments serving traffic (succeeded and not retired), oldest first.
pub fn live(records: &[Record]) -> Vec<&Record> {
    records
        .iter()
        .filter(|r| r.outcome == Some(Outcome::Succeeded))
        .collect()
}

//! A deterministic simulated target with a fake clock: deployments whose health, crashes and
//! error rates are scripted per image, traffic that follows the weights, records and locks in
//! memory. It tests every strategy's transitions, failures in every phase, crash and resume,
//! and lock contention in milliseconds.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use wharf_manifest::{Build, Job, Service, SmokeCheck};

mod jobs;
mod notices;
mod scaling;
mod store;
pub use jobs::{JobBehaviour, SimRun};

use crate::events::EventSink;
use crate::job::{JobSpec, JobTask, RunEnd};
use crate::plan::HookKind;
use crate::record::Record;
use crate::target::{
    Clock, Health, Image, Lock, LogLine, LogQuery, Requests, Routes, Target, TargetError,
};

/// Time that moves only when someone sleeps.
#[derive(Debug, Clone, Default)]
pub struct FakeClock(Arc<AtomicI64>);

impl FakeClock {
    pub fn at(ms: i64) -> Self {
        FakeClock(Arc::new(AtomicI64::new(ms)))
    }

    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms as i64, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }

    async fn sleep(&self, ms: u64) {
        self.advance(ms);
        tokio::task::yield_now().await;
    }

    async fn tick(&self) {
        tokio::task::yield_now().await;
    }
}

/// How a simulated deployment behaves, chosen by its image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Healthy `after_ms` after it starts.
    Healthy { after_ms: i64 },
    /// Its container exits at start, again and again.
    ExitsAtStart,
    /// Runs, but never passes its health check.
    NeverHealthy,
    /// Healthy, but answers 5xx to every request it gets.
    Errors500,
    /// Healthy, then one task is killed `after_ms` after it starts.
    KilledAfter { after_ms: i64 },
    /// Healthy, but its smoke checks fail.
    SmokeFails,
    /// The runtime refuses to start it (an image that does not exist): a permanent error.
    CannotStart,
    /// The runtime cannot be reached while starting it: a transient error.
    RuntimeDown,
    /// The runtime gives the deployment up itself (ECS's circuit breaker) after `after_ms`.
    GivenUp { after_ms: i64 },
}

#[derive(Debug, Clone)]
struct Deployment {
    image: String,
    count: u32,
    started_ms: i64,
    retired: bool,
}

#[derive(Default)]
struct State {
    records: BTreeMap<String, Vec<Record>>,
    /// What other processes asked of deployments, by (service, id), beside the records.
    asks: BTreeMap<(String, String), Vec<crate::Ask>>,
    locks: BTreeMap<String, Lock>,
    deployments: BTreeMap<String, Deployment>,
    behaviours: BTreeMap<String, Behaviour>,
    failing_hooks: Vec<HookKind>,
    weights: Vec<(String, u32)>,
    default: Option<String>,
    test_route: Option<String>,
    log: Vec<String>,
    /// How long retiring a deployment takes (the load balancer's deregistration delay).
    drain_ms: u64,
    /// Times (ms) at which a step was still working while its service's lock had lapsed.
    lapses: Vec<i64>,
    /// Lock renewals and record loads sent to the store.
    renewals: usize,
    loads: usize,
    /// Calls that changed or looked at the runtime so far, and the ones that fail (once each:
    /// by index, transient or not).
    calls: usize,
    faults: BTreeMap<usize, bool>,
    job_behaviours: BTreeMap<String, JobBehaviour>,
    runs: Vec<SimRun>,
    run_records: Vec<crate::RunRecord>,
    schedules: BTreeMap<String, crate::Scheduled>,
    published: Vec<(String, crate::notify::Notice)>,
}

/// The simulator. Traffic: 100 requests a second, split by the weights.
pub struct SimTarget {
    pub clock: FakeClock,
    state: Mutex<State>,
}

/// Requests per second the simulated users send.
pub const RATE: u64 = 100;

impl SimTarget {
    pub fn new(clock: FakeClock) -> Self {
        SimTarget {
            clock,
            state: Mutex::new(State::default()),
        }
    }

    fn st(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes retiring a deployment take `ms` of simulated time, as waiting out a load
    /// balancer's deregistration delay does (default: instant).
    pub fn set_drain_ms(&self, ms: u64) {
        self.st().drain_ms = ms;
    }

    /// Makes the `n`th runtime call from now on fail once (transient: the deploy stops,
    /// resumable; permanent: the target refuses), for each `(n, transient)`.
    pub fn inject(&self, faults: &[(usize, bool)]) {
        let mut st = self.st();
        let base = st.calls;
        for (n, transient) in faults {
            st.faults.insert(base + n, *transient);
        }
    }

    /// Counts a runtime call; fails it when it was chosen to fail.
    fn call(&self, what: &str) -> Result<(), TargetError> {
        let mut st = self.st();
        let n = st.calls;
        st.calls += 1;
        match st.faults.remove(&n) {
            Some(transient) => {
                st.log.push(format!("fault {what}"));
                let mut e = TargetError::new(format!("injected fault in {what}"));
                e.transient = transient;
                Err(e)
            }
            None => Ok(()),
        }
    }

    /// When a retire was still draining while the service's lock had run out (a second wharf
    /// could have taken it mid-step): empty while the holder keeps its lease renewed.
    pub fn lapses(&self) -> Vec<i64> {
        self.st().lapses.clone()
    }

    /// Scripts how deployments of `image` behave (default: healthy after 10 s).
    pub fn behave(&self, image: &str, b: Behaviour) {
        self.st().behaviours.insert(image.to_owned(), b);
    }

    pub fn fail_hook(&self, hook: HookKind) {
        self.st().failing_hooks.push(hook);
    }

    /// The default traffic split now.
    pub fn weights(&self) -> Vec<(String, u32)> {
        self.st().weights.clone()
    }

    /// Deployments with tasks running (not retired).
    pub fn running(&self) -> Vec<String> {
        self.st()
            .deployments
            .iter()
            .filter(|(_, d)| !d.retired && d.count > 0)
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Deployments created and not retired (running or scaled to zero).
    pub fn present(&self) -> Vec<String> {
        self.st()
            .deployments
            .iter()
            .filter(|(_, d)| !d.retired)
            .map(|(k, _)| k.clone())
            .collect()
    }

    pub fn default_deployment(&self) -> Option<String> {
        self.st().default.clone()
    }

    pub fn test_route(&self) -> Option<String> {
        self.st().test_route.clone()
    }

    pub fn clock_now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Every operation, in order (`provision x`, `weights x=10 y=90`, `retire y`, …).
    pub fn log(&self) -> Vec<String> {
        self.st().log.clone()
    }

    fn behaviour(&self, st: &State, id: &str) -> Behaviour {
        st.deployments
            .get(id)
            .and_then(|d| st.behaviours.get(&d.image))
            .copied()
            .unwrap_or(Behaviour::Healthy { after_ms: 10_000 })
    }

    /// A record as read: with what was asked of it set.
    fn asked(st: &State, mut r: Record) -> Record {
        for a in st
            .asks
            .get(&(r.service.clone(), r.id.clone()))
            .into_iter()
            .flatten()
        {
            a.apply(&mut r);
        }
        r
    }

    fn share(st: &State, id: &str) -> u32 {
        if st.default.as_deref() == Some(id) {
            return 100;
        }
        st.weights
            .iter()
            .find(|(d, _)| d == id)
            .map_or(0, |(_, p)| *p)
    }
}

impl Target for SimTarget {
    type ImageError = TargetError;

    async fn image(
        &self,
        service: &Service,
        id: &str,
        _registry: Option<&str>,
        _events: &dyn EventSink,
    ) -> Result<Image, TargetError> {
        let reference = match &service.image {
            wharf_manifest::ImageSource::Image(r) => r.clone(),
            wharf_manifest::ImageSource::Build(_) => format!("sim/{}:{id}", service.name),
        };
        Ok(Image::unpinned(reference))
    }

    async fn logs(
        &self,
        _of: crate::LogSource<'_>,
        query: LogQuery<'_>,
        line: &(dyn Fn(LogLine<'_>) + Sync),
    ) -> Result<usize, TargetError> {
        let log: Vec<String> = self
            .st()
            .log
            .iter()
            .filter(|l| query.keeps(l))
            .cloned()
            .collect();
        let skip = query
            .tail
            .map_or(0, |t| log.len().saturating_sub(t as usize));
        for l in &log[skip..] {
            line(LogLine {
                source: "sim",
                line: l,
                timestamp_ms: None,
            });
        }
        Ok(1)
    }

    async fn provision(
        &self,
        _service: &Service,
        record: &Record,
        count: u32,
    ) -> Result<(), TargetError> {
        self.call("provision")?;
        let now = self.clock.now_ms();
        let mut st = self.st();
        match st.behaviours.get(&record.image) {
            Some(Behaviour::CannotStart) => {
                return Err(TargetError::new(format!(
                    "image {} does not exist",
                    record.image
                )))
            }
            Some(Behaviour::RuntimeDown) => {
                return Err(TargetError {
                    transient: true,
                    ..TargetError::new("the runtime is not reachable")
                })
            }
            _ => {}
        }
        let d = st
            .deployments
            .entry(record.id.clone())
            .or_insert_with(|| Deployment {
                image: record.image.clone(),
                count,
                started_ms: now,
                retired: false,
            });
        if d.retired {
            // Provisioned again (a rollback to it): new tasks start now.
            d.retired = false;
            d.started_ms = now;
        }
        d.count = count;
        st.log.push(format!("provision {} {count}", record.id));
        Ok(())
    }

    async fn scale(
        &self,
        _service: &Service,
        deployment: &str,
        count: u32,
    ) -> Result<(), TargetError> {
        self.call("scale")?;
        let mut st = self.st();
        if let Some(d) = st.deployments.get_mut(deployment) {
            d.count = count;
        }
        st.log.push(format!("scale {deployment} {count}"));
        Ok(())
    }

    async fn health(&self, _service: &Service, deployment: &str) -> Result<Health, TargetError> {
        self.call("health")?;
        let now = self.clock.now_ms();
        let st = self.st();
        let Some(d) = st.deployments.get(deployment).filter(|d| !d.retired) else {
            return Ok(Health::default());
        };
        let age = now - d.started_ms;
        Ok(match self.behaviour(&st, deployment) {
            Behaviour::Healthy { after_ms } => Health {
                running: d.count,
                healthy: if age >= after_ms { d.count } else { 0 },
                stopped: vec![],
                ..Health::default()
            },
            Behaviour::Errors500 | Behaviour::SmokeFails => Health {
                running: d.count,
                healthy: if age >= 10_000 { d.count } else { 0 },
                stopped: vec![],
                ..Health::default()
            },
            Behaviour::CannotStart | Behaviour::RuntimeDown => Health::default(),
            Behaviour::GivenUp { after_ms } => Health {
                running: 0,
                healthy: 0,
                stopped: vec!["CannotPullContainerError: image not found".into()],
                failed: (age >= after_ms)
                    .then(|| "ECS deployment circuit breaker: tasks failed to start.".into()),
                ..Health::default()
            },
            Behaviour::NeverHealthy => Health {
                running: d.count,
                healthy: 0,
                stopped: vec![],
                ..Health::default()
            },
            Behaviour::ExitsAtStart => Health {
                running: 0,
                healthy: 0,
                stopped: vec![
                    "essential container exited with code 1".into();
                    (age / 5_000 + 1) as usize
                ],
                ..Health::default()
            },
            Behaviour::KilledAfter { after_ms } if age >= after_ms => Health {
                running: d.count,
                healthy: d.count.saturating_sub(1),
                stopped: vec!["task killed (SIGKILL)".into()],
                ..Health::default()
            },
            Behaviour::KilledAfter { .. } => Health {
                running: d.count,
                healthy: if age >= 10_000 { d.count } else { 0 },
                stopped: vec![],
                ..Health::default()
            },
        })
    }

    async fn requests(
        &self,
        _service: &Service,
        deployment: &str,
        window_ms: u64,
    ) -> Result<Requests, TargetError> {
        let st = self.st();
        let total = RATE * window_ms / 1000 * u64::from(Self::share(&st, deployment)) / 100;
        let errors = if self.behaviour(&st, deployment) == Behaviour::Errors500 {
            total
        } else {
            0
        };
        Ok(Requests {
            total,
            errors_5xx: errors,
        })
    }

    async fn set_weights(
        &self,
        _service: &Service,
        weights: &[(String, u32)],
    ) -> Result<(), TargetError> {
        self.call("set_weights")?;
        let mut st = self.st();
        st.weights = weights.to_vec();
        st.default = None;
        let line = weights
            .iter()
            .map(|(d, p)| format!("{d}={p}"))
            .collect::<Vec<_>>()
            .join(" ");
        st.log.push(format!("weights {line}"));
        Ok(())
    }

    async fn set_test_route(
        &self,
        _service: &Service,
        deployment: Option<&str>,
    ) -> Result<(), TargetError> {
        self.call("set_test_route")?;
        let mut st = self.st();
        st.test_route = deployment.map(str::to_owned);
        st.log
            .push(format!("test-route {}", deployment.unwrap_or("none")));
        Ok(())
    }

    async fn make_default(&self, _service: &Service, deployment: &str) -> Result<(), TargetError> {
        self.call("make_default")?;
        let mut st = self.st();
        st.default = Some(deployment.to_owned());
        st.weights = vec![(deployment.to_owned(), 100)];
        st.log.push(format!("default {deployment}"));
        Ok(())
    }

    async fn smoke(
        &self,
        _service: &Service,
        deployment: &str,
        check: &SmokeCheck,
    ) -> Result<(), TargetError> {
        let st = self.st();
        if st.test_route.as_deref() != Some(deployment) {
            return Err(TargetError::new("no test route to the deployment"));
        }
        if self.behaviour(&st, deployment) == Behaviour::SmokeFails {
            return Err(TargetError::new(format!(
                "GET {} answered 500, expected {}",
                check.path, check.status
            )));
        }
        Ok(())
    }

    async fn retire(&self, service: &Service, deployment: &str) -> Result<(), TargetError> {
        self.call("retire")?;
        // Drains second by second, noting any moment the service's lock has lapsed.
        let mut left = self.st().drain_ms;
        while left > 0 {
            let chunk = left.min(1_000);
            self.clock.sleep(chunk).await;
            left -= chunk;
            let mut st = self.st();
            let now = self.clock.now_ms();
            if st
                .locks
                .get(&service.name)
                .is_some_and(|l| l.expires_ms <= now)
            {
                st.lapses.push(now);
            }
        }
        let mut st = self.st();
        if let Some(d) = st.deployments.get_mut(deployment) {
            d.retired = true;
            d.count = 0;
        }
        st.weights.retain(|(d, _)| d != deployment);
        st.log.push(format!("retire {deployment}"));
        Ok(())
    }

    fn url(&self) -> Option<String> {
        Some("sim://".into())
    }

    async fn routes(&self, _service: &Service) -> Result<Routes, TargetError> {
        let st = self.st();
        Ok(Routes {
            weights: st.weights.clone(),
            test: st.test_route.clone(),
        })
    }

    async fn present(&self, _service: &Service) -> Result<Vec<String>, TargetError> {
        Ok(SimTarget::present(self))
    }

    async fn run_hook(
        &self,
        _service: &Service,
        record: &Record,
        hook: HookKind,
        _command: &[String],
    ) -> Result<(), TargetError> {
        let mut st = self.st();
        st.log.push(format!("hook {hook} {}", record.id));
        if st.failing_hooks.contains(&hook) {
            return Err(TargetError::new(format!("{hook} exited with code 1")));
        }
        Ok(())
    }

    async fn job_image(
        &self,
        job: &Job,
        build: &Build,
        run: &str,
        _registry: Option<&str>,
        _events: &dyn EventSink,
    ) -> Result<Image, TargetError> {
        Ok(self.sim_job_image(job, build, run))
    }

    async fn start_job(&self, spec: &JobSpec<'_>) -> Result<JobTask, TargetError> {
        self.sim_start_job(spec)
    }

    async fn follow_job(
        &self,
        _job: &Job,
        task: &JobTask,
        deadline_ms: Option<i64>,
        line: &(dyn Fn(LogLine<'_>) + Sync),
    ) -> Result<Option<RunEnd>, TargetError> {
        self.sim_follow_job(task, deadline_ms, line).await
    }

    async fn stop_job(&self, _job: &Job, task: &JobTask) -> Result<(), TargetError> {
        self.sim_stop_job(task)
    }

    async fn schedule(
        &self,
        spec: &crate::ScheduleSpec<'_>,
    ) -> Result<crate::Scheduled, TargetError> {
        self.sim_schedule(spec)
    }

    async fn schedules(&self) -> Result<Vec<crate::Scheduled>, TargetError> {
        self.call("list schedules")?;
        Ok(self.st().schedules.values().cloned().collect())
    }

    async fn secret_value(
        &self,
        secret: &wharf_manifest::SecretRef,
    ) -> Result<String, TargetError> {
        self.call(&format!("read {secret}"))?;
        Ok(format!("secret:{secret}"))
    }

    async fn current_count(
        &self,
        _service: &Service,
        deployment: &str,
    ) -> Result<Option<u32>, TargetError> {
        self.sim_count(deployment)
    }

    async fn topic(&self, topic: &str) -> Result<String, TargetError> {
        self.sim_topic(topic)
    }

    async fn publish(&self, topic: &str, notice: &crate::Notice) -> Result<(), TargetError> {
        self.sim_publish(topic, notice)
    }

    async fn unschedule(&self, job: &str) -> Result<(), TargetError> {
        self.call(&format!("unschedule {job}"))?;
        self.st().schedules.remove(job);
        Ok(())
    }
}

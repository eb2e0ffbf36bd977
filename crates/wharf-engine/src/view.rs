//! What `wharf status` and `wharf history` show, read through the [`Target`] trait alone, so
//! every target — the simulator, Docker and the proxy, ECS and the load balancer — is shown by
//! the same code: the records, the runtime's traffic split and each deployment's health.

use std::fmt;

use serde::Serialize;
use wharf_manifest::{Job, Service};

use crate::controller::target_err;
use crate::error::EngineError;
use crate::plan::Step;
use crate::record::{Outcome, Record, Status};
use crate::runs::RunRecord;
use crate::schedules::Scheduled;
use crate::target::{Store, Target, Unreadable};

/// One deployment as `status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentStatus {
    pub id: String,
    pub image: String,
    pub phase: String,
    /// Its share of the default traffic (None: not in the split).
    pub weight: Option<u32>,
    pub healthy: u32,
    pub targets: u32,
    /// Its alarms in ALARM, each with its reason.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<String>,
    /// Why its tasks stopped, the latest few (newest last), each once with how often.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stopped: Vec<String>,
    /// The runtime gave it up (ECS's circuit breaker).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    /// An unfinished deployment's step: `3/7`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// What an unfinished deployment waits for, and for how long.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// An unfinished deployment's latest troubled events from the runtime's scheduler (ECS
    /// service events), newest last.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
}

/// How many of the scheduler's events `status` shows per deployment.
pub const EVENTS_SHOWN: usize = 3;

/// What an unfinished deployment waits for, from its record and health.
pub fn waiting(r: &Record, healthy: u32, now_ms: i64) -> Option<String> {
    let secs = |ms: i64| (ms.max(0) + 999) / 1000;
    let elapsed = secs(now_ms - r.step_started_ms);
    let step = r.current_step()?;
    Some(match (r.status, step) {
        (Status::Finished, _) => return None,
        (Status::AwaitingApproval, _) | (_, Step::Approval) => {
            "approval: `wharf promote` continues, `wharf abort` rolls back".to_owned()
        }
        (Status::RollingBack, _) => "traffic returning to the previous deployment".to_owned(),
        (_, Step::WaitHealthy { count }) | (_, Step::Scale { new: count, .. }) => {
            format!("{count} healthy targets ({healthy} now), {elapsed}s so far")
        }
        (_, Step::Bake { ms }) => format!(
            "the bake to end ({elapsed}s of {}s), watching 5xx and stopped tasks",
            secs(*ms as i64)
        ),
        (_, Step::Hook { hook }) => format!("the {hook} hook, {elapsed}s so far"),
        (_, other) => format!("{other}, {elapsed}s so far"),
    })
}

/// How many distinct stop reasons `status` shows per deployment.
pub const STOP_REASONS_SHOWN: usize = 3;

/// The latest distinct reasons, newest last, with how often each was seen (`… (×4)`).
pub fn latest_reasons(stopped: &[String]) -> Vec<String> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for r in stopped.iter().rev() {
        if let Some((_, n)) = out.iter_mut().find(|(x, _)| x == r) {
            *n += 1;
        } else if out.len() < STOP_REASONS_SHOWN {
            out.push((r.clone(), 1));
        }
    }
    out.into_iter()
        .rev()
        .map(|(r, n)| if n > 1 { format!("{r} (×{n})") } else { r })
        .collect()
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceStatus {
    pub service: String,
    pub strategy: String,
    pub deployments: Vec<DeploymentStatus>,
}

/// One job as `status` shows it: its schedule as the runtime has it, its next and its last
/// run.
#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    pub job: String,
    /// The manifest's `schedule`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
    /// The schedule the runtime has (None: not scheduled; `wharf deploy` makes it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled: Option<Scheduled>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_run_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_run: Option<RunRecord>,
}

/// An environment's deployments, traffic and health.
#[derive(Debug, Clone, Serialize)]
pub struct EnvStatus {
    pub environment: String,
    /// Where the environment answers: wharf's proxy locally (None when it is not running),
    /// the load balancer on AWS.
    pub url: Option<String>,
    /// The environment's dashboard (CloudWatch on AWS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dashboard: Option<String>,
    pub services: Vec<ServiceStatus>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub jobs: Vec<JobStatus>,
    /// Records that do not read: skipped, so one damaged record hides nothing else.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<Unreadable>,
}

impl EnvStatus {
    /// Reads the status of `services` from the target: the deployments that serve or are
    /// unfinished, with their weights and health; and of `jobs`: their schedules and runs.
    pub async fn of<T: Target>(
        target: &T,
        environment: &str,
        services: &[&Service],
        jobs: &[&Job],
        now_ms: i64,
    ) -> Result<EnvStatus, EngineError> {
        let (mut out, mut unreadable) = (Vec::new(), Vec::new());
        for svc in services {
            let (records, bad) = target
                .list_readable(&svc.name)
                .await
                .map_err(target_err("read the records"))?;
            unreadable.extend(bad);
            let routes = target
                .routes(svc)
                .await
                .map_err(target_err(format!("read the routes of {}", svc.name)))?;
            let mut deployments = Vec::new();
            for r in records
                .iter()
                .filter(|r| r.outcome == Some(Outcome::Succeeded) || !r.is_finished())
            {
                let h = target
                    .observe(svc, &r.id)
                    .await
                    .map_err(target_err(format!("read the health of {}", r.id)))?;
                // What the scheduler says, for a deployment still on its way.
                let events = if r.is_finished() {
                    Vec::new()
                } else {
                    let clues = target
                        .evidence(svc, &r.id)
                        .await
                        .map_err(target_err(format!("read the events of {}", r.id)))?;
                    let events: Vec<String> = clues
                        .into_iter()
                        .filter(|c| c.source == crate::Source::Event)
                        .map(|c| c.text)
                        .collect();
                    events[events.len().saturating_sub(EVENTS_SHOWN)..].to_vec()
                };
                deployments.push(DeploymentStatus {
                    step: (!r.is_finished() && r.step < r.steps.len())
                        .then(|| format!("{}/{}", r.step + 1, r.steps.len())),
                    waiting: waiting(r, h.healthy, now_ms),
                    events,
                    id: r.id.clone(),
                    image: r.image.clone(),
                    phase: r.phase(),
                    weight: routes.weight(&r.id),
                    healthy: h.healthy,
                    targets: h.running,
                    alarms: h.alarms,
                    stopped: latest_reasons(&h.stopped),
                    failed: h.failed,
                });
            }
            out.push(ServiceStatus {
                service: svc.name.clone(),
                strategy: svc.deploy.strategy.to_string(),
                deployments,
            });
        }
        Ok(EnvStatus {
            environment: environment.to_owned(),
            url: target.url(),
            dashboard: target.dashboard(),
            services: out,
            jobs: job_status(target, jobs, now_ms).await?,
            unreadable,
        })
    }
}

impl fmt::Display for EnvStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.url {
            Some(url) => writeln!(f, "environment {}: serving on {url}", self.environment)?,
            None => writeln!(
                f,
                "environment {}: proxy not running (`wharf up`)",
                self.environment
            )?,
        }
        if let Some(d) = &self.dashboard {
            writeln!(f, "dashboard {d}")?;
        }
        for s in &self.services {
            writeln!(f, "\n{} ({})", s.service, s.strategy)?;
            if s.deployments.is_empty() {
                writeln!(f, "  no deployment")?;
            }
            for d in &s.deployments {
                let weight = d.weight.map_or("-".into(), |w| format!("{w}%"));
                writeln!(
                    f,
                    "  {:<24} {:>5}  {}/{} healthy  {}  {}",
                    d.id, weight, d.healthy, d.targets, d.phase, d.image
                )?;
                for a in &d.alarms {
                    writeln!(f, "      alarm: {a}")?;
                }
                for r in &d.stopped {
                    writeln!(f, "      stopped: {r}")?;
                }
                if let Some(why) = &d.failed {
                    writeln!(f, "      given up: {why}")?;
                }
                if let (Some(step), Some(w)) = (&d.step, &d.waiting) {
                    writeln!(f, "      step {step}, waiting for {w}")?;
                }
                for e in &d.events {
                    writeln!(f, "      event: {e}")?;
                }
            }
        }
        if !self.jobs.is_empty() {
            writeln!(f, "\njobs")?;
        }
        for j in &self.jobs {
            write!(f, "{j}")?;
        }
        warn_unreadable(f, &self.unreadable)
    }
}

async fn job_status<T: Target>(
    target: &T,
    jobs: &[&Job],
    now_ms: i64,
) -> Result<Vec<JobStatus>, EngineError> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let schedules = target
        .schedules()
        .await
        .map_err(target_err("read the schedules"))?;
    let mut out = Vec::new();
    for job in jobs {
        let scheduled = schedules.iter().find(|s| s.job == job.name).cloned();
        let last_run = target
            .latest_run(job)
            .await
            .map_err(target_err(format!("read the runs of {}", job.name)))?;
        out.push(JobStatus {
            job: job.name.clone(),
            schedule: job.schedule.clone(),
            next_run_ms: scheduled.as_ref().and_then(|s| s.next_run(now_ms)),
            scheduled,
            last_run,
        });
    }
    Ok(out)
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.job)?;
        match (&self.schedule, &self.scheduled) {
            (None, None) => writeln!(f, "  not scheduled: runs by `wharf run` or as a hook")?,
            (Some(want), None) => writeln!(
                f,
                "  schedule {want}: not made yet (`wharf deploy` makes it)"
            )?,
            (want, Some(s)) => {
                write!(f, "  schedule {}", s.expression)?;
                match want {
                    Some(w) if *w == s.expression => {}
                    Some(w) => write!(f, " (the manifest says {w}: `wharf deploy` applies it)")?,
                    None => write!(f, " (gone from the manifest: `wharf deploy` removes it)")?,
                }
                writeln!(f)?;
                match self.next_run_ms {
                    Some(n) => writeln!(f, "  next run  {}", wharf_manifest::names::utc(n))?,
                    None => writeln!(f, "  next run  never")?,
                }
            }
        }
        match &self.last_run {
            Some(r) => writeln!(f, "  last run  {r}"),
            None => writeln!(f, "  last run  none"),
        }
    }
}

/// One line per skipped record.
fn warn_unreadable(f: &mut fmt::Formatter<'_>, unreadable: &[Unreadable]) -> fmt::Result {
    for u in unreadable {
        writeln!(f, "warning: {u}; skipped")?;
    }
    Ok(())
}

/// Past deployments, oldest first.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub deployments: Vec<Record>,
    /// Records that do not read: skipped, with a warning naming each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<Unreadable>,
}

impl History {
    /// The records of `services`, oldest first.
    pub async fn of<S: Store>(store: &S, services: &[&Service]) -> Result<History, EngineError> {
        let (mut all, mut unreadable) = (Vec::new(), Vec::new());
        for svc in services {
            let (records, bad) = store
                .list_readable(&svc.name)
                .await
                .map_err(target_err("read the records"))?;
            all.extend(records);
            unreadable.extend(bad);
        }
        all.sort_by_key(|r| r.started_ms);
        Ok(History {
            deployments: all,
            unreadable,
        })
    }
}

impl fmt::Display for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in self.deployments.iter().rev() {
            let took = r.finished_ms.map_or("-".into(), |e| {
                format!("{:.1}s", (e - r.started_ms) as f64 / 1000.0)
            });
            let reason = r
                .reason
                .as_ref()
                .map(|x| format!("  ({x})"))
                .unwrap_or_default();
            writeln!(
                f,
                "{:<24} {:<8} {:<10} {:<18} {:>7}{reason}",
                r.id,
                r.service,
                r.strategy.to_string(),
                r.phase(),
                took
            )?;
        }
        warn_unreadable(f, &self.unreadable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(steps: Vec<Step>, step: usize, status: Status) -> Record {
        serde_json::from_value(serde_json::json!({
            "id": "d", "app": "a", "env": "e", "service": "web", "image": "i", "strategy": "canary",
            "steps": steps, "step": step, "step_started_ms": 10_000, "status": status,
            "weight": 0, "started_ms": 0, "updated_ms": 0
        }))
        .expect("a record")
    }

    #[test]
    fn an_unfinished_deployment_says_what_it_waits_for() {
        let steps = vec![
            Step::WaitHealthy { count: 2 },
            Step::Bake { ms: 60_000 },
            Step::Approval,
            Step::RetirePrevious,
        ];
        let at = |step, status| waiting(&record(steps.clone(), step, status), 1, 25_000);
        assert_eq!(
            at(0, Status::InProgress).as_deref(),
            Some("2 healthy targets (1 now), 15s so far")
        );
        assert_eq!(
            at(1, Status::InProgress).as_deref(),
            Some("the bake to end (15s of 60s), watching 5xx and stopped tasks")
        );
        assert!(at(2, Status::AwaitingApproval).is_some_and(|w| w.contains("wharf promote")));
        assert!(at(3, Status::RollingBack).is_some_and(|w| w.contains("previous")));
        assert_eq!(at(3, Status::Finished), None);
        assert_eq!(at(4, Status::InProgress), None, "past the last step");
    }
}

//! The engine's target on AWS, through direct API calls (faster than a stack update, and every wait bounded): per deployment a
//! task definition, a target group attached to the service's listener rule BEFORE the ECS
//! service that uses it is created, an ECS service, and two CloudWatch alarms; traffic moves by
//! the weights of the service's base rule. Records and locks live in the state table.
//!
//! Per service with routing priority `p` on the environment's listener: the base rule at
//! `p*100+99` (weighted forward to the deployments' target groups), the test route at
//! `p*100+98` (blue/green and smoke checks), and, for affinity, a pair of sticky rules per
//! deployment from `p*100` up (its cookie, its header), created with its target group.
//!
//! Rolling services keep one ECS service and one target group (`{app}-{env}-{service}`) across
//! deployments: ECS's own rolling replacement with the circuit breaker does the batches
//! ([`wharf_engine::Target::native_rolling`]), and going back is an update to the previous
//! deployment's task definition.
//!
//! Jobs run as one-off tasks of their own task definition ([`jobs`]), followed through
//! DescribeTasks and their CloudWatch log stream (`follow`); scheduled ones by EventBridge
//! Scheduler ([`schedules`]).
//!
//! A service with `autoscaling` gets its policies on each deployment's ECS service
//! ([`scaling`]), removed before that service is retired.

pub mod alarms;
mod clients;
pub mod env;
mod follow;
pub mod jobs;
pub mod lb;
pub mod logs;
pub mod scaling;
pub mod schedules;
pub mod service;
pub mod taskdef;

mod attach;
mod drain;
mod evidence;
pub mod exec;
mod fresh;
mod health;
mod keep;
mod kept;
mod provision;
mod retire;
pub(crate) mod sns;
mod view;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use wharf_engine::{
    Clock, EventSink, Health, HookKind, Image, JobSpec, JobTask, LogLine, LogQuery, Record,
    Requests, Routes, RunEnd, Store, SystemClock, Target, TargetError,
};
use wharf_manifest::rules::RuleLayout;
use wharf_manifest::{Build, Job, Names, Service, SmokeCheck, StrategyKind};

use crate::error::AwsError;
use crate::refs::Kind;
use crate::state::DynamoStore;
pub use clients::Clients;
pub use env::{EnvOutputs, ServiceOutputs};
pub use taskdef::EnvValue;

/// The AWS target of one environment.
pub struct AwsTarget {
    pub out: EnvOutputs,
    pub clients: Clients,
    pub store: DynamoStore,
    /// The manifest's directory: hooks run there.
    pub root: PathBuf,
    /// What no image's build context may carry ([`wharf_manifest::Manifest::private_paths`]).
    pub private: Vec<PathBuf>,
    /// Per service, the values its data bindings resolved to.
    pub bindings: BTreeMap<String, Vec<(String, EnvValue)>>,
    /// Per job, the same.
    pub job_bindings: BTreeMap<String, Vec<(String, EnvValue)>>,
    /// How often internal waits (a service to go, a target group to be free) look again.
    pub poll: Duration,
    /// Stopped tasks and failing targets seen per deployment (their count never decreases).
    seen: Mutex<HashMap<String, Vec<(String, String)>>>,
    /// Rule edits of this process one at a time.
    edit: tokio::sync::Mutex<()>,
    /// The listeners' rules as last read or changed ([`kept`]).
    kept: kept::KeptRules,
    /// Alarms in ALARM by the deployment's alarm names, while fresh ([`fresh`]).
    alarms_read: fresh::Fresh<Vec<String>>,
    /// Requests and 5xx answers by target group and window, while fresh.
    requests_read: fresh::Fresh<(u64, u64)>,
}

pub(crate) fn terr(e: AwsError) -> TargetError {
    e.into()
}

pub(super) fn rolling(service: &Service) -> bool {
    service.deploy.strategy == StrategyKind::Rolling
}

impl AwsTarget {
    pub fn new(
        out: EnvOutputs,
        clients: Clients,
        store: DynamoStore,
        root: PathBuf,
        bindings: BTreeMap<String, Vec<(String, EnvValue)>>,
    ) -> Self {
        AwsTarget {
            out,
            clients,
            store,
            private: vec![root.join(".wharf")],
            root,
            bindings,
            job_bindings: BTreeMap::new(),
            poll: Duration::from_secs(2),
            seen: Mutex::new(HashMap::new()),
            edit: tokio::sync::Mutex::new(()),
            kept: kept::KeptRules::default(),
            alarms_read: fresh::Fresh::new(fresh::CLOUDWATCH_MS),
            requests_read: fresh::Fresh::new(fresh::CLOUDWATCH_MS),
        }
    }

    fn names(&self) -> Names<'_> {
        Names::new(&self.out.app, &self.out.env)
    }

    /// The deployment's target group name.
    pub fn tg_name(&self, service: &Service, deployment: &str) -> String {
        if rolling(service) {
            self.names().rolling_target_group(&service.name)
        } else {
            self.names().target_group(&service.name, deployment)
        }
    }

    /// The deployment's ECS service name.
    pub fn ecs_name(&self, service: &Service, deployment: &str) -> String {
        if rolling(service) {
            self.names().rolling_ecs_service(&service.name)
        } else {
            self.names().ecs_service(&service.name, deployment)
        }
    }

    /// Names of the deployment's alarms (per deployment, also for rolling services).
    pub fn alarm_names(&self, service: &Service, deployment: &str) -> [String; 2] {
        alarms::names(&self.names().target_group(&service.name, deployment))
    }

    fn family(&self, service: &Service) -> String {
        self.names().task_family(&service.name)
    }

    /// The service's base, test and sticky priorities ([`RuleLayout`]).
    pub(crate) fn priorities(service: &Service) -> (u32, u32, std::ops::RangeInclusive<u32>) {
        let l = RuleLayout::service(service);
        (l.base, l.test, l.sticky)
    }

    /// The deployment's target group, if it exists: as remembered ([`crate::refs`]), else
    /// found by its name.
    pub(crate) async fn tg_arn(
        &self,
        service: &Service,
        deployment: &str,
    ) -> Result<Option<String>, TargetError> {
        let name = self.tg_name(service, deployment);
        let find = lb::find_tg(&self.clients.elb, &name);
        self.remembered(service, deployment, Kind::TargetGroup, find)
            .await
    }

    /// The deployment's task definition, if registered: as remembered, else found by its
    /// `DEPLOYMENT_ID`.
    pub(crate) async fn td_arn(
        &self,
        service: &Service,
        deployment: &str,
    ) -> Result<Option<String>, TargetError> {
        let family = self.family(service);
        let find = taskdef::find(&self.clients.ecs, &family, deployment);
        self.remembered(service, deployment, Kind::TaskDefinition, find)
            .await
    }

    /// The deployment's `kind` as remembered, else what `find` answers (then remembered).
    async fn remembered(
        &self,
        service: &Service,
        deployment: &str,
        kind: Kind,
        find: impl std::future::Future<Output = Result<Option<String>, AwsError>>,
    ) -> Result<Option<String>, TargetError> {
        if let Some(arn) = self.store.refs.get(&service.name, deployment, kind) {
            return Ok(Some(arn));
        }
        let arn = find.await.map_err(terr)?;
        if let Some(a) = &arn {
            self.store.refs.put(&service.name, deployment, kind, a);
        }
        Ok(arn)
    }

    async fn record_of(&self, service: &Service, deployment: &str) -> Result<Record, TargetError> {
        self.store
            .load(&service.name, deployment)
            .await?
            .ok_or_else(|| TargetError::new(format!("no record of deployment {deployment}")))
    }

    fn remember(&self, deployment: &str, key: String, reason: String) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let list = seen.entry(deployment.to_owned()).or_default();
        if !list.iter().any(|(k, _)| *k == key) {
            list.push((key, reason));
        }
    }

    fn stopped(&self, deployment: &str) -> Vec<String> {
        self.seen
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(deployment)
            .map(|l| l.iter().map(|(_, r)| r.clone()).collect())
            .unwrap_or_default()
    }
}

wharf_engine::delegate_store!(AwsTarget, store);

impl Target for AwsTarget {
    type ImageError = crate::ship::ImageError;

    async fn image(
        &self,
        service: &Service,
        id: &str,
        registry: Option<&str>,
        events: &dyn EventSink,
    ) -> Result<Image, Self::ImageError> {
        self.ship(service, id, registry, events).await
    }

    fn url(&self) -> Option<String> {
        Some(self.out.url())
    }

    async fn routes(&self, service: &Service) -> Result<Routes, TargetError> {
        self.routes_of(service).await
    }

    async fn logs(
        &self,
        of: wharf_engine::LogSource<'_>,
        query: LogQuery<'_>,
        line: &(dyn Fn(LogLine<'_>) + Sync),
    ) -> Result<usize, TargetError> {
        self.aws_logs(of, query, line).await
    }
    fn native_rolling(&self) -> bool {
        true
    }

    async fn provision(
        &self,
        service: &Service,
        record: &Record,
        count: u32,
    ) -> Result<(), TargetError> {
        self.provision_deployment(service, record, count).await
    }

    async fn scale(
        &self,
        service: &Service,
        deployment: &str,
        count: u32,
    ) -> Result<(), TargetError> {
        if !rolling(service) {
            return service::scale(
                &self.clients.ecs,
                &self.out.cluster,
                &self.ecs_name(service, deployment),
                count,
            )
            .await
            .map_err(terr);
        }
        // Rolling: run that deployment's task definition again (going back).
        let record = self.record_of(service, deployment).await?;
        self.provision(service, &record, count).await
    }

    async fn health(&self, service: &Service, deployment: &str) -> Result<Health, TargetError> {
        self.health_of(service, deployment).await
    }

    async fn requests(
        &self,
        service: &Service,
        deployment: &str,
        window_ms: u64,
    ) -> Result<Requests, TargetError> {
        if !service.routed() || rolling(service) {
            return Ok(Requests::default());
        }
        let Some(tg) = self.tg_arn(service, deployment).await? else {
            return Ok(Requests::default());
        };
        let read = alarms::requests(
            &self.clients.cw,
            self.out.load_balancer_of(service),
            &tg,
            SystemClock.now_ms(),
            window_ms,
        );
        let (total, errors_5xx) = self
            .requests_read
            .get_or_read(&format!("{tg} {window_ms}"), read)
            .await
            .map_err(terr)?;
        Ok(Requests { total, errors_5xx })
    }

    async fn set_weights(
        &self,
        service: &Service,
        weights: &[(String, u32)],
    ) -> Result<(), TargetError> {
        if !service.routed() {
            return Ok(());
        }
        let _g = self.edit.lock().await;
        let mut forward: Vec<(String, u32)> = Vec::new();
        for (d, w) in weights {
            let arn = self.tg_arn(service, d).await?.ok_or_else(|| {
                TargetError::new(format!(
                    "target group {} of {d} does not exist",
                    self.tg_name(service, d)
                ))
            })?;
            match forward.iter_mut().find(|(a, _)| *a == arn) {
                // Rolling: every deployment is the same target group.
                Some(f) => f.1 = (f.1 + w).min(100),
                None => forward.push((arn, *w)),
            }
        }
        self.set_base(service, forward).await?;
        self.settle_floors(service, weights).await
    }

    async fn set_test_route(
        &self,
        service: &Service,
        deployment: Option<&str>,
    ) -> Result<(), TargetError> {
        if !service.routed() {
            return Ok(());
        }
        let _g = self.edit.lock().await;
        let elb = &self.clients.elb;
        let rules = self
            .kept
            .rules(elb, self.out.listener_of(service))
            .await
            .map_err(terr)?;
        let (_, test, _) = Self::priorities(service);
        match deployment {
            None => match rules.iter().find(|r| r.priority == test) {
                Some(r) => self.kept.delete_rule(elb, r).await.map_err(terr),
                None => Ok(()),
            },
            Some(d) => {
                let tg = self.tg_arn(service, d).await?.ok_or_else(|| {
                    TargetError::new(format!("target group of {d} does not exist"))
                })?;
                let header = service.deploy.blue_green.test_header.as_str();
                self.kept
                    .put_rule(
                        elb,
                        self.out.listener_of(service),
                        &rules,
                        test,
                        lb::conditions(service, Some((header, vec!["*".into()]))),
                        lb::forward(&[(tg, 1)], None),
                        &self.rule_tags(service),
                    )
                    .await
                    .map(|_| ())
                    .map_err(terr)
            }
        }
    }

    async fn make_default(&self, service: &Service, deployment: &str) -> Result<(), TargetError> {
        if !service.routed() {
            return Ok(());
        }
        let _g = self.edit.lock().await;
        let tg = self.tg_arn(service, deployment).await?.ok_or_else(|| {
            TargetError::new(format!("target group of {deployment} does not exist"))
        })?;
        let rules = self
            .kept
            .rules(&self.clients.elb, self.out.listener_of(service))
            .await
            .map_err(terr)?;
        let (base, _, _) = Self::priorities(service);
        // New users go to the new deployment; the older ones stay in the rule at weight 0 so
        // ALB's stickiness keeps their users where they were.
        let mut forward = vec![(tg.clone(), 100)];
        if let Some(r) = rules.iter().find(|r| r.priority == base) {
            forward.extend(
                r.forward
                    .iter()
                    .filter(|(a, _)| *a != tg)
                    .map(|(a, _)| (a.clone(), 0)),
            );
        }
        self.set_base(service, forward).await?;
        self.settle_floors(service, &[(deployment.to_owned(), 100)])
            .await
    }

    async fn smoke(
        &self,
        service: &Service,
        _deployment: &str,
        check: &SmokeCheck,
    ) -> Result<(), TargetError> {
        // Through the load balancer, naming the service's host (the certificate covers it).
        let out = &self.out;
        let host = service
            .routing
            .as_ref()
            .and_then(|r| r.hosts.first().cloned())
            .unwrap_or_else(|| out.load_balancer_dns.clone());
        let endpoint = if out.https {
            wharf_http::Endpoint::tls(&out.load_balancer_dns, 443, &host)
        } else {
            wharf_http::Endpoint::plain(&out.load_balancer_dns, 80)
        };
        let entrance = &out.load_balancer_dns;
        wharf_engine::smoke::smoke_check(&endpoint, &host, entrance, service, check).await
    }

    async fn drain(
        &self,
        service: &Service,
        deployment: &str,
    ) -> Result<Option<wharf_engine::Drained>, TargetError> {
        self.aws_drain(service, deployment).await
    }

    async fn retire(&self, service: &Service, deployment: &str) -> Result<(), TargetError> {
        let ecs_name = self.ecs_name(service, deployment);
        let tg = self.tg_arn(service, deployment).await?;
        let whole = if rolling(service) {
            // The shared service goes only when it still runs this deployment (the last one
            // drained, or a first deployment rolled back); otherwise ECS already replaced it.
            let td = self.td_arn(service, deployment).await?;
            match service::describe(&self.clients.ecs, &self.out.cluster, &ecs_name)
                .await
                .map_err(terr)?
            {
                Some(v) => td.is_some_and(|td| v.task_definition == td),
                None => true,
            }
        } else {
            true
        };
        if whole {
            if let Some(tg) = &tg {
                self.detach(service, tg).await?;
            }
            self.remove_service_and_tg(service, &ecs_name, tg.as_deref())
                .await?;
        }
        alarms::delete(&self.clients.cw, &self.alarm_names(service, deployment))
            .await
            .map_err(terr)?;
        let image = match self.store.refs.image(&service.name, deployment) {
            Some(image) => Some(image),
            None => self
                .store
                .load(&service.name, deployment)
                .await?
                .map(|r| r.image),
        };
        if let Some(image) = image {
            self.release_image(service, &image, deployment)
                .await
                .map_err(terr)?;
        }
        self.prune_task_definitions(service).await
    }

    async fn present(&self, service: &Service) -> Result<Vec<String>, TargetError> {
        self.present_deployments(service).await
    }

    async fn run_hook(
        &self,
        _service: &Service,
        record: &Record,
        hook: HookKind,
        command: &[String],
    ) -> Result<(), TargetError> {
        wharf_engine::hooks::run_hook_command(&self.root, record, hook, command).await
    }

    async fn job_image(
        &self,
        job: &Job,
        build: &Build,
        run: &str,
        registry: Option<&str>,
        events: &dyn EventSink,
    ) -> Result<Image, crate::ImageError> {
        self.aws_job_image(job, build, run, registry, events).await
    }

    async fn start_job(&self, spec: &JobSpec<'_>) -> Result<JobTask, TargetError> {
        self.aws_start_job(spec).await
    }

    async fn follow_job(
        &self,
        job: &Job,
        task: &JobTask,
        deadline_ms: Option<i64>,
        line: &(dyn Fn(LogLine<'_>) + Sync),
    ) -> Result<Option<RunEnd>, TargetError> {
        self.aws_follow_job(job, task, deadline_ms, line).await
    }

    async fn stop_job(&self, job: &Job, task: &JobTask) -> Result<(), TargetError> {
        self.aws_stop_job(job, task).await
    }

    async fn schedule(
        &self,
        spec: &wharf_engine::ScheduleSpec<'_>,
    ) -> Result<wharf_engine::Scheduled, TargetError> {
        self.aws_schedule(spec).await
    }

    async fn schedules(&self) -> Result<Vec<wharf_engine::Scheduled>, TargetError> {
        self.aws_schedules().await
    }

    async fn secret_value(
        &self,
        secret: &wharf_manifest::SecretRef,
    ) -> Result<String, TargetError> {
        crate::ecs::taskdef::read_secret(&self.clients, secret)
            .await
            .map_err(terr)
    }

    async fn current_count(
        &self,
        service: &Service,
        deployment: &str,
    ) -> Result<Option<u32>, TargetError> {
        let name = self.ecs_name(service, deployment);
        let view = service::describe(&self.clients.ecs, &self.out.cluster, &name)
            .await
            .map_err(terr)?;
        Ok(view.map(|v| v.desired).filter(|n| *n > 0))
    }

    async fn topic(&self, topic: &str) -> Result<String, TargetError> {
        Ok(self.topic_arn(topic))
    }

    async fn publish(&self, topic: &str, notice: &wharf_engine::Notice) -> Result<(), TargetError> {
        self.publish_notice(topic, notice).await
    }

    async fn unschedule(&self, job: &str) -> Result<(), TargetError> {
        self.aws_unschedule(job).await
    }

    async fn evidence(
        &self,
        service: &Service,
        deployment: &str,
    ) -> Result<Vec<wharf_engine::Clue>, TargetError> {
        self.evidence_of(service, deployment).await
    }

    fn dashboard(&self) -> Option<String> {
        Some(wharf_cfn::dashboard_url(
            &self.out.region,
            &self.names().cluster(),
        ))
    }

    async fn exec(
        &self,
        req: wharf_engine::ExecRequest<'_>,
    ) -> Result<wharf_engine::Session, TargetError> {
        self.aws_exec(req).await
    }

    async fn stack_evidence(&self) -> Result<Vec<wharf_engine::Clue>, TargetError> {
        self.stack_evidence_of().await
    }

    async fn latest_run(&self, job: &Job) -> Result<Option<wharf_engine::RunRecord>, TargetError> {
        self.aws_latest_run(job).await
    }
}

//! The engine's target on one machine: deployments are labelled containers, traffic is the
//! proxy's rules (edited by [`crate::rules`]), records and locks are in the state database.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Mutex;

use wharf_docker::{Docker, LABEL_APP, LABEL_DEPLOYMENT, LABEL_ENV, LABEL_SERVICE};
use wharf_engine::{
    EventSink, Health, HookKind, Image, JobSpec, JobTask, LogLine, LogQuery, Record, Requests,
    Routes, RunEnd, ScheduleSpec, Scheduled, Store, Target, TargetError,
};
use wharf_manifest::{Build, ImageSource, Job, Names, Service, SmokeCheck};
use wharf_proxy::group::TargetState;
use wharf_proxy::{Config, RuleConfig};

use crate::daemon::{Answer, Command, ProxyClient};
use crate::rules;
use crate::store::LocalStore;

/// How often an edit of the routes is made again after another process changed them first.
const EDIT_ATTEMPTS: usize = 50;

/// Header the drain request carries the secret in.
pub use wharf_manifest::rules::DRAIN_SECRET_HEADER;

pub struct LocalTarget {
    pub store: LocalStore,
    pub docker: Docker,
    pub proxy: ProxyClient,
    pub app: String,
    pub env: String,
    /// Where the proxy listens (smoke checks go through it); None when it does not run.
    pub listen: Option<SocketAddr>,
    /// Secret references and their values (the environment's secrets file).
    pub secrets: HashMap<String, String>,
    /// The manifest's directory: hooks run there.
    pub root: PathBuf,
    /// What no image's build context may carry ([`wharf_manifest::Manifest::private_paths`]).
    pub private: Vec<PathBuf>,
    /// Each job's data bindings ([`wharf_cfn::bindings::for_job`]).
    pub job_bindings: HashMap<String, Vec<wharf_cfn::bindings::Binding>>,
    /// The manifest, as an absolute path: the daemon's scheduled runs read it.
    pub manifest_file: PathBuf,
    /// Per service, the internal services it talks to: name, variable and URL
    /// ([`wharf_manifest::Environment::callee_urls`]).
    pub callees: HashMap<String, Vec<(String, String, String)>>,
    /// The host's address on the environment's Docker network, where the proxy listens for
    /// internal services (None when no service is internal).
    pub gateway: Option<std::net::IpAddr>,
    pub(crate) desired: Mutex<HashMap<String, u32>>,
    pub(crate) stopped: Mutex<HashMap<String, Vec<String>>>,
    edit: tokio::sync::Mutex<()>,
}

/// A failure as the engine sees it: permanent (the deployment fails and rolls back) or
/// transient (the deploy stops, resumable).
pub(crate) trait Classify: std::fmt::Display {
    fn transient(&self) -> bool;
}

impl Classify for wharf_docker::DockerError {
    fn transient(&self) -> bool {
        self.is_transient()
    }
}

impl Classify for crate::daemon::DaemonError {
    /// The proxy not answering: `wharf up` starts it again.
    fn transient(&self) -> bool {
        true
    }
}

/// Said by the target itself: a refusal.
impl Classify for String {
    fn transient(&self) -> bool {
        false
    }
}

impl Classify for &str {
    fn transient(&self) -> bool {
        false
    }
}

impl Classify for tokio::task::JoinError {
    fn transient(&self) -> bool {
        false
    }
}

pub(crate) fn terr(what: impl Classify) -> TargetError {
    TargetError {
        transient: what.transient(),
        ..TargetError::new(what.to_string())
    }
}

impl LocalTarget {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: LocalStore,
        docker: Docker,
        proxy: ProxyClient,
        app: &str,
        env: &str,
        listen: Option<SocketAddr>,
        secrets: HashMap<String, String>,
        root: PathBuf,
    ) -> Self {
        LocalTarget {
            store,
            docker,
            proxy,
            app: app.into(),
            env: env.into(),
            listen,
            secrets,
            private: vec![root.join(".wharf")],
            manifest_file: root.join(wharf_manifest::MANIFEST_FILE),
            root,
            job_bindings: HashMap::new(),
            callees: HashMap::new(),
            gateway: None,
            desired: Mutex::new(HashMap::new()),
            stopped: Mutex::new(HashMap::new()),
            edit: tokio::sync::Mutex::new(()),
        }
    }

    pub(crate) fn names(&self) -> Names<'_> {
        Names::new(&self.app, &self.env)
    }

    pub(crate) fn group_name(&self, service: &str, deployment: &str) -> String {
        self.names().target_group(service, deployment)
    }

    pub fn image_tag(&self, service: &str, deployment: &str) -> String {
        format!("{}:{deployment}", self.names().local_image(service))
    }

    async fn config(&self) -> Result<Config, TargetError> {
        self.config_versioned().await.map(|(c, _)| c)
    }

    /// The proxy's routes and their version (what an apply must name to replace them).
    async fn config_versioned(&self) -> Result<(Config, u64), TargetError> {
        match self.proxy.send(&Command::Status).await.map_err(terr)? {
            Answer::Status {
                config, version, ..
            } => Ok((config, version)),
            other => Err(terr(format!("unexpected proxy answer {other:?}"))),
        }
    }

    /// Reads, changes and applies the proxy's configuration, one edit at a time.
    pub async fn edit(&self, f: impl Fn(&mut Config)) -> Result<(), TargetError> {
        // In-process edits queue here; edits from other wharf processes (two services deployed
        // at once) are caught by the proxy's version check and made again on fresh routes.
        let _guard = self.edit.lock().await;
        for _ in 0..EDIT_ATTEMPTS {
            let (mut cfg, version) = self.config_versioned().await?;
            f(&mut cfg);
            let apply = Command::Apply {
                config: cfg,
                expect: Some(version),
            };
            match self.proxy.send(&apply).await.map_err(terr)? {
                Answer::Conflict { .. } => continue,
                _ => return Ok(()),
            }
        }
        let mut e = TargetError::new(format!(
            "the proxy's routes changed under {EDIT_ATTEMPTS} edits in a row"
        ))
        .help("another wharf keeps changing this environment's routes; try again when it is done");
        e.transient = true;
        Err(e)
    }

    /// Changes the service's base rule (creating it from the routing settings).
    async fn edit_base(
        &self,
        service: &Service,
        f: impl Fn(&mut RuleConfig),
    ) -> Result<(), TargetError> {
        let Some(base) = rules::base_rule(service) else {
            return Err(terr(format!(
                "service {} is internal: it has no route",
                service.name
            )));
        };
        self.edit(|cfg| rules::edit_base(cfg, service, &base, &f))
            .await
    }

    /// Health from the proxy's view of the deployment's target group: (healthy, targets).
    async fn group_health(
        &self,
        service: &Service,
        deployment: &str,
    ) -> Result<(u32, u32), TargetError> {
        let group = self.group_name(&service.name, deployment);
        Ok(
            match self.proxy.send(&Command::Status).await.map_err(terr)? {
                Answer::Status { groups, .. } => {
                    groups.iter().find(|g| g.name == group).map_or((0, 0), |g| {
                        let healthy = g
                            .targets
                            .iter()
                            .filter(|t| t.1 == TargetState::Healthy)
                            .count();
                        (healthy as u32, g.targets.len() as u32)
                    })
                }
                _ => (0, 0),
            },
        )
    }
}

wharf_engine::delegate_store!(LocalTarget, store);

impl Target for LocalTarget {
    type ImageError = wharf_docker::BuildError;

    async fn provision(
        &self,
        service: &Service,
        record: &Record,
        count: u32,
    ) -> Result<(), TargetError> {
        self.reconcile(service, &record.id, &record.image, count)
            .await
    }

    async fn scale(
        &self,
        service: &Service,
        deployment: &str,
        count: u32,
    ) -> Result<(), TargetError> {
        let image = match self.store.load(&service.name, deployment).await? {
            Some(r) => r.image,
            None => self.image_tag(&service.name, deployment),
        };
        self.reconcile(service, deployment, &image, count).await
    }

    async fn health(&self, service: &Service, deployment: &str) -> Result<Health, TargetError> {
        // Replace stopped containers, as ECS's scheduler does, remembering why they stopped.
        let all = self.deployment_containers(deployment).await?;
        let mut replaced = false;
        for c in all.iter().filter(|c| !c.running) {
            let reason = self.keep_evidence(deployment, c).await;
            self.stopped
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(deployment.to_owned())
                .or_default()
                .push(reason);
            self.docker.stop_and_remove(&c.id, 1).await.map_err(terr)?;
            replaced = true;
        }
        let desired = self
            .desired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(deployment)
            .copied();
        if let (true, Some(n)) = (replaced, desired) {
            self.scale(service, deployment, n).await?;
        }
        let (healthy, _) = self.group_health(service, deployment).await?;
        let running = self.containers(deployment).await?.len() as u32;
        let stopped = self.stop_reasons(deployment);
        Ok(Health {
            running,
            healthy: healthy.min(running),
            stopped,
            ..Health::default()
        })
    }

    async fn requests(
        &self,
        service: &Service,
        deployment: &str,
        window_ms: u64,
    ) -> Result<Requests, TargetError> {
        let group = self.group_name(&service.name, deployment);
        match self
            .proxy
            .send(&Command::Requests { group, window_ms })
            .await
            .map_err(terr)?
        {
            Answer::Requests { total, errors_5xx } => Ok(Requests { total, errors_5xx }),
            other => Err(terr(format!("unexpected proxy answer {other:?}"))),
        }
    }

    async fn set_weights(
        &self,
        service: &Service,
        weights: &[(String, u32)],
    ) -> Result<(), TargetError> {
        let forward: Vec<(String, u32)> = weights
            .iter()
            .map(|(d, w)| (self.group_name(&service.name, d), *w))
            .collect();
        self.edit_base(service, |r| {
            r.forward = forward.clone();
            r.affinity_cookie = None;
        })
        .await
    }

    async fn set_test_route(
        &self,
        service: &Service,
        deployment: Option<&str>,
    ) -> Result<(), TargetError> {
        let Some(base) = rules::base_rule(service) else {
            return Ok(());
        };
        let group = deployment.map(|d| self.group_name(&service.name, d));
        self.edit(|cfg| rules::set_test_route(cfg, service, base.clone(), group.clone()))
            .await
    }

    async fn make_default(&self, service: &Service, deployment: &str) -> Result<(), TargetError> {
        let Some(base) = rules::base_rule(service) else {
            return Ok(());
        };
        let group_of = |d: &str| self.group_name(&service.name, d);
        let group = group_of(deployment);
        self.edit(|cfg| rules::make_default(cfg, service, base.clone(), &group_of, group.clone()))
            .await
    }

    async fn smoke(
        &self,
        service: &Service,
        _deployment: &str,
        check: &SmokeCheck,
    ) -> Result<(), TargetError> {
        let listen = self
            .listen
            .ok_or_else(|| terr("wharf's proxy is not running: `wharf up` starts it"))?;
        let host = service
            .routing
            .as_ref()
            .and_then(|r| r.hosts.first().cloned())
            .unwrap_or_else(|| listen.to_string());
        let endpoint = wharf_http::Endpoint::plain(listen.ip().to_string(), listen.port());
        wharf_engine::smoke::smoke_check(&endpoint, &host, "wharf's proxy", service, check).await
    }

    async fn drain(
        &self,
        service: &Service,
        deployment: &str,
    ) -> Result<Option<wharf_engine::Drained>, TargetError> {
        self.local_drain(service, deployment).await
    }

    async fn retire(&self, service: &Service, deployment: &str) -> Result<(), TargetError> {
        let containers = self.deployment_containers(deployment).await?;
        let group = self.group_name(&service.name, deployment);
        self.desired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(deployment);
        self.edit(|cfg| rules::remove_group(cfg, &group)).await?;
        // New requests stopped; in-flight ones finish within the deregistration delay.
        self.wait_target_gone(&group, None, service.deploy.drain.timeout.as_millis())
            .await;
        for c in containers {
            self.docker
                .stop_and_remove(&c.id, service.stop_timeout.as_secs_ceil() as i32)
                .await
                .map_err(terr)?;
        }
        Ok(())
    }

    fn url(&self) -> Option<String> {
        self.listen.map(|l| format!("http://{l}/"))
    }

    async fn routes(&self, service: &Service) -> Result<Routes, TargetError> {
        if self.listen.is_none() {
            return Ok(Routes::default());
        }
        Ok(rules::routes(&self.config().await?, service))
    }

    async fn evidence(
        &self,
        _service: &Service,
        deployment: &str,
    ) -> Result<Vec<wharf_engine::Clue>, TargetError> {
        self.evidence_of(deployment).await
    }

    /// The proxy's view only: nothing is replaced, Docker is not asked.
    async fn observe(&self, service: &Service, deployment: &str) -> Result<Health, TargetError> {
        if self.listen.is_none() {
            return Ok(Health::default());
        }
        let (healthy, targets) = self.group_health(service, deployment).await?;
        Ok(Health {
            running: targets,
            healthy,
            ..Health::default()
        })
    }

    async fn image(
        &self,
        service: &Service,
        id: &str,
        _registry: Option<&str>,
        events: &dyn EventSink,
    ) -> Result<Image, wharf_docker::BuildError> {
        let build = match &service.image {
            ImageSource::Image(r) => return Ok(Image::unpinned(r.as_str())),
            ImageSource::Build(b) => b,
        };
        let tag = self.image_tag(&service.name, id);
        let spec = wharf_docker::ServiceBuild {
            root: &self.root,
            app: &self.app,
            env: &self.env,
            name: &service.name,
            build,
            platform: service.platform.as_deref(),
            id,
            private: &self.private,
        };
        let platform = wharf_docker::build_service(&self.docker, &spec, &tag, events).await?;
        Ok(Image {
            platform: Some(platform),
            ..Image::unpinned(tag)
        })
    }

    async fn logs(
        &self,
        of: wharf_engine::LogSource<'_>,
        query: LogQuery<'_>,
        line: &(dyn Fn(LogLine<'_>) + Sync),
    ) -> Result<usize, TargetError> {
        self.local_logs(of, query, line).await
    }

    async fn exec(
        &self,
        req: wharf_engine::ExecRequest<'_>,
    ) -> Result<wharf_engine::Session, TargetError> {
        self.local_exec(req).await
    }

    async fn current_count(
        &self,
        service: &Service,
        deployment: &str,
    ) -> Result<Option<u32>, TargetError> {
        let running = self
            .docker
            .list(&[
                (LABEL_APP, &self.app),
                (LABEL_ENV, &self.env),
                (LABEL_SERVICE, &service.name),
                (LABEL_DEPLOYMENT, deployment),
            ])
            .await
            .map_err(terr)?
            .iter()
            .filter(|c| c.running)
            .count() as u32;
        Ok(Some(running).filter(|n| *n > 0))
    }

    async fn present(&self, service: &Service) -> Result<Vec<String>, TargetError> {
        let mut ids: std::collections::BTreeSet<String> = self
            .docker
            .list(&[
                (LABEL_APP, &self.app),
                (LABEL_ENV, &self.env),
                (LABEL_SERVICE, &service.name),
            ])
            .await
            .map_err(terr)?
            .into_iter()
            .map(|c| c.deployment)
            .collect();
        // Target groups left in the proxy after their containers went.
        let prefix = self.group_name(&service.name, "");
        let shape = self.names().deployment_id_pattern().len();
        for g in self.config().await?.target_groups {
            if let Some(id) = g.name.strip_prefix(&prefix) {
                if id.len() == shape && id.starts_with(&format!("{}-", self.env)) {
                    ids.insert(id.to_owned());
                }
            }
        }
        Ok(ids.into_iter().collect())
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
        _registry: Option<&str>,
        events: &dyn EventSink,
    ) -> Result<Image, wharf_docker::BuildError> {
        self.local_job_image(job, build, run, events).await
    }

    async fn start_job(&self, spec: &JobSpec<'_>) -> Result<JobTask, TargetError> {
        self.local_start_job(spec).await
    }

    async fn follow_job(
        &self,
        _job: &Job,
        task: &JobTask,
        deadline_ms: Option<i64>,
        line: &(dyn Fn(LogLine<'_>) + Sync),
    ) -> Result<Option<RunEnd>, TargetError> {
        self.local_follow_job(task, deadline_ms, line).await
    }

    async fn stop_job(&self, _job: &Job, task: &JobTask) -> Result<(), TargetError> {
        self.docker
            .stop(&task.id, crate::jobs::JOB_STOP_TIMEOUT_S)
            .await
            .map_err(terr)
    }

    async fn schedule(&self, spec: &ScheduleSpec<'_>) -> Result<Scheduled, TargetError> {
        self.local_schedule(spec).await
    }

    async fn schedules(&self) -> Result<Vec<Scheduled>, TargetError> {
        self.local_schedules()
    }

    async fn secret_value(
        &self,
        secret: &wharf_manifest::SecretRef,
    ) -> Result<String, TargetError> {
        self.secret(secret)
    }

    async fn unschedule(&self, job: &str) -> Result<(), TargetError> {
        self.local_unschedule(job)
    }
}

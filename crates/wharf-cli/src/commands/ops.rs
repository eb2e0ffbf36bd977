//! `wharf status`, `history`, `promote`, `abort`, `rollback` and `drain` on a local environment.

use std::fmt;

use serde::Serialize;
use wharf_engine::{Engine, Options, Outcome, Record, Store, SystemClock};
use wharf_local::daemon::{Answer, Command, ProxyClient};
use wharf_local::LocalStore;
use wharf_manifest::{Names, Service};
use wharf_proxy::group::TargetState;

use crate::cli::{Global, LogsArgs, ServiceArg};
use crate::commands::deploy::runtime;
use crate::commands::localenv::{self, holder, local_of, Render};
use crate::commands::{load, pick_env};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::output::Printer;

pub fn one_service<'m>(
    env: &'m wharf_manifest::Environment,
    name: Option<&str>,
) -> Result<&'m Service, CliError> {
    let known = || env.services.keys().cloned().collect::<Vec<_>>().join(", ");
    match name {
        Some(n) => env.services.get(n).ok_or_else(|| CliError::UnknownService {
            name: n.to_owned(),
            known: known(),
        }),
        None if env.services.len() == 1 => Ok(env.services.values().next().expect("one")),
        None => Err(CliError::UnknownService {
            name: "(none given)".into(),
            known: known(),
        }),
    }
}

/// One deployment as `status` shows it.
#[derive(Debug, Serialize)]
pub struct DeploymentStatus {
    pub id: String,
    pub image: String,
    pub phase: String,
    pub weight: Option<u32>,
    pub healthy: u32,
    pub targets: u32,
}

#[derive(Debug, Serialize)]
pub struct ServiceStatus {
    pub service: String,
    pub strategy: String,
    pub deployments: Vec<DeploymentStatus>,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub environment: String,
    /// Where the environment answers: wharf's proxy locally (None when it is not running),
    /// the load balancer on AWS.
    pub url: Option<String>,
    pub services: Vec<ServiceStatus>,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.url {
            Some(url) => writeln!(f, "environment {}: serving on {url}", self.environment)?,
            None => writeln!(
                f,
                "environment {}: proxy not running (`wharf up`)",
                self.environment
            )?,
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
            }
        }
        Ok(())
    }
}

pub fn status(global: &Global, printer: &Printer, a: &ServiceArg) -> Result<ExitStatus, CliError> {
    let loaded = load(global, printer)?;
    let m = &loaded.manifest;
    let env = pick_env(global, m)?;
    if env.aws().is_some() {
        let chosen = match &a.service {
            Some(_) => vec![one_service(env, a.service.as_deref())?],
            None => env.services_by_priority(),
        };
        return crate::commands::awsdeploy::status(global, printer, m, env, chosen);
    }
    let local = local_of(env)?;
    let state_dir = localenv::state_dir(m, local);
    let names = Names::new(&m.app.name, &env.name);
    runtime()?.block_on(async {
        let store = LocalStore::open(&state_dir)?;
        let (proxy, groups, config) =
            match ProxyClient::new(&state_dir).send(&Command::Status).await {
                Ok(Answer::Status { groups, config }) => {
                    let url = match ProxyClient::new(&state_dir).send(&Command::Ping).await {
                        Ok(Answer::Pong { listen, .. }) => Some(format!("http://{listen}/")),
                        _ => None,
                    };
                    (url, groups, config)
                }
                _ => (None, Vec::new(), wharf_proxy::Config::default()),
            };
        let mut services = Vec::new();
        let chosen: Vec<&Service> = match &a.service {
            Some(_) => vec![one_service(env, a.service.as_deref())?],
            None => env.services_by_priority(),
        };
        for svc in chosen {
            let records = store.list(&svc.name).await.map_err(|source| {
                wharf_engine::EngineError::Target {
                    action: "read the records".into(),
                    source,
                }
            })?;
            let shown = records
                .iter()
                .filter(|r| r.outcome == Some(Outcome::Succeeded) || !r.is_finished());
            let mut deployments = Vec::new();
            for r in shown {
                let tg = names.target_group(&svc.name, &r.id);
                let g = groups.iter().find(|g| g.name == tg);
                let weight = config
                    .rules
                    .iter()
                    .filter(|rule| rule.priority % 100 == 99)
                    .flat_map(|rule| rule.forward.iter())
                    .find(|(g, _)| *g == tg)
                    .map(|(_, w)| *w);
                deployments.push(DeploymentStatus {
                    id: r.id.clone(),
                    image: r.image.clone(),
                    phase: r.phase(),
                    weight,
                    healthy: g.map_or(0, |g| {
                        g.targets
                            .iter()
                            .filter(|t| t.1 == TargetState::Healthy)
                            .count() as u32
                    }),
                    targets: g.map_or(0, |g| g.targets.len() as u32),
                });
            }
            services.push(ServiceStatus {
                service: svc.name.clone(),
                strategy: svc.deploy.strategy.to_string(),
                deployments,
            });
        }
        printer.result(&Status {
            environment: env.name.clone(),
            url: proxy,
            services,
        })?;
        Ok(ExitStatus::Success)
    })
}

#[derive(Debug, Serialize)]
pub struct History {
    pub deployments: Vec<Record>,
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
        Ok(())
    }
}

pub fn history(global: &Global, printer: &Printer, a: &ServiceArg) -> Result<ExitStatus, CliError> {
    let loaded = load(global, printer)?;
    let m = &loaded.manifest;
    let env = pick_env(global, m)?;
    if env.aws().is_some() {
        return crate::commands::awsdeploy::history(global, printer, m, env, a.service.as_deref());
    }
    let state_dir = localenv::state_dir(m, local_of(env)?);
    runtime()?.block_on(async {
        let store = LocalStore::open(&state_dir)?;
        printer.result(&History::of(&store, env, a.service.as_deref()).await?)?;
        Ok(ExitStatus::Success)
    })
}

impl History {
    /// The records of the environment's services (or of one), oldest first.
    pub async fn of<S: Store>(
        store: &S,
        env: &wharf_manifest::Environment,
        service: Option<&str>,
    ) -> Result<History, CliError> {
        let mut all = Vec::new();
        for svc in env
            .services
            .values()
            .filter(|s| service.is_none_or(|n| n == s.name))
        {
            all.extend(store.list(&svc.name).await.map_err(|source| {
                wharf_engine::EngineError::Target {
                    action: "read the records".into(),
                    source,
                }
            })?);
        }
        all.sort_by_key(|r| r.started_ms);
        Ok(History { deployments: all })
    }
}

pub enum Act<'a> {
    Promote,
    Abort,
    Rollback,
    /// Drain this deployment.
    Drain(&'a str),
}

/// The record an action ended with.
#[derive(Debug, Serialize)]
pub struct Acted {
    pub deployment: Record,
}

impl fmt::Display for Acted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} {}: {}",
            self.deployment.service,
            self.deployment.id,
            self.deployment.phase()
        )
    }
}

pub fn act(
    global: &Global,
    printer: &Printer,
    service: Option<&str>,
    what: Act<'_>,
) -> Result<ExitStatus, CliError> {
    let loaded = load(global, printer)?;
    let m = &loaded.manifest;
    let env = pick_env(global, m)?;
    let svc = one_service(env, service)?;
    if env.aws().is_some() {
        return crate::commands::awsdeploy::act(global, printer, m, env, svc, what);
    }
    runtime()?.block_on(async {
        let ctx = localenv::open(m, env).await?;
        let render = Render::new(printer);
        let engine = Engine {
            target: &ctx.target,
            clock: &SystemClock,
            events: &render,
            holder: holder(),
            options: Options::default(),
        };
        if let Some(dead) = localenv::release_dead_holder(&ctx.target, &svc.name).await? {
            printer.diag(&format!(
                "{}: released the lock of {dead}, which no longer runs\n",
                svc.name
            ));
        }
        let record = match what {
            Act::Promote => engine.promote(svc).await?,
            Act::Abort => engine.abort(svc).await?,
            Act::Rollback => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64);
                let id = Names::new(&m.app.name, &env.name).deployment_id(now);
                engine.rollback(&m.app.name, &env.name, svc, &id).await?
            }
            Act::Drain(id) => engine.drain(svc, id).await?,
        };
        printer.result(&Acted { deployment: record })?;
        Ok(ExitStatus::Success)
    })
}

/// Streams container logs to stdout (`container | line`, or JSON lines with --output json).
pub fn logs(global: &Global, printer: &Printer, a: &LogsArgs) -> Result<ExitStatus, CliError> {
    let loaded = load(global, printer)?;
    let m = &loaded.manifest;
    let env = pick_env(global, m)?;
    local_of(env)?;
    let svc = one_service(env, a.service.as_deref())?;
    runtime()?.block_on(async {
        let docker = wharf_local::docker::Docker::connect().await?;
        use wharf_local::docker::{LABEL_APP, LABEL_DEPLOYMENT, LABEL_ENV, LABEL_SERVICE};
        let mut labels = vec![
            (LABEL_APP, m.app.name.as_str()),
            (LABEL_ENV, env.name.as_str()),
            (LABEL_SERVICE, svc.name.as_str()),
        ];
        if let Some(d) = &a.deployment {
            labels.push((LABEL_DEPLOYMENT, d.as_str()));
        }
        let containers = docker.list(&labels).await?;
        if containers.is_empty() {
            printer.diag(&format!("no container of {} is running\n", svc.name));
        }
        let json = printer.json();
        docker
            .logs(&containers, a.follow, a.tail, |name, line| {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                let _ = if json {
                    writeln!(
                        out,
                        "{}",
                        serde_json::json!({ "container": name, "line": line })
                    )
                } else {
                    writeln!(out, "{name} | {line}")
                };
            })
            .await?;
        Ok(ExitStatus::Success)
    })
}

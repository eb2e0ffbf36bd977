//! `wharf up`, `wharf deploy` and `wharf down` on a local environment: the proxy daemon,
//! building images (pre-build command, then docker build) and rolling them out with the engine.

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;
use wharf_engine::{Engine, Options, Outcome, Record, Request, Store, SystemClock};
use wharf_local::daemon::{Command, ProxyClient};
use wharf_local::docker::{
    BuildSpec, Docker, LABEL_APP, LABEL_DEPLOYMENT, LABEL_ENV, LABEL_SERVICE,
};
use wharf_manifest::{ImageSource, Manifest, Names, Service};

use crate::cli::{DeployArgs, Global};
use crate::commands::localenv::{self, holder, local_of, LocalEnvCtx, Render};
use crate::commands::{load, pick_env};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::output::Printer;

pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| CliError::Runtime { source })
}

/// What `up` did.
#[derive(Debug, Serialize)]
pub struct Up {
    pub environment: String,
    pub url: String,
    pub state_dir: String,
}

impl fmt::Display for Up {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "environment {} is up: wharf's proxy answers on {}",
            self.environment, self.url
        )?;
        writeln!(
            f,
            "state in {}; next: wharf deploy --env {}",
            self.state_dir, self.environment
        )
    }
}

pub fn up(global: &Global, printer: &Printer) -> Result<ExitStatus, CliError> {
    let loaded = load(global, printer)?;
    let env = pick_env(global, &loaded.manifest)?;
    if env.aws().is_some() {
        return crate::commands::aws::up(global, printer, &loaded.manifest, env);
    }
    let ctx = runtime()?.block_on(localenv::open(&loaded.manifest, env))?;
    printer.result(&Up {
        environment: env.name.clone(),
        url: format!("http://{}/", ctx.listen),
        state_dir: ctx.state_dir.display().to_string(),
    })?;
    Ok(ExitStatus::Success)
}

/// What `deploy` did.
#[derive(Debug, Serialize)]
pub struct Deployed {
    pub url: String,
    pub deployments: Vec<Record>,
}

impl fmt::Display for Deployed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.deployments {
            let took = r
                .finished_ms
                .map(|e| (e - r.started_ms) as f64 / 1000.0)
                .unwrap_or(0.0);
            writeln!(
                f,
                "{} {} ({}): {} in {took:.1}s",
                r.service,
                r.id,
                r.strategy,
                r.phase()
            )?;
        }
        writeln!(f, "open {}", self.url)
    }
}

fn services<'m>(
    manifest: &'m Manifest,
    env: &'m wharf_manifest::Environment,
    name: Option<&str>,
) -> Result<Vec<&'m Service>, CliError> {
    match name {
        Some(n) => env
            .services
            .get(n)
            .map(|s| vec![s])
            .ok_or_else(|| CliError::UnknownService {
                name: n.to_owned(),
                known: manifest
                    .services
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        None => Ok(env.services_by_priority()),
    }
}

pub fn deploy(
    global: &Global,
    printer: &Printer,
    args: &DeployArgs,
) -> Result<ExitStatus, CliError> {
    let loaded = load(global, printer)?;
    let m = &loaded.manifest;
    let env = pick_env(global, m)?;
    let chosen = services(m, env, args.service.as_deref())?;
    if env.aws().is_some() {
        return crate::commands::awsdeploy::deploy(global, printer, args, m, env, chosen);
    }
    local_of(env)?;
    runtime()?.block_on(async {
        let ctx = localenv::open(m, env).await?;
        let render = Render::new(printer);
        let clock = SystemClock;
        let engine = Engine {
            target: &ctx.target,
            clock: &clock,
            events: &render,
            holder: holder(),
            options: Options {
                detach_at_approval: args.no_wait,
                ..Options::default()
            },
        };
        let mut done = Vec::new();
        for svc in chosen {
            if args.force_unlock {
                ctx.target.force_unlock(&svc.name).await.map_err(|source| {
                    wharf_engine::EngineError::Target {
                        action: "break the lock".into(),
                        source,
                    }
                })?;
            }
            if let Some(dead) = localenv::release_dead_holder(&ctx.target, &svc.name).await? {
                printer.diag(&format!(
                    "{}: released the lock of {dead}, which no longer runs\n",
                    svc.name
                ));
            }
            let record = if args.resume {
                engine.resume(svc).await?
            } else {
                let id = fresh_id(&ctx.target, &Names::new(&m.app.name, &env.name), svc).await?;
                let image = build_image(m, env, svc, &id, &ctx, printer).await?;
                engine
                    .deploy(Request {
                        app: &m.app.name,
                        env: &env.name,
                        service: svc,
                        id: &id,
                        image: &image,
                        digest: None,
                    })
                    .await?
            };
            done.push(rolled_back_is_an_error(record)?);
        }
        printer.result(&Deployed {
            url: format!("http://{}/", ctx.listen),
            deployments: done,
        })?;
        Ok(ExitStatus::Success)
    })
}

/// A deployment that rolled back ends the command with its reason (exit code 5).
pub fn rolled_back_is_an_error(record: Record) -> Result<Record, CliError> {
    if matches!(record.outcome, Some(Outcome::RolledBack)) {
        return Err(CliError::RolledBack {
            service: record.service.clone(),
            id: record.id.clone(),
            reason: record.reason.clone().unwrap_or_default(),
        });
    }
    Ok(record)
}

/// A deployment id not used yet by the service (two deploys within a second wait for the next).
pub async fn fresh_id<S: Store>(
    store: &S,
    names: &Names<'_>,
    svc: &Service,
) -> Result<String, CliError> {
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let id = names.deployment_id(now);
        let taken = store.load(&svc.name, &id).await.map_err(|source| {
            wharf_engine::EngineError::Target {
                action: "read the records".into(),
                source,
            }
        })?;
        if taken.is_none() {
            return Ok(id);
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
}

/// Runs the pre-build command and builds the image tagged with the deployment id (or uses the
/// prebuilt image as it is).
async fn build_image(
    m: &Manifest,
    env: &wharf_manifest::Environment,
    svc: &Service,
    id: &str,
    ctx: &LocalEnvCtx,
    printer: &Printer,
) -> Result<String, CliError> {
    let b = match &svc.image {
        ImageSource::Image(r) => return Ok(r.clone()),
        ImageSource::Build(b) => b,
    };
    let tag = ctx.target.image_tag(&svc.name, id);
    build(&ctx.target.docker, m, &env.name, svc, b, id, &tag, printer).await?;
    Ok(tag)
}

/// Runs the service's pre-build command, then builds its image as `tag`, labelled with the
/// app, environment, service and deployment.
#[allow(clippy::too_many_arguments)]
pub async fn build(
    docker: &Docker,
    m: &Manifest,
    env: &str,
    svc: &Service,
    b: &wharf_manifest::Build,
    id: &str,
    tag: &str,
    printer: &Printer,
) -> Result<(), CliError> {
    if let Some(cmd) = &b.pre_build {
        printer.diag(&format!(
            "{}: running pre-build {}\n",
            svc.name,
            cmd.join(" ")
        ));
        let (program, rest) = cmd.split_first().expect("validated: not empty");
        let status = std::process::Command::new(program)
            .args(rest)
            .current_dir(&m.root)
            .stdout(std::process::Stdio::inherit())
            .stderr(std::process::Stdio::inherit())
            .status()
            .map_err(|e| CliError::PreBuild {
                service: svc.name.clone(),
                status: e.to_string(),
            })?;
        if !status.success() {
            return Err(CliError::PreBuild {
                service: svc.name.clone(),
                status: status.to_string(),
            });
        }
    }
    let labels: HashMap<String, String> = [
        (LABEL_APP, m.app.name.as_str()),
        (LABEL_ENV, env),
        (LABEL_SERVICE, svc.name.as_str()),
        (LABEL_DEPLOYMENT, id),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    printer.diag(&format!("{}: building {tag}\n", svc.name));
    let verbose = !printer.quiet && std::env::var_os("WHARF_BUILD_LOG").is_some();
    docker
        .build(
            BuildSpec {
                context: &m.root.join(&b.context),
                dockerfile: &b.dockerfile,
                tag,
                labels,
                args: b.args.clone().into_iter().collect(),
                target: b.target.as_deref(),
            },
            |line| {
                if verbose {
                    printer.diag(&format!("  {line}\n"));
                }
            },
        )
        .await?;
    Ok(())
}

/// What `down` removed.
#[derive(Debug, Serialize, Default)]
pub struct Down {
    pub environment: String,
    pub containers: usize,
    pub images: usize,
    pub proxy_stopped: bool,
}

impl fmt::Display for Down {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "environment {} is down: {} container(s) and {} image(s) removed{}",
            self.environment,
            self.containers,
            self.images,
            if self.proxy_stopped {
                ", proxy stopped"
            } else {
                ""
            }
        )
    }
}

pub fn down(
    global: &Global,
    printer: &Printer,
    args: &crate::cli::DownArgs,
) -> Result<ExitStatus, CliError> {
    let loaded = load(global, printer)?;
    let m = &loaded.manifest;
    let env = pick_env(global, m)?;
    if env.aws().is_some() {
        return crate::commands::aws::down(global, printer, m, env, args.purge);
    }
    let local = local_of(env)?;
    let state_dir = localenv::state_dir(m, local);
    runtime()?.block_on(async {
        let mut out = Down {
            environment: env.name.clone(),
            ..Down::default()
        };
        out.proxy_stopped = ProxyClient::new(&state_dir)
            .send(&Command::Shutdown)
            .await
            .is_ok();
        let docker = Docker::connect().await?;
        let labels = [
            (LABEL_APP, m.app.name.as_str()),
            (LABEL_ENV, env.name.as_str()),
        ];
        for c in docker.list(&labels).await? {
            docker.stop_and_remove(&c.id, 10).await?;
            out.containers += 1;
        }
        for image in docker.images(&labels).await? {
            docker.remove_image(&image).await?;
            out.images += 1;
        }
        docker
            .remove_network(&Names::new(&m.app.name, &env.name).network())
            .await?;
        // Wait (bounded) for the proxy to let go of its files, then remove the state dir.
        for _ in 0..50 {
            if !localenv::state_dir(m, local).join("proxy.sock").exists() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        if state_dir.exists() {
            std::fs::remove_dir_all(&state_dir).map_err(|source| CliError::Write {
                path: state_dir.clone(),
                source,
            })?;
        }
        printer.result(&out)?;
        Ok(ExitStatus::Success)
    })
}

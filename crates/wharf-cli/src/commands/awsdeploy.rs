//! `deploy`, `status`, `history`, `promote`, `abort`, `rollback` and `drain` on an AWS
//! environment: access resolved and the account guard checked, the environment read from its
//! stacks' outputs, then the same engine as locally, driving [`wharf_aws::AwsTarget`].

use std::collections::BTreeMap;

use wharf_aws::ecs::env::resolve_bindings;
use wharf_aws::image::{self, PushTarget, ScanWait};
use wharf_aws::{AwsTarget, Clients, DynamoStore, EnvOutputs, Stacks};
use wharf_engine::{Engine, EngineError, Options, Outcome, Request, Store, SystemClock};
use wharf_local::docker::{Docker, RegistryAuth};
use wharf_manifest::{Environment, ImageSource, Manifest, Names, Service};

use crate::cli::{DeployArgs, Global};
use crate::commands::aws::{access, aws_of};
use crate::commands::deploy::{runtime, Deployed};
use crate::commands::localenv::{holder, Render};
use crate::commands::ops::{Act, Acted, DeploymentStatus, History, ServiceStatus, Status};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::output::Printer;

fn read_err(action: &str) -> impl FnOnce(wharf_engine::TargetError) -> CliError + '_ {
    move |source| {
        CliError::Engine(EngineError::Target {
            action: action.to_owned(),
            source,
        })
    }
}

/// Access checked, the environment's outputs read, the target ready.
pub async fn open(global: &Global, m: &Manifest, env: &Environment) -> Result<AwsTarget, CliError> {
    let aws = aws_of(env, "deploy")?;
    let (access, id) = access(global, aws, &env.name).await?;
    let names = Names::new(&m.app.name, &env.name);
    let cfn = access.cloudformation();
    let quiet = |_| {};
    let stacks = Stacks::new(&cfn, &quiet);
    let mut outputs = BTreeMap::new();
    for stack in [names.baseline_stack(), names.data_stack()] {
        if let Some(info) = stacks.describe(&stack).await? {
            outputs.insert(stack, info.outputs.into_iter().collect());
        }
    }
    let services: Vec<&str> = env.services.keys().map(String::as_str).collect();
    let region = access
        .config
        .region()
        .map_or_else(|| aws.region.clone(), |r| r.to_string());
    let out = EnvOutputs::from_outputs(
        &m.app.name,
        &env.name,
        &region,
        &id.account,
        &names.baseline_stack(),
        outputs,
        &services,
    )?;
    let rds = aws_sdk_rds::Client::new(&access.config);
    let mut bindings = BTreeMap::new();
    for s in env.services.keys() {
        let b = wharf_cfn::bindings::for_service(m, env, s);
        bindings.insert(s.clone(), resolve_bindings(&rds, &out, &b).await?);
    }
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&access.config),
        out.state_table.clone(),
    );
    Ok(AwsTarget::new(
        out,
        Clients::new(&access.config),
        store,
        m.root.clone(),
        bindings,
    ))
}

fn engine<'a>(
    target: &'a AwsTarget,
    render: &'a Render,
    options: Options,
) -> Engine<'a, AwsTarget, SystemClock> {
    Engine {
        target,
        clock: &SystemClock,
        events: render,
        holder: holder(),
        options,
    }
}

/// The image a deployment runs and its digest: the manifest's reference as it is, or the
/// image built, tagged with the deployment id, pushed to the service's repository (or the
/// `--registry` override) with an ECR token, its digest read back, and the scan gate passed.
async fn image_for(
    target: &AwsTarget,
    args: &DeployArgs,
    m: &Manifest,
    env: &Environment,
    svc: &Service,
    id: &str,
    printer: &Printer,
) -> Result<(String, Option<String>), CliError> {
    let b = match &svc.image {
        ImageSource::Image(r) => return Ok((r.clone(), None)),
        ImageSource::Build(b) => b,
    };
    let push = PushTarget::of(
        &target.out.service(&svc.name)?.repository_uri,
        args.registry.as_deref(),
    )?;
    let repository = push.repository();
    let tag = format!("{repository}:{id}");
    let docker = Docker::connect().await?;
    crate::commands::deploy::build(&docker, m, &env.name, svc, b, id, &tag, printer).await?;
    let creds = image::authorization(&target.clients.ecr).await?;
    printer.diag(&format!("{}: pushing {tag}\n", svc.name));
    let auth = RegistryAuth {
        username: creds.username,
        password: creds.password,
        server: push.registry.clone(),
    };
    let pushed = docker.push(&repository, id, Some(&auth), |_| {}).await;
    // The image now lives in the registry; this machine keeps no copy of each deployment.
    let removed = docker.remove_image(&tag).await;
    let digest = pushed?;
    removed?;
    printer.diag(&format!("{}: pushed {repository}@{digest}\n", svc.name));
    if let Some(gate) = svc.deploy.scan_gate {
        let waiting = |what: &str| printer.diag(&format!("{}: waiting for {what}\n", svc.name));
        let findings = image::scan_gate(
            &target.clients.ecr,
            &push.name,
            &digest,
            gate,
            ScanWait::default(),
            &waiting,
        )
        .await?;
        printer.diag(&format!("{}: {findings}\n", svc.name));
    }
    Ok((tag, Some(digest)))
}

pub fn deploy(
    global: &Global,
    printer: &Printer,
    args: &DeployArgs,
    m: &Manifest,
    env: &Environment,
    chosen: Vec<&Service>,
) -> Result<ExitStatus, CliError> {
    runtime()?.block_on(async {
        let target = open(global, m, env).await?;
        let render = Render::new(printer);
        let engine = engine(
            &target,
            &render,
            Options {
                detach_at_approval: args.no_wait,
                ..Options::default()
            },
        );
        let names = Names::new(&m.app.name, &env.name);
        let mut done = Vec::new();
        for svc in chosen {
            if args.force_unlock {
                target
                    .force_unlock(&svc.name)
                    .await
                    .map_err(read_err("break the lock"))?;
            }
            let record = if args.resume {
                engine.resume(svc).await?
            } else {
                let id = crate::commands::deploy::fresh_id(&target, &names, svc).await?;
                let (image, digest) = image_for(&target, args, m, env, svc, &id, printer).await?;
                engine
                    .deploy(Request {
                        app: &m.app.name,
                        env: &env.name,
                        service: svc,
                        id: &id,
                        image: &image,
                        digest: digest.as_deref(),
                    })
                    .await?
            };
            done.push(crate::commands::deploy::rolled_back_is_an_error(record)?);
        }
        printer.result(&Deployed {
            url: target.out.url(),
            deployments: done,
        })?;
        Ok(ExitStatus::Success)
    })
}

pub fn act(
    global: &Global,
    printer: &Printer,
    m: &Manifest,
    env: &Environment,
    svc: &Service,
    what: Act<'_>,
) -> Result<ExitStatus, CliError> {
    runtime()?.block_on(async {
        let target = open(global, m, env).await?;
        let render = Render::new(printer);
        let engine = engine(&target, &render, Options::default());
        let record = match what {
            Act::Promote => engine.promote(svc).await?,
            Act::Abort => engine.abort(svc).await?,
            Act::Rollback => {
                let names = Names::new(&m.app.name, &env.name);
                let id = crate::commands::deploy::fresh_id(&target, &names, svc).await?;
                engine.rollback(&m.app.name, &env.name, svc, &id).await?
            }
            Act::Drain(id) => engine.drain(svc, id).await?,
        };
        printer.result(&Acted { deployment: record })?;
        Ok(ExitStatus::Success)
    })
}

pub fn history(
    global: &Global,
    printer: &Printer,
    m: &Manifest,
    env: &Environment,
    service: Option<&str>,
) -> Result<ExitStatus, CliError> {
    runtime()?.block_on(async {
        let target = open(global, m, env).await?;
        printer.result(&History::of(&target, env, service).await?)?;
        Ok(ExitStatus::Success)
    })
}

/// Status from the records, the base rule's weights and each deployment's health.
pub fn status(
    global: &Global,
    printer: &Printer,
    m: &Manifest,
    env: &Environment,
    chosen: Vec<&Service>,
) -> Result<ExitStatus, CliError> {
    use wharf_engine::Target;
    runtime()?.block_on(async {
        let target = open(global, m, env).await?;
        let rules =
            wharf_aws::ecs::lb::rules(&target.clients.elb, &target.out.listener_arn).await?;
        let mut services = Vec::new();
        for svc in chosen {
            let records = target
                .list(&svc.name)
                .await
                .map_err(read_err("read the records"))?;
            let base = svc.routing.as_ref().map(|r| r.priority * 100 + 99);
            let mut deployments = Vec::new();
            for r in records
                .iter()
                .filter(|r| r.outcome == Some(Outcome::Succeeded) || !r.is_finished())
            {
                let tg =
                    wharf_aws::ecs::lb::find_tg(&target.clients.elb, &target.tg_name(svc, &r.id))
                        .await?;
                let weight = rules
                    .iter()
                    .filter(|rule| Some(rule.priority) == base)
                    .flat_map(|rule| rule.forward.iter())
                    .find(|(a, _)| Some(a) == tg.as_ref())
                    .map(|(_, w)| *w);
                let h = target
                    .health(svc, &r.id)
                    .await
                    .map_err(read_err("read the health"))?;
                deployments.push(DeploymentStatus {
                    id: r.id.clone(),
                    image: r.image.clone(),
                    phase: r.phase(),
                    weight,
                    healthy: h.healthy,
                    targets: h.running,
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
            url: Some(target.out.url()),
            services,
        })?;
        Ok(ExitStatus::Success)
    })
}

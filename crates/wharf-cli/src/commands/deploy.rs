//! `wharf deploy [SERVICE]`: for each service, a fresh deployment id, its image made ready by
//! the target (built; on AWS also pushed, pinned and scanned), then the rollout with the
//! service's strategy; or `--resume` of the unfinished one. Then the jobs' schedules are made
//! to match the manifest ([`wharf_engine::schedules::sync`]): a failed rollout changes none.

use std::fmt;

use serde::Serialize;
use wharf_engine::job::JobImageError;
use wharf_engine::notify::{Notice, Notifier};
use wharf_engine::{
    schedules, Mode, Options, Outcome, Platform, Record, Request, Store, Synced, SystemClock,
    Target,
};
use wharf_manifest::Names;

use crate::cli::DeployArgs;
use crate::env::{engine, services, Ctx, Verb};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::progress::Render;

/// What `deploy` did.
#[derive(Debug, Serialize)]
pub struct Deployed {
    pub url: String,
    pub deployments: Vec<Record>,
    /// The jobs' schedules made to match the manifest.
    pub schedules: Synced,
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
        write!(f, "{}", self.schedules)?;
        writeln!(f, "open {}", self.url)
    }
}

pub struct Deploy<'a>(pub &'a DeployArgs);

impl Verb for Deploy<'_> {
    type Output = ExitStatus;

    async fn run<P: Platform>(self, ctx: &Ctx<'_>, platform: &P) -> Result<ExitStatus, CliError>
    where
        CliError: From<P::Error> + From<<P::Target as Target>::ImageError>,
    {
        let args = self.0;
        let (m, env) = (ctx.manifest, ctx.env);
        let chosen = services(env, args.service.as_deref())?;
        // A resumed deployment is already under way: the check is for starting one.
        if !args.resume {
            if let Some(stop) = super::preflight::gate(
                ctx,
                platform,
                wharf_engine::Before::Deploy,
                args.skip_preflight,
            )
            .await?
            {
                return Ok(stop);
            }
        }
        let target = platform.target(Mode::Act).await?;
        let render = Render::new(ctx.printer);
        let options = Options {
            detach_at_approval: args.no_wait,
            ..Options::default()
        };
        let engine = engine(ctx, &target, &render, options);
        let notifier = match &m.notify {
            Some(n) => {
                let (notifier, warnings) = Notifier::open(&target, n).await;
                for w in warnings {
                    ctx.printer.diag(&format!("warning: {w}\n"));
                }
                Some(notifier).filter(Notifier::is_open)
            }
            None => None,
        };
        let notify = |notice: Option<Notice>| async {
            if let (Some(n), Some(notice)) = (&notifier, notice) {
                for e in n.send(&target, &notice).await {
                    ctx.printer.diag(&format!("warning: {e}\n"));
                }
            }
        };
        let mut done = Vec::new();
        for svc in chosen {
            if args.force_unlock {
                target.force_unlock(&svc.name).await.map_err(|source| {
                    wharf_engine::EngineError::target("break the lock", source)
                })?;
            }
            let record = if args.resume {
                engine.resume(svc).await?
            } else {
                let id = engine.fresh_id(&m.app.name, &env.name, svc).await?;
                let image = target
                    .image(svc, &id, args.registry.as_deref(), &render)
                    .await?;
                notify(Some(Notice::started(
                    &m.app.name,
                    &env.name,
                    &svc.name,
                    &id,
                    &svc.deploy.strategy.to_string(),
                    &image.reference,
                )))
                .await;
                engine
                    .deploy(Request {
                        app: &m.app.name,
                        env: &env.name,
                        service: svc,
                        id: &id,
                        image: &image.reference,
                        digest: image.digest.as_deref(),
                        platform: image.platform.as_deref(),
                    })
                    .await?
            };
            // A rolled-back deployment explains itself: the diagnosis on stderr and in the
            // notification's headline.
            let headline = if record.outcome == Some(Outcome::RolledBack) {
                match wharf_diagnose::diagnose(&target, svc, Some(&record.id)).await {
                    Ok(d) => {
                        ctx.printer.diag(&format!("\n{d}"));
                        d.headline()
                    }
                    Err(e) => {
                        ctx.printer
                            .diag(&format!("warning: no diagnosis of {}: {e}\n", record.id));
                        None
                    }
                }
            } else {
                None
            };
            notify(Notice::finished(&record).map(|n| n.diagnosed(headline))).await;
            done.push(record.into_result()?);
        }
        // After the services: a job of a service's image is scheduled with the new one.
        let names = Names::new(&m.app.name, &env.name);
        let schedules = schedules::sync(
            &target,
            &SystemClock,
            &names,
            &env.jobs,
            args.registry.as_deref(),
            &render,
        )
        .await
        .map_err(|e| match e {
            JobImageError::Build(b) => CliError::from(b),
            JobImageError::Engine(e) => CliError::from(e),
        })?;
        drop(render);
        ctx.printer.result(&Deployed {
            url: target.url().unwrap_or_default(),
            deployments: done,
            schedules,
        })?;
        Ok(ExitStatus::Success)
    }
}

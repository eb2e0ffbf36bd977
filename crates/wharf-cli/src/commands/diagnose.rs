//! `wharf diagnose [SERVICE] [--deployment ID]`: what went wrong and what to do — a
//! deployment's timeline, the failing signal and the catalog's matching rules with their
//! evidence and fixes, and the environment's failed stacks. Written once over the target (see
//! [`wharf_diagnose`]); it only looks.

use wharf_diagnose::Report;
use wharf_engine::{Mode, Platform, Target};

use crate::cli::DiagnoseArgs;
use crate::env::{one_service, Ctx, Verb};
use crate::error::CliError;
use crate::exit::ExitStatus;

pub struct Diagnose<'a>(pub &'a DiagnoseArgs);

impl Verb for Diagnose<'_> {
    type Output = ExitStatus;

    async fn run<P: Platform>(self, ctx: &Ctx<'_>, platform: &P) -> Result<ExitStatus, CliError>
    where
        CliError: From<P::Error> + From<<P::Target as Target>::ImageError>,
    {
        let a = self.0;
        let target = platform.target(Mode::Look).await?;
        let report = report(&target, ctx, a.service.as_deref(), a.deployment.as_deref()).await?;
        ctx.printer.result(&report)?;
        Ok(ExitStatus::Success)
    }
}

/// The environment's failed stacks and the named service's deployment, or (no name) every
/// service whose latest deployment failed or is unfinished.
pub async fn report<T: Target>(
    target: &T,
    ctx: &Ctx<'_>,
    service: Option<&str>,
    deployment: Option<&str>,
) -> Result<Report, CliError> {
    let stacks = wharf_diagnose::diagnose_stacks(target).await?;
    let mut services = Vec::new();
    match service {
        Some(_) => {
            let s = one_service(ctx.env, service)?;
            services.push(wharf_diagnose::diagnose(target, s, deployment).await?);
        }
        None => {
            for s in ctx.env.services_by_priority() {
                let records = target.list(&s.name).await.map_err(|e| {
                    wharf_engine::EngineError::target(format!("read the records of {}", s.name), e)
                })?;
                if wharf_diagnose::needs_look(&records) {
                    services.push(wharf_diagnose::diagnose(target, s, None).await?);
                }
            }
        }
    }
    Ok(Report {
        environment: ctx.env.name.clone(),
        stacks,
        services,
    })
}

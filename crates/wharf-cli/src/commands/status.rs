//! `wharf status [SERVICE]`: deployments, traffic weights and health, and (for the whole
//! environment) each job's schedule, next and last run; read through the target (see
//! [`wharf_engine::view`]); it starts nothing.

use wharf_engine::{Clock, EnvStatus, Mode, Platform, SystemClock, Target};
use wharf_manifest::Job;

use crate::cli::ServiceArg;
use crate::env::{services, Ctx, Verb};
use crate::error::CliError;
use crate::exit::ExitStatus;

pub struct Status<'a>(pub &'a ServiceArg);

impl Verb for Status<'_> {
    type Output = ExitStatus;

    async fn run<P: Platform>(self, ctx: &Ctx<'_>, platform: &P) -> Result<ExitStatus, CliError>
    where
        CliError: From<P::Error> + From<<P::Target as Target>::ImageError>,
    {
        let chosen = services(ctx.env, self.0.service.as_deref())?;
        // Jobs are shown with the whole environment, not with one service.
        let jobs: Vec<&Job> = match self.0.service {
            Some(_) => Vec::new(),
            None => ctx.env.jobs.values().collect(),
        };
        let target = platform.target(Mode::Look).await?;
        let status =
            EnvStatus::of(&target, &ctx.env.name, &chosen, &jobs, SystemClock.now_ms()).await?;
        ctx.printer.result(&status)?;
        Ok(ExitStatus::Success)
    }
}

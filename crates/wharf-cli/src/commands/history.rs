//! `wharf history [SERVICE]`: past deployments with outcome and duration, from the records.

use wharf_engine::{History, Mode, Platform, Target};

use crate::cli::ServiceArg;
use crate::env::{Ctx, Verb};
use crate::error::CliError;
use crate::exit::ExitStatus;

pub struct Histories<'a>(pub &'a ServiceArg);

impl Verb for Histories<'_> {
    type Output = ExitStatus;

    async fn run<P: Platform>(self, ctx: &Ctx<'_>, platform: &P) -> Result<ExitStatus, CliError>
    where
        CliError: From<P::Error> + From<<P::Target as Target>::ImageError>,
    {
        let name = self.0.service.as_deref();
        let chosen: Vec<_> = ctx
            .env
            .services
            .values()
            .filter(|s| name.is_none_or(|n| n == s.name))
            .collect();
        let target = platform.target(Mode::Look).await?;
        ctx.printer.result(&History::of(&target, &chosen).await?)?;
        Ok(ExitStatus::Success)
    }
}

//! `wharf up`: creates or updates the environment (local: starts wharf's proxy; AWS: applies
//! its stacks through change sets), after the fast preflight.

use wharf_engine::{Platform, Target};

use crate::cli::UpArgs;
use crate::env::{Ctx, Verb};
use crate::error::CliError;
use crate::exit::ExitStatus;

pub struct Up<'a>(pub &'a UpArgs);

impl Verb for Up<'_> {
    type Output = ExitStatus;

    async fn run<P: Platform>(self, ctx: &Ctx<'_>, platform: &P) -> Result<ExitStatus, CliError>
    where
        CliError: From<P::Error> + From<<P::Target as Target>::ImageError>,
    {
        if let Some(stop) = super::preflight::gate(
            ctx,
            platform,
            wharf_engine::Before::Up,
            self.0.skip_preflight,
        )
        .await?
        {
            return Ok(stop);
        }
        ctx.printer
            .result(&platform.up(self.0.allow_replace).await?)?;
        Ok(ExitStatus::Success)
    }
}

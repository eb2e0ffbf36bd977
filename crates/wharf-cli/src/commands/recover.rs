//! `wharf recover`: brings the environment's stacks back from a failed or stuck state,
//! showing what it will do and asking first.

use wharf_engine::{Platform, Target};

use crate::env::{confirm, Ctx, Verb};
use crate::error::CliError;
use crate::exit::ExitStatus;

pub struct Recover;

impl Verb for Recover {
    type Output = ExitStatus;

    async fn run<P: Platform>(self, ctx: &Ctx<'_>, platform: &P) -> Result<ExitStatus, CliError>
    where
        CliError: From<P::Error> + From<<P::Target as Target>::ImageError>,
    {
        let done = platform.recover(&confirm(ctx.global)).await?;
        ctx.printer.result(&done)?;
        Ok(ExitStatus::Success)
    }
}

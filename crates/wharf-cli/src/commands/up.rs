//! `wharf up`: creates or updates the environment (local: starts wharf's proxy; AWS: applies
//! its stacks through change sets).

use wharf_engine::{Platform, Target};

use crate::env::{Ctx, Verb};
use crate::error::CliError;
use crate::exit::ExitStatus;

pub struct Up;

impl Verb for Up {
    type Output = ExitStatus;

    async fn run<P: Platform>(self, ctx: &Ctx<'_>, platform: &P) -> Result<ExitStatus, CliError>
    where
        CliError: From<P::Error> + From<<P::Target as Target>::ImageError>,
    {
        ctx.printer.result(&platform.up().await?)?;
        Ok(ExitStatus::Success)
    }
}

//! `wharf status [SERVICE]`: deployments, traffic weights and health, read through the
//! target (see [`wharf_engine::view`]); it starts nothing.

use wharf_engine::{EnvStatus, Mode, Platform, Target};

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
        let target = platform.target(Mode::Look).await?;
        ctx.printer
            .result(&EnvStatus::of(&target, &ctx.env.name, &chosen).await?)?;
        Ok(ExitStatus::Success)
    }
}

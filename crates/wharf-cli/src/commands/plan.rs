//! `wharf plan --env E`: every resource the environment and its services will get, offline;
//! with `--remote`, the runtime's own preview (each stack's change set on AWS).

use wharf_engine::{Platform, Target};

use crate::cli::{Global, PlanArgs};
use crate::commands::{load, pick_env};
use crate::env::{Ctx, Verb};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::output::Printer;

pub fn run(global: &Global, printer: &Printer, args: &PlanArgs) -> Result<ExitStatus, CliError> {
    if args.remote {
        return crate::env::run(global, printer, Preview);
    }
    let loaded = load(global, printer)?;
    let env = pick_env(global, &loaded.manifest)?;
    printer.result(&wharf_plan::plan(&loaded.manifest, env))?;
    Ok(ExitStatus::Success)
}

struct Preview;

impl Verb for Preview {
    type Output = ExitStatus;

    async fn run<P: Platform>(self, ctx: &Ctx<'_>, platform: &P) -> Result<ExitStatus, CliError>
    where
        CliError: From<P::Error> + From<<P::Target as Target>::ImageError>,
    {
        ctx.printer.result(&platform.preview().await?)?;
        Ok(ExitStatus::Success)
    }
}

//! `wharf plan --env E`: every resource the environment and its services will get, offline;
//! with `--remote`, each stack's change-set preview against the account.

use crate::cli::{Global, PlanArgs};
use crate::commands::{load, pick_env};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::output::Printer;

pub fn run(global: &Global, printer: &Printer, args: &PlanArgs) -> Result<ExitStatus, CliError> {
    let loaded = load(global, printer)?;
    let env = pick_env(global, &loaded.manifest)?;
    if args.remote {
        let previews = crate::commands::aws::preview(global, printer, &loaded.manifest, env)?;
        printer.result(&previews)?;
        return Ok(ExitStatus::Success);
    }
    let plan = wharf_plan::plan(&loaded.manifest, env);
    printer.result(&plan)?;
    Ok(ExitStatus::Success)
}

//! `wharf plan --env E`: every resource the environment and its services will get, offline.

use crate::cli::{Global, PlanArgs};
use crate::commands::{load, pick_env};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::output::Printer;

pub fn run(global: &Global, printer: &Printer, _args: &PlanArgs) -> Result<ExitStatus, CliError> {
    let loaded = load(global, printer)?;
    let env = pick_env(global, &loaded.manifest)?;
    let plan = wharf_plan::plan(&loaded.manifest, env);
    printer.result(&plan)?;
    Ok(ExitStatus::Success)
}

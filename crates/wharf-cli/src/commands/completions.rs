//! `wharf completions SHELL`: the completion script on stdout.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs};
use crate::error::CliError;
use crate::exit::ExitStatus;

pub fn run(args: &CompletionsArgs) -> Result<ExitStatus, CliError> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "wharf", &mut std::io::stdout());
    Ok(ExitStatus::Success)
}

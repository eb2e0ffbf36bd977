//! The `wharf` binary: parses arguments, installs tracing and the error reporter, runs the
//! subcommand and maps its result to a documented exit code.

mod alloc;
mod cli;
mod commands;
mod env;
mod error;
mod exit;
mod live;
mod output;
mod progress;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::commands::act::Action;
use crate::error::{CliError, JsonError};
use crate::exit::ExitStatus;
use crate::output::Printer;

#[global_allocator]
static ALLOCATOR: alloc::Mimalloc = alloc::Mimalloc;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitStatus::Success
                }
                _ => ExitStatus::Usage,
            }
            .into();
        }
    };
    let printer = Printer::new(&cli.global);
    install_tracing(&cli, &printer);
    install_reporter(&printer);

    let result = match &cli.command {
        Command::Init(args) => commands::init::run(&cli.global, &printer, args),
        Command::Validate(args) => commands::validate::run(&cli.global, &printer, args),
        Command::Plan(args) => commands::plan::run(&cli.global, &printer, args),
        Command::Render(args) => commands::render::run(&cli.global, &printer, args),
        Command::Up(args) => run(&cli, &printer, commands::up::Up(args)),
        Command::Down(a) => run(&cli, &printer, commands::down::Down(a)),
        Command::Recover => run(&cli, &printer, commands::recover::Recover),
        Command::Deploy(a) => run(&cli, &printer, commands::deploy::Deploy(a)),
        Command::Status(a) => run(&cli, &printer, commands::status::Status(a)),
        Command::History(a) => run(&cli, &printer, commands::history::Histories(a)),
        Command::Promote(a) => act(&cli, &printer, a.service.as_deref(), Action::Promote),
        Command::Abort(a) => act(&cli, &printer, a.service.as_deref(), Action::Abort),
        Command::Rollback(a) => act(&cli, &printer, a.service.as_deref(), Action::Rollback),
        Command::Drain(a) => act(&cli, &printer, a.service.as_deref(), Action::Drain(&a.id)),
        Command::Gc(a) => run(&cli, &printer, commands::gc::Collect(a)),
        Command::Logs(a) => run(&cli, &printer, commands::logs::Logs(a)),
        Command::Diagnose(a) if a.catalog => {
            print!("{}", wharf_diagnose::docs::markdown());
            Ok(ExitStatus::Success)
        }
        Command::Diagnose(a) => run(&cli, &printer, commands::diagnose::Diagnose(a)),
        Command::Exec(a) => run(&cli, &printer, commands::exec::Exec(a)),
        Command::Run(a) => run(&cli, &printer, commands::run::Run(a)),
        Command::Import(c) => commands::import::run(&cli.global, &printer, c),
        Command::Ci(cli::CiCommand::Github(a)) => commands::ci::github(&cli.global, &printer, a),
        Command::Completions(args) => commands::completions::run(args),
        Command::Local(cli::LocalCommand::Serve(args)) => commands::local::serve(args),
    };
    match result {
        Ok(status) => status.into(),
        Err(e) => report(&printer, e).into(),
    }
}

fn run<V: env::Verb<Output = ExitStatus>>(
    cli: &Cli,
    printer: &Printer,
    verb: V,
) -> Result<ExitStatus, CliError> {
    env::run(&cli.global, printer, verb)
}

fn act(
    cli: &Cli,
    printer: &Printer,
    service: Option<&str>,
    action: Action<'_>,
) -> Result<ExitStatus, CliError> {
    run(cli, printer, commands::act::Act { service, action })
}

fn report(printer: &Printer, e: CliError) -> ExitStatus {
    let status = e.exit_status();
    if printer.json() {
        let _ = printer.result(&JsonDisplay(JsonError::from_error(&e)));
    }
    if let CliError::Manifest(wharf_manifest::ManifestError::Invalid { problems }) = &e {
        printer.diag(&problems.render(printer.color_stderr));
    }
    printer.diag(&format!("{:?}\n", miette::Report::new(e)));
    status
}

/// Lets a JSON-only value go through [`Printer::result`].
struct JsonDisplay<T>(T);

impl<T: serde::Serialize> serde::Serialize for JsonDisplay<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<T> std::fmt::Display for JsonDisplay<T> {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Ok(())
    }
}

/// `-v`/`-vv` show wharf's own logs (info, debug); other crates stay at warnings, since the
/// SDK's and the Docker client's debug logs can carry request bodies (a container's env with
/// its secrets). `-vvv` shows everything at trace, for a bug report.
fn install_tracing(cli: &Cli, printer: &Printer) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let (wharf, others) = match (cli.global.quiet, cli.global.verbose) {
        (true, _) => (LevelFilter::ERROR, LevelFilter::ERROR),
        (false, 0) => (LevelFilter::WARN, LevelFilter::WARN),
        (false, 1) => (LevelFilter::INFO, LevelFilter::WARN),
        (false, 2) => (LevelFilter::DEBUG, LevelFilter::WARN),
        _ => (LevelFilter::TRACE, LevelFilter::TRACE),
    };
    let filter = Targets::new()
        .with_default(others)
        .with_target("wharf", wharf);
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(printer.color_stderr)
                .with_target(false)
                .without_time(),
        )
        .with(filter)
        .try_init();
}

fn install_reporter(printer: &Printer) {
    let color = printer.color_stderr;
    let _ = miette::set_hook(Box::new(move |_| {
        let theme = if color {
            miette::GraphicalTheme::unicode()
        } else {
            miette::GraphicalTheme::unicode_nocolor()
        };
        Box::new(miette::GraphicalReportHandler::new_themed(theme))
    }));
}

//! `wharf exec [NAME] [--deployment ID] [--task ID] [-- CMD…]`: a shell, or one command, in a
//! running task of a service (the serving deployment's unless told) or of a job's run. The
//! target says which client opens the session (see [`wharf_engine::exec`]); this starts it
//! with the user's terminal and exits with the command's exit code.

use std::io::IsTerminal as _;

use wharf_engine::{live, ExecRequest, LogSource, Mode, Platform, Store as _, Target};

use crate::cli::ExecArgs;
use crate::commands::logs::source;
use crate::env::{Ctx, Verb};
use crate::error::CliError;
use crate::exit::ExitStatus;

pub struct Exec<'a>(pub &'a ExecArgs);

impl Verb for Exec<'_> {
    type Output = ExitStatus;

    async fn run<P: Platform>(self, ctx: &Ctx<'_>, platform: &P) -> Result<ExitStatus, CliError>
    where
        CliError: From<P::Error> + From<<P::Target as Target>::ImageError>,
    {
        let a = self.0;
        let of = source(ctx.env, a.service.as_deref())?;
        let target = platform.target(Mode::Look).await?;
        // A service's serving deployment unless told: the one users reach.
        let serving = match (&a.deployment, of) {
            (None, LogSource::Service(s)) => {
                let records = target.list(&s.name).await.map_err(|e| {
                    wharf_engine::EngineError::target(format!("read the records of {}", s.name), e)
                })?;
                live(&records).last().map(|r| r.id.clone())
            }
            _ => None,
        };
        let deployment = a.deployment.as_deref().or(serving.as_deref());
        let session = target
            .exec(ExecRequest {
                of,
                deployment,
                task: a.task.as_deref(),
                command: &a.command,
                tty: std::io::stdin().is_terminal() && std::io::stdout().is_terminal(),
            })
            .await
            .map_err(|e| {
                wharf_engine::EngineError::target(format!("open a session in {}", of.name()), e)
            })?;
        ctx.printer.diag(&format!(
            "{}: entering {}{}\n",
            of.name(),
            session.task,
            deployment.map(|d| format!(" of {d}")).unwrap_or_default()
        ));
        let status = std::process::Command::new(&session.program)
            .args(&session.args)
            .status()
            .map_err(|source| match source.kind() {
                std::io::ErrorKind::NotFound => CliError::ExecClient {
                    program: session.program.clone(),
                    install: session.install.clone(),
                },
                _ => CliError::ExecStart {
                    program: session.program.clone(),
                    source,
                },
            })?;
        Ok(match status.code() {
            Some(0) => ExitStatus::Success,
            Some(c) => ExitStatus::Job(u8::try_from(c).unwrap_or(1)),
            // Ended by a signal: 128 + its number, as a shell reports it.
            None => {
                use std::os::unix::process::ExitStatusExt as _;
                let signal = status.signal().unwrap_or(1).clamp(1, 127) as u8;
                ExitStatus::Job(128 + signal)
            }
        })
    }
}

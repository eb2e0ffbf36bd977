//! `wharf logs [SERVICE]`: the logs of a service's tasks (all deployments, or one), merged,
//! each line prefixed by its task (`container | line`), or JSON lines with `--output json`.

use std::io::Write as _;

use wharf_engine::{LogLine, LogQuery, Mode, Platform, Target};

use crate::cli::LogsArgs;
use crate::env::{one_service, Ctx, Verb};
use crate::error::CliError;
use crate::exit::ExitStatus;

pub struct Logs<'a>(pub &'a LogsArgs);

impl Verb for Logs<'_> {
    type Output = ExitStatus;

    async fn run<P: Platform>(self, ctx: &Ctx<'_>, platform: &P) -> Result<ExitStatus, CliError>
    where
        CliError: From<P::Error> + From<<P::Target as Target>::ImageError>,
    {
        let a = self.0;
        let svc = one_service(ctx.env, a.service.as_deref())?;
        let target = platform.target(Mode::Look).await?;
        let json = ctx.printer.json();
        let print = |l: LogLine<'_>| {
            let mut out = std::io::stdout().lock();
            let _ = if json {
                writeln!(out, "{}", serde_json::to_string(&l).unwrap_or_default())
            } else {
                writeln!(out, "{} | {}", l.source, l.line)
            };
        };
        let query = LogQuery {
            deployment: a.deployment.as_deref(),
            follow: a.follow,
            tail: a.tail,
        };
        let read = target.logs(svc, query, &print).await.map_err(|source| {
            wharf_engine::EngineError::target(format!("read the logs of {}", svc.name), source)
        })?;
        if read == 0 {
            ctx.printer
                .diag(&format!("no container of {} is running\n", svc.name));
        }
        Ok(ExitStatus::Success)
    }
}

//! `wharf logs [NAME]`: the logs of a service's tasks or a job's runs (all deployments or
//! runs, one, or one task), from a moment or the last lines, filtered by text, merged by time
//! across tasks, each line prefixed by its task (coloured on a terminal), or JSON lines with
//! `--output json`; `--follow` keeps streaming until Ctrl-C.

use std::io::Write as _;

use wharf_engine::{Clock, LogLine, LogQuery, LogSource, Mode, Platform, SystemClock, Target};
use wharf_manifest::Environment;

use crate::cli::LogsArgs;
use crate::env::{one_service, Ctx, Verb};
use crate::error::CliError;
use crate::exit::ExitStatus;

/// Lines shown when neither `--tail` nor `--since` says otherwise.
pub const DEFAULT_TAIL: u32 = 100;

pub struct Logs<'a>(pub &'a LogsArgs);

/// A service by that name, else a job, else the only service.
pub(crate) fn source<'e>(
    env: &'e Environment,
    name: Option<&str>,
) -> Result<LogSource<'e>, CliError> {
    match name {
        Some(n) if env.services.contains_key(n) => Ok(LogSource::Service(&env.services[n])),
        Some(n) => match env.jobs.get(n) {
            Some(j) => Ok(LogSource::Job(j)),
            None => Err(CliError::UnknownSource {
                name: n.to_owned(),
                env: env.name.clone(),
                services: env.services.keys().cloned().collect::<Vec<_>>().join(", "),
                jobs: env.jobs.keys().cloned().collect::<Vec<_>>().join(", "),
            }),
        },
        None => Ok(LogSource::Service(one_service(env, None)?)),
    }
}

/// `--since`: a duration back from `now_ms`, or a time.
pub fn since(value: &str, now_ms: i64) -> Result<i64, CliError> {
    if let Ok(d) = wharf_manifest::Duration::parse(value) {
        return Ok(now_ms - d.as_millis() as i64);
    }
    wharf_manifest::names::parse_utc(value).ok_or_else(|| CliError::BadSince {
        value: value.to_owned(),
    })
}

/// A colour of the terminal's palette for a task, the same each time.
fn colour(source: &str) -> u8 {
    const PALETTE: [u8; 6] = [36, 33, 35, 32, 34, 31];
    let h = source
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    PALETTE[h as usize % PALETTE.len()]
}

impl Verb for Logs<'_> {
    type Output = ExitStatus;

    async fn run<P: Platform>(self, ctx: &Ctx<'_>, platform: &P) -> Result<ExitStatus, CliError>
    where
        CliError: From<P::Error> + From<<P::Target as Target>::ImageError>,
    {
        let a = self.0;
        let of = source(ctx.env, a.service.as_deref())?;
        let since_ms = a
            .since
            .as_deref()
            .map(|s| since(s, SystemClock.now_ms()))
            .transpose()?;
        let target = platform.target(Mode::Look).await?;
        let (json, colour_on) = (ctx.printer.json(), ctx.printer.color_stdout);
        let print = |l: LogLine<'_>| {
            let mut out = std::io::stdout().lock();
            let _ = if json {
                writeln!(out, "{}", serde_json::to_string(&l).unwrap_or_default())
            } else if colour_on {
                writeln!(
                    out,
                    "\x1b[{}m{}\x1b[0m | {}",
                    colour(l.source),
                    l.source,
                    l.line
                )
            } else {
                writeln!(out, "{} | {}", l.source, l.line)
            };
        };
        let query = LogQuery {
            deployment: a.deployment.as_deref(),
            task: a.task.as_deref(),
            follow: a.follow,
            tail: a.tail.or(since_ms.is_none().then_some(DEFAULT_TAIL)),
            since_ms,
            grep: a.grep.as_deref(),
        };
        let read = async {
            target.logs(of, query, &print).await.map_err(|source| {
                wharf_engine::EngineError::target(format!("read the logs of {}", of.name()), source)
            })
        };
        let read = if a.follow {
            tokio::select! {
                r = read => r?,
                _ = tokio::signal::ctrl_c() => 1,
            }
        } else {
            read.await?
        };
        if read == 0 {
            ctx.printer
                .diag(&format!("no task of {} has logs here\n", of.name()));
        }
        Ok(ExitStatus::Success)
    }
}

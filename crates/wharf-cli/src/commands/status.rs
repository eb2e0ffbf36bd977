//! `wharf status [SERVICE] [--watch]`: deployments, traffic weights and health, and for an
//! unfinished deployment its step, what it waits for and the runtime's events; for the whole
//! environment each job's schedule, next and last run. Read through the target (see
//! [`wharf_engine::view`]); it starts nothing. `--watch` redraws until the unfinished
//! deployments end, or nothing moves them any more.

use std::io::IsTerminal as _;

use wharf_engine::{Clock, EnvStatus, Mode, Platform, SystemClock, Target};
use wharf_manifest::Job;

use crate::cli::StatusArgs;
use crate::env::{services, Ctx, Verb};
use crate::error::CliError;
use crate::exit::ExitStatus;

/// How often `--watch` reads again.
const WATCH_EVERY_MS: u64 = 2_000;

pub struct Status<'a>(pub &'a StatusArgs);

impl Verb for Status<'_> {
    type Output = ExitStatus;

    async fn run<P: Platform>(self, ctx: &Ctx<'_>, platform: &P) -> Result<ExitStatus, CliError>
    where
        CliError: From<P::Error> + From<<P::Target as Target>::ImageError>,
    {
        let chosen = services(ctx.env, self.0.service.as_deref())?;
        // Jobs are shown with the whole environment, not with one service.
        let jobs: Vec<&Job> = match self.0.service {
            Some(_) => Vec::new(),
            None => ctx.env.jobs.values().collect(),
        };
        let target = platform.target(Mode::Look).await?;
        let redraw = self.0.watch && !ctx.printer.json() && std::io::stdout().is_terminal();
        loop {
            let now = SystemClock.now_ms();
            let status = EnvStatus::of(&target, &ctx.env.name, &chosen, &jobs, now).await?;
            if redraw {
                // Clear the screen and go home, then draw.
                print!("\x1b[2J\x1b[H");
            }
            ctx.printer.result(&status)?;
            if !self.0.watch {
                break;
            }
            let moving = moving(&target, &status, now).await?;
            if moving.is_empty() {
                let unfinished = status
                    .services
                    .iter()
                    .any(|s| s.deployments.iter().any(|d| d.step.is_some()));
                ctx.printer.diag(if unfinished {
                    "watch: an unfinished deployment has no process moving it (`wharf deploy --resume` continues it, `wharf abort` rolls it back)\n"
                } else {
                    "watch: no deployment in progress\n"
                });
                break;
            }
            tokio::select! {
                () = tokio::time::sleep(std::time::Duration::from_millis(WATCH_EVERY_MS)) => {}
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        Ok(ExitStatus::Success)
    }
}

/// The services with an unfinished deployment that a live lock holder is moving.
async fn moving<T: Target>(
    target: &T,
    status: &EnvStatus,
    now_ms: i64,
) -> Result<Vec<String>, CliError> {
    let mut out = Vec::new();
    for s in &status.services {
        if !s.deployments.iter().any(|d| d.step.is_some()) {
            continue;
        }
        let lock = target.current_lock(&s.service).await.map_err(|e| {
            wharf_engine::EngineError::target(format!("read the lock of {}", s.service), e)
        })?;
        if lock.is_some_and(|l| l.expires_ms > now_ms) {
            out.push(s.service.clone());
        }
    }
    Ok(out)
}

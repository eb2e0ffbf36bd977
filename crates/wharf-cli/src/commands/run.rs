//! `wharf run JOB [-- ARGS…]`: one run of a job inside the environment. Its image is made
//! ready (built, pushed where the runtime pulls), its task started with the job's env, secrets
//! and bindings, its log streamed on stdout; wharf exits with the task's exit code. The job's
//! `timeout` stops it (exit 124); Ctrl-C asks whether to stop it or leave it running;
//! `--detach` prints the task and returns.

use std::fmt;
use std::io::Write as _;

use serde::Serialize;
use wharf_engine::job::{job_image, run_id, JobImageError, TIMEOUT};
use wharf_engine::{
    Clock, JobSpec, JobTask, LogLine, Mode, Platform, RunEnd, Runner, Started, SystemClock, Target,
    Trigger,
};
use wharf_manifest::{Job, Names};

use crate::cli::RunArgs;
use crate::env::{Ctx, Verb};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::progress::Render;

/// The exit code of a run stopped at its timeout (as `timeout(1)` has it).
pub const TIMED_OUT: u8 = 124;

/// What `wharf run` did.
#[derive(Debug, Serialize)]
pub struct Ran {
    pub job: String,
    pub run: String,
    pub task: String,
    pub image: String,
    /// None with `--detach`, or when the task did not report its end in time after a stop.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<RunEnd>,
    pub seconds: f64,
}

impl fmt::Display for Ran {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.end {
            Some(end) => writeln!(
                f,
                "{} run {} ({}): {end} after {:.1}s",
                self.job, self.run, self.task, self.seconds
            ),
            None => writeln!(
                f,
                "{} run {} goes on as {}; its log: the job's log group on AWS, `docker logs -f {}` locally",
                self.job,
                self.run,
                self.task,
                self.task.rsplit('/').next().unwrap_or(&self.task)
            ),
        }
    }
}

impl Ran {
    fn status(&self) -> ExitStatus {
        match &self.end {
            None => ExitStatus::Success,
            Some(e) if e.stop_code == TIMEOUT => ExitStatus::Job(TIMED_OUT),
            Some(RunEnd {
                exit_code: Some(c), ..
            }) => match u8::try_from(*c) {
                Ok(0) => ExitStatus::Success,
                Ok(c) => ExitStatus::Job(c),
                Err(_) => ExitStatus::Failure,
            },
            Some(_) => ExitStatus::Failure,
        }
    }
}

pub struct Run<'a>(pub &'a RunArgs);

impl Verb for Run<'_> {
    type Output = ExitStatus;

    async fn run<P: Platform>(self, ctx: &Ctx<'_>, platform: &P) -> Result<ExitStatus, CliError>
    where
        CliError: From<P::Error> + From<<P::Target as Target>::ImageError>,
    {
        let a = self.0;
        let job = ctx
            .env
            .jobs
            .get(&a.job)
            .ok_or_else(|| CliError::UnknownJob {
                name: a.job.clone(),
                env: ctx.env.name.clone(),
                known: ctx.env.jobs.keys().cloned().collect::<Vec<_>>().join(", "),
            })?;
        let target = platform.target(Mode::Act).await?;
        let render = Render::new(ctx.printer);
        let names = Names::new(&ctx.manifest.app.name, &ctx.env.name);
        let run = run_id(&names, SystemClock.now_ms());
        let image = match &a.image {
            Some(image) => wharf_engine::Image {
                platform: job.platform.clone(),
                ..wharf_engine::Image::unpinned(image.as_str())
            },
            None => job_image(&target, job, &run, a.registry.as_deref(), None, &render)
                .await
                .map_err(|e| match e {
                    JobImageError::Build(b) => CliError::from(b),
                    JobImageError::Engine(e) => CliError::from(e),
                })?,
        };
        let pinned = image.pinned();
        let spec = JobSpec {
            job,
            run: &run,
            image: &pinned,
            platform: image.platform.as_deref(),
            command: (!a.args.is_empty()).then(|| a.args.clone()),
            env: vec![("WHARF_RUN_ID".into(), run.clone())],
            trigger: if a.scheduled {
                Trigger::Schedule
            } else {
                Trigger::Manual
            },
        };
        let runner = Runner {
            target: &target,
            clock: &SystemClock,
            events: &render,
        };
        // Ctrl-C is caught from before the task starts: one arriving while it is being made
        // is answered once it runs (stopped, or left running), never by an exit that orphans it.
        let mut interrupt =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
                .map_err(|source| CliError::Signal { source })?;
        let started = runner.start(&spec).await?;
        let mut ran = Ran {
            job: job.name.clone(),
            run: run.clone(),
            task: started.task.id.clone(),
            image: pinned.clone(),
            end: None,
            seconds: 0.0,
        };
        if !a.detach {
            ran.end = follow(ctx, &runner, job, &started, &mut interrupt).await?;
        }
        ran.seconds = (SystemClock.now_ms() - started.record.started_ms) as f64 / 1000.0;
        drop(render);
        if ctx.printer.json() {
            ctx.printer.result(&ran)?;
        } else if !ctx.printer.quiet || ran.status() != ExitStatus::Success {
            ctx.printer.diag(&ran.to_string());
        }
        Ok(ran.status())
    }
}

/// Streams the run's log until it ends; on Ctrl-C asks whether to stop the task (None when
/// the user leaves it running).
async fn follow<T: Target>(
    ctx: &Ctx<'_>,
    runner: &Runner<'_, T, SystemClock>,
    job: &Job,
    started: &Started,
    interrupt: &mut tokio::signal::unix::Signal,
) -> Result<Option<RunEnd>, CliError> {
    let task = &started.task;
    let json = ctx.printer.json();
    let print = |l: LogLine<'_>| {
        let mut out = std::io::stdout().lock();
        let _ = if json {
            writeln!(out, "{}", serde_json::to_string(&l).unwrap_or_default())
        } else {
            writeln!(out, "{}", l.line)
        };
    };
    tokio::select! {
        end = runner.finish(job, started, &print) => return Ok(Some(end?)),
        _ = interrupt.recv() => {}
    }
    if leave_running(ctx, task, interrupt).await {
        return Ok(None);
    }
    ctx.printer.diag(&format!(
        "stopping {} (Ctrl-C again leaves it running)\n",
        task.id
    ));
    tokio::select! {
        end = runner.stop(job, started) => Ok(end?),
        _ = interrupt.recv() => Ok(None),
    }
}

/// Asks on the terminal whether to leave the task running; without one (or with `--yes`), it
/// is stopped.
async fn leave_running(
    ctx: &Ctx<'_>,
    task: &JobTask,
    interrupt: &mut tokio::signal::unix::Signal,
) -> bool {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() || ctx.global.yes {
        return false;
    }
    let question = format!(
        "\n{} still runs. Stop it [s] or leave it running [l]? [S/l] ",
        task.id
    );
    ctx.printer.diag(&question);
    // A thread of its own, not the runtime's blocking pool: an unanswered question must not
    // hold the process at exit. Ctrl-C again answers "leave it".
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = tx.send(std::io::stdin().read_line(&mut line).map(|_| line));
    });
    tokio::select! {
        answer = rx => matches!(answer, Ok(Ok(l)) if matches!(l.trim(), "l" | "L" | "leave")),
        _ = interrupt.recv() => true,
    }
}

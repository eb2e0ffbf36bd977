//! `wharf promote`, `abort`, `rollback` and `drain ID`: one action on a service's
//! deployments, under its lock.

use std::fmt;

use serde::Serialize;
use wharf_engine::{Mode, Options, Platform, Record, Target};

use crate::env::{engine, one_service, Ctx, Verb};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::progress::Render;

pub enum Action<'a> {
    Promote,
    Abort,
    Rollback,
    /// Drain this deployment.
    Drain(&'a str),
}

/// The record an action ended with.
#[derive(Debug, Serialize)]
pub struct Acted {
    pub deployment: Record,
}

impl fmt::Display for Acted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} {}: {}",
            self.deployment.service,
            self.deployment.id,
            self.deployment.phase()
        )
    }
}

pub struct Act<'a> {
    pub service: Option<&'a str>,
    pub action: Action<'a>,
}

impl Verb for Act<'_> {
    type Output = ExitStatus;

    async fn run<P: Platform>(self, ctx: &Ctx<'_>, platform: &P) -> Result<ExitStatus, CliError>
    where
        CliError: From<P::Error> + From<<P::Target as Target>::ImageError>,
    {
        let (m, env) = (ctx.manifest, ctx.env);
        let svc = one_service(env, self.service)?;
        let target = platform.target(Mode::Act).await?;
        let render = Render::new(ctx.printer);
        let engine = engine(ctx, &target, &render, Options::default());
        let record = match self.action {
            Action::Promote => engine.promote(svc).await?,
            Action::Abort => engine.abort(svc).await?,
            Action::Rollback => engine.rollback(&m.app.name, &env.name, svc, None).await?,
            Action::Drain(id) => engine.drain(svc, id).await?,
        };
        drop(render);
        ctx.printer.result(&Acted { deployment: record })?;
        Ok(ExitStatus::Success)
    }
}

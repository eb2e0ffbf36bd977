//! `wharf gc`: drains and removes what no serving deployment needs, on either target —
//! succeeded deployments beyond `drain.keep`, and deployments whose resources are still there
//! although their record says they are gone (or that have no record). `--dry-run` lists them.

use std::fmt;

use serde::Serialize;
use wharf_engine::{Collected, Mode, Options, Platform, Target};

use crate::cli::GcArgs;
use crate::env::{engine, services, Ctx, Verb};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::progress::Render;

/// What `gc` removed, or would remove.
#[derive(Debug, Serialize)]
pub struct Gc {
    pub environment: String,
    pub dry_run: bool,
    pub removed: Vec<Collected>,
}

impl fmt::Display for Gc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.removed.is_empty() {
            return writeln!(f, "{}: nothing to collect", self.environment);
        }
        let verb = if self.dry_run {
            "would remove"
        } else {
            "removed"
        };
        for c in &self.removed {
            writeln!(f, "{verb} {c}")?;
        }
        Ok(())
    }
}

pub struct Collect<'a>(pub &'a GcArgs);

impl Verb for Collect<'_> {
    type Output = ExitStatus;

    async fn run<P: Platform>(self, ctx: &Ctx<'_>, platform: &P) -> Result<ExitStatus, CliError>
    where
        CliError: From<P::Error> + From<<P::Target as Target>::ImageError>,
    {
        let a = self.0;
        let chosen = services(ctx.env, a.service.as_deref())?;
        let target = platform.target(Mode::Act).await?;
        let render = Render::new(ctx.printer);
        let engine = engine(ctx, &target, &render, Options::default());
        let mut removed = Vec::new();
        for svc in chosen {
            removed.extend(engine.gc(svc, a.dry_run).await?);
        }
        drop(render);
        ctx.printer.result(&Gc {
            environment: ctx.env.name.clone(),
            dry_run: a.dry_run,
            removed,
        })?;
        Ok(ExitStatus::Success)
    }
}

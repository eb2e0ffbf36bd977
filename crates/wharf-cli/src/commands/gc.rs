//! `wharf gc`: drains and removes what no serving deployment needs, on either target —
//! succeeded deployments beyond `drain.keep`, and deployments whose resources are still there
//! although their record says they are gone (or that have no record). `--dry-run` lists them.

use std::fmt;

use serde::Serialize;
use wharf_engine::{Collected, Engine, Options, SystemClock, Target};
use wharf_manifest::Service;

use crate::cli::{GcArgs, Global};
use crate::commands::deploy::runtime;
use crate::commands::localenv::{self, holder, Render};
use crate::commands::ops::one_service;
use crate::commands::{load, pick_env};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::output::Printer;

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

pub fn gc(global: &Global, printer: &Printer, a: &GcArgs) -> Result<ExitStatus, CliError> {
    let loaded = load(global, printer)?;
    let m = &loaded.manifest;
    let env = pick_env(global, m)?;
    let chosen: Vec<&Service> = match &a.service {
        Some(_) => vec![one_service(env, a.service.as_deref())?],
        None => env.services_by_priority(),
    };
    let removed = runtime()?.block_on(async {
        if env.aws().is_some() {
            let target = crate::commands::awsdeploy::open(global, m, env).await?;
            collect(&target, printer, &chosen, a.dry_run).await
        } else {
            let ctx = localenv::open(m, env).await?;
            for svc in &chosen {
                if let Some(dead) = localenv::release_dead_holder(&ctx.target, &svc.name).await? {
                    printer.diag(&format!(
                        "{}: released the lock of {dead}, which no longer runs\n",
                        svc.name
                    ));
                }
            }
            collect(&ctx.target, printer, &chosen, a.dry_run).await
        }
    })?;
    printer.result(&Gc {
        environment: env.name.clone(),
        dry_run: a.dry_run,
        removed,
    })?;
    Ok(ExitStatus::Success)
}

async fn collect<T: Target>(
    target: &T,
    printer: &Printer,
    chosen: &[&Service],
    dry_run: bool,
) -> Result<Vec<Collected>, CliError> {
    let render = Render::new(printer);
    let engine = Engine {
        target,
        clock: &SystemClock,
        events: &render,
        holder: holder(),
        options: Options::default(),
    };
    let mut all = Vec::new();
    for svc in chosen {
        all.extend(engine.gc(svc, dry_run).await?);
    }
    Ok(all)
}

//! The preflight `up` and `deploy` run before changing anything (the fast part of
//! `validate --remote`): a failure stops the command with the report and nothing changed;
//! warnings are shown and the command goes on; `--skip-preflight` skips it.

use wharf_engine::{Before, Platform, Verdict};

use crate::env::Ctx;
use crate::error::CliError;
use crate::exit::ExitStatus;

/// Runs the fast preflight unless skipped; `Some(status)` when the command must stop there.
pub async fn gate<P: Platform>(
    ctx: &Ctx<'_>,
    platform: &P,
    before: Before,
    skip: bool,
) -> Result<Option<ExitStatus>, CliError>
where
    CliError: From<P::Error>,
{
    if skip {
        return Ok(None);
    }
    let printer = ctx.printer;
    let Some((report, verdict)) = platform.preflight_fast(before, &|_| {}).await? else {
        return Ok(None);
    };
    let show = |headline: &str| {
        if !printer.quiet {
            printer.diag(&format!("{report}{headline}"));
        }
    };
    match verdict {
        Verdict::Passed => Ok(None),
        Verdict::Warnings => {
            show("the preflight passed with warnings (above)\n");
            Ok(None)
        }
        Verdict::Failed => {
            show(
                "error: the preflight failed (above): nothing was changed; fix what it names, \
                 or pass --skip-preflight to go on regardless\n",
            );
            Ok(Some(ExitStatus::Failure))
        }
        Verdict::Unreachable => {
            show("error: the account could not be checked (above): nothing was changed\n");
            Ok(Some(ExitStatus::Aws))
        }
    }
}

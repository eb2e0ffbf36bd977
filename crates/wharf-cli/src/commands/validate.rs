//! `wharf validate`: every problem of the manifest at once, as text or JSON; with `--remote`,
//! the account's preflight for the environment (see [`wharf_aws::preflight`]).

use std::fmt;

use serde::Serialize;
use wharf_engine::{Platform, Target, Verdict};
use wharf_manifest::Problems;

use crate::cli::{Global, ValidateArgs};
use crate::env::{Ctx, Verb};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::output::Printer;

/// The result of a validation.
#[derive(Debug, Serialize)]
pub struct Validation {
    pub file: String,
    pub valid: bool,
    pub errors: usize,
    pub warnings: usize,
    pub environments: Vec<String>,
    pub services: Vec<String>,
    pub problems: Problems,
    /// The account's preflight, with `--remote`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote: Option<serde_json::Value>,
    /// The preflight as text, and its verdict.
    #[serde(skip)]
    preflight: Option<(String, Verdict)>,
    #[serde(skip)]
    color: bool,
}

impl fmt::Display for Validation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.problems.render(self.color))?;
        if self.valid {
            writeln!(
                f,
                "{} is valid: environments {}; services {}",
                self.file,
                list(&self.environments),
                list(&self.services)
            )?;
        }
        if let Some((text, _)) = &self.preflight {
            f.write_str(text)?;
        }
        Ok(())
    }
}

/// Names joined with commas, or "(none)".
pub fn list(v: &[String]) -> String {
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

pub fn run(
    global: &Global,
    printer: &Printer,
    args: &ValidateArgs,
) -> Result<ExitStatus, CliError> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let path = wharf_manifest::locate(global.manifest.as_deref(), &cwd)?;
    let (source, display) = wharf_manifest::read_source(&path)?;
    let root = path.parent().map(|p| p.to_path_buf()).unwrap_or_default();
    let (manifest, problems) = wharf_manifest::parse_str(&source, &display, &root);
    let errors = problems.errors().count();
    let warnings = problems.warnings().count();
    if let (Some(m), Some(_)) = (&manifest, &global.env) {
        crate::commands::pick_env(global, m)?;
    }
    let preflight = match (&manifest, args.remote && errors == 0) {
        (Some(m), true) => Some(crate::env::run_on(global, printer, m, Preflight)?),
        _ => None,
    };
    let (remote, preflight) = match preflight {
        Some((json, text, verdict)) => (Some(json), Some((text, verdict))),
        None => (None, None),
    };
    let result = Validation {
        file: display,
        valid: errors == 0,
        errors,
        warnings,
        environments: manifest
            .as_ref()
            .map(|m| m.environments.keys().cloned().collect())
            .unwrap_or_default(),
        services: manifest
            .as_ref()
            .map(|m| m.services.keys().cloned().collect())
            .unwrap_or_default(),
        problems,
        remote,
        preflight,
        color: printer.color_stdout,
    };
    printer.result(&result)?;
    if errors > 0 {
        return Ok(ExitStatus::InvalidManifest);
    }
    match result.preflight.as_ref().map(|p| p.1) {
        Some(Verdict::Unreachable) => return Ok(ExitStatus::Aws),
        Some(Verdict::Failed) => return Ok(ExitStatus::Failure),
        Some(Verdict::Warnings) if args.strict => return Ok(ExitStatus::Failure),
        _ => {}
    }
    if args.strict && warnings > 0 {
        if !printer.json() {
            printer.diag("error: --strict: warnings count as errors\n");
        }
        return Ok(ExitStatus::InvalidManifest);
    }
    Ok(ExitStatus::Success)
}

/// The account's preflight for the environment picked by --env (or the only one): its JSON,
/// its text and its verdict.
struct Preflight;

impl Verb for Preflight {
    type Output = (serde_json::Value, String, Verdict);

    async fn run<P: Platform>(self, ctx: &Ctx<'_>, platform: &P) -> Result<Self::Output, CliError>
    where
        CliError: From<P::Error> + From<<P::Target as Target>::ImageError>,
    {
        let printer = ctx.printer;
        let progress = |check: &str| {
            if !printer.quiet && !printer.json() {
                printer.diag(&format!("checking {check}…\n"));
            }
        };
        let (report, verdict) = platform.preflight(&progress).await?;
        let json =
            serde_json::to_value(&report).map_err(|e| CliError::Stdout { source: e.into() })?;
        Ok((json, report.to_string(), verdict))
    }
}

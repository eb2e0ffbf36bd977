//! `wharf validate`: every problem of the manifest at once, as text or JSON; with `--remote`,
//! the account's preflight for the environment (see [`wharf_aws::preflight`]).

use std::fmt;

use serde::Serialize;
use wharf_manifest::Problems;

use wharf_aws::preflight::{Check, Level, Report};

use crate::cli::{Global, ValidateArgs};
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
    pub remote: Option<wharf_aws::preflight::Report>,
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
        if let Some(r) = &self.remote {
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

fn list(v: &[String]) -> String {
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
    let remote = match (&manifest, args.remote && errors == 0) {
        (Some(m), true) => Some(preflight(global, printer, m)?),
        _ => None,
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
        color: printer.color_stdout,
    };
    printer.result(&result)?;
    if errors > 0 {
        return Ok(ExitStatus::InvalidManifest);
    }
    if let Some(r) = &result.remote {
        let identity_failed = r
            .findings
            .iter()
            .any(|f| f.check == Check::Identity && f.level == Level::Error);
        if identity_failed {
            return Ok(ExitStatus::Aws);
        }
        if !r.passed() || (args.strict && r.warnings > 0) {
            return Ok(ExitStatus::Failure);
        }
    }
    if args.strict && warnings > 0 {
        if !printer.json() {
            printer.diag("error: --strict: warnings count as errors\n");
        }
        return Ok(ExitStatus::InvalidManifest);
    }
    Ok(ExitStatus::Success)
}

/// The account's preflight for the environment picked by --env (or the only one).
fn preflight(
    global: &Global,
    printer: &Printer,
    m: &wharf_manifest::Manifest,
) -> Result<Report, CliError> {
    let env = crate::commands::pick_env(global, m)?;
    let aws = crate::commands::aws::aws_of(env, "validate --remote")?;
    let rt = crate::commands::deploy::runtime()?;
    Ok(rt.block_on(async {
        let access = crate::commands::aws::connect(global, aws).await;
        let progress = |c: Check| {
            if !printer.quiet && !printer.json() {
                printer.diag(&format!("checking {c}…\n"));
            }
        };
        wharf_aws::preflight::run(&access, m, env, aws, &progress).await
    }))
}

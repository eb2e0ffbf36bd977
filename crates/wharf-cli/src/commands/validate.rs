//! `wharf validate`: every problem of the manifest at once, as text or JSON.

use std::fmt;

use serde::Serialize;
use wharf_manifest::Problems;

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
        color: printer.color_stdout,
    };
    printer.result(&result)?;
    if errors > 0 {
        return Ok(ExitStatus::InvalidManifest);
    }
    if args.strict && warnings > 0 {
        if !printer.json() {
            printer.diag("error: --strict: warnings count as errors\n");
        }
        return Ok(ExitStatus::InvalidManifest);
    }
    Ok(ExitStatus::Success)
}

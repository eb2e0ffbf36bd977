//! `wharf import copilot|ecspresso`: writes wharf.toml from another tool's configuration, prints
//! the report of every key on standard error, then checks the written manifest as `wharf
//! validate` would (exit 3, with the problems, if it is not valid).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use wharf_import::{Imported, PerEnv};

use super::validate::list;
use crate::cli::{Global, ImportCommand, ImportCommon};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::output::Printer;

/// What an import wrote.
#[derive(Debug, Serialize)]
pub struct ImportResult {
    /// Where the manifest went (absent with --stdout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<PathBuf>,
    pub valid: bool,
    #[serde(flatten)]
    pub imported: Imported,
}

impl fmt::Display for ImportResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.imported;
        let Some(path) = &self.manifest else {
            return Ok(());
        };
        writeln!(
            f,
            "wrote {}: app {}, environments local{}{}; services {}; jobs {}; data {}",
            path.display(),
            i.app,
            if i.environments.is_empty() { "" } else { ", " },
            i.environments.join(", "),
            list(&i.services),
            list(&i.jobs),
            list(&i.data),
        )?;
        if self.valid {
            let prod = ["prod", "production", "prd", "live"];
            let env = i
                .environments
                .iter()
                .find(|e| !prod.contains(&e.as_str()))
                .or(i.environments.first())
                .map_or("local", String::as_str);
            writeln!(
                f,
                "\nnext:\n  wharf validate\n  wharf plan --env {env}\n  wharf deploy --env local"
            )?;
        }
        Ok(())
    }
}

pub fn run(
    global: &Global,
    printer: &Printer,
    cmd: &ImportCommand,
) -> Result<ExitStatus, CliError> {
    let (imported, common, beside) = match cmd {
        ImportCommand::Copilot(a) => {
            let (accounts, regions) = per_env(global, &a.common)?;
            let o = wharf_import::copilot::Options {
                dir: a.dir.clone(),
                accounts,
                regions,
            };
            (wharf_import::copilot::import(&o)?, &a.common, a.dir.clone())
        }
        ImportCommand::Ecspresso(a) => {
            let (accounts, regions) = per_env(global, &a.common)?;
            let o = wharf_import::ecspresso::Options {
                config: a.config.clone(),
                env: a.as_env.clone(),
                accounts,
                regions,
            };
            let dir = a.config.parent().map(Path::to_path_buf).unwrap_or_default();
            (wharf_import::ecspresso::import(&o)?, &a.common, dir)
        }
    };
    let dir = if beside.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        beside
    };
    if !printer.json() {
        printer.diag(&imported.report.to_string());
    }
    let path = common.out.clone().unwrap_or_else(|| {
        if dir == Path::new(".") {
            PathBuf::from(wharf_manifest::MANIFEST_FILE)
        } else {
            dir.join(wharf_manifest::MANIFEST_FILE)
        }
    });
    let root = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let (manifest, problems) =
        wharf_manifest::parse_str(&imported.manifest, &path.display().to_string(), root);
    if common.stdout {
        print!("{}", imported.manifest);
    } else {
        if path.exists() && !(common.force || global.yes) {
            return Err(CliError::AlreadyExists { path });
        }
        std::fs::write(&path, &imported.manifest).map_err(|source| CliError::Write {
            path: path.clone(),
            source,
        })?;
    }
    let valid = manifest.is_some();
    if !problems.problems.is_empty() {
        printer.diag(&problems.render(printer.color_stderr));
    }
    let result = ImportResult {
        manifest: (!common.stdout).then_some(path),
        valid,
        imported,
    };
    if !common.stdout || printer.json() {
        printer.result(&result)?;
    }
    Ok(if valid {
        ExitStatus::Success
    } else {
        ExitStatus::InvalidManifest
    })
}

fn per_env(global: &Global, c: &ImportCommon) -> Result<(PerEnv, PerEnv), CliError> {
    let accounts = PerEnv::parse(
        "account",
        &c.account,
        wharf_import::is_account,
        "123456789012",
    )?;
    let mut regions: Vec<String> = global.region.iter().cloned().collect();
    regions.extend(c.env_region.iter().cloned());
    let regions = PerEnv::parse("env-region", &regions, wharf_import::is_region, "eu-west-1")?;
    Ok((accounts, regions))
}

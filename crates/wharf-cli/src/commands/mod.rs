//! One module per subcommand, named by its verb, plus what several share: finding and loading
//! the manifest and choosing the environment. Bodies that act on an environment are
//! [`crate::env::Verb`]s, written once for every target.

pub mod act;
pub mod ci;
pub mod completions;
pub mod deploy;
pub mod diagnose;
pub mod down;
pub mod exec;
pub mod gc;
pub mod history;
pub mod import;
pub mod init;
pub mod local;
pub mod logs;
pub mod plan;
pub mod preflight;
pub mod recover;
pub mod render;
pub mod run;
pub mod status;
pub mod up;
pub mod validate;

use wharf_manifest::{Environment, Loaded, Manifest};

use crate::cli::Global;
use crate::error::CliError;
use crate::output::Printer;

/// Finds and loads the manifest; prints its warnings on stderr.
pub fn load(global: &Global, printer: &Printer) -> Result<Loaded, CliError> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let path = wharf_manifest::locate(global.manifest.as_deref(), &cwd)?;
    let loaded = wharf_manifest::load(&path)?;
    if !printer.quiet && !loaded.warnings.problems.is_empty() {
        printer.diag(&loaded.warnings.render(printer.color_stderr));
    }
    Ok(loaded)
}

/// The environment named by --env, or the only one.
pub fn pick_env<'m>(global: &Global, manifest: &'m Manifest) -> Result<&'m Environment, CliError> {
    let known: Vec<String> = manifest.environments.keys().cloned().collect();
    match &global.env {
        Some(name) => manifest
            .environments
            .get(name)
            .ok_or_else(|| CliError::UnknownEnv {
                name: name.clone(),
                suggestion: closest(name, &known),
                known: known.clone(),
            }),
        None if manifest.environments.len() == 1 => {
            Ok(manifest.environments.values().next().expect("one"))
        }
        None => Err(CliError::EnvRequired { known }),
    }
}

fn closest(name: &str, known: &[String]) -> Option<String> {
    known
        .iter()
        .map(|k| (strsim::levenshtein(name, k), k))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.clone())
}

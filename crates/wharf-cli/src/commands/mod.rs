//! One module per subcommand, plus what several share: finding and loading the manifest and
//! choosing the environment.

pub mod aws;
pub mod awsdeploy;
pub mod completions;
pub mod deploy;
pub mod gc;
pub mod init;
pub mod local;
pub mod localenv;
pub mod ops;
pub mod plan;
pub mod render;
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
        .map(|k| (strsim_like(name, k), k))
        .filter(|(s, _)| *s <= 2)
        .min_by_key(|(s, _)| *s)
        .map(|(_, k)| k.clone())
}

/// Edit distance, small and dependency-free (names are short).
fn strsim_like(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

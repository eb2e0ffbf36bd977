//! Imports of Copilot workspaces and ecspresso configs written the way their documentation
//! shows them, checked key by key in the manifest wharf then reads, and in the report.

mod copilot;
mod ecspresso;

use std::path::{Path, PathBuf};

use wharf_import::{Imported, Outcome};
use wharf_manifest::Manifest;

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

/// Parses an import's manifest as `wharf validate` would, failing with every problem.
pub fn valid(imported: &Imported, root: &Path) -> Manifest {
    let (m, problems) = wharf_manifest::parse_str(&imported.manifest, "wharf.toml", root);
    let errors: Vec<String> = problems.errors().map(|p| format!("{p:?}")).collect();
    match m {
        Some(m) if errors.is_empty() => m,
        _ => panic!(
            "the imported manifest is not valid:\n{}\n{errors:#?}",
            imported.manifest
        ),
    }
}

/// The report's outcome for a key, failing with the report when it has none.
pub fn outcome(imported: &Imported, file: &str, key: &str) -> Outcome {
    match imported.report.get(file, key) {
        Some(e) => e.outcome,
        None => panic!("no report entry for {file} {key}:\n{}", imported.report),
    }
}

//! The `wharf.toml` manifest: its schema as Rust types ([`model`]), parsing that keeps every
//! key's position so that all problems are reported at once with file, line, column and a caret
//! ([`diag`]), the semantic checks, and the resource names every target uses ([`names`]).
//!
//! ```
//! let src = r#"
//! [app]
//! name = "pulse"
//! [environments.local]
//! target = "local"
//! [services.web]
//! image = "hello:1"
//! port = 8000
//! "#;
//! let (manifest, problems) = wharf_manifest::parse_str(src, "wharf.toml", std::path::Path::new("."));
//! assert!(!problems.has_errors(), "{problems}");
//! assert_eq!(manifest.unwrap().services["web"].port, 8000);
//! ```
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod cidr;
pub mod diag;
pub mod duration;
pub mod fargate;
pub mod model;
pub mod names;
mod parse;
mod reach;
mod reader;
pub mod rules;
pub mod schedule;
mod validate;

use std::path::{Path, PathBuf};

pub use diag::{Problem, Problems, Rule, Severity};
pub use duration::Duration;
pub use model::*;
pub use names::Names;

/// The file name wharf looks for.
pub const MANIFEST_FILE: &str = "wharf.toml";

/// Manifests larger than this are refused before parsing (no real manifest comes near it).
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// Why a manifest could not be loaded.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ManifestError {
    #[error("no {MANIFEST_FILE} in {} or any parent directory", dir.display())]
    #[diagnostic(
        code(wharf::manifest::not_found),
        help("run `wharf init` to create one, or pass -f PATH")
    )]
    NotFound { dir: PathBuf },

    #[error("failed to read manifest {}", path.display())]
    #[diagnostic(
        code(wharf::manifest::unreadable),
        help("check that the file exists and is readable")
    )]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{} is a directory, not a manifest", path.display())]
    #[diagnostic(code(wharf::manifest::is_dir), help("pass the manifest file, e.g. -f {}/{MANIFEST_FILE}", path.display()))]
    IsDirectory { path: PathBuf },

    #[error("{} is not UTF-8 text", path.display())]
    #[diagnostic(code(wharf::manifest::not_utf8), help("save the manifest as UTF-8"))]
    NotUtf8 { path: PathBuf },

    #[error("{} is larger than {} MiB", path.display(), MAX_MANIFEST_BYTES / 1024 / 1024)]
    #[diagnostic(code(wharf::manifest::too_large))]
    TooLarge { path: PathBuf },

    #[error("{} has {} error{}", problems.file, problems.errors().count(), if problems.errors().count() == 1 { "" } else { "s" })]
    #[diagnostic(
        code(wharf::manifest::invalid),
        help("fix the problems listed above; `wharf validate` lists them again")
    )]
    Invalid { problems: Problems },
}

/// A manifest read from disk, with the warnings it had.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub manifest: Manifest,
    pub path: PathBuf,
    pub warnings: Problems,
}

/// Parses and checks manifest text. `file` is how the problems name it; `root` is the directory
/// relative paths start from.
pub fn parse_str(source: &str, file: &str, root: &Path) -> (Option<Manifest>, Problems) {
    parse::parse(source, file, root)
}

/// Finds the manifest: `explicit` if given, else `wharf.toml` in `dir` (the current directory)
/// or its nearest parent, as a path relative to `dir`.
pub fn locate(explicit: Option<&Path>, dir: &Path) -> Result<PathBuf, ManifestError> {
    if let Some(p) = explicit {
        if p.is_dir() {
            let inside = p.join(MANIFEST_FILE);
            if inside.is_file() {
                return Ok(inside);
            }
            return Err(ManifestError::IsDirectory {
                path: p.to_path_buf(),
            });
        }
        return Ok(p.to_path_buf());
    }
    // Relative to `dir` (`wharf.toml`, `../wharf.toml`), as the user sees it from there.
    dir.ancestors()
        .enumerate()
        .find(|(_, d)| d.join(MANIFEST_FILE).is_file())
        .map(|(up, _)| {
            let mut p = PathBuf::new();
            for _ in 0..up {
                p.push("..");
            }
            p.join(MANIFEST_FILE)
        })
        .ok_or_else(|| ManifestError::NotFound {
            dir: dir.to_path_buf(),
        })
}

/// Reads, parses and checks the manifest at `path`.
pub fn load(path: &Path) -> Result<Loaded, ManifestError> {
    let (source, display) = read_source(path)?;
    let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let root = if root.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        root
    };
    let (manifest, problems) = parse_str(&source, &display, &root);
    match manifest {
        Some(manifest) => Ok(Loaded {
            manifest: Manifest {
                file: path.to_path_buf(),
                ..manifest
            },
            path: path.to_path_buf(),
            warnings: problems,
        }),
        None => Err(ManifestError::Invalid { problems }),
    }
}

/// Reads the manifest text, refusing directories, huge files and non-UTF-8.
pub fn read_source(path: &Path) -> Result<(String, String), ManifestError> {
    let meta = std::fs::metadata(path).map_err(|source| ManifestError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    if meta.is_dir() {
        return Err(ManifestError::IsDirectory {
            path: path.to_path_buf(),
        });
    }
    if meta.len() > MAX_MANIFEST_BYTES {
        return Err(ManifestError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    // The limit holds on the bytes read, not only on the size the file claims: a device or a
    // pipe (`-f /dev/zero`, `-f <(yes)`) says 0 and never ends.
    let unreadable = |source| ManifestError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(
            std::fs::File::open(path).map_err(unreadable)?,
            MAX_MANIFEST_BYTES + 1,
        ),
        &mut bytes,
    )
    .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(ManifestError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let source = String::from_utf8(bytes).map_err(|_| ManifestError::NotUtf8 {
        path: path.to_path_buf(),
    })?;
    Ok((source, path.display().to_string()))
}

impl Manifest {
    /// Files and folders of wharf's own under the manifest's directory that no image may
    /// carry: `.wharf/`, and every local environment's state dir and secrets file.
    pub fn private_paths(&self) -> Vec<std::path::PathBuf> {
        let mut out = vec![self.root.join(".wharf")];
        for env in self.environments.values() {
            if let Some(local) = env.local() {
                out.push(self.root.join(&local.state_dir));
                if let Some(f) = &local.secrets_file {
                    out.push(self.root.join(f));
                }
            }
        }
        out
    }
}

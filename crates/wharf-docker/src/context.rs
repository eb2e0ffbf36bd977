//! The build context as a tar archive, without what `.dockerignore` excludes and never with
//! wharf's own private files (state dirs, secrets files), spooled to an unnamed temp file so
//! a large context is streamed to Docker instead of held in memory.

use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use crate::error::DockerError;

/// The build context as a tar archive in an unnamed temp file (read from its start), without
/// what .dockerignore excludes (the Dockerfile and .dockerignore are always sent, as docker
/// does) and without anything at or below a path of `private`, whatever .dockerignore says.
pub fn context_tar(
    context: &Path,
    dockerfile: &Path,
    private: &[PathBuf],
) -> Result<std::fs::File, DockerError> {
    let ctx_err = |source| DockerError::Context {
        path: context.to_path_buf(),
        source,
    };
    let rules =
        parse_ignore(&std::fs::read_to_string(context.join(".dockerignore")).unwrap_or_default());
    let private = private_below(context, private);
    let spool = tempfile::tempfile().map_err(ctx_err)?;
    let mut builder = tar::Builder::new(std::io::BufWriter::new(spool));
    builder.follow_symlinks(false);
    let mut stack = vec![PathBuf::new()];
    let always = [
        dockerfile.to_string_lossy().into_owned(),
        ".dockerignore".to_owned(),
    ];
    while let Some(rel) = stack.pop() {
        let dir = context.join(&rel);
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(ctx_err)?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = rel.join(e.file_name());
            let rel_s = path.to_string_lossy().replace('\\', "/");
            if private
                .iter()
                .any(|p| rel_s == *p || rel_s.starts_with(&format!("{p}/")))
            {
                continue;
            }
            let ft = e.file_type().map_err(ctx_err)?;
            if ft.is_dir() {
                // Descend even into an excluded directory when a rule may re-include inside it.
                if !rules.excluded(&rel_s) || rules.reincludes_below(&rel_s) {
                    stack.push(path);
                }
            } else if (ft.is_file() || ft.is_symlink())
                && (always.contains(&rel_s) || !rules.excluded(&rel_s))
            {
                builder
                    .append_path_with_name(context.join(&path), &path)
                    .map_err(ctx_err)?;
            }
        }
    }
    let mut spool = builder
        .into_inner()
        .map_err(ctx_err)?
        .into_inner()
        .map_err(|e| ctx_err(e.into_error()))?;
    spool.flush().map_err(ctx_err)?;
    spool.rewind().map_err(ctx_err)?;
    Ok(spool)
}

/// `private` paths inside `context`, relative to it (`/`-separated); paths elsewhere (or not
/// there) cannot be in the archive.
fn private_below(context: &Path, private: &[PathBuf]) -> Vec<String> {
    let Ok(context) = context.canonicalize() else {
        return Vec::new();
    };
    private
        .iter()
        .filter_map(|p| p.canonicalize().ok())
        .filter_map(|p| {
            p.strip_prefix(&context)
                .ok()
                .map(|r| r.to_string_lossy().replace('\\', "/"))
        })
        .collect()
}

/// `.dockerignore`'s rules in order, each an exception (`!`) or not. A rule that is not a
/// valid pattern is skipped, as it matches nothing Docker would match either.
struct Ignore(Vec<(bool, globset::GlobMatcher)>);

fn parse_ignore(text: &str) -> Ignore {
    Ignore(
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| {
                let (negated, pattern) = match l.strip_prefix('!') {
                    Some(rest) => (true, rest),
                    None => (false, l),
                };
                let pattern = pattern
                    .trim_start_matches("./")
                    .trim_start_matches('/')
                    .trim_end_matches('/');
                globset::GlobBuilder::new(pattern)
                    .literal_separator(true)
                    .build()
                    .ok()
                    .map(|g| (negated, g.compile_matcher()))
            })
            .collect(),
    )
}

impl Ignore {
    /// The last rule matching the path or one of its parents decides.
    fn excluded(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').collect();
        let mut out = false;
        for (negated, glob) in &self.0 {
            if (1..=parts.len()).any(|n| glob.is_match(parts[..n].join("/"))) {
                out = !negated;
            }
        }
        out
    }

    /// Whether an exception may re-include something below `dir`.
    fn reincludes_below(&self, dir: &str) -> bool {
        let prefix = format!("{dir}/");
        self.0
            .iter()
            .any(|(negated, g)| *negated && g.glob().glob().starts_with(&prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(mut tar: std::fs::File) -> Vec<String> {
        let mut a = tar::Archive::new(&mut tar);
        let mut out: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        out.sort();
        out
    }

    #[test]
    fn private_files_never_ship_whatever_dockerignore_says() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        for f in [
            "Dockerfile",
            "src/main.rs",
            "local.secrets",
            ".wharf/local/state.db",
            "run/state/proxy.json",
        ] {
            std::fs::create_dir_all(root.join(f).parent().unwrap()).unwrap();
            std::fs::write(root.join(f), "x").unwrap();
        }
        // An exception cannot bring them back.
        std::fs::write(root.join(".dockerignore"), "!local.secrets\n!.wharf\n").unwrap();
        let private = [
            root.join(".wharf"),
            root.join("local.secrets"),
            root.join("./run/state"),
            PathBuf::from("/elsewhere/secrets"),
        ];
        let tar = context_tar(root, Path::new("Dockerfile"), &private).unwrap();
        assert_eq!(names(tar), [".dockerignore", "Dockerfile", "src/main.rs"]);
    }

    #[test]
    fn dockerignore_with_exceptions() {
        let rules = parse_ignore("*\n!.build/hello\n");
        assert!(rules.excluded("src/main.rs"));
        assert!(rules.excluded("target/debug/x"));
        assert!(!rules.excluded(".build/hello"));
        let rules = parse_ignore("target\n**/*.log\n");
        assert!(
            rules.excluded("target/a")
                && rules.excluded("a/b/c.log")
                && !rules.excluded("src/a.rs")
        );
        let rules = parse_ignore("docs/*.md\n");
        assert!(rules.excluded("docs/a.md") && !rules.excluded("docs/sub/a.md"));
    }
}

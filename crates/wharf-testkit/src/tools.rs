//! Where the test tools are: the Python tools `scripts/tools` installs, and the workspace root.

use std::path::PathBuf;

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root exists")
}

/// The path of a tool `scripts/tools install` provides: `moto_server`, `cfn-lint`, `checkov` or
/// `actionlint`. `WHARF_MOTO_SERVER`, `WHARF_CFN_LINT`, `WHARF_CHECKOV`, `WHARF_ACTIONLINT`
/// override it. Panics with the fix when it is missing.
pub fn tool(name: &str) -> PathBuf {
    let var = format!("WHARF_{}", name.to_ascii_uppercase().replace('-', "_"));
    if let Some(p) = std::env::var_os(&var) {
        return PathBuf::from(p);
    }
    let base = std::env::var_os("WHARF_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache")
                });
            cache.join("wharf-tools")
        });
    let venv = match name {
        "checkov" => "venv-checkov",
        "actionlint" => "venv-actionlint",
        _ => "venv-aws",
    };
    let p = base.join(venv).join("bin").join(name);
    if !p.exists() {
        panic!(
            "{} is not installed at {}; run `scripts/tools install` (or scripts/test, which does)",
            name,
            p.display()
        );
    }
    p
}

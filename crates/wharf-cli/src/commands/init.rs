//! `wharf init`: a commented manifest that validates as written, and a Dockerfile when the
//! directory has none (a static-binary `FROM scratch` one for Rust projects).

use std::fmt;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::{Global, InitArgs};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::output::Printer;

/// What `init` wrote.
#[derive(Debug, Serialize)]
pub struct Initialised {
    pub app: String,
    pub manifest: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<PathBuf>,
}

impl fmt::Display for Initialised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "wrote {}", self.manifest.display())?;
        if let Some(d) = &self.dockerfile {
            writeln!(f, "wrote {}", d.display())?;
        }
        writeln!(f, "\nnext:\n  wharf validate\n  wharf plan --env local")
    }
}

pub fn run(global: &Global, printer: &Printer, args: &InitArgs) -> Result<ExitStatus, CliError> {
    let dir = &args.dir;
    std::fs::create_dir_all(dir).map_err(|source| CliError::Write {
        path: dir.clone(),
        source,
    })?;
    let name = match &args.name {
        Some(n) => n.clone(),
        None => default_name(dir),
    };
    if !valid_app_name(&name) {
        return Err(CliError::BadName { name });
    }
    let manifest_path = dir.join(wharf_manifest::MANIFEST_FILE);
    if manifest_path.exists() && !(args.force || global.yes || confirm(&manifest_path)) {
        return Err(CliError::AlreadyExists {
            path: manifest_path,
        });
    }
    let rust = dir.join("Cargo.toml").is_file();
    write(
        &manifest_path,
        &manifest(&name, &args.service, args.port, rust),
    )?;
    let dockerfile_path = dir.join("Dockerfile");
    let dockerfile = if dockerfile_path.exists() {
        None
    } else {
        write(&dockerfile_path, &dockerfile(&name, args.port, rust))?;
        if rust {
            let script = dir.join("build-static.sh");
            if !script.exists() {
                write(&script, &build_script(&name))?;
                make_executable(&script);
            }
        }
        Some(dockerfile_path)
    };
    printer.result(&Initialised {
        app: name,
        manifest: manifest_path,
        dockerfile,
    })?;
    Ok(ExitStatus::Success)
}

fn confirm(path: &Path) -> bool {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return false;
    }
    eprint!("{} exists. Overwrite it? [y/N] ", path.display());
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok() && matches!(answer.trim(), "y" | "Y" | "yes")
}

fn write(path: &Path, text: &str) -> Result<(), CliError> {
    std::fs::write(path, text).map_err(|source| CliError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(unix)]
fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755));
}

#[cfg(not(unix))]
fn make_executable(_: &Path) {}

/// The directory's name made into an app name.
fn default_name(dir: &Path) -> String {
    let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let raw = abs
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let mut name: String = raw
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    let name = name
        .trim_matches('-')
        .trim_start_matches(|c: char| c.is_ascii_digit())
        .trim_matches('-');
    let name: String = name
        .chars()
        .take(16)
        .collect::<String>()
        .trim_end_matches('-')
        .to_owned();
    if name.is_empty() {
        "app".into()
    } else {
        name
    }
}

fn valid_app_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 16
        && n.as_bytes()[0].is_ascii_lowercase()
        && !n.ends_with('-')
        && !n.contains("--")
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn manifest(name: &str, service: &str, port: u16, rust: bool) -> String {
    let build = if rust {
        "build = { context = \".\", dockerfile = \"Dockerfile\", pre_build = \"./build-static.sh\" }"
    } else {
        "build = { context = \".\", dockerfile = \"Dockerfile\" }"
    };
    format!(
        r#"# wharf manifest. `wharf validate` checks it; `wharf plan --env local` shows what it makes.
# Every key is described in the README; durations are written "5s", "2m", "1h".

[app]
name = "{name}"

# Rehearse every rollout on this machine: Docker plus wharf's proxy.
[environments.local]
target = "local"
listen = "127.0.0.1:8080"

# An AWS environment (uncomment and fill in; wharf refuses any other account than this one).
# [environments.test]
# target = "aws"
# region = "eu-central-1"
# account = "123456789012"
# azs = 2                       # 2 or 3
# cidr = "10.0.0.0/16"
# egress = "nat"                # nat | nat-per-az | endpoints
# domain = "app.example.com"
# hosted_zone = "example.com"   # or certificate = "arn:aws:acm:…"

[services.{service}]
{build}
port = {port}
cpu = 256                       # Fargate sizes: 256/512, 512/1024, 1024/2048 … (cpu/memory)
memory = 512
count = 1
health = {{ path = "/", interval = "5s", timeout = "3s", healthy = 2, unhealthy = 3 }}
env = {{ RUST_LOG = "info" }}
# secrets = {{ DATABASE_URL = "ssm:/{name}/test/database-url" }}   # references only, never values

[services.{service}.deploy]
strategy = "rolling"            # rolling | canary | linear | blue-green | affinity
# canary = {{ percent = 10, bake = "5m" }}
# rollback = {{ max_5xx_percent = 1.0, window = "1m" }}
"#
    )
}

fn dockerfile(name: &str, port: u16, rust: bool) -> String {
    if rust {
        format!(
            "# The binary is built static by build-static.sh (wharf runs it as pre_build), so the\n\
             # image needs no base image at all.\n\
             FROM scratch\n\
             COPY target/static/{name} /app\n\
             EXPOSE {port}\n\
             ENTRYPOINT [\"/app\"]\n"
        )
    } else {
        format!(
            "# Replace this with your service's build. wharf runs `docker build` on it and tags the\n\
             # image with the deployment id. The process must listen on port {port}.\n\
             FROM scratch\n\
             COPY app /app\n\
             EXPOSE {port}\n\
             ENTRYPOINT [\"/app\"]\n"
        )
    }
}

fn build_script(name: &str) -> String {
    format!(
        "#!/bin/sh\n\
         # Builds a static binary for the FROM scratch image (wharf runs this before docker build).\n\
         set -eu\n\
         target=$(rustc -vV | sed -n 's/^host: //p')\n\
         RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --target \"$target\"\n\
         mkdir -p target/static\n\
         cp \"target/$target/release/{name}\" target/static/{name}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_are_valid() {
        for (dir, want) in [
            ("My App", "my-app"),
            ("123abc", "abc"),
            ("___", "app"),
            ("a-very-long-directory-name-indeed", "a-very-long-dire"),
        ] {
            let n = default_name(Path::new(dir));
            assert_eq!(n, want);
            assert!(valid_app_name(&n), "{n}");
        }
    }

    #[test]
    fn the_scaffold_validates() {
        for rust in [false, true] {
            let text = manifest("demo", "web", 8000, rust);
            let (m, problems) = wharf_manifest::parse_str(&text, "wharf.toml", Path::new("."));
            assert!(!problems.has_errors(), "{problems}");
            assert_eq!(m.expect("valid").services["web"].port, 8000);
        }
    }
}

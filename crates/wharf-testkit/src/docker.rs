//! Docker for tests through the `docker` CLI: everything created is labelled and removed by a
//! guard when the test ends, even when it fails.

use crate::cmd::{Cmd, Output};

/// Runs `docker ARGS`.
pub fn docker<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString>,
{
    Cmd::new("docker").args(args).run()
}

/// Runs `docker build ARGS`, again (twice at most) when the engine lost a cached layer it was
/// reusing because another test removed its image meanwhile ("failed to get digest"), as
/// wharf's own builds do.
pub fn build<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString>,
{
    let args: Vec<std::ffi::OsString> = std::iter::once("build".into())
        .chain(args.into_iter().map(Into::into))
        .collect();
    let mut out = docker(args.clone());
    for _ in 0..2 {
        let lost = out.stderr.contains("failed to get digest")
            || (out.stderr.contains("No such image") && out.stderr.contains("sha256:"));
        if out.code == Some(0) || !lost {
            break;
        }
        out = docker(args.clone());
    }
    out
}

/// Whether a Docker Engine answers.
pub fn available() -> bool {
    docker(["version", "--format", "{{.Server.Version}}"]).code == Some(0)
}

/// Removes a container (with its anonymous volumes) when dropped.
pub struct ContainerGuard(pub String);

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        let _ = docker(["rm", "-f", "-v", &self.0]);
    }
}

/// Removes an image when dropped.
pub struct ImageGuard(pub String);

impl Drop for ImageGuard {
    fn drop(&mut self) {
        let _ = docker(["rmi", "-f", &self.0]);
    }
}

/// The host port a container's `port/tcp` is published on.
pub fn host_port(container: &str, port: u16) -> u16 {
    let out = docker(["port", container, &format!("{port}/tcp")]).success();
    out.stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("127.0.0.1:")
                .and_then(|p| p.trim().parse().ok())
        })
        .unwrap_or_else(|| {
            panic!("container {container} publishes no 127.0.0.1 port for {port}\n{out}")
        })
}

/// The labels every test resource carries, as `--label` arguments.
pub fn labels(app: &str, env: &str, service: &str, deployment: &str) -> Vec<String> {
    [
        ("wharf.app", app),
        ("wharf.env", env),
        ("wharf.service", service),
        ("wharf.deployment", deployment),
    ]
    .iter()
    .flat_map(|(k, v)| ["--label".to_owned(), format!("{k}={v}")])
    .collect()
}

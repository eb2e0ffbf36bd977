//! The Docker Engine through bollard: build images from a context (honouring .dockerignore),
//! run labelled containers with loopback-only published ports, inspect, stop and remove them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bollard::models::{ContainerCreateBody, HealthConfig, HostConfig, PortBinding};
use bollard::query_parameters::{
    BuildImageOptions, CreateContainerOptions, ListContainersOptions, RemoveContainerOptions,
    RemoveImageOptions, StartContainerOptions, StopContainerOptions,
};
use futures_util::StreamExt;

/// The labels every resource wharf makes carries.
pub const LABEL_APP: &str = "wharf.app";
pub const LABEL_ENV: &str = "wharf.env";
pub const LABEL_SERVICE: &str = "wharf.service";
pub const LABEL_DEPLOYMENT: &str = "wharf.deployment";

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum DockerError {
    #[error("the Docker Engine is not reachable at {socket}: {source}")]
    #[diagnostic(code(wharf::docker::unreachable), help("start Docker (`systemctl start docker`), or point DOCKER_HOST at its socket; your user needs access to it"))]
    Unreachable {
        socket: String,
        #[source]
        source: bollard::errors::Error,
    },

    #[error("the image build failed: {message}\n{tail}")]
    #[diagnostic(
        code(wharf::docker::build),
        help("fix the Dockerfile or the build context; nothing was deployed")
    )]
    BuildFailed { message: String, tail: String },

    #[error("failed to read the build context {}: {source}", path.display())]
    #[diagnostic(code(wharf::docker::context))]
    Context {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("Docker failed to {action}: {source}")]
    #[diagnostic(code(wharf::docker::api))]
    Api {
        action: String,
        #[source]
        source: bollard::errors::Error,
    },

    #[error("image {image} is not on this machine and could not be pulled: {reason}")]
    #[diagnostic(
        code(wharf::docker::image_missing),
        help("check the name and tag, `docker login` for a private registry, or build it (`build =` in the manifest builds it for you)")
    )]
    ImageMissing { image: String, reason: String },

    #[error("pushing {image} failed: {message}")]
    #[diagnostic(
        code(wharf::docker::push),
        help("check that the registry is reachable from this machine and that the credentials allow pushing to the repository; nothing was deployed")
    )]
    PushFailed { image: String, message: String },
}

impl DockerError {
    /// Worth trying again later: Docker unreachable, a broken connection, a server error.
    /// A refusal (no such image, a bad setting: 4xx) is not.
    pub fn is_transient(&self) -> bool {
        match self {
            DockerError::Unreachable { .. } => true,
            DockerError::Api { source, .. } => match source {
                bollard::errors::Error::DockerResponseServerError { status_code, .. } => {
                    *status_code >= 500
                }
                bollard::errors::Error::JsonDataError { .. }
                | bollard::errors::Error::JsonSerdeError { .. } => false,
                _ => true,
            },
            DockerError::PushFailed { .. } => true,
            DockerError::BuildFailed { .. }
            | DockerError::Context { .. }
            | DockerError::ImageMissing { .. } => false,
        }
    }
}

/// A container wharf made, as Docker reports it.
#[derive(Debug, Clone)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub deployment: String,
    pub service: String,
    pub running: bool,
    /// "exited (1)", "OOM killed", …
    pub status: String,
    pub host_port: Option<u16>,
}

/// What to build.
pub struct BuildSpec<'a> {
    pub context: &'a Path,
    /// Relative to the context.
    pub dockerfile: &'a Path,
    pub tag: &'a str,
    pub labels: HashMap<String, String>,
    pub args: HashMap<String, String>,
    pub target: Option<&'a str>,
}

/// Credentials for a registry, as a `docker login` would give them.
#[derive(Debug, Clone, Default)]
pub struct RegistryAuth {
    pub username: String,
    pub password: String,
    /// `host[:port]` of the registry.
    pub server: String,
}

/// What to run.
pub struct RunSpec<'a> {
    pub name: &'a str,
    pub image: &'a str,
    pub port: u16,
    pub env: Vec<String>,
    pub labels: HashMap<String, String>,
    pub cpu: u32,
    pub memory_mib: u32,
    pub stop_timeout_s: i64,
    pub command: Option<Vec<String>>,
    /// The container's own health check (Docker's `HEALTHCHECK`), from the manifest's
    /// `health.command`.
    pub health: Option<HealthConfig>,
}

/// Docker's health check for a service's `health.command`: its interval, timeout, unhealthy
/// threshold and grace (as the start period).
pub fn health_config(h: &wharf_manifest::HealthCheck) -> Option<HealthConfig> {
    let test = h.container_test()?;
    let ns = |d: wharf_manifest::Duration| {
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 1_000_000) * 1_000_000
    };
    Some(HealthConfig {
        test: Some(test),
        interval: Some(ns(h.interval)),
        timeout: Some(ns(h.timeout)),
        retries: Some(i64::from(h.unhealthy)),
        start_period: h.grace.map(ns),
        ..Default::default()
    })
}

#[derive(Clone)]
pub struct Docker {
    d: bollard::Docker,
}

fn api(action: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> DockerError {
    let action = action.into();
    move |source| DockerError::Api { action, source }
}

impl Docker {
    /// Connects to DOCKER_HOST or the local socket and agrees on an API version.
    pub async fn connect() -> Result<Self, DockerError> {
        let socket =
            std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
        let unreachable = |source| DockerError::Unreachable {
            socket: socket.clone(),
            source,
        };
        let d = bollard::Docker::connect_with_local_defaults().map_err(unreachable)?;
        let d = d.negotiate_version().await.map_err(unreachable)?;
        d.ping().await.map_err(unreachable)?;
        Ok(Docker { d })
    }

    /// Builds an image; `line` receives the build output. On failure the error carries the
    /// log's tail.
    pub async fn build(
        &self,
        spec: BuildSpec<'_>,
        mut line: impl FnMut(&str),
    ) -> Result<(), DockerError> {
        let BuildSpec {
            context,
            dockerfile,
            tag,
            labels,
            args,
            target,
        } = spec;
        let tar = context_tar(context, dockerfile)?;
        let options = BuildImageOptions {
            dockerfile: dockerfile.to_string_lossy().into_owned(),
            t: Some(tag.to_owned()),
            rm: true,
            forcerm: true,
            labels: Some(labels),
            buildargs: Some(args),
            target: target.unwrap_or_default().to_owned(),
            ..Default::default()
        };
        let mut stream = self
            .d
            .build_image(options, None, Some(bollard::body_full(tar.into())));
        let mut tail: Vec<String> = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(s) = info.stream.as_deref() {
                        for l in s.lines().filter(|l| !l.trim().is_empty()) {
                            line(l);
                            tail.push(l.to_owned());
                        }
                    }
                    if let Some(err) = info.error_detail.and_then(|e| e.message) {
                        return Err(DockerError::BuildFailed {
                            message: err,
                            tail: last(&tail),
                        });
                    }
                }
                Err(e) => {
                    return Err(DockerError::BuildFailed {
                        message: e.to_string(),
                        tail: last(&tail),
                    })
                }
            }
            if tail.len() > 200 {
                tail.drain(..100);
            }
        }
        Ok(())
    }

    /// Pushes `repository:tag` and returns the digest the registry gave the manifest
    /// (`sha256:…`), read from the push's final status line and checked against the image's
    /// repo digests afterwards. `line` receives the push's progress statuses.
    pub async fn push(
        &self,
        repository: &str,
        tag: &str,
        auth: Option<&RegistryAuth>,
        mut line: impl FnMut(&str),
    ) -> Result<String, DockerError> {
        let image = format!("{repository}:{tag}");
        let failed = |message: String| DockerError::PushFailed {
            image: image.clone(),
            message,
        };
        let credentials = auth.map(|a| bollard::auth::DockerCredentials {
            username: Some(a.username.clone()),
            password: Some(a.password.clone()),
            serveraddress: Some(a.server.clone()),
            ..Default::default()
        });
        let options = bollard::query_parameters::PushImageOptions {
            tag: Some(tag.to_owned()),
            platform: None,
        };
        let mut stream = self.d.push_image(repository, Some(options), credentials);
        let mut digest = None;
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| failed(e.to_string()))?;
            if let Some(e) = info.error_detail.and_then(|d| d.message) {
                return Err(failed(e));
            }
            if let Some(status) = info.status.as_deref() {
                // "<tag>: digest: sha256:<hex> size: <n>"
                if let Some(d) = status.split("digest: ").nth(1) {
                    digest = d.split_whitespace().next().map(str::to_owned);
                }
                line(status);
            }
        }
        let digest = digest.ok_or_else(|| {
            failed("the registry reported no digest for the pushed manifest".into())
        })?;
        let inspect = self
            .d
            .inspect_image(&image)
            .await
            .map_err(api(format!("inspect image {image}")))?;
        let known = inspect
            .repo_digests
            .unwrap_or_default()
            .iter()
            .any(|r| r == &format!("{repository}@{digest}"));
        if !known {
            return Err(failed(format!(
                "the registry answered digest {digest}, which Docker does not list for {repository}"
            )));
        }
        Ok(digest)
    }

    pub async fn ensure_network(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> Result<(), DockerError> {
        if self
            .d
            .inspect_network(
                name,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
            .await
            .is_ok()
        {
            return Ok(());
        }
        let cfg = bollard::models::NetworkCreateRequest {
            name: name.to_owned(),
            labels: Some(labels),
            ..Default::default()
        };
        self.d
            .create_network(cfg)
            .await
            .map_err(api(format!("create network {name}")))?;
        Ok(())
    }

    pub async fn remove_network(&self, name: &str) -> Result<(), DockerError> {
        match self.d.remove_network(name).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(api(format!("remove network {name}"))(e)),
        }
    }

    /// Creates and starts a container; its port is published on 127.0.0.1 only.
    /// Makes sure `image` is present, pulling it when it is not (as `docker run` would).
    pub async fn ensure_image(&self, image: &str) -> Result<(), DockerError> {
        match self.d.inspect_image(image).await {
            Ok(_) => return Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => {}
            Err(source) => {
                return Err(DockerError::Api {
                    action: format!("inspect image {image}"),
                    source,
                })
            }
        }
        let opts = bollard::query_parameters::CreateImageOptions {
            from_image: Some(image.to_owned()),
            ..Default::default()
        };
        let mut pull = self.d.create_image(Some(opts), None, None);
        while let Some(item) = pull.next().await {
            match item {
                Ok(info) => {
                    if let Some(e) = info.error_detail.and_then(|d| d.message) {
                        return Err(DockerError::ImageMissing {
                            image: image.to_owned(),
                            reason: e,
                        });
                    }
                }
                Err(e) => {
                    return Err(DockerError::ImageMissing {
                        image: image.to_owned(),
                        reason: e.to_string(),
                    })
                }
            }
        }
        Ok(())
    }

    pub async fn run(&self, spec: RunSpec<'_>, network: &str) -> Result<String, DockerError> {
        let port = format!("{}/tcp", spec.port);
        let host = HostConfig {
            port_bindings: Some(HashMap::from([(
                port.clone(),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some(String::new()),
                }]),
            )])),
            nano_cpus: Some(i64::from(spec.cpu) * 1_000_000_000 / 1024),
            memory: Some(i64::from(spec.memory_mib) * 1024 * 1024),
            network_mode: Some(network.to_owned()),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.to_owned()),
            env: Some(spec.env),
            labels: Some(spec.labels),
            exposed_ports: Some(HashMap::from([(port, HashMap::new())])),
            stop_timeout: Some(spec.stop_timeout_s),
            stop_signal: Some("SIGTERM".into()),
            cmd: spec.command,
            healthcheck: spec.health,
            host_config: Some(host),
            ..Default::default()
        };
        let opts = CreateContainerOptions {
            name: Some(spec.name.to_owned()),
            ..Default::default()
        };
        let created = self
            .d
            .create_container(Some(opts), body)
            .await
            .map_err(api(format!("create container {}", spec.name)))?;
        self.d
            .start_container(&created.id, None::<StartContainerOptions>)
            .await
            .map_err(api(format!("start container {}", spec.name)))?;
        Ok(created.id)
    }

    /// Containers carrying every given label, running or not.
    pub async fn list(&self, labels: &[(&str, &str)]) -> Result<Vec<Container>, DockerError> {
        let filters = HashMap::from([(
            "label".to_owned(),
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
        )]);
        let opts = ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        };
        let list = self
            .d
            .list_containers(Some(opts))
            .await
            .map_err(api("list containers"))?;
        Ok(list
            .into_iter()
            .map(|c| {
                let labels = c.labels.unwrap_or_default();
                Container {
                    id: c.id.unwrap_or_default(),
                    name: c
                        .names
                        .unwrap_or_default()
                        .first()
                        .map(|n| n.trim_start_matches('/').to_owned())
                        .unwrap_or_default(),
                    deployment: labels.get(LABEL_DEPLOYMENT).cloned().unwrap_or_default(),
                    service: labels.get(LABEL_SERVICE).cloned().unwrap_or_default(),
                    running: c.state.as_ref().is_some_and(|s| s.to_string() == "running"),
                    status: c.status.unwrap_or_default(),
                    host_port: c
                        .ports
                        .unwrap_or_default()
                        .iter()
                        .find(|p| p.ip.as_deref() == Some("127.0.0.1"))
                        .and_then(|p| p.public_port),
                }
            })
            .collect())
    }

    /// Why a stopped container stopped: exit code, OOM.
    pub async fn stop_reason(&self, id: &str) -> String {
        match self
            .d
            .inspect_container(
                id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
        {
            Ok(c) => {
                let s = c.state.unwrap_or_default();
                if s.oom_killed == Some(true) {
                    "OutOfMemory: the container was killed for exceeding its memory".into()
                } else {
                    format!(
                        "essential container exited with code {}",
                        s.exit_code.unwrap_or(-1)
                    )
                }
            }
            Err(e) => format!("container vanished: {e}"),
        }
    }

    /// SIGTERM, then SIGKILL after `timeout_s`; then removes it.
    pub async fn stop_and_remove(&self, id: &str, timeout_s: i32) -> Result<(), DockerError> {
        let _ = self
            .d
            .stop_container(
                id,
                Some(StopContainerOptions {
                    t: Some(timeout_s),
                    ..Default::default()
                }),
            )
            .await;
        match self
            .d
            .remove_container(
                id,
                Some(RemoveContainerOptions {
                    force: true,
                    v: true,
                    ..Default::default()
                }),
            )
            .await
        {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(api(format!("remove container {id}"))(e)),
        }
    }

    pub async fn remove_image(&self, tag: &str) -> Result<(), DockerError> {
        match self
            .d
            .remove_image(
                tag,
                Some(RemoveImageOptions {
                    force: true,
                    ..Default::default()
                }),
                None,
            )
            .await
        {
            Ok(_)
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(api(format!("remove image {tag}"))(e)),
        }
    }

    /// Images carrying every given label.
    pub async fn images(&self, labels: &[(&str, &str)]) -> Result<Vec<String>, DockerError> {
        let filters = HashMap::from([(
            "label".to_owned(),
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
        )]);
        let opts = bollard::query_parameters::ListImagesOptions {
            filters: Some(filters),
            ..Default::default()
        };
        let list = self
            .d
            .list_images(Some(opts))
            .await
            .map_err(api("list images"))?;
        Ok(list.into_iter().map(|i| i.id).collect())
    }

    /// The logs of containers, merged, each line prefixed by the container's name; `follow`
    /// keeps streaming until the containers stop.
    pub async fn logs(
        &self,
        containers: &[Container],
        follow: bool,
        tail: u32,
        mut line: impl FnMut(&str, &str),
    ) -> Result<(), DockerError> {
        let streams = containers.iter().map(|c| {
            let name = c.name.clone();
            let opts = bollard::query_parameters::LogsOptions {
                follow,
                stdout: true,
                stderr: true,
                tail: tail.to_string(),
                ..Default::default()
            };
            self.d
                .logs(&c.id, Some(opts))
                .map(move |item| (name.clone(), item))
        });
        let mut merged = futures_util::stream::select_all(streams.map(Box::pin));
        while let Some((name, item)) = merged.next().await {
            match item {
                Ok(out) => {
                    let text = out.to_string();
                    for l in text.lines() {
                        line(&name, l);
                    }
                }
                Err(e) => return Err(api(format!("read the logs of {name}"))(e)),
            }
        }
        Ok(())
    }

    /// A container's published loopback address.
    pub fn address(c: &Container) -> Option<SocketAddr> {
        c.host_port.map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
    }
}

fn last(lines: &[String]) -> String {
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// The build context as a tar archive, without what .dockerignore excludes (the Dockerfile
/// and .dockerignore are always sent, as docker does).
pub fn context_tar(context: &Path, dockerfile: &Path) -> Result<Vec<u8>, DockerError> {
    let ctx_err = |source| DockerError::Context {
        path: context.to_path_buf(),
        source,
    };
    let rules = std::fs::read_to_string(context.join(".dockerignore"))
        .map(|s| parse_ignore(&s))
        .unwrap_or_default();
    let mut builder = tar::Builder::new(Vec::new());
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
            let ft = e.file_type().map_err(ctx_err)?;
            if ft.is_dir() {
                // Descend even into an excluded directory when a rule may re-include inside it.
                if !excluded(&rel_s, &rules)
                    || rules
                        .iter()
                        .any(|(neg, p)| *neg && p.starts_with(&format!("{rel_s}/")))
                {
                    stack.push(path);
                }
            } else if (ft.is_file() || ft.is_symlink())
                && (always.contains(&rel_s) || !excluded(&rel_s, &rules))
            {
                builder
                    .append_path_with_name(context.join(&path), &path)
                    .map_err(ctx_err)?;
            }
        }
    }
    builder.into_inner().map_err(ctx_err)
}

fn parse_ignore(text: &str) -> Vec<(bool, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| match l.strip_prefix('!') {
            Some(rest) => (
                true,
                rest.trim_start_matches("./")
                    .trim_start_matches('/')
                    .to_owned(),
            ),
            None => (
                false,
                l.trim_start_matches("./")
                    .trim_start_matches('/')
                    .to_owned(),
            ),
        })
        .collect()
}

/// The last rule matching the path or one of its parents decides.
fn excluded(path: &str, rules: &[(bool, String)]) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    let mut out = false;
    for (negated, pattern) in rules {
        let pat: Vec<&str> = pattern.trim_end_matches('/').split('/').collect();
        let hit = (1..=parts.len()).any(|n| segments(&pat, &parts[..n]));
        if hit {
            out = !negated;
        }
    }
    out
}

fn segments(pat: &[&str], path: &[&str]) -> bool {
    match (pat.first(), path.first()) {
        (None, None) => true,
        (Some(&"**"), _) => {
            segments(&pat[1..], path) || (!path.is_empty() && segments(pat, &path[1..]))
        }
        (Some(p), Some(s)) => wharf_proxy::router::glob(p, s) && segments(&pat[1..], &path[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_with_exceptions() {
        let rules = parse_ignore("*\n!.build/hello\n");
        assert!(excluded("src/main.rs", &rules));
        assert!(excluded("target/debug/x", &rules));
        assert!(!excluded(".build/hello", &rules));
        let rules = parse_ignore("target\n**/*.log\n");
        assert!(
            excluded("target/a", &rules)
                && excluded("a/b/c.log", &rules)
                && !excluded("src/a.rs", &rules)
        );
    }
}

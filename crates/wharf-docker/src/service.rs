//! A service's image, built the way its manifest says: the pre-build command first (in the
//! manifest's directory), then `docker build` of its context for its platform, tagged and
//! labelled with the app, environment, service and deployment; the platform the image turned
//! out to be for is read back from it.

use std::collections::HashMap;
use std::path::Path;

use wharf_engine::{Event, EventSink};
use wharf_manifest::Build;

use crate::client::Docker;
use crate::error::DockerError;
use crate::image::BuildSpec;
use crate::{LABEL_APP, LABEL_DEPLOYMENT, LABEL_ENV, LABEL_SERVICE};

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum BuildError {
    #[error("the pre-build command of {service} failed ({status})")]
    #[diagnostic(
        code(wharf::deploy::pre_build),
        help("its output is above; nothing was deployed")
    )]
    PreBuild { service: String, status: String },

    #[error("{service} could not be built for {platform}: {message}")]
    #[diagnostic(
        code(wharf::deploy::platform),
        help("this Docker Engine cannot run {platform} programs while building: install QEMU's emulation for it (Docker Desktop has it; on Linux, the binfmt handlers of the qemu-user-static package), or build on a {platform} machine")
    )]
    Platform {
        service: String,
        platform: String,
        message: String,
    },

    #[error("{service} was built for {built}, not the {wanted} it asks for")]
    #[diagnostic(
        code(wharf::deploy::platform_mismatch),
        help("this Docker Engine ignored the platform: use one with BuildKit or emulation for {wanted}, or build on a {wanted} machine")
    )]
    PlatformMismatch {
        service: String,
        wanted: String,
        built: String,
    },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Docker(#[from] DockerError),
}

/// Which service (or job) to build, for which deployment (or run).
#[derive(Clone, Copy)]
pub struct ServiceBuild<'a> {
    /// The manifest's directory: the pre-build command runs there, contexts are relative to it.
    pub root: &'a Path,
    pub app: &'a str,
    pub env: &'a str,
    /// The service's or job's name: the image's `wharf.service` label.
    pub name: &'a str,
    pub build: &'a Build,
    /// The platform to build for (`platform` or `build.platform`); `None`: the Engine's.
    pub platform: Option<&'a str>,
    pub id: &'a str,
    /// Never in the image's context ([`wharf_manifest::Manifest::private_paths`]).
    pub private: &'a [std::path::PathBuf],
}

/// Runs the service's pre-build command, then builds its image as `tag` for its platform (the
/// Engine's own when it names none); answers the platform the image is for (`linux/arm64`),
/// read from the image. The pre-build
/// command's output goes to standard error (standard output may carry JSON results); the
/// build's own lines become progress events when `WHARF_BUILD_LOG` is set.
pub async fn build_service(
    docker: &Docker,
    spec: &ServiceBuild<'_>,
    tag: &str,
    events: &dyn EventSink,
) -> Result<String, BuildError> {
    let ServiceBuild {
        root,
        app,
        env,
        name,
        build,
        id,
        platform,
        private,
    } = *spec;
    let progress = |message: String| {
        events.emit(Event::Progress {
            service: name.to_owned(),
            message,
        })
    };
    if let Some(cmd) = &build.pre_build {
        progress(format!("running pre-build {}", cmd.join(" ")));
        let (program, rest) = cmd.split_first().expect("validated: not empty");
        let failed = |status: String| BuildError::PreBuild {
            service: name.to_owned(),
            status,
        };
        let status = tokio::process::Command::new(program)
            .args(rest)
            .current_dir(root)
            .stdout(std::io::stderr())
            .stderr(std::io::stderr())
            .status()
            .await
            .map_err(|e| failed(e.to_string()))?;
        if !status.success() {
            return Err(failed(status.to_string()));
        }
    }
    let labels: HashMap<String, String> = [
        (LABEL_APP, app),
        (LABEL_ENV, env),
        (LABEL_SERVICE, name),
        (LABEL_DEPLOYMENT, id),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    // Without a platform, the Engine's own, asked for explicitly: its build cache may hold a
    // layer of the same context built for another one.
    let engine;
    let platform = match platform {
        Some(p) => p,
        None => {
            engine = docker.engine_platform().await?;
            engine.as_str()
        }
    };
    progress(format!("building {tag} for {platform}"));
    let verbose = std::env::var_os("WHARF_BUILD_LOG").is_some();
    let mut spec = BuildSpec {
        context: &root.join(&build.context),
        dockerfile: &build.dockerfile,
        tag,
        labels,
        args: build.args.clone().into_iter().collect(),
        target: build.target.as_deref(),
        platform: Some(platform),
        no_cache: false,
        private,
    };
    loop {
        docker
            .build(spec.clone(), |line| {
                if verbose {
                    progress(format!("  {line}"));
                }
            })
            .await
            .map_err(|e| match e {
                DockerError::BuildFailed { message, tail }
                    if message.contains("exec format error")
                        || tail.contains("exec format error") =>
                {
                    BuildError::Platform {
                        service: name.to_owned(),
                        platform: platform.to_owned(),
                        message,
                    }
                }
                e => e.into(),
            })?;
        let built = docker.image_platform(tag).await?;
        if built == platform {
            return Ok(built);
        }
        // The classic builder's cache may answer a layer built for another platform (FROM
        // scratch has no parent to tell them apart): once more without it.
        if spec.no_cache {
            return Err(BuildError::PlatformMismatch {
                service: name.to_owned(),
                wanted: platform.to_owned(),
                built,
            });
        }
        progress(format!(
            "built for {built} from the cache; building for {platform} again without it"
        ));
        spec.no_cache = true;
    }
}

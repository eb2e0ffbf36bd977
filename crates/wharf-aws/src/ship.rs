//! The image a deployment runs on AWS: the manifest's reference as it is, or the service built
//! through the Docker Engine, tagged with the deployment id, pushed to its ECR repository with
//! ECR's token (or to the registry that overrides it, with what `docker login` saved for that
//! registry: ECR's token never leaves for another host), removed from this machine, pinned by the digest the
//! registry answered, and held at the scan gate when the service has one.

use wharf_docker::{Docker, RegistryAuth, ServiceBuild};
use wharf_engine::{Event, EventSink, Image};
use wharf_manifest::{Build, ImageSource, ScanSeverity, Service};

use crate::ecs::AwsTarget;
use crate::error::AwsError;
use crate::image::{self, PushTarget, ScanError, ScanWait};

/// Why a deployment's image is not ready.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ImageError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Build(#[from] wharf_docker::BuildError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Docker(#[from] wharf_docker::DockerError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Scan(#[from] ScanError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Aws(#[from] AwsError),

    #[error(
        "{service} was built for linux/arm64, which Fargate Spot does not run; nothing was pushed"
    )]
    #[diagnostic(
        code(wharf::deploy::spot_arm64),
        help("set platform = \"linux/amd64\" to build for Spot, or capacity = \"fargate\" to run on Graviton")
    )]
    SpotArm { service: String },
}

impl ImageError {
    /// AWS refused or could not be reached (exit code 8), as opposed to a failed build, push
    /// or a scan finding.
    pub fn is_aws(&self) -> bool {
        matches!(
            self,
            ImageError::Aws(_) | ImageError::Scan(ScanError::Aws(_))
        )
    }
}

/// What to build and where it goes.
#[derive(Clone, Copy)]
pub(crate) struct Ship<'a> {
    /// The service or job.
    pub name: &'a str,
    pub build: &'a Build,
    pub platform: Option<&'a str>,
    /// Runs on Fargate Spot, which has no linux/arm64.
    pub spot: bool,
    pub repository_uri: &'a str,
    pub scan_gate: Option<ScanSeverity>,
}

impl AwsTarget {
    pub(crate) async fn ship(
        &self,
        service: &Service,
        id: &str,
        registry: Option<&str>,
        events: &dyn EventSink,
    ) -> Result<Image, ImageError> {
        let build = match &service.image {
            ImageSource::Image(r) => {
                return Ok(Image {
                    platform: service.platform.clone(),
                    ..Image::unpinned(r.as_str())
                })
            }
            ImageSource::Build(b) => b,
        };
        let repository_uri = &self.out.service(&service.name)?.repository_uri;
        let ship = Ship {
            name: &service.name,
            build,
            platform: service.platform.as_deref(),
            spot: service.capacity == wharf_manifest::Capacity::FargateSpot,
            repository_uri,
            scan_gate: service.deploy.scan_gate,
        };
        self.ship_build(&ship, id, registry, events).await
    }

    /// Builds `ship.build` for deployment (or run) `id`, pushes it, pins it, holds it at the
    /// scan gate.
    pub(crate) async fn ship_build(
        &self,
        ship: &Ship<'_>,
        id: &str,
        registry: Option<&str>,
        events: &dyn EventSink,
    ) -> Result<Image, ImageError> {
        let Ship {
            name,
            build,
            platform,
            spot,
            repository_uri,
            scan_gate,
        } = *ship;
        let say = |message: String| {
            events.emit(Event::Progress {
                service: name.to_owned(),
                message,
            })
        };
        let push = PushTarget::of(repository_uri, registry)?;
        let repository = push.repository();
        let tag = format!("{repository}:{id}");
        let docker = Docker::connect().await?;
        let spec = ServiceBuild {
            root: &self.root,
            app: &self.out.app,
            env: &self.out.env,
            name,
            build,
            platform,
            id,
            private: &self.private,
        };
        let platform = wharf_docker::build_service(&docker, &spec, &tag, events).await?;
        if spot && platform == "linux/arm64" {
            let _ = docker.remove_image(&tag).await;
            return Err(ImageError::SpotArm {
                service: name.to_owned(),
            });
        }
        // ECR's 12-hour token goes to ECR and nowhere else.
        let (auth, with) = if push.ecr {
            let creds = image::authorization(&self.clients.ecr).await?;
            let auth = RegistryAuth {
                username: creds.username,
                password: creds.password,
                server: push.registry.clone(),
                identity_token: None,
            };
            (Some(auth), "ECR's token")
        } else {
            match wharf_docker::credentials::from_docker_config(&push.registry)? {
                Some(auth) => (Some(auth), "the credentials `docker login` saved"),
                None => (None, "no credentials"),
            }
        };
        say(format!("pushing {tag} with {with}"));
        let pushed = docker.push(&repository, id, auth.as_ref(), |_| {}).await;
        // The image now lives in the registry; this machine keeps no copy of each deployment.
        let removed = docker.remove_image(&tag).await;
        let digest = pushed?;
        removed?;
        say(format!("pushed {repository}@{digest}"));
        if let Some(gate) = scan_gate {
            let waiting = |what: &str| say(format!("waiting for {what}"));
            let findings = image::scan_gate(
                &self.clients.ecr,
                &push.name,
                &digest,
                gate,
                ScanWait::default(),
                &waiting,
            )
            .await?;
            say(findings.to_string());
        }
        Ok(Image {
            reference: tag,
            digest: Some(digest),
            platform: Some(platform),
        })
    }
}

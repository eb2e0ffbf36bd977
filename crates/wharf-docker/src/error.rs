//! What can go wrong talking to the Docker Engine, and whether it is worth trying again.

use std::path::PathBuf;

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

    #[error("the Docker credentials for {server} could not be read: {message}")]
    #[diagnostic(
        code(wharf::docker::credentials),
        help("run `docker login {server}` again, or fix the credential helper that ~/.docker/config.json (or $DOCKER_CONFIG) names for it")
    )]
    Credentials { server: String, message: String },
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
            | DockerError::ImageMissing { .. }
            | DockerError::Credentials { .. } => false,
        }
    }
}

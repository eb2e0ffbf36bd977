//! The connection to the Docker Engine (DOCKER_HOST or the local socket).

use std::collections::HashMap;

use crate::error::DockerError;

#[derive(Clone)]
pub struct Docker {
    pub(crate) d: bollard::Docker,
}

pub(crate) fn api(action: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> DockerError {
    let action = action.into();
    move |source| DockerError::Api { action, source }
}

/// Docker's filter for objects carrying every given label.
pub(crate) fn label_filter(labels: &[(&str, &str)]) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_owned(),
        labels.iter().map(|(k, v)| format!("{k}={v}")).collect(),
    )])
}

pub(crate) fn socket() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

impl Docker {
    /// Connects to DOCKER_HOST or the local socket and agrees on an API version.
    pub async fn connect() -> Result<Self, DockerError> {
        let socket = socket();
        let unreachable = |source| DockerError::Unreachable {
            socket: socket.clone(),
            source,
        };
        let d = bollard::Docker::connect_with_local_defaults().map_err(unreachable)?;
        let d = d.negotiate_version().await.map_err(unreachable)?;
        d.ping().await.map_err(unreachable)?;
        Ok(Docker { d })
    }

    /// A client that contacts the engine only when first used (commands that only look, and
    /// must work without Docker for what does not need it).
    pub fn lazy() -> Result<Self, DockerError> {
        bollard::Docker::connect_with_local_defaults()
            .map(|d| Docker { d })
            .map_err(|source| DockerError::Unreachable {
                socket: socket(),
                source,
            })
    }
}

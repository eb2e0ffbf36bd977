//! The Docker Engine, for both targets: the client and its errors ([`client`], [`error`]),
//! images — build from a context honouring `.dockerignore`, push, pull, remove ([`image`],
//! [`context`]) — with credentials read as the Docker CLI reads them ([`credentials`]), a service's image built the way the manifest says with its pre-build
//! command ([`service`]), labelled containers with loopback-only ports ([`container`]), and
//! containers run to their end, for jobs ([`task`]).
//! Nothing here prints: build and push output goes to the caller's callback.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod client;
pub mod container;
pub mod context;
pub mod credentials;
pub mod error;
pub mod image;
pub mod service;
pub mod task;

pub use client::Docker;
pub use container::{health_config, Container, ContainerState, RunSpec};
pub use error::DockerError;
pub use image::{BuildSpec, RegistryAuth};
pub use service::{build_service, BuildError, ServiceBuild};
pub use task::Exit;

/// The labels every resource wharf makes carries.
pub const LABEL_APP: &str = "wharf.app";
pub const LABEL_ENV: &str = "wharf.env";
pub const LABEL_SERVICE: &str = "wharf.service";
pub const LABEL_DEPLOYMENT: &str = "wharf.deployment";
/// A job's containers carry it (with the run id as `wharf.deployment`) instead of
/// `wharf.service`.
pub const LABEL_JOB: &str = "wharf.job";

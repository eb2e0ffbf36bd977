//! The local target: what makes one machine an environment. Deployments are labelled
//! containers ([`wharf_docker`]), traffic is wharf's proxy, run as a daemon per environment
//! ([`daemon`], spoken to in the [`control`] protocol, its routes saved by [`saved`]) whose
//! routes [`rules`] edits, records and locks live in an SQLite database in
//! the environment's state dir ([`store`]; the dir itself: [`statedir`]), shared by every `wharf` process working on it.
//! [`open`] opens an environment, [`platform`] brings one up and down, [`target`] is the
//! engine's target; jobs run as containers followed to their end (`jobs`), scheduled
//! ones by the daemon ([`schedules`]).
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod containers;
pub mod control;
pub mod daemon;
mod drain;
pub mod evidence;
mod exec;
mod jobs;
pub mod open;
pub mod platform;
pub mod rules;
pub mod saved;
pub mod schedules;
pub mod statedir;
pub mod store;
pub mod target;

pub use open::LocalError;
pub use platform::LocalPlatform;
pub use store::{LocalStore, StoreError};
pub use target::LocalTarget;
pub use wharf_proxy::Limits;

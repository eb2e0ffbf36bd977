//! The local target: what makes one machine an environment. Its state (deployment records,
//! locks) lives in an SQLite database in the environment's state dir, shared by every `wharf`
//! process working on it.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod daemon;
pub mod docker;
mod http;
pub mod store;
pub mod target;

pub use store::{LocalStore, StoreError};
pub use target::LocalTarget;

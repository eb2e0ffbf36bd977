//! The test harness every wharf crate uses: an isolated temp dir per test ([`TestDir`]), a
//! command builder whose failures show the command, stdout and stderr ([`Cmd`]), and a moto
//! server fixture ([`moto`]) started once per test process, reset per test, stopped at exit.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod cmd;
mod dir;
pub mod docker;
pub mod http;
pub mod moto;
pub mod registry;
pub mod replay;
mod tools;

pub use cmd::{Cmd, Output};
pub use dir::TestDir;
pub use moto::{moto, Moto};
pub use registry::Registry;
pub use replay::{Faults, Replay};
pub use tools::{tool, workspace_root};

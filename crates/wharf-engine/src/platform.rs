//! An environment as a whole, as opposed to the deployments in it: what `up`, `down`,
//! `recover`, `plan --remote` and `validate --remote` act on, and how the environment's
//! deployment [`Target`] is opened. Implemented by the local target (Docker, the proxy, the
//! state dir) and the AWS target (the environment's stacks); each command body is written
//! once over this trait.

use std::fmt::Display;
use std::future::Future;

use serde::Serialize;

use crate::target::Target;

/// Asks the user a yes/no question (the CLI: a terminal prompt, or `--yes`).
pub type Confirm<'a> = &'a (dyn Fn(&str) -> bool + Sync);

/// Whether opening the target may start what the environment needs (its proxy) or only
/// looks at what runs (`status`, `history`, `logs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Act,
    Look,
}

/// The verdict of an account preflight, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    /// Passed with warnings (failing under `--strict`).
    Warnings,
    Failed,
    /// The account could not be checked at all (identity, guard).
    Unreachable,
}

/// What a fast preflight comes before: `up` needs the account and its stacks in order;
/// `deploy` also what the tasks will need (images, secrets, a way out of the subnets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Before {
    Up,
    Deploy,
}

/// A result every environment-level command prints: text or JSON.
pub trait Report: Serialize + Display + Send {}
impl<T: Serialize + Display + Send> Report for T {}

pub trait Platform: Sync {
    type Target: Target;
    type Error: std::error::Error + Send + Sync + 'static;
    type Up: Report;
    type Down: Report;
    type Recovered: Report;
    type Preview: Report;
    type Preflight: Report;

    /// Opens the environment's deployment target.
    fn target(&self, mode: Mode) -> impl Future<Output = Result<Self::Target, Self::Error>> + Send;
    /// Creates or updates what the environment runs on; a change that would replace a
    /// resource holding data (a new, empty one) is refused unless `allow_replace`.
    fn up(&self, allow_replace: bool)
        -> impl Future<Output = Result<Self::Up, Self::Error>> + Send;
    /// Removes everything the environment runs, only what wharf made. `purge` also empties
    /// what would otherwise stop the removal (image repositories, buckets).
    fn down(
        &self,
        purge: bool,
        confirm: Confirm<'_>,
    ) -> impl Future<Output = Result<Self::Down, Self::Error>> + Send;
    /// Brings the environment back from a failed or stuck state.
    fn recover(
        &self,
        confirm: Confirm<'_>,
    ) -> impl Future<Output = Result<Self::Recovered, Self::Error>> + Send;
    /// What `up` would change, as the runtime itself previews it.
    fn preview(&self) -> impl Future<Output = Result<Self::Preview, Self::Error>> + Send;
    /// The account's checks before a deploy; `progress` hears each check's name.
    fn preflight(
        &self,
        progress: &(dyn Fn(&str) + Sync),
    ) -> impl Future<Output = Result<(Self::Preflight, Verdict), Self::Error>> + Send;
    /// The fast part of the preflight, which `up` and `deploy` run before changing anything
    /// (`None` where the runtime has nothing worth checking first: its own errors come at
    /// once and name their cause).
    fn preflight_fast(
        &self,
        before: Before,
        progress: &(dyn Fn(&str) + Sync),
    ) -> impl Future<Output = Result<Option<(Self::Preflight, Verdict)>, Self::Error>> + Send {
        let _ = (before, progress);
        async { Ok(None) }
    }
}

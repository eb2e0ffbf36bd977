//! Exit codes, as documented in the README. Scripts rely on them: never renumber.

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// The command did what was asked.
    Success = 0,
    /// The command failed (the message says why).
    Failure = 1,
    /// The command line was wrong (unknown flag, missing --env, …).
    Usage = 2,
    /// The manifest has errors (or warnings, with `validate --strict`).
    InvalidManifest = 3,
    /// No manifest was found, or it could not be read.
    NoManifest = 4,
    /// The deployment failed a gate and was rolled back (the previous version serves).
    RolledBack = 5,
    /// Another deploy holds the service's lock, or an unfinished deployment needs --resume/abort.
    Locked = 6,
    /// Docker or the local proxy could not be reached or started.
    Unreachable = 7,
    /// AWS refused (credentials, permissions, the account guard), could not be reached, or a
    /// stack operation failed.
    Aws = 8,
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> Self {
        ExitCode::from(s as u8)
    }
}

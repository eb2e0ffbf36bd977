//! Exit codes, as documented in the README. Scripts rely on them: never renumber.

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// The command did what was asked.
    Success,
    /// The command failed (the message says why).
    Failure,
    /// The command line was wrong (unknown flag, missing --env, …).
    Usage,
    /// The manifest has errors (or warnings, with `validate --strict`).
    InvalidManifest,
    /// No manifest was found, or it could not be read.
    NoManifest,
    /// The deployment failed a gate and was rolled back (the previous version serves).
    RolledBack,
    /// Another deploy holds the service's lock, or an unfinished deployment needs --resume/abort.
    Locked,
    /// Docker or the local proxy could not be reached or started.
    Unreachable,
    /// AWS refused (credentials, permissions, the account guard), could not be reached, or a
    /// stack operation failed.
    Aws,
    /// `wharf run`: the job's own exit code, passed through (124: stopped at its timeout).
    Job(u8),
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Success => 0,
            ExitStatus::Failure => 1,
            ExitStatus::Usage => 2,
            ExitStatus::InvalidManifest => 3,
            ExitStatus::NoManifest => 4,
            ExitStatus::RolledBack => 5,
            ExitStatus::Locked => 6,
            ExitStatus::Unreachable => 7,
            ExitStatus::Aws => 8,
            ExitStatus::Job(c) => c,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> Self {
        ExitCode::from(s.code())
    }
}

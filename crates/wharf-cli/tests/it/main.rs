//! The `wharf` binary as users run it: exit codes, bad input, output formats, the example.

mod aws;
mod aws_ci;
mod aws_deploy;
mod aws_diagnose;
mod aws_down;
mod aws_drain;
mod aws_env;
mod aws_exec;
mod aws_gc;
mod aws_image;
mod aws_internal;
mod aws_jobs;
mod aws_keep;
mod aws_large;
mod aws_locks;
mod aws_logs;
mod aws_notify;
mod aws_preflight;
mod aws_replay;
mod aws_rollback;
mod aws_scaling;
mod aws_schedules;
mod aws_throttle;
mod bad_input;
mod ci;
mod crash;
mod import;
mod init;
mod local;
mod local_faults;
mod local_internal;
mod local_jobs;
mod local_loadtest;
mod local_notify;
mod local_schedules;
mod plan;
mod readme;
mod receiver;
mod render;
mod validate;

use std::path::PathBuf;

use wharf_testkit::{workspace_root, Cmd};

/// `wharf` with a clean environment.
pub fn wharf() -> Cmd {
    Cmd::new(env!("CARGO_BIN_EXE_wharf")).env("NO_COLOR", "1")
}

pub fn hello_dir() -> PathBuf {
    workspace_root().join("examples/hello")
}

/// Asserts the output has no panic or backtrace in it.
#[track_caller]
pub fn no_panic(out: &wharf_testkit::Output) {
    for bad in ["panicked", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(
            !out.stderr.contains(bad) && !out.stdout.contains(bad),
            "found {bad:?}\n{out}"
        );
    }
}

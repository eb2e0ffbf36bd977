//! Lifecycle hooks as the user's own commands, run on the machine running `wharf` from the
//! manifest's directory, with the deployment's identity in their environment. Every target
//! runs them the same way.

use std::path::Path;
use std::time::Duration;

use crate::plan::HookKind;
use crate::record::Record;
use crate::target::TargetError;

/// How long a hook may run.
pub const HOOK_LIMIT: Duration = Duration::from_secs(600);

/// Runs `command` in `dir` with `DEPLOYMENT_ID`, `WHARF_APP`, `WHARF_ENV`, `WHARF_SERVICE` and
/// `WHARF_HOOK` set; a non-zero exit fails with the last lines of its standard error.
pub async fn run_hook_command(
    dir: &Path,
    record: &Record,
    hook: HookKind,
    command: &[String],
) -> Result<(), TargetError> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| TargetError::new("empty hook command"))?;
    let child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("DEPLOYMENT_ID", &record.id)
        .env("WHARF_APP", &record.app)
        .env("WHARF_ENV", &record.env)
        .env("WHARF_SERVICE", &record.service)
        .env("WHARF_HOOK", hook.to_string())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(HOOK_LIMIT, child)
        .await
        .map_err(|_| {
            TargetError::new(format!(
                "the {hook} hook did not finish within {} minutes",
                HOOK_LIMIT.as_secs() / 60
            ))
        })?
        .map_err(|e| TargetError::new(format!("cannot run the {hook} hook {program}: {e}")))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let tail = lines[lines.len().saturating_sub(5)..].join("\n");
    Err(TargetError::new(format!(
        "{} ({})",
        out.status,
        tail.trim()
    )))
}

//! Containers run to their end (jobs): their whole log followed until they stop, then how
//! they ended (exit code, OOM kill), within a deadline.

use bollard::query_parameters::{InspectContainerOptions, LogsOptions, StopContainerOptions};
use futures_util::StreamExt;
use tokio::time::Instant;

use crate::client::{api, Docker};
use crate::error::DockerError;

/// How a container ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub code: i64,
    /// The kernel killed it for exceeding its memory limit.
    pub oom_killed: bool,
    /// Docker's own error starting it (a missing executable, a bad working directory).
    pub error: Option<String>,
}

impl Docker {
    /// Hands every line the container writes (from its start) to `line` until it stops, then
    /// says how it ended; None when it still runs at `deadline`.
    pub async fn follow_to_end(
        &self,
        id: &str,
        deadline: Option<Instant>,
        mut line: impl FnMut(&str),
    ) -> Result<Option<Exit>, DockerError> {
        let opts = LogsOptions {
            follow: true,
            stdout: true,
            stderr: true,
            tail: "all".into(),
            ..Default::default()
        };
        let mut logs = self.d.logs(id, Some(opts));
        let far = Instant::now() + std::time::Duration::from_secs(365 * 24 * 3600);
        let deadline = deadline.unwrap_or(far);
        // The stream ends when the container stops.
        loop {
            match tokio::time::timeout_at(deadline, logs.next()).await {
                Err(_) => return Ok(None),
                Ok(None) => break,
                Ok(Some(Ok(out))) => {
                    for l in out.to_string().lines() {
                        line(l);
                    }
                }
                Ok(Some(Err(e))) => return Err(api(format!("read the logs of {id}"))(e)),
            }
        }
        // The log can end a moment before Docker records the exit: look until it has one.
        loop {
            let c = self
                .d
                .inspect_container(id, None::<InspectContainerOptions>)
                .await
                .map_err(api(format!("inspect container {id}")))?;
            let s = c.state.unwrap_or_default();
            if s.running != Some(true) {
                return Ok(Some(Exit {
                    code: s.exit_code.unwrap_or(-1),
                    oom_killed: s.oom_killed == Some(true),
                    error: s.error.filter(|e| !e.is_empty()),
                }));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM (its stop signal), then SIGKILL after `timeout_s`; the container stays, to be
    /// read. A container already stopped or gone is no error.
    pub async fn stop(&self, id: &str, timeout_s: i32) -> Result<(), DockerError> {
        match self
            .d
            .stop_container(
                id,
                Some(StopContainerOptions {
                    t: Some(timeout_s),
                    ..Default::default()
                }),
            )
            .await
        {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304 | 404,
                ..
            }) => Ok(()),
            Err(e) => Err(api(format!("stop container {id}"))(e)),
        }
    }
}

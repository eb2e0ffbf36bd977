//! Following a job's task to its end: `DescribeTasks` and the task's CloudWatch log stream
//! (`{run}/{job}/{task id}`, as awslogs names it) read in turns, each log page from the token
//! the last one ended at (no line twice, none skipped), until the task is STOPPED and its log
//! read to the end, or the deadline passes.

use wharf_engine::{Clock, JobTask, LogLine, RunEnd, SystemClock, TargetError};
use wharf_manifest::Job;

use crate::ecs::jobs::task_end;
use crate::ecs::{terr, AwsTarget};
use crate::error::{AwsError, ErrorKind};

/// Where a log stream has been read to.
struct Cursor {
    stream: String,
    token: Option<String>,
}

impl AwsTarget {
    pub(crate) async fn aws_follow_job(
        &self,
        job: &Job,
        task: &JobTask,
        deadline_ms: Option<i64>,
        line: &(dyn Fn(LogLine<'_>) + Sync),
    ) -> Result<Option<RunEnd>, TargetError> {
        let task_id = task.id.rsplit('/').next().unwrap_or(&task.id).to_owned();
        let log_group = self.out.job(&job.name).map_err(terr)?.log_group.clone();
        let mut cursor: Option<Cursor> = None;
        loop {
            let described = self.describe_job_task(job, task).await.map_err(terr)?;
            if cursor.is_none() {
                cursor = described.run.as_ref().map(|run| Cursor {
                    stream: format!("{run}/{}/{task_id}", job.name),
                    token: None,
                });
            }
            if let Some(c) = cursor.as_mut() {
                self.read_log(&log_group, c, &task_id, line)
                    .await
                    .map_err(terr)?;
            }
            if let Some(end) = described.end {
                return Ok(Some(end));
            }
            let now = SystemClock.now_ms();
            if deadline_ms.is_some_and(|d| now >= d) {
                return Ok(None);
            }
            let wait = deadline_ms.map_or(self.poll.as_millis() as i64, |d| {
                (d - now).min(self.poll.as_millis() as i64)
            });
            tokio::time::sleep(std::time::Duration::from_millis(wait.max(1) as u64)).await;
        }
    }

    /// The task as ECS has it: the run id (its log stream's prefix, from its
    /// `wharf.deployment` tag) and, once STOPPED, how it ended.
    async fn describe_job_task(&self, job: &Job, task: &JobTask) -> Result<Described, AwsError> {
        let action = format!("describe the task of job {}", job.name);
        let out = self
            .clients
            .ecs
            .describe_tasks()
            .cluster(&self.out.cluster)
            .tasks(&task.id)
            .include(aws_sdk_ecs::types::TaskField::Tags)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&action, e))?;
        let Some(t) = out.tasks().first() else {
            return Err(AwsError::new(
                action,
                ErrorKind::NotFound,
                format!(
                    "ECS no longer knows task {} (it keeps stopped tasks about an hour)",
                    task.id
                ),
            ));
        };
        let run = t
            .tags()
            .iter()
            .find(|tag| tag.key() == Some("wharf.deployment"))
            .and_then(|tag| tag.value())
            .map(str::to_owned);
        let end = task_end(t, &job.name);
        Ok(Described { run, end })
    }

    /// Hands the stream's new lines to `line`, page after page, until a page brings none.
    async fn read_log(
        &self,
        group: &str,
        c: &mut Cursor,
        source: &str,
        line: &(dyn Fn(LogLine<'_>) + Sync),
    ) -> Result<(), AwsError> {
        loop {
            let mut req = self
                .clients
                .logs
                .get_log_events()
                .log_group_name(group)
                .log_stream_name(&c.stream)
                .start_from_head(true);
            if let Some(t) = &c.token {
                req = req.next_token(t);
            }
            let page = match req.send().await {
                Ok(p) => p,
                // The stream appears with the container's first line.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception()) =>
                {
                    return Ok(())
                }
                Err(e) => {
                    return Err(AwsError::from_sdk(
                        format!("read log stream {}", c.stream),
                        e,
                    ))
                }
            };
            for ev in page.events() {
                for l in ev.message().unwrap_or("").lines() {
                    line(LogLine {
                        source,
                        line: l,
                        timestamp_ms: ev.timestamp(),
                    });
                }
            }
            let next = page.next_forward_token().map(str::to_owned);
            let done = page.events().is_empty() || next.is_none() || next == c.token;
            if next.is_some() {
                c.token = next;
            }
            if done {
                return Ok(());
            }
        }
    }
}

struct Described {
    run: Option<String>,
    end: Option<RunEnd>,
}

//! `wharf exec` on AWS: ECS Exec. A running task of the deployment (or the job's run) is found,
//! ECS's ExecuteCommand opens a Session Manager session in its container, and the session is
//! handed to AWS's `session-manager-plugin`, invoked as the AWS CLI invokes it.

use aws_sdk_ecs::types::{DesiredStatus, TaskField};
use wharf_engine::{exec::shell_join, ExecRequest, LogSource, Session, TargetError};

use super::{terr, AwsTarget};
use crate::error::AwsError;

/// The plugin's program name, and where to get it.
pub const PLUGIN: &str = "session-manager-plugin";
const INSTALL: &str = "install AWS's Session Manager plugin (https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html: a .deb, .rpm or macOS package, or `brew install --cask session-manager-plugin`), then run `wharf exec` again";

/// A running task that can be entered.
struct Found {
    arn: String,
    container: String,
    runtime_id: String,
    exec_enabled: bool,
}

/// The plugin's arguments, as the AWS CLI passes them for `ecs execute-command`: the session
/// (id, stream URL, token) as JSON, the region, the operation, the profile (empty), the
/// parameters naming the target container, and the endpoint the session was opened at.
pub fn plugin_args(
    session: &aws_sdk_ecs::types::Session,
    region: &str,
    cluster: &str,
    task_id: &str,
    runtime_id: &str,
    endpoint: &str,
) -> Vec<String> {
    let session = serde_json::json!({
        "SessionId": session.session_id().unwrap_or_default(),
        "StreamUrl": session.stream_url().unwrap_or_default(),
        "TokenValue": session.token_value().unwrap_or_default(),
    });
    let cluster = cluster.rsplit('/').next().unwrap_or(cluster);
    let target = serde_json::json!({ "Target": format!("ecs:{cluster}_{task_id}_{runtime_id}") });
    vec![
        session.to_string(),
        region.to_owned(),
        "StartSession".to_owned(),
        String::new(),
        target.to_string(),
        endpoint.to_owned(),
    ]
}

impl AwsTarget {
    pub(crate) async fn aws_exec(&self, req: ExecRequest<'_>) -> Result<Session, TargetError> {
        let found = self.running_task(&req).await?;
        let task_id = found
            .arn
            .rsplit('/')
            .next()
            .unwrap_or(&found.arn)
            .to_owned();
        if !found.exec_enabled {
            return Err(TargetError::new(format!(
                "task {task_id} was started without ECS Exec"
            ))
            .help("deploy again (`wharf deploy`; `wharf run` for a job): wharf starts every task with ECS Exec enabled"));
        }
        let action = format!("open an ECS Exec session in task {task_id}");
        let out = self
            .clients
            .ecs
            .execute_command()
            .cluster(&self.out.cluster)
            .task(&found.arn)
            .container(&found.container)
            .interactive(true)
            .command(shell_join(&req.argv()))
            .send()
            .await
            .map_err(|e| terr(AwsError::from_sdk(&action, e)))?;
        let session = out
            .session()
            .ok_or_else(|| TargetError::new(format!("failed to {action}: no session returned")))?;
        let endpoint = self
            .clients
            .endpoint
            .clone()
            .unwrap_or_else(|| format!("https://ecs.{}.amazonaws.com", self.out.region));
        Ok(Session {
            program: PLUGIN.into(),
            args: plugin_args(
                session,
                &self.out.region,
                &self.out.cluster,
                &task_id,
                &found.runtime_id,
                &endpoint,
            ),
            task: task_id,
            install: INSTALL.into(),
        })
    }

    /// The first running task (by ARN) of the service's deployment or the job's run that
    /// `req.task` names (or any).
    async fn running_task(&self, req: &ExecRequest<'_>) -> Result<Found, TargetError> {
        let ecs = &self.clients.ecs;
        let (name, list) = match req.of {
            LogSource::Service(s) => {
                let Some(d) = req.deployment else {
                    return Err(
                        TargetError::new(format!("{} has no serving deployment", s.name))
                            .help("`wharf deploy` first, or name one with --deployment"),
                    );
                };
                let l = ecs
                    .list_tasks()
                    .cluster(&self.out.cluster)
                    .service_name(self.ecs_name(s, d))
                    .desired_status(DesiredStatus::Running);
                (s.name.as_str(), l)
            }
            LogSource::Job(j) => {
                let l = ecs
                    .list_tasks()
                    .cluster(&self.out.cluster)
                    .family(self.names().task_family(&j.name))
                    .desired_status(DesiredStatus::Running);
                (j.name.as_str(), l)
            }
        };
        let action = format!("list the running tasks of {name}");
        let arns = list
            .send()
            .await
            .map_err(|e| terr(AwsError::from_sdk(&action, e)))?
            .task_arns
            .unwrap_or_default();
        let mut found = Vec::new();
        for batch in arns.chunks(100) {
            let out = ecs
                .describe_tasks()
                .cluster(&self.out.cluster)
                .set_tasks(Some(batch.to_vec()))
                .include(TaskField::Tags)
                .send()
                .await
                .map_err(|e| terr(AwsError::from_sdk(&action, e)))?;
            for t in out.tasks() {
                let arn = t.task_arn().unwrap_or_default();
                let tag = |k: &str| {
                    t.tags()
                        .iter()
                        .find(|x| x.key() == Some(k))
                        .and_then(|x| x.value())
                };
                let run_matches = match req.of {
                    LogSource::Job(j) => {
                        tag("wharf.job") == Some(j.name.as_str())
                            && req
                                .deployment
                                .is_none_or(|r| tag("wharf.deployment") == Some(r))
                    }
                    LogSource::Service(_) => true,
                };
                let id = arn.rsplit('/').next().unwrap_or(arn);
                let task_matches = req.task.is_none_or(|p| id.starts_with(p));
                if t.last_status() != Some("RUNNING") || !run_matches || !task_matches {
                    continue;
                }
                let container = t
                    .containers()
                    .iter()
                    .find(|c| c.name() == Some(name))
                    .or_else(|| t.containers().first());
                let Some(c) = container else { continue };
                found.push(Found {
                    arn: arn.to_owned(),
                    container: c.name().unwrap_or(name).to_owned(),
                    runtime_id: c.runtime_id().unwrap_or_default().to_owned(),
                    exec_enabled: t.enable_execute_command(),
                });
            }
        }
        found.sort_by(|a, b| a.arn.cmp(&b.arn));
        found.into_iter().next().ok_or_else(|| {
            let which = match (req.deployment, req.task) {
                (_, Some(t)) => format!(" matching task {t}"),
                (Some(d), None) => format!(" in {d}"),
                (None, None) => String::new(),
            };
            TargetError::new(format!("no running task of {name}{which}"))
                .help("`wharf status` shows what runs; a job runs only while `wharf run` runs it (or with --detach)")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plugin_is_invoked_as_the_aws_cli_invokes_it() {
        let s = aws_sdk_ecs::types::Session::builder()
            .session_id("ecs-execute-command-0a1b2c")
            .stream_url("wss://ssmmessages.us-east-1.amazonaws.com/v1/data-channel/ecs-execute-command-0a1b2c?role=publish_subscribe")
            .token_value("AAEAAb…")
            .build();
        let args = plugin_args(
            &s,
            "us-east-1",
            "arn:aws:ecs:us-east-1:123456789012:cluster/pulse-test",
            "0123abcd",
            "0123abcd-1234567890",
            "https://ecs.us-east-1.amazonaws.com",
        );
        assert_eq!(args.len(), 6);
        let session: serde_json::Value = serde_json::from_str(&args[0]).unwrap();
        assert_eq!(session["SessionId"], "ecs-execute-command-0a1b2c");
        assert_eq!(session["TokenValue"], "AAEAAb…");
        assert_eq!(&args[1..4], ["us-east-1", "StartSession", ""]);
        let target: serde_json::Value = serde_json::from_str(&args[4]).unwrap();
        assert_eq!(
            target["Target"],
            "ecs:pulse-test_0123abcd_0123abcd-1234567890"
        );
        assert_eq!(args[5], "https://ecs.us-east-1.amazonaws.com");
    }
}

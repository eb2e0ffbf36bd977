//! A job's run on AWS: a task definition for the run (family `{app}-{env}-{job}`: the job's
//! image, cpu and memory, env, secrets and data bindings, its task role, awslogs into its log
//! group with the run id as the stream prefix), `RunTask` on Fargate in the private subnets
//! with the job's security group and no public IP, then `DescribeTasks` and the task's
//! CloudWatch log stream polled until it stops; `StopTask` to stop it. Older revisions of the
//! family beyond [`KEEP_REVISIONS`] are deregistered.

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, Compatibility, LaunchType, NetworkConfiguration,
    NetworkMode, Tag,
};
use wharf_engine::{EventSink, Image, JobSpec, JobTask, RunEnd, TargetError};
use wharf_manifest::{Build, Job};

use crate::ecs::taskdef::{container, invalid, Awslogs, Pairs};
use crate::ecs::{terr, AwsTarget};
use crate::error::{AwsError, ErrorKind};

/// Task-definition revisions of a job kept (the newest); older ones are deregistered.
pub const KEEP_REVISIONS: u32 = 5;

impl AwsTarget {
    /// The run's container environment: the job's variables, its bindings, wharf's identity
    /// variables and the run's own; its secrets as `valueFrom` references. Sorted.
    pub(crate) fn job_env(&self, spec: &JobSpec<'_>) -> (Pairs, Pairs) {
        let job = spec.job;
        // Later sources win: the job's env, its bindings, wharf's variables, the run's own.
        let mut plain: std::collections::BTreeMap<String, String> = job.env.clone();
        let mut secrets: Pairs = job
            .secrets
            .iter()
            .map(|(k, r)| (k.clone(), self.out.value_from(r)))
            .collect();
        for (k, v) in self.job_bindings.get(&job.name).into_iter().flatten() {
            match v {
                crate::ecs::EnvValue::Plain(v) => {
                    plain.insert(k.clone(), v.clone());
                }
                crate::ecs::EnvValue::Secret(v) => secrets.push((k.clone(), v.clone())),
            }
        }
        plain.insert("WHARF_APP".into(), self.out.app.clone());
        plain.insert("WHARF_ENV".into(), self.out.env.clone());
        plain.insert("WHARF_JOB".into(), job.name.clone());
        plain.extend(spec.env.iter().cloned());
        secrets.sort();
        let plain: Pairs = plain.into_iter().collect();
        (plain, secrets)
    }

    /// Registers the run's task definition; answers its ARN. Older revisions beyond
    /// [`KEEP_REVISIONS`] are deregistered, except `protect`ed ones (the schedule's).
    pub(crate) async fn register_job(
        &self,
        spec: &JobSpec<'_>,
        protect: &[String],
    ) -> Result<String, AwsError> {
        let job = spec.job;
        let family = self.names().task_family(&job.name);
        let action = format!("register task definition {family} for run {}", spec.run);
        let jo = self.out.job(&job.name)?;
        let logs = Awslogs {
            group: &jo.log_group,
            region: &self.out.region,
            prefix: spec.run,
        };
        // The task's memory again as the container's hard limit.
        let mut container = container(&action, &job.name, spec.image, self.job_env(spec), &logs)?
            .memory(job.memory as i32);
        if let Some(cmd) = spec.command.clone().or_else(|| job.command.clone()) {
            container = container.set_command(Some(cmd));
        }
        let registered = self
            .clients
            .ecs
            .register_task_definition()
            .family(&family)
            .task_role_arn(&jo.task_role_arn)
            .execution_role_arn(&self.out.execution_role_arn)
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .cpu(job.cpu.to_string())
            .memory(job.memory.to_string())
            .set_runtime_platform(crate::ecs::taskdef::runtime_platform(
                spec.platform.or(job.platform.as_deref()),
            ))
            .container_definitions(container.build())
            .set_tags(Some(self.job_tags(&job.name, spec.run)))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&action, e))?;
        let arn = registered
            .task_definition
            .and_then(|t| t.task_definition_arn)
            .ok_or_else(|| {
                AwsError::new(&action, ErrorKind::Other, "no task definition ARN returned")
            })?;
        let mut keep = protect.to_vec();
        keep.push(arn.clone());
        crate::ecs::taskdef::deregister_beyond(&self.clients.ecs, &family, KEEP_REVISIONS, &keep)
            .await?;
        Ok(arn)
    }

    fn job_tags(&self, job: &str, run: &str) -> Vec<Tag> {
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        vec![
            tag("wharf.app", &self.out.app),
            tag("wharf.env", &self.out.env),
            tag("wharf.job", job),
            tag("wharf.deployment", run),
        ]
    }

    /// The job built from source for `run`, pushed to its repository and pinned.
    pub(crate) async fn aws_job_image(
        &self,
        job: &Job,
        build: &Build,
        run: &str,
        registry: Option<&str>,
        events: &dyn EventSink,
    ) -> Result<Image, crate::ImageError> {
        let jo = self.out.job(&job.name)?;
        let repository_uri = jo.repository_uri.as_deref().ok_or_else(|| {
            AwsError::new(
                format!("find the repository of job {}", job.name),
                ErrorKind::NotFound,
                format!(
                    "the baseline has no repository for job {}: run `wharf up --env {}` since it is built from source",
                    job.name, self.out.env
                ),
            )
        })?;
        let ship = crate::ship::Ship {
            name: &job.name,
            build,
            platform: job.platform.as_deref(),
            spot: false,
            repository_uri,
            scan_gate: None,
        };
        self.ship_build(&ship, run, registry, events).await
    }

    /// Registers the run's task definition and starts one task of it.
    pub(crate) async fn aws_start_job(&self, spec: &JobSpec<'_>) -> Result<JobTask, TargetError> {
        let job = spec.job;
        let jo = self.out.job(&job.name).map_err(terr)?.clone();
        // The task definition the job's schedule runs must outlive this run's clean-up.
        let scheduled = match &job.schedule {
            Some(_) => self
                .scheduled_task_definition(&job.name)
                .await
                .map_err(terr)?,
            None => None,
        };
        let td = self
            .register_job(spec, scheduled.as_slice())
            .await
            .map_err(terr)?;
        let action = format!("run job {}", job.name);
        let vpc = AwsVpcConfiguration::builder()
            .set_subnets(Some(self.out.private_subnets.clone()))
            .security_groups(&jo.security_group)
            .assign_public_ip(AssignPublicIp::Disabled)
            .build()
            .map_err(|e| terr(invalid(&action, e)))?;
        let out = self
            .clients
            .ecs
            .run_task()
            .cluster(&self.out.cluster)
            .task_definition(&td)
            .launch_type(LaunchType::Fargate)
            .count(1)
            .enable_execute_command(true)
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(vpc)
                    .build(),
            )
            .set_tags(Some(self.job_tags(&job.name, spec.run)))
            .send()
            .await
            .map_err(|e| terr(AwsError::from_sdk(&action, e)))?;
        if let Some(task) = out.tasks().first().and_then(|t| t.task_arn()) {
            return Ok(JobTask {
                id: task.to_owned(),
            });
        }
        let why: Vec<String> = out
            .failures()
            .iter()
            .map(|f| {
                format!(
                    "{} ({})",
                    f.reason().unwrap_or("no reason"),
                    f.detail().unwrap_or("")
                )
            })
            .collect();
        let capacity = why
            .iter()
            .any(|w| w.contains("RESOURCE") || w.contains("capacity"));
        let mut e = TargetError::new(format!(
            "ECS did not start job {}: {}",
            job.name,
            why.join("; ")
        ))
        .help(if capacity {
            "Fargate has no capacity for the job's size here now: try again, or another cpu/memory"
        } else {
            "ECS's reason is above; `wharf validate --remote` checks the environment"
        });
        e.transient = capacity;
        Err(e)
    }

    pub(crate) async fn aws_stop_job(&self, job: &Job, task: &JobTask) -> Result<(), TargetError> {
        self.clients
            .ecs
            .stop_task()
            .cluster(&self.out.cluster)
            .task(&task.id)
            .reason("stopped by wharf")
            .send()
            .await
            .map_err(|e| terr(AwsError::from_sdk(format!("stop job {}", job.name), e)))?;
        Ok(())
    }
}

/// How long `down` waits for the job tasks it stopped to be gone.
const STOP_WAIT_S: u64 = 180;

/// Stops the environment's job tasks still running (detached runs, scheduled ones), which
/// would keep the cluster from being deleted, and waits (bounded) for ECS to report them
/// stopped. Only tasks tagged `wharf.app`, `wharf.env` and `wharf.job` of this environment.
/// Answers the ARNs stopped; a cluster that is gone has none.
pub async fn stop_job_tasks(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    app: &str,
    env: &str,
) -> Result<Vec<String>, AwsError> {
    let action = format!("list the job tasks running in cluster {cluster}");
    let mut arns = Vec::new();
    let mut token = None;
    loop {
        let page = match ecs
            .list_tasks()
            .cluster(cluster)
            .desired_status(aws_sdk_ecs::types::DesiredStatus::Running)
            .set_next_token(token)
            .send()
            .await
        {
            Ok(p) => p,
            Err(e) => {
                let e = AwsError::from_sdk(&action, e);
                if e.code.as_deref() == Some("ClusterNotFoundException") {
                    return Ok(Vec::new());
                }
                return Err(e);
            }
        };
        arns.extend(page.task_arns().iter().cloned());
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let mut stopped = Vec::new();
    for batch in arns.chunks(100) {
        let out = ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(batch.to_vec()))
            .include(aws_sdk_ecs::types::TaskField::Tags)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&action, e))?;
        for t in out.tasks() {
            let tag = |k: &str| {
                t.tags()
                    .iter()
                    .find(|x| x.key() == Some(k))
                    .and_then(|x| x.value())
            };
            let ours = tag("wharf.app") == Some(app)
                && tag("wharf.env") == Some(env)
                && tag("wharf.job").is_some();
            let Some(arn) = t.task_arn().filter(|_| ours) else {
                continue;
            };
            ecs.stop_task()
                .cluster(cluster)
                .task(arn)
                .reason("stopped by wharf down")
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(format!("stop job task {arn}"), e))?;
            stopped.push(arn.to_owned());
        }
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(STOP_WAIT_S);
    for batch in stopped.chunks(100) {
        loop {
            let out = ecs
                .describe_tasks()
                .cluster(cluster)
                .set_tasks(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("wait for the stopped job tasks", e))?;
            if out
                .tasks()
                .iter()
                .all(|t| t.last_status() == Some("STOPPED"))
            {
                break;
            }
            if std::time::Instant::now() > deadline {
                return Err(AwsError::new(
                    "wait for the stopped job tasks",
                    ErrorKind::Transient,
                    format!("job tasks in cluster {cluster} did not stop within {STOP_WAIT_S}s: run `wharf down` again"),
                ));
            }
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        }
    }
    Ok(stopped)
}

/// How a task ended, once ECS reports it STOPPED: the job container's exit code and reason
/// with the task's stop code, explained.
pub fn task_end(t: &aws_sdk_ecs::types::Task, job: &str) -> Option<RunEnd> {
    (t.last_status() == Some("STOPPED")).then(|| {
        let c = t
            .containers()
            .iter()
            .find(|c| c.name() == Some(job))
            .or_else(|| t.containers().first());
        explain(
            t.stop_code().map(|c| c.as_str()),
            t.stopped_reason(),
            c.and_then(|c| c.reason()),
            c.and_then(|c| c.exit_code()),
        )
    })
}

/// How a stopped task ended, from DescribeTasks: its stop code and reason, the job
/// container's exit code and reason, with advice for the failures seen most.
pub fn explain(
    stop_code: Option<&str>,
    stopped_reason: Option<&str>,
    container_reason: Option<&str>,
    exit_code: Option<i32>,
) -> RunEnd {
    let reason = match (container_reason, stopped_reason) {
        (Some(c), Some(s)) if !c.is_empty() && c != s => format!("{s}: {c}"),
        (Some(c), _) if !c.is_empty() => c.to_owned(),
        (_, Some(s)) => s.to_owned(),
        _ => "no reason given".to_owned(),
    };
    let help = if reason.contains("CannotPullContainerError") {
        Some("the task could not pull its image: check that the image exists (`wharf run` pushes built ones) and that the private subnets reach ECR (a NAT gateway or VPC endpoints)")
    } else if reason.contains("ResourceInitializationError") {
        Some("ECS could not prepare the task: a secret or parameter it reads is missing or not readable by the execution role (or its KMS key), or the subnets cannot reach SSM, Secrets Manager or CloudWatch Logs")
    } else if reason.contains("OutOfMemory") {
        Some("the job used more than its memory: raise `memory` in its [jobs] table")
    } else if reason.contains("Timeout waiting for network interface")
        || reason.contains("capacity")
    {
        Some("Fargate could not place the task now: try again")
    } else {
        None
    };
    RunEnd {
        exit_code,
        stop_code: stop_code.unwrap_or("Stopped").to_owned(),
        reason,
        help: help.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pull_failure_is_explained_with_its_fix() {
        let e = explain(
            Some("TaskFailedToStart"),
            Some("CannotPullContainerError: pull image manifest has been retried 5 time(s): failed to resolve ref"),
            None,
            None,
        );
        assert_eq!(e.exit_code, None);
        assert!(e.help.unwrap().contains("reach ECR"));
        let e = explain(
            Some("EssentialContainerExited"),
            Some("Essential container in task exited"),
            Some("OutOfMemoryError: Container killed due to memory usage"),
            Some(137),
        );
        assert!(e.reason.contains("OutOfMemoryError") && e.help.unwrap().contains("memory"));
    }
}

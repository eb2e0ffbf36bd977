//! Jobs' schedules on AWS: EventBridge Scheduler, through its API (CloudFormation's
//! `AWS::Scheduler::Schedule` would tie a schedule's task definition to a stack update).
//! The schedules live in the group `{app}-{env}`, tagged `wharf.app`/`wharf.env`, made by the
//! first deploy that schedules a job and deleted by `down` — that group is what proves a
//! schedule is wharf's. One schedule per job, named after it: it starts one Fargate task of
//! the task definition deploy registered (tagged with the deploy's schedule id, which is
//! also its log streams' prefix), in the private subnets with the job's security group, as
//! the job's schedule role from the baseline (allowed `ecs:RunTask` on the job's family and
//! `iam:PassRole` on its two roles, nothing else).
//!
//! A job's last run: its record in the state table, or the newest task of its family ECS
//! still knows (stopped tasks stay about an hour) when that is newer — a schedule's runs are
//! started by the Scheduler, not by wharf.

use std::collections::HashMap;

use aws_sdk_scheduler::types::{
    ActionAfterCompletion, AssignPublicIp, AwsVpcConfiguration, EcsParameters, FlexibleTimeWindow,
    FlexibleTimeWindowMode, LaunchType, NetworkConfiguration, RetryPolicy, ScheduleState, Tag,
    Target,
};
use aws_sdk_scheduler::Client;
use wharf_engine::{JobSpec, RunRecord, ScheduleSpec, Scheduled, Store, TargetError, Trigger};
use wharf_manifest::Job;

use crate::ecs::jobs::task_end;
use crate::ecs::taskdef::invalid;
use crate::ecs::{terr, AwsTarget};
use crate::error::{AwsError, ErrorKind};

/// The tag telling a schedule's tasks from `wharf run`'s.
pub const TRIGGER_TAG: &str = "wharf.trigger";

fn not_found(e: &AwsError) -> bool {
    e.code.as_deref() == Some("ResourceNotFoundException")
}

impl AwsTarget {
    /// The environment's schedule group.
    pub fn schedule_group(&self) -> String {
        group_name(&self.out.app, &self.out.env)
    }

    fn cluster_arn(&self) -> String {
        format!(
            "arn:aws:ecs:{}:{}:cluster/{}",
            self.out.region, self.out.account, self.out.cluster
        )
    }

    async fn ensure_schedule_group(&self) -> Result<(), AwsError> {
        let group = self.schedule_group();
        let action = format!("read schedule group {group}");
        match self
            .clients
            .scheduler
            .get_schedule_group()
            .name(&group)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&action, e))
        {
            Ok(_) => return Ok(()),
            Err(e) if not_found(&e) => {}
            Err(e) => return Err(e),
        }
        let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        let action = format!("create schedule group {group}");
        let tags = [
            tag("wharf.app", &self.out.app),
            tag("wharf.env", &self.out.env),
        ]
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(&action, e))?;
        self.clients
            .scheduler
            .create_schedule_group()
            .name(&group)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&action, e))?;
        Ok(())
    }

    /// The task definition the job's schedule runs, if it has one.
    pub(crate) async fn scheduled_task_definition(
        &self,
        job: &str,
    ) -> Result<Option<String>, AwsError> {
        Ok(self
            .read_schedule(job)
            .await?
            .map(|s| s.runs)
            .filter(|td| !td.is_empty()))
    }

    pub(crate) async fn aws_schedule(
        &self,
        spec: &ScheduleSpec<'_>,
    ) -> Result<Scheduled, TargetError> {
        let job = spec.job;
        let jo = self.out.job(&job.name).map_err(terr)?.clone();
        let action = format!("schedule job {}", job.name);
        let role = jo.schedule_role_arn.clone().ok_or_else(|| {
            terr(AwsError::new(
                &action,
                ErrorKind::NotFound,
                format!(
                    "the baseline has no schedule role for job {}: run `wharf up --env {}` (it adds one for each scheduled job)",
                    job.name, self.out.env
                ),
            ))
        })?;
        let run = JobSpec {
            job,
            run: spec.id,
            image: spec.image,
            platform: spec.platform,
            command: None,
            env: Vec::new(),
            trigger: Trigger::Schedule,
        };
        let td = self.register_job(&run, &[]).await.map_err(terr)?;
        self.ensure_schedule_group().await.map_err(terr)?;
        let vpc = AwsVpcConfiguration::builder()
            .set_subnets(Some(self.out.private_subnets.clone()))
            .security_groups(&jo.security_group)
            .assign_public_ip(AssignPublicIp::Disabled)
            .build()
            .map_err(|e| terr(invalid(&action, e)))?;
        let tags: HashMap<String, String> = [
            ("wharf.app", self.out.app.as_str()),
            ("wharf.env", self.out.env.as_str()),
            ("wharf.job", job.name.as_str()),
            ("wharf.deployment", spec.id),
            (TRIGGER_TAG, "schedule"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let ecs = EcsParameters::builder()
            .task_definition_arn(&td)
            .task_count(1)
            .enable_execute_command(true)
            .launch_type(LaunchType::Fargate)
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(vpc)
                    .build(),
            )
            .tags(tags)
            .build()
            .map_err(|e| terr(invalid(&action, e)))?;
        let target = Target::builder()
            .arn(self.cluster_arn())
            .role_arn(&role)
            .ecs_parameters(ecs)
            // A missed turn is not made up later: the next one comes.
            .retry_policy(RetryPolicy::builder().maximum_retry_attempts(0).build())
            .build()
            .map_err(|e| terr(invalid(&action, e)))?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|e| terr(invalid(&action, e)))?;
        let group = self.schedule_group();
        let description = format!(
            "wharf: job {} of {}-{}",
            job.name, self.out.app, self.out.env
        );
        let exists = self
            .scheduled_task_definition(&job.name)
            .await
            .map_err(terr)?
            .is_some();
        // CreateSchedule and UpdateSchedule take the same whole schedule.
        macro_rules! put {
            ($call:ident) => {
                self.clients
                    .scheduler
                    .$call()
                    .group_name(&group)
                    .name(&job.name)
                    .schedule_expression(spec.expression)
                    .flexible_time_window(window)
                    .target(target)
                    .state(ScheduleState::Enabled)
                    .description(&description)
                    .action_after_completion(ActionAfterCompletion::None)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| AwsError::from_sdk(&action, e))
            };
        }
        let sent = if exists {
            put!(update_schedule)
        } else {
            put!(create_schedule)
        };
        sent.map_err(terr)?;
        self.read_schedule(&job.name)
            .await
            .map_err(terr)?
            .ok_or_else(|| {
                terr(AwsError::new(
                    action,
                    ErrorKind::NotFound,
                    "the schedule made is not there",
                ))
            })
    }

    async fn read_schedule(&self, job: &str) -> Result<Option<Scheduled>, AwsError> {
        let action = format!("read the schedule of job {job}");
        let s = match self
            .clients
            .scheduler
            .get_schedule()
            .group_name(self.schedule_group())
            .name(job)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&action, e))
        {
            Ok(s) => s,
            Err(e) if not_found(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(Scheduled {
            job: job.to_owned(),
            expression: s.schedule_expression().unwrap_or_default().to_owned(),
            runs: s
                .target()
                .and_then(|t| t.ecs_parameters())
                .map(|p| p.task_definition_arn().to_owned())
                .unwrap_or_default(),
            since_ms: s
                .start_date()
                .or(s.creation_date())
                .map_or(0, |d| d.to_millis().unwrap_or(0)),
        }))
    }

    pub(crate) async fn aws_schedules(&self) -> Result<Vec<Scheduled>, TargetError> {
        let mut out = Vec::new();
        let names = schedule_names(&self.clients.scheduler, &self.schedule_group())
            .await
            .map_err(terr)?;
        for name in names {
            if let Some(s) = self.read_schedule(&name).await.map_err(terr)? {
                out.push(s);
            }
        }
        out.sort_by(|a, b| a.job.cmp(&b.job));
        Ok(out)
    }

    pub(crate) async fn aws_unschedule(&self, job: &str) -> Result<(), TargetError> {
        delete_schedule(&self.clients.scheduler, &self.schedule_group(), job)
            .await
            .map_err(terr)
    }

    /// The job's last run: its record, or the newest task of its family ECS knows when that
    /// started later (a run the schedule started).
    pub(crate) async fn aws_latest_run(&self, job: &Job) -> Result<Option<RunRecord>, TargetError> {
        let recorded = self.last_run(&job.name).await?;
        let seen = self.newest_job_task(job).await.map_err(terr)?;
        Ok(match (recorded, seen) {
            (Some(r), Some(t)) if t.started_ms > r.started_ms && t.task != r.task => Some(t),
            (Some(r), _) => Some(r),
            (None, t) => t,
        })
    }

    /// The newest task of the job's family, running or stopped, as a run.
    async fn newest_job_task(&self, job: &Job) -> Result<Option<RunRecord>, AwsError> {
        let family = self.names().task_family(&job.name);
        let action = format!("list the tasks of job {}", job.name);
        let mut arns = Vec::new();
        for status in [
            aws_sdk_ecs::types::DesiredStatus::Running,
            aws_sdk_ecs::types::DesiredStatus::Stopped,
        ] {
            let page = self
                .clients
                .ecs
                .list_tasks()
                .cluster(&self.out.cluster)
                .family(&family)
                .desired_status(status)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(&action, e))?;
            arns.extend(page.task_arns().iter().cloned());
        }
        if arns.is_empty() {
            return Ok(None);
        }
        arns.truncate(100);
        let out = self
            .clients
            .ecs
            .describe_tasks()
            .cluster(&self.out.cluster)
            .set_tasks(Some(arns))
            .include(aws_sdk_ecs::types::TaskField::Tags)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&action, e))?;
        let prefix = format!("/{family}:");
        let newest = out
            .tasks()
            .iter()
            .filter(|t| t.task_definition_arn().is_some_and(|a| a.contains(&prefix)))
            .max_by_key(|t| t.created_at().and_then(|d| d.to_millis().ok()));
        Ok(newest.map(|t| {
            let tag = |k: &str| {
                t.tags()
                    .iter()
                    .find(|tag| tag.key() == Some(k))
                    .and_then(|tag| tag.value())
            };
            let arn = t.task_arn().unwrap_or_default();
            let ms = |d: Option<&aws_smithy_types::DateTime>| d.and_then(|d| d.to_millis().ok());
            let end = task_end(t, &job.name);
            RunRecord {
                job: job.name.clone(),
                run: arn.rsplit('/').next().unwrap_or(arn).to_owned(),
                trigger: if tag(TRIGGER_TAG) == Some("schedule") {
                    Trigger::Schedule
                } else {
                    Trigger::Runtime
                },
                task: arn.to_owned(),
                image: t
                    .containers()
                    .first()
                    .and_then(|c| c.image())
                    .unwrap_or_default()
                    .to_owned(),
                started_ms: ms(t.started_at().or(t.created_at())).unwrap_or(0),
                ended_ms: ms(t.stopped_at()),
                end,
            }
        }))
    }
}

/// The environment's schedule group: `{app}-{env}`.
pub fn group_name(app: &str, env: &str) -> String {
    format!("{app}-{env}")
}

/// The names of the schedules in `group` (none when there is no such group).
async fn schedule_names(client: &Client, group: &str) -> Result<Vec<String>, AwsError> {
    let action = format!("list the schedules of group {group}");
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let page = match client
            .list_schedules()
            .group_name(group)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(&action, e))
        {
            Ok(p) => p,
            Err(e) if not_found(&e) => return Ok(names),
            Err(e) => return Err(e),
        };
        names.extend(
            page.schedules()
                .iter()
                .filter(|s| s.group_name() == Some(group))
                .filter_map(|s| s.name().map(str::to_owned)),
        );
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(names);
        }
    }
}

async fn delete_schedule(client: &Client, group: &str, name: &str) -> Result<(), AwsError> {
    let action = format!("delete schedule {name} of group {group}");
    match client
        .delete_schedule()
        .group_name(group)
        .name(name)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(&action, e))
    {
        Ok(_) => Ok(()),
        Err(e) if not_found(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Deletes the environment's schedule group and every schedule in it (`down`, before the
/// stacks: the schedules' roles are in the baseline), when the group carries the
/// environment's tags — else it is not wharf's and is refused. False when there was none.
pub async fn delete_group(client: &Client, app: &str, env: &str) -> Result<bool, AwsError> {
    let group = group_name(app, env);
    let action = format!("read schedule group {group}");
    let arn = match client.get_schedule_group().name(&group).send().await {
        Ok(g) => g.arn().unwrap_or_default().to_owned(),
        Err(e) => {
            let e = AwsError::from_sdk(&action, e);
            return if not_found(&e) { Ok(false) } else { Err(e) };
        }
    };
    let tags = client
        .list_tags_for_resource()
        .resource_arn(&arn)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("read the tags of schedule group {group}"), e))?;
    let has = |k: &str, v: &str| tags.tags().iter().any(|t| t.key() == k && t.value() == v);
    if !(has("wharf.app", app) && has("wharf.env", env)) {
        return Err(AwsError::new(
            format!("delete schedule group {group}"),
            ErrorKind::Other,
            format!("schedule group {group} does not carry the tags wharf.app={app} and wharf.env={env}: wharf did not make it and leaves it alone; delete it yourself if it is yours to delete"),
        ));
    }
    for name in schedule_names(client, &group).await? {
        delete_schedule(client, &group, &name).await?;
    }
    client
        .delete_schedule_group()
        .name(&group)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("delete schedule group {group}"), e))?;
    Ok(true)
}

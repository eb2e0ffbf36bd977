//! What each job keeps in the baseline, as a service does: its log group, its task role (its
//! own parameters; data grants come from the data stack), a security group that admits nothing
//! (a job is called by no one), for a job built from source its image repository and, for a
//! scheduled one, the role EventBridge Scheduler starts its tasks with. Named
//! like a service's resources (a job may not take a service's name), under `Job…` logical ids.

use serde_json::json;
use wharf_manifest::{Job, JobImage};

use crate::ctx::Ctx;
use crate::fns::{arn, get_att, r};
use crate::iam;
use crate::template::{logical_id, Resource, Template};

use super::network::VPC;
use super::observability::{repository, ssm_parameter_arns, task_trust, CLUSTER, EXECUTION_ROLE};

pub(crate) fn repository_id(job: &str) -> String {
    logical_id(&["job", job, "Repository"])
}

pub(crate) fn log_group_id(job: &str) -> String {
    logical_id(&["job", job, "LogGroup"])
}

pub(crate) fn task_role_id(job: &str) -> String {
    logical_id(&["job", job, "TaskRole"])
}

pub(crate) fn security_group_id(job: &str) -> String {
    logical_id(&["job", job, "SecurityGroup"])
}

pub(crate) fn schedule_role_id(job: &str) -> String {
    logical_id(&["job", job, "ScheduleRole"])
}

/// The role EventBridge Scheduler runs a scheduled job with: it may start tasks of the job's
/// family in the environment's cluster (and tag them), and pass the job's two roles to ECS
/// tasks; nothing else.
fn schedule_role(cx: &Ctx<'_>, j: &Job) -> Resource {
    let family = cx.names.task_family(&j.name);
    let role = cx.names.schedule_role(&j.name);
    let trust = iam::document(vec![json!({
        "Effect": "Allow",
        "Principal": { "Service": "scheduler.amazonaws.com" },
        "Action": ["sts:AssumeRole"],
        "Condition": { "StringEquals": { "aws:SourceAccount": { "Ref": "AWS::AccountId" } } },
    })]);
    let mut run = iam::allow(
        "RunTheJobsTasks",
        &["ecs:RunTask"],
        vec![arn("ecs", &format!("task-definition/{family}:*"))],
    );
    run["Condition"] = json!({ "ArnEquals": { "ecs:cluster": get_att(CLUSTER, "Arn") } });
    let tag = iam::allow(
        "TagTheJobsTasks",
        &["ecs:TagResource"],
        vec![arn("ecs", &format!("task/{}/*", cx.prefix()))],
    );
    let mut pass = iam::allow(
        "PassTheJobsRoles",
        &["iam:PassRole"],
        vec![
            get_att(&task_role_id(&j.name), "Arn"),
            get_att(EXECUTION_ROLE, "Arn"),
        ],
    );
    pass["Condition"] =
        json!({ "StringEquals": { "iam:PassedToService": "ecs-tasks.amazonaws.com" } });
    Resource::new(
        "AWS::IAM::Role",
        json!({
            "RoleName": role,
            "AssumeRolePolicyDocument": trust,
            "Policies": [iam::inline("schedule", vec![run, tag, pass])],
            "Tags": cx.job_tags(&role, &j.name),
        }),
    )
}

/// Whether the job's image is built from source (and so needs a repository of its own).
pub(crate) fn built(j: &Job) -> bool {
    matches!(j.image, JobImage::Build(_))
}

pub(crate) fn build(cx: &Ctx<'_>, t: &mut Template) {
    let p = cx.prefix();
    for j in cx.jobs() {
        let tags = |name: &str| cx.job_tags(name, &j.name);
        if built(j) {
            let repo = cx.names.repository(&j.name);
            let r = repository(cx, t, &repo, tags(&repo));
            t.add(repository_id(&j.name), r);
        }
        let group = cx.names.log_group(&j.name);
        t.add(
            log_group_id(&j.name),
            super::log_group(cx, &group, tags(&group)),
        );

        let role = cx.names.task_role(&j.name);
        let mut props = json!({
            "RoleName": role,
            "AssumeRolePolicyDocument": task_trust(),
            "ManagedPolicyArns": [{ "Ref": super::observability::EXEC_POLICY }],
            "Tags": tags(&role),
        });
        let ssm = ssm_parameter_arns(j.secrets.values());
        if !ssm.is_empty() {
            props["Policies"] = json!([iam::inline(
                "job",
                vec![iam::allow(
                    "ReadOwnParameters",
                    &["ssm:GetParameter", "ssm:GetParameters"],
                    ssm,
                )]
            )]);
        }
        t.add(
            task_role_id(&j.name),
            Resource::new("AWS::IAM::Role", props),
        );

        if j.schedule.is_some() {
            t.add(schedule_role_id(&j.name), schedule_role(cx, j));
        }
        t.add(
            security_group_id(&j.name),
            Resource::new(
                "AWS::EC2::SecurityGroup",
                json!({
                    "GroupDescription": format!("{p} job {}: no ingress", j.name),
                    "VpcId": r(VPC),
                    "SecurityGroupEgress": [{ "IpProtocol": "-1", "CidrIp": "0.0.0.0/0", "Description": "AWS APIs, registries and the job's own dependencies" }],
                    "Tags": tags(&format!("{p}-job-{}", j.name)),
                }),
            )
            .skip_check("CKV_AWS_382", "jobs call AWS APIs, registries and third-party APIs; nothing may reach them"),
        );
    }
}

pub(crate) fn outputs(cx: &Ctx<'_>, t: &mut Template, ex: Option<&str>) {
    for j in cx.jobs() {
        let id = |suffix: &str| logical_id(&["job", &j.name, suffix]);
        if built(j) {
            t.output(
                &id("RepositoryUri"),
                &format!("Image repository of job {}", j.name),
                get_att(&repository_id(&j.name), "RepositoryUri"),
                None,
            );
        }
        t.output(
            &id("LogGroup"),
            &format!("Log group of job {}", j.name),
            r(&log_group_id(&j.name)),
            None,
        );
        t.output(
            &id("TaskRoleArn"),
            &format!("Task role of job {}", j.name),
            get_att(&task_role_id(&j.name), "Arn"),
            None,
        );
        if j.schedule.is_some() {
            t.output(
                &id("ScheduleRoleArn"),
                &format!("Role EventBridge Scheduler runs job {} with", j.name),
                get_att(&schedule_role_id(&j.name), "Arn"),
                None,
            );
        }
        t.output(
            &id("SecurityGroup"),
            &format!("Security group of job {}", j.name),
            get_att(&security_group_id(&j.name), "GroupId"),
            ex,
        );
    }
}

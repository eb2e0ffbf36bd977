//! The environment's deploy role, when `[ci.github]` lists the environment: assumed only by
//! GitHub Actions runs of that repository (its branch for the first environment, its GitHub
//! environment of the same name for later ones) through the account's GitHub OIDC provider,
//! and allowed exactly what `wharf deploy`, `run`, `status`, `rollback`, `logs` and `diagnose`
//! call — on this environment's resources by name, or by tag where names are not known ahead.
//! A few read calls AWS offers no resource-level permission for are allowed on `*`, in this
//! region only. `wharf up` stays with an administrator: creating stacks takes far more.

use serde_json::{json, Value};
use wharf_manifest::GitHubCi;

use super::observability::{secret_arns, ssm_parameter_arns};
use crate::ctx::Ctx;
use crate::fns::{arn, sub};
use crate::iam;
use crate::template::{Resource, Template};

pub(crate) const DEPLOY_ROLE: &str = "DeployRole";

/// GitHub's OIDC issuer; the provider's ARN ends with it.
pub const GITHUB_ISSUER: &str = "token.actions.githubusercontent.com";

/// Actions AWS authorizes only on `*` (no resource-level permissions), all reads or
/// registrations that name no resource of another app: the deploy role's one `*` statement.
pub const UNSCOPED_ACTIONS: &[&str] = &[
    "ecr:GetAuthorizationToken",
    "ecs:DescribeTaskDefinition",
    "ecs:ListTaskDefinitions",
    "ecs:RegisterTaskDefinition",
    "ecs:DeregisterTaskDefinition",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeRules",
    "elasticloadbalancing:DescribeTags",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetHealth",
    "elasticloadbalancing:DescribeAccountLimits",
    "ec2:DescribeNatGateways",
    "ec2:DescribeRouteTables",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeVpcEndpoints",
    "cloudwatch:GetMetricData",
    "application-autoscaling:DescribeScalableTargets",
    "application-autoscaling:DescribeScalingPolicies",
    "scheduler:ListSchedules",
];

/// The trust policy's subject for an environment: the first deploys from the branch, later ones
/// from the GitHub environment of their name (where reviewers approve).
pub fn subject(ci: &GitHubCi, env: &str) -> String {
    if ci.environments.first().map(String::as_str) == Some(env) {
        format!("repo:{}:ref:refs/heads/{}", ci.repository, ci.branch)
    } else {
        format!("repo:{}:environment:{env}", ci.repository)
    }
}

pub(crate) fn build(cx: &Ctx<'_>, t: &mut Template) {
    let Some(ci) = &cx.manifest.ci else { return };
    if !ci.environments.contains(&cx.env.name) {
        return;
    }
    let name = GitHubCi::role_name(cx.app(), &cx.env.name);
    let trust = iam::document(vec![json!({
        "Effect": "Allow",
        "Principal": { "Federated": sub(&format!("arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:oidc-provider/{GITHUB_ISSUER}")) },
        "Action": ["sts:AssumeRoleWithWebIdentity"],
        "Condition": { "StringEquals": {
            format!("{GITHUB_ISSUER}:aud"): "sts.amazonaws.com",
            format!("{GITHUB_ISSUER}:sub"): subject(ci, &cx.env.name),
        } },
    })]);
    t.add(
        DEPLOY_ROLE,
        Resource::new(
            "AWS::IAM::Role",
            json!({
                "RoleName": name,
                "Description": format!("wharf deploys {} / {} from GitHub Actions ({})", cx.app(), cx.env.name, ci.repository),
                "MaxSessionDuration": 7200,
                "AssumeRolePolicyDocument": trust,
                "Policies": [iam::inline("deploy", statements(cx))],
                "Tags": cx.tags(&name),
            }),
        ),
    );
}

fn statements(cx: &Ctx<'_>) -> Vec<Value> {
    let p = cx.prefix();
    let env = &cx.env.name;
    let region_only = json!({ "StringEquals": { "aws:RequestedRegion": cx.aws.region } });
    let cluster = arn("ecs", &format!("cluster/{p}"));
    let lbs = [cx.names.load_balancer(), cx.names.internal_load_balancer()];
    let role = |pat: &str| {
        sub(&format!(
            "arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role/{pat}"
        ))
    };
    let with = |mut s: Value, cond: Value| {
        s["Condition"] = cond;
        s
    };
    let mut out = vec![
        with(
            iam::allow(
                "ReadWithoutResourceLevelPermissions",
                UNSCOPED_ACTIONS,
                vec![json!("*")],
            ),
            region_only.clone(),
        ),
        with(
            iam::allow(
                "ListInOwnCluster",
                &["ecs:ListServices", "ecs:ListTasks"],
                vec![json!("*")],
            ),
            json!({ "ArnEquals": { "ecs:cluster": cluster.clone() } }),
        ),
        iam::allow(
            "OwnServices",
            &[
                "ecs:CreateService",
                "ecs:UpdateService",
                "ecs:DeleteService",
                "ecs:DescribeServices",
                "ecs:TagResource",
                "ecs:ListTagsForResource",
            ],
            vec![arn("ecs", &format!("service/{p}/*")), cluster.clone()],
        ),
        // Task definitions are registered with tags, which takes TagResource on them.
        iam::allow(
            "TagOwnTaskDefinitions",
            &["ecs:TagResource"],
            vec![arn("ecs", &format!("task-definition/{p}-*:*"))],
        ),
        with(
            iam::allow(
                "RunOwnTasks",
                &["ecs:RunTask"],
                vec![arn("ecs", &format!("task-definition/{p}-*:*"))],
            ),
            json!({ "ArnEquals": { "ecs:cluster": cluster.clone() } }),
        ),
        iam::allow(
            "OwnTasks",
            &[
                "ecs:DescribeTasks",
                "ecs:StopTask",
                "ecs:TagResource",
                "ecs:ListTagsForResource",
            ],
            vec![arn("ecs", &format!("task/{p}/*"))],
        ),
        with(
            iam::allow(
                "PassOwnRoles",
                &["iam:PassRole"],
                vec![role(&format!("{p}-*"))],
            ),
            json!({ "StringEquals": { "iam:PassedToService": ["ecs-tasks.amazonaws.com", "scheduler.amazonaws.com"] } }),
        ),
        iam::allow(
            "CheckOwnRoles",
            &["iam:GetRole", "iam:SimulatePrincipalPolicy"],
            vec![role(&format!("{p}-*"))],
        ),
        iam::allow(
            "OwnTargetGroups",
            &[
                "elasticloadbalancing:CreateTargetGroup",
                "elasticloadbalancing:ModifyTargetGroupAttributes",
                "elasticloadbalancing:DeleteTargetGroup",
                "elasticloadbalancing:AddTags",
            ],
            vec![arn(
                "elasticloadbalancing",
                &format!("targetgroup/*-{env}-*/*"),
            )],
        ),
        iam::allow(
            "OwnListenerRules",
            &[
                "elasticloadbalancing:CreateRule",
                "elasticloadbalancing:ModifyRule",
                "elasticloadbalancing:DeleteRule",
                "elasticloadbalancing:AddTags",
            ],
            lbs.iter()
                .flat_map(|lb| {
                    [
                        arn("elasticloadbalancing", &format!("listener/app/{lb}/*")),
                        arn("elasticloadbalancing", &format!("listener-rule/app/{lb}/*")),
                    ]
                })
                .collect(),
        ),
        iam::allow(
            "OwnState",
            &[
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem",
                "dynamodb:DeleteItem",
                "dynamodb:Query",
            ],
            vec![
                arn("dynamodb", &format!("table/{}", cx.names.state_table())),
                arn(
                    "dynamodb",
                    &format!("table/{}/index/*", cx.names.state_table()),
                ),
            ],
        ),
        iam::allow(
            "OwnAlarms",
            &[
                "cloudwatch:PutMetricAlarm",
                "cloudwatch:DeleteAlarms",
                "cloudwatch:DescribeAlarms",
                "cloudwatch:TagResource",
                "cloudwatch:ListTagsForResource",
            ],
            vec![arn("cloudwatch", &format!("alarm:*-{env}-*"))],
        ),
        iam::allow(
            "OwnScaling",
            &[
                "application-autoscaling:RegisterScalableTarget",
                "application-autoscaling:DeregisterScalableTarget",
                "application-autoscaling:PutScalingPolicy",
                "application-autoscaling:DeleteScalingPolicy",
                "application-autoscaling:TagResource",
                "application-autoscaling:ListTagsForResource",
            ],
            vec![arn("application-autoscaling", "scalable-target/*")],
        ),
        iam::allow(
            "OwnImages",
            &[
                "ecr:BatchCheckLayerAvailability",
                "ecr:InitiateLayerUpload",
                "ecr:UploadLayerPart",
                "ecr:CompleteLayerUpload",
                "ecr:PutImage",
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
                "ecr:DescribeImages",
                "ecr:ListImages",
                "ecr:BatchDeleteImage",
                "ecr:DescribeImageScanFindings",
                "ecr:StartImageScan",
                "ecr:DescribeRepositories",
                "ecr:ListTagsForResource",
            ],
            vec![arn("ecr", &format!("repository/{}/{env}/*", cx.app()))],
        ),
        iam::allow(
            "ReadOwnStacks",
            &[
                "cloudformation:DescribeStacks",
                "cloudformation:DescribeStackResources",
                "cloudformation:ListStackResources",
                "cloudformation:DescribeStackEvents",
            ],
            vec![arn("cloudformation", &format!("stack/{p}-*/*"))],
        ),
        iam::allow(
            "ReadOwnLogs",
            &[
                "logs:FilterLogEvents",
                "logs:GetLogEvents",
                "logs:DescribeLogStreams",
                "logs:ListTagsForResource",
            ],
            vec![
                arn("logs", &format!("log-group:/aws/{}/{env}/*", cx.app())),
                arn(
                    "logs",
                    &format!("log-group:/aws/{}/{env}/*:log-stream:*", cx.app()),
                ),
            ],
        ),
        iam::allow(
            "OwnSchedules",
            &[
                "scheduler:CreateScheduleGroup",
                "scheduler:GetScheduleGroup",
                "scheduler:DeleteScheduleGroup",
                "scheduler:CreateSchedule",
                "scheduler:UpdateSchedule",
                "scheduler:GetSchedule",
                "scheduler:DeleteSchedule",
                "scheduler:TagResource",
                "scheduler:ListTagsForResource",
            ],
            vec![
                arn("scheduler", &format!("schedule-group/{p}")),
                arn("scheduler", &format!("schedule/{p}/*")),
            ],
        ),
    ];
    if !cx.env.data.is_empty() {
        out.push(iam::allow(
            "ReadOwnDatabases",
            &["rds:DescribeDBInstances", "rds:ListTagsForResource"],
            vec![arn("rds", &format!("db:{p}-*"))],
        ));
    }
    // The secrets deploys check and notifications read: exactly those the manifest references.
    let mut refs = cx.secret_refs();
    if let Some(w) = cx.manifest.notify.as_ref().and_then(|n| n.webhook.as_ref()) {
        refs.push(w);
    }
    let ssm = ssm_parameter_arns(refs.iter().copied());
    if !ssm.is_empty() {
        out.push(iam::allow(
            "ReadReferencedParameters",
            &["ssm:GetParameter", "ssm:ListTagsForResource"],
            ssm,
        ));
    }
    let secrets = secret_arns(refs.iter().copied());
    if !secrets.is_empty() {
        out.push(iam::allow(
            "ReadReferencedSecrets",
            &[
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetSecretValue",
            ],
            secrets,
        ));
    }
    if let Some(topic) = cx.manifest.notify.as_ref().and_then(|n| n.sns.as_ref()) {
        let topic = if topic.starts_with("arn:") {
            json!(topic)
        } else {
            arn("sns", topic)
        };
        out.push(iam::allow(
            "PublishDeployEvents",
            &[
                "sns:Publish",
                "sns:GetTopicAttributes",
                "sns:ListTagsForResource",
            ],
            vec![topic],
        ));
    }
    if crate::kms::has_key(cx) {
        let via: Vec<String> = ["dynamodb", "secretsmanager", "ssm", "logs"]
            .iter()
            .map(|s| format!("{s}.{}.amazonaws.com", cx.aws.region))
            .collect();
        out.push(with(
            iam::allow(
                "UseEnvironmentKeyThroughServices",
                &["kms:Decrypt", "kms:GenerateDataKey"],
                vec![crate::kms::baseline_key()],
            ),
            json!({ "StringEquals": { "kms:ViaService": via } }),
        ));
    }
    out
}

//! The cluster and what each service keeps across deployments: the ECS cluster (Container
//! Insights, FARGATE and FARGATE_SPOT), an ECR repository and a log group per service, the task
//! roles and the environment's execution role (least privilege), wharf's state table, and the
//! environment's alarms with their optional SNS topic.

use serde_json::{json, Value};
use wharf_manifest::{SecretRef, Service};

use crate::ctx::Ctx;
use crate::fns::{arn, get_att, r, sub};
use crate::iam;
use crate::template::{logical_id, Resource, Template};

use super::lb::ALB;

pub(crate) const CLUSTER: &str = "Cluster";
pub(crate) const EXECUTION_ROLE: &str = "ExecutionRole";
pub(crate) const STATE_TABLE: &str = "StateTable";
pub(crate) const ALARM_TOPIC: &str = "AlarmTopic";
/// The tag prefix that keeps an image out of the repository's count rule: the AWS target tags
/// the image of each deployment still present `keep-{deployment}` and removes the tag when
/// the deployment is retired.
pub const KEEP_TAG_PREFIX: &str = "keep-";
/// A bound on the kept images the first lifecycle rule allows (ECR wants a count).
const KEEP_TAGGED_MAX: u32 = 10_000;

pub(crate) fn repository_id(service: &str) -> String {
    logical_id(&["service", service, "Repository"])
}

pub(crate) fn log_group_id(service: &str) -> String {
    logical_id(&["service", service, "LogGroup"])
}

pub(crate) fn task_role_id(service: &str) -> String {
    logical_id(&["service", service, "TaskRole"])
}

pub(crate) fn build(cx: &Ctx<'_>, t: &mut Template) {
    let p = cx.prefix();
    if crate::kms::has_key(cx) {
        env_key(cx, t);
    }
    t.add(
        CLUSTER,
        Resource::new(
            "AWS::ECS::Cluster",
            json!({
                "ClusterName": cx.names.cluster(),
                "ClusterSettings": [{ "Name": "containerInsights", "Value": "enabled" }],
                "CapacityProviders": ["FARGATE", "FARGATE_SPOT"],
                "DefaultCapacityProviderStrategy": [{ "CapacityProvider": "FARGATE", "Weight": 1 }],
                "Tags": cx.tags(&cx.names.cluster()),
            }),
        ),
    );
    for s in cx.services() {
        service_resources(cx, t, s);
    }
    execution_role(cx, t);
    t.add(EXEC_POLICY, exec_policy());
    t.add(
        STATE_TABLE,
        Resource::new(
            "AWS::DynamoDB::Table",
            json!({
                "TableName": cx.names.state_table(),
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{ "AttributeName": "pk", "AttributeType": "S" }, { "AttributeName": "sk", "AttributeType": "S" }],
                "KeySchema": [{ "AttributeName": "pk", "KeyType": "HASH" }, { "AttributeName": "sk", "KeyType": "RANGE" }],
                "PointInTimeRecoverySpecification": { "PointInTimeRecoveryEnabled": true },
                "SSESpecification": { "SSEEnabled": true },
                "TimeToLiveSpecification": { "AttributeName": "expires_at", "Enabled": true },
                "DeletionProtectionEnabled": cx.aws.prod,
                "Tags": cx.tags(&cx.names.state_table()),
            }),
        )
        .retain()
        .skip_check("CKV_AWS_119", "encrypted at rest with the AWS-managed DynamoDB key; it holds deployment records, no user data"),
    );
    alarms(cx, t, &p);
}

/// An image repository: immutable tags, scanned on push, the newest `keep_images` images
/// kept — and every image tagged `keep-…` (wharf tags the image of each deployment still
/// present), which the first rule claims so the second cannot expire it. The lifecycle
/// policy, the same for every repository, is written once in the template's mappings.
pub(crate) fn repository(cx: &Ctx<'_>, t: &mut Template, name: &str, tags: Value) -> Resource {
    let keep = cx.aws.keep_images;
    let policy = json!({
        "rules": [{
            "rulePriority": 1,
            "description": "images of deployments still present (tagged keep-) stay",
            "selection": { "tagStatus": "tagged", "tagPrefixList": [KEEP_TAG_PREFIX], "countType": "imageCountMoreThan", "countNumber": KEEP_TAGGED_MAX },
            "action": { "type": "expire" },
        }, {
            "rulePriority": 2,
            "description": format!("keep the last {keep} images"),
            "selection": { "tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep },
            "action": { "type": "expire" },
        }]
    });
    Resource::new(
        "AWS::ECR::Repository",
        json!({
            "RepositoryName": name,
            "ImageTagMutability": "IMMUTABLE",
            "ImageScanningConfiguration": { "ScanOnPush": true },
            "EncryptionConfiguration": { "EncryptionType": "AES256" },
            "LifecyclePolicy": { "LifecyclePolicyText": t.mapping("Ecr", "Lifecycle", "Text", Value::String(policy.to_string())) },
            "Tags": tags,
        }),
    )
    .skip_check("CKV_AWS_136", "images are encrypted at rest with AES-256; a customer-managed key adds cost, not protection")
}

fn service_resources(cx: &Ctx<'_>, t: &mut Template, s: &Service) {
    let repo = cx.names.repository(&s.name);
    let r = repository(cx, t, &repo, cx.service_tags(&repo, &s.name));
    t.add(repository_id(&s.name), r);
    let group = cx.names.log_group(&s.name);
    let lg = super::log_group(cx, &group, cx.service_tags(&group, &s.name));
    t.add(log_group_id(&s.name), lg);

    // The task role: what the service's code may do. Grants on data resources are added by
    // the data stack, next to the resources they name; secrets it reads itself are granted here.
    let mut statements = Vec::new();
    let ssm = ssm_parameter_arns(s.secrets.values());
    if !ssm.is_empty() {
        statements.push(iam::allow(
            "ReadOwnParameters",
            &["ssm:GetParameter", "ssm:GetParameters"],
            ssm,
        ));
    }
    let mut props = json!({
        "RoleName": cx.names.task_role(&s.name),
        "AssumeRolePolicyDocument": task_trust(),
        "ManagedPolicyArns": [{ "Ref": EXEC_POLICY }],
        "Tags": cx.service_tags(&cx.names.task_role(&s.name), &s.name),
    });
    if !statements.is_empty() {
        props["Policies"] = json!([iam::inline("service", statements)]);
    }
    t.add(
        task_role_id(&s.name),
        Resource::new("AWS::IAM::Role", props),
    );
}

/// The policy every task role has for `wharf exec` (ECS Exec): the Session Manager channels
/// the ECS agent opens for a session. One managed policy, not a statement per role.
pub(crate) const EXEC_POLICY: &str = "ExecPolicy";

fn exec_policy() -> Resource {
    Resource::new(
        "AWS::IAM::ManagedPolicy",
        json!({
            "Description": "ECS Exec (wharf exec): the task's Session Manager channels",
            "PolicyDocument": iam::document(vec![iam::allow(
                "ExecChannels",
                &[
                    "ssmmessages:CreateControlChannel",
                    "ssmmessages:CreateDataChannel",
                    "ssmmessages:OpenControlChannel",
                    "ssmmessages:OpenDataChannel",
                ],
                vec![json!("*")],
            )]),
        }),
    )
    .skip_check("CKV_AWS_355", "the ssmmessages channel actions support no resource-level permissions; AWS documents Resource \"*\" for ECS Exec")
    .skip_check("CKV_AWS_290", "the ssmmessages channel actions support no resource-level permissions; they grant no write access to resources")
}

/// ECS tasks of this account may assume the role.
pub(crate) fn task_trust() -> Value {
    iam::document(vec![json!({
        "Effect": "Allow",
        "Principal": { "Service": "ecs-tasks.amazonaws.com" },
        "Action": ["sts:AssumeRole"],
        "Condition": { "StringEquals": { "aws:SourceAccount": { "Ref": "AWS::AccountId" } } },
    })])
}

pub(crate) fn ssm_parameter_arns<'a>(refs: impl Iterator<Item = &'a SecretRef>) -> Vec<Value> {
    let mut v: Vec<String> = refs
        .filter_map(|r| match r {
            SecretRef::Ssm { path } => Some(path.clone()),
            SecretRef::SecretsManager { .. } => None,
        })
        .collect();
    v.sort();
    v.dedup();
    v.into_iter()
        .map(|p| arn("ssm", &format!("parameter{p}")))
        .collect()
}

/// The ARNs of the Secrets Manager secrets among `refs` (the six random characters Secrets
/// Manager appends to a secret's ARN matched by `??????`).
pub(crate) fn secret_arns<'a>(refs: impl Iterator<Item = &'a SecretRef>) -> Vec<Value> {
    let mut v: Vec<String> = refs
        .filter_map(|r| match r {
            SecretRef::SecretsManager { name, .. } => Some(name.clone()),
            SecretRef::Ssm { .. } => None,
        })
        .collect();
    v.sort();
    v.dedup();
    v.into_iter()
        .map(|n| arn("secretsmanager", &format!("secret:{n}-??????")))
        .collect()
}

/// The environment's task execution role: pull from its repositories, write its log groups,
/// read only the secrets the services reference.
fn execution_role(cx: &Ctx<'_>, t: &mut Template) {
    let repos: Vec<Value> = cx
        .services()
        .map(|s| repository_id(&s.name))
        .chain(
            cx.jobs()
                .filter(|j| super::jobs::built(j))
                .map(|j| super::jobs::repository_id(&j.name)),
        )
        .map(|id| get_att(&id, "Arn"))
        .collect();
    let groups: Vec<Value> = cx
        .services()
        .map(|s| log_group_id(&s.name))
        .chain(cx.jobs().map(|j| super::jobs::log_group_id(&j.name)))
        .map(|id| sub(&format!("${{{id}.Arn}}")))
        .collect();
    let mut statements = vec![
        // GetAuthorizationToken has no resource-level permissions: AWS only accepts "*".
        iam::allow(
            "RegistryLogin",
            &["ecr:GetAuthorizationToken"],
            vec![json!("*")],
        ),
    ];
    if !repos.is_empty() {
        statements.push(iam::allow(
            "PullOwnImages",
            &[
                "ecr:BatchCheckLayerAvailability",
                "ecr:BatchGetImage",
                "ecr:GetDownloadUrlForLayer",
            ],
            repos,
        ));
    }
    if !groups.is_empty() {
        statements.push(iam::allow(
            "WriteOwnLogs",
            &["logs:CreateLogStream", "logs:PutLogEvents"],
            groups,
        ));
    }
    let refs = cx.secret_refs();
    let ssm = ssm_parameter_arns(refs.iter().copied());
    if !ssm.is_empty() {
        statements.push(iam::allow(
            "ReadReferencedParameters",
            &["ssm:GetParameters"],
            ssm,
        ));
    }
    let secrets = secret_arns(refs.iter().copied());
    if !secrets.is_empty() {
        statements.push(iam::allow(
            "ReadReferencedSecrets",
            &["secretsmanager:GetSecretValue"],
            secrets,
        ));
    }
    if crate::kms::has_key(cx) {
        statements.push(iam::allow(
            "UseLogKey",
            &["kms:Decrypt", "kms:GenerateDataKey"],
            vec![crate::kms::baseline_key()],
        ));
    }
    t.add(
        EXECUTION_ROLE,
        Resource::new(
            "AWS::IAM::Role",
            json!({
                "RoleName": cx.names.execution_role(),
                "AssumeRolePolicyDocument": task_trust(),
                "Policies": [iam::inline("execution", statements)],
                "Tags": cx.tags(&cx.names.execution_role()),
            }),
        ),
    );
}

/// The environment's customer-managed key ([`crate::kms`]): for everything with `kms`, for
/// the log groups only with `log_kms`.
fn env_key(cx: &Ctx<'_>, t: &mut Template) {
    // Explicit actions: no wildcard anywhere, not even in a key policy.
    let admin = [
        "kms:CancelKeyDeletion",
        "kms:CreateAlias",
        "kms:CreateGrant",
        "kms:Decrypt",
        "kms:DeleteAlias",
        "kms:DescribeKey",
        "kms:DisableKey",
        "kms:DisableKeyRotation",
        "kms:EnableKey",
        "kms:EnableKeyRotation",
        "kms:Encrypt",
        "kms:GenerateDataKey",
        "kms:GetKeyPolicy",
        "kms:GetKeyRotationStatus",
        "kms:ListAliases",
        "kms:ListGrants",
        "kms:ListKeyPolicies",
        "kms:ListResourceTags",
        "kms:PutKeyPolicy",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:RevokeGrant",
        "kms:ScheduleKeyDeletion",
        "kms:TagResource",
        "kms:UntagResource",
        "kms:UpdateAlias",
        "kms:UpdateKeyDescription",
    ];
    let what = if cx.aws.kms {
        "log groups, state table, data stores and secrets"
    } else {
        "log groups"
    };
    t.add(
        crate::kms::KEY,
        Resource::new(
            "AWS::KMS::Key",
            json!({
                "Description": format!("{} {what}", cx.prefix()),
                "EnableKeyRotation": true,
                "KeyPolicy": iam::document(vec![
                    json!({
                        "Sid": "AccountAdministers", "Effect": "Allow",
                        "Principal": { "AWS": sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root") },
                        "Action": admin, "Resource": "*",
                    }),
                    json!({
                        "Sid": "LogsUseTheKey", "Effect": "Allow",
                        "Principal": { "Service": sub("logs.${AWS::Region}.amazonaws.com") },
                        "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey", "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom", "kms:ReEncryptTo"],
                        "Resource": "*",
                        // Only the app's own log groups of this environment (and its WAF's).
                        "Condition": { "ArnLike": { "kms:EncryptionContext:aws:logs:arn": [
                            arn("logs", &format!("log-group:/aws/{}/{}/*", cx.app(), cx.env.name)),
                            arn("logs", &format!("log-group:aws-waf-logs-{}", cx.prefix())),
                        ] } },
                    }),
                ]),
                "Tags": cx.tags(&format!("{}-logs", cx.prefix())),
            }),
        )
        .retain(),
    );
}

fn alarms(cx: &Ctx<'_>, t: &mut Template, p: &str) {
    let actions: Vec<Value> = if cx.aws.alarm_email.is_some() {
        vec![r(ALARM_TOPIC)]
    } else {
        Vec::new()
    };
    if let Some(email) = &cx.aws.alarm_email {
        t.add(
            ALARM_TOPIC,
            Resource::new(
                "AWS::SNS::Topic",
                json!({
                    "TopicName": format!("{p}-alarms"),
                    "KmsMasterKeyId": "alias/aws/sns",
                    "Subscription": [{ "Protocol": "email", "Endpoint": email }],
                    "Tags": cx.tags(&format!("{p}-alarms")),
                }),
            ),
        );
    }
    let alb_dim =
        json!([{ "Name": "LoadBalancer", "Value": get_att(ALB, "LoadBalancerFullName") }]);
    let alarm = |name: &str, metric: &str, threshold: u32, what: &str| {
        Resource::new(
            "AWS::CloudWatch::Alarm",
            json!({
                "AlarmName": format!("{p}-{name}"),
                "AlarmDescription": what,
                "Namespace": "AWS/ApplicationELB",
                "MetricName": metric,
                "Dimensions": alb_dim,
                "Statistic": "Sum",
                "Period": 60,
                "EvaluationPeriods": 3,
                "DatapointsToAlarm": 2,
                "Threshold": threshold,
                "ComparisonOperator": "GreaterThanThreshold",
                "TreatMissingData": "notBreaching",
                "AlarmActions": actions,
                "OKActions": actions,
            }),
        )
    };
    t.add(
        "AlbErrorsAlarm",
        alarm(
            "alb-5xx",
            "HTTPCode_ELB_5XX_Count",
            10,
            "The load balancer answered 5xx itself (no healthy target, timeouts)",
        ),
    );
    t.add(
        "AlbTargetErrorsAlarm",
        alarm(
            "target-5xx",
            "HTTPCode_Target_5XX_Count",
            10,
            "The services answered 5xx",
        ),
    );
    t.add(
        "AlbRejectedAlarm",
        alarm(
            "alb-rejected",
            "RejectedConnectionCount",
            0,
            "The load balancer rejected connections (at its connection limit)",
        ),
    );
}

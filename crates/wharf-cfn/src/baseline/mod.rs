//! The baseline stack `{app}-{env}-baseline`: everything the environment's services share,
//! and the outputs (and exports) the engine and the other stacks read.

pub mod dashboard;
pub mod deploy_role;
mod internal;
mod jobs;
mod lb;
mod network;
pub(crate) mod observability;

use serde_json::Value;

use crate::ctx::Ctx;
use crate::fns::{get_att, join, r};
use crate::template::Template;

pub(crate) use lb::{deny_insecure_transport, hosted_zone_id, service_sg, ALB, HOSTED_ZONE_PARAM};
pub(crate) use network::subnet_ids;
pub(crate) use observability::task_role_id;

/// A log group with the environment's retention, encrypted with its key when it has one
/// (`kms`, or `log_kms`).
pub(crate) fn log_group(cx: &Ctx<'_>, name: &str, tags: Value) -> crate::template::Resource {
    let mut props = serde_json::json!({ "LogGroupName": name, "RetentionInDays": cx.aws.log_retention, "Tags": tags });
    if crate::kms::has_key(cx) {
        props["KmsKeyId"] = crate::kms::baseline_key();
        return crate::template::Resource::new("AWS::Logs::LogGroup", props);
    }
    crate::template::Resource::new("AWS::Logs::LogGroup", props).skip_check(
        "CKV_AWS_158",
        "encrypted by CloudWatch Logs' own key; set kms = true for a customer-managed key",
    )
}

pub(crate) fn template(cx: &Ctx<'_>) -> Template {
    let mut t = Template::new(format!(
        "wharf baseline of {} / {}: network, load balancer, cluster, registries, logs, roles, state",
        cx.app(),
        cx.env.name
    ));
    network::build(cx, &mut t);
    lb::build(cx, &mut t);
    internal::build(cx, &mut t);
    observability::build(cx, &mut t);
    jobs::build(cx, &mut t);
    deploy_role::build(cx, &mut t);
    dashboard::build(cx, &mut t);
    crate::kms::encrypt_baseline(cx, &mut t);
    outputs(cx, &mut t);
    t
}

fn outputs(cx: &Ctx<'_>, t: &mut Template) {
    let stack = cx.names.baseline_stack();
    let ex = Some(stack.as_str());
    let list = |ids: Vec<String>| join(",", ids.iter().map(|i| r(i)).collect::<Vec<Value>>());
    t.output("VpcId", "The environment's VPC", r(network::VPC), ex);
    if t.resources.contains_key(deploy_role::DEPLOY_ROLE) {
        t.output(
            "DeployRoleArn",
            "The role GitHub Actions assumes to deploy (wharf ci github)",
            get_att(deploy_role::DEPLOY_ROLE, "Arn"),
            None,
        );
    }
    t.output(
        "VpcCidr",
        "The VPC's address block",
        get_att(network::VPC, "CidrBlock"),
        ex,
    );
    t.output(
        "PublicSubnets",
        "Public subnets (load balancer), comma-separated",
        list(subnet_ids("Public", cx.aws.azs)),
        ex,
    );
    t.output(
        "PrivateSubnets",
        "Private subnets (tasks), comma-separated",
        list(subnet_ids("Private", cx.aws.azs)),
        ex,
    );
    if cx.has_database_subnets() {
        t.output(
            "DatabaseSubnets",
            "Database subnets, comma-separated",
            list(subnet_ids("Database", cx.aws.azs)),
            ex,
        );
    }
    t.output(
        "LoadBalancerArn",
        "The application load balancer",
        r(ALB),
        ex,
    );
    t.output(
        "LoadBalancerDnsName",
        "The load balancer's DNS name",
        get_att(ALB, "DNSName"),
        ex,
    );
    t.output(
        "LoadBalancerHostedZoneId",
        "The load balancer's canonical hosted zone",
        get_att(ALB, "CanonicalHostedZoneID"),
        ex,
    );
    t.output(
        "LoadBalancerSecurityGroup",
        "The load balancer's security group",
        get_att(lb::ALB_SG, "GroupId"),
        ex,
    );
    if !internal::internal(cx).is_empty() {
        t.output(
            "InternalLoadBalancerArn",
            "The internal load balancer",
            r(internal::ILB),
            ex,
        );
        t.output(
            "InternalLoadBalancerSecurityGroup",
            "The internal load balancer's security group",
            get_att(internal::ILB_SG, "GroupId"),
            ex,
        );
    }
    t.output(
        "HttpListenerArn",
        "The HTTP listener",
        r(lb::HTTP_LISTENER),
        ex,
    );
    if cx.aws.domain.is_some() {
        t.output(
            "HttpsListenerArn",
            "The HTTPS listener (deployments' rules go here)",
            r(lb::HTTPS_LISTENER),
            ex,
        );
    }
    t.output(
        "ClusterName",
        "The ECS cluster",
        r(observability::CLUSTER),
        ex,
    );
    t.output(
        "ClusterArn",
        "The ECS cluster's ARN",
        get_att(observability::CLUSTER, "Arn"),
        ex,
    );
    t.output(
        "ExecutionRoleArn",
        "The task execution role",
        get_att(observability::EXECUTION_ROLE, "Arn"),
        ex,
    );
    t.output(
        "StateTableName",
        "wharf's deployment records and locks",
        r(observability::STATE_TABLE),
        ex,
    );
    if cx.aws.kms {
        t.output(
            crate::kms::KEY_OUTPUT,
            "The environment's key (data stores, secrets, logs, state)",
            crate::kms::baseline_key(),
            ex,
        );
    }
    if cx.aws.alarm_email.is_some() {
        t.output(
            "AlarmTopicArn",
            "Where the environment's alarms notify",
            r(observability::ALARM_TOPIC),
            ex,
        );
    }
    // Per service and job, only the security group is exported: the data stack admits it.
    // The rest is read by wharf from the outputs, never imported by another stack.
    for s in cx.services() {
        let id = |suffix: &str| crate::template::logical_id(&["service", &s.name, suffix]);
        t.output(
            &id("RepositoryUri"),
            &format!("Image repository of {}", s.name),
            get_att(&observability::repository_id(&s.name), "RepositoryUri"),
            None,
        );
        t.output(
            &id("LogGroup"),
            &format!("Log group of {}", s.name),
            r(&observability::log_group_id(&s.name)),
            None,
        );
        t.output(
            &id("TaskRoleArn"),
            &format!("Task role of {}", s.name),
            get_att(&task_role_id(&s.name), "Arn"),
            None,
        );
        t.output(
            &id("TaskRoleName"),
            &format!("Task role name of {}", s.name),
            r(&task_role_id(&s.name)),
            None,
        );
        if s.internal.is_some() {
            t.output(
                &internal::listener_id(&s.name),
                &format!("Internal listener of {}", s.name),
                r(&internal::listener_id(&s.name)),
                None,
            );
        }
        t.output(
            &id("SecurityGroup"),
            &format!("Security group of {}", s.name),
            get_att(&service_sg(&s.name), "GroupId"),
            ex,
        );
    }
    jobs::outputs(cx, t, ex);
}

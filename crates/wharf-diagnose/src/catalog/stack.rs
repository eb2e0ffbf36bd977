//! A CloudFormation stack of the environment that failed: one rule per cause of the stack
//! classification (`wharf up` and `wharf recover` report the same causes).

use wharf_engine::Source::Stack;

use super::detail::missing_action;
use crate::rule::{Matcher, Rule};
use crate::stack::Cause;

macro_rules! stack_rule {
    ($id:literal, $cause:ident, $why:literal, $example:literal) => {
        Rule {
            id: $id,
            title: Cause::$cause.title(),
            cause: $why,
            fix: Cause::$cause.action(),
            matcher: Matcher::Stack(Cause::$cause),
            example: (Stack, $example),
            detail: Some(missing_action),
        }
    };
}

pub static RULES: &[Rule] = &[
    stack_rule!("stack-name-taken", NameTaken,
        "a resource the stack creates has a fixed name that a resource outside the stack already uses (left over from an earlier environment, or made by hand)",
        "pulse-prod-web already exists in stack arn:aws:cloudformation:eu-west-1:123456789012:stack/old/1"),
    stack_rule!("stack-permissions", Permissions,
        "the credentials running `wharf up` lack a permission CloudFormation needed to create, change or delete a resource",
        "Resource handler returned message: \"User: arn:aws:sts::123456789012:assumed-role/deploy/x is not authorized to perform: iam:CreateRole on resource: arn:aws:iam::123456789012:role/pulse-prod-exec\" (Service: Iam, Status Code: 403)"),
    stack_rule!("stack-quota", Quota,
        "an account quota for a resource type in this region is reached (VPCs, Elastic IPs, NAT gateways, load balancers)",
        "The maximum number of VPCs has been reached. (Service: Ec2, Status Code: 400, Request ID: x)"),
    stack_rule!("stack-throttled", Throttled,
        "AWS throttled the calls CloudFormation made for the stack",
        "Resource handler returned message: \"Rate exceeded (Service: ElasticLoadBalancingV2, Status Code: 400)\""),
    stack_rule!("stack-missing-export", MissingExport,
        "the stack imports a value another of the environment's stacks exports, and that stack does not exist (yet, or any more)",
        "No export named pulse-prod-baseline-VpcId found. Rollback requested by user."),
    stack_rule!("stack-in-use", InUse,
        "something outside the stack still uses a resource or an export the change removes",
        "Export pulse-prod-baseline-VpcId cannot be deleted as it is in use by pulse-prod-data"),
    stack_rule!("stack-not-empty", NotEmpty,
        "a bucket or repository the stack deletes still holds objects or images",
        "The bucket you tried to delete is not empty (Service: S3, Status Code: 409)"),
    stack_rule!("stack-certificate", Certificate,
        "the certificate for the environment's domain is missing, not yet issued, or does not cover the domain",
        "Certificate 'arn:aws:acm:eu-west-1:123456789012:certificate/abc' not found (Service: ElasticLoadBalancingV2, Status Code: 400)"),
    stack_rule!("stack-not-stabilized", NotStabilized,
        "a resource was created but never became ready (an ECS service whose tasks keep failing, a database that does not come up)",
        "Resource handler returned message: \"Exceeded attempts to wait\" (HandlerErrorCode: NotStabilized) ... Service did not stabilize"),
    stack_rule!("stack-invalid-property", InvalidProperty,
        "AWS refused a property value of a resource (a CPU/memory pair Fargate does not offer, a name too long)",
        "Resource handler returned message: \"Invalid request provided: Invalid CPU or memory value specified\""),
    stack_rule!("stack-failed", Unknown,
        "a resource of the stack failed for a reason no other rule recognises",
        "Internal Failure"),
];

//! What the account and the region refuse: capacity, quotas, addresses, permissions,
//! throttling, and ECS giving a deployment up.

use wharf_engine::Source::{self, *};

use super::detail::missing_action;
use crate::rule::{Matcher, Rule};

/// The runtime's own words: events, stop reasons, ECS giving up, the record quoting them.
const RUNTIME: &[Source] = &[Event, Stopped, Runtime, Record];

const fn said(any: &'static [&'static str]) -> Matcher {
    Matcher::Text {
        sources: RUNTIME,
        all: &[],
        any,
        none: &[],
    }
}

pub static RULES: &[Rule] = &[
    Rule {
        id: "circuit-breaker",
        title: "ECS's circuit breaker gave the deployment up",
        cause: "ECS saw too many tasks of the deployment fail to start or to stay healthy and marked it FAILED; the tasks' own stop reasons (above, when ECS still has them) say why",
        fix: "fix what the stopped tasks' reasons and the last log lines say, then `wharf deploy`",
        matcher: said(&["circuit breaker", "deployment failed: tasks failed to start", "ecs marked the deployment failed", "unable to consistently start tasks"]),
        example: (Runtime, "ECS deployment circuit breaker: tasks failed to start."),
        detail: None,
    },
    Rule {
        id: "spot-interrupted",
        title: "Fargate Spot took the tasks back",
        cause: "AWS reclaimed the Spot capacity the tasks ran on (two minutes' notice); a deployment running only on Spot can lose every task at once",
        fix: "run the service on regular Fargate (`capacity = \"fargate\"`, the default) in production; keep Spot for jobs and non-production environments",
        matcher: said(&["spotinterruption", "spot task was interrupted"]),
        example: (Stopped, "SpotInterruption: Your Spot Task was interrupted."),
        detail: None,
    },
    Rule {
        id: "capacity-unavailable",
        title: "Fargate has no capacity for the task right now",
        cause: "the Availability Zone (or Fargate Spot) had no capacity for the task's size at that moment",
        fix: "deploy again in a few minutes; spread the environment over more Availability Zones (`azs = 3`); use `capacity = \"fargate\"` rather than Spot for services",
        matcher: said(&["capacity is unavailable", "insufficient capacity", "no fargate capacity", "resource:fargate"]),
        example: (Event, "(service pulse-prod-web-20261202-1010) was unable to place a task. Reason: Capacity is unavailable at this time. Please try again later or in a different availability zone."),
        detail: None,
    },
    Rule {
        id: "subnet-addresses",
        title: "the subnets have no free IP addresses",
        cause: "every Fargate task takes one IP address of its subnet; the environment's subnets are full (small CIDR blocks, or many tasks during a deployment that doubles them)",
        fix: "give the environment a larger `cidr` (recreating it) or more Availability Zones (`azs = 3`); or lower `count`, or use a rolling deployment that adds fewer tasks at once",
        matcher: said(&["free addresses", "ip addresses available", "insufficientfreeaddressesinsubnet", "no available ip"]),
        example: (Event, "(service pulse-prod-web-20261202-1010) failed to launch a task with (error ENI provisioning failed: InsufficientFreeAddressesInSubnet: insufficient free addresses in subnet subnet-0abc)"),
        detail: None,
    },
    Rule {
        id: "throttled",
        title: "AWS throttled the calls",
        cause: "the account's API rate for ECS, ELB or CloudWatch was exceeded, by wharf or by other tools in the same account",
        fix: "wait a minute and run `wharf deploy --resume`; if it keeps happening, find what else calls the same APIs in the account",
        matcher: said(&["rate exceeded", "throttl", "toomanyrequestsexception"]),
        example: (Event, "(service pulse-prod-web-20261202-1010) failed to launch a task with (error Rate exceeded (Service: AmazonEC2; Status Code: 503; Error Code: RequestLimitExceeded))"),
        detail: None,
    },
    Rule {
        id: "task-quota",
        title: "an account quota stops new tasks",
        cause: "the account reached a Fargate quota in this region (concurrent vCPUs, or tasks launched per service per minute); a deployment that doubles the tasks reaches it first",
        fix: "ask for a higher Fargate vCPU quota in the Service Quotas console (`wharf validate --remote` shows the headroom), or deploy with fewer extra tasks at once",
        matcher: said(&["reached the limit on the number of", "vcpu limit", "limitexceeded", "quota", "you've reached the limit", "you\u{2019}ve reached the limit"]),
        example: (Event, "(service pulse-prod-web-20261202-1010) failed to launch a task with (error You've reached the limit on the number of vCPUs you can run concurrently)"),
        detail: None,
    },
    Rule {
        id: "role-not-assumable",
        title: "ECS cannot assume the task's role",
        cause: "the task role or execution role does not exist any more, or its trust policy does not trust ecs-tasks.amazonaws.com",
        fix: "run `wharf up` to restore the environment's roles (never edit their trust policies by hand), then `wharf deploy`",
        matcher: said(&["unable to assume the role", "unable to assume role"]),
        example: (Event, "(service pulse-prod-web-20261202-1010) failed to launch a task with (error ECS was unable to assume the role 'arn:aws:iam::123456789012:role/pulse-prod-web-task' that was provided for this task. Please verify that the role being passed has the proper trust relationship and permissions and that your IAM user has permissions to pass this role.)"),
        detail: None,
    },
    Rule {
        id: "access-denied",
        title: "a call was refused: a permission is missing",
        cause: "the role making the call lacks the permission the message names (the deploying credentials, the task role, or the execution role: the message's principal says which)",
        fix: "grant the named action on the named resource to the principal in the message (for wharf's own roles, `wharf up` puts back what it manages; for the deploying credentials, see the README's permissions list), then retry",
        matcher: said(&["not authorized to perform", "accessdenied", "access denied"]),
        example: (Event, "(service pulse-prod-web-20261202-1010) failed to launch a task with (error User: arn:aws:sts::123456789012:assumed-role/pulse-deploy/ci is not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/pulse-prod-web-task)"),
        detail: Some(missing_action),
    },
];

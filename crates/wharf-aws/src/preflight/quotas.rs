//! The quotas a deployment runs into, against current usage and what a deployment of every
//! service at once adds: listener rules and target groups per load balancer (from ELBv2's
//! DescribeAccountLimits), condition values per rule, and ECS services per cluster (ECS has no
//! API for it: its documented default, 5,000, is used).

use aws_sdk_elasticloadbalancingv2 as elb;
use wharf_manifest::StrategyKind;

use super::{Check, Context, Finding};
use crate::error::AwsError;

/// ECS's services-per-cluster quota (Service Quotas L-9EF96962, not adjustable).
const ECS_SERVICES_PER_CLUSTER: usize = 5000;
/// ALB defaults, used when DescribeAccountLimits does not list a limit.
const RULES_PER_ALB: usize = 100;
const TARGET_GROUPS_PER_ALB: usize = 100;
const CONDITION_VALUES_PER_RULE: usize = 5;

pub(super) async fn check(cx: &Context<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let client = elb::Client::new(&cx.access.config);
    let limits = match client.describe_account_limits().send().await {
        Ok(out) => out
            .limits()
            .iter()
            .filter_map(|l| Some((l.name()?.to_owned(), l.max()?.parse::<f64>().ok()? as usize)))
            .collect::<Vec<_>>(),
        Err(e) => {
            let e = AwsError::from_sdk(
                "read the load balancer quotas (elasticloadbalancing:DescribeAccountLimits)",
                e,
            );
            findings.push(Finding::failed(Check::Quota, "load balancer", &e));
            Vec::new()
        }
    };
    let limit = |name: &str, default: usize| {
        limits
            .iter()
            .find(|(n, _)| n == name)
            .map_or(default, |(_, v)| *v)
    };

    // Condition values per rule: the routing's hosts and paths, plus the header or cookie
    // value of the test route and the affinity rules.
    let per_rule = limit("condition-values-per-alb-rule", CONDITION_VALUES_PER_RULE);
    for s in cx.env.services.values() {
        let Some(r) = &s.routing else { continue };
        let extra = usize::from(
            matches!(
                s.deploy.strategy,
                StrategyKind::BlueGreen | StrategyKind::Affinity
            ) || !s.deploy.smoke.is_empty(),
        );
        let values = r.hosts.len() + r.paths.len() + extra;
        if values > per_rule {
            findings.push(Finding::error(
                Check::Quota,
                format!("service {}", s.name),
                format!(
                    "its rules need {values} condition values ({} host(s), {} path(s){}), over the load balancer's {per_rule} per rule",
                    r.hosts.len(),
                    r.paths.len(),
                    if extra > 0 { ", the test header or affinity value" } else { "" }
                ),
                "route fewer hosts and paths (a wildcard such as /api/* instead of several paths), or split the service",
            ));
        }
    }

    let Some(lb) = cx.baseline("LoadBalancerArn") else {
        findings.push(cx.not_up(Check::Quota, "load balancer usage"));
        return findings;
    };
    let routed: Vec<_> = cx
        .env
        .services
        .values()
        .filter(|s| s.routing.is_some())
        .collect();
    // A deployment of every routed service at once: each a target group, its base rule
    // (counted in case it is the first), a test route, affinity's two sticky rules.
    let new_groups = cx.env.services.len();
    let new_rules: usize = routed
        .iter()
        .map(|s| {
            1 + match s.deploy.strategy {
                StrategyKind::Affinity => 2,
                StrategyKind::BlueGreen => 1,
                _ => usize::from(!s.deploy.smoke.is_empty()),
            }
        })
        .sum();
    match usage(&client, lb).await {
        Ok((rules, groups)) => {
            findings.push(against(
                "rules on the load balancer",
                rules,
                new_rules,
                limit("rules-per-application-load-balancer", RULES_PER_ALB),
                "remove deployments no longer needed (`wharf gc`), or request more rules per Application Load Balancer in Service Quotas",
            ));
            findings.push(against(
                "target groups on the load balancer",
                groups,
                new_groups,
                limit("target-groups-per-application-load-balancer", TARGET_GROUPS_PER_ALB),
                "remove deployments no longer needed (`wharf gc`, a lower drain.keep), or request more target groups per Application Load Balancer in Service Quotas",
            ));
        }
        Err(e) => findings.push(Finding::failed(Check::Quota, "load balancer usage", &e)),
    }
    if let Some(cluster) = cx.baseline("ClusterName") {
        match services(cx, cluster).await {
            Ok(n) => findings.push(against(
                "ECS services in the cluster",
                n,
                cx.env.services.len(),
                ECS_SERVICES_PER_CLUSTER,
                "remove deployments no longer needed (`wharf gc`), or spread the services over environments",
            )),
            Err(e) => findings.push(Finding::failed(Check::Quota, "cluster usage", &e)),
        }
    }
    findings
}

/// Usage against a limit: an error when a deployment would cross it, a warning past 80%.
fn against(what: &str, used: usize, adds: usize, limit: usize, fix: &str) -> Finding {
    let message =
        format!("{used} of {limit} used; a deployment of every service adds up to {adds}");
    if used + adds > limit {
        Finding::error(
            Check::Quota,
            what,
            format!("{message}: it would not fit"),
            fix,
        )
    } else if (used + adds) * 5 > limit * 4 {
        Finding::warning(Check::Quota, what, format!("{message}: over 80%"), fix)
    } else {
        Finding::ok(Check::Quota, what, message)
    }
}

/// Non-default rules on the load balancer's listeners, and its target groups.
async fn usage(client: &elb::Client, lb: &str) -> Result<(usize, usize), AwsError> {
    let listeners = client
        .describe_listeners()
        .load_balancer_arn(lb)
        .send()
        .await
        .map_err(|e| {
            AwsError::from_sdk(
                "list the load balancer's listeners (elasticloadbalancing:DescribeListeners)",
                e,
            )
        })?;
    let mut rules = 0;
    for l in listeners.listeners() {
        let Some(arn) = l.listener_arn() else {
            continue;
        };
        let mut marker = None;
        loop {
            let out = client
                .describe_rules()
                .listener_arn(arn)
                .set_marker(marker)
                .send()
                .await
                .map_err(|e| {
                    AwsError::from_sdk(
                        "list the listener's rules (elasticloadbalancing:DescribeRules)",
                        e,
                    )
                })?;
            rules += out
                .rules()
                .iter()
                .filter(|r| r.is_default() != Some(true))
                .count();
            marker = out.next_marker().map(str::to_owned);
            if marker.is_none() {
                break;
            }
        }
    }
    let mut groups = 0;
    let mut marker = None;
    loop {
        let out = match client
            .describe_target_groups()
            .load_balancer_arn(lb)
            .set_marker(marker)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let e = AwsError::from_sdk("list the load balancer's target groups (elasticloadbalancing:DescribeTargetGroups)", e);
                // Some emulators answer TargetGroupNotFound for a load balancer with none.
                if e.kind == crate::ErrorKind::NotFound {
                    break;
                }
                return Err(e);
            }
        };
        groups += out.target_groups().len();
        marker = out.next_marker().map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    Ok((rules, groups))
}

/// Active ECS services in the cluster (ListServices also lists draining ones).
async fn services(cx: &Context<'_>, cluster: &str) -> Result<usize, AwsError> {
    let ecs = aws_sdk_ecs::Client::new(&cx.access.config);
    let names = crate::ecs::service::names(&ecs, cluster).await?;
    let mut active = 0;
    for chunk in names.chunks(10) {
        let out = ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk("describe the cluster's services (ecs:DescribeServices)", e)
            })?;
        active += out
            .services()
            .iter()
            .filter(|s| s.status() != Some("INACTIVE"))
            .count();
    }
    Ok(active)
}

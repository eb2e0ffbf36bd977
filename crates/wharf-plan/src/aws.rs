//! The plan of an AWS environment: the baseline, data and edge stacks `wharf up` creates, and
//! per service the shared resources and what each deployment creates through the APIs.

use wharf_manifest::names::rule_block;
use wharf_manifest::{Environment, JobImage, Manifest, Names, StrategyKind};

use crate::{summary, Group, Plan, Resource, RulePriorities, ServicePlan};

pub(crate) fn plan(p: &mut Plan, names: &Names<'_>, manifest: &Manifest, env: &Environment) {
    // The stacks exactly as `wharf render` prints them and `wharf up` creates them.
    for stack in wharf_cfn::synthesize(manifest, env).unwrap_or_default() {
        let resources = stack
            .template
            .resources
            .iter()
            .map(|(id, r)| stack_resource(id, r))
            .collect();
        p.groups.push(Group {
            name: stack.name,
            kind: "cloudformation-stack".into(),
            resources,
        });
    }
    if manifest
        .ci
        .as_ref()
        .is_some_and(|ci| ci.environments.contains(&env.name))
    {
        p.groups.push(Group {
            name: "account".into(),
            kind: "iam".into(),
            resources: vec![Resource::new(
                "AWS::IAM::OIDCProvider",
                "token.actions.githubusercontent.com",
            )
            .with(
                "GitHub's, shared by the account: made by `wharf up` when missing, never deleted",
            )],
        });
    }
    for s in env.services_by_priority() {
        let id = names.deployment_id_pattern();
        let mut shared = Vec::new();
        let mut per = vec![
            Resource::new(
                "image",
                format!("{}:{}", names.repository(&s.name), names.image_tag(&id)),
            ),
            Resource::new(
                "AWS::ECS::TaskDefinition",
                format!("{}:N", names.task_family(&s.name)),
            )
            .with(format!(
                "Fargate {} CPU / {} MiB, DEPLOYMENT_ID={id}",
                s.cpu, s.memory
            )),
        ];
        let priorities = s.routing.as_ref().map(|r| {
            let (base, range) = rule_block(r.priority);
            RulePriorities {
                routing_priority: r.priority,
                base_rule: base,
                deployment_rules: [*range.start(), *range.end()],
            }
        });
        let health = format!(
            "GET {} every {}, healthy {}, unhealthy {}, deregistration {}",
            s.health.path,
            s.health.interval,
            s.health.healthy,
            s.health.unhealthy,
            s.deploy.drain.timeout
        );
        if s.deploy.strategy == StrategyKind::Rolling {
            if s.routed() {
                shared.push(
                    Resource::new(
                        "AWS::ElasticLoadBalancingV2::TargetGroup",
                        names.rolling_target_group(&s.name),
                    )
                    .with(health),
                );
            }
            if let Some(pr) = &priorities {
                shared.push(
                    Resource::new(
                        "AWS::ElasticLoadBalancingV2::ListenerRule",
                        format!("priority {}", pr.base_rule),
                    )
                    .with(route(s)),
                );
            }
            shared.push(
                Resource::new("AWS::ECS::Service", names.rolling_ecs_service(&s.name))
                    .with(format!("{}, circuit breaker with rollback", s.capacity)),
            );
        } else {
            if let Some(pr) = &priorities {
                shared.push(
                    Resource::new(
                        "AWS::ElasticLoadBalancingV2::ListenerRule",
                        format!("priority {}", pr.base_rule),
                    )
                    .with(format!(
                        "{}; weighted forward to the live deployments",
                        route(s)
                    )),
                );
            }
            per.push(
                Resource::new(
                    "AWS::ElasticLoadBalancingV2::TargetGroup",
                    names.target_group(&s.name, &id),
                )
                .with(health),
            );
            if let Some(pr) = &priorities {
                let what = match s.deploy.strategy {
                    StrategyKind::Affinity => format!("{} = {id}", s.deploy.affinity.header),
                    StrategyKind::BlueGreen => {
                        format!("{} header (test route)", s.deploy.blue_green.test_header)
                    }
                    _ => "created before the ECS service, so the target group is attached".into(),
                };
                per.push(
                    Resource::new(
                        "AWS::ElasticLoadBalancingV2::ListenerRule",
                        format!(
                            "priority {}–{}",
                            pr.deployment_rules[0], pr.deployment_rules[1]
                        ),
                    )
                    .with(what),
                );
            }
            per.push(
                Resource::new("AWS::ECS::Service", names.ecs_service(&s.name, &id)).with(format!(
                    "{} × {}, private subnets, no public IP",
                    s.count, s.capacity
                )),
            );
        }
        if let Some(a) = &s.autoscaling {
            per.push(
                Resource::new(
                    "AWS::ApplicationAutoScaling::ScalingPolicy",
                    format!("on the deployment's ECS service, {}–{} tasks", a.min, a.max),
                )
                .with(a.policies().join(", ")),
            );
        }
        per.push(
            Resource::new(
                "AWS::CloudWatch::Alarm",
                format!("{}-5xx", names.target_group(&s.name, &id)),
            )
            .with(format!(
                "target 5xx > {}% over {}",
                s.deploy.rollback.max_5xx_percent, s.deploy.rollback.window
            )),
        );
        p.services.push(ServicePlan {
            name: s.name.clone(),
            strategy: s.deploy.strategy,
            summary: summary(s),
            deployment_id: id,
            rule_priorities: priorities,
            shared,
            per_deployment: per,
        });
    }
    for j in env.jobs.values() {
        let image = match &j.image {
            JobImage::Service(s) => format!("{} (current deployment)", names.repository(s)),
            JobImage::Image(i) => i.clone(),
            JobImage::Build(_) => names.repository(&j.name),
        };
        let mut resources = vec![Resource::new(
            "AWS::ECS::TaskDefinition",
            format!("{}:N", names.task_family(&j.name)),
        )
        .with(format!("{} CPU / {} MiB, image {image}", j.cpu, j.memory))];
        if let Some(s) = &j.schedule {
            resources.push(
                Resource::new(
                    "AWS::Scheduler::Schedule",
                    format!("{}-{}/{}", names.app, names.env, j.name),
                )
                .with(format!("{s}, made by `wharf deploy`")),
            );
        }
        p.jobs.push(Group {
            name: j.name.clone(),
            kind: "job".into(),
            resources,
        });
    }
}

fn route(s: &wharf_manifest::Service) -> String {
    let Some(r) = &s.routing else {
        return String::new();
    };
    if let Some(i) = &s.internal {
        return format!("internal load balancer, listener port {}", i.port);
    }
    let mut parts = Vec::new();
    if !r.hosts.is_empty() {
        parts.push(format!("host {}", r.hosts.join(", ")));
    }
    parts.push(format!("path {}", r.paths.join(", ")));
    parts.join(", ")
}

/// A stack resource: its physical name where the template sets one, else its logical id.
fn stack_resource(id: &str, r: &wharf_cfn::Resource) -> Resource {
    const NAME_KEYS: [&str; 13] = [
        "ClusterName",
        "DashboardName",
        "RepositoryName",
        "LogGroupName",
        "RoleName",
        "TableName",
        "BucketName",
        "DBInstanceIdentifier",
        "ReplicationGroupId",
        "TopicName",
        "AlarmName",
        "PolicyName",
        "DBParameterGroupName",
    ];
    let props = &r.properties;
    let name = NAME_KEYS
        .iter()
        .find_map(|k| props[*k].as_str())
        .or_else(|| {
            (r.ty != "AWS::EC2::SecurityGroup")
                .then(|| props["Name"].as_str())
                .flatten()
        })
        .map_or_else(|| id.to_owned(), str::to_owned);
    let detail = match (
        props["CidrBlock"].as_str(),
        props["Port"].as_u64(),
        props["ServiceName"].get("Fn::Sub"),
    ) {
        (Some(cidr), _, _) => Some(cidr.to_owned()),
        (_, Some(port), _) => Some(format!(
            "{} :{port}",
            props["Protocol"].as_str().unwrap_or_default()
        )),
        (_, _, Some(svc)) => svc.as_str().map(|s| s.replace("${AWS::Region}", "REGION")),
        _ => None,
    };
    Resource {
        ty: r.ty.clone(),
        name,
        detail,
    }
}

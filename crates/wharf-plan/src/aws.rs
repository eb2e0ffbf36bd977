//! The plan of an AWS environment: the baseline, data and edge stacks `wharf up` creates, and
//! per service the shared resources and what each deployment creates through the APIs.

use wharf_manifest::names::rule_block;
use wharf_manifest::{AwsEnv, DataKind, Egress, Environment, JobImage, Names, StrategyKind};

use crate::{summary, Group, Plan, Resource, RulePriorities, ServicePlan};

pub(crate) fn plan(p: &mut Plan, names: &Names<'_>, env: &Environment, aws: &AwsEnv) {
    p.groups.push(baseline(names, env, aws));
    if !env.data.is_empty() {
        p.groups.push(data(names, env, aws));
    }
    if aws.edge {
        p.groups.push(Group {
            name: names.edge_stack(),
            kind: "cloudformation-stack".into(),
            resources: vec![
                Resource::new("AWS::CloudFront::Distribution", names.cluster())
                    .with(format!("in front of {}", names.load_balancer())),
                Resource::new(
                    "AWS::Route53::RecordSet",
                    aws.domain.clone().unwrap_or_default(),
                )
                .with("alias to CloudFront"),
            ],
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
            if s.public {
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
            shared.push(
                Resource::new(
                    "AWS::ApplicationAutoScaling::ScalingPolicy",
                    format!("{}-cpu", names.task_family(&s.name)),
                )
                .with(format!(
                    "target tracking {}% CPU, {}–{} tasks",
                    a.cpu, a.min, a.max
                )),
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
                Resource::new("AWS::Scheduler::Schedule", names.task_family(&j.name))
                    .with(s.clone()),
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
    let mut parts = Vec::new();
    if !r.hosts.is_empty() {
        parts.push(format!("host {}", r.hosts.join(", ")));
    }
    parts.push(format!("path {}", r.paths.join(", ")));
    parts.join(", ")
}

fn baseline(names: &Names<'_>, env: &Environment, aws: &AwsEnv) -> Group {
    let mut r = vec![Resource::new("AWS::EC2::VPC", names.cluster()).with(aws.cidr.to_string())];
    let az = |i: usize| format!("{}{}", aws.region, (b'a' + i as u8) as char);
    for (i, c) in aws.subnets.public.iter().enumerate() {
        r.push(
            Resource::new(
                "AWS::EC2::Subnet",
                format!("{}-public-{}", names.cluster(), az(i)),
            )
            .with(c.to_string()),
        );
    }
    for (i, c) in aws.subnets.private.iter().enumerate() {
        r.push(
            Resource::new(
                "AWS::EC2::Subnet",
                format!("{}-private-{}", names.cluster(), az(i)),
            )
            .with(c.to_string()),
        );
    }
    if env.data.values().any(|d| d.kind.needs_database_subnets()) {
        for (i, c) in aws.subnets.database.iter().enumerate() {
            r.push(
                Resource::new(
                    "AWS::EC2::Subnet",
                    format!("{}-database-{}", names.cluster(), az(i)),
                )
                .with(c.to_string()),
            );
        }
    }
    r.push(Resource::new("AWS::EC2::InternetGateway", names.cluster()));
    match aws.egress {
        Egress::Nat => r.push(
            Resource::new("AWS::EC2::NatGateway", format!("{}-nat", names.cluster())).with(az(0)),
        ),
        Egress::NatPerAz => {
            for i in 0..aws.azs as usize {
                r.push(
                    Resource::new(
                        "AWS::EC2::NatGateway",
                        format!("{}-nat-{}", names.cluster(), az(i)),
                    )
                    .with(az(i)),
                );
            }
        }
        Egress::Endpoints => {
            for svc in ["ecr.api", "ecr.dkr", "logs", "ssm", "secretsmanager", "sts"] {
                r.push(
                    Resource::new(
                        "AWS::EC2::VPCEndpoint",
                        format!("com.amazonaws.{}.{svc}", aws.region),
                    )
                    .with("interface"),
                );
            }
            for svc in ["s3", "dynamodb"] {
                r.push(
                    Resource::new(
                        "AWS::EC2::VPCEndpoint",
                        format!("com.amazonaws.{}.{svc}", aws.region),
                    )
                    .with("gateway"),
                );
            }
        }
    }
    r.push(
        Resource::new(
            "AWS::EC2::SecurityGroup",
            format!("{}-alb", names.cluster()),
        )
        .with("80, 443 from the internet"),
    );
    for s in env.services.values() {
        let from = if s.public {
            "from the ALB's group"
        } else {
            "from the environment's services"
        };
        r.push(
            Resource::new(
                "AWS::EC2::SecurityGroup",
                format!("{}-{}", names.cluster(), s.name),
            )
            .with(format!("{} {from}", s.port)),
        );
    }
    let lb = if aws.prod {
        "internet-facing, deletion protection"
    } else {
        "internet-facing"
    };
    r.push(
        Resource::new(
            "AWS::ElasticLoadBalancingV2::LoadBalancer",
            names.load_balancer(),
        )
        .with(lb),
    );
    if aws.domain.is_some() {
        r.push(
            Resource::new("AWS::ElasticLoadBalancingV2::Listener", "HTTP :80")
                .with("redirect to HTTPS"),
        );
        r.push(
            Resource::new("AWS::ElasticLoadBalancingV2::Listener", "HTTPS :443")
                .with("TLS 1.2+; default: fixed 503"),
        );
        if aws.certificate.is_none() {
            r.push(
                Resource::new(
                    "AWS::CertificateManager::Certificate",
                    aws.domain.clone().unwrap_or_default(),
                )
                .with("DNS-validated"),
            );
        }
        if let Some(zone) = &aws.hosted_zone {
            r.push(
                Resource::new(
                    "AWS::Route53::RecordSet",
                    aws.domain.clone().unwrap_or_default(),
                )
                .with(format!("alias in {zone}")),
            );
        }
    } else {
        r.push(
            Resource::new("AWS::ElasticLoadBalancingV2::Listener", "HTTP :80")
                .with("plain HTTP; default: fixed 503"),
        );
    }
    r.push(
        Resource::new("AWS::ECS::Cluster", names.cluster())
            .with("Container Insights; FARGATE, FARGATE_SPOT"),
    );
    for s in env.services.values() {
        r.push(
            Resource::new("AWS::ECR::Repository", names.repository(&s.name))
                .with("scan on push, immutable tags"),
        );
        r.push(
            Resource::new("AWS::Logs::LogGroup", names.log_group(&s.name))
                .with(format!("{} days", aws.log_retention)),
        );
        r.push(
            Resource::new("AWS::IAM::Role", names.task_role(&s.name))
                .with("task role, least privilege"),
        );
    }
    r.push(Resource::new("AWS::IAM::Role", names.execution_role()).with("task execution role"));
    r.push(
        Resource::new("AWS::DynamoDB::Table", names.state_table())
            .with("deployment records and locks"),
    );
    r.push(Resource::new(
        "AWS::CloudWatch::Alarm",
        format!("{}-alb-5xx", names.cluster()),
    ));
    if let Some(email) = &aws.alarm_email {
        r.push(
            Resource::new("AWS::SNS::Topic", format!("{}-alarms", names.cluster()))
                .with(email.clone()),
        );
    }
    if aws.waf {
        r.push(
            Resource::new("AWS::WAFv2::WebACL", names.cluster())
                .with("AWS managed rule groups, on the ALB"),
        );
    }
    if aws.flow_logs {
        r.push(Resource::new("AWS::EC2::FlowLog", names.cluster()));
    }
    Group {
        name: names.baseline_stack(),
        kind: "cloudformation-stack".into(),
        resources: r,
    }
}

fn data(names: &Names<'_>, env: &Environment, aws: &AwsEnv) -> Group {
    let mut r = Vec::new();
    for d in env.data.values() {
        let name = format!("{}-{}", names.cluster(), d.name);
        r.push(match &d.kind {
            DataKind::Dynamodb(t) => Resource::new("AWS::DynamoDB::Table", name).with(format!(
                "pk {}{}, {}",
                t.partition_key.name,
                t.sort_key
                    .as_ref()
                    .map(|k| format!(", sk {}", k.name))
                    .unwrap_or_default(),
                match t.billing {
                    wharf_manifest::Billing::OnDemand => "on-demand".to_owned(),
                    wharf_manifest::Billing::Provisioned { rcu, wcu } =>
                        format!("{rcu} RCU / {wcu} WCU"),
                }
            )),
            DataKind::Postgres(pg) => Resource::new("AWS::RDS::DBInstance", name).with(format!(
                "PostgreSQL {} on {}, {} GiB{}",
                pg.version,
                pg.instance,
                pg.storage,
                if pg.multi_az.unwrap_or(aws.prod) {
                    ", Multi-AZ"
                } else {
                    ""
                }
            )),
            DataKind::Redis(rd) => {
                Resource::new("AWS::ElastiCache::ReplicationGroup", name).with(format!(
                    "Redis {} on {}, {} replica(s)",
                    rd.version, rd.node_type, rd.replicas
                ))
            }
            DataKind::S3(b) => Resource::new("AWS::S3::Bucket", format!("{name}-{}", aws.account))
                .with(if b.versioning {
                    "versioned"
                } else {
                    "unversioned"
                }),
            DataKind::Parameters(ps) => {
                Resource::new("AWS::SSM::Parameter", format!("{}/*", ps.path))
                    .with(format!("{} parameters", ps.values.len()))
            }
            DataKind::Secret(s) => Resource::new(
                "AWS::SecretsManager::Secret",
                format!("{}/{}", names.cluster(), d.name),
            )
            .with(format!("generated, {} characters", s.length)),
        });
    }
    Group {
        name: names.data_stack(),
        kind: "cloudformation-stack".into(),
        resources: r,
    }
}

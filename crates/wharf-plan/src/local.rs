//! The plan of a local environment: wharf's proxy and, per service, the Docker resources each
//! deployment gets.

use wharf_manifest::names::rule_block;
use wharf_manifest::{Environment, LocalEnv, Names};

use crate::{summary, Group, Plan, Resource, RulePriorities, ServicePlan};

pub(crate) fn plan(p: &mut Plan, names: &Names<'_>, env: &Environment, local: &LocalEnv) {
    p.groups.push(Group {
        name: "proxy".into(),
        kind: "local-proxy".into(),
        resources: vec![
            Resource::new("listener", format!("http://{}", local.listen))
                .with("wharf's ALB-compatible proxy"),
            Resource::new(
                "state",
                local.state_dir.join("state.db").display().to_string(),
            )
            .with("routes, deployment records, locks"),
            Resource::new(
                "control socket",
                local.state_dir.join("proxy.sock").display().to_string(),
            )
            .with("mode 0600"),
            Resource::new("docker network", names.network()),
        ],
    });
    for s in env.services_by_priority() {
        let id = names.deployment_id_pattern();
        let priorities = s.routing.as_ref().map(|r| {
            let (base, range) = rule_block(r.priority);
            RulePriorities {
                routing_priority: r.priority,
                base_rule: base,
                deployment_rules: [*range.start(), *range.end()],
            }
        });
        let per_deployment = vec![
            Resource::new(
                "docker image",
                format!("{}:{id}", names.local_image(&s.name)),
            ),
            Resource::new("docker container", names.container(&s.name, &id, 0)).with(format!(
                "× {}; 127.0.0.1:ephemeral → {}; {} CPU / {} MiB",
                s.count, s.port, s.cpu, s.memory
            )),
            Resource::new("target group", format!("{}-{id}", s.name)).with(format!(
                "GET {} every {}, deregistration {}",
                s.health.path, s.health.interval, s.deploy.drain.timeout
            )),
        ];
        p.services.push(ServicePlan {
            name: s.name.clone(),
            strategy: s.deploy.strategy,
            summary: summary(s),
            deployment_id: id,
            rule_priorities: priorities,
            shared: Vec::new(),
            per_deployment,
        });
    }
}

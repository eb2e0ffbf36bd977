//! The task definition's main container and the service definition (as `aws ecs` writes
//! them) → the service's table, every key reported.

use std::path::Path;

use serde_json::Value;

use super::find_dockerfile;
use crate::doc::Tbl;
use crate::report::Outcome;
use crate::source::Src;
use crate::text::{scalar_text, split_words};

pub fn task(
    src: &mut Src<'_>,
    containers: &[Value],
    main: usize,
    to: &str,
    dir: &Path,
    t: &mut Tbl,
) {
    let c = format!("containerDefinitions.{main}");
    src.read("containerDefinitions");
    let image = containers[main]
        .get("image")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if image.contains("{{") {
        match find_dockerfile(dir) {
            Some(ctx) => {
                let mut b = Tbl::default();
                b.set("context", ctx.as_str());
                t.set("build", b);
                src.changed(&format!("{c}.image"), &format!("{to}.build"), &format!("the tag is filled in when ecspresso runs; wharf builds {ctx}/Dockerfile, pushes it to the service's ECR repository and pins the digest on every deploy"));
            }
            None => {
                let repo = image
                    .split("{{")
                    .next()
                    .unwrap_or_default()
                    .trim_end_matches(':');
                t.set("image", format!("{repo}:latest"));
                src.changed(&format!("{c}.image"), &format!("{to}.image"), "the tag is filled in when ecspresso runs; written as :latest — set the tag you release (or build = { context = \".\" } to have wharf build it)");
            }
        }
    } else {
        t.set("image", image);
        src.mapped(&format!("{c}.image"), &format!("{to}.image"));
    }
    src.mapped(&format!("{c}.name"), to);
    if src.get(&format!("{c}.essential")).is_some() {
        src.mapped(&format!("{c}.essential"), to);
    }
    match src.int(&format!("{c}.portMappings.0.containerPort")) {
        Some(p) => {
            t.set("port", p);
            src.mapped(&format!("{c}.portMappings"), &format!("{to}.port"));
        }
        None => t.set("port", 8080),
    }
    for (k, w) in [("cpu", "cpu"), ("memory", "memory")] {
        let v = src.int(k).map(|v| (k.to_owned(), v)).or_else(|| {
            src.int(&format!("{c}.{k}"))
                .map(|v| (format!("{c}.{k}"), v))
        });
        if let Some((path, v)) = v {
            t.set(w, v);
            src.mapped(&path, &format!("{to}.{w}"));
        }
    }
    if src.get(&format!("{c}.memoryReservation")).is_some() {
        src.changed(
            &format!("{c}.memoryReservation"),
            &format!("{to}.memory"),
            "Fargate sizes the task: memory is the task's",
        );
    }
    if let Some(a) = src.str("runtimePlatform.cpuArchitecture") {
        {
            let p = if a.eq_ignore_ascii_case("ARM64") {
                "linux/arm64"
            } else {
                "linux/amd64"
            };
            if t.get("build").is_some() {
                t.table("build").set("platform", p);
            } else {
                t.set("platform", p);
            }
            src.mapped("runtimePlatform.cpuArchitecture", &format!("{to}.platform"));
        }
    }
    if src.get("runtimePlatform.operatingSystemFamily").is_some() {
        src.mapped(
            "runtimePlatform.operatingSystemFamily",
            &format!("{to}.platform"),
        );
    }
    if let Some(Value::Array(envs)) = src.get(&format!("{c}.environment")) {
        let mut e = Tbl::default();
        for kv in envs {
            if let Some(n) = kv.get("name").and_then(Value::as_str) {
                e.set(n, kv.get("value").map(scalar_text).unwrap_or_default());
            }
        }
        if !e.is_empty() {
            t.set("env", e);
        }
        src.mapped(&format!("{c}.environment"), &format!("{to}.env"));
    }
    if let Some(Value::Array(secrets)) = src.get(&format!("{c}.secrets")) {
        let mut s = Tbl::default();
        for (i, kv) in secrets.iter().enumerate() {
            let path = format!("{c}.secrets.{i}");
            let (Some(n), Some(from)) =
                (kv.get("name").and_then(Value::as_str), kv.get("valueFrom"))
            else {
                continue;
            };
            src.secret(&path, n, from, to, &mut s);
        }
        src.read(&format!("{c}.secrets"));
        if !s.is_empty() {
            t.set("secrets", s);
        }
    }
    match src.get(&format!("{c}.command")) {
        Some(Value::Array(a)) => {
            t.set("command", a.iter().map(scalar_text).collect::<Vec<_>>());
            src.mapped(&format!("{c}.command"), &format!("{to}.command"));
        }
        Some(Value::String(s)) => {
            t.set("command", split_words(s));
            src.mapped(&format!("{c}.command"), &format!("{to}.command"));
        }
        _ => {}
    }
    if let Some(Value::Array(cmd)) = src.get(&format!("{c}.healthCheck.command")) {
        let cmd: Vec<String> = cmd.iter().map(scalar_text).collect();
        let v: crate::doc::V = match cmd.split_first() {
            Some((f, rest)) if f == "CMD-SHELL" => rest.join(" ").into(),
            Some((f, rest)) if f == "CMD" => rest.to_vec().into(),
            _ => cmd.into(),
        };
        t.table("health").set("command", v);
        src.mapped(
            &format!("{c}.healthCheck.command"),
            &format!("{to}.health.command"),
        );
        if let Some(s) = src.int(&format!("{c}.healthCheck.startPeriod")) {
            t.table("health").set("grace", format!("{s}s"));
            src.mapped(
                &format!("{c}.healthCheck.startPeriod"),
                &format!("{to}.health.grace"),
            );
        }
        for k in ["interval", "timeout", "retries"] {
            if src.get(&format!("{c}.healthCheck.{k}")).is_some() {
                src.changed(&format!("{c}.healthCheck.{k}"), &format!("{to}.health"), "wharf runs the container check on the service's one health schedule: set interval, timeout and unhealthy in [services.NAME.health]");
            }
        }
    }
    if let Some(s) = src.int(&format!("{c}.stopTimeout")) {
        t.set("stop_timeout", format!("{s}s"));
        src.mapped(&format!("{c}.stopTimeout"), &format!("{to}.stop_timeout"));
    }
    for (k, out, why) in [
        (format!("{c}.logConfiguration"), Outcome::Changed, "logs go to CloudWatch Logs in the environment's log group for the service, kept for log_retention days"),
        (format!("{c}.entryPoint"), Outcome::NotMapped, "wharf overrides the command only: set the entrypoint in the Dockerfile (ENTRYPOINT)"),
        (format!("{c}.mountPoints"), Outcome::NotMapped, "no volumes: wharf tasks are stateless, with data in the stores of [data]"),
        ("family".to_owned(), Outcome::Changed, "wharf names the task family {app}-{env}-{service}"),
        ("executionRoleArn".to_owned(), Outcome::Changed, "wharf makes the environment's execution role, allowed to read exactly the service's secrets"),
        ("taskRoleArn".to_owned(), Outcome::Changed, "wharf makes the service's task role with grants for its [data]; extra permissions go in a policy you attach to it"),
        ("networkMode".to_owned(), Outcome::Mapped, "awsvpc on Fargate"),
        ("requiresCompatibilities".to_owned(), Outcome::Mapped, "Fargate"),
        ("volumes".to_owned(), Outcome::NotMapped, "no volumes: wharf tasks are stateless, with data in the stores of [data]"),
        ("ephemeralStorage".to_owned(), Outcome::NotMapped, "Fargate's default 20 GiB of ephemeral storage"),
        ("tags".to_owned(), Outcome::NotMapped, "wharf tags what it makes with wharf.app, wharf.env and wharf.service"),
    ] {
        if src.get(&k).is_some() {
            match out {
                Outcome::Mapped => src.mapped(&k, to),
                Outcome::Changed => src.changed(&k, to, why),
                Outcome::NotMapped => src.not_mapped(&k, why),
            }
        }
    }
    for (i, other) in containers.iter().enumerate().filter(|(i, _)| *i != main) {
        let name = other.get("name").and_then(Value::as_str).unwrap_or("?");
        src.not_mapped(&format!("containerDefinitions.{i}"), &format!("the container `{name}` is a sidecar: one container per task in wharf; run it as a service of its own"));
    }
}
pub fn service(src: &mut Src<'_>, to: &str, t: &mut Tbl) {
    if let Some(n) = src.int("desiredCount") {
        t.set("count", n);
        src.mapped("desiredCount", &format!("{to}.count"));
    }
    if src.get("launchType").is_some() {
        src.mapped("launchType", &format!("{to}.capacity"));
    }
    if let Some(Value::Array(cps)) = src.get("capacityProviderStrategy") {
        let spot = cps
            .iter()
            .filter(|c| c.get("capacityProvider").and_then(Value::as_str) == Some("FARGATE_SPOT"))
            .count();
        if spot == cps.len() && spot > 0 {
            t.set("capacity", "fargate-spot");
            src.mapped("capacityProviderStrategy", &format!("{to}.capacity"));
        } else if spot > 0 {
            src.changed("capacityProviderStrategy", &format!("{to}.capacity"), "a mix of Fargate and Spot: wharf runs a service on one capacity; on-demand Fargate kept (capacity = \"fargate-spot\" for all on Spot)");
        } else {
            src.mapped("capacityProviderStrategy", &format!("{to}.capacity"));
        }
    }
    let min = src.int("deploymentConfiguration.minimumHealthyPercent");
    let max = src.int("deploymentConfiguration.maximumPercent");
    if min.is_some() || max.is_some() {
        let mut r = Tbl::default();
        r.set("min_healthy_percent", min.unwrap_or(100));
        r.set("max_percent", max.unwrap_or(200));
        t.table("deploy").set("rolling", r);
        for k in ["minimumHealthyPercent", "maximumPercent"] {
            if src.get(&format!("deploymentConfiguration.{k}")).is_some() {
                src.mapped(
                    &format!("deploymentConfiguration.{k}"),
                    &format!("{to}.deploy.rolling"),
                );
            }
        }
    }
    if src
        .get("deploymentConfiguration.deploymentCircuitBreaker")
        .is_some()
    {
        src.changed(
            "deploymentConfiguration.deploymentCircuitBreaker",
            &format!("{to}.deploy.rollback"),
            "wharf rolls back by itself on health, the 5xx rate and alarms",
        );
    }
    if src.get("deploymentConfiguration.alarms").is_some() {
        src.changed(
            "deploymentConfiguration.alarms",
            &format!("{to}.deploy.rollback"),
            "wharf watches its own alarms per deployment and rolls back by itself",
        );
    }
    match src.str("deploymentController.type") {
        Some("CODE_DEPLOY") => {
            t.table("deploy").set("strategy", "blue-green");
            src.changed("deploymentController.type", &format!("{to}.deploy.strategy"), "CodeDeploy's blue/green becomes wharf's own blue-green strategy (test route, bake, automatic rollback)");
        }
        Some(_) => src.mapped(
            "deploymentController.type",
            &format!("{to}.deploy.strategy"),
        ),
        None => {}
    }
    match src.get("loadBalancers") {
        Some(Value::Array(lbs)) if !lbs.is_empty() => {
            if let Some(p) = lbs[0].get("containerPort").and_then(crate::source::as_int) {
                t.set("port", p);
            }
            src.changed("loadBalancers", &format!("{to}.public"), "behind the environment's load balancer, with a target group per deployment made by wharf; the old target group's health check path is not in these files: set health.path (wharf checks / otherwise)");
        }
        _ => {
            t.set("public", false);
        }
    }
    if let Some(g) = src.int("healthCheckGracePeriodSeconds") {
        t.table("health").set("grace", format!("{g}s"));
        src.mapped(
            "healthCheckGracePeriodSeconds",
            &format!("{to}.health.grace"),
        );
    }
    if src.get("enableExecuteCommand").is_some() {
        src.mapped("enableExecuteCommand", "wharf exec (ECS Exec always on)");
    }
    for (k, why) in [
        ("networkConfiguration", "wharf runs tasks in the environment's own private subnets with a security group per service"),
        ("serviceRegistries", "wharf's internal services are reached through the internal load balancer: internal = true and talks_to"),
        ("serviceConnectConfiguration", "wharf's internal services are reached through the internal load balancer: internal = true and talks_to"),
        ("platformVersion", "Fargate's LATEST platform"),
        ("propagateTags", "wharf tags what it makes"),
        ("enableECSManagedTags", "wharf tags what it makes"),
        ("tags", "wharf tags what it makes with wharf.app, wharf.env and wharf.service"),
        ("placementConstraints", "not used by Fargate"),
        ("placementStrategy", "not used by Fargate"),
    ] {
        if src.get(k).is_some() {
            src.not_mapped(k, why);
        }
    }
    if src.get("schedulingStrategy").is_some() {
        src.mapped("schedulingStrategy", to);
    }
}

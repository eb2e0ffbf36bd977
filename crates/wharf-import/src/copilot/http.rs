//! A Copilot workload's traffic and scale: `count` (and its autoscaling ranges), the load
//! balancer's `http` section and health check.

use serde_json::Value;

use super::service::Kind;
use crate::doc::{Tbl, V};
use crate::source::{as_int, Src};

pub fn count(src: &mut Src<'_>, kind: Kind, to: &str, t: &mut Tbl) {
    match src.get("count") {
        Some(Value::Object(_)) => {}
        Some(v) => {
            if let Some(n) = as_int(v) {
                t.set("count", n);
                src.mapped("count", &format!("{to}.count"));
            }
            return;
        }
        None => return,
    }
    if let Some(spot) = src.int("count.spot") {
        t.set("count", spot);
        t.set("capacity", "fargate-spot");
        src.changed(
            "count.spot",
            &format!("{to}.capacity"),
            "every task on Fargate Spot: capacity = \"fargate-spot\" with count",
        );
    }
    let (min, max) = match src.get("count.range") {
        Some(Value::String(r)) => match r.split_once('-') {
            Some((a, b)) => (a.trim().parse::<i64>().ok(), b.trim().parse::<i64>().ok()),
            None => (None, None),
        },
        Some(Value::Object(_)) => (src.int("count.range.min"), src.int("count.range.max")),
        _ => (None, None),
    };
    let mut scaling = Tbl::default();
    if let (Some(min), Some(max)) = (min, max) {
        t.set("count", min);
        scaling.set("min", min);
        scaling.set("max", max);
        src.mapped("count.range", &format!("{to}.autoscaling"));
    }
    if src.get("count.range.spot_from").is_some() || src.get("count.spot_from").is_some() {
        let key = if src.get("count.range.spot_from").is_some() {
            "count.range.spot_from"
        } else {
            "count.spot_from"
        };
        src.not_mapped(key, "wharf runs a service's tasks on one capacity: capacity = \"fargate-spot\" puts them all on Spot");
    }
    for (k, w) in [
        ("cpu_percentage", "cpu"),
        ("memory_percentage", "memory"),
        ("requests", "requests"),
    ] {
        let path = format!("count.{k}");
        let v = src.int(&path).or_else(|| src.int(&format!("{path}.value")));
        if let Some(v) = v {
            if kind == Kind::Worker && w == "requests" {
                src.not_mapped(&path, "a worker takes no requests through a load balancer");
                continue;
            }
            scaling.set(w, v);
            src.mapped(&path, &format!("{to}.autoscaling.{w}"));
        }
    }
    for k in ["response_time", "queue_delay"] {
        if src.get(&format!("count.{k}")).is_some() {
            src.not_mapped(
                &format!("count.{k}"),
                "wharf scales on CPU, memory or requests per task: pick one of those",
            );
        }
    }
    if src.get("count.cooldown").is_some() {
        src.not_mapped(
            "count.cooldown",
            "wharf's scaling policies use Application Auto Scaling's default cooldowns",
        );
    }
    if scaling.get("min").is_some() {
        t.set("autoscaling", scaling);
    }
}
pub fn health(src: &mut Src<'_>, to: &str, t: &mut Tbl) {
    match src.get("http.healthcheck") {
        Some(Value::String(p)) => {
            t.table("health").set("path", p.as_str());
            src.mapped("http.healthcheck", &format!("{to}.health.path"));
        }
        Some(Value::Object(_)) => {
            let h = t.table("health");
            let mut done = Vec::new();
            for (k, w) in [
                ("path", "path"),
                ("success_codes", "matcher"),
                ("interval", "interval"),
                ("timeout", "timeout"),
                ("grace_period", "grace"),
            ] {
                if let Some(v) = src.str(&format!("http.healthcheck.{k}")) {
                    h.set(w, v);
                    done.push((k, w));
                }
            }
            for (k, w) in [
                ("healthy_threshold", "healthy"),
                ("unhealthy_threshold", "unhealthy"),
            ] {
                if let Some(v) = src.int(&format!("http.healthcheck.{k}")) {
                    h.set(w, v);
                    done.push((k, w));
                }
            }
            for (k, w) in done {
                src.mapped(
                    &format!("http.healthcheck.{k}"),
                    &format!("{to}.health.{w}"),
                );
            }
            if let Some(p) = src.int("http.healthcheck.port") {
                let same = Some(p) == src.int("image.port");
                if same {
                    src.mapped("http.healthcheck.port", &format!("{to}.port"));
                } else {
                    src.not_mapped(
                        "http.healthcheck.port",
                        "wharf checks health on the service's port; answer the check there",
                    );
                }
            }
        }
        _ => {}
    }
}
pub fn http(src: &mut Src<'_>, kind: Kind, to: &str, t: &mut Tbl) {
    if src.get("http") == Some(&Value::Bool(false)) {
        src.not_mapped(
            "http",
            "no load balancer in front: wharf runs it as a worker (public = false)",
        );
        t.set("public", false);
        return;
    }
    if let Some(path) = src.str("http.path") {
        let path = path.trim_end_matches('/');
        if kind == Kind::Backend {
            if path.is_empty() {
                src.mapped("http.path", &format!("{to}.internal"));
            } else {
                src.changed(
                    "http.path",
                    &format!("{to}.internal"),
                    "an internal service gets its own listener and takes every path: no path rule",
                );
            }
        } else if path.is_empty() {
            src.mapped("http.path", &format!("{to}.routing"));
        } else {
            t.table("routing")
                .set("paths", vec![path.to_owned(), format!("{path}/*")]);
            src.mapped("http.path", &format!("{to}.routing.paths"));
        }
    }
    let aliases: Vec<String> = match src.get("http.alias") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| {
                v.as_str()
                    .or_else(|| v.get("name").and_then(Value::as_str))
                    .map(str::to_owned)
            })
            .collect(),
        Some(Value::Object(o)) => o
            .get("name")
            .and_then(Value::as_str)
            .map(|s| vec![s.to_owned()])
            .unwrap_or_default(),
        _ => vec![],
    };
    if !aliases.is_empty() {
        let paths = match t.get("routing").and_then(|r| match r {
            V::Table(r) => r.get("paths"),
            V::Leaf(_) => None,
        }) {
            Some(V::Leaf(crate::doc::Leaf::List(p))) => p.len(),
            _ => 0,
        };
        let room = 4usize.saturating_sub(paths.max(1)).max(1);
        let hosts: Vec<String> = aliases.iter().take(room).cloned().collect();
        if hosts.len() < aliases.len() {
            src.changed(
                "http.alias",
                &format!("{to}.routing.hosts"),
                &format!(
                    "a listener rule takes at most 4 host and path values together: kept {}",
                    hosts.join(", ")
                ),
            );
        } else {
            src.mapped("http.alias", &format!("{to}.routing.hosts"));
        }
        t.table("routing").set("hosts", hosts);
    }
    if src.get("http.hosted_zone").is_some() {
        src.changed("http.hosted_zone", "environments.ENV.hosted_zone", "wharf names the zone per environment (hosted_zone = \"example.com\") and makes the record and certificate there; set it on the environment");
    }
    if let Some(d) = src.str("http.deregistration_delay") {
        t.table("deploy").table("drain").set("timeout", d);
        src.mapped(
            "http.deregistration_delay",
            &format!("{to}.deploy.drain.timeout"),
        );
    }
    if src.get("http.stickiness").is_some() {
        src.changed("http.stickiness", &format!("{to}.deploy.strategy"), "wharf pins clients to a version with the affinity strategy (a header or cookie), not load-balancer stickiness: strategy = \"affinity\" if you need it");
    }
    for (k, why) in [
        ("allowed_source_ips", "wharf's load balancer admits everyone; restrict with waf = true on the environment or a security group of your own"),
        ("target_container", "wharf routes to the service's own container; sidecars are not imported"),
        ("target_port", "wharf routes to the service's port"),
        ("version", "wharf's load balancer speaks HTTP/1.1 to tasks"),
        ("additional_rules", "one rule per service: split the paths into services of their own"),
        ("private", "set internal = true for a service only other services call"),
        ("public", "public services are behind the environment's load balancer"),
    ] {
        if src.get(&format!("http.{k}")).is_some() {
            src.not_mapped(&format!("http.{k}"), why);
        }
    }
    if src.get("http.redirect_to_https").is_some() {
        src.mapped("http.redirect_to_https", "environments.ENV.domain");
    }
    if src.get("nlb").is_some() {
        src.not_mapped("nlb", "wharf serves HTTP through an Application Load Balancer; TCP/UDP through a Network Load Balancer is not supported");
    }
}

//! One Copilot service or job manifest (as one environment sees it) → its wharf table. Load
//! Balanced Web Services become public services, Backend Services internal ones, Worker
//! Services services without routing, Scheduled Jobs jobs; every key read is reported.

use serde_json::Value;

use super::schedule;
use crate::doc::{Tbl, V};
use crate::source::Src;
use crate::text::{scalar_text, split_words};

/// The Copilot service types wharf maps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Web,
    Backend,
    Worker,
    Job,
}

impl Kind {
    /// The kind of a `type:` value, or why wharf does not take it.
    pub fn of(ty: &str) -> Result<Kind, &'static str> {
        match ty {
            "Load Balanced Web Service" => Ok(Kind::Web),
            "Backend Service" => Ok(Kind::Backend),
            "Worker Service" => Ok(Kind::Worker),
            "Scheduled Job" => Ok(Kind::Job),
            "Request-Driven Web Service" => Err("an App Runner service: wharf deploys to ECS Fargate only; import it as a Load Balanced Web Service by changing its type (http.path, image, cpu and memory carry over), or keep it on App Runner"),
            "Static Site" => Err("an S3 bucket behind CloudFront with no container: wharf ships containers; keep the site where it is, or serve it from a container"),
            _ => Err("not a Copilot workload type the importer knows"),
        }
    }
}

/// Maps one manifest; `to` is where its table goes (`services.web`).
pub fn map(src: &mut Src<'_>, kind: Kind, to: &str) -> Tbl {
    let mut t = Tbl::default();
    src.mapped("name", to);
    src.mapped("type", to);
    image(src, kind, to, &mut t);
    if kind != Kind::Job {
        port(src, kind, to, &mut t);
    }
    sizes(src, to, &mut t);
    if kind == Kind::Job {
        job(src, to, &mut t);
    } else {
        super::http::count(src, kind, to, &mut t);
        super::http::health(src, to, &mut t);
        super::http::http(src, kind, to, &mut t);
        deployment(src, to, &mut t);
    }
    commands(src, to, &mut t);
    vars(src, to, &mut t);
    others(src);
    t
}

fn image(src: &mut Src<'_>, kind: Kind, to: &str, t: &mut Tbl) {
    if let Some(loc) = src.str("image.location") {
        t.set("image", loc);
        src.mapped("image.location", &format!("{to}.image"));
    }
    let mut build = Tbl::default();
    match src.get("image.build") {
        Some(Value::String(dockerfile)) => {
            let (context, file) = split_dockerfile(dockerfile);
            build.set("context", context);
            if file != "Dockerfile" {
                build.set("dockerfile", file);
            }
            src.mapped("image.build", &format!("{to}.build"));
        }
        Some(Value::Object(_)) => {
            let dockerfile = src.str("image.build.dockerfile").unwrap_or("Dockerfile");
            let context = match src.str("image.build.context") {
                Some(c) => {
                    let c = c.trim_start_matches("./").trim_end_matches('/');
                    if c.is_empty() {
                        ".".to_owned()
                    } else {
                        c.to_owned()
                    }
                }
                None => split_dockerfile(dockerfile).0,
            };
            let file = relative_to(dockerfile, &context);
            build.set("context", context.as_str());
            if file != "Dockerfile" {
                build.set("dockerfile", file.as_str());
            }
            src.mapped("image.build.dockerfile", &format!("{to}.build.dockerfile"));
            if src.get("image.build.context").is_some() {
                src.mapped("image.build.context", &format!("{to}.build.context"));
            }
            if let Some(target) = src.str("image.build.target") {
                build.set("target", target);
                src.mapped("image.build.target", &format!("{to}.build.target"));
            }
            if let Some(Value::Object(args)) = src.get("image.build.args") {
                let mut a = Tbl::default();
                for (k, v) in args {
                    a.set(k, scalar_text(v));
                }
                build.set("args", a);
                src.mapped("image.build.args", &format!("{to}.build.args"));
            }
            if src.get("image.build.cache_from").is_some() {
                src.not_mapped(
                    "image.build.cache_from",
                    "wharf builds with the Docker Engine's own cache; a registry cache is not used",
                );
            }
        }
        _ => {}
    }
    let platform = platform(src);
    if let Some(p) = &platform {
        if build.is_empty() {
            t.set("platform", p.as_str());
        } else {
            build.set("platform", p.as_str());
        }
    }
    if !build.is_empty() {
        t.set("build", build);
    }
    if kind == Kind::Job {
        return;
    }
    if src.get("image.healthcheck").is_some() {
        if let Some(cmd) = container_check(src) {
            t.table("health").set("command", cmd);
            src.mapped("image.healthcheck.command", &format!("{to}.health.command"));
        }
        if let Some(start) = src.str("image.healthcheck.start_period") {
            t.table("health").set("grace", start);
            src.mapped(
                "image.healthcheck.start_period",
                &format!("{to}.health.grace"),
            );
        }
        for (k, what) in [
            ("interval", "interval"),
            ("timeout", "timeout"),
            ("retries", "unhealthy"),
        ] {
            if src.get(&format!("image.healthcheck.{k}")).is_some() {
                src.changed(
                    &format!("image.healthcheck.{k}"),
                    &format!("{to}.health.{what}"),
                    "wharf runs the container check on the service's one health schedule (the load balancer's when it has one); set it in [services.NAME.health]",
                );
            }
        }
    }
}

/// `linux/x86_64` and friends, as wharf spells them.
fn platform(src: &mut Src<'_>) -> Option<String> {
    let raw = match src.get("platform")? {
        Value::String(s) => s.clone(),
        Value::Object(_) => format!(
            "{}/{}",
            src.str("platform.osfamily").unwrap_or("linux"),
            src.str("platform.architecture").unwrap_or("x86_64")
        ),
        _ => return None,
    };
    let lower = raw.to_ascii_lowercase();
    let (os, arch) = lower.split_once('/').unwrap_or((lower.as_str(), "x86_64"));
    if os != "linux" {
        src.not_mapped(
            "platform",
            "wharf runs Linux tasks only (Windows containers are not supported)",
        );
        return None;
    }
    let out = match arch {
        "x86_64" | "amd64" => "linux/amd64",
        "arm64" | "arm" | "aarch64" => "linux/arm64",
        _ => {
            src.not_mapped(
                "platform",
                "not an architecture Fargate runs: linux/amd64 or linux/arm64",
            );
            return None;
        }
    };
    if raw == out {
        src.mapped("platform", "platform");
    } else {
        src.changed(
            "platform",
            "platform",
            &format!("written as Docker and wharf spell it: {out}"),
        );
    }
    Some(out.to_owned())
}

/// Copilot's `CMD`/`CMD-SHELL` health command as wharf's command (a string runs under sh -c).
fn container_check(src: &Src<'_>) -> Option<V> {
    let list: Vec<String> = src
        .get("image.healthcheck.command")?
        .as_array()?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    match list.split_first() {
        Some((first, rest)) if first == "CMD-SHELL" => Some(rest.join(" ").into()),
        Some((first, rest)) if first == "CMD" => Some(rest.to_vec().into()),
        Some(_) => Some(list.into()),
        None => None,
    }
}

fn port(src: &mut Src<'_>, kind: Kind, to: &str, t: &mut Tbl) {
    match src.int("image.port") {
        Some(p) => {
            t.set("port", p);
            src.mapped("image.port", &format!("{to}.port"));
            if kind == Kind::Backend {
                t.set("internal", true);
            }
        }
        None => {
            t.set("port", 8080);
            if kind == Kind::Backend {
                src.changed("type", &format!("{to}.public"), "a Backend Service without a port takes no requests: wharf runs it as a worker (public = false)");
            }
        }
    }
    if kind != Kind::Web && !(kind == Kind::Backend && src.get("image.port").is_some()) {
        t.set("public", false);
    }
}

fn sizes(src: &mut Src<'_>, to: &str, t: &mut Tbl) {
    for k in ["cpu", "memory"] {
        if let Some(v) = src.int(k) {
            t.set(k, v);
            src.mapped(k, &format!("{to}.{k}"));
        }
    }
}

fn deployment(src: &mut Src<'_>, to: &str, t: &mut Tbl) {
    match src.str("deployment.rolling") {
        Some("recreate") => {
            let mut r = Tbl::default();
            r.set("min_healthy_percent", 0);
            r.set("max_percent", 100);
            t.table("deploy").set("rolling", r);
            src.mapped("deployment.rolling", &format!("{to}.deploy.rolling"));
        }
        Some(_) => src.mapped("deployment.rolling", &format!("{to}.deploy.strategy")),
        None => {}
    }
    if src.get("deployment.rollback_alarms").is_some() {
        src.changed("deployment.rollback_alarms", &format!("{to}.deploy.rollback"), "wharf rolls back by itself on the 5xx rate, health and its own alarms (deploy.rollback thresholds); with canary or blue-green the old version keeps serving while it decides");
    }
}

fn commands(src: &mut Src<'_>, to: &str, t: &mut Tbl) {
    match src.get("command") {
        Some(Value::String(s)) => {
            t.set("command", split_words(s));
            src.mapped("command", &format!("{to}.command"));
        }
        Some(Value::Array(a)) => {
            let v: Vec<String> = a.iter().map(scalar_text).collect();
            t.set("command", v);
            src.mapped("command", &format!("{to}.command"));
        }
        _ => {}
    }
    if src.get("entrypoint").is_some() {
        src.not_mapped(
            "entrypoint",
            "wharf overrides the command only: set the entrypoint in the Dockerfile (ENTRYPOINT)",
        );
    }
}

fn vars(src: &mut Src<'_>, to: &str, t: &mut Tbl) {
    if let Some(Value::Object(vars)) = src.get("variables") {
        let mut env = Tbl::default();
        for (k, v) in vars {
            let path = format!("variables.{k}");
            if v.is_object() {
                src.not_mapped(&path, "a value from another stack's output (from_cfn): write the value, or bind the data with data = [...]");
                continue;
            }
            env.set(k, scalar_text(v));
            src.mapped(&path, &format!("{to}.env.{k}"));
        }
        if !env.is_empty() {
            t.set("env", env);
        }
    }
    if let Some(Value::Object(secrets)) = src.get("secrets") {
        let mut out = Tbl::default();
        for (k, v) in secrets {
            src.secret(&format!("secrets.{k}"), k, v, to, &mut out);
        }
        if !out.is_empty() {
            t.set("secrets", out);
        }
    }
}

fn job(src: &mut Src<'_>, to: &str, t: &mut Tbl) {
    if let Some(s) = src.str("on.schedule") {
        match schedule::convert(s) {
            Ok((expr, None)) => {
                t.set("schedule", expr);
                src.mapped("on.schedule", &format!("{to}.schedule"));
            }
            Ok((expr, Some(why))) => {
                t.set("schedule", expr);
                src.changed("on.schedule", &format!("{to}.schedule"), &why);
            }
            Err(why) => src.not_mapped("on.schedule", &why),
        }
    }
    if let Some(timeout) = src.str("timeout") {
        t.set("timeout", timeout);
        src.mapped("timeout", &format!("{to}.timeout"));
    }
    if src.get("retries").is_some() {
        src.not_mapped("retries", "wharf runs a scheduled job once per schedule; make the job retry inside, or let the next run catch up");
    }
}

/// Keys every workload may have that wharf does not take.
fn others(src: &mut Src<'_>) {
    let exec = src.bool("exec");
    if exec == Some(true) {
        src.mapped("exec", "wharf exec");
    } else if exec == Some(false) {
        src.changed("exec", "wharf exec", "wharf enables ECS Exec on every task so `wharf exec` works; IAM decides who may use it");
    }
    if src.get("network.connect").is_some() {
        src.changed("network.connect", "talks_to", "Service Connect names become wharf's internal services: a caller says talks_to = [\"api\"] and gets API_URL");
    }
    if let Some(p) = src.str("network.vpc.placement") {
        if p == "private" {
            src.mapped("network.vpc.placement", "private subnets");
        } else {
            src.changed(
                "network.vpc.placement",
                "private subnets",
                "wharf runs every task in the private subnets, reached through the load balancer",
            );
        }
    }
    for (k, why) in [
        ("network.vpc.security_groups", "wharf makes each service's security group and admits exactly its callers; add rules to it after `wharf up` if you must"),
        ("storage", "no volumes: wharf tasks are stateless, with data in the stores of [data] (EFS is not supported)"),
        ("logging", "logs go to CloudWatch Logs with the environment's retention (log_retention); FireLens routing is not supported"),
        ("sidecars", "one container per task: run a sidecar as a service of its own"),
        ("publish", "wharf makes no SNS topics: keep the topic in your own stack and grant it to the task role"),
        ("subscribe", "wharf makes no SQS queues: keep the queue in your own stack and pass its URL in env"),
        ("observability", "wharf enables Container Insights and a dashboard per environment; X-Ray is not set up"),
        ("taskdef_overrides", "wharf writes the task definition itself; a needed field is worth an issue"),
        ("tags", "wharf tags what it makes with wharf.app, wharf.env and wharf.service"),
        ("image.depends_on", "one container per task: there is nothing to depend on"),
        ("image.labels", "wharf labels what it makes with its own keys"),
        ("image.docker_labels", "wharf labels what it makes with its own keys"),
        ("image.credentials", "wharf pulls with the execution role: images from ECR or public registries"),
    ] {
        if src.get(k).is_some() {
            src.not_mapped(k, why);
        }
    }
}

/// `dir/Dockerfile` → (`dir`, `Dockerfile`).
fn split_dockerfile(path: &str) -> (String, String) {
    let path = path.trim_start_matches("./");
    match path.rsplit_once('/') {
        Some((dir, file)) => (dir.to_owned(), file.to_owned()),
        None => (".".to_owned(), path.to_owned()),
    }
}

/// A workspace-relative Dockerfile path made relative to the build context, as Docker reads it.
fn relative_to(dockerfile: &str, context: &str) -> String {
    let d = dockerfile.trim_start_matches("./");
    let c = context.trim_start_matches("./").trim_end_matches('/');
    if c.is_empty() || c == "." {
        return d.to_owned();
    }
    match d.strip_prefix(&format!("{c}/")) {
        Some(rest) => rest.to_owned(),
        None => {
            let ups = c.split('/').filter(|s| !s.is_empty()).count();
            format!("{}{d}", "../".repeat(ups))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfiles_are_made_relative_to_their_context() {
        assert_eq!(
            split_dockerfile("./web/Dockerfile"),
            ("web".into(), "Dockerfile".into())
        );
        assert_eq!(
            split_dockerfile("Dockerfile.prod"),
            (".".into(), "Dockerfile.prod".into())
        );
        assert_eq!(
            relative_to("web/docker/Dockerfile", "web"),
            "docker/Dockerfile"
        );
        assert_eq!(
            relative_to("docker/web.Dockerfile", "web"),
            "../docker/web.Dockerfile"
        );
        assert_eq!(relative_to("Dockerfile", "."), "Dockerfile");
    }
}

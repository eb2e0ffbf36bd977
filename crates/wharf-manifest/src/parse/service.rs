//! `[services.NAME]`: image source, size, health check, env and secrets, routing, scaling.
//! Deploy settings are read by the `deploy` module next to this one.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::diag::{Problem, Rule};
use crate::duration::Duration;
use crate::fargate;
use crate::model::{
    Autoscaling, Build, Capacity, HealthCheck, ImageSource, Routing, SecretRef, Service,
};
use crate::reader::{Cx, Node, Tbl};

use super::deploy;

pub(crate) fn read(cx: &mut Cx, name: &str, node: &Node<'_, '_>) -> Option<Service> {
    let mut t = cx.table(node)?;
    let image = read_image_source(cx, &mut t);
    let port = t
        .req(cx, "port", "the container port the service listens on")
        .and_then(|n| {
            cx.int_rule(&n, 1, 65535, Rule::PortRange, "ports run from 1 to 65535")
                .map(|p| p as u16)
        });
    let (cpu, memory) = read_size(cx, &mut t);
    let count = t
        .get(cx, "count")
        .map_or(Some(1), |n| cx.int(&n, 0, 1000).map(|v| v as u32));
    let health = read_health(cx, &mut t);
    let (env, secrets) = read_env_and_secrets(cx, &mut t);
    let data = read_bindings(cx, &mut t);
    let public = t.get(cx, "public").map_or(Some(true), |n| cx.boolean(&n));
    let routing = read_routing(cx, &mut t, public.unwrap_or(true));
    let autoscaling = t
        .get(cx, "autoscaling")
        .and_then(|n| read_autoscaling(cx, &n, count));
    let capacity = match t.get(cx, "capacity") {
        Some(n) => cx.choice(
            &n,
            &[
                ("fargate", Capacity::Fargate),
                ("fargate-spot", Capacity::FargateSpot),
            ],
        ),
        None => Some(Capacity::Fargate),
    };
    let command = t.get(cx, "command").and_then(|n| cx.command(&n));
    let stop_timeout = match t.get(cx, "stop_timeout") {
        Some(n) => cx.duration(&n).filter(|d| {
            let ok = (2_000..=120_000).contains(&d.as_millis());
            if !ok {
                cx.error(
                    Rule::InvalidValue,
                    n.span.clone(),
                    &n.path,
                    format!("a stop timeout of {d} is outside what ECS allows"),
                )
                .expected = Some("2s to 2m".into());
            }
            ok
        }),
        None => Some(Duration::from_secs(30)),
    };
    let deploy_node = t.get(cx, "deploy");
    let deploy = deploy::read(cx, deploy_node.as_ref());
    t.finish(cx);
    Some(Service {
        name: name.to_owned(),
        image: image?,
        port: port?,
        cpu: cpu?,
        memory: memory?,
        count: count?,
        health: health?,
        env: env?,
        secrets: secrets?,
        data: data?,
        public: public?,
        routing: routing?,
        autoscaling,
        capacity: capacity?,
        command,
        stop_timeout: stop_timeout?,
        deploy: deploy?,
    })
}

/// `build = {...}` or `image = "..."`, exactly one.
pub(crate) fn read_image_source(cx: &mut Cx, t: &mut Tbl<'_, '_>) -> Option<ImageSource> {
    let build = t.get(cx, "build");
    let image = t.get(cx, "image");
    match (build, image) {
        (Some(b), Some(i)) => {
            cx.push(
                Problem::error(
                    Rule::ImageSource,
                    i.span.clone(),
                    &i.path,
                    "both `build` and `image` are set",
                )
                .help("keep `build` to build from source, or `image` to deploy a prebuilt image"),
            );
            let _ = b;
            None
        }
        (None, None) => {
            cx.push(
                Problem::error(
                    Rule::ImageSource,
                    t.header_span(),
                    &t.path,
                    format!("`{}` has neither `build` nor `image`", t.path),
                )
                .help("add build = { context = \".\" } or image = \"registry/name:tag\""),
            );
            None
        }
        (Some(b), None) => read_build(cx, &b).map(ImageSource::Build),
        (None, Some(i)) => {
            let s = cx.string(&i)?;
            if s.is_empty() || s.chars().any(char::is_whitespace) {
                cx.error(
                    Rule::ImageSource,
                    i.span.clone(),
                    &i.path,
                    format!("`{s}` is not an image reference"),
                )
                .expected = Some("a reference such as \"public.ecr.aws/nginx/nginx:1.27\"".into());
                return None;
            }
            Some(ImageSource::Image(s))
        }
    }
}

fn read_build(cx: &mut Cx, node: &Node<'_, '_>) -> Option<Build> {
    let mut t = cx.table(node)?;
    let context = t
        .get(cx, "context")
        .and_then(|n| cx.string(&n))
        .unwrap_or_else(|| ".".into());
    let dockerfile = t
        .get(cx, "dockerfile")
        .and_then(|n| cx.string(&n))
        .unwrap_or_else(|| "Dockerfile".into());
    let target = t.get(cx, "target").and_then(|n| cx.string(&n));
    let args = t
        .get(cx, "args")
        .and_then(|n| cx.string_map(&n))
        .map(|v| v.into_iter().map(|e| (e.key, e.value)).collect())
        .unwrap_or_default();
    let platform = t.get(cx, "platform").and_then(|n| {
        cx.choice(
            &n,
            &[
                ("linux/amd64", "linux/amd64"),
                ("linux/arm64", "linux/arm64"),
            ],
        )
        .map(str::to_owned)
    });
    let pre_build = t.get(cx, "pre_build").and_then(|n| cx.command(&n));
    t.finish(cx);
    Some(Build {
        context: PathBuf::from(context),
        dockerfile: PathBuf::from(dockerfile),
        target,
        args,
        platform,
        pre_build,
    })
}

/// cpu and memory, checked against Fargate's table.
pub(crate) fn read_size(cx: &mut Cx, t: &mut Tbl<'_, '_>) -> (Option<u32>, Option<u32>) {
    let cpu_n = t.get(cx, "cpu");
    let mem_n = t.get(cx, "memory");
    let cpu = cpu_n
        .as_ref()
        .map_or(Some(256), |n| cx.int(n, 1, 16384).map(|v| v as u32));
    let memory = mem_n
        .as_ref()
        .map_or(Some(512), |n| cx.int(n, 1, 122_880).map(|v| v as u32));
    if let (Some(c), Some(m)) = (cpu, memory) {
        if let Err(why) = fargate::check(c, m) {
            let (span, path) = match (&cpu_n, &mem_n) {
                (Some(n), _) if fargate::memory_options(c).is_none() => {
                    (n.span.clone(), n.path.clone())
                }
                (_, Some(n)) => (n.span.clone(), n.path.clone()),
                (Some(n), None) => (n.span.clone(), n.path.clone()),
                (None, None) => (t.header_span(), t.path.clone()),
            };
            cx.push(
                Problem::error(
                    Rule::FargateSize,
                    span,
                    path,
                    format!("Fargate has no task size cpu = {c}, memory = {m}"),
                )
                .help(why),
            );
            return (None, None);
        }
    }
    (cpu, memory)
}

fn read_health(cx: &mut Cx, t: &mut Tbl<'_, '_>) -> Option<HealthCheck> {
    let mut h = HealthCheck {
        path: "/".into(),
        interval: Duration::from_secs(5),
        timeout: Duration::from_secs(3),
        healthy: 2,
        unhealthy: 3,
        grace: None,
        matcher: "200-399".into(),
        command: None,
    };
    let Some(node) = t.get(cx, "health") else {
        return Some(h);
    };
    let mut ht = cx.table(&node)?;
    let mut ok = true;
    if let Some(n) = ht.get(cx, "path") {
        match cx.string(&n) {
            Some(p) if p.starts_with('/') && p.len() <= 1024 => h.path = p,
            Some(p) => {
                cx.error(
                    Rule::HealthCheck,
                    n.span.clone(),
                    &n.path,
                    format!("health-check path `{p}` must start with /"),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    let mut secs = |cx: &mut Cx, key: &'static str, lo: u64, hi: u64, into: &mut Duration| {
        if let Some(n) = ht.get(cx, key) {
            match cx.duration(&n) {
                Some(d)
                    if d.as_millis() % 1000 == 0 && (lo..=hi).contains(&(d.as_millis() / 1000)) =>
                {
                    *into = d
                }
                Some(d) => {
                    cx.push(
                        Problem::error(
                            Rule::HealthCheck,
                            n.span.clone(),
                            &n.path,
                            format!("a health-check {key} of {d} is outside what ALB allows"),
                        )
                        .expected(format!("whole seconds from {lo}s to {hi}s")),
                    );
                    ok = false;
                }
                None => ok = false,
            }
        }
    };
    secs(cx, "interval", 5, 300, &mut h.interval);
    secs(cx, "timeout", 2, 120, &mut h.timeout);
    for (key, into) in [("healthy", &mut h.healthy), ("unhealthy", &mut h.unhealthy)] {
        if let Some(n) = ht.get(cx, key) {
            match cx.int_rule(
                &n,
                2,
                10,
                Rule::HealthCheck,
                "ALB thresholds run from 2 to 10",
            ) {
                Some(v) => *into = v as u32,
                None => ok = false,
            }
        }
    }
    if let Some(n) = ht.get(cx, "grace") {
        match cx.duration(&n) {
            Some(d) => h.grace = Some(d),
            None => ok = false,
        }
    }
    if let Some(n) = ht.get(cx, "command") {
        match cx.command(&n) {
            Some(c) => h.command = Some(c),
            None => ok = false,
        }
    }
    if let Some(n) = ht.get(cx, "matcher") {
        match cx.string(&n) {
            Some(m) if valid_matcher(&m) => h.matcher = m,
            Some(m) => {
                cx.push(
                    Problem::error(
                        Rule::HealthCheck,
                        n.span.clone(),
                        &n.path,
                        format!("`{m}` is not an HTTP code matcher"),
                    )
                    .expected("codes from 200 to 499: \"200\", \"200-399\" or \"200,204\""),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    if ok && h.timeout >= h.interval {
        let span = cx
            .span_of(&format!("{}.timeout", ht.path))
            .unwrap_or_else(|| ht.header_span());
        cx.push(
            Problem::error(
                Rule::HealthCheck,
                span,
                format!("{}.timeout", ht.path),
                format!(
                    "the health-check timeout ({}) must be shorter than the interval ({})",
                    h.timeout, h.interval
                ),
            )
            .help("ALB refuses a timeout at or above the interval"),
        );
        ok = false;
    }
    ht.finish(cx);
    ok.then_some(h)
}

fn valid_matcher(m: &str) -> bool {
    let code = |s: &str| {
        s.trim()
            .parse::<u16>()
            .is_ok_and(|c| (200..=499).contains(&c))
    };
    !m.is_empty()
        && m.split(',').all(|part| match part.split_once('-') {
            Some((a, b)) => {
                code(a) && code(b) && a.trim().parse::<u16>().ok() <= b.trim().parse::<u16>().ok()
            }
            None => code(part),
        })
}

type EnvAndSecrets = (
    Option<BTreeMap<String, String>>,
    Option<BTreeMap<String, SecretRef>>,
);

/// `env = {...}` and `secrets = {...}`: valid names, no name in both, secrets only as references.
pub(crate) fn read_env_and_secrets(cx: &mut Cx, t: &mut Tbl<'_, '_>) -> EnvAndSecrets {
    let mut env = BTreeMap::new();
    let mut ok = true;
    if let Some(n) = t.get(cx, "env") {
        match cx.string_map(&n) {
            Some(items) => {
                for crate::reader::MapEntry {
                    key: k,
                    value: v,
                    key_span: kspan,
                } in items
                {
                    let path = format!("{}.{k}", n.path);
                    if !valid_env_name(&k) {
                        cx.error(
                            Rule::EnvVar,
                            kspan,
                            &path,
                            format!("`{k}` is not a valid environment variable name"),
                        )
                        .expected = Some("letters, digits and _, not starting with a digit".into());
                        ok = false;
                        continue;
                    }
                    if k == "DEPLOYMENT_ID" {
                        cx.error(
                            Rule::EnvVar,
                            kspan,
                            &path,
                            "DEPLOYMENT_ID is set by wharf to the deployment's id",
                        )
                        .help =
                            Some("remove it; every task gets DEPLOYMENT_ID automatically".into());
                        ok = false;
                        continue;
                    }
                    if looks_secret(&k) && !v.is_empty() {
                        cx.warning(Rule::SecretRef, kspan.clone(), &path, format!("`{k}` looks like a secret written in plain text"))
                            .help = Some(format!("move it to secrets = {{ {k} = \"ssm:/path\" }}, so its value never sits in the manifest or the task definition"));
                    }
                    env.insert(k, v);
                }
            }
            None => ok = false,
        }
    }
    let mut secrets = BTreeMap::new();
    if let Some(n) = t.get(cx, "secrets") {
        match cx.table(&n) {
            Some(mut st) => {
                for (k, kspan, vn) in st.entries() {
                    if !valid_env_name(&k) {
                        cx.error(
                            Rule::EnvVar,
                            kspan,
                            &vn.path,
                            format!("`{k}` is not a valid environment variable name"),
                        );
                        ok = false;
                        continue;
                    }
                    if env.contains_key(&k) {
                        cx.error(
                            Rule::EnvVar,
                            kspan,
                            &vn.path,
                            format!("`{k}` is set in both env and secrets"),
                        )
                        .help = Some("keep it in one of the two".into());
                        ok = false;
                        continue;
                    }
                    match secret_ref(cx, &vn) {
                        Some(r) => {
                            secrets.insert(k, r);
                        }
                        None => ok = false,
                    }
                }
            }
            None => ok = false,
        }
    }
    if ok {
        (Some(env), Some(secrets))
    } else {
        (None, None)
    }
}

fn valid_env_name(k: &str) -> bool {
    k.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn looks_secret(k: &str) -> bool {
    let k = k.to_ascii_uppercase();
    [
        "PASSWORD",
        "SECRET",
        "TOKEN",
        "PRIVATE_KEY",
        "API_KEY",
        "CREDENTIAL",
    ]
    .iter()
    .any(|w| k.contains(w))
}

/// `ssm:/path` or `secretsmanager:name[:key]`.
pub(crate) fn secret_ref(cx: &mut Cx, n: &Node<'_, '_>) -> Option<SecretRef> {
    let s = cx.string(n)?;
    let parsed = if let Some(path) = s.strip_prefix("ssm:") {
        let ok = path.starts_with('/')
            && path.len() > 1
            && path.len() <= 2048
            && !path.ends_with('/')
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_.-".contains(&b))
            && !path.contains("//");
        ok.then(|| SecretRef::Ssm {
            path: path.to_owned(),
        })
    } else if let Some(rest) = s.strip_prefix("secretsmanager:") {
        let (name, key) = match rest.split_once(':') {
            Some((a, b)) => (a, Some(b)),
            None => (rest, None),
        };
        let name_ok = !name.is_empty()
            && name.len() <= 512
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-".contains(&b));
        let key_ok = key.is_none_or(|k| !k.is_empty() && !k.contains(':'));
        (name_ok && key_ok).then(|| SecretRef::SecretsManager {
            name: name.to_owned(),
            key: key.map(str::to_owned),
        })
    } else {
        None
    };
    if parsed.is_none() {
        let looks_literal = !s.contains(':');
        let mut p = Problem::error(
            Rule::SecretRef,
            n.span.clone(),
            &n.path,
            format!("`{}` is not a secret reference", redact(&s)),
        )
        .expected("\"ssm:/path/to/parameter\" or \"secretsmanager:name[:json-key]\"");
        p = if looks_literal {
            p.help("secrets are never written in the manifest: store the value in SSM Parameter Store or Secrets Manager and reference it")
        } else {
            p.help("an SSM path starts with / and has no trailing /; a Secrets Manager name may carry one :json-key")
        };
        cx.push(p);
    }
    parsed
}

/// Shows at most a hint of a value that may be a secret.
fn redact(s: &str) -> String {
    if s.contains(':') || s.len() <= 4 {
        s.to_owned()
    } else {
        format!(
            "{}…",
            &s[..s.char_indices().nth(2).map_or(s.len(), |(i, _)| i)]
        )
    }
}

/// `data = [...]`: each name must be a data resource of the manifest.
pub(crate) fn read_bindings(cx: &mut Cx, t: &mut Tbl<'_, '_>) -> Option<Vec<String>> {
    let Some(n) = t.get(cx, "data") else {
        return Some(Vec::new());
    };
    let names = cx.string_list(&n)?;
    let mut ok = true;
    for (name, span) in &names {
        if cx.data_names.contains(name) {
            continue;
        }
        ok = false;
        let known = cx.data_names.clone();
        let mut p = Problem::error(
            Rule::DataBinding,
            span.clone(),
            &n.path,
            format!(
                "`{}` binds data `{name}`, which the manifest does not define",
                t.path
            ),
        );
        p = match crate::reader::did_you_mean(name, known.iter().map(String::as_str)) {
            Some(m) => p.help(format!("did you mean `{m}`?")),
            None => p.help(format!("add [data.{name}] or remove it from `data`")),
        };
        cx.push(p);
    }
    ok.then(|| names.into_iter().map(|(s, _)| s).collect())
}

fn read_routing(cx: &mut Cx, t: &mut Tbl<'_, '_>, public: bool) -> Option<Option<Routing>> {
    let Some(node) = t.get(cx, "routing") else {
        return Some(public.then(|| Routing {
            hosts: vec![],
            paths: vec!["/*".into()],
            priority: 0,
        }));
    };
    if !public {
        cx.push(
            Problem::error(
                Rule::InvalidValue,
                node.span.clone(),
                &node.path,
                "an internal service (public = false) has no routing",
            )
            .help("remove `routing`, or set public = true"),
        );
        return None;
    }
    let mut rt = cx.table(&node)?;
    let mut ok = true;
    let mut list = |cx: &mut Cx,
                    rt: &mut Tbl<'_, '_>,
                    one: &'static str,
                    many: &'static str|
     -> Vec<(String, std::ops::Range<usize>)> {
        let mut out = Vec::new();
        if let Some(n) = rt.get(cx, one) {
            match cx.string(&n) {
                Some(s) => out.push((s, n.span.clone())),
                None => ok = false,
            }
        }
        if let Some(n) = rt.get(cx, many) {
            match cx.string_list(&n) {
                Some(v) => out.extend(v),
                None => ok = false,
            }
        }
        out
    };
    let hosts = list(cx, &mut rt, "host", "hosts");
    let paths = list(cx, &mut rt, "path", "paths");
    for (h, span) in &hosts {
        if !super::environment::is_domain(h) {
            cx.error(
                Rule::InvalidValue,
                span.clone(),
                &rt.path,
                format!("`{h}` is not a host name"),
            );
            ok = false;
        }
    }
    for (p, span) in &paths {
        if !p.starts_with('/') || p.len() > 128 {
            cx.error(
                Rule::InvalidValue,
                span.clone(),
                &rt.path,
                format!("path pattern `{p}` must start with / (at most 128 characters)"),
            )
            .help = Some("e.g. \"/api/*\"".into());
            ok = false;
        }
    }
    if hosts.len() + paths.len() > 4 {
        cx.error(Rule::InvalidValue, rt.header_span(), &rt.path, "a listener rule takes at most 4 host and path values together")
            .help = Some("ALB counts every value of every condition toward a limit of 5 per rule; wharf keeps one for the affinity header".into());
        ok = false;
    }
    let priority = match rt.get(cx, "priority") {
        Some(n) => match cx.int_rule(
            &n,
            1,
            499,
            Rule::RulePriority,
            "priorities run from 1 to 499 (each takes a block of 100 ALB rule priorities)",
        ) {
            Some(v) => v as u32,
            None => {
                ok = false;
                0
            }
        },
        None => 0,
    };
    rt.finish(cx);
    let mut paths: Vec<String> = paths.into_iter().map(|(p, _)| p).collect();
    if paths.is_empty() {
        paths.push("/*".into());
    }
    ok.then(|| {
        Some(Routing {
            hosts: hosts.into_iter().map(|(h, _)| h).collect(),
            paths,
            priority,
        })
    })
}

fn read_autoscaling(cx: &mut Cx, node: &Node<'_, '_>, count: Option<u32>) -> Option<Autoscaling> {
    let mut at = cx.table(node)?;
    let min = at
        .req(cx, "min", "the fewest tasks")
        .and_then(|n| cx.int(&n, 0, 1000));
    let max_n = at.req(cx, "max", "the most tasks");
    let max = max_n.as_ref().and_then(|n| cx.int(n, 1, 1000));
    let cpu = at.get(cx, "cpu").map_or(Some(70), |n| cx.int(&n, 1, 100));
    let header = at.header_span();
    at.finish(cx);
    let (min, max, cpu) = (min? as u32, max? as u32, cpu? as u32);
    let span = max_n.map(|n| n.span).unwrap_or(header);
    if min > max {
        cx.push(
            Problem::error(
                Rule::Autoscaling,
                span,
                format!("{}.max", node.path),
                format!("autoscaling max ({max}) is below min ({min})"),
            )
            .help("make max at least min"),
        );
        return None;
    }
    if let Some(c) = count {
        if c < min || c > max {
            cx.push(
                Problem::error(
                    Rule::Autoscaling,
                    node.span.clone(),
                    &node.path,
                    format!("count = {c} is outside autoscaling's {min}–{max}"),
                )
                .help("set count within min and max: it is the starting size"),
            );
            return None;
        }
    }
    Some(Autoscaling { min, max, cpu })
}

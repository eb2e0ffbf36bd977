//! `[services.NAME]`: image source and size here; the health check, env and secrets, routing
//! and scaling, and deploy settings are read by the modules next to this one.

use std::path::PathBuf;

use crate::diag::{Problem, Rule};
use crate::duration::Duration;
use crate::fargate;
use crate::model::{Build, Capacity, ImageSource, Internal, Routing, Service};
use crate::reader::{Cx, Node, Tbl};

use super::deploy;
use super::env::{read_bindings, read_env_and_secrets};
use super::health::read_health;
use super::routing::{read_autoscaling, read_routing};

pub(crate) fn read(cx: &mut Cx, name: &str, node: &Node<'_, '_>) -> Option<Service> {
    let mut t = cx.table(node)?;
    let image = read_image_source(cx, &mut t);
    let platform = read_platform(cx, &mut t, image.as_ref());
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
    let (public, internal, talks_to) = read_reach(cx, &mut t, port);
    let routing = match internal {
        Some(Some(_)) => internal_routing(cx, &mut t),
        _ => read_routing(cx, &mut t, public.unwrap_or(true)),
    };
    let autoscaling = t.get(cx, "autoscaling").and_then(|n| {
        let a = read_autoscaling(cx, &n, count)?;
        if a.requests.is_some() && matches!(routing, Some(None)) {
            cx.push(
                Problem::error(
                    Rule::Autoscaling,
                    n.span.clone(),
                    &n.path,
                    "scaling on `requests` needs a load balancer, and this service has none",
                )
                .help("scale it on cpu or memory, or make it public or internal"),
            );
            return None;
        }
        Some(a)
    });
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
    if let (Some(Some(p)), Some(Capacity::FargateSpot)) = (&platform, capacity) {
        if p == "linux/arm64" {
            cx.push(
                Problem::error(
                    Rule::InvalidValue,
                    t.header_span(),
                    &t.path,
                    "Fargate Spot does not run linux/arm64 tasks",
                )
                .help("use capacity = \"fargate\" for Graviton, or platform = \"linux/amd64\" for Spot"),
            );
        }
    }
    let deploy_node = t.get(cx, "deploy");
    let deploy = deploy::read(cx, deploy_node.as_ref(), name);
    t.finish(cx);
    Some(Service {
        name: name.to_owned(),
        image: image?,
        platform: platform?,
        port: port?,
        cpu: cpu?,
        memory: memory?,
        count: count?,
        health: health?,
        env: env?,
        secrets: secrets?,
        data: data?,
        public: public?,
        internal: internal?,
        talks_to: talks_to?,
        routing: routing?,
        autoscaling,
        capacity: capacity?,
        command,
        stop_timeout: stop_timeout?,
        deploy: deploy?,
    })
}

/// `public`, `internal` (with `internal_port`) and `talks_to`: who reaches the service and
/// whom it calls. An internal service is not public.
#[allow(clippy::type_complexity)]
fn read_reach(
    cx: &mut Cx,
    t: &mut Tbl<'_, '_>,
    port: Option<u16>,
) -> (Option<bool>, Option<Option<Internal>>, Option<Vec<String>>) {
    let public_node = t.get(cx, "public");
    let public = public_node.as_ref().map(|n| cx.boolean(n));
    let internal = t.get(cx, "internal").map(|n| (cx.boolean(&n), n));
    let port_node = t.get(cx, "internal_port");
    let talks_to = match t.get(cx, "talks_to") {
        Some(n) => cx
            .string_list(&n)
            .map(|v| v.into_iter().map(|(s, _)| s).collect()),
        None => Some(vec![]),
    };
    let internal = match internal {
        None | Some((Some(false), _)) => {
            if let Some(n) = &port_node {
                cx.push(
                    Problem::error(
                        Rule::InvalidValue,
                        n.span.clone(),
                        &n.path,
                        "`internal_port` is set but the service is not internal",
                    )
                    .help("set internal = true, or remove `internal_port`"),
                );
                return (public.flatten(), None, talks_to);
            }
            Some(None)
        }
        Some((None, _)) => None,
        Some((Some(true), _)) => {
            if let (Some(Some(true)), Some(p)) = (&public, &public_node) {
                cx.push(
                    Problem::error(
                        Rule::InvalidValue,
                        p.span.clone(),
                        &p.path,
                        "a service is either public or internal, not both",
                    )
                    .help("remove `public = true`: an internal service is reached only from the services that name it in `talks_to`"),
                );
                return (None, None, talks_to);
            }
            let listener = match port_node {
                Some(n) => cx
                    .int_rule(&n, 1, 65535, Rule::PortRange, "ports run from 1 to 65535")
                    .map(|p| p as u16),
                None => port,
            };
            listener.map(|port| Some(Internal { port }))
        }
    };
    let public = match &internal {
        Some(Some(_)) => Some(false),
        _ => public.unwrap_or(Some(true)),
    };
    (public, internal, talks_to)
}

/// An internal service's route: every request on its own listener (a `routing` table is
/// refused: callers reach it by its name and port).
fn internal_routing(cx: &mut Cx, t: &mut Tbl<'_, '_>) -> Option<Option<Routing>> {
    if let Some(n) = t.get(cx, "routing") {
        cx.push(
            Problem::error(
                Rule::InvalidValue,
                n.span.clone(),
                &n.path,
                "an internal service has no routing: its callers reach it by its name",
            )
            .help("remove `routing`; the service is called at http://NAME.APP.internal:PORT"),
        );
        return None;
    }
    Some(Some(Routing {
        hosts: vec![],
        paths: vec!["/*".into()],
        priority: 0,
    }))
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
    let platform = t.get(cx, "platform").and_then(|n| platform_value(cx, &n));
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

/// A platform Fargate runs: `linux/amd64` (X86_64) or `linux/arm64` (ARM64, Graviton).
fn platform_value(cx: &mut Cx, n: &Node<'_, '_>) -> Option<String> {
    let s = cx.string(n)?;
    if matches!(s.as_str(), "linux/amd64" | "linux/arm64") {
        return Some(s);
    }
    let why = match s.split('/').next() {
        Some("windows") => "wharf deploys Linux tasks only",
        Some("linux") => "Fargate runs no other Linux architecture (no 32-bit x86, no 32-bit ARM)",
        _ => "it is not an OS/architecture pair",
    };
    cx.push(
        Problem::error(
            Rule::InvalidValue,
            n.span.clone(),
            &n.path,
            format!("Fargate cannot run platform `{s}`: {why}"),
        )
        .expected("\"linux/amd64\" (X86_64) or \"linux/arm64\" (ARM64, Graviton)"),
    );
    None
}

/// The platform the tasks run: `platform` beside `image` or `build`, or `build.platform`
/// (`None`: the architecture the built image has; Fargate's default, linux/amd64, for a
/// prebuilt one). `Some(None)` when unset, `None` on an error (reported).
pub(crate) fn read_platform(
    cx: &mut Cx,
    t: &mut Tbl<'_, '_>,
    image: Option<&ImageSource>,
) -> Option<Option<String>> {
    let top = match t.get(cx, "platform") {
        Some(n) => Some((platform_value(cx, &n)?, n.span.clone(), n.path.clone())),
        None => None,
    };
    let built = match image {
        Some(ImageSource::Build(b)) => b.platform.clone(),
        _ => None,
    };
    match (top, built) {
        (Some((a, span, path)), Some(b)) if a != b => {
            cx.push(
                Problem::error(
                    Rule::InvalidValue,
                    span,
                    &path,
                    format!("`platform` is {a} but `build.platform` is {b}"),
                )
                .help("keep one of them"),
            );
            None
        }
        (Some((a, _, _)), _) => Some(Some(a)),
        (None, b) => Some(b),
    }
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

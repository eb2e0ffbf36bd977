//! `[jobs.NAME]`: one-off or scheduled tasks, with their own image, a build, or a service's image.

use crate::diag::{Problem, Rule};
use crate::model::{ImageSource, Job, JobImage};
use crate::reader::{Cx, Node};

use super::env::{read_bindings, read_env_and_secrets};
use super::service::{read_image_source, read_platform, read_size};

pub(crate) fn read(cx: &mut Cx, name: &str, node: &Node<'_, '_>) -> Option<Job> {
    let mut t = cx.table(node)?;
    let image = match t.get(cx, "service") {
        Some(n) => {
            if t.has("image") || t.has("build") {
                cx.push(
                    Problem::error(
                        Rule::ImageSource,
                        n.span.clone(),
                        &n.path,
                        "a job takes one of `service`, `image` or `build`",
                    )
                    .help("`service = \"web\"` runs the web service's current image"),
                );
                t.get(cx, "image");
                t.get(cx, "build");
                None
            } else {
                cx.string(&n).map(JobImage::Service)
            }
        }
        None => read_image_source(cx, &mut t).map(|i| match i {
            ImageSource::Build(b) => JobImage::Build(b),
            ImageSource::Image(s) => JobImage::Image(s),
        }),
    };
    let source = match &image {
        Some(JobImage::Build(b)) => Some(ImageSource::Build(b.clone())),
        _ => None,
    };
    let platform = read_platform(cx, &mut t, source.as_ref());
    let command = t.get(cx, "command").and_then(|n| cx.command(&n));
    let (cpu, memory) = read_size(cx, &mut t);
    let schedule = t.get(cx, "schedule").and_then(|n| {
        let s = cx.string(&n)?;
        if let Err(why) = crate::schedule::Schedule::parse(&s) {
            cx.push(
                Problem::error(
                    Rule::Schedule,
                    n.span.clone(),
                    &n.path,
                    format!("`{s}` is not a schedule: {why}"),
                )
                .expected("\"rate(1 hour)\", \"rate(5 minutes)\" or \"cron(0 3 * * ? *)\""),
            );
            return None;
        }
        Some(s)
    });
    let (env, secrets) = read_env_and_secrets(cx, &mut t);
    let data = read_bindings(cx, &mut t);
    let timeout = t.get(cx, "timeout").and_then(|n| cx.duration(&n));
    let host_network = match t.get(cx, "network") {
        None => Some(false),
        Some(n) => match cx.string(&n)?.as_str() {
            "host" => Some(true),
            "environment" => Some(false),
            other => {
                cx.push(
                    Problem::error(
                        Rule::InvalidValue,
                        n.span.clone(),
                        &n.path,
                        format!("`{other}` is not a job network"),
                    )
                    .expected(
                        "\"environment\" (the default) or \"host\" (local environments only)",
                    ),
                );
                None
            }
        },
    };
    t.finish(cx);
    Some(Job {
        name: name.to_owned(),
        image: image?,
        platform: platform?,
        command,
        cpu: cpu?,
        memory: memory?,
        schedule,
        env: env?,
        secrets: secrets?,
        data: data?,
        timeout,
        host_network: host_network?,
    })
}

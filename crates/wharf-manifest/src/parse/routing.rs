//! A service's `routing` (hosts, paths, priority; public or internal) and `autoscaling`.

use crate::diag::{Problem, Rule};
use crate::model::{Autoscaling, CpuSteps, Routing};
use crate::reader::{Cx, Node, Tbl};

pub(crate) fn read_routing(
    cx: &mut Cx,
    t: &mut Tbl<'_, '_>,
    public: bool,
) -> Option<Option<Routing>> {
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

pub(crate) fn read_autoscaling(
    cx: &mut Cx,
    node: &Node<'_, '_>,
    count: Option<u32>,
) -> Option<Autoscaling> {
    let mut at = cx.table(node)?;
    let min = at
        .req(cx, "min", "the fewest tasks")
        .and_then(|n| cx.int(&n, 0, 1000));
    let max_n = at.req(cx, "max", "the most tasks");
    let max = max_n.as_ref().and_then(|n| cx.int(n, 1, 1000));
    let percent = |cx: &mut Cx, at: &mut Tbl<'_, '_>, key: &'static str| match at.get(cx, key) {
        Some(n) => cx.int(&n, 1, 100).map(|v| Some(v as u32)),
        None => Some(None),
    };
    let cpu = percent(cx, &mut at, "cpu");
    let memory = percent(cx, &mut at, "memory");
    let requests = match at.get(cx, "requests") {
        Some(n) => cx.int(&n, 1, 1_000_000).map(|v| Some(v as u32)),
        None => Some(None),
    };
    let step = match at.get(cx, "step") {
        Some(n) => read_steps(cx, &n).map(Some),
        None => Some(None),
    };
    let header = at.header_span();
    at.finish(cx);
    let (min, max) = (min? as u32, max? as u32);
    let (mut cpu, memory, requests, step) = (cpu?, memory?, requests?, step?);
    if cpu.is_some() && step.is_some() {
        cx.push(
            Problem::error(
                Rule::Autoscaling,
                header.clone(),
                &node.path,
                "`cpu` (target tracking) and `step` (CPU steps) both scale on CPU",
            )
            .help("keep one: cpu = 60 holds the average at 60%; step = { out = 70, in = 30 } adds a task above 70% and removes one below 30%"),
        );
        return None;
    }
    // Without any policy: CPU target tracking at 70%.
    if cpu.is_none() && memory.is_none() && requests.is_none() && step.is_none() {
        cpu = Some(70);
    }
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
    Some(Autoscaling {
        min,
        max,
        cpu,
        memory,
        requests,
        step,
    })
}

/// `step = { out = 70, in = 30 }`: CPU percent thresholds, `in` below `out`.
fn read_steps(cx: &mut Cx, node: &Node<'_, '_>) -> Option<CpuSteps> {
    let mut t = cx.table(node)?;
    let out = t
        .req(cx, "out", "the CPU percent above which a task is added")
        .and_then(|n| cx.int(&n, 1, 100));
    let scale_in = t
        .req(cx, "in", "the CPU percent below which a task is removed")
        .and_then(|n| cx.int(&n, 0, 99));
    let header = t.header_span();
    t.finish(cx);
    let (out, scale_in) = (out? as u32, scale_in? as u32);
    if scale_in >= out {
        cx.push(
            Problem::error(
                Rule::Autoscaling,
                header,
                &node.path,
                format!("step scaling's `in` ({scale_in}%) is not below its `out` ({out}%)"),
            )
            .help("leave a band between them (seed 003: out = 70, in = 30), or the service would scale out and in by turns"),
        );
        return None;
    }
    Some(CpuSteps { out, scale_in })
}

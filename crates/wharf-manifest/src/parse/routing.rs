//! A service's `routing` (hosts, paths, priority; public or internal) and `autoscaling`.

use crate::diag::{Problem, Rule};
use crate::model::{Autoscaling, Routing};
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

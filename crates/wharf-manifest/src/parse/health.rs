//! A service's `health`: the load balancer's check (path, interval, timeout, thresholds,
//! matcher, grace) and the container's own check command.

use crate::diag::{Problem, Rule};
use crate::duration::Duration;
use crate::model::HealthCheck;
use crate::reader::{Cx, Tbl};

pub(crate) fn read_health(cx: &mut Cx, t: &mut Tbl<'_, '_>) -> Option<HealthCheck> {
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

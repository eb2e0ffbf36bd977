//! `[services.NAME.deploy]`: the strategy and its parameters, drain, rollback thresholds,
//! approval, the image scan gate, lifecycle hooks and smoke checks.

use crate::diag::{Problem, Rule};
use crate::duration::Duration;
use crate::model::{
    AffinityParams, BlueGreenParams, CanaryParams, Deploy, Drain, Hook, Hooks, LinearParams,
    RollbackPolicy, RollingParams, ScanSeverity, SmokeCheck, StrategyKind,
};
use crate::reader::{Cx, Node, Tbl};

use super::env::secret_ref;

/// wharf's defaults: what a deploy of `service` does when the manifest says nothing. The
/// affinity header and cookie carry the service's name, so one service's stickiness never
/// pins another's users (deployment ids of one release are the same across services).
pub fn defaults(service: &str) -> Deploy {
    Deploy {
        strategy: StrategyKind::Rolling,
        rolling: RollingParams {
            min_healthy_percent: 100,
            max_percent: 200,
        },
        canary: CanaryParams {
            percent: 10,
            bake: Duration::from_secs(300),
        },
        linear: LinearParams {
            step: 10,
            interval: Duration::from_secs(60),
        },
        blue_green: BlueGreenParams {
            bake: Duration::from_secs(300),
            test_header: "X-Wharf-Test".into(),
        },
        affinity: AffinityParams {
            header: format!("X-Wharf-Affinity-{service}"),
            cookie: format!("X-Wharf-Affinity-{service}"),
        },
        drain: Drain {
            path: "/drain".into(),
            secret: None,
            timeout: Duration::from_secs(15),
            keep: 3,
        },
        rollback: RollbackPolicy {
            max_5xx_percent: 1.0,
            window: Duration::from_secs(60),
            min_requests: 20,
        },
        approval: false,
        scan_gate: None,
        hooks: Hooks::default(),
        smoke: Vec::new(),
    }
}

const STRATEGIES: &[(&str, StrategyKind)] = &[
    ("rolling", StrategyKind::Rolling),
    ("canary", StrategyKind::Canary),
    ("linear", StrategyKind::Linear),
    ("blue-green", StrategyKind::BlueGreen),
    ("affinity", StrategyKind::Affinity),
];

const SCAN_GATES: &[(&str, Option<ScanSeverity>)] = &[
    ("off", None),
    ("critical", Some(ScanSeverity::Critical)),
    ("high", Some(ScanSeverity::High)),
    ("medium", Some(ScanSeverity::Medium)),
];

pub(crate) fn read(cx: &mut Cx, node: Option<&Node<'_, '_>>, service: &str) -> Option<Deploy> {
    let mut d = defaults(service);
    let Some(node) = node else { return Some(d) };
    let mut t = cx.table(node)?;
    let mut ok = true;
    match t.get(cx, "strategy") {
        Some(n) => match cx.choice(&n, STRATEGIES) {
            Some(s) => d.strategy = s,
            None => ok = false,
        },
        None => d.strategy = StrategyKind::Rolling,
    }
    ok &= read_params(cx, &mut t, &mut d);
    ok &= read_drain(cx, &mut t, &mut d.drain);
    ok &= read_rollback(cx, &mut t, &mut d.rollback);
    if let Some(n) = t.get(cx, "approval") {
        match cx.boolean(&n) {
            Some(b) => d.approval = b,
            None => ok = false,
        }
    }
    if let Some(n) = t.get(cx, "scan_gate") {
        match cx.choice(&n, SCAN_GATES) {
            Some(g) => d.scan_gate = g,
            None => ok = false,
        }
    }
    ok &= read_hooks(cx, &mut t, &mut d.hooks);
    ok &= read_smoke(cx, &mut t, &mut d.smoke);
    t.finish(cx);
    ok.then_some(d)
}

/// The per-strategy tables; a table for another strategy than the chosen one is a warning.
fn read_params(cx: &mut Cx, t: &mut Tbl<'_, '_>, d: &mut Deploy) -> bool {
    let mut ok = true;
    let strategy = d.strategy;
    let mut sub =
        |cx: &mut Cx, key: &'static str, applies: &[StrategyKind]| -> Option<Tbl<'_, '_>> {
            let n = t.get(cx, key)?;
            if !applies.contains(&strategy) {
                cx.warning(
                    Rule::UnusedSetting,
                    n.span.clone(),
                    &n.path,
                    format!("`{key}` settings are ignored with strategy = \"{strategy}\""),
                )
                .help = Some(format!("remove them, or set strategy = \"{}\"", applies[0]));
            }
            // A wrong type is reported by `table`; the manifest then has an error and no value.
            cx.table(&n)
        };
    let bad = |cx: &mut Cx, n: &Node<'_, '_>, what: &str, range: &str| {
        cx.push(
            Problem::error(
                Rule::StrategyParams,
                n.span.clone(),
                &n.path,
                format!("{what} is out of range"),
            )
            .expected(range.to_owned()),
        );
    };
    let int_param = |cx: &mut Cx,
                     t: &mut Tbl<'_, '_>,
                     key: &'static str,
                     lo: i64,
                     hi: i64,
                     what: &str,
                     into: &mut u32|
     -> bool {
        let Some(n) = t.get(cx, key) else { return true };
        let v = match n.value {
            toml::de::DeValue::Integer(_) => cx.int(&n, i64::MIN, i64::MAX),
            _ => cx.int(&n, lo, hi),
        };
        match v {
            Some(v) if (lo..=hi).contains(&v) => {
                *into = v as u32;
                true
            }
            Some(_) => {
                bad(cx, &n, what, &format!("{lo} to {hi}"));
                false
            }
            None => false,
        }
    };
    let dur = |cx: &mut Cx, t: &mut Tbl<'_, '_>, key: &'static str, into: &mut Duration| -> bool {
        let Some(n) = t.get(cx, key) else { return true };
        match cx.duration(&n) {
            Some(v) => {
                *into = v;
                true
            }
            None => false,
        }
    };
    if let Some(mut r) = sub(cx, "rolling", &[StrategyKind::Rolling]) {
        ok &= int_param(
            cx,
            &mut r,
            "min_healthy_percent",
            0,
            100,
            "min_healthy_percent",
            &mut d.rolling.min_healthy_percent,
        );
        ok &= int_param(
            cx,
            &mut r,
            "max_percent",
            100,
            200,
            "max_percent",
            &mut d.rolling.max_percent,
        );
        if d.rolling.min_healthy_percent == 100 && d.rolling.max_percent == 100 {
            let span = r.header_span();
            cx.push(
                Problem::error(
                    Rule::StrategyParams,
                    span,
                    &r.path,
                    "min_healthy_percent = 100 with max_percent = 100 can never replace a task",
                )
                .help("raise max_percent (e.g. 200) or lower min_healthy_percent"),
            );
            ok = false;
        }
        r.finish(cx);
    }
    if let Some(mut c) = sub(cx, "canary", &[StrategyKind::Canary]) {
        ok &= int_param(
            cx,
            &mut c,
            "percent",
            1,
            99,
            "the canary percent",
            &mut d.canary.percent,
        );
        ok &= dur(cx, &mut c, "bake", &mut d.canary.bake);
        c.finish(cx);
    }
    if let Some(mut l) = sub(cx, "linear", &[StrategyKind::Linear]) {
        ok &= int_param(
            cx,
            &mut l,
            "step",
            1,
            50,
            "the linear step",
            &mut d.linear.step,
        );
        ok &= dur(cx, &mut l, "interval", &mut d.linear.interval);
        l.finish(cx);
    }
    if let Some(mut b) = sub(cx, "blue_green", &[StrategyKind::BlueGreen]) {
        ok &= dur(cx, &mut b, "bake", &mut d.blue_green.bake);
        if let Some(n) = b.get(cx, "test_header") {
            match cx.string(&n) {
                Some(h) if is_header_name(&h) => d.blue_green.test_header = h,
                Some(h) => ok &= bad_header(cx, &n, &h),
                None => ok = false,
            }
        }
        b.finish(cx);
    }
    if let Some(mut a) = sub(cx, "affinity", &[StrategyKind::Affinity]) {
        let mut cookie_set = false;
        if let Some(n) = a.get(cx, "header") {
            match cx.string(&n) {
                Some(h) if is_header_name(&h) => d.affinity.header = h,
                Some(h) => ok &= bad_header(cx, &n, &h),
                None => ok = false,
            }
        }
        if let Some(n) = a.get(cx, "cookie") {
            match cx.string(&n) {
                Some(c) if is_header_name(&c) => {
                    d.affinity.cookie = c;
                    cookie_set = true;
                }
                Some(c) => ok &= bad_header(cx, &n, &c),
                None => ok = false,
            }
        }
        if !cookie_set {
            d.affinity.cookie = d.affinity.header.clone();
        }
        a.finish(cx);
    }
    ok
}

fn bad_header(cx: &mut Cx, n: &Node<'_, '_>, h: &str) -> bool {
    cx.push(
        Problem::error(
            Rule::StrategyParams,
            n.span.clone(),
            &n.path,
            format!("`{h}` is not a valid HTTP header or cookie name"),
        )
        .expected(
            "letters, digits and - (e.g. \"X-Pulse-Render-Affinity\"), at most 40 characters",
        ),
    );
    false
}

/// HTTP token characters, short enough for an ALB http-header condition name (40).
fn is_header_name(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 40
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
}

fn read_drain(cx: &mut Cx, t: &mut Tbl<'_, '_>, drain: &mut Drain) -> bool {
    let Some(n) = t.get(cx, "drain") else {
        return true;
    };
    let Some(mut dt) = cx.table(&n) else {
        return false;
    };
    let mut ok = true;
    if let Some(p) = dt.get(cx, "path") {
        match cx.string(&p) {
            Some(s) if s.starts_with('/') => drain.path = s,
            Some(s) => {
                cx.error(
                    Rule::InvalidValue,
                    p.span.clone(),
                    &p.path,
                    format!("drain path `{s}` must start with /"),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    if let Some(s) = dt.get(cx, "secret") {
        match secret_ref(cx, &s) {
            Some(r) => drain.secret = Some(r),
            None => ok = false,
        }
    }
    if let Some(d) = dt.get(cx, "timeout") {
        match cx.duration(&d) {
            Some(v) if v.as_millis() <= 3_600_000 => drain.timeout = v,
            Some(v) => {
                cx.error(
                    Rule::InvalidValue,
                    d.span.clone(),
                    &d.path,
                    format!(
                        "a drain timeout of {v} is longer than ALB's deregistration delay allows"
                    ),
                )
                .expected = Some("0s to 1h".into());
                ok = false;
            }
            None => ok = false,
        }
    }
    if let Some(k) = dt.get(cx, "keep") {
        match cx.int(&k, 0, 100) {
            Some(v) => drain.keep = v as u32,
            None => ok = false,
        }
    }
    dt.finish(cx);
    ok
}

fn read_rollback(cx: &mut Cx, t: &mut Tbl<'_, '_>, rb: &mut RollbackPolicy) -> bool {
    let Some(n) = t.get(cx, "rollback") else {
        return true;
    };
    let Some(mut rt) = cx.table(&n) else {
        return false;
    };
    let mut ok = true;
    if let Some(v) = rt.get(cx, "max_5xx_percent") {
        match cx.number(&v, 0.0, 100.0) {
            Some(x) => rb.max_5xx_percent = x,
            None => ok = false,
        }
    }
    if let Some(v) = rt.get(cx, "window") {
        match cx.duration(&v) {
            Some(d) if d.as_millis() >= 1000 => rb.window = d,
            Some(_) => {
                cx.error(
                    Rule::StrategyParams,
                    v.span.clone(),
                    &v.path,
                    "the rollback window must be at least 1s",
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    if let Some(v) = rt.get(cx, "min_requests") {
        match cx.int(&v, 0, 1_000_000) {
            Some(x) => rb.min_requests = x as u32,
            None => ok = false,
        }
    }
    rt.finish(cx);
    ok
}

fn read_hooks(cx: &mut Cx, t: &mut Tbl<'_, '_>, hooks: &mut Hooks) -> bool {
    let Some(n) = t.get(cx, "hooks") else {
        return true;
    };
    let Some(mut ht) = cx.table(&n) else {
        return false;
    };
    let mut ok = true;
    for (key, slot) in [
        ("pre_deploy", &mut hooks.pre_deploy),
        ("post_scale_up", &mut hooks.post_scale_up),
        ("pre_traffic", &mut hooks.pre_traffic),
        ("post_traffic", &mut hooks.post_traffic),
    ] {
        if let Some(c) = ht.get(cx, key) {
            match read_hook(cx, &c) {
                Some(h) => *slot = Some(h),
                None => ok = false,
            }
        }
    }
    ht.finish(cx);
    ok
}

/// A command (a string or an array), or `{ job = "NAME" }`.
fn read_hook(cx: &mut Cx, n: &Node<'_, '_>) -> Option<Hook> {
    if !matches!(n.value, toml::de::DeValue::Table(_)) {
        return cx.command(n).map(Hook::Command);
    }
    let mut t = cx.table(n)?;
    let job = t
        .req(cx, "job", "the job to run, e.g. { job = \"migrate\" }")
        .and_then(|j| cx.string(&j));
    t.finish(cx);
    job.map(Hook::Job)
}

fn read_smoke(cx: &mut Cx, t: &mut Tbl<'_, '_>, smoke: &mut Vec<SmokeCheck>) -> bool {
    let Some(n) = t.get(cx, "smoke") else {
        return true;
    };
    let Some(items) = cx.array(&n) else {
        return false;
    };
    let mut ok = true;
    for item in items {
        let Some(mut st) = cx.table(&item) else {
            ok = false;
            continue;
        };
        let path = st
            .req(cx, "path", "the path to request, e.g. \"/\"")
            .and_then(|p| cx.string(&p));
        let method = st
            .get(cx, "method")
            .map_or(Some("GET"), |m| {
                cx.choice(&m, &[("GET", "GET"), ("HEAD", "HEAD"), ("POST", "POST")])
            })
            .map(str::to_owned);
        let status = st
            .get(cx, "status")
            .map_or(Some(200), |s| cx.int(&s, 100, 599));
        let body_contains = st.get(cx, "body_contains").and_then(|b| cx.string(&b));
        st.finish(cx);
        match (path, method, status) {
            (Some(path), Some(method), Some(status)) if path.starts_with('/') => {
                smoke.push(SmokeCheck {
                    path,
                    method,
                    status: status as u16,
                    body_contains,
                })
            }
            (Some(path), ..) if !path.starts_with('/') => {
                cx.error(
                    Rule::InvalidValue,
                    item.span.clone(),
                    &item.path,
                    format!("smoke-check path `{path}` must start with /"),
                );
                ok = false;
            }
            _ => ok = false,
        }
    }
    ok
}

//! Checks that span sections: rule priorities per environment, data bindings, names AWS must
//! accept for every deployment, TLS settings of public environments.

use std::collections::BTreeMap;

use crate::diag::{Problem, Rule};
use crate::model::{Environment, Hook, JobImage, Manifest, Service, StrategyKind, TargetSettings};
use crate::names::{Names, ELB_NAME_MAX};
use crate::reader::Cx;

pub(crate) fn check(cx: &mut Cx, m: &mut Manifest) {
    let app = m.app.name.clone();
    check_job_names(cx, m);
    for env in m.environments.values_mut() {
        assign_priorities(cx, env);
    }
    for env in m.environments.values() {
        check_bindings(cx, env);
        check_hook_jobs(cx, env);
        check_names(cx, &app, env);
        check_tls(cx, env);
        crate::reach::check(cx, env);
    }
    // Services as written carry the priorities of the first environment (for display only).
    if let Some(first) = m.environments.values().next() {
        for (name, s) in m.services.iter_mut() {
            if let (Some(r), Some(er)) = (
                s.routing.as_mut(),
                first.services.get(name).and_then(|e| e.routing.as_ref()),
            ) {
                r.priority = er.priority;
            }
        }
    }
}

/// Where a service's key was found: in the environment's override if it has one, else in the
/// service itself.
fn span(cx: &Cx, env: &str, service: &str, rest: &str) -> (std::ops::Range<usize>, String) {
    let over = format!("environments.{env}.services.{service}{rest}");
    if let Some(s) = cx.span_of(&over) {
        return (s, over);
    }
    let base = format!("services.{service}{rest}");
    (cx.span_of(&base).unwrap_or(0..0), base)
}

/// Explicit priorities must be unique; services without one get free ones: specific routes
/// first (1, 2, …), then catch-all routes (`/*` on any host) after every priority taken, so ALB
/// evaluates specific rules first. A single service gets priority 1: rules 100, 101, ….
fn assign_priorities(cx: &mut Cx, env: &mut Environment) {
    let mut taken: BTreeMap<u32, String> = BTreeMap::new();
    let mut order: Vec<(usize, String)> = env
        .services
        .keys()
        .map(|n| (span(cx, &env.name, n, "").0.start, n.clone()))
        .collect();
    order.sort();
    for (_, name) in &order {
        let Some(r) = env.services[name].routing.as_ref() else {
            continue;
        };
        if r.priority == 0 {
            continue;
        }
        if let Some(other) = taken.get(&r.priority) {
            let (sp, key) = span(cx, &env.name, name, ".routing.priority");
            cx.push(
                Problem::error(
                    Rule::RulePriority,
                    sp,
                    key,
                    format!("services `{other}` and `{name}` both have routing priority {} in environment `{}`", r.priority, env.name),
                )
                .help("give each service its own priority (lower numbers are matched first), or leave it out to have one assigned"),
            );
        } else {
            taken.insert(r.priority, name.clone());
        }
    }
    let catch_all = |r: &crate::model::Routing| {
        r.hosts.is_empty() && r.paths.iter().all(|p| p == "/*" || p == "*")
    };
    for pass_catch_all in [false, true] {
        for (_, name) in &order {
            let svc = env.services.get_mut(name).expect("listed");
            let Some(r) = svc.routing.as_mut() else {
                continue;
            };
            if r.priority != 0 || catch_all(r) != pass_catch_all {
                continue;
            }
            let after = if pass_catch_all {
                taken.keys().next_back().copied().unwrap_or(0)
            } else {
                0
            };
            let pick = (after + 1..=499)
                .find(|p| !taken.contains_key(p))
                .or_else(|| (1..=499).rev().find(|p| !taken.contains_key(p)));
            let Some(p) = pick else {
                let (sp, key) = span(cx, &env.name, name, "");
                cx.error(
                    Rule::RulePriority,
                    sp,
                    &key,
                    "no routing priority is left (1–499 are all taken)",
                );
                continue;
            };
            r.priority = p;
            taken.insert(p, name.clone());
        }
    }
}

/// A job's resources (repository, log group, task role, task family) are named like a
/// service's: a job may not take a service's name.
fn check_job_names(cx: &mut Cx, m: &Manifest) {
    for j in m.jobs.keys().filter(|j| m.services.contains_key(*j)) {
        let key = format!("jobs.{j}");
        let sp = cx.span_of(&key).unwrap_or(0..0);
        cx.push(
            Problem::error(
                Rule::InvalidName,
                sp,
                key,
                format!("job `{j}` has the name of a service; its AWS resources would share the service's names"),
            )
            .help(format!("rename the job, e.g. `{j}-job`")),
        );
    }
}

/// A job that runs a service's image names a service of the manifest. (Data bindings are
/// checked while reading, against the declared data names.)
fn check_bindings(cx: &mut Cx, env: &Environment) {
    for j in env.jobs.values() {
        if let JobImage::Service(svc) = &j.image {
            if !env.services.contains_key(svc) {
                let key = format!("jobs.{}.service", j.name);
                let sp = cx.span_of(&key).unwrap_or(0..0);
                let known: Vec<&str> = env.services.keys().map(String::as_str).collect();
                let mut p = Problem::error(
                    Rule::DataBinding,
                    sp,
                    key,
                    format!(
                        "job `{}` uses the image of service `{svc}`, which does not exist",
                        j.name
                    ),
                );
                p = match crate::reader::did_you_mean(svc, known.iter().copied()) {
                    Some(m) => p.help(format!("did you mean `{m}`?")),
                    None => p.help("name one of the manifest's services"),
                };
                cx.push(p);
            }
        }
    }
}

/// A hook that runs a job names a job of the environment; only a local environment's jobs
/// may share the host's network.
fn check_hook_jobs(cx: &mut Cx, env: &Environment) {
    if env.aws().is_some() {
        for j in env.jobs.values().filter(|j| j.host_network) {
            let over = format!("environments.{}.jobs.{}.network", env.name, j.name);
            let key = match cx.span_of(&over) {
                Some(_) => over,
                None => format!("jobs.{}.network", j.name),
            };
            let sp = cx.span_of(&key).unwrap_or(0..0);
            cx.push(
                Problem::error(
                    Rule::InvalidValue,
                    sp,
                    key,
                    format!("job `{}` asks for the host's network, which environment `{}` (AWS) does not have", j.name, env.name),
                )
                .help(format!("set `network = \"host\"` only under [environments.LOCAL.jobs.{}]", j.name)),
            );
        }
    }
    for s in env.services.values() {
        for (key, hook) in s.deploy.hooks.all() {
            let Hook::Job(j) = hook else { continue };
            if env.jobs.contains_key(j) {
                continue;
            }
            let (sp, path) = span(cx, &env.name, &s.name, &format!(".deploy.hooks.{key}"));
            let known: Vec<&str> = env.jobs.keys().map(String::as_str).collect();
            let mut p = Problem::error(
                Rule::DataBinding,
                sp,
                path,
                format!(
                    "the {key} hook of `{}` runs job `{j}`, which environment `{}` does not have",
                    s.name, env.name
                ),
            );
            p = match crate::reader::did_you_mean(j, known.iter().copied()) {
                Some(m) => p.help(format!("did you mean `{m}`?")),
                None => p.help(format!("declare it: [jobs.{j}] with an image or build")),
            };
            cx.push(p);
        }
    }
}

/// Every name AWS will be given for this environment fits its limit, for any deployment id.
fn check_names(cx: &mut Cx, app: &str, env: &Environment) {
    let names = Names::new(app, &env.name);
    if env.aws().is_some() && names.load_balancer().len() > ELB_NAME_MAX {
        let key = format!("environments.{}", env.name);
        let sp = cx.span_of(&key).unwrap_or(0..0);
        cx.push(
            Problem::error(
                Rule::NameLength,
                sp,
                key,
                format!(
                    "the load balancer name `{}` is longer than 32 characters",
                    names.load_balancer()
                ),
            )
            .help("shorten the app or environment name"),
        );
    }
    if env.aws().is_none() {
        return;
    }
    for s in env.services.values() {
        let (tg_len, example) = tg_name(&names, s);
        if tg_len > ELB_NAME_MAX {
            let sp = cx.span_of(&format!("services.{}", s.name)).unwrap_or(0..0);
            cx.push(
                Problem::error(
                    Rule::NameLength,
                    sp,
                    format!("services.{}", s.name),
                    format!("in environment `{}`, service `{}` would get target groups named like `{example}` ({tg_len} characters)", env.name, s.name),
                )
                .expected("a target-group name of at most 32 characters")
                .help(format!("shorten the service or environment name by {} characters", tg_len - ELB_NAME_MAX)),
            );
        }
    }
}

/// The length and an example of the target-group names a service will get.
fn tg_name(names: &Names<'_>, s: &Service) -> (usize, String) {
    if s.deploy.strategy == StrategyKind::Rolling {
        let n = names.rolling_target_group(&s.name);
        (n.len(), n)
    } else {
        let example = names.target_group(&s.name, &names.deployment_id(1_761_567_672));
        (names.target_group_len(&s.name), example)
    }
}

fn check_tls(cx: &mut Cx, env: &Environment) {
    let TargetSettings::Aws(aws) = &env.target else {
        return;
    };
    let key = format!("environments.{}", env.name);
    let sp = |cx: &Cx, k: &str| {
        cx.span_of(&format!("{key}.{k}"))
            .or_else(|| cx.span_of(&key))
            .unwrap_or(0..0)
    };
    let public = env.services.values().any(|s| s.public);
    match (&aws.domain, &aws.certificate, &aws.hosted_zone) {
        (None, Some(_), _) | (None, _, Some(_)) => {
            let k = if aws.certificate.is_some() {
                "certificate"
            } else {
                "hosted_zone"
            };
            cx.push(
                Problem::error(
                    Rule::Tls,
                    sp(cx, k),
                    format!("{key}.{k}"),
                    format!("`{k}` is set but `domain` is not"),
                )
                .help("set domain = \"app.example.com\": the certificate must cover it"),
            );
        }
        (Some(_), None, None) => {
            cx.push(
                Problem::error(
                    Rule::Tls,
                    sp(cx, "domain"),
                    format!("{key}.domain"),
                    "a domain needs a certificate, or a hosted zone to issue one",
                )
                .help("set certificate = \"arn:aws:acm:…\" or hosted_zone = \"example.com\""),
            );
        }
        (None, None, None) if public => {
            cx.push(
                Problem::warning(Rule::Tls, sp(cx, "target"), format!("{key}.domain"), format!("environment `{}` has no domain: its load balancer serves plain HTTP", env.name))
                    .help("set domain and certificate (or hosted_zone) to serve HTTPS and redirect HTTP to it"),
            );
        }
        _ => {}
    }
    if aws.edge && (aws.domain.is_none() || aws.hosted_zone.is_none()) {
        cx.push(
            Problem::error(Rule::Tls, sp(cx, "edge"), format!("{key}.edge"), "the edge stack (CloudFront) needs a domain and its hosted zone")
                .help("set domain and hosted_zone (wharf issues the edge certificate and points the domain at CloudFront), or turn edge off"),
        );
    }
}

//! Which services reach which, checked per environment: every `talks_to` names an internal
//! service of the environment (not the caller itself), internal services listen on distinct
//! ports of the internal load balancer, and no internal service has smoke checks (they run
//! from wharf's machine, which the internal load balancer does not admit).

use std::collections::BTreeMap;

use crate::diag::{Problem, Rule};
use crate::model::Environment;
use crate::reader::Cx;

pub(crate) fn check(cx: &mut Cx, env: &Environment) {
    let key = |cx: &Cx, service: &str, rest: &str| {
        let over = format!("environments.{}.services.{service}{rest}", env.name);
        if cx.span_of(&over).is_some() {
            return over;
        }
        let base = format!("services.{service}{rest}");
        if cx.span_of(&base).is_some() {
            return base;
        }
        format!("services.{service}")
    };
    let mut ports: BTreeMap<u16, &str> = BTreeMap::new();
    for s in env.services.values() {
        for callee in &s.talks_to {
            let k = key(cx, &s.name, ".talks_to");
            let sp = cx.span_of(&k).unwrap_or(0..0);
            let problem = match env.services.get(callee) {
                _ if callee == &s.name => Some(
                    Problem::error(
                        Rule::Reach,
                        sp,
                        &k,
                        format!("service `{}` names itself in `talks_to`", s.name),
                    )
                    .help("a service always reaches itself: remove it from `talks_to`"),
                ),
                None => {
                    let known = env
                        .services
                        .values()
                        .filter(|o| o.internal.is_some())
                        .map(|o| o.name.as_str());
                    let p = Problem::error(
                        Rule::Reach,
                        sp,
                        &k,
                        format!(
                            "service `{}` talks to `{callee}`, which is not a service of environment `{}`",
                            s.name, env.name
                        ),
                    );
                    Some(match crate::reader::did_you_mean(callee, known) {
                        Some(m) => p.help(format!("did you mean `{m}`?")),
                        None => p.help("name internal services (internal = true) of the manifest"),
                    })
                }
                Some(c) if c.internal.is_none() => Some(
                    Problem::error(
                        Rule::Reach,
                        sp,
                        &k,
                        format!(
                            "service `{}` talks to `{callee}`, which is not internal",
                            s.name
                        ),
                    )
                    .help(if c.public {
                        format!("call `{callee}` at the environment's public address, or set internal = true on it (and public traffic no longer reaches it)")
                    } else {
                        format!("set internal = true on `{callee}`: a service without a load balancer has no name to be called by")
                    }),
                ),
                Some(_) => None,
            };
            if let Some(p) = problem {
                cx.push(p);
            }
        }
        let Some(internal) = &s.internal else {
            continue;
        };
        if let Some(other) = ports.insert(internal.port, &s.name) {
            let k = key(cx, &s.name, ".internal_port");
            let sp = cx.span_of(&k).unwrap_or(0..0);
            cx.push(
                Problem::error(
                    Rule::Reach,
                    sp,
                    &k,
                    format!(
                        "internal services `{other}` and `{}` both listen on port {} of the internal load balancer",
                        s.name, internal.port
                    ),
                )
                .help(format!(
                    "each internal service has its own listener, so that a caller is admitted to exactly the services it names: set internal_port = {} (or another free port) on `{}`",
                    free_port(&ports, internal.port),
                    s.name
                )),
            );
        }
        if !s.deploy.smoke.is_empty() {
            let k = key(cx, &s.name, ".deploy.smoke");
            let sp = cx.span_of(&k).unwrap_or(0..0);
            cx.push(
                Problem::error(
                    Rule::Reach,
                    sp,
                    &k,
                    format!(
                        "internal service `{}` has smoke checks, but only its callers reach it",
                        s.name
                    ),
                )
                .help("check it from a caller's smoke checks, or run a job as a post_traffic hook"),
            );
        }
    }
}

/// The first port above `from` no internal service listens on.
fn free_port(ports: &BTreeMap<u16, &str>, from: u16) -> u16 {
    (from.saturating_add(1)..=u16::MAX)
        .find(|p| !ports.contains_key(p))
        .unwrap_or(from)
}

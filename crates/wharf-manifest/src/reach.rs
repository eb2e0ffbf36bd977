//! Which services reach which, checked per environment: every `talks_to` names an internal
//! service of the environment (not the caller itself), internal services listen on distinct
//! ports of the internal load balancer, and no internal service has smoke checks (they run
//! from wharf's machine, which the internal load balancer does not admit).

use std::collections::BTreeMap;

use crate::diag::{Problem, Rule};
use crate::model::Environment;
use crate::reader::Cx;

pub(crate) fn check(cx: &mut Cx, env: &Environment) {
    // The key a problem is reported at: the environment's override if it sets it, else the
    // service's own, else the service.
    let push = |cx: &mut Cx, service: &str, rest: &str, message: String, help: String| {
        let over = format!("environments.{}.services.{service}{rest}", env.name);
        let base = format!("services.{service}{rest}");
        let k = [over, base]
            .into_iter()
            .find(|k| cx.span_of(k).is_some())
            .unwrap_or_else(|| format!("services.{service}"));
        let sp = cx.span_of(&k).unwrap_or(0..0);
        cx.push(Problem::error(Rule::Reach, sp, &k, message).help(help));
    };
    let mut ports: BTreeMap<u16, &str> = BTreeMap::new();
    for s in env.services.values() {
        for callee in &s.talks_to {
            let (message, help) = match env.services.get(callee) {
                _ if callee == &s.name => (
                    format!("service `{}` names itself in `talks_to`", s.name),
                    "a service always reaches itself: remove it from `talks_to`".to_owned(),
                ),
                None => {
                    let known = env
                        .services
                        .values()
                        .filter(|o| o.internal.is_some())
                        .map(|o| o.name.as_str());
                    (
                        format!(
                            "service `{}` talks to `{callee}`, which is not a service of environment `{}`",
                            s.name, env.name
                        ),
                        match crate::reader::did_you_mean(callee, known) {
                            Some(m) => format!("did you mean `{m}`?"),
                            None => "name internal services (internal = true) of the manifest".to_owned(),
                        },
                    )
                }
                Some(c) if c.internal.is_none() => (
                    format!(
                        "service `{}` talks to `{callee}`, which is not internal",
                        s.name
                    ),
                    if c.public {
                        format!("call `{callee}` at the environment's public address, or set internal = true on it (and public traffic no longer reaches it)")
                    } else {
                        format!("set internal = true on `{callee}`: a service without a load balancer has no name to be called by")
                    },
                ),
                Some(_) => continue,
            };
            push(cx, &s.name, ".talks_to", message, help);
        }
        let Some(internal) = &s.internal else {
            continue;
        };
        if let Some(other) = ports.insert(internal.port, &s.name) {
            push(
                cx,
                &s.name,
                ".internal_port",
                format!(
                    "internal services `{other}` and `{}` both listen on port {} of the internal load balancer",
                    s.name, internal.port
                ),
                format!(
                    "each internal service has its own listener, so that a caller is admitted to exactly the services it names: set internal_port = {} (or another free port) on `{}`",
                    free_port(&ports, internal.port),
                    s.name
                ),
            );
        }
        if !s.deploy.smoke.is_empty() {
            push(
                cx,
                &s.name,
                ".deploy.smoke",
                format!(
                    "internal service `{}` has smoke checks, but only its callers reach it",
                    s.name
                ),
                "check it from a caller's smoke checks, or run a job as a post_traffic hook"
                    .to_owned(),
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

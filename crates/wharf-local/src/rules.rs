//! A service's routes in the proxy's configuration, edited as pure functions (no Docker, no
//! daemon), laid out as [`RuleLayout`] says: the drain guard at the block's start, sticky
//! affinity rules after it (a cookie rule and a header rule per deployment), the test route,
//! and the base rule (weights) at the block's end.

use wharf_engine::Routes;
use wharf_manifest::rules::{drain_guard, RuleLayout, DRAIN_GUARD_STATUS};
use wharf_manifest::Service;
use wharf_proxy::{Config, RuleConfig};

/// The service's base rule with no forward yet (None: the service has no route).
pub fn base_rule(service: &Service) -> Option<RuleConfig> {
    let r = service.routing.as_ref()?;
    Some(RuleConfig {
        priority: RuleLayout::of(r.priority).base,
        listener: listener_of(service),
        hosts: r.hosts.clone(),
        paths: r.paths.clone(),
        headers: vec![],
        cookies: vec![],
        forward: vec![],
        affinity_cookie: None,
        fixed: None,
    })
}

/// The proxy listener a service's rules are on: an internal service's own (named after it),
/// else the main one.
pub fn listener_of(service: &Service) -> Option<String> {
    service.internal.as_ref().map(|_| service.name.clone())
}

/// Priority of the service's test route: just below its base rule.
fn test_priority(base: &RuleConfig) -> u32 {
    base.priority - 1
}

/// Puts the service's drain guard in place (or takes it away when its routing no longer
/// reaches the drain path): the drain path answers 404 through the proxy.
pub fn guard_drain(cfg: &mut Config, service: &Service) {
    let layout = RuleLayout::service(service);
    cfg.rules.retain(|r| r.priority != layout.drain);
    if let Some(g) = drain_guard(service) {
        cfg.rules.push(RuleConfig {
            priority: g.priority,
            listener: listener_of(service),
            hosts: g.hosts,
            paths: vec![g.path],
            headers: vec![],
            cookies: vec![],
            forward: vec![],
            affinity_cookie: None,
            fixed: Some(DRAIN_GUARD_STATUS),
        });
    }
}

/// Changes the service's base rule in `cfg`, creating it from `base` when it is missing, and
/// puts the drain guard ahead of it.
pub fn edit_base(
    cfg: &mut Config,
    service: &Service,
    base: &RuleConfig,
    f: impl FnOnce(&mut RuleConfig),
) {
    guard_drain(cfg, service);
    let rule = match cfg.rules.iter().position(|r| r.priority == base.priority) {
        Some(i) => &mut cfg.rules[i],
        None => {
            cfg.rules.push(base.clone());
            cfg.rules.last_mut().expect("pushed")
        }
    };
    f(rule);
}

/// Routes requests carrying the service's test header to `group` (None removes the route).
pub fn set_test_route(
    cfg: &mut Config,
    service: &Service,
    base: RuleConfig,
    group: Option<String>,
) {
    let priority = test_priority(&base);
    let rule = group.map(|g| RuleConfig {
        priority,
        listener: listener_of(service),
        headers: vec![(
            service.deploy.blue_green.test_header.to_ascii_lowercase(),
            vec!["*".into()],
        )],
        forward: vec![(g, 100)],
        ..base
    });
    cfg.rules.retain(|r| r.priority != priority);
    cfg.rules.extend(rule);
}

/// Affinity: `group` takes new users; every deployment of the service with a target group
/// keeps a sticky cookie rule and header rule, so its users stay where they are. A group is
/// the service's when its name is exactly `group_of(its deployment)`: `web-api`'s groups are
/// never taken for `web`'s.
pub fn make_default(
    cfg: &mut Config,
    service: &Service,
    base: RuleConfig,
    group_of: &dyn Fn(&str) -> String,
    group: String,
) {
    let a = &service.deploy.affinity;
    let (cookie, header) = (a.cookie.clone(), a.header.to_ascii_lowercase());
    let layout = RuleLayout::service(service);
    cfg.rules.retain(|r| !layout.sticky.contains(&r.priority));
    // Also replaces a sticky rule an older layout kept at the block's start.
    guard_drain(cfg, service);
    let deployments: Vec<(String, String)> = cfg
        .target_groups
        .iter()
        .filter_map(|g| {
            let d = g.deployment.as_deref()?;
            (g.name == group_of(d)).then(|| (d.to_owned(), g.name.clone()))
        })
        .collect();
    let start = *layout.sticky.start();
    for (k, (dep, tg)) in deployments
        .into_iter()
        .take(layout.sticky_pairs())
        .enumerate()
    {
        let k = k as u32;
        let sticky = RuleConfig {
            forward: vec![(tg, 100)],
            ..base.clone()
        };
        cfg.rules.push(RuleConfig {
            priority: start + 2 * k,
            cookies: vec![(cookie.clone(), dep.clone())],
            ..sticky.clone()
        });
        cfg.rules.push(RuleConfig {
            priority: start + 2 * k + 1,
            headers: vec![(header.clone(), vec![dep])],
            ..sticky
        });
    }
    let base_p = base.priority;
    cfg.rules.retain(|r| r.priority != base_p);
    cfg.rules.push(RuleConfig {
        forward: vec![(group, 100)],
        affinity_cookie: Some(cookie),
        ..base
    });
}

/// Removes a target group and every route to it; the base rule stays, sticky and test
/// rules that pointed only at it go.
pub fn remove_group(cfg: &mut Config, group: &str) {
    cfg.target_groups.retain(|g| g.name != group);
    for r in cfg.rules.iter_mut() {
        r.forward.retain(|(g, _)| g != group);
    }
    cfg.rules
        .retain(|r| !(r.forward.is_empty() && (!r.cookies.is_empty() || !r.headers.is_empty())));
}

/// The service's traffic split and test route as the configuration has them, by deployment.
pub fn routes(cfg: &Config, service: &Service) -> Routes {
    let Some(base) = base_rule(service) else {
        return Routes::default();
    };
    let deployment = |group: &str| {
        cfg.target_groups
            .iter()
            .find(|g| g.name == group)
            .and_then(|g| g.deployment.clone())
    };
    let rule = |p: u32| cfg.rules.iter().find(|r| r.priority == p);
    Routes {
        weights: rule(base.priority)
            .into_iter()
            .flat_map(|r| r.forward.iter())
            .filter_map(|(g, w)| deployment(g).map(|d| (d, *w)))
            .collect(),
        test: rule(test_priority(&base))
            .and_then(|r| r.forward.first())
            .and_then(|(g, _)| deployment(g)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wharf_proxy::{HealthConfig, TargetGroupConfig};

    fn service(strategy: &str) -> Service {
        let src = format!(
            "[app]\nname = \"pulse\"\n[environments.local]\ntarget = \"local\"\n\
             [services.web]\nimage = \"x:1\"\nport = 8000\n\
             routing = {{ paths = [\"/*\"], priority = 3 }}\n\
             deploy = {{ strategy = \"{strategy}\" }}\n"
        );
        let (m, problems) =
            wharf_manifest::parse_str(&src, "wharf.toml", std::path::Path::new("."));
        m.unwrap_or_else(|| panic!("{problems}")).services["web"].clone()
    }

    fn group(name: &str, deployment: &str) -> TargetGroupConfig {
        TargetGroupConfig {
            name: name.into(),
            deployment: Some(deployment.into()),
            targets: vec![],
            health: HealthConfig {
                path: "/".into(),
                interval_ms: 1000,
                timeout_ms: 500,
                healthy: 2,
                unhealthy: 2,
                matcher: "200".into(),
            },
            deregistration_delay_ms: 0,
        }
    }

    #[test]
    fn the_base_rule_and_test_route_sit_at_the_end_of_the_services_block() {
        let svc = service("blue-green");
        let base = base_rule(&svc).expect("routed");
        assert_eq!(base.priority, RuleLayout::of(3).base);
        let mut cfg = Config {
            target_groups: vec![group("web-a", "a"), group("web-b", "b")],
            rules: vec![],
        };
        edit_base(&mut cfg, &svc, &base, |r| {
            r.forward = vec![("web-a".into(), 80), ("web-b".into(), 20)]
        });
        set_test_route(&mut cfg, &svc, base.clone(), Some("web-b".into()));
        let block = 300..=399;
        assert!(cfg.rules.iter().all(|r| block.contains(&r.priority)));
        let guard = cfg.rules.iter().find(|r| r.priority == 300);
        assert_eq!(
            guard.map(|g| (g.fixed, g.paths.clone())),
            Some((Some(DRAIN_GUARD_STATUS), vec!["/drain".to_owned()])),
            "the base rule brings the drain guard"
        );
        assert_eq!(
            routes(&cfg, &svc),
            Routes {
                weights: vec![("a".into(), 80), ("b".into(), 20)],
                test: Some("b".into()),
            }
        );
        // Removing b takes its test route and its share; the base rule stays.
        remove_group(&mut cfg, "web-b");
        assert_eq!(
            routes(&cfg, &svc),
            Routes {
                weights: vec![("a".into(), 80)],
                test: None,
            }
        );
    }

    #[test]
    fn affinity_keeps_a_sticky_pair_per_deployment_and_defaults_new_users() {
        let svc = service("affinity");
        let base = base_rule(&svc).expect("routed");
        let mut cfg = Config {
            target_groups: vec![
                group("web-a", "a"),
                group("web-b", "b"),
                group("web-api-c", "c"),
            ],
            rules: vec![],
        };
        let group_of = |d: &str| format!("web-{d}");
        make_default(&mut cfg, &svc, base.clone(), &group_of, "web-b".into());
        let layout = RuleLayout::of(3);
        let sticky: Vec<_> = cfg
            .rules
            .iter()
            .filter(|r| r.priority != base.priority && r.priority != layout.drain)
            .collect();
        assert_eq!(
            sticky.len(),
            4,
            "a cookie and a header rule each, none for web-api's group: {sticky:?}"
        );
        assert!(sticky
            .iter()
            .all(|r| r.forward.iter().all(|(g, _)| g != "web-api-c")));
        assert!(sticky.iter().all(|r| layout.sticky.contains(&r.priority)));
        let guard = cfg.rules.iter().find(|r| r.priority == layout.drain);
        assert_eq!(guard.and_then(|g| g.fixed), Some(DRAIN_GUARD_STATUS));
        assert_eq!(routes(&cfg, &svc).weights, vec![("b".into(), 100)]);
        let b = cfg
            .rules
            .iter()
            .find(|r| r.priority == base.priority)
            .expect("base");
        assert_eq!(
            b.affinity_cookie.as_deref(),
            Some(svc.deploy.affinity.cookie.as_str())
        );
        assert_eq!(
            svc.deploy.affinity.cookie, "X-Wharf-Affinity-web",
            "per service"
        );
    }
}

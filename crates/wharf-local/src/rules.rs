//! A service's routes in the proxy's configuration, edited as pure functions (no Docker, no
//! daemon): per service with routing priority `p` (see [`rule_block`]), the base rule at the
//! block's end (weights), the test route just below it, and sticky affinity rules from the
//! block's start (a cookie rule and a header rule per deployment).

use wharf_engine::Routes;
use wharf_manifest::names::rule_block;
use wharf_manifest::Service;
use wharf_proxy::{Config, RuleConfig};

/// The service's base rule with no forward yet (None: the service has no route).
pub fn base_rule(service: &Service) -> Option<RuleConfig> {
    let r = service.routing.as_ref()?;
    Some(RuleConfig {
        priority: rule_block(r.priority).0,
        hosts: r.hosts.clone(),
        paths: r.paths.clone(),
        headers: vec![],
        cookies: vec![],
        forward: vec![],
        affinity_cookie: None,
    })
}

/// Priority of the service's test route: just below its base rule.
fn test_priority(base: &RuleConfig) -> u32 {
    base.priority - 1
}

/// Changes the service's base rule in `cfg`, creating it from `base` when it is missing.
pub fn edit_base(cfg: &mut Config, base: &RuleConfig, f: impl FnOnce(&mut RuleConfig)) {
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
/// keeps a sticky cookie rule and header rule, so its users stay where they are.
pub fn make_default(
    cfg: &mut Config,
    service: &Service,
    base: RuleConfig,
    group_prefix: &str,
    group: String,
) {
    let a = &service.deploy.affinity;
    let (cookie, header) = (a.cookie.clone(), a.header.to_ascii_lowercase());
    let (_, block) = rule_block(service.routing.as_ref().map_or(0, |r| r.priority));
    let sticky_end = test_priority(&base);
    cfg.rules
        .retain(|r| !(block.contains(&r.priority) && r.priority < sticky_end));
    let deployments: Vec<(String, String)> = cfg
        .target_groups
        .iter()
        .filter(|g| g.name.starts_with(group_prefix))
        .filter_map(|g| g.deployment.clone().map(|d| (d, g.name.clone())))
        .collect();
    let start = *block.start();
    for (k, (dep, tg)) in deployments.into_iter().take(49).enumerate() {
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

//! Where a service's listener rules sit, the same on the local proxy and on the ALB: a service
//! with routing priority `p` owns the block `p*100 ..= p*100+99`, evaluated in that order:
//!
//! | priority            | rule                                                         |
//! |---------------------|--------------------------------------------------------------|
//! | `p*100`             | the drain guard: the drain path answers 404 from outside     |
//! | `p*100+1 ..= +96`   | affinity: a cookie rule and a header rule per deployment     |
//! | `p*100+98`          | the test route (blue/green's test header)                    |
//! | `p*100+99`          | the base rule: the weighted split between deployments        |
//!
//! The drain path is wharf's to call on a task directly (with the drain secret), never a
//! client's: a rule ahead of the service's others answers it, so neither the secret's absence
//! nor a guess of it reaches the service through the load balancer.

use std::ops::RangeInclusive;

use crate::model::Service;
use crate::names::RULE_BLOCK;

/// The header the drain POST carries the drain secret in.
pub const DRAIN_SECRET_HEADER: &str = "X-Drain-Secret";
/// The header a task names itself by in its answer to the drain POST.
pub const DRAIN_TASK_HEADER: &str = "X-Wharf-Task";

/// The priorities of one service's rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleLayout {
    pub drain: u32,
    /// Cookie and header rules in pairs: `(start + 2k, start + 2k + 1)`.
    pub sticky: RangeInclusive<u32>,
    pub test: u32,
    pub base: u32,
}

impl RuleLayout {
    /// The layout of the block of routing priority `p`.
    pub fn of(p: u32) -> RuleLayout {
        let start = p * RULE_BLOCK;
        RuleLayout {
            drain: start,
            sticky: start + 1..=start + RULE_BLOCK - 4,
            test: start + RULE_BLOCK - 2,
            base: start + RULE_BLOCK - 1,
        }
    }

    /// The layout of a service's block (routing priority 0 for a service without routing).
    pub fn service(service: &Service) -> RuleLayout {
        Self::of(service.routing.as_ref().map_or(0, |r| r.priority))
    }

    /// How many deployments can hold sticky rules at once.
    pub fn sticky_pairs(&self) -> usize {
        (self.sticky.end() - self.sticky.start() + 1) as usize / 2
    }
}

/// The rule answering the drain path with 404 before the service's other rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainGuard {
    pub priority: u32,
    /// The service's hosts (empty: any host).
    pub hosts: Vec<String>,
    pub path: String,
}

/// The status the drain guard answers with.
pub const DRAIN_GUARD_STATUS: u16 = 404;

/// The service's drain guard: None when the service has no routing, or when none of its path
/// patterns matches the drain path (then its rules never send the drain path to it, and a guard
/// would only hide that path from the services after it).
pub fn drain_guard(service: &Service) -> Option<DrainGuard> {
    let r = service.routing.as_ref()?;
    let path = &service.deploy.drain.path;
    let reachable = r.paths.is_empty() || r.paths.iter().any(|p| glob(p, path));
    reachable.then(|| DrainGuard {
        priority: RuleLayout::of(r.priority).drain,
        hosts: r.hosts.clone(),
        path: path.clone(),
    })
}

/// ALB path-pattern matching: `*` any run of characters, `?` one; case-sensitive.
fn glob(pattern: &str, text: &str) -> bool {
    wildmatch::WildMatch::new(pattern).matches(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(paths: &[&str], drain: &str) -> Service {
        let src = format!(
            "[app]\nname = \"a\"\n[environments.local]\ntarget = \"local\"\n\
             [services.web]\nimage = \"x:1\"\nport = 80\n\
             [services.web.routing]\npaths = {paths:?}\npriority = 3\n\
             [services.web.deploy.drain]\npath = \"{drain}\"\n"
        );
        let (m, problems) = crate::parse_str(&src, "wharf.toml", std::path::Path::new("."));
        assert!(!problems.has_errors(), "{problems}");
        m.expect("parsed").services["web"].clone()
    }

    #[test]
    fn the_block_puts_the_guard_first_and_leaves_no_overlap() {
        let l = RuleLayout::of(3);
        assert_eq!(l.drain, 300);
        assert_eq!((*l.sticky.start(), *l.sticky.end()), (301, 396));
        assert_eq!((l.test, l.base), (398, 399));
        assert_eq!(l.sticky_pairs(), 48);
        assert!(!l.sticky.contains(&l.drain) && !l.sticky.contains(&l.test));
        assert!(RuleLayout::of(2).base < RuleLayout::of(3).drain);
    }

    #[test]
    fn the_guard_exists_only_where_the_service_would_receive_the_drain_path() {
        let g = drain_guard(&service(&["/*"], "/drain")).expect("guarded");
        assert_eq!((g.priority, g.path.as_str()), (300, "/drain"));
        assert!(drain_guard(&service(&["/api/*"], "/drain")).is_none());
        assert!(drain_guard(&service(&["/api/*"], "/api/_drain")).is_some());
        assert!(drain_guard(&service(&["/Drain"], "/drain")).is_none());
    }
}

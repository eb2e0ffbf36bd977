//! The proxy's configuration: target groups and listener rules, as the engine sets them. It is
//! applied whole and atomically; requests in flight finish on the configuration they started on.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub target_groups: Vec<TargetGroupConfig>,
    /// Evaluated by ascending priority; the first match decides.
    pub rules: Vec<RuleConfig>,
}

impl Config {
    /// What the proxy refuses to run: two rules at one priority (ALB refuses them too),
    /// two target groups of one name, a health check that would spin (`interval_ms: 0`) or
    /// never count, a forward with no weight at all.
    pub fn validate(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for r in &self.rules {
            if !seen.insert(r.priority) {
                return Err(format!("two rules have priority {}", r.priority));
            }
            match r.fixed {
                Some(s) if !(200..=599).contains(&s) => {
                    return Err(format!(
                        "rule {}: a fixed response's status is 200–599, not {s}",
                        r.priority
                    ))
                }
                Some(_) if !r.forward.is_empty() => {
                    return Err(format!(
                        "rule {}: a rule either answers itself (fixed) or forwards, not both",
                        r.priority
                    ))
                }
                _ => {}
            }
        }
        let mut names = std::collections::HashSet::new();
        for g in &self.target_groups {
            if !names.insert(g.name.as_str()) {
                return Err(format!("two target groups are named {}", g.name));
            }
            let h = &g.health;
            if h.interval_ms == 0 || h.timeout_ms == 0 {
                return Err(format!(
                    "target group {}: a health check needs an interval and a timeout above 0 ms",
                    g.name
                ));
            }
            if h.healthy == 0 || h.unhealthy == 0 {
                return Err(format!(
                    "target group {}: healthy and unhealthy thresholds start at 1",
                    g.name
                ));
            }
        }
        Ok(())
    }
}

/// A set of targets with one health check, like an ALB target group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetGroupConfig {
    pub name: String,
    /// The deployment it belongs to: the value of the affinity cookie set for its responses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<String>,
    pub targets: Vec<SocketAddr>,
    pub health: HealthConfig,
    /// How long a deregistered target keeps serving its in-flight requests.
    pub deregistration_delay_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthConfig {
    pub path: String,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub healthy: u32,
    pub unhealthy: u32,
    /// ALB syntax: `200`, `200-399`, `200,204`.
    pub matcher: String,
}

impl HealthConfig {
    pub fn matches(&self, status: u16) -> bool {
        self.matcher
            .split(',')
            .any(|part| match part.split_once('-') {
                Some((a, b)) => match (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
                    (Ok(a), Ok(b)) => (a..=b).contains(&status),
                    _ => false,
                },
                None => part.trim().parse::<u16>() == Ok(status),
            })
    }
}

/// A listener rule: conditions (all must match) and a weighted forward.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleConfig {
    pub priority: u32,
    /// The listener it belongs to: None for the main one, else a named listener the proxy
    /// was started with (an internal service's). A request is matched against its
    /// listener's rules only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener: Option<String>,
    /// Host names (`*.example.com` allowed); empty: any host.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Path patterns with `*` and `?`, ALB style; empty: any path.
    #[serde(default)]
    pub paths: Vec<String>,
    /// `(header, values)`: the header must carry one of the values.
    #[serde(default)]
    pub headers: Vec<(String, Vec<String>)>,
    /// `(cookie, value)`: the request must carry the cookie with this value.
    #[serde(default)]
    pub cookies: Vec<(String, String)>,
    /// `(target group, weight)`; an empty list answers 503.
    pub forward: Vec<(String, u32)>,
    /// Sets this cookie to the serving target group's deployment when the request has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity_cookie: Option<String>,
    /// Answers this status itself instead of forwarding (ALB's fixed-response action); the
    /// rule's `forward` is then empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<u16>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(priority: u32, forward: &[&str], fixed: Option<u16>) -> RuleConfig {
        RuleConfig {
            priority,
            listener: None,
            hosts: vec![],
            paths: vec![],
            headers: vec![],
            cookies: vec![],
            forward: forward.iter().map(|g| ((*g).to_owned(), 1)).collect(),
            affinity_cookie: None,
            fixed,
        }
    }

    fn config(rules: Vec<RuleConfig>) -> Config {
        Config {
            target_groups: vec![],
            rules,
        }
    }

    #[test]
    fn a_rule_answers_itself_or_forwards_never_both() {
        assert!(config(vec![rule(1, &[], Some(404)), rule(2, &["g"], None)])
            .validate()
            .is_ok());
        let both = config(vec![rule(1, &["g"], Some(404))]).validate();
        assert!(both.is_err_and(|e| e.contains("not both")));
        let bad = config(vec![rule(1, &[], Some(99))]).validate();
        assert!(bad.is_err_and(|e| e.contains("200–599")));
        let twice = config(vec![rule(1, &[], Some(404)), rule(1, &[], Some(403))]).validate();
        assert!(twice.is_err_and(|e| e.contains("priority 1")));
    }
}

//! Text rendering of a plan: one block per stack or group, then per service.

use std::fmt;

use crate::{Plan, Resource};

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Plan for {} / {} ({}",
            self.app, self.environment, self.target
        )?;
        if let (Some(r), Some(a)) = (&self.region, &self.account) {
            write!(f, ", {r}, account {a}")?;
        }
        writeln!(f, ")")?;
        for g in &self.groups {
            writeln!(f, "\n{} {}", g.kind, g.name)?;
            resources(f, &g.resources)?;
        }
        for s in &self.services {
            writeln!(f, "\nservice {}: {}", s.name, s.summary)?;
            if let Some(p) = &s.rule_priorities {
                writeln!(
                    f,
                    "  listener rules: base {}, deployments {}–{} (routing priority {})",
                    p.base_rule, p.deployment_rules[0], p.deployment_rules[1], p.routing_priority
                )?;
            }
            if !s.shared.is_empty() {
                writeln!(f, "  kept across deployments:")?;
                resources(f, &s.shared)?;
            }
            writeln!(f, "  each deployment ({}):", s.deployment_id)?;
            resources(f, &s.per_deployment)?;
        }
        for j in &self.jobs {
            writeln!(f, "\njob {}", j.name)?;
            resources(f, &j.resources)?;
        }
        Ok(())
    }
}

fn resources(f: &mut fmt::Formatter<'_>, rs: &[Resource]) -> fmt::Result {
    let width = rs.iter().map(|r| r.ty.len()).max().unwrap_or(0);
    for r in rs {
        write!(f, "  + {:width$}  {}", r.ty, r.name)?;
        if let Some(d) = &r.detail {
            write!(f, "  ({d})")?;
        }
        writeln!(f)?;
    }
    Ok(())
}

//! Strategies as explicit step plans. Each strategy compiles to a list of steps; the controller
//! executes them one at a time, persisting the record between steps, so a deployment can stop
//! at any step and be resumed or undone. Every step is idempotent on the target.

use std::fmt;

use serde::{Deserialize, Serialize};
use wharf_manifest::{Service, StrategyKind};

/// Lifecycle hooks, run with the deployment id in their environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HookKind {
    PreDeploy,
    PostScaleUp,
    PreTraffic,
    PostTraffic,
}

impl fmt::Display for HookKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HookKind::PreDeploy => "pre-deploy",
            HookKind::PostScaleUp => "post-scale-up",
            HookKind::PreTraffic => "pre-traffic",
            HookKind::PostTraffic => "post-traffic",
        })
    }
}

/// One step of a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// Run a lifecycle hook command.
    Hook { hook: HookKind },
    /// Create the deployment's tasks (and, for traffic-shifting strategies, its target group
    /// and rules) with `count` tasks.
    Provision { count: u32 },
    /// Wait until `count` targets of the new deployment pass health checks.
    WaitHealthy { count: u32 },
    /// Rolling: run `new` tasks of the new deployment and `old` of the previous one, then wait
    /// until the new ones are healthy.
    Scale { new: u32, old: u32 },
    /// Route requests carrying the test header to the new deployment.
    TestRoute,
    /// Run the smoke checks through the test route.
    Smoke,
    /// Send `percent` of the default traffic to the new deployment.
    Shift { percent: u32 },
    /// Hold for `ms` watching the alarm gate (5xx share, task failures).
    Bake { ms: u64 },
    /// Hold until `wharf promote` (or `wharf abort`).
    Approval,
    /// Make the new deployment the default route for new users (affinity), keep older ones for
    /// their sticky users.
    MakeDefault,
    /// Drain and remove the previous deployment.
    RetirePrevious,
    /// Drain and remove deployments older than the newest `keep` (affinity).
    EnforceKeep { keep: u32 },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Hook { hook } => write!(f, "hook {hook}"),
            Step::Provision { count } => write!(
                f,
                "provision {count} task{}",
                if *count == 1 { "" } else { "s" }
            ),
            Step::WaitHealthy { count } => write!(f, "wait for {count} healthy"),
            Step::Scale { new, old } => write!(f, "scale new to {new}, old to {old}"),
            Step::TestRoute => f.write_str("test route"),
            Step::Smoke => f.write_str("smoke checks"),
            Step::Shift { percent } => write!(f, "shift {percent}%"),
            Step::Bake { ms } => write!(f, "bake {}", wharf_manifest::Duration::from_millis(*ms)),
            Step::Approval => f.write_str("awaiting approval"),
            Step::MakeDefault => f.write_str("make default"),
            Step::RetirePrevious => f.write_str("retire previous"),
            Step::EnforceKeep { keep } => write!(f, "keep {keep} old"),
        }
    }
}

/// The steps of a deployment of `service` replacing one running `previous_count` tasks (0 for
/// a first deployment).
pub fn plan(service: &Service, previous_count: u32) -> Vec<Step> {
    plan_for(service, previous_count, false)
}

/// As [`plan`], for a target that replaces a rolling service's tasks itself
/// ([`crate::Target::native_rolling`]): the batches are the runtime's, so a rolling deployment
/// provisions the new version and waits until the runtime reports it complete.
pub fn plan_for(service: &Service, previous_count: u32, native_rolling: bool) -> Vec<Step> {
    plan_sized(service, service.count, previous_count, native_rolling)
}

/// As [`plan_for`], with `count` tasks for the new deployment instead of the manifest's (an
/// autoscaled service's new deployment starts at the serving one's current count).
pub fn plan_sized(
    service: &Service,
    count: u32,
    previous_count: u32,
    native_rolling: bool,
) -> Vec<Step> {
    let d = &service.deploy;
    let n = count.max(1);
    let has = |h: &Option<wharf_manifest::Hook>| h.is_some();
    let mut steps = Vec::new();
    if has(&d.hooks.pre_deploy) {
        steps.push(Step::Hook {
            hook: HookKind::PreDeploy,
        });
    }
    let first = previous_count == 0;
    if d.strategy == StrategyKind::Rolling && !first && native_rolling {
        if has(&d.hooks.pre_traffic) {
            steps.push(Step::Hook {
                hook: HookKind::PreTraffic,
            });
        }
        steps.push(Step::Provision { count: n });
        steps.push(Step::WaitHealthy { count: n });
        for (hook, kind) in [
            (&d.hooks.post_scale_up, HookKind::PostScaleUp),
            (&d.hooks.post_traffic, HookKind::PostTraffic),
        ] {
            if has(hook) {
                steps.push(Step::Hook { hook: kind });
            }
        }
        steps.push(Step::RetirePrevious);
        return steps;
    }
    if d.strategy == StrategyKind::Rolling && !first {
        if has(&d.hooks.pre_traffic) {
            steps.push(Step::Hook {
                hook: HookKind::PreTraffic,
            });
        }
        steps.extend(rolling_batches(
            n,
            previous_count,
            d.rolling.min_healthy_percent,
            d.rolling.max_percent,
        ));
        if has(&d.hooks.post_scale_up) {
            steps.push(Step::Hook {
                hook: HookKind::PostScaleUp,
            });
        }
        if has(&d.hooks.post_traffic) {
            steps.push(Step::Hook {
                hook: HookKind::PostTraffic,
            });
        }
        steps.push(Step::RetirePrevious);
        return steps;
    }
    steps.push(Step::Provision { count: n });
    steps.push(Step::WaitHealthy { count: n });
    if has(&d.hooks.post_scale_up) {
        steps.push(Step::Hook {
            hook: HookKind::PostScaleUp,
        });
    }
    if !d.smoke.is_empty() && d.strategy != StrategyKind::Rolling {
        steps.push(Step::TestRoute);
        steps.push(Step::Smoke);
    }
    if has(&d.hooks.pre_traffic) {
        steps.push(Step::Hook {
            hook: HookKind::PreTraffic,
        });
    }
    let approval = |steps: &mut Vec<Step>| {
        if d.approval && !first {
            steps.push(Step::Approval);
        }
    };
    if first {
        // Nothing to protect: all traffic at once, whatever the strategy.
        steps.push(if d.strategy == StrategyKind::Affinity {
            Step::MakeDefault
        } else {
            Step::Shift { percent: 100 }
        });
    } else {
        match d.strategy {
            StrategyKind::Rolling => unreachable!("handled above"),
            StrategyKind::Canary => {
                steps.push(Step::Shift {
                    percent: d.canary.percent,
                });
                steps.push(Step::Bake {
                    ms: d.canary.bake.as_millis(),
                });
                approval(&mut steps);
                steps.push(Step::Shift { percent: 100 });
            }
            StrategyKind::Linear => {
                let mut p = d.linear.step;
                while p < 100 {
                    steps.push(Step::Shift { percent: p });
                    steps.push(Step::Bake {
                        ms: d.linear.interval.as_millis(),
                    });
                    p += d.linear.step;
                }
                approval(&mut steps);
                steps.push(Step::Shift { percent: 100 });
            }
            StrategyKind::BlueGreen => {
                if !steps.contains(&Step::TestRoute) {
                    steps.push(Step::TestRoute);
                }
                approval(&mut steps);
                steps.push(Step::Shift { percent: 100 });
                steps.push(Step::Bake {
                    ms: d.blue_green.bake.as_millis(),
                });
            }
            StrategyKind::Affinity => {
                approval(&mut steps);
                steps.push(Step::MakeDefault);
                // Watched for one rollback window: the previous version is still running.
                steps.push(Step::Bake {
                    ms: d.rollback.window.as_millis(),
                });
            }
        }
    }
    if has(&d.hooks.post_traffic) {
        steps.push(Step::Hook {
            hook: HookKind::PostTraffic,
        });
    }
    if !first {
        steps.push(if d.strategy == StrategyKind::Affinity {
            Step::EnforceKeep { keep: d.drain.keep }
        } else {
            Step::RetirePrevious
        });
    }
    steps
}

/// ECS-style rolling replacement of `old` tasks by `n` new ones, never below
/// `ceil(n * min_healthy / 100)` healthy tasks nor above `floor(n * max / 100)` running.
pub fn rolling_batches(n: u32, old: u32, min_healthy_percent: u32, max_percent: u32) -> Vec<Step> {
    let max_total = (n * max_percent / 100).max(n);
    let min_healthy = (n * min_healthy_percent).div_ceil(100).min(n);
    let (mut new, mut old) = (0u32, old);
    let mut steps = Vec::new();
    while new < n || old > 0 {
        // Stop old tasks beyond what keeps min_healthy up with the healthy new ones.
        let keep_old = min_healthy.saturating_sub(new).min(old);
        // Start as many new ones as the ceiling allows.
        let room = max_total.saturating_sub(keep_old + new);
        let next_new = (new + room).min(n);
        let next_old = if next_new == new && keep_old == old {
            // No room to start a new task without going under min healthy: stop one old.
            old.saturating_sub(1)
        } else {
            keep_old
        };
        steps.push(Step::Scale {
            new: next_new,
            old: next_old,
        });
        if (next_new, next_old) == (new, old) {
            break;
        }
        new = next_new;
        old = next_old;
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_batches(n: u32, old: u32, min: u32, max: u32) {
        let steps = rolling_batches(n, old, min, max);
        let floor = (n * min).div_ceil(100).min(n);
        let ceiling = (n * max / 100).max(n);
        // Healthy while a step starts: the new tasks of the step before, and the old ones kept.
        let mut healthy_new = 0;
        for s in &steps {
            let Step::Scale { new, old } = *s else {
                panic!("{s}")
            };
            assert!(
                new + old <= ceiling,
                "{n}/{min}/{max}: {new}+{old} running, over {ceiling}: {steps:?}"
            );
            assert!(
                healthy_new + old >= floor,
                "{n}/{min}/{max}: {healthy_new}+{old} healthy, under {floor}: {steps:?}"
            );
            healthy_new = new;
        }
        assert_eq!(
            steps.last(),
            Some(&Step::Scale { new: n, old: 0 }),
            "{n}/{old}/{min}/{max}: {steps:?}"
        );
    }

    #[test]
    fn rolling_batches_end_fully_replaced_within_bounds() {
        for (n, min, max) in [
            (1, 100, 200),
            (2, 100, 200),
            (4, 50, 100),
            (3, 0, 100),
            (10, 90, 110),
            (5, 100, 120),
        ] {
            check_batches(n, n, min, max);
        }
    }

    #[test]
    fn a_first_deployment_takes_all_traffic_at_once() {
        let (m, _) = wharf_manifest::parse_str(
            "[app]\nname = \"a\"\n[environments.l]\ntarget = \"local\"\n[services.w]\nimage = \"x:1\"\nport = 80\n[services.w.deploy]\nstrategy = \"canary\"\n",
            "m",
            std::path::Path::new("."),
        );
        let s = &m.expect("valid").services["w"];
        let steps = plan(s, 0);
        assert_eq!(
            steps,
            [
                Step::Provision { count: 1 },
                Step::WaitHealthy { count: 1 },
                Step::Shift { percent: 100 }
            ]
        );
        let steps = plan(s, 1);
        assert!(
            steps.contains(&Step::Shift { percent: 10 }) && steps.contains(&Step::RetirePrevious),
            "{steps:?}"
        );
    }

    #[test]
    fn native_rolling_leaves_the_batches_to_the_runtime() {
        let (m, _) = wharf_manifest::parse_str(
            "[app]\nname = \"a\"\n[environments.l]\ntarget = \"local\"\n[services.w]\nimage = \"x:1\"\nport = 80\ncount = 3\n",
            "m",
            std::path::Path::new("."),
        );
        let s = &m.expect("valid").services["w"];
        assert_eq!(
            plan_for(s, 3, true),
            [
                Step::Provision { count: 3 },
                Step::WaitHealthy { count: 3 },
                Step::RetirePrevious
            ]
        );
        assert!(plan_for(s, 3, false)
            .iter()
            .all(|s| matches!(s, Step::Scale { .. } | Step::RetirePrevious)));
    }
}

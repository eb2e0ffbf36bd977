//! Deployments the engine fails on the simulator, diagnosed: the gate's reason and the
//! runtime's evidence are recognised by the rule that names them, and the record carries the
//! timeline from the first step to the rollback.

use wharf_diagnose::diagnose;
use wharf_engine::sim::{Behaviour, FakeClock, SimTarget};
use wharf_engine::{Collect, Engine, Holder, HookKind, Options, Outcome, Request};

use crate::{web, web_with};

/// Deploys v1 (healthy), then v2 behaving as told; answers the diagnosis of v2.
async fn failed_with(b: Behaviour) -> wharf_diagnose::Diagnosis {
    failed_in(b, &web(), None).await
}

/// The same for a service, with a hook failing from v2 on.
async fn failed_in(
    b: Behaviour,
    svc: &wharf_manifest::Service,
    hook: Option<HookKind>,
) -> wharf_diagnose::Diagnosis {
    let sim = SimTarget::new(FakeClock::at(1_764_000_000_000));
    let events = Collect::default();
    let engine = Engine {
        target: &sim,
        clock: &sim.clock,
        events: &events,
        holder: Holder::named("me"),
        options: Options::default(),
    };
    for (id, image) in [("v1", "good:1"), ("v2", "bad:2")] {
        if image == "bad:2" {
            sim.behave(image, b);
            if let Some(h) = hook {
                sim.fail_hook(h);
            }
        }
        let r = engine
            .deploy(Request {
                app: "pulse",
                env: "test",
                service: svc,
                id,
                image,
                digest: None,
                platform: None,
            })
            .await
            .expect("the engine runs");
        let want = if id == "v1" {
            Outcome::Succeeded
        } else {
            Outcome::RolledBack
        };
        assert_eq!(r.outcome, Some(want), "{r:?}");
    }
    let latest = diagnose(&sim, svc, None).await.expect("diagnosis");
    assert_eq!(
        latest.deployment.as_deref(),
        Some("v2"),
        "the latest by default"
    );
    latest
}

#[tokio::test]
async fn each_gate_failure_is_recognised_by_its_rule() {
    let cases = [
        (Behaviour::ExitsAtStart, "essential-exited"),
        (Behaviour::NeverHealthy, "never-healthy"),
        (Behaviour::Errors500, "alarm-5xx"),
        (Behaviour::SmokeFails, "smoke-failed"),
        (Behaviour::GivenUp { after_ms: 5_000 }, "circuit-breaker"),
    ];
    for (b, id) in cases {
        let d = failed_with(b).await;
        assert_eq!(
            d.findings.first().map(|f| f.id),
            Some(id),
            "{b:?}: {d}\n{:?}",
            d.findings
        );
        assert!(
            d.signal.is_some(),
            "{b:?}: the record's reason is the signal"
        );
        let text = d.to_string();
        assert!(
            text.contains(&format!("[{id}]")) && text.contains("fix: "),
            "{text}"
        );
    }
}

#[tokio::test]
async fn a_failing_hook_is_recognised() {
    let svc = web_with("hooks = { pre_traffic = \"false\" }");
    let healthy = Behaviour::Healthy { after_ms: 1_000 };
    let d = failed_in(healthy, &svc, Some(HookKind::PreTraffic)).await;
    assert_eq!(d.findings.first().map(|f| f.id), Some("hook-failed"), "{d}");
    assert_eq!(d.findings[0].detail.as_deref(), Some("exit code 1"), "{d}");
}

#[tokio::test]
async fn the_timeline_runs_from_the_first_step_to_the_rollback_and_an_id_picks_a_deployment() {
    let d = failed_with(Behaviour::ExitsAtStart).await;
    let marks: Vec<&str> = d.timeline.iter().map(|m| m.what.as_str()).collect();
    assert!(marks.len() >= 3, "{marks:?}");
    assert!(marks[0].starts_with("provision"), "{marks:?}");
    assert!(
        marks.iter().any(|m| m.starts_with("rolling back: ")),
        "{marks:?}"
    );
    assert!(
        marks.last().is_some_and(|m| m.starts_with("rolled back: ")),
        "{marks:?}"
    );
    assert!(
        d.timeline.windows(2).all(|w| w[0].at_ms <= w[1].at_ms),
        "in time order"
    );
    assert_eq!(d.findings[0].detail.as_deref(), Some("exit code 1"));
    let text = d.to_string();
    assert!(
        text.contains("timeline") && text.contains("failed: "),
        "{text}"
    );
}

//! A new deployment of an autoscaled service starts at the serving deployment's current count
//! (what the runtime's scaler moved it to, within the service's bounds), not the manifest's:
//! a canary at peak load does not start undersized. A service without autoscaling keeps the
//! manifest's count.

use wharf_engine::{Options, Step};

use crate::{service, World};

fn autoscaled(strategy: &str) -> wharf_manifest::Service {
    let mut s = service(strategy, "");
    s.autoscaling = Some(wharf_manifest::Autoscaling {
        min: 2,
        max: 8,
        cpu: Some(60),
        memory: None,
        requests: None,
        step: None,
    });
    s
}

fn provisioned(steps: &[Step]) -> Vec<u32> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::Provision { count } | Step::WaitHealthy { count } => Some(*count),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_new_deployment_starts_at_the_serving_ones_autoscaled_count_within_bounds() {
    for strategy in ["canary", "blue-green", "linear", "affinity"] {
        let svc = autoscaled(strategy);
        let w = World::with_v1(&svc).await;
        // Under load the scaler took v1 from 2 to 6 tasks.
        w.sim.autoscale("v1", 6);
        let v2 = w
            .deploy(&svc, "v2", "img-2", Options::default())
            .await
            .expect("v2");
        assert_eq!(provisioned(&v2.steps), [6, 6], "{strategy}: {:?}", v2.steps);
        let said = w.events.events().iter().any(|e| {
            e.to_string().contains(
                "starting at 6 tasks, as many as v1 runs now (autoscaled; the manifest says 2)",
            )
        });
        assert!(said, "{strategy}");
        // Past the service's max, it starts at the max.
        w.sim.autoscale("v2", 20);
        let v3 = w
            .deploy(&svc, "v3", "img-3", Options::default())
            .await
            .expect("v3");
        assert_eq!(provisioned(&v3.steps), [8, 8], "{strategy}");
    }
}

#[tokio::test]
async fn rolling_replaces_the_current_count_and_a_service_without_autoscaling_keeps_its_own() {
    let svc = autoscaled("rolling");
    let w = World::with_v1(&svc).await;
    w.sim.autoscale("v1", 4);
    let v2 = w
        .deploy(&svc, "v2", "img-2", Options::default())
        .await
        .expect("v2");
    let last_scale = v2.steps.iter().rev().find_map(|s| match s {
        Step::Scale { new, old } => Some((*new, *old)),
        _ => None,
    });
    assert_eq!(last_scale, Some((4, 0)), "{:?}", v2.steps);

    let plain = service("canary", "");
    let w = World::with_v1(&plain).await;
    w.sim.autoscale("v1", 6);
    let v2 = w
        .deploy(&plain, "v2", "img-2", Options::default())
        .await
        .expect("v2");
    assert_eq!(provisioned(&v2.steps), [2, 2], "{:?}", v2.steps);
}

//! Properties of the engine on the simulator: whatever the strategy, however v2 behaves
//! (healthy, exiting, never healthy, answering 5xx, losing a task, failing its smoke check),
//! whichever runtime calls fail once (transiently or for good) and wherever the process is
//! killed, resuming until the deployment is finished ends with exactly one version serving
//! (or the affinity set), healthy, the weights summing to 100, nothing of a finished deployment
//! left running, and the lock released. `PROPTEST_CASES` sets how many cases run (CI: the
//! default below; the benchmark run: 10,000).

use proptest::prelude::*;
use wharf_engine::sim::Behaviour;
use wharf_engine::{EngineError, Options, Outcome, Store};

use crate::{service, World, STRATEGIES};

fn behaviour() -> impl Strategy<Value = Behaviour> {
    prop_oneof![
        Just(Behaviour::Healthy { after_ms: 10_000 }),
        Just(Behaviour::ExitsAtStart),
        Just(Behaviour::NeverHealthy),
        Just(Behaviour::Errors500),
        Just(Behaviour::KilledAfter { after_ms: 30_000 }),
        Just(Behaviour::SmokeFails),
        Just(Behaviour::CannotStart),
    ]
}

/// Deploys v2 with the faults, then resumes (another process, after the lease) until the
/// record is finished; bounded: every fault fires once, so a few resumes suffice.
async fn run(
    strategy: &str,
    v2: Behaviour,
    faults: &[(usize, bool)],
    crash: Option<usize>,
) -> Result<(), TestCaseError> {
    let svc = service(strategy, "");
    let w = World::with_v1(&svc).await;
    w.sim.behave("img-2", v2);
    w.sim.inject(faults);
    let options = Options {
        crash_after: crash,
        ..Options::default()
    };
    let mut result = w.deploy(&svc, "v2", "img-2", options).await;
    let mut attempts = 0;
    let record = loop {
        match result {
            Ok(r) if r.outcome.is_some() => break r,
            Ok(r) => {
                return Err(TestCaseError::fail(format!(
                    "unfinished and no error: {r:?}"
                )))
            }
            Err(e) => {
                attempts += 1;
                prop_assert!(attempts <= 10, "still failing after 10 resumes: {e}");
                prop_assert!(
                    matches!(
                        e,
                        EngineError::Injected { .. }
                            | EngineError::Target { .. }
                            | EngineError::RolledBack { .. }
                    ),
                    "{e}"
                );
                if let EngineError::RolledBack { .. } = e {
                    break w.sim.load("web", "v2").await.expect("store").expect("v2");
                }
                w.sim.clock.advance(Options::default().lease_ms as u64 + 1);
                result = w.engine("next", Options::default()).resume(&svc).await;
            }
        }
    };
    let outcome = record.outcome.expect("finished");
    let weights = w.sim.weights();
    if !weights.is_empty() {
        prop_assert_eq!(
            weights.iter().map(|(_, p)| p).sum::<u32>(),
            100,
            "{:?}",
            weights
        );
    }
    let serving = crate::serves(&w);
    let present = w.sim.present();
    match outcome {
        Outcome::Succeeded => {
            prop_assert_eq!(&serving, "v2");
            let want: &[&str] = if strategy == "affinity" {
                &["v1", "v2"]
            } else {
                &["v2"]
            };
            prop_assert_eq!(present, want);
        }
        Outcome::RolledBack | Outcome::Aborted => {
            prop_assert_eq!(&serving, "v1");
            prop_assert_eq!(present, ["v1"]);
        }
        other => prop_assert!(false, "unexpected outcome {other:?}"),
    }
    prop_assert!(
        w.sim.running().contains(&serving),
        "{serving} is not running"
    );
    prop_assert_eq!(w.sim.test_route(), None);
    prop_assert!(
        w.sim.current_lock("web").await.expect("store").is_none(),
        "the lock is released"
    );
    Ok(())
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(200)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_faults_end_with_one_healthy_version_serving_and_nothing_left(
        strategy in 0..STRATEGIES.len(),
        v2 in behaviour(),
        faults in proptest::collection::vec((0usize..30, any::<bool>()), 0..4),
        crash in proptest::option::of(1usize..12),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(run(STRATEGIES[strategy], v2, &faults, crash))?;
    }
}

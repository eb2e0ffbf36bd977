//! `wharf` killed after every possible transition, then `--resume` or `abort`: traffic always
//! ends on a healthy version and no deployment is orphaned.

use wharf_engine::{EngineError, Event, Options, Outcome};

use crate::{serves, service, World, STRATEGIES};

/// How many transitions an uninterrupted v1 → v2 deployment makes.
async fn transitions(strategy: &str) -> usize {
    let svc = service(strategy, "");
    let w = World::with_v1(&svc).await;
    let r = w
        .deploy(&svc, "v2", "img-2", Options::default())
        .await
        .expect("deploys");
    r.steps.len()
}

fn crash_at(k: usize) -> Options {
    Options {
        crash_after: Some(k),
        ..Options::default()
    }
}

#[tokio::test]
async fn killed_in_every_phase_then_resumed() {
    for strategy in STRATEGIES {
        let n = transitions(strategy).await;
        for k in 1..=n {
            let svc = service(strategy, "");
            let w = World::with_v1(&svc).await;
            let err = w
                .deploy(&svc, "v2", "img-2", crash_at(k))
                .await
                .expect_err("killed");
            assert!(
                matches!(err, EngineError::Injected { .. }),
                "{strategy}@{k}: {err}"
            );
            // The dead process's lock is still there: a new one is told who holds it...
            let other = w.engine("another", Options::default());
            let locked = other.resume(&svc).await.expect_err("lock held");
            assert!(
                locked.to_string().contains("me"),
                "{strategy}@{k}: {locked}"
            );
            // ...until its lease runs out.
            w.sim.clock.advance(Options::default().lease_ms as u64 + 1);
            let r = other
                .resume(&svc)
                .await
                .unwrap_or_else(|e| panic!("{strategy}@{k}: resume: {e}"));
            assert_eq!(r.outcome, Some(Outcome::Succeeded), "{strategy}@{k}: {r:?}");
            assert_eq!(serves(&w), "v2", "{strategy}@{k}");
            let want: &[&str] = if strategy == "affinity" {
                &["v1", "v2"]
            } else {
                &["v2"]
            };
            assert_eq!(w.sim.present(), want, "{strategy}@{k}: orphans");
            assert!(w
                .events
                .events()
                .iter()
                .any(|e| matches!(e, Event::Resumed { .. })));
        }
    }
}

#[tokio::test]
async fn killed_in_every_phase_then_aborted() {
    for strategy in STRATEGIES {
        let n = transitions(strategy).await;
        for k in 1..=n {
            let svc = service(strategy, "");
            let w = World::with_v1(&svc).await;
            w.deploy(&svc, "v2", "img-2", crash_at(k))
                .await
                .expect_err("killed");
            w.sim.clock.advance(Options::default().lease_ms as u64 + 1);
            let r = w
                .engine("me", Options::default())
                .abort(&svc)
                .await
                .unwrap_or_else(|e| panic!("{strategy}@{k}: {e}"));
            if r.outcome == Some(Outcome::Succeeded) {
                // Killed after v1 was retired: there is nothing to return to, so abort finishes.
                assert!(
                    r.reason
                        .as_deref()
                        .unwrap_or_default()
                        .contains("finished instead"),
                    "{strategy}@{k}: {r:?}"
                );
                assert_eq!(serves(&w), "v2", "{strategy}@{k}");
                continue;
            }
            assert_eq!(r.outcome, Some(Outcome::Aborted), "{strategy}@{k}: {r:?}");
            assert_eq!(serves(&w), "v1", "{strategy}@{k}");
            assert_eq!(w.sim.present(), ["v1"], "{strategy}@{k}: orphans");
        }
    }
}

#[tokio::test]
async fn a_manifest_changed_since_the_deployment_started_is_refused_on_resume_not_on_abort() {
    for strategy in STRATEGIES {
        let svc = service(strategy, "");
        let w = World::with_v1(&svc).await;
        w.deploy(&svc, "v2", "img-2", crash_at(1))
            .await
            .expect_err("killed");
        w.sim.clock.advance(Options::default().lease_ms as u64 + 1);
        let mut changed = svc.clone();
        changed.count += 1;
        let me = w.engine("me", Options::default());
        let err = me.resume(&changed).await.expect_err("refused");
        assert!(
            matches!(err, EngineError::ManifestChanged { ref id, .. } if id == "v2"),
            "{strategy}: {err}"
        );
        assert!(err
            .to_string()
            .contains("changed since deployment v2 started"));
        let err = me.promote(&changed).await.expect_err("refused");
        assert!(matches!(err, EngineError::ManifestChanged { .. }), "{err}");
        // With the manifest it started with, it resumes; abort works either way.
        let r = me.abort(&changed).await.expect("abort");
        assert_eq!(r.outcome, Some(Outcome::Aborted), "{strategy}: {r:?}");
        assert_eq!(serves(&w), "v1", "{strategy}");
    }
}

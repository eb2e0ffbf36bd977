//! `gc` on the simulated target: succeeded deployments beyond a lowered `drain.keep` are
//! drained, resources with no record are removed, the serving and the kept deployments and an
//! unfinished deployment are left alone, and a dry run removes nothing.

use wharf_engine::{Options, Outcome, Store, Target};

use crate::{serves, service, World, STRATEGIES};

fn ids(c: &[wharf_engine::Collected]) -> Vec<&str> {
    c.iter().map(|c| c.id.as_str()).collect()
}

#[tokio::test(flavor = "current_thread")]
async fn gc_removes_deployments_beyond_keep_and_resources_without_records() {
    for strategy in STRATEGIES {
        let keep3 = service(strategy, "drain = { keep = 3 }\ncanary = { percent = 50, bake = \"1s\" }\nlinear = { step = 50, interval = \"1s\" }\nblue_green = { bake = \"1s\" }");
        let w = World::with_v1(&keep3).await;
        for v in ["v2", "v3", "v4"] {
            let r = w
                .deploy(&keep3, v, &format!("img-{v}"), Options::default())
                .await
                .unwrap_or_else(|e| panic!("{strategy} {v}: {e}"));
            assert_eq!(r.outcome, Some(Outcome::Succeeded), "{strategy}");
        }
        // Resources of a deployment wharf has no record of (a deploy killed before its first
        // record, say).
        let mut orphan = w.sim.load("web", "v1").await.unwrap().expect("v1's record");
        orphan.id = "v0".into();
        Target::provision(&w.sim, &keep3, &orphan, 1).await.unwrap();
        // Resources of a deployment its record says are gone (a drain that died half-way).
        let v2 = w.sim.load("web", "v2").await.unwrap().expect("v2's record");
        Target::provision(&w.sim, &keep3, &v2, 1).await.unwrap();
        let before = w.sim.present();

        // Affinity keeps old deployments serving their users: with keep lowered to 1, v1 and
        // v2 go, v3 (kept) and v4 (serving) stay. The other strategies retired v1..v3 when
        // each successor took over.
        let affinity = strategy == "affinity";
        let keep1 = service(strategy, "drain = { keep = 1 }");
        let engine = w.engine("me", Options::default());
        let dry = engine.gc(&keep1, true).await.unwrap();
        assert_eq!(
            w.sim.present(),
            before,
            "{strategy}: a dry run removes nothing"
        );
        let collected = engine.gc(&keep1, false).await.unwrap();
        assert_eq!(ids(&dry), ids(&collected), "{strategy}");
        let mut got = ids(&collected);
        got.sort();
        let expected: &[&str] = if affinity {
            &["v0", "v1", "v2"]
        } else {
            &["v0", "v2"]
        };
        assert_eq!(got, expected, "{strategy}: {collected:?}");
        let reason = |id: &str| {
            collected
                .iter()
                .find(|c| c.id == id)
                .map(|c| c.reason.clone())
                .unwrap_or_default()
        };
        assert!(
            reason("v0").contains("no deployment record"),
            "{collected:?}"
        );
        if affinity {
            assert!(reason("v1").contains("drain.keep"), "{collected:?}");
        } else {
            assert!(
                reason("v2").contains("retired but its resources are still there"),
                "{collected:?}"
            );
        }
        for id in expected {
            assert!(
                !w.sim.present().contains(&id.to_string()),
                "{strategy}: {id} left"
            );
        }
        for id in ["v1", "v2"] {
            let r = w.sim.load("web", id).await.unwrap().unwrap();
            assert_eq!(r.outcome, Some(Outcome::Retired), "{strategy}: {id}");
        }
        if affinity {
            assert!(w.sim.present().contains(&"v3".to_owned()), "v3 is kept");
        }
        assert_eq!(
            serves(&w),
            "v4",
            "{strategy}: the serving deployment is untouched"
        );
        assert!(w.sim.running().contains(&"v4".to_owned()), "{strategy}");
        // Nothing left to collect; the lock is free again.
        assert!(
            engine.gc(&keep1, false).await.unwrap().is_empty(),
            "{strategy}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn gc_leaves_an_unfinished_deployment_to_resume_or_abort() {
    let svc = service(
        "canary",
        "approval = true\ncanary = { percent = 50, bake = \"1s\" }",
    );
    let w = World::with_v1(&svc).await;
    let held = w
        .deploy(
            &svc,
            "v2",
            "img-2",
            Options {
                detach_at_approval: true,
                ..Options::default()
            },
        )
        .await
        .unwrap();
    assert!(!held.is_finished());
    let collected = w
        .engine("me", Options::default())
        .gc(&svc, false)
        .await
        .unwrap();
    assert!(collected.is_empty(), "{collected:?}");
    assert!(w.sim.present().contains(&"v2".to_owned()));
    assert!(w.sim.present().contains(&"v1".to_owned()));
}

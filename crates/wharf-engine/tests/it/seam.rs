//! What every command reads and decides through the engine, whatever the target: fresh
//! deployment ids, the release of a dead process's lock, and `status` from the trait alone.

use wharf_engine::sim::Behaviour;
use wharf_engine::{EngineError, EnvStatus, Event, Holder, Options, Outcome, Store, Target};
use wharf_manifest::Names;

use crate::{service, World};

/// The id a deploy started at the simulator's current second gets.
fn id_now(w: &World) -> String {
    Names::new("pulse", "test").deployment_id(w.sim.clock_now().div_euclid(1000))
}

#[tokio::test]
async fn two_rollbacks_in_one_second_get_different_ids() {
    let svc = service("canary", "");
    let w = World::with_v1(&svc).await;
    w.deploy(&svc, "v2", "img-2", Options::default())
        .await
        .expect("v2");
    // Something already took this second's id (a deploy or rollback a moment ago).
    let taken = id_now(&w);
    let mut other = w.sim.load("web", "v2").await.expect("load").expect("v2");
    other.id = taken.clone();
    other.outcome = Some(Outcome::Aborted);
    w.sim.save(&other).await.expect("save");
    let e = w.engine("me", Options::default());
    let first = e
        .rollback("pulse", "test", &svc, None)
        .await
        .expect("rolls back");
    assert_ne!(first.id, taken, "a fresh id, not the taken one");
    assert_eq!(first.image, "img-1");
    let second = e
        .rollback("pulse", "test", &svc, None)
        .await
        .expect("rolls back again");
    assert_ne!(second.id, first.id);
    assert_eq!(second.image, "img-2");
    // fresh_id itself: the second call in the same second waits for the next one.
    let a = e.fresh_id("pulse", "test", &svc).await.expect("id");
    let mut r = first.clone();
    r.id = a.clone();
    w.sim.save(&r).await.expect("save");
    let b = e.fresh_id("pulse", "test", &svc).await.expect("id");
    assert_ne!(a, b);
}

#[tokio::test]
async fn a_dead_process_lock_is_released_and_a_live_one_is_not() {
    let svc = service("canary", "");
    let w = World::with_v1(&svc).await;
    let now = w.sim.clock_now();
    // A wharf of this machine that was killed: same machine, a pid that does not run.
    let dead = Holder {
        pid: u32::MAX - 1,
        ..Holder::this_process()
    };
    w.sim
        .lock("web", &dead, now, 600_000)
        .await
        .expect("store")
        .expect("free");
    w.deploy(&svc, "v2", "img-2", Options::default())
        .await
        .expect("the dead holder's lock does not stop the deploy");
    assert!(w.events.events().iter().any(|e| matches!(
        e,
        Event::LockReleased { holder, .. } if *holder == dead.to_string()
    )));
    // A holder of another machine with the same host name and pid is left alone.
    let elsewhere = Holder {
        machine: "another-boot/pid:[1]".into(),
        ..dead
    };
    let now = w.sim.clock_now();
    w.sim
        .lock("web", &elsewhere, now, 600_000)
        .await
        .expect("store")
        .expect("free");
    let err = w
        .deploy(&svc, "v3", "img-3", Options::default())
        .await
        .expect_err("locked");
    assert!(matches!(err, EngineError::Locked { .. }), "{err}");
}

#[tokio::test]
async fn status_reads_records_weights_and_health_through_the_trait() {
    let svc = service("canary", "");
    let w = World::with_v1(&svc).await;
    w.sim.behave("img-2", Behaviour::Healthy { after_ms: 0 });
    let st = EnvStatus::of(&w.sim, "test", &[&svc], &[], 0)
        .await
        .expect("status");
    assert_eq!(st.url, w.sim.url());
    let s = &st.services[0];
    assert_eq!((s.service.as_str(), s.strategy.as_str()), ("web", "canary"));
    assert_eq!(s.deployments.len(), 1, "{st}");
    let d = &s.deployments[0];
    assert_eq!((d.id.as_str(), d.weight), ("v1", Some(100)));
    assert_eq!((d.healthy, d.targets), (2, 2));
    assert_eq!(d.phase, "succeeded");
    let text = st.to_string();
    assert!(
        text.contains("v1") && text.contains("100%") && text.contains("2/2 healthy"),
        "{text}"
    );
    assert!(d.stopped.is_empty() && d.alarms.is_empty(), "{st}");

    // A task of v1 killed: status says why it stopped.
    w.sim
        .behave("img-1", Behaviour::KilledAfter { after_ms: 0 });
    let st = EnvStatus::of(&w.sim, "test", &[&svc], &[], 0)
        .await
        .expect("status");
    let d = &st.services[0].deployments[0];
    assert_eq!(d.stopped, ["task killed (SIGKILL)"]);
    assert!(
        st.to_string()
            .contains("      stopped: task killed (SIGKILL)"),
        "{st}"
    );
}

#[test]
fn status_shows_the_latest_distinct_stop_reasons_with_their_count() {
    let seen: Vec<String> = ["oom", "exit 1", "exit 1", "pull", "exit 1", "exit 2"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let svc = wharf_engine::view::latest_reasons(&seen);
    assert_eq!(svc, ["pull", "exit 1 (×3)", "exit 2"]);
}

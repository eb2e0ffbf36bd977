//! A failure in every phase rolls back by itself: traffic returns to v1 first, then v2 is
//! removed. Also approvals, abort, and lock contention.

use wharf_engine::sim::Behaviour;
use wharf_engine::{EngineError, HookKind, Options, Outcome, Status, Store};

use crate::{serves, service, World, STRATEGIES};

async fn rolls_back(
    strategy: &str,
    deploy: &str,
    image_behaviour: Option<Behaviour>,
    failing_hook: Option<HookKind>,
    want_reason: &str,
) {
    let svc = service(strategy, deploy);
    let w = World::with_v1(&svc).await;
    if let Some(b) = image_behaviour {
        w.sim.behave("img-2", b);
    }
    if let Some(h) = failing_hook {
        w.sim.fail_hook(h);
    }
    let r = w
        .deploy(&svc, "v2", "img-2", Options::default())
        .await
        .unwrap_or_else(|e| panic!("{strategy}: {e}"));
    assert_eq!(
        r.outcome,
        Some(Outcome::RolledBack),
        "{strategy} / {want_reason}: {r:?}"
    );
    let reason = r.reason.clone().unwrap_or_default();
    assert!(
        reason.contains(want_reason),
        "{strategy}: reason {reason:?} lacks {want_reason:?}"
    );
    assert_eq!(serves(&w), "v1", "{strategy}: traffic is back on v1");
    assert_eq!(
        w.sim.present(),
        ["v1"],
        "{strategy}: v2 is removed, nothing orphaned"
    );
    assert_eq!(w.sim.test_route(), None);
    // Traffic moved back before v2 was removed.
    let log = w.sim.log();
    let retire = log
        .iter()
        .rposition(|l| l == "retire v2")
        .expect("v2 retired");
    let back = log
        .iter()
        .rposition(|l| l == "weights v1=100" || l == "default v1" || l.starts_with("scale v1 2"));
    if log
        .iter()
        .any(|l| l.starts_with("weights v2=") || l == "default v2" || l.starts_with("scale v1 "))
    {
        assert!(
            back.is_some_and(|b| b < retire),
            "{strategy}: traffic back before removal: {log:#?}"
        );
    }
}

#[tokio::test]
async fn a_version_that_exits_at_start_rolls_back() {
    for s in STRATEGIES {
        rolls_back(
            s,
            "",
            Some(Behaviour::ExitsAtStart),
            None,
            "tasks keep stopping",
        )
        .await;
    }
}

#[tokio::test]
async fn a_version_whose_health_check_fails_rolls_back_after_a_bounded_wait() {
    for s in STRATEGIES {
        rolls_back(
            s,
            "",
            Some(Behaviour::NeverHealthy),
            None,
            "targets healthy after",
        )
        .await;
    }
}

#[tokio::test]
async fn a_version_the_runtime_gives_up_rolls_back_with_its_reason() {
    for s in STRATEGIES {
        rolls_back(
            s,
            "",
            Some(Behaviour::GivenUp { after_ms: 5_000 }),
            None,
            "ECS deployment circuit breaker: tasks failed to start.",
        )
        .await;
    }
}

#[tokio::test]
async fn a_version_answering_500_after_traffic_shifts_rolls_back() {
    for s in ["canary", "linear", "blue-green", "affinity"] {
        rolls_back(s, "", Some(Behaviour::Errors500), None, "answered 5xx").await;
    }
}

#[tokio::test]
async fn a_task_killed_during_the_bake_rolls_back() {
    for s in ["canary", "linear", "blue-green", "affinity"] {
        rolls_back(
            s,
            "",
            Some(Behaviour::KilledAfter { after_ms: 30_000 }),
            None,
            "a task stopped",
        )
        .await;
    }
}

#[tokio::test]
async fn a_version_the_runtime_refuses_to_start_rolls_back() {
    for s in STRATEGIES {
        rolls_back(
            s,
            "",
            Some(Behaviour::CannotStart),
            None,
            "image img-2 does not exist",
        )
        .await;
    }
}

#[tokio::test]
async fn a_transient_runtime_failure_stops_resumably_and_resume_finishes() {
    for s in STRATEGIES {
        let svc = service(s, "");
        let w = World::with_v1(&svc).await;
        w.sim.behave("img-2", Behaviour::RuntimeDown);
        let err = w
            .deploy(&svc, "v2", "img-2", Options::default())
            .await
            .expect_err("the runtime is down");
        assert!(
            matches!(&err, EngineError::Target { source, .. } if source.transient),
            "{s}: {err}"
        );
        assert_eq!(serves(&w), "v1", "{s}: v1 keeps serving");
        let open = w.sim.list("web").await.expect("records");
        assert!(open.iter().any(|r| r.id == "v2" && !r.is_finished()), "{s}");
        // The runtime is back: the same deployment continues.
        w.sim
            .behave("img-2", Behaviour::Healthy { after_ms: 10_000 });
        let r = w
            .engine("me", Options::default())
            .resume(&svc)
            .await
            .unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(r.outcome, Some(Outcome::Succeeded), "{s}: {r:?}");
        assert_eq!(serves(&w), "v2", "{s}");
    }
}

#[tokio::test]
async fn failing_smoke_checks_roll_back_before_any_traffic() {
    for s in ["canary", "linear", "blue-green", "affinity"] {
        rolls_back(
            s,
            "[[services.web.deploy.smoke]]\npath = \"/\"",
            Some(Behaviour::SmokeFails),
            None,
            "smoke check GET / failed",
        )
        .await;
    }
}

#[tokio::test]
async fn a_failing_hook_rolls_back() {
    for s in STRATEGIES {
        rolls_back(
            s,
            "hooks = { pre_deploy = \"false\" }",
            None,
            Some(HookKind::PreDeploy),
            "pre-deploy hook failed",
        )
        .await;
        rolls_back(
            s,
            "hooks = { pre_traffic = \"false\" }",
            None,
            Some(HookKind::PreTraffic),
            "pre-traffic hook failed",
        )
        .await;
    }
}

#[tokio::test]
async fn a_failed_first_deployment_leaves_nothing_behind() {
    let svc = service("canary", "");
    let w = World::new();
    w.sim.behave("img-1", Behaviour::ExitsAtStart);
    let r = w
        .deploy(&svc, "v1", "img-1", Options::default())
        .await
        .expect("runs");
    assert_eq!(r.outcome, Some(Outcome::RolledBack));
    assert!(w.sim.present().is_empty() && w.sim.weights().is_empty());
}

#[tokio::test]
async fn approval_holds_until_promote() {
    let svc = service(
        "canary",
        "approval = true\ncanary = { percent = 10, bake = \"10s\" }",
    );
    let w = World::with_v1(&svc).await;
    let detach = Options {
        detach_at_approval: true,
        ..Options::default()
    };
    let r = w
        .deploy(&svc, "v2", "img-2", detach.clone())
        .await
        .expect("runs to the gate");
    assert_eq!(r.status, Status::AwaitingApproval);
    assert_eq!(
        w.sim.weights(),
        [("v2".to_owned(), 10), ("v1".to_owned(), 90)],
        "held at the canary share"
    );
    // A second deploy is refused while one is open.
    let err = w
        .deploy(&svc, "v3", "img-3", Options::default())
        .await
        .expect_err("open deployment");
    assert!(matches!(err, EngineError::Unfinished { .. }), "{err}");
    let r = w
        .engine("me", Options::default())
        .promote(&svc)
        .await
        .expect("promotes");
    assert_eq!(r.outcome, Some(Outcome::Succeeded));
    assert_eq!(serves(&w), "v2");
}

#[tokio::test]
async fn abort_at_the_gate_rolls_back() {
    let svc = service("canary", "approval = true");
    let w = World::with_v1(&svc).await;
    let detach = Options {
        detach_at_approval: true,
        ..Options::default()
    };
    w.deploy(&svc, "v2", "img-2", detach)
        .await
        .expect("runs to the gate");
    let r = w
        .engine("me", Options::default())
        .abort(&svc)
        .await
        .expect("aborts");
    assert_eq!(r.outcome, Some(Outcome::Aborted));
    assert_eq!(serves(&w), "v1");
    assert_eq!(w.sim.present(), ["v1"]);
}

#[tokio::test]
async fn an_abort_asked_of_another_process_survives_its_saves_and_rolls_back() {
    let svc = service("canary", "approval = true");
    let w = World::with_v1(&svc).await;
    let detach = Options {
        detach_at_approval: true,
        ..Options::default()
    };
    w.deploy(&svc, "v2", "img-2", detach.clone())
        .await
        .expect("runs to the gate");
    // Another process runs the deployment: it holds the lock and keeps saving the copy of the
    // record it read before the abort was asked.
    let now = w.sim.clock_now();
    let alice = wharf_engine::Holder::named("alice@ci pid 7");
    w.sim
        .lock("web", &alice, now, 600_000)
        .await
        .expect("store")
        .expect("free");
    let stale = w.sim.load("web", "v2").await.expect("store").expect("v2");
    let asked = w
        .engine("me", Options::default())
        .abort(&svc)
        .await
        .expect("asked");
    assert!(
        asked.abort_requested && asked.outcome.is_none(),
        "{asked:?}"
    );
    w.sim.save(&stale).await.expect("alice saves");
    w.sim.unlock("web", &alice).await.expect("alice stops");
    let r = w.engine("me", detach).resume(&svc).await.expect("resumes");
    assert_eq!(r.outcome, Some(Outcome::Aborted), "{r:?}");
    assert_eq!(serves(&w), "v1");
}

#[tokio::test]
async fn a_step_longer_than_the_lease_keeps_the_lock_renewed() {
    let svc = service("canary", "");
    let w = World::with_v1(&svc).await;
    // Retiring v1 drains for 5 minutes; the lease is 2.
    w.sim.set_drain_ms(300_000);
    let r = w
        .deploy(&svc, "v2", "img-2", Options::default())
        .await
        .expect("deploys");
    assert_eq!(r.outcome, Some(Outcome::Succeeded));
    assert!(w.sim.log().contains(&"retire v1".to_owned()));
    assert_eq!(
        w.sim.lapses(),
        Vec::<i64>::new(),
        "the lock lapsed while the retire still drained"
    );
}

#[tokio::test]
async fn a_concurrent_deploy_fails_naming_the_holder() {
    let svc = service("canary", "");
    let w = World::with_v1(&svc).await;
    let now = w.sim.clock_now();
    w.sim
        .lock(
            "web",
            &wharf_engine::Holder::named("alice@laptop pid 4242"),
            now,
            600_000,
        )
        .await
        .expect("store")
        .expect("free");
    let err = w
        .deploy(&svc, "v2", "img-2", Options::default())
        .await
        .expect_err("locked");
    let msg = err.to_string();
    assert!(
        matches!(err, EngineError::Locked { .. }) && msg.contains("alice@laptop pid 4242"),
        "{msg}"
    );
    // --force-unlock breaks a stale lock.
    w.sim.force_unlock("web").await.expect("store");
    w.deploy(&svc, "v2", "img-2", Options::default())
        .await
        .expect("deploys after the unlock");
}

#[tokio::test]
async fn rollback_on_request_switches_to_a_running_old_version_at_once() {
    let svc = service("affinity", "");
    let w = World::with_v1(&svc).await;
    w.deploy(&svc, "v2", "img-2", Options::default())
        .await
        .expect("v2");
    let r = w
        .engine("me", Options::default())
        .rollback("pulse", "test", &svc, Some("v3"))
        .await
        .expect("rolls back");
    assert_eq!(r.id, "v1");
    assert_eq!(w.sim.default_deployment().as_deref(), Some("v1"));
    assert_eq!(w.sim.present(), ["v1"], "v2 is drained");
}

#[tokio::test]
async fn rollback_on_request_redeploys_a_retired_version() {
    let svc = service("canary", "");
    let w = World::with_v1(&svc).await;
    w.deploy(&svc, "v2", "img-2", Options::default())
        .await
        .expect("v2");
    assert_eq!(w.sim.present(), ["v2"]);
    let r = w
        .engine("me", Options::default())
        .rollback("pulse", "test", &svc, Some("v3"))
        .await
        .expect("rolls back");
    assert_eq!(
        (r.id.as_str(), r.image.as_str(), r.outcome),
        ("v3", "img-1", Some(Outcome::Succeeded))
    );
    assert_eq!(serves(&w), "v3");
    // Nothing earlier to return to from a first deployment.
    let fresh = World::with_v1(&svc).await;
    let err = fresh
        .engine("me", Options::default())
        .rollback("pulse", "test", &svc, Some("v2"))
        .await
        .expect_err("nothing");
    assert!(matches!(err, EngineError::NoPrevious { .. }), "{err}");
}

#[tokio::test]
async fn drain_removes_an_old_deployment_but_never_the_serving_one() {
    let svc = service("affinity", "");
    let w = World::with_v1(&svc).await;
    w.deploy(&svc, "v2", "img-2", Options::default())
        .await
        .expect("v2");
    let e = w.engine("me", Options::default());
    let err = e.drain(&svc, "v2").await.expect_err("serving");
    assert!(matches!(err, EngineError::DrainingDefault { .. }), "{err}");
    assert!(matches!(
        e.drain(&svc, "v9").await,
        Err(EngineError::UnknownDeployment { .. })
    ));
    e.drain(&svc, "v1").await.expect("drains v1");
    assert_eq!(w.sim.present(), ["v2"]);
    assert_eq!(
        w.sim
            .load("web", "v1")
            .await
            .expect("store")
            .expect("record")
            .outcome,
        Some(Outcome::Retired)
    );
}

/// Waiting out a 10-minute bake polls every second, but renews the lock only every third of its
/// lease and looks for promote/abort every fifth poll (each is a call to the store: DynamoDB on
/// AWS); the lock never lapses.
#[tokio::test]
async fn the_lock_is_renewed_on_its_lease_schedule_not_every_poll() {
    let svc = service("canary", "canary = { percent = 20, bake = \"10m\" }");
    let w = World::with_v1(&svc).await;
    w.sim.set_drain_ms(60_000);
    let (before, loads) = (w.sim.renewals(), w.sim.loads());
    let r = w
        .deploy(&svc, "v2", "img-2", Options::default())
        .await
        .expect("deploys");
    assert_eq!(r.outcome, Some(Outcome::Succeeded));
    let renewals = w.sim.renewals() - before;
    // 11 minutes of bake and drain at one renewal per 40 s, plus the heartbeat's.
    assert!(
        (10..=30).contains(&renewals),
        "{renewals} renewals (every poll would be ~660)"
    );
    assert_eq!(w.sim.lapses(), Vec::<i64>::new());
    let loads = w.sim.loads() - loads;
    assert!(
        (100..=160).contains(&loads),
        "{loads} loads (every poll would be ~660)"
    );
}

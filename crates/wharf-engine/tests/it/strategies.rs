//! Each strategy from v1 to v2 with healthy versions: the transitions it makes, in order.

use wharf_engine::{Options, Outcome, Step};

use crate::{serves, service, World, STRATEGIES};

fn position(log: &[String], what: &str) -> usize {
    log.iter()
        .position(|l| l == what)
        .unwrap_or_else(|| panic!("`{what}` not in {log:#?}"))
}

#[tokio::test]
async fn every_strategy_ends_with_all_traffic_on_v2() {
    for strategy in STRATEGIES {
        let svc = service(strategy, "");
        let w = World::with_v1(&svc).await;
        let r = w
            .deploy(&svc, "v2", "img-2", Options::default())
            .await
            .unwrap_or_else(|e| panic!("{strategy}: {e}"));
        assert_eq!(r.outcome, Some(Outcome::Succeeded), "{strategy}: {r:?}");
        assert_eq!(serves(&w), "v2", "{strategy}");
        let present = w.sim.present();
        if strategy == "affinity" {
            assert_eq!(
                present,
                ["v1", "v2"],
                "affinity keeps v1 for its sticky users"
            );
        } else {
            assert_eq!(present, ["v2"], "{strategy}: v1 is retired");
        }
    }
}

#[tokio::test]
async fn canary_shifts_its_share_bakes_then_all() {
    let svc = service("canary", "canary = { percent = 20, bake = \"2m\" }");
    let w = World::with_v1(&svc).await;
    let before = w.sim.clock_now();
    w.deploy(&svc, "v2", "img-2", Options::default())
        .await
        .expect("deploys");
    let log = w.sim.log();
    let canary = position(&log, "weights v2=20 v1=80");
    let all = position(&log, "weights v2=100");
    let retire = position(&log, "retire v1");
    assert!(canary < all && all < retire, "{log:#?}");
    assert!(
        w.sim.clock_now() - before >= 120_000,
        "the bake lasted 2m of (fake) time"
    );
}

#[tokio::test]
async fn linear_steps_up_every_interval() {
    let svc = service("linear", "linear = { step = 25, interval = \"30s\" }");
    let w = World::with_v1(&svc).await;
    w.deploy(&svc, "v2", "img-2", Options::default())
        .await
        .expect("deploys");
    let log = w.sim.log();
    let steps: Vec<usize> = [
        "weights v2=25 v1=75",
        "weights v2=50 v1=50",
        "weights v2=75 v1=25",
        "weights v2=100",
    ]
    .iter()
    .map(|s| position(&log, s))
    .collect();
    assert!(steps.windows(2).all(|p| p[0] < p[1]), "{log:#?}");
}

#[tokio::test]
async fn blue_green_tests_the_new_set_switches_at_once_and_keeps_the_old_for_the_bake() {
    let svc = service(
        "blue-green",
        "blue_green = { bake = \"1m\" }\n[[services.web.deploy.smoke]]\npath = \"/\"\n",
    );
    let w = World::with_v1(&svc).await;
    let r = w
        .deploy(&svc, "v2", "img-2", Options::default())
        .await
        .expect("deploys");
    let log = w.sim.log();
    let test = position(&log, "test-route v2");
    let switch = position(&log, "weights v2=100");
    let retire = position(&log, "retire v1");
    assert!(test < switch && switch < retire, "{log:#?}");
    assert!(
        !log.iter()
            .any(|l| l.starts_with("weights v2=") && l != "weights v2=100"),
        "no partial shift: {log:#?}"
    );
    assert!(r.steps.contains(&Step::Smoke));
    assert_eq!(
        w.sim.test_route(),
        None,
        "the test route is removed at the end"
    );
}

#[tokio::test]
async fn affinity_makes_the_new_version_default_and_keeps_n_old_ones() {
    let svc = service("affinity", "drain = { keep = 1 }");
    let w = World::with_v1(&svc).await;
    w.deploy(&svc, "v2", "img-2", Options::default())
        .await
        .expect("v2");
    assert_eq!(w.sim.present(), ["v1", "v2"]);
    w.deploy(&svc, "v3", "img-3", Options::default())
        .await
        .expect("v3");
    assert_eq!(
        w.sim.present(),
        ["v2", "v3"],
        "keep = 1: the oldest is drained"
    );
    assert_eq!(w.sim.default_deployment().as_deref(), Some("v3"));
}

#[tokio::test]
async fn rolling_replaces_tasks_in_batches() {
    let svc = service(
        "rolling",
        "rolling = { min_healthy_percent = 50, max_percent = 100 }",
    );
    let w = World::with_v1(&svc).await;
    w.deploy(&svc, "v2", "img-2", Options::default())
        .await
        .expect("deploys");
    let log = w.sim.log();
    // 2 tasks, 50% healthy, 100% max: one old stops, one new starts, then the second.
    let a = position(&log, "scale v1 1");
    let b = position(&log, "provision v2 2");
    assert!(a < b, "{log:#?}");
    assert_eq!(serves(&w), "v2");
}

#[tokio::test]
async fn hooks_run_in_their_phases() {
    let svc = service(
        "canary",
        "hooks = { pre_deploy = \"true\", post_scale_up = \"true\", pre_traffic = \"true\", post_traffic = \"true\" }",
    );
    let w = World::with_v1(&svc).await;
    w.deploy(&svc, "v2", "img-2", Options::default())
        .await
        .expect("deploys");
    let log = w.sim.log();
    let pre = position(&log, "hook pre-deploy v2");
    let prov = position(&log, "provision v2 2");
    let up = position(&log, "hook post-scale-up v2");
    let traffic = position(&log, "hook pre-traffic v2");
    let shift = position(&log, "weights v2=10 v1=90");
    let post = position(&log, "hook post-traffic v2");
    let all = position(&log, "weights v2=100");
    assert!(
        pre < prov && prov < up && up < traffic && traffic < shift && all < post,
        "{log:#?}"
    );
}

#[tokio::test]
async fn rolling_moves_traffic_before_stopping_old_tasks() {
    let svc = service(
        "rolling",
        "rolling = { min_healthy_percent = 50, max_percent = 100 }",
    );
    let w = World::with_v1(&svc).await;
    w.deploy(&svc, "v2", "img-2", Options::default())
        .await
        .expect("deploys");
    let log = w.sim.log();
    // Every time v1 is scaled down, its share was lowered first.
    for (i, line) in log.iter().enumerate() {
        if let Some(n) = line.strip_prefix("scale v1 ") {
            let n: u32 = n.parse().expect("a count");
            let last_weights = log[..i]
                .iter()
                .rev()
                .find(|l| l.starts_with("weights "))
                .expect("weights were set");
            let v1_share = last_weights
                .split(' ')
                .find_map(|p| p.strip_prefix("v1="))
                .map_or(0, |p| p.parse::<u32>().expect("share"));
            assert!(
                n > 0 || v1_share == 0,
                "v1 scaled to 0 while it still had {v1_share}%: {log:#?}"
            );
        }
    }
}

//! End to end on the real Docker Engine: the engine deploys hello v1, then v2 with a canary,
//! through the proxy daemon, while a load generator (loopback, bounded) sends requests the
//! whole time: no request fails, both versions answer during the rollout, the observed split
//! follows the engine's weights, v2 answers at the end, and nothing is left behind.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wharf_docker::{BuildSpec, Docker, LABEL_APP};
use wharf_engine::{Discard, Engine, Options, Outcome, Request, SystemClock};
use wharf_local::daemon::{serve, Answer, Command, ProxyClient};
use wharf_local::{LocalStore, LocalTarget};
use wharf_testkit::http::request;
use wharf_testkit::{workspace_root, Cmd, TestDir};

/// Requests sent and what answered them.
#[derive(Default, Debug)]
struct Load {
    ok: HashMap<String, u64>,
    failed: Vec<String>,
    /// Per v2 weight in force for the whole request: (requests, answered by v2).
    split: std::collections::BTreeMap<u32, (u64, u64)>,
}

/// The weight the engine last gave v2, and how many times weights changed: a request counts
/// toward a weight only when no change happened while it was in flight.
#[derive(Default)]
struct Weights {
    v2: String,
    now: std::sync::Mutex<(u64, u32)>,
}

impl Weights {
    fn get(&self) -> (u64, u32) {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The largest gap allowed between the observed share of v2 and its weight, in percentage
/// points, for a weight that saw at least `SPLIT_MIN` requests. The proxy's smooth weighted
/// round robin is exact over consecutive requests; the slack covers a weight change landing
/// between the proxy applying it and the engine announcing it.
const SPLIT_TOLERANCE: f64 = 5.0;
const SPLIT_MIN: u64 = 100;

fn assert_split(strategy: &str, load: &Load) {
    eprintln!(
        "{strategy}: v2 weight -> (requests, answered by v2): {:?}",
        load.split
    );
    let mut checked = 0;
    for (weight, (n, v2)) in &load.split {
        if *n < SPLIT_MIN {
            continue;
        }
        let share = *v2 as f64 * 100.0 / *n as f64;
        assert!(
            (share - f64::from(*weight)).abs() <= SPLIT_TOLERANCE,
            "{strategy}: at weight {weight}% v2 answered {share:.1}% of {n} requests: {:?}",
            load.split
        );
        checked += 1;
    }
    assert!(
        checked >= 2,
        "{strategy}: too few weights saw {SPLIT_MIN} requests to check the split: {:?}",
        load.split
    );
}

fn start_load(
    port: u16,
    stop: Arc<AtomicBool>,
    cookie: Option<String>,
    weights: Arc<Weights>,
) -> std::thread::JoinHandle<Load> {
    std::thread::spawn(move || {
        let mut load = Load::default();
        let deadline = Instant::now() + Duration::from_secs(240);
        while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
            let headers: Vec<(&str, &str)> = cookie
                .as_deref()
                .map(|c| vec![("cookie", c)])
                .unwrap_or_default();
            let before = weights.get();
            match request(port, "GET", "/", &headers, Duration::from_secs(10)) {
                Ok(r) if r.status == 200 => {
                    let dep = r
                        .body
                        .split("\"deployment\":\"")
                        .nth(1)
                        .and_then(|s| s.split('"').next())
                        .unwrap_or("?")
                        .to_owned();
                    if weights.get() == before {
                        let e = load.split.entry(before.1).or_default();
                        e.0 += 1;
                        e.1 += u64::from(dep == weights.v2);
                    }
                    *load.ok.entry(dep).or_default() += 1;
                }
                Ok(r) => load.failed.push(format!("{} {}", r.status, r.body.trim())),
                Err(e) => load.failed.push(e),
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        load
    })
}

/// Deploys v1 then v2 with `strategy` under load; returns what new users and (for affinity)
/// a user holding v1's cookie saw, and the two deployment ids.
async fn rollout_under_load(strategy: &str, params: &str) -> (Load, Option<Load>, String, String) {
    let r = rollout(strategy, params, None).await;
    assert_eq!(
        r.v2_outcome,
        Some(Outcome::Succeeded),
        "{strategy}: {:?}",
        r.v2_reason
    );
    (r.load, r.sticky, r.v1, r.v2)
}

/// What a v2 does wrong.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fault {
    ExitsAtStart,
    Unhealthy,
    Errors500,
    KilledDuringBake,
}

struct Rolled {
    load: Load,
    sticky: Option<Load>,
    v1: String,
    v2: String,
    v2_outcome: Option<Outcome>,
    v2_reason: Option<String>,
}

/// Follows v2's weight; kills one v2 container when v2's bake starts.
struct Observer {
    v2: String,
    weights: Arc<Weights>,
    tx: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl wharf_engine::EventSink for Observer {
    fn emit(&self, e: wharf_engine::Event) {
        if let wharf_engine::Event::Weights { weights } = &e {
            let w = weights
                .iter()
                .find(|(d, _)| *d == self.v2)
                .map_or(0, |(_, p)| *p);
            let mut now = self.weights.now.lock().unwrap_or_else(|p| p.into_inner());
            *now = (now.0 + 1, w);
        }
        if let wharf_engine::Event::Step { id, step, .. } = &e {
            if *id == self.v2 && step.starts_with("bake") {
                if let Some(tx) = self.tx.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    let _ = tx.send(());
                }
            }
        }
    }
}

async fn rollout(strategy: &str, params: &str, fault: Option<Fault>) -> Rolled {
    let app = format!("e2e{}", std::process::id());
    let dir = workspace_root().join("examples/hello");
    Cmd::new(dir.join("build-static.sh"))
        .current_dir(&dir)
        .run()
        .success();
    let docker = Docker::connect().await.expect("Docker");
    let state = TestDir::new();
    let daemon = tokio::spawn({
        let d = state.path().to_path_buf();
        async move { serve(&d, "127.0.0.1:0").await }
    });
    let client = ProxyClient::new(state.path());
    let mut listen = None;
    for _ in 0..200 {
        if let Ok(Answer::Pong { listen: l, .. }) = client.send(&Command::Ping).await {
            listen = Some(l);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let listen = listen.expect("the proxy answers");

    let src = format!(
        "[app]\nname = \"{app}\"\n[environments.local]\ntarget = \"local\"\n[services.web]\nimage = \"unused\"\nport = 8000\ncount = 2\n\
         health = {{ path = \"/_health\" }}\nstop_timeout = \"5s\"\n[services.web.deploy]\nstrategy = \"{strategy}\"\n{params}\n\
         drain = {{ secret = \"ssm:/e2e/drain\", timeout = \"2s\" }}\n"
    );
    let (m, problems) = wharf_manifest::parse_str(&src, "wharf.toml", Path::new("."));
    let service =
        m.unwrap_or_else(|| panic!("{problems}")).environments["local"].services["web"].clone();
    let mode = match fault {
        Some(Fault::ExitsAtStart) => "exit",
        Some(Fault::Unhealthy) => "unhealthy",
        Some(Fault::Errors500) => "error500",
        _ => "",
    };
    let (m2, _) = wharf_manifest::parse_str(
        &src.replace(
            "stop_timeout",
            &format!("env = {{ HELLO_MODE = \"{mode}\" }}\nstop_timeout"),
        ),
        "wharf.toml",
        Path::new("."),
    );
    let service_v2 = m2.expect("valid").environments["local"].services["web"].clone();
    let target = LocalTarget::new(
        LocalStore::open(state.path()).expect("state"),
        docker.clone(),
        ProxyClient::new(state.path()),
        &app,
        "local",
        Some(listen),
        HashMap::from([("ssm:/e2e/drain".to_owned(), "drain-me".to_owned())]),
        dir.clone(),
    );
    let mut tags = Vec::new();
    for v in ["local-20251027-120000Z", "local-20251027-120100Z"] {
        let tag = target.image_tag("web", v);
        docker
            .build(
                BuildSpec {
                    context: &dir,
                    dockerfile: Path::new("Dockerfile"),
                    tag: &tag,
                    labels: HashMap::from([(LABEL_APP.to_owned(), app.clone())]),
                    args: HashMap::new(),
                    target: None,
                    platform: None,
                    no_cache: false,
                    private: &[],
                },
                |_| {},
            )
            .await
            .expect("image builds");
        tags.push((v, tag));
    }
    let clock = SystemClock;
    let engine = Engine {
        target: &target,
        clock: &clock,
        events: &Discard,
        holder: wharf_engine::Holder::named("test"),
        options: Options {
            poll_ms: 250,
            // Hello starts in well under a second: no need for a minute's allowance.
            start_allowance_ms: 5_000,
            ..Options::default()
        },
    };
    fn deploy<'a>(
        app: &'a str,
        service: &'a wharf_manifest::Service,
        v: &'a (&'a str, String),
    ) -> Request<'a> {
        Request {
            app,
            env: "local",
            service,
            id: v.0,
            image: &v.1,
            digest: None,
            platform: None,
        }
    }

    let v1 = engine
        .deploy(deploy(&app, &service, &tags[0]))
        .await
        .expect("v1 deploys");
    assert_eq!(v1.outcome, Some(Outcome::Succeeded), "{v1:?}");
    // The drain path is wharf's alone: the proxy answers it (the service would say 403).
    let drain = request(
        listen.port(),
        "POST",
        "/drain",
        &[("X-Drain-Secret", "drain-me")],
        Duration::from_secs(5),
    )
    .expect("drain request");
    assert_eq!(
        (drain.status, drain.body.trim()),
        (404, "Not Found"),
        "the proxy's drain guard answers, not hello"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let weights = Arc::new(Weights {
        v2: tags[1].0.to_owned(),
        ..Weights::default()
    });
    let load = start_load(listen.port(), stop.clone(), None, weights.clone());
    // Affinity: a user who got v1's cookie before v2 arrived.
    let sticky = if strategy == "affinity" {
        let first =
            request(listen.port(), "GET", "/", &[], Duration::from_secs(5)).expect("first request");
        let cookie = first
            .header("set-cookie")
            .expect("the affinity cookie is set")
            .split(';')
            .next()
            .unwrap_or_default()
            .to_owned();
        Some(start_load(
            listen.port(),
            stop.clone(),
            Some(cookie),
            weights.clone(),
        ))
    } else {
        None
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    // The fault's v2: a manifest changed between deploys (its env), or a container killed.
    let (kill_tx, kill_rx) = tokio::sync::oneshot::channel::<()>();
    let observer = Observer {
        v2: tags[1].0.to_owned(),
        weights: weights.clone(),
        tx: std::sync::Mutex::new(Some(kill_tx)),
    };
    let kill_task = (fault == Some(Fault::KilledDuringBake)).then(|| {
        let name = wharf_manifest::Names::new(&app, "local").container("web", tags[1].0, 0);
        tokio::spawn(async move {
            if kill_rx.await.is_ok() {
                wharf_testkit::docker::docker(["kill", &name]).success();
            }
        })
    });
    let engine2 = Engine {
        events: &observer,
        ..engine
    };
    let v2 = engine2
        .deploy(deploy(&app, &service_v2, &tags[1]))
        .await
        .expect("v2 runs");
    if let Some(k) = kill_task {
        k.abort();
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.store(true, Ordering::SeqCst);
    let load = load.join().expect("load thread");
    let sticky = sticky.map(|h| h.join().expect("sticky thread"));

    let serving = if v2.outcome == Some(Outcome::Succeeded) {
        tags[1].0
    } else {
        tags[0].0
    };
    let after = request(listen.port(), "GET", "/", &[], Duration::from_secs(5)).expect("request");
    assert!(
        after.body.contains(serving),
        "{serving} serves new users at the end: {}",
        after.body
    );
    let mut left: Vec<String> = docker
        .list(&[(LABEL_APP, &app)])
        .await
        .expect("list")
        .into_iter()
        .filter(|c| c.running)
        .map(|c| c.deployment)
        .collect();
    left.sort();
    left.dedup();
    let want: Vec<&str> = match (strategy, v2.outcome) {
        ("affinity", Some(Outcome::Succeeded)) => vec![tags[0].0, tags[1].0],
        (_, Some(Outcome::Succeeded)) => vec![tags[1].0],
        _ => vec![tags[0].0],
    };
    assert_eq!(left, want, "{strategy}: the deployments still running");

    // Clean up what the test made.
    use wharf_engine::Target;
    for (id, _) in &tags {
        target.retire(&service, id).await.expect("retire");
    }
    assert!(docker
        .list(&[(LABEL_APP, &app)])
        .await
        .expect("list")
        .is_empty());
    for (_, tag) in &tags {
        docker.remove_image(tag).await.expect("image removed");
    }
    docker
        .remove_network(&wharf_manifest::Names::new(&app, "local").network())
        .await
        .expect("network removed");
    client.send(&Command::Shutdown).await.expect("stops");
    daemon.await.expect("join").expect("served");
    Rolled {
        load,
        sticky,
        v1: tags[0].0.to_owned(),
        v2: tags[1].0.to_owned(),
        v2_outcome: v2.outcome,
        v2_reason: v2.reason,
    }
}

fn assert_clean(strategy: &str, load: &Load, v1: &str, v2: &str) {
    assert!(
        load.failed.is_empty(),
        "{strategy}: failed requests during the rollout: {:?} (served: {:?})",
        load.failed,
        load.ok
    );
    assert!(
        load.ok.get(v1).copied().unwrap_or(0) > 0 && load.ok.get(v2).copied().unwrap_or(0) > 0,
        "{strategy}: both versions answered: {:?}",
        load.ok
    );
    assert_split(strategy, load);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_under_load_without_a_failed_request() {
    let (load, _, v1, v2) =
        rollout_under_load("canary", "canary = { percent = 20, bake = \"6s\" }").await;
    assert_clean("canary", &load, &v1, &v2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linear_under_load_without_a_failed_request() {
    let (load, _, v1, v2) =
        rollout_under_load("linear", "linear = { step = 50, interval = \"4s\" }").await;
    assert_clean("linear", &load, &v1, &v2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_under_load_without_a_failed_request() {
    let (load, _, v1, v2) =
        rollout_under_load("blue-green", "blue_green = { bake = \"3s\" }").await;
    assert_clean("blue-green", &load, &v1, &v2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_under_load_without_a_failed_request() {
    let (load, _, v1, v2) = rollout_under_load(
        "rolling",
        "rolling = { min_healthy_percent = 50, max_percent = 100 }",
    )
    .await;
    assert_clean("rolling", &load, &v1, &v2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn affinity_keeps_sticky_users_on_their_version() {
    let (load, sticky, v1, v2) =
        rollout_under_load("affinity", "affinity = { header = \"X-Hello-Affinity\" }").await;
    assert!(
        load.failed.is_empty(),
        "affinity: failed requests: {:?}",
        load.failed
    );
    assert!(
        load.ok.get(&v2).copied().unwrap_or(0) > 0,
        "new users reach v2: {:?}",
        load.ok
    );
    // New users: none on v2 before it is the default, all after.
    assert_split("affinity", &load);
    let sticky = sticky.expect("a sticky user");
    assert!(
        sticky.failed.is_empty(),
        "sticky user: failed requests: {:?}",
        sticky.failed
    );
    assert_eq!(
        sticky.ok.keys().collect::<Vec<_>>(),
        [&v1],
        "the sticky user stayed on v1 throughout: {:?}",
        sticky.ok
    );
}

/// A faulty v2 rolls back to v1 by itself; failed requests stay within its traffic share.
async fn rolls_back(strategy: &str, params: &str, share_percent: u64, fault: Fault) {
    let r = rollout(strategy, params, Some(fault)).await;
    assert_eq!(
        r.v2_outcome,
        Some(Outcome::RolledBack),
        "{strategy}/{fault:?}: {:?}",
        r.v2_reason
    );
    let ok: u64 = r.load.ok.values().sum();
    let failed = r.load.failed.len() as u64;
    match fault {
        Fault::ExitsAtStart | Fault::Unhealthy => {
            assert_eq!(
                failed, 0,
                "{strategy}/{fault:?}: v2 never got traffic, yet: {:?}",
                r.load.failed
            )
        }
        Fault::Errors500 | Fault::KilledDuringBake => {
            // Only v2's share of the requests sent until the gate acted can fail.
            let bound = (ok + failed) * share_percent / 100 + 20;
            assert!(
                failed <= bound,
                "{strategy}/{fault:?}: {failed} failed of {} (share {share_percent}%)",
                ok + failed
            );
        }
    }
    if fault == Fault::Errors500 {
        assert!(
            r.v2_reason.as_deref().unwrap_or_default().contains("5xx"),
            "{:?}",
            r.v2_reason
        );
    }
}

macro_rules! fault_tests {
    ($($name:ident: $strategy:expr, $params:expr, $share:expr, $fault:expr;)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                rolls_back($strategy, $params, $share, $fault).await;
            }
        )*
    };
}

const CANARY: &str =
    "canary = { percent = 20, bake = \"20s\" }\nrollback = { window = \"5s\", min_requests = 10 }";
const LINEAR: &str =
    "linear = { step = 50, interval = \"20s\" }\nrollback = { window = \"5s\", min_requests = 10 }";
const BLUE_GREEN: &str =
    "blue_green = { bake = \"20s\" }\nrollback = { window = \"5s\", min_requests = 10 }";
const AFFINITY: &str = "rollback = { window = \"20s\", min_requests = 10 }";

fault_tests! {
    canary_v2_exits_at_start: "canary", CANARY, 20, Fault::ExitsAtStart;
    canary_v2_unhealthy: "canary", CANARY, 20, Fault::Unhealthy;
    canary_v2_answers_500: "canary", CANARY, 20, Fault::Errors500;
    canary_v2_killed_during_bake: "canary", CANARY, 20, Fault::KilledDuringBake;
    linear_v2_exits_at_start: "linear", LINEAR, 50, Fault::ExitsAtStart;
    linear_v2_unhealthy: "linear", LINEAR, 50, Fault::Unhealthy;
    linear_v2_answers_500: "linear", LINEAR, 50, Fault::Errors500;
    linear_v2_killed_during_bake: "linear", LINEAR, 50, Fault::KilledDuringBake;
    blue_green_v2_exits_at_start: "blue-green", BLUE_GREEN, 100, Fault::ExitsAtStart;
    blue_green_v2_unhealthy: "blue-green", BLUE_GREEN, 100, Fault::Unhealthy;
    blue_green_v2_answers_500: "blue-green", BLUE_GREEN, 100, Fault::Errors500;
    blue_green_v2_killed_during_bake: "blue-green", BLUE_GREEN, 100, Fault::KilledDuringBake;
    affinity_v2_exits_at_start: "affinity", AFFINITY, 100, Fault::ExitsAtStart;
    affinity_v2_unhealthy: "affinity", AFFINITY, 100, Fault::Unhealthy;
    affinity_v2_answers_500: "affinity", AFFINITY, 100, Fault::Errors500;
    affinity_v2_killed_during_bake: "affinity", AFFINITY, 100, Fault::KilledDuringBake;
}

//! The modeled critical path of a v1 → v2 deployment of a two-task service, per strategy: the
//! real engine run on the simulated target, whose fake clock advances only by what the
//! deployment waits for. Two models side by side: wharf's defaults (health checks every 5 s,
//! 2 to be healthy, a 15 s deregistration delay) and ECS's and the load balancer's defaults
//! (every 30 s, 5 to be healthy, 300 s). A task takes `TASK_START_S` to start and answer in
//! both; bakes and intervals are the manifest's defaults, the same in both.
//!
//! `cargo run -q -p wharf-engine --example critical_path` (bench/aws.sh runs it).

use std::path::Path;

use wharf_engine::sim::{Behaviour, FakeClock, SimTarget};
use wharf_engine::{Discard, Engine, Options, Outcome, Request};

/// Image pull, container start and the app's own start, before the first health check passes.
const TASK_START_S: i64 = 20;

const STRATEGIES: [&str; 5] = ["rolling", "canary", "linear", "blue-green", "affinity"];

struct Model {
    name: &'static str,
    interval_s: i64,
    healthy: i64,
    deregistration_s: u64,
}

const WHARF: Model = Model {
    name: "wharf defaults",
    interval_s: 5,
    healthy: 2,
    deregistration_s: 15,
};

const ECS: Model = Model {
    name: "ECS/ALB defaults",
    interval_s: 30,
    healthy: 5,
    deregistration_s: 300,
};

fn service(strategy: &str, m: &Model) -> wharf_manifest::Service {
    let src = format!(
        "[app]\nname = \"pulse\"\n[environments.test]\ntarget = \"local\"\n[services.web]\nimage = \"x:1\"\nport = 8000\ncount = 2\n\
         health = {{ path = \"/\", interval = \"{}s\", healthy = {} }}\n\
         [services.web.deploy]\nstrategy = \"{strategy}\"\ndrain = {{ timeout = \"{}s\" }}\n",
        m.interval_s, m.healthy, m.deregistration_s
    );
    let (parsed, problems) = wharf_manifest::parse_str(&src, "wharf.toml", Path::new("."));
    parsed.unwrap_or_else(|| panic!("{problems}")).services["web"].clone()
}

/// Simulated seconds from `wharf deploy` of v2 to its end.
async fn critical_path(strategy: &str, m: &Model) -> f64 {
    let sim = SimTarget::new(FakeClock::at(1_795_428_000_000));
    let healthy_after = (TASK_START_S + m.interval_s * m.healthy) * 1000;
    for image in ["img-1", "img-2"] {
        sim.behave(
            image,
            Behaviour::Healthy {
                after_ms: healthy_after,
            },
        );
    }
    sim.set_drain_ms(m.deregistration_s * 1000);
    let svc = service(strategy, m);
    let engine = Engine {
        target: &sim,
        clock: &sim.clock,
        events: &Discard,
        holder: wharf_engine::Holder::named("bench"),
        options: Options {
            poll_ms: 1000,
            ..Options::default()
        },
    };
    let mut start = 0;
    for (id, image) in [("v1", "img-1"), ("v2", "img-2")] {
        start = sim.clock_now();
        let r = engine
            .deploy(Request {
                app: "pulse",
                env: "test",
                service: &svc,
                id,
                image,
                digest: None,
                platform: None,
            })
            .await
            .unwrap_or_else(|e| panic!("{strategy} {id}: {e}"));
        assert_eq!(r.outcome, Some(Outcome::Succeeded), "{strategy} {id}");
    }
    (sim.clock_now() - start) as f64 / 1000.0
}

fn minutes(s: f64) -> String {
    format!("{:.0} s ({:.1} min)", s, s / 60.0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    println!(
        "modeled critical path of v1 -> v2, two tasks, task start {TASK_START_S} s (engine on the simulated target)"
    );
    println!(
        "{:<11} {:>22} {:>22} {:>9}",
        "strategy", WHARF.name, ECS.name, "saved"
    );
    for strategy in STRATEGIES {
        let w = critical_path(strategy, &WHARF).await;
        let e = critical_path(strategy, &ECS).await;
        println!(
            "{:<11} {:>22} {:>22} {:>8.0}%",
            strategy,
            minutes(w),
            minutes(e),
            (1.0 - w / e) * 100.0
        );
    }
}

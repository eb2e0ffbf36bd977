//! The engine on the simulated target: every strategy's transitions, a failure in every phase,
//! a crash and resume at every transition, approvals, lock contention, and gc.

mod faults;
mod gc;
mod jobs;
mod notify;
mod properties;
mod resume;
mod scaling;
mod schedules;
mod seam;
mod smoke;
mod strategies;

use std::path::Path;

use wharf_engine::sim::{FakeClock, SimTarget};
use wharf_engine::{Collect, Engine, EngineError, Options, Record, Request};
use wharf_manifest::Service;

pub const STRATEGIES: [&str; 5] = ["rolling", "canary", "linear", "blue-green", "affinity"];

/// A two-task service with the given deploy settings (TOML lines under [services.web.deploy]).
pub fn service(strategy: &str, deploy: &str) -> Service {
    let src = format!(
        "[app]\nname = \"pulse\"\n[environments.test]\ntarget = \"local\"\n[services.web]\nimage = \"x:1\"\nport = 8000\ncount = 2\n\
         [services.web.deploy]\nstrategy = \"{strategy}\"\n{deploy}\n"
    );
    let (m, problems) = wharf_manifest::parse_str(&src, "wharf.toml", Path::new("."));
    m.unwrap_or_else(|| panic!("{problems}")).services["web"].clone()
}

/// A simulator and the events of everything run in it.
pub struct World {
    pub sim: SimTarget,
    pub events: Collect,
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl World {
    pub fn new() -> Self {
        World {
            sim: SimTarget::new(FakeClock::at(1_761_567_672_000)),
            events: Collect::default(),
        }
    }

    pub fn engine(&self, holder: &str, options: Options) -> Engine<'_, SimTarget, FakeClock> {
        Engine {
            target: &self.sim,
            clock: &self.sim.clock,
            events: &self.events,
            holder: wharf_engine::Holder::named(holder),
            options,
        }
    }

    pub async fn deploy(
        &self,
        svc: &Service,
        id: &str,
        image: &str,
        options: Options,
    ) -> Result<Record, EngineError> {
        self.engine("me", options)
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
    }

    /// Deploys v1 (first deployment) and checks it serves everything.
    pub async fn with_v1(svc: &Service) -> World {
        let w = World::new();
        let r = w
            .deploy(svc, "v1", "img-1", Options::default())
            .await
            .expect("v1 deploys");
        assert_eq!(r.outcome, Some(wharf_engine::Outcome::Succeeded), "{r:?}");
        assert_eq!(serves(&w), "v1");
        w
    }
}

/// Who gets new users now: the affinity default or the only weighted deployment.
pub fn serves(w: &World) -> String {
    if let Some(d) = w.sim.default_deployment() {
        return d;
    }
    let weights = w.sim.weights();
    assert_eq!(weights.len(), 1, "traffic is split: {weights:?}");
    assert_eq!(weights[0].1, 100);
    weights[0].0.clone()
}

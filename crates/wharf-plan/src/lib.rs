//! The offline plan: every resource an environment and each of its services will get, named as
//! the naming table in `wharf_manifest::names` says, without calling any API. `wharf plan` renders it as text or JSON.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod aws;
mod local;
mod render;

use serde::Serialize;
use wharf_manifest::{Environment, Manifest, Names, Service, StrategyKind};

/// What an environment consists of.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub app: String,
    pub environment: String,
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Shared infrastructure, created by `wharf up` (CloudFormation stacks, or the local proxy).
    pub groups: Vec<Group>,
    pub services: Vec<ServicePlan>,
    pub jobs: Vec<Group>,
}

/// A named set of resources: a stack, the local proxy, a job.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub name: String,
    pub kind: String,
    pub resources: Vec<Resource>,
}

/// One resource: its type, its name, and the setting that matters most.
#[derive(Debug, Clone, Serialize)]
pub struct Resource {
    #[serde(rename = "type")]
    pub ty: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Resource {
    pub fn new(ty: &str, name: impl Into<String>) -> Self {
        Resource {
            ty: ty.to_owned(),
            name: name.into(),
            detail: None,
        }
    }

    pub fn with(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// A service: what it keeps across deployments and what each deployment creates.
#[derive(Debug, Clone, Serialize)]
pub struct ServicePlan {
    pub name: String,
    pub strategy: StrategyKind,
    pub summary: String,
    /// The shape of a deployment id, e.g. `test-YYYYMMDD-HHMMSSZ`.
    pub deployment_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_priorities: Option<RulePriorities>,
    pub shared: Vec<Resource>,
    pub per_deployment: Vec<Resource>,
}

/// The listener-rule priorities a service owns.
#[derive(Debug, Clone, Serialize)]
pub struct RulePriorities {
    pub routing_priority: u32,
    pub base_rule: u32,
    pub deployment_rules: [u32; 2],
}

/// Plans `env` of `manifest`.
pub fn plan(manifest: &Manifest, env: &Environment) -> Plan {
    let names = Names::new(&manifest.app.name, &env.name);
    let mut p = Plan {
        app: manifest.app.name.clone(),
        environment: env.name.clone(),
        target: env.kind().to_string(),
        region: env.aws().map(|a| a.region.clone()),
        account: env.aws().map(|a| a.account.clone()),
        groups: Vec::new(),
        services: Vec::new(),
        jobs: Vec::new(),
    };
    match (env.aws(), env.local()) {
        (Some(_), _) => aws::plan(&mut p, &names, manifest, env),
        (None, Some(local)) => local::plan(&mut p, &names, env, local),
        (None, None) => {}
    }
    p
}

/// One line saying how a service runs and rolls out.
pub(crate) fn summary(s: &Service) -> String {
    let d = &s.deploy;
    let strategy = match d.strategy {
        StrategyKind::Rolling => format!(
            "rolling, min healthy {}%, max {}%",
            d.rolling.min_healthy_percent, d.rolling.max_percent
        ),
        StrategyKind::Canary => format!(
            "canary {}% for {}, then all",
            d.canary.percent, d.canary.bake
        ),
        StrategyKind::Linear => format!("linear +{}% every {}", d.linear.step, d.linear.interval),
        StrategyKind::BlueGreen => {
            format!(
                "blue-green, test header {}, old set kept {}",
                d.blue_green.test_header, d.blue_green.bake
            )
        }
        StrategyKind::Affinity => format!(
            "affinity on {}, keep {} old",
            d.affinity.header, d.drain.keep
        ),
    };
    let count = match &s.autoscaling {
        Some(a) => format!("{}–{} tasks ({})", a.min, a.max, a.policies().join(", ")),
        None => format!("{} task{}", s.count, if s.count == 1 { "" } else { "s" }),
    };
    format!(
        "{strategy}; {count} of {} CPU / {} MiB; port {}",
        s.cpu, s.memory, s.port
    )
}

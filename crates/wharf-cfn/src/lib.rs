//! CloudFormation synthesis: a typed template model ([`template`], [`fns`]) rendering
//! deterministic JSON and YAML, and the stacks of an AWS environment: the baseline (network,
//! load balancer, cluster, registries, logs, roles, wharf's state table, alarms), the data stack
//! (DynamoDB, PostgreSQL, Redis, S3, SSM parameters, secrets, with their grants) and the
//! optional edge stack (CloudFront with WAF and Route 53). Per-deployment resources are not
//! here: the engine creates those through the APIs.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod baseline;
pub mod bindings;
mod ctx;
mod data;
mod edge;
pub mod fns;
pub mod iam;
mod kms;
pub mod template;
mod yaml;

use std::fmt;

use serde::Serialize;
use wharf_manifest::{Environment, Manifest};

pub use baseline::dashboard::url as dashboard_url;
pub use baseline::deploy_role;
pub use baseline::observability::KEEP_TAG_PREFIX;
pub use template::{Output, Parameter, Resource, Template};

use crate::ctx::Ctx;

/// Which of an environment's stacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StackKind {
    Baseline,
    Data,
    Edge,
}

impl StackKind {
    pub const ALL: [StackKind; 3] = [StackKind::Baseline, StackKind::Data, StackKind::Edge];

    pub fn as_str(self) -> &'static str {
        match self {
            StackKind::Baseline => "baseline",
            StackKind::Data => "data",
            StackKind::Edge => "edge",
        }
    }
}

impl fmt::Display for StackKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One synthesized stack.
#[derive(Debug, Clone)]
pub struct Stack {
    pub kind: StackKind,
    /// `{app}-{env}-{kind}`
    pub name: String,
    pub template: Template,
}

/// Why an environment cannot be synthesized.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SynthError {
    #[error("environment `{env}` is a local environment: it has no CloudFormation stacks")]
    #[diagnostic(
        code(wharf::cfn::not_aws),
        help("use an environment with target = \"aws\"")
    )]
    NotAws { env: String },

    #[error("environment `{env}` has no {kind} stack")]
    #[diagnostic(code(wharf::cfn::no_stack), help("{help}"))]
    NoSuchStack {
        env: String,
        kind: StackKind,
        help: &'static str,
    },
}

/// Every stack the environment has: the baseline always, the data stack when it has data, the
/// edge stack when `edge = true`. In the order they are created.
pub fn synthesize(manifest: &Manifest, env: &Environment) -> Result<Vec<Stack>, SynthError> {
    let cx = Ctx::new(manifest, env).ok_or_else(|| SynthError::NotAws {
        env: env.name.clone(),
    })?;
    let mut stacks = vec![Stack {
        kind: StackKind::Baseline,
        name: cx.names.baseline_stack(),
        template: baseline::template(&cx),
    }];
    if !env.data.is_empty() {
        stacks.push(Stack {
            kind: StackKind::Data,
            name: cx.names.data_stack(),
            template: data::template(&cx),
        });
    }
    if cx.aws.edge {
        stacks.push(Stack {
            kind: StackKind::Edge,
            name: cx.names.edge_stack(),
            template: edge::template(&cx),
        });
    }
    Ok(stacks)
}

/// One stack of the environment.
pub fn stack(manifest: &Manifest, env: &Environment, kind: StackKind) -> Result<Stack, SynthError> {
    synthesize(manifest, env)?
        .into_iter()
        .find(|s| s.kind == kind)
        .ok_or(SynthError::NoSuchStack {
            env: env.name.clone(),
            kind,
            help: match kind {
                StackKind::Data => "add a [data.NAME] resource to have a data stack",
                StackKind::Edge => "set edge = true in the environment to have an edge stack",
                StackKind::Baseline => "every AWS environment has a baseline stack",
            },
        })
}

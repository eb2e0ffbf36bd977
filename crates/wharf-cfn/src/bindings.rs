//! What a service gets from the data it binds: environment variables and secrets, each taken
//! from an output of the data stack (or a fixed value), named after the data resource:
//! `data = ["sessions"]` gives `SESSIONS_TABLE`. The engine resolves the outputs when it
//! registers a task definition; the grants are in the data stack.

use std::fmt;

use serde::Serialize;
use wharf_manifest::{DataKind, Environment, Manifest, Names};

use crate::template::logical_id;

/// Where a value comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub enum Source {
    /// An output of a stack.
    Output { stack: String, output: String },
    /// A value known from the manifest.
    Value { value: String },
    /// A JSON key of the master secret RDS manages for an instance; its ARN comes from
    /// DescribeDBInstances on the instance named by the output.
    RdsMasterSecret {
        stack: String,
        instance_output: String,
        key: String,
    },
}

/// One environment variable of a service's containers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Binding {
    pub name: String,
    /// Secret values are injected by ECS from Secrets Manager, never written in the task definition.
    pub secret: bool,
    /// The secret's ARN comes from this source (for secrets) or the value itself (for plain vars).
    pub source: Source,
    /// The data resource it comes from (or the internal service whose URL it is).
    pub data: String,
}

impl fmt::Display for Binding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.secret { "secret" } else { "env" };
        match &self.source {
            Source::Output { stack, output } => {
                write!(f, "{kind} {} = {stack}.{output}", self.name)
            }
            Source::Value { value } => write!(f, "{kind} {} = {value:?}", self.name),
            Source::RdsMasterSecret {
                stack,
                instance_output,
                key,
            } => {
                write!(
                    f,
                    "{kind} {} = master secret of {stack}.{instance_output} [{key}]",
                    self.name
                )
            }
        }
    }
}

/// `sessions` → `SESSIONS`, `api-key` → `API_KEY`.
pub fn env_prefix(data: &str) -> String {
    data.to_ascii_uppercase().replace('-', "_")
}

/// The bindings of `service` in `env`, in the order of its `data` list, then the URL of
/// each internal service it talks to (`API_URL`).
pub fn for_service(manifest: &Manifest, env: &Environment, service: &str) -> Vec<Binding> {
    let mut out = env
        .services
        .get(service)
        .map(|s| for_data(manifest, env, &s.data))
        .unwrap_or_default();
    for (callee, name, url) in env.callee_urls(&manifest.app.name, service) {
        out.push(Binding {
            name,
            secret: false,
            source: Source::Value { value: url },
            data: callee,
        });
    }
    out
}

/// The bindings of `job` in `env`, as a service's.
pub fn for_job(manifest: &Manifest, env: &Environment, job: &str) -> Vec<Binding> {
    env.jobs
        .get(job)
        .map(|j| for_data(manifest, env, &j.data))
        .unwrap_or_default()
}

impl Binding {
    /// The value a binding has where no data stack exists (a local environment): a fixed
    /// value, or `{app}-{env}-{name}` for a table or bucket (a table's name in the data stack;
    /// a bucket's there also carries the account), which an emulator or a store the workload
    /// is pointed at can carry. None for what only the stack knows (hosts, ports, secrets).
    pub fn local_value(&self, names: &Names<'_>) -> Option<String> {
        match &self.source {
            Source::Value { value } => Some(value.clone()),
            Source::Output { output, .. }
                if output == &logical_id(&[&self.data, "TableName"])
                    || output == &logical_id(&[&self.data, "BucketName"]) =>
            {
                Some(format!("{}-{}", names.cluster(), self.data))
            }
            _ => None,
        }
    }
}

/// The bindings of a workload's `data` list, in its order.
fn for_data(manifest: &Manifest, env: &Environment, data: &[String]) -> Vec<Binding> {
    let names = Names::new(&manifest.app.name, &env.name);
    let stack = names.data_stack();
    let mut out = Vec::new();
    for d in data {
        let Some(data) = env.data.get(d) else {
            continue;
        };
        let p = env_prefix(d);
        let output = |suffix: &str| Source::Output {
            stack: stack.clone(),
            output: logical_id(&[d, suffix]),
        };
        let mut add = |suffix: &str, secret: bool, source: Source| {
            let name = if suffix.is_empty() {
                p.clone()
            } else {
                format!("{p}_{suffix}")
            };
            out.push(Binding {
                name,
                secret,
                source,
                data: d.clone(),
            });
        };
        match &data.kind {
            DataKind::Dynamodb(_) => add("TABLE", false, output("TableName")),
            DataKind::Postgres(pg) => {
                add("HOST", false, output("Host"));
                add("PORT", false, output("Port"));
                add(
                    "DATABASE",
                    false,
                    Source::Value {
                        value: pg.database.clone(),
                    },
                );
                for (suffix, key) in [("USER", "username"), ("PASSWORD", "password")] {
                    add(
                        suffix,
                        true,
                        Source::RdsMasterSecret {
                            stack: stack.clone(),
                            instance_output: logical_id(&[d, "Instance"]),
                            key: key.into(),
                        },
                    );
                }
            }
            DataKind::Redis(_) => {
                add("HOST", false, output("Host"));
                add("PORT", false, output("Port"));
                add("AUTH_TOKEN", true, output("AuthSecretArn"));
            }
            DataKind::S3(_) => add("BUCKET", false, output("BucketName")),
            DataKind::Parameters(ps) => add(
                "PATH",
                false,
                Source::Value {
                    value: ps.path.clone(),
                },
            ),
            DataKind::Secret(_) => add("", true, output("SecretArn")),
        }
    }
    out
}

//! What the engine needs from the environment's baseline (and data) stacks: the cluster, the
//! private subnets, the listener deployments attach to, the roles, the state table, and per
//! service its repository, log group, task role and security group. Read once per command from
//! the stacks' outputs, named as `wharf-cfn` names them.

use std::collections::BTreeMap;

use serde::Serialize;
use wharf_cfn::template::logical_id;

use crate::error::{AwsError, ErrorKind};

/// One service's share of the baseline.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServiceOutputs {
    pub repository_uri: String,
    pub log_group: String,
    pub task_role_arn: String,
    pub security_group: String,
    /// An internal service's listener on the internal load balancer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal_listener: Option<String>,
}

/// One job's share of the baseline (its repository only when it is built from source).
#[derive(Debug, Clone, Default, Serialize)]
pub struct JobOutputs {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repository_uri: Option<String>,
    pub log_group: String,
    pub task_role_arn: String,
    pub security_group: String,
    /// The role EventBridge Scheduler runs it with (scheduled jobs only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule_role_arn: Option<String>,
}

/// The services and jobs whose outputs are read.
#[derive(Debug, Clone, Copy)]
pub struct Workloads<'a> {
    pub services: &'a [&'a str],
    pub jobs: &'a [&'a str],
}

/// The environment as the engine sees it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EnvOutputs {
    pub app: String,
    pub env: String,
    pub region: String,
    pub account: String,
    pub vpc_id: String,
    pub cluster: String,
    pub private_subnets: Vec<String>,
    pub load_balancer_arn: String,
    pub load_balancer_dns: String,
    /// The HTTPS listener when the environment has a domain, else the HTTP one.
    pub listener_arn: String,
    /// Whether `listener_arn` speaks TLS.
    pub https: bool,
    /// The internal load balancer, when a service is internal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub internal_load_balancer_arn: Option<String>,
    pub execution_role_arn: String,
    pub state_table: String,
    pub alarm_topic: Option<String>,
    pub services: BTreeMap<String, ServiceOutputs>,
    /// The jobs the baseline has resources for (a job added since the last `wharf up` has
    /// none: [`EnvOutputs::job`] says so when it is run).
    pub jobs: BTreeMap<String, JobOutputs>,
    /// Every output of the environment's stacks by stack and key (data bindings read these).
    pub outputs: BTreeMap<String, BTreeMap<String, String>>,
}

impl EnvOutputs {
    /// Reads the outputs of `baseline` (required) and of the other stacks given.
    pub fn from_outputs(
        app: &str,
        env: &str,
        region: &str,
        account: &str,
        baseline: &str,
        outputs: BTreeMap<String, BTreeMap<String, String>>,
        workloads: Workloads<'_>,
    ) -> Result<EnvOutputs, AwsError> {
        let Workloads { services, jobs } = workloads;
        let b = outputs.get(baseline).ok_or_else(|| {
            AwsError::new(
                format!("read the outputs of stack {baseline}"),
                ErrorKind::NotFound,
                format!("stack {baseline} does not exist: run `wharf up --env {env}` first"),
            )
        })?;
        let get = |key: &str| -> Result<String, AwsError> {
            b.get(key).cloned().ok_or_else(|| {
                AwsError::new(
                    format!("read output {key} of stack {baseline}"),
                    ErrorKind::NotFound,
                    format!("the stack has no output {key}: it was made by another wharf version; run `wharf up --env {env}`"),
                )
            })
        };
        let mut per_service = BTreeMap::new();
        for s in services {
            let key = |suffix: &str| logical_id(&["service", s, suffix]);
            per_service.insert(
                (*s).to_owned(),
                ServiceOutputs {
                    repository_uri: get(&key("RepositoryUri"))?,
                    log_group: get(&key("LogGroup"))?,
                    task_role_arn: get(&key("TaskRoleArn"))?,
                    security_group: get(&key("SecurityGroup"))?,
                    internal_listener: b.get(&key("Listener")).cloned(),
                },
            );
        }
        let mut per_job = BTreeMap::new();
        for j in jobs {
            let key = |suffix: &str| logical_id(&["job", j, suffix]);
            let (Some(log_group), Some(task_role_arn), Some(security_group)) = (
                b.get(&key("LogGroup")),
                b.get(&key("TaskRoleArn")),
                b.get(&key("SecurityGroup")),
            ) else {
                continue;
            };
            per_job.insert(
                (*j).to_owned(),
                JobOutputs {
                    repository_uri: b.get(&key("RepositoryUri")).cloned(),
                    log_group: log_group.clone(),
                    task_role_arn: task_role_arn.clone(),
                    security_group: security_group.clone(),
                    schedule_role_arn: b.get(&key("ScheduleRoleArn")).cloned(),
                },
            );
        }
        let (listener_arn, https) = match b.get("HttpsListenerArn") {
            Some(l) => (l.clone(), true),
            None => (get("HttpListenerArn")?, false),
        };
        Ok(EnvOutputs {
            app: app.to_owned(),
            env: env.to_owned(),
            region: region.to_owned(),
            account: account.to_owned(),
            vpc_id: get("VpcId")?,
            cluster: get("ClusterName")?,
            private_subnets: get("PrivateSubnets")?
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            load_balancer_arn: get("LoadBalancerArn")?,
            load_balancer_dns: get("LoadBalancerDnsName")?,
            listener_arn,
            https,
            internal_load_balancer_arn: b.get("InternalLoadBalancerArn").cloned(),
            execution_role_arn: get("ExecutionRoleArn")?,
            state_table: get("StateTableName")?,
            alarm_topic: b.get("AlarmTopicArn").cloned(),
            services: per_service,
            jobs: per_job,
            outputs,
        })
    }

    /// The service's listener on the internal load balancer, when the baseline has one.
    fn internal_listener(&self, service: &str) -> Option<&str> {
        self.services.get(service)?.internal_listener.as_deref()
    }

    /// The listener a service's rules are on: its own on the internal load balancer for an
    /// internal service, else the public one.
    pub fn listener_of(&self, service: &wharf_manifest::Service) -> &str {
        match (&service.internal, self.internal_listener(&service.name)) {
            (Some(_), Some(l)) => l,
            _ => &self.listener_arn,
        }
    }

    /// Every listener a service's rules may be on: its own first, then the other one it had
    /// before it became internal (or public), so that a deployment from before the switch
    /// leaves that listener too when it retires.
    pub fn listeners_for(&self, service: &wharf_manifest::Service) -> Vec<&str> {
        let mut v = vec![self.listener_of(service)];
        let internal = self.internal_listener(&service.name);
        for other in [Some(self.listener_arn.as_str()), internal]
            .into_iter()
            .flatten()
        {
            if !v.contains(&other) {
                v.push(other);
            }
        }
        v
    }

    /// An internal service needs its listener on the internal load balancer (never the
    /// public one): a service made internal since the last `wharf up` has none yet.
    pub fn reachable(&self, service: &wharf_manifest::Service) -> Result<(), AwsError> {
        match (&service.internal, self.internal_listener(&service.name)) {
            (Some(_), None) => Err(AwsError::new(
                format!("find the internal listener of {}", service.name),
                ErrorKind::NotFound,
                format!(
                    "{} is internal but the baseline has no listener for it: run `wharf up --env {}` first",
                    service.name, self.env
                ),
            )),
            _ => Ok(()),
        }
    }

    /// The load balancer in front of a service (CloudWatch's `LoadBalancer` dimension).
    pub fn load_balancer_of(&self, service: &wharf_manifest::Service) -> &str {
        match (&service.internal, &self.internal_load_balancer_arn) {
            (Some(_), Some(arn)) => arn,
            _ => &self.load_balancer_arn,
        }
    }

    /// Where the environment's load balancer answers.
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}/", self.load_balancer_dns)
    }

    pub fn service(&self, name: &str) -> Result<&ServiceOutputs, AwsError> {
        self.services.get(name).ok_or_else(|| {
            AwsError::new(
                format!("find service {name} in the baseline"),
                ErrorKind::NotFound,
                format!(
                    "the baseline has no resources for {name}: run `wharf up --env {}` after adding a service",
                    self.env
                ),
            )
        })
    }

    pub fn job(&self, name: &str) -> Result<&JobOutputs, AwsError> {
        self.jobs.get(name).ok_or_else(|| {
            AwsError::new(
                format!("find job {name} in the baseline"),
                ErrorKind::NotFound,
                format!(
                    "the baseline has no resources for job {name}: run `wharf up --env {}` after adding a job",
                    self.env
                ),
            )
        })
    }

    /// What ECS reads a secret reference from (a container secret's `valueFrom`).
    pub fn value_from(&self, r: &wharf_manifest::SecretRef) -> String {
        match r {
            wharf_manifest::SecretRef::Ssm { path } => self.ssm_arn(path),
            wharf_manifest::SecretRef::SecretsManager { name, key } => {
                self.secret_arn(name, key.as_deref())
            }
        }
    }

    /// `arn:aws:ssm:…:parameter/path` of an SSM parameter.
    pub fn ssm_arn(&self, path: &str) -> String {
        ssm_arn(&self.region, &self.account, path)
    }

    /// The (partial) ARN of a Secrets Manager secret, with ECS's `:key::` suffix for a JSON key.
    pub fn secret_arn(&self, name: &str, key: Option<&str>) -> String {
        let base = if name.starts_with("arn:") {
            name.to_owned()
        } else {
            format!(
                "arn:aws:secretsmanager:{}:{}:secret:{name}",
                self.region, self.account
            )
        };
        match key {
            Some(k) => format!("{base}:{k}::"),
            None => base,
        }
    }
}

/// An SSM parameter's name, with its leading slash whether or not the manifest wrote it.
pub fn ssm_name(path: &str) -> String {
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}

/// `arn:aws:ssm:REGION:ACCOUNT:parameter/path` of an SSM parameter.
pub fn ssm_arn(region: &str, account: &str, path: &str) -> String {
    format!("arn:aws:ssm:{region}:{account}:parameter{}", ssm_name(path))
}

/// Resolves a service's data bindings to the values its containers get: stack outputs, fixed
/// values, and the ARN of the master secret RDS keeps for an instance (with ECS's JSON-key
/// suffix), read through DescribeDBInstances.
pub async fn resolve_bindings(
    rds: &crate::wire::rds::Rds,
    out: &EnvOutputs,
    bindings: &[wharf_cfn::bindings::Binding],
) -> Result<Vec<(String, crate::ecs::EnvValue)>, AwsError> {
    use crate::ecs::EnvValue;
    use wharf_cfn::bindings::Source;
    let output = |stack: &str, key: &str| -> Result<String, AwsError> {
        out.outputs
            .get(stack)
            .and_then(|o| o.get(key))
            .cloned()
            .ok_or_else(|| {
                AwsError::new(
                    format!("read output {key} of stack {stack}"),
                    ErrorKind::NotFound,
                    format!(
                        "the data stack has no output {key}: run `wharf up --env {}`",
                        out.env
                    ),
                )
            })
    };
    let mut values = Vec::new();
    for b in bindings {
        let value = match &b.source {
            Source::Value { value } => value.clone(),
            Source::Output { stack, output: key } => output(stack, key)?,
            Source::RdsMasterSecret {
                stack,
                instance_output,
                key,
            } => {
                let instance = output(stack, instance_output)?;
                let arn = rds.master_secret_arn(&instance).await?.ok_or_else(|| {
                    AwsError::new(
                        format!("find the master secret of database {instance}"),
                        ErrorKind::NotFound,
                        "the instance has no RDS-managed master secret (ManageMasterUserPassword)",
                    )
                })?;
                format!("{arn}:{key}::")
            }
        };
        values.push((
            b.name.clone(),
            if b.secret {
                EnvValue::Secret(value)
            } else {
                EnvValue::Plain(value)
            },
        ));
    }
    Ok(values)
}

//! A deployment's task definition: Fargate, awsvpc, the service's cpu and memory, one
//! essential container with its port, environment (`DEPLOYMENT_ID` included), secrets from SSM
//! and Secrets Manager injected by ECS, awslogs, the stop timeout, and the container health
//! check when the manifest gives `health.command`. Registered once per
//! deployment (found again by its `DEPLOYMENT_ID` when a step is repeated), and revisions beyond
//! the newest `keep` deregistered when deployments are retired.

use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, HealthCheck, KeyValuePair, LogConfiguration, LogDriver,
    NetworkMode, PortMapping, Secret, Tag, TaskDefinitionStatus, TransportProtocol,
};
use aws_sdk_ecs::Client;
use wharf_engine::Record;
use wharf_manifest::Service;

use crate::ecs::env::EnvOutputs;
use crate::error::{AwsError, ErrorKind};

/// A value a container gets: plain, or a secret ECS reads (`valueFrom`) at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    Plain(String),
    Secret(String),
}

/// Name/value pairs of a container's environment (or `valueFrom` of its secrets).
pub(crate) type Pairs = Vec<(String, String)>;

/// Fargate caps a container's stop timeout at two minutes.
const MAX_STOP_TIMEOUT_S: u64 = 120;
/// Revisions looked at when searching a deployment's task definition.
const SEARCH_REVISIONS: i32 = 25;

pub(crate) fn invalid(action: &str, e: impl std::fmt::Display) -> AwsError {
    AwsError::new(action, ErrorKind::Invalid, e.to_string())
}

/// Where a container's awslogs go: the log group, the region, the stream prefix.
pub(crate) struct Awslogs<'a> {
    pub group: &'a str,
    pub region: &'a str,
    pub prefix: &'a str,
}

/// The essential container every task definition of wharf has: its name and image, its
/// environment, its secrets as `valueFrom` references and its awslogs; the caller adds the
/// rest (ports, stop timeout, command, health check).
pub(crate) fn container(
    action: &str,
    name: &str,
    image: &str,
    (plain, secrets): (Pairs, Pairs),
    logs: &Awslogs<'_>,
) -> Result<aws_sdk_ecs::types::builders::ContainerDefinitionBuilder, AwsError> {
    let mut container = ContainerDefinition::builder()
        .name(name)
        .image(image)
        .essential(true)
        .set_environment(Some(
            plain
                .into_iter()
                .map(|(k, v)| KeyValuePair::builder().name(k).value(v).build())
                .collect(),
        ))
        .log_configuration(
            LogConfiguration::builder()
                .log_driver(LogDriver::Awslogs)
                .options("awslogs-group", logs.group)
                .options("awslogs-region", logs.region)
                .options("awslogs-stream-prefix", logs.prefix)
                .build()
                .map_err(|e| invalid(action, e))?,
        );
    for (k, from) in secrets {
        container = container.secrets(
            Secret::builder()
                .name(k)
                .value_from(from)
                .build()
                .map_err(|e| invalid(action, e))?,
        );
    }
    Ok(container)
}

/// The container's environment: the manifest's variables, data bindings, the deployment's
/// identity, and its secrets as `valueFrom` references.
pub fn container_env(
    out: &EnvOutputs,
    service: &Service,
    record: &Record,
    bindings: &[(String, EnvValue)],
) -> (Pairs, Pairs) {
    let mut plain: Pairs = service
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut secrets: Pairs = service
        .secrets
        .iter()
        .map(|(k, r)| (k.clone(), out.value_from(r)))
        .collect();
    for (k, v) in bindings {
        match v {
            EnvValue::Plain(v) => plain.push((k.clone(), v.clone())),
            EnvValue::Secret(v) => secrets.push((k.clone(), v.clone())),
        }
    }
    plain.push(("DEPLOYMENT_ID".into(), record.id.clone()));
    plain.push(("WHARF_APP".into(), out.app.clone()));
    plain.push(("WHARF_ENV".into(), out.env.clone()));
    plain.push(("WHARF_SERVICE".into(), service.name.clone()));
    plain.push(("PORT".into(), service.port.to_string()));
    plain.sort();
    secrets.sort();
    (plain, secrets)
}

/// Registers the deployment's task definition, or finds the one registered before. A
/// deployment registers its task definition first, holding the service's lock, and nothing
/// registers one of the family after it but a later deployment: one registered by a killed
/// attempt is the family's newest, so one call tells.
pub async fn ensure(
    ecs: &Client,
    out: &EnvOutputs,
    family: &str,
    service: &Service,
    record: &Record,
    bindings: &[(String, EnvValue)],
) -> Result<String, AwsError> {
    if let Some((arn, id)) = newest(ecs, family).await? {
        if id == record.id {
            return Ok(arn);
        }
    }
    let action = format!("register task definition {family} for {}", record.id);
    let so = out.service(&service.name)?;
    let image = wharf_engine::Image {
        reference: record.image.clone(),
        digest: record.digest.clone(),
        platform: record.platform.clone(),
    }
    .pinned();
    let logs = Awslogs {
        group: &so.log_group,
        region: &out.region,
        prefix: &record.id,
    };
    let env = container_env(out, service, record, bindings);
    let mut container = container(&action, &service.name, &image, env, &logs)?
        .port_mappings(
            PortMapping::builder()
                .container_port(i32::from(service.port))
                .protocol(TransportProtocol::Tcp)
                .build(),
        )
        .stop_timeout(service.stop_timeout.as_secs_ceil().min(MAX_STOP_TIMEOUT_S) as i32);
    if let Some(cmd) = &service.command {
        container = container.set_command(Some(cmd.clone()));
    }
    if let Some(check) = container_health(service) {
        container = container.health_check(check.build().map_err(|e| invalid(&action, e))?);
    }
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    let registered = ecs
        .register_task_definition()
        .family(family)
        .task_role_arn(&so.task_role_arn)
        .execution_role_arn(&out.execution_role_arn)
        .network_mode(NetworkMode::Awsvpc)
        .requires_compatibilities(Compatibility::Fargate)
        .cpu(service.cpu.to_string())
        .memory(service.memory.to_string())
        .set_runtime_platform(runtime_platform(record.platform.as_deref()))
        .container_definitions(container.build())
        .tags(tag("wharf.app", &out.app))
        .tags(tag("wharf.env", &out.env))
        .tags(tag("wharf.service", &service.name))
        .tags(tag("wharf.deployment", &record.id))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(&action, e))?;
    registered
        .task_definition
        .and_then(|t| t.task_definition_arn)
        .ok_or_else(|| AwsError::new(action, ErrorKind::Other, "no task definition ARN returned"))
}

/// The task's `runtimePlatform` for an image of `platform` (`linux/arm64` → ARM64 Linux);
/// `None` (unknown) leaves Fargate's default, X86_64 Linux.
pub fn runtime_platform(platform: Option<&str>) -> Option<aws_sdk_ecs::types::RuntimePlatform> {
    use aws_sdk_ecs::types::{CpuArchitecture, OsFamily, RuntimePlatform};
    let arch = match platform?.split_once('/').map_or("", |(_, a)| a) {
        "arm64" => CpuArchitecture::Arm64,
        "amd64" => CpuArchitecture::X8664,
        _ => return None,
    };
    Some(
        RuntimePlatform::builder()
            .cpu_architecture(arch)
            .operating_system_family(OsFamily::Linux)
            .build(),
    )
}

/// The container health check: the manifest's command, its interval, timeout and unhealthy
/// threshold within what ECS allows (interval 5–300 s, timeout 2–60 s, retries 1–10), the
/// grace period as the start period (up to 300 s).
pub fn container_health(
    service: &Service,
) -> Option<aws_sdk_ecs::types::builders::HealthCheckBuilder> {
    let h = &service.health;
    let test = h.container_test()?;
    let secs =
        |d: wharf_manifest::Duration, lo: u64, hi: u64| d.as_secs_ceil().clamp(lo, hi) as i32;
    let mut b = HealthCheck::builder()
        .set_command(Some(test))
        .interval(secs(h.interval, 5, 300))
        .timeout(secs(h.timeout, 2, 60))
        .retries(h.unhealthy.clamp(1, 10) as i32);
    if let Some(g) = h.grace {
        b = b.start_period(secs(g, 0, 300));
    }
    Some(b)
}

/// The newest revisions of `family`, newest first.
async fn revisions(ecs: &Client, family: &str, max: i32) -> Result<Vec<String>, AwsError> {
    let out = ecs
        .list_task_definitions()
        .family_prefix(family)
        .status(TaskDefinitionStatus::Active)
        .sort(aws_sdk_ecs::types::SortOrder::Desc)
        .max_results(max)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("list the task definitions of {family}"), e))?;
    // A prefix also matches longer families (`api` and `api-worker`): keep this one's.
    Ok(out
        .task_definition_arns
        .unwrap_or_default()
        .into_iter()
        .filter(|a| family_of(a) == Some(family))
        .collect())
}

/// `arn:…:task-definition/family:3` → `family`.
fn family_of(arn: &str) -> Option<&str> {
    arn.rsplit_once('/')?.1.rsplit_once(':').map(|(f, _)| f)
}

/// The family's newest active revision and the deployment it was registered for (its
/// `DEPLOYMENT_ID`), if the family has one.
async fn newest(ecs: &Client, family: &str) -> Result<Option<(String, String)>, AwsError> {
    match describe(ecs, family).await {
        Ok(found) => Ok(found),
        // A family with no active revision.
        Err(e) if e.kind == ErrorKind::NotFound || e.code.as_deref() == Some("ClientException") => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// A task definition (`family`, `family:revision` or an ARN) and its `DEPLOYMENT_ID`.
async fn describe(ecs: &Client, which: &str) -> Result<Option<(String, String)>, AwsError> {
    let td = ecs
        .describe_task_definition()
        .task_definition(which)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("describe task definition {which}"), e))?
        .task_definition;
    Ok(td.and_then(|t| {
        let id = t
            .container_definitions()
            .iter()
            .flat_map(|c| c.environment())
            .find(|kv| kv.name() == Some("DEPLOYMENT_ID"))
            .and_then(|kv| kv.value())
            .unwrap_or_default()
            .to_owned();
        Some((t.task_definition_arn?, id))
    }))
}

/// The task definition registered for `deployment`, if any (looked up by its `DEPLOYMENT_ID`):
/// the family's newest first (a deployment in progress), then back through its revisions.
pub async fn find(
    ecs: &Client,
    family: &str,
    deployment: &str,
) -> Result<Option<String>, AwsError> {
    let newest = newest(ecs, family).await?;
    if let Some((arn, id)) = &newest {
        if id == deployment {
            return Ok(Some(arn.clone()));
        }
    }
    let seen = newest.map(|(arn, _)| arn);
    for arn in revisions(ecs, family, SEARCH_REVISIONS).await? {
        if seen.as_ref() == Some(&arn) {
            continue;
        }
        if let Some((arn, id)) = describe(ecs, &arn).await? {
            if id == deployment {
                return Ok(Some(arn));
            }
        }
    }
    Ok(None)
}

/// A secret's value, read as wharf's caller (SSM with decryption; Secrets Manager, one JSON
/// key of it when the reference names one).
pub async fn read_secret(
    clients: &crate::ecs::Clients,
    secret: &wharf_manifest::SecretRef,
) -> Result<String, AwsError> {
    use wharf_manifest::SecretRef;
    let action = format!("read the secret {secret}");
    match secret {
        SecretRef::Ssm { path } => clients
            .ssm
            .get_parameter(path, true, &action)
            .await?
            .ok_or_else(|| {
                AwsError::new(&action, ErrorKind::NotFound, "the parameter has no value")
            }),
        SecretRef::SecretsManager { name, key } => {
            let value = clients
                .secrets
                .get_secret_value()
                .secret_id(name)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(&action, e))?
                .secret_string
                .ok_or_else(|| {
                    AwsError::new(
                        &action,
                        ErrorKind::NotFound,
                        "the secret has no string value",
                    )
                })?;
            match key {
                None => Ok(value),
                Some(k) => serde_json::from_str::<serde_json::Value>(&value)
                    .ok()
                    .and_then(|v| v.get(k).and_then(|x| x.as_str()).map(str::to_owned))
                    .ok_or_else(|| {
                        AwsError::new(
                            &action,
                            ErrorKind::NotFound,
                            format!("the secret is not JSON with a string key `{k}`"),
                        )
                    }),
            }
        }
    }
}

/// The active revisions of `family`, newest first (the newest 100).
pub async fn active(ecs: &Client, family: &str) -> Result<Vec<String>, AwsError> {
    revisions(ecs, family, 100).await
}

/// Deregisters the revisions of `family` beyond the newest `keep`, except `protect`ed ones
/// (task definitions of deployments still running). Returns the ARNs deregistered.
pub async fn deregister_beyond(
    ecs: &Client,
    family: &str,
    keep: u32,
    protect: &[String],
) -> Result<Vec<String>, AwsError> {
    deregister(ecs, active(ecs, family).await?, keep, protect).await
}

/// Of `all` (newest first), deregisters those beyond the first `keep` but the `protect`ed.
pub async fn deregister(
    ecs: &Client,
    all: Vec<String>,
    keep: u32,
    protect: &[String],
) -> Result<Vec<String>, AwsError> {
    let mut gone = Vec::new();
    for arn in all.into_iter().skip(keep as usize) {
        if protect.contains(&arn) {
            continue;
        }
        ecs.deregister_task_definition()
            .task_definition(&arn)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("deregister task definition {arn}"), e))?;
        gone.push(arn);
    }
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_come_from_arns() {
        assert_eq!(
            family_of("arn:aws:ecs:eu-west-1:1:task-definition/pulse-test-api:12"),
            Some("pulse-test-api")
        );
        assert_eq!(family_of("nonsense"), None);
    }
}

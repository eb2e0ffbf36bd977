//! ECS services: created in the private subnets with no public IP and the service's security
//! group, the deployment circuit breaker with rollback, the deployment's alarms, the grace
//! period when the manifest sets one, and the manifest's capacity provider; scaled; deleted
//! (ECS deregisters the targets, waits the deregistration delay, then stops the tasks with
//! SIGTERM); and read back: rollout state, running counts, stopped tasks and why.

use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, CapacityProviderStrategyItem, DeploymentAlarms,
    DeploymentCircuitBreaker, DeploymentConfiguration, DeploymentRolloutState, DesiredStatus,
    LaunchType, LoadBalancer, NetworkConfiguration, PropagateTags, Tag,
};
use aws_sdk_ecs::Client;
use wharf_manifest::{Capacity, Service};

use crate::ecs::env::EnvOutputs;
use crate::error::{AwsError, ErrorKind};

/// What `ensure` should make the ECS service look like.
pub struct Desired<'a> {
    pub name: &'a str,
    pub task_definition: &'a str,
    pub count: u32,
    pub target_group: Option<&'a str>,
    pub alarms: &'a [String],
    pub deployment: &'a str,
    /// Min healthy / max percent of ECS's own rolling replacement.
    pub min_healthy_percent: u32,
    pub max_percent: u32,
}

/// One ECS deployment of a service, as read back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rollout {
    pub task_definition: String,
    /// IN_PROGRESS, COMPLETED or FAILED (None: ECS said nothing yet).
    pub rollout_state: Option<DeploymentRolloutState>,
    pub reason: String,
    pub running: u32,
}

/// A service as read back (ACTIVE, or DRAINING while it is being deleted).
#[derive(Debug, Clone, Default)]
pub struct ServiceView {
    pub task_definition: String,
    pub running: u32,
    pub desired: u32,
    pub rollouts: Vec<Rollout>,
    /// The service's events, newest first: (ms since the epoch, message).
    pub events: Vec<(i64, String)>,
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().key(k).value(v).build()
}

/// The service, unless it does not exist or was deleted (INACTIVE).
pub async fn describe(
    ecs: &Client,
    cluster: &str,
    name: &str,
) -> Result<Option<ServiceView>, AwsError> {
    let out = ecs
        .describe_services()
        .cluster(cluster)
        .services(name)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("describe ECS service {name}"), e))?;
    let Some(s) = out
        .services()
        .iter()
        .find(|s| s.status() != Some("INACTIVE"))
    else {
        return Ok(None);
    };
    Ok(Some(ServiceView {
        task_definition: s.task_definition().unwrap_or_default().to_owned(),
        running: s.running_count().max(0) as u32,
        desired: s.desired_count().max(0) as u32,
        rollouts: s
            .deployments()
            .iter()
            .map(|d| Rollout {
                task_definition: d.task_definition().unwrap_or_default().to_owned(),
                rollout_state: d.rollout_state().cloned(),
                reason: d.rollout_state_reason().unwrap_or_default().to_owned(),
                running: d.running_count().max(0) as u32,
            })
            .collect(),
        events: s
            .events()
            .iter()
            .map(|e| {
                (
                    e.created_at().map_or(0, |t| t.to_millis().unwrap_or(0)),
                    e.message().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
    }))
}

fn deployment_configuration(d: &Desired<'_>) -> DeploymentConfiguration {
    let mut c = DeploymentConfiguration::builder()
        .deployment_circuit_breaker(
            DeploymentCircuitBreaker::builder()
                .enable(true)
                .rollback(true)
                .build(),
        )
        .minimum_healthy_percent(d.min_healthy_percent as i32)
        .maximum_percent(d.max_percent as i32);
    if !d.alarms.is_empty() {
        if let Ok(alarms) = DeploymentAlarms::builder()
            .set_alarm_names(Some(d.alarms.to_vec()))
            .enable(true)
            .rollback(true)
            .build()
        {
            c = c.alarms(alarms);
        }
    }
    c.build()
}

/// Creates the service, or brings an existing one to the desired task definition and count.
pub async fn ensure(
    ecs: &Client,
    out: &EnvOutputs,
    service: &Service,
    d: &Desired<'_>,
) -> Result<(), AwsError> {
    if let Some(current) = describe(ecs, &out.cluster, d.name).await? {
        if current.task_definition == d.task_definition && current.desired == d.count {
            return Ok(());
        }
        ecs.update_service()
            .cluster(&out.cluster)
            .service(d.name)
            .task_definition(d.task_definition)
            .desired_count(d.count as i32)
            .deployment_configuration(deployment_configuration(d))
            .enable_execute_command(true)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("update ECS service {}", d.name), e))?;
        return Ok(());
    }
    let so = out.service(&service.name)?;
    let mut create = ecs
        .create_service()
        .cluster(&out.cluster)
        .service_name(d.name)
        .task_definition(d.task_definition)
        .desired_count(d.count as i32)
        .network_configuration(
            NetworkConfiguration::builder()
                .awsvpc_configuration(
                    AwsVpcConfiguration::builder()
                        .set_subnets(Some(out.private_subnets.clone()))
                        .security_groups(&so.security_group)
                        .assign_public_ip(AssignPublicIp::Disabled)
                        .build()
                        .map_err(|e| {
                            AwsError::new(
                                "configure the network",
                                ErrorKind::Invalid,
                                e.to_string(),
                            )
                        })?,
                )
                .build(),
        )
        .deployment_configuration(deployment_configuration(d))
        .propagate_tags(PropagateTags::Service)
        .enable_ecs_managed_tags(true)
        // `wharf exec`: the task role has the Session Manager channels.
        .enable_execute_command(true)
        .tags(tag("wharf.app", &out.app))
        .tags(tag("wharf.env", &out.env))
        .tags(tag("wharf.service", &service.name))
        .tags(tag("wharf.deployment", d.deployment))
        // The same request repeated (a retry after a timeout) creates one service.
        .client_token(format!(
            "{}-{}",
            d.name,
            d.task_definition.rsplit(':').next().unwrap_or("0")
        ));
    create = match service.capacity {
        Capacity::Fargate => create.launch_type(LaunchType::Fargate),
        Capacity::FargateSpot => create.capacity_provider_strategy(
            CapacityProviderStrategyItem::builder()
                .capacity_provider("FARGATE_SPOT")
                .weight(1)
                .build()
                .map_err(|e| {
                    AwsError::new(
                        "set the capacity provider",
                        ErrorKind::Invalid,
                        e.to_string(),
                    )
                })?,
        ),
    };
    if let Some(tg) = d.target_group {
        create = create.load_balancers(
            LoadBalancer::builder()
                .target_group_arn(tg)
                .container_name(&service.name)
                .container_port(i32::from(service.port))
                .build(),
        );
        if let Some(g) = service.health.grace {
            create = create.health_check_grace_period_seconds(g.as_secs_ceil() as i32);
        }
    }
    create
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("create ECS service {}", d.name), e))?;
    Ok(())
}

pub async fn scale(ecs: &Client, cluster: &str, name: &str, count: u32) -> Result<(), AwsError> {
    ecs.update_service()
        .cluster(cluster)
        .service(name)
        .desired_count(count as i32)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("scale ECS service {name} to {count}"), e))?;
    Ok(())
}

/// Deletes the service (its tasks drain and stop); gone already is fine.
pub async fn delete(ecs: &Client, cluster: &str, name: &str) -> Result<(), AwsError> {
    match ecs
        .delete_service()
        .cluster(cluster)
        .service(name)
        .force(true)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = AwsError::from_sdk(format!("delete ECS service {name}"), e);
            if e.kind == ErrorKind::NotFound {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

/// A stopped task of the service: its ARN and why it stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stopped {
    pub task: String,
    pub task_definition: String,
    pub reason: String,
}

/// The tasks of ECS service `name` ECS keeps with `status` as their desired status (the first
/// 100), described; ListTasks may not filter by service everywhere, so a task's group decides.
pub async fn tasks(
    ecs: &Client,
    cluster: &str,
    name: &str,
    status: DesiredStatus,
) -> Result<Vec<aws_sdk_ecs::types::Task>, AwsError> {
    let list = ecs
        .list_tasks()
        .cluster(cluster)
        .service_name(name)
        .desired_status(status.clone())
        .send()
        .await
        .map_err(|e| {
            let which = status.as_str().to_ascii_lowercase();
            AwsError::from_sdk(format!("list the {which} tasks of {name}"), e)
        })?;
    let arns = list.task_arns.unwrap_or_default();
    if arns.is_empty() {
        return Ok(Vec::new());
    }
    let described = ecs
        .describe_tasks()
        .cluster(cluster)
        .set_tasks(Some(arns.into_iter().take(100).collect()))
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("describe the tasks of {name}"), e))?;
    let group = format!("service:{name}");
    Ok(described
        .tasks
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.group().is_none_or(|g| g == group))
        .collect())
}

/// Tasks of `name` that stopped (ECS shows them for about an hour), with their reasons: the
/// task's stop code and reason, and each container's reason or exit code.
pub async fn stopped_tasks(
    ecs: &Client,
    cluster: &str,
    name: &str,
) -> Result<Vec<Stopped>, AwsError> {
    let described = tasks(ecs, cluster, name, DesiredStatus::Stopped).await?;
    let mut out = Vec::new();
    for t in &described {
        if t.last_status() != Some("STOPPED") {
            continue;
        }
        let mut why: Vec<String> = Vec::new();
        if let Some(r) = t.stopped_reason() {
            why.push(r.to_owned());
        }
        for c in t.containers() {
            let name = c.name().unwrap_or("container");
            match (c.reason(), c.exit_code()) {
                (Some(r), _) => why.push(format!("{name}: {r}")),
                // Code 0 too: an essential container that ends without error is a cause.
                (None, Some(code)) => why.push(format!("{name}: exited with code {code}")),
                _ => {}
            }
        }
        out.push(Stopped {
            task: t.task_arn().unwrap_or_default().to_owned(),
            task_definition: t.task_definition_arn().unwrap_or_default().to_owned(),
            reason: why.join("; "),
        });
    }
    Ok(out)
}

/// Names of the cluster's services, through every page.
pub async fn names(ecs: &Client, cluster: &str) -> Result<Vec<String>, AwsError> {
    let mut names = Vec::new();
    let mut token = None;
    loop {
        let out = ecs
            .list_services()
            .cluster(cluster)
            .set_next_token(token)
            .max_results(100)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(format!("list the services of cluster {cluster}"), e)
            })?;
        names.extend(
            out.service_arns()
                .iter()
                .filter_map(|a| a.rsplit('/').next().map(str::to_owned)),
        );
        token = out.next_token().map(str::to_owned);
        if token.is_none() {
            return Ok(names);
        }
    }
}

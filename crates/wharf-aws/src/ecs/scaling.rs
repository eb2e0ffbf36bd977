//! Auto scaling of a deployment's ECS service through Application Auto Scaling: a scalable
//! target between the manifest's `min` and `max` tasks and the manifest's policies — target
//! tracking on CPU, memory or the load balancer's requests per target (the deployment's own
//! target group, so its policy follows the share of traffic it gets), and step scaling on
//! CPU (a task more above `out`, two when 20 points above, one fewer below `in`, driven by two
//! CloudWatch alarms). A deployment that takes traffic over from another starts with its
//! starting count as its floor, so that its policies do not scale it in on a canary's small
//! share; the floor returns to `min` once it has all the traffic. Registered when the
//! deployment's service is created; the policies, alarms and target removed before the
//! service is scaled to zero and deleted, so the scaler never starts tasks of a deployment
//! being retired.

use aws_sdk_applicationautoscaling::types::{
    AdjustmentType, MetricAggregationType, MetricType, PolicyType, PredefinedMetricSpecification,
    ScalableDimension, ServiceNamespace, StepAdjustment, StepScalingPolicyConfiguration,
    TargetTrackingScalingPolicyConfiguration,
};
use aws_sdk_applicationautoscaling::Client;
use aws_sdk_cloudwatch::types::{ComparisonOperator, Dimension, Statistic};
use wharf_manifest::{Autoscaling, CpuSteps};

use crate::error::{AwsError, ErrorKind};

/// Seconds after a scale-in before the next (slow, to ride out dips).
const SCALE_IN_COOLDOWN_S: i32 = 300;
/// Seconds after a scale-out before the next.
const SCALE_OUT_COOLDOWN_S: i32 = 60;
/// Points above `out` from which a step adds two tasks instead of one.
const STEP_TWO_ABOVE: f64 = 20.0;

/// Application Auto Scaling's id of an ECS service.
pub fn resource_id(cluster: &str, ecs_service: &str) -> String {
    format!("service/{cluster}/{ecs_service}")
}

/// The policies wharf may have put on an ECS service, by name suffix.
const POLICIES: [&str; 5] = ["cpu", "memory", "requests", "cpu-out", "cpu-in"];

/// A policy's name: `{ecs service}-{kind}`.
pub fn policy_name(ecs_service: &str, kind: &str) -> String {
    format!("{ecs_service}-{kind}")
}

/// The two alarms of step scaling: above `out`, below `in`.
pub fn step_alarms(ecs_service: &str) -> [String; 2] {
    [
        format!("{ecs_service}-cpu-high"),
        format!("{ecs_service}-cpu-low"),
    ]
}

/// The deployment whose ECS service scales.
pub struct Scaled<'a> {
    pub cluster: &'a str,
    pub ecs_service: &'a str,
    /// ALB's label of the deployment's target group (`app/…/targetgroup/…`), for requests
    /// per target.
    pub label: Option<String>,
    /// The fewest tasks for now: `min`, or the starting count of a deployment taking traffic
    /// over.
    pub floor: u32,
}

fn invalid(what: &str, e: impl std::fmt::Display) -> AwsError {
    AwsError::new(what, ErrorKind::Invalid, e.to_string())
}

/// Registers the scalable target at `floor..max` (an update when it exists).
pub async fn register(aas: &Client, d: &Scaled<'_>, a: &Autoscaling) -> Result<(), AwsError> {
    let id = resource_id(d.cluster, d.ecs_service);
    aas.register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .min_capacity(d.floor.clamp(a.min, a.max) as i32)
        .max_capacity(a.max as i32)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("register {id} for auto scaling"), e))?;
    Ok(())
}

/// Registers the scalable target and puts every policy the manifest asks for (each call
/// updates in place when it exists, so a repeated step changes nothing).
pub async fn ensure(
    aas: &Client,
    cw: &aws_sdk_cloudwatch::Client,
    d: &Scaled<'_>,
    a: &Autoscaling,
) -> Result<(), AwsError> {
    register(aas, d, a).await?;
    let tracking = [
        ("cpu", a.cpu, MetricType::EcsServiceAverageCpuUtilization),
        (
            "memory",
            a.memory,
            MetricType::EcsServiceAverageMemoryUtilization,
        ),
        ("requests", a.requests, MetricType::AlbRequestCountPerTarget),
    ];
    for (kind, target, metric) in tracking {
        let Some(target) = target else { continue };
        let label = match metric {
            MetricType::AlbRequestCountPerTarget => Some(d.label.clone().ok_or_else(|| {
                invalid(
                    "scale on requests",
                    "the deployment has no target group to count requests of",
                )
            })?),
            _ => None,
        };
        let config = TargetTrackingScalingPolicyConfiguration::builder()
            .target_value(f64::from(target))
            .predefined_metric_specification(
                PredefinedMetricSpecification::builder()
                    .predefined_metric_type(metric)
                    .set_resource_label(label)
                    .build()
                    .map_err(|e| invalid("build the scaling metric", e))?,
            )
            .scale_in_cooldown(SCALE_IN_COOLDOWN_S)
            .scale_out_cooldown(SCALE_OUT_COOLDOWN_S)
            .build()
            .map_err(|e| invalid("build the scaling policy", e))?;
        put(aas, d, kind, PolicyType::TargetTrackingScaling, |b| {
            b.target_tracking_scaling_policy_configuration(config)
        })
        .await?;
    }
    if let Some(steps) = a.step {
        step_policies(aas, cw, d, steps).await?;
    }
    Ok(())
}

async fn put(
    aas: &Client,
    d: &Scaled<'_>,
    kind: &str,
    ty: PolicyType,
    config: impl FnOnce(
        aws_sdk_applicationautoscaling::operation::put_scaling_policy::builders::PutScalingPolicyFluentBuilder,
    ) -> aws_sdk_applicationautoscaling::operation::put_scaling_policy::builders::PutScalingPolicyFluentBuilder,
) -> Result<String, AwsError> {
    let id = resource_id(d.cluster, d.ecs_service);
    let out = config(
        aas.put_scaling_policy()
            .policy_name(policy_name(d.ecs_service, kind))
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(&id)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .policy_type(ty),
    )
    .send()
    .await
    .map_err(|e| AwsError::from_sdk(format!("put the {kind} scaling policy of {id}"), e))?;
    Ok(out.policy_arn().to_owned())
}

/// The step policies and the CPU alarms that drive them.
async fn step_policies(
    aas: &Client,
    cw: &aws_sdk_cloudwatch::Client,
    d: &Scaled<'_>,
    steps: CpuSteps,
) -> Result<(), AwsError> {
    let step = |lower: Option<f64>, upper: Option<f64>, change: i32| {
        StepAdjustment::builder()
            .set_metric_interval_lower_bound(lower)
            .set_metric_interval_upper_bound(upper)
            .scaling_adjustment(change)
            .build()
            .map_err(|e| invalid("build a scaling step", e))
    };
    let config = |cooldown: i32, adjustments: Vec<StepAdjustment>| {
        StepScalingPolicyConfiguration::builder()
            .adjustment_type(AdjustmentType::ChangeInCapacity)
            .metric_aggregation_type(MetricAggregationType::Average)
            .cooldown(cooldown)
            .set_step_adjustments(Some(adjustments))
            .build()
    };
    let out_steps = vec![
        step(Some(0.0), Some(STEP_TWO_ABOVE), 1)?,
        step(Some(STEP_TWO_ABOVE), None, 2)?,
    ];
    let out_config = config(SCALE_OUT_COOLDOWN_S, out_steps);
    let out_arn = put(aas, d, "cpu-out", PolicyType::StepScaling, |b| {
        b.step_scaling_policy_configuration(out_config)
    })
    .await?;
    let in_config = config(SCALE_IN_COOLDOWN_S, vec![step(None, Some(0.0), -1)?]);
    let in_arn = put(aas, d, "cpu-in", PolicyType::StepScaling, |b| {
        b.step_scaling_policy_configuration(in_config)
    })
    .await?;
    let [high, low] = step_alarms(d.ecs_service);
    let dims = vec![
        Dimension::builder()
            .name("ClusterName")
            .value(d.cluster)
            .build(),
        Dimension::builder()
            .name("ServiceName")
            .value(d.ecs_service)
            .build(),
    ];
    // Out after 2 minutes above; in after 10 minutes below (slow, to ride out dips).
    for (name, threshold, op, periods, action, what) in [
        (
            &high,
            steps.out,
            ComparisonOperator::GreaterThanThreshold,
            2,
            out_arn,
            "above",
        ),
        (
            &low,
            steps.scale_in,
            ComparisonOperator::LessThanThreshold,
            10,
            in_arn,
            "below",
        ),
    ] {
        cw.put_metric_alarm()
            .alarm_name(name)
            .alarm_description(format!(
                "{}: average CPU {what} {threshold}% scales it (wharf step scaling)",
                d.ecs_service
            ))
            .namespace("AWS/ECS")
            .metric_name("CPUUtilization")
            .set_dimensions(Some(dims.clone()))
            .statistic(Statistic::Average)
            .period(60)
            .evaluation_periods(periods)
            .threshold(f64::from(threshold))
            .comparison_operator(op)
            .treat_missing_data("notBreaching")
            .alarm_actions(action)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("create alarm {name}"), e))?;
    }
    Ok(())
}

/// Deregisters the scalable target with every policy and step alarm wharf may have put on
/// it; absent is fine.
pub async fn remove(
    aas: &Client,
    cw: &aws_sdk_cloudwatch::Client,
    cluster: &str,
    ecs_service: &str,
) -> Result<(), AwsError> {
    let id = resource_id(cluster, ecs_service);
    let found = aas
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_ids(&id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("read the auto scaling of {id}"), e))?;
    if found.scalable_targets().is_empty() {
        return Ok(());
    }
    // Deregistering deletes the target's policies too; deleting ours first says so explicitly
    // (and leaves nothing behind where an emulator keeps them).
    let present: Vec<String> = aas
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("read the scaling policies of {id}"), e))?
        .scaling_policies()
        .iter()
        .map(|p| p.policy_name().to_owned())
        .collect();
    for kind in POLICIES {
        let name = policy_name(ecs_service, kind);
        if !present.contains(&name) {
            continue;
        }
        match aas
            .delete_scaling_policy()
            .policy_name(&name)
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(&id)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .send()
            .await
        {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_object_not_found_exception()) => {}
            Err(e) => return Err(AwsError::from_sdk(format!("delete policy {name}"), e)),
        }
    }
    if present.contains(&policy_name(ecs_service, "cpu-out")) {
        cw.delete_alarms()
            .set_alarm_names(Some(step_alarms(ecs_service).to_vec()))
            .send()
            .await
            .map_err(|e| AwsError::from_sdk(format!("delete the step alarms of {id}"), e))?;
    }
    match aas
        .deregister_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        // Gone between the two calls.
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_object_not_found_exception()) =>
        {
            Ok(())
        }
        Err(e) => Err(AwsError::from_sdk(
            format!("deregister {id} from auto scaling"),
            e,
        )),
    }
}

impl super::AwsTarget {
    /// Puts the service's scaling on a deployment's ECS service just created with `count`
    /// tasks: a deployment of a traffic-shifting service starts with that count as its floor
    /// (it is taking traffic over); a rolling one at `min`.
    pub(crate) async fn autoscale(
        &self,
        service: &wharf_manifest::Service,
        deployment: &str,
        count: u32,
        tg: Option<&str>,
    ) -> Result<(), wharf_engine::TargetError> {
        let Some(a) = &service.autoscaling else {
            return Ok(());
        };
        let ecs_service = self.ecs_name(service, deployment);
        let label = tg.map(|tg| {
            format!(
                "{}/{}",
                super::alarms::lb_dimension(self.out.load_balancer_of(service)),
                super::alarms::tg_dimension(tg)
            )
        });
        let floor = if service.routed() && !super::rolling(service) {
            count
        } else {
            a.min
        };
        let d = Scaled {
            cluster: &self.out.cluster,
            ecs_service: &ecs_service,
            label,
            floor,
        };
        ensure(&self.clients.scaling, &self.clients.cw, &d, a)
            .await
            .map_err(super::terr)
    }

    /// Once a deployment has all the traffic, its floor returns to the manifest's `min`.
    pub(crate) async fn settle_floors(
        &self,
        service: &wharf_manifest::Service,
        weights: &[(String, u32)],
    ) -> Result<(), wharf_engine::TargetError> {
        let Some(a) = &service.autoscaling else {
            return Ok(());
        };
        if super::rolling(service) {
            return Ok(());
        }
        for (deployment, _) in weights.iter().filter(|(_, w)| *w == 100) {
            let ecs_service = self.ecs_name(service, deployment);
            let d = Scaled {
                cluster: &self.out.cluster,
                ecs_service: &ecs_service,
                label: None,
                floor: a.min,
            };
            register(&self.clients.scaling, &d, a)
                .await
                .map_err(super::terr)?;
        }
        Ok(())
    }
}

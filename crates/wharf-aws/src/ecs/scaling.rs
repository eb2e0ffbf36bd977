//! Target-tracking auto scaling of a deployment's ECS service through Application Auto
//! Scaling: a scalable target between the manifest's `min` and `max` tasks and a policy that
//! holds the service's average CPU at the manifest's target. Registered when the deployment's
//! service is created; the policy deleted and the target deregistered before the service is
//! scaled to zero and deleted, so the scaler never starts tasks of a deployment being retired.

use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ServiceNamespace,
    TargetTrackingScalingPolicyConfiguration,
};
use aws_sdk_applicationautoscaling::Client;
use wharf_manifest::Autoscaling;

use crate::error::{AwsError, ErrorKind};

/// Seconds after a scale-in before the next (slow, to ride out dips).
const SCALE_IN_COOLDOWN_S: i32 = 300;
/// Seconds after a scale-out before the next.
const SCALE_OUT_COOLDOWN_S: i32 = 60;

/// Application Auto Scaling's id of an ECS service.
pub fn resource_id(cluster: &str, ecs_service: &str) -> String {
    format!("service/{cluster}/{ecs_service}")
}

/// The policy's name.
pub fn policy_name(ecs_service: &str) -> String {
    format!("{ecs_service}-cpu")
}

/// Registers the scalable target and its CPU policy (both calls update in place when they
/// exist, so a repeated step changes nothing).
pub async fn ensure(
    aas: &Client,
    cluster: &str,
    ecs_service: &str,
    a: &Autoscaling,
) -> Result<(), AwsError> {
    let id = resource_id(cluster, ecs_service);
    aas.register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .min_capacity(a.min as i32)
        .max_capacity(a.max as i32)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("register {id} for auto scaling"), e))?;
    let config = TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(f64::from(a.cpu))
        .predefined_metric_specification(
            PredefinedMetricSpecification::builder()
                .predefined_metric_type(MetricType::EcsServiceAverageCpuUtilization)
                .build()
                .map_err(|e| {
                    AwsError::new(
                        "build the scaling metric",
                        ErrorKind::Invalid,
                        e.to_string(),
                    )
                })?,
        )
        .scale_in_cooldown(SCALE_IN_COOLDOWN_S)
        .scale_out_cooldown(SCALE_OUT_COOLDOWN_S)
        .build()
        .map_err(|e| {
            AwsError::new(
                "build the scaling policy",
                ErrorKind::Invalid,
                e.to_string(),
            )
        })?;
    aas.put_scaling_policy()
        .policy_name(policy_name(ecs_service))
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .policy_type(PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(config)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("put the CPU scaling policy of {id}"), e))?;
    Ok(())
}

/// Deregisters the scalable target (its policies go with it); absent is fine.
pub async fn remove(aas: &Client, cluster: &str, ecs_service: &str) -> Result<(), AwsError> {
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
    match aas
        .delete_scaling_policy()
        .policy_name(policy_name(ecs_service))
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
        Err(e) => {
            return Err(AwsError::from_sdk(
                format!("delete the CPU scaling policy of {id}"),
                e,
            ))
        }
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

//! A deployment's health on AWS: its ECS service's running tasks, the targets passing the
//! load balancer's checks, why tasks stopped, the circuit breaker, and its alarms in ALARM.

use aws_sdk_ecs::types::DeploymentRolloutState;
use aws_sdk_elasticloadbalancingv2::types::TargetHealthStateEnum;
use wharf_engine::{Health, TargetError};
use wharf_manifest::Service;

use super::{alarms, rolling, service, terr, AwsTarget};
use crate::error::AwsError;

impl AwsTarget {
    pub(crate) async fn health_of(
        &self,
        service: &Service,
        deployment: &str,
    ) -> Result<Health, TargetError> {
        let ecs = &self.clients.ecs;
        let name = self.ecs_name(service, deployment);
        let Some(view) = service::describe(ecs, &self.out.cluster, &name)
            .await
            .map_err(terr)?
        else {
            return Ok(Health {
                stopped: self.stopped(deployment),
                ..Health::default()
            });
        };
        let td = if rolling(service) {
            self.td_arn(service, deployment).await?.unwrap_or_default()
        } else {
            view.task_definition.clone()
        };
        // This deployment's rollout; an emulator that records no new rollout on an update
        // shows the service's own task definition instead.
        let rollout = view
            .rollouts
            .iter()
            .find(|r| r.task_definition == td)
            .cloned()
            .or_else(|| {
                (view.task_definition == td).then(|| service::Rollout {
                    task_definition: td.clone(),
                    rollout_state: view.rollouts.first().and_then(|r| r.rollout_state.clone()),
                    reason: String::new(),
                    running: view.running,
                })
            });
        let Some(rollout) = rollout else {
            // Not running this version (ECS rolled it back, or it never started).
            return Ok(Health {
                stopped: self.stopped(deployment),
                ..Health::default()
            });
        };
        let mut healthy = 0;
        if service.routed() && !rolling(service) {
            if let Some(tg) = self.tg_arn(service, deployment).await? {
                let th = self
                    .clients
                    .elb
                    .describe_target_health()
                    .target_group_arn(&tg)
                    .send()
                    .await
                    .map_err(|e| terr(AwsError::from_sdk("read the targets' health", e)))?;
                for d in th.target_health_descriptions() {
                    let Some(h) = d.target_health() else { continue };
                    let id = d
                        .target()
                        .map(|t| format!("{}:{}", t.id().unwrap_or("?"), t.port().unwrap_or(0)))
                        .unwrap_or_default();
                    match h.state() {
                        Some(TargetHealthStateEnum::Healthy) => healthy += 1,
                        Some(TargetHealthStateEnum::Unhealthy) => {
                            let reason = h.reason().map(|r| r.as_str()).unwrap_or("unhealthy");
                            // ECS replaces a target failing its checks: one failed task.
                            self.remember(
                                deployment,
                                format!("target {id} {reason}"),
                                format!(
                                    "target {id} failed its health checks: {reason} ({})",
                                    h.description().unwrap_or("no detail")
                                ),
                            );
                        }
                        _ => {}
                    }
                }
            }
        }
        let complete = rollout.rollout_state == Some(DeploymentRolloutState::Completed);
        if complete {
            // ECS completes a rollout only once its tasks pass the load balancer's checks.
            healthy = healthy.max(rollout.running);
        }
        // Why tasks stopped matters while the deployment is short of what it wants (a gate
        // fails on a stop only then): listed then, not on every poll of a complete, healthy
        // deployment (ListTasks and DescribeTasks each time).
        if !complete || rollout.running < view.desired || healthy < view.desired {
            for t in service::stopped_tasks(ecs, &self.out.cluster, &name)
                .await
                .map_err(terr)?
            {
                if t.task_definition == td || t.task_definition.is_empty() {
                    self.remember(deployment, t.task, t.reason);
                }
            }
        }
        let failed = (rollout.rollout_state == Some(DeploymentRolloutState::Failed)).then(|| {
            let why = if rollout.reason.is_empty() {
                "ECS marked the deployment FAILED".to_owned()
            } else {
                rollout.reason.clone()
            };
            match self.stopped(deployment).last() {
                Some(s) => format!("{why}; last stopped task: {s}"),
                None => why,
            }
        });
        let firing = if service.routed() {
            let names = self.alarm_names(service, deployment);
            self.alarms_read
                .get_or_read(&names.join(" "), alarms::firing(&self.clients.cw, &names))
                .await
                .map_err(terr)?
        } else {
            Vec::new()
        };
        Ok(Health {
            running: rollout.running,
            healthy,
            stopped: self.stopped(deployment),
            failed,
            alarms: firing,
        })
    }
}

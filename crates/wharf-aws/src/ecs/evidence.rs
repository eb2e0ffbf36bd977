//! What AWS still has of a deployment going wrong, for `wharf diagnose`: the stopped tasks'
//! reasons and the failing targets (through the health read), ECS giving it up, its alarms,
//! the ECS service's own events since it started, and the environment's stacks that failed,
//! each failed resource with its reason.

use wharf_engine::evidence::from_health;
use wharf_engine::{Clue, Source, Store, TargetError};
use wharf_manifest::Service;

use super::{service, terr, AwsTarget};
use crate::stacks::Stacks;

/// ECS service events kept per deployment (the latest).
const EVENTS_KEPT: usize = 20;

/// Words of an ECS service event worth a diagnosis; the rest (steady state, tasks started,
/// targets registered) is the normal course.
const TROUBLE: &[&str] = &[
    "unable",
    "fail",
    "error",
    "unhealthy",
    "insufficient",
    "denied",
    "not authorized",
    "limit",
    "capacity",
    "circuit breaker",
];

/// Whether an ECS service event tells of trouble.
pub fn troubled(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    TROUBLE.iter().any(|w| m.contains(w))
}

/// Whether a stack's status says its last operation failed.
pub fn stack_failed(status: &str) -> bool {
    status.ends_with("_FAILED") || status.ends_with("ROLLBACK_COMPLETE")
}

impl AwsTarget {
    pub(crate) async fn evidence_of(
        &self,
        service: &Service,
        deployment: &str,
    ) -> Result<Vec<Clue>, TargetError> {
        let health = self.health_of(service, deployment).await?;
        let mut out = from_health(&health);
        let since = self
            .load(&service.name, deployment)
            .await?
            .map_or(0, |r| r.started_ms);
        let name = self.ecs_name(service, deployment);
        if let Some(view) = service::describe(&self.clients.ecs, &self.out.cluster, &name)
            .await
            .map_err(terr)?
        {
            let mut events: Vec<Clue> = view
                .events
                .iter()
                .filter(|(at, m)| *at >= since && troubled(m))
                .take(EVENTS_KEPT)
                .map(|(at, m)| Clue::new(Source::Event, m.clone()).at(Some(*at)))
                .collect();
            events.reverse();
            out.extend(events);
        }
        Ok(out)
    }

    /// The failed resources of the environment's stacks whose last operation failed.
    pub(crate) async fn stack_evidence_of(&self) -> Result<Vec<Clue>, TargetError> {
        let quiet = |_| {};
        let stacks = Stacks::new(&self.clients.cfn, &quiet);
        let names = self.names();
        let mut out = Vec::new();
        for stack in [names.baseline_stack(), names.data_stack()] {
            let Some(info) = stacks.describe(&stack).await.map_err(terr)? else {
                continue;
            };
            if !stack_failed(info.status.as_str()) {
                continue;
            }
            // The operation's events: those of the last hour before its end.
            let events = stacks
                .events_since(&stack, info.changed_at - 3600)
                .await
                .map_err(terr)?;
            let failed: Vec<_> = events
                .iter()
                .filter(|e| e.status.ends_with("_FAILED"))
                .collect();
            // A cancellation is caused by another failure: shown only when it is all there is.
            let causes: Vec<_> = failed
                .iter()
                .filter(|e| {
                    !e.reason
                        .as_deref()
                        .unwrap_or_default()
                        .contains("cancelled")
                })
                .collect();
            let shown = if causes.is_empty() {
                failed.iter().collect()
            } else {
                causes
            };
            for e in &shown {
                out.push(
                    Clue::new(
                        Source::Stack,
                        e.reason.as_deref().unwrap_or("no reason given"),
                    )
                    .task(format!("{stack} {} {}", e.logical_id, e.status))
                    .at(Some(e.at * 1000)),
                );
            }
            if shown.is_empty() {
                let why = info
                    .reason
                    .unwrap_or_else(|| format!("the stack is {}", info.status.as_str()));
                out.push(Clue::new(Source::Stack, why).task(stack.clone()));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_events_and_stack_states_as_aws_words_them() {
        assert!(troubled("(service pulse-prod-web-1) was unable to place a task. Reason: Capacity is unavailable at this time."));
        assert!(troubled("(service pulse-prod-web-1) (port 8080) is unhealthy in target-group x due to (reason Health checks failed with these codes: [404])."));
        assert!(!troubled(
            "(service pulse-prod-web-1) has reached a steady state."
        ));
        assert!(!troubled(
            "(service pulse-prod-web-1) has started 2 tasks: (task abc) (task def)."
        ));
        assert!(stack_failed("UPDATE_ROLLBACK_COMPLETE"));
        assert!(stack_failed("ROLLBACK_COMPLETE"));
        assert!(stack_failed("CREATE_FAILED"));
        assert!(!stack_failed("UPDATE_COMPLETE"));
        assert!(!stack_failed("CREATE_IN_PROGRESS"));
    }
}

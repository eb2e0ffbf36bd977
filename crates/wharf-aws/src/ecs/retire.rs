//! Removing what a deployment made: its ECS service (drained first), scaling, alarms and
//! target group, and task definitions beyond what records still need.

use std::time::Duration;

use wharf_engine::{Clock, Store, SystemClock, TargetError};
use wharf_manifest::Service;

use super::{lb, scaling, service, taskdef, terr, AwsTarget};
use crate::error::ErrorKind;

impl AwsTarget {
    /// Waits (bounded) until the ECS service is gone, then deletes the target group, retrying
    /// while ELB still calls it in use.
    pub(crate) async fn remove_service_and_tg(
        &self,
        service: &Service,
        ecs_name: &str,
        tg: Option<&str>,
    ) -> Result<(), TargetError> {
        let ecs = &self.clients.ecs;
        let cluster = &self.out.cluster;
        scaling::remove(&self.clients.scaling, &self.clients.cw, cluster, ecs_name)
            .await
            .map_err(terr)?;
        // Scaled to zero, then deleted; a service already gone (or going) answers not found.
        match service::scale(ecs, cluster, ecs_name, 0).await {
            Ok(()) => service::delete(ecs, cluster, ecs_name)
                .await
                .map_err(terr)?,
            Err(e) if e.kind == ErrorKind::NotFound => {}
            Err(e) => return Err(terr(e)),
        }
        let limit = Duration::from_secs(
            service.deploy.drain.timeout.as_secs_ceil() + service.stop_timeout.as_secs_ceil() + 120,
        );
        let clock = SystemClock;
        let started = clock.now_ms();
        loop {
            // Deleted services read as absent once ECS marks them INACTIVE.
            let gone = service::describe(ecs, cluster, ecs_name)
                .await
                .map_err(terr)?
                .is_none();
            if gone {
                break;
            }
            if clock.now_ms() - started > limit.as_millis() as i64 {
                return Err(TargetError::new(format!(
                    "ECS service {ecs_name} was still draining after {}s",
                    limit.as_secs()
                ))
                .help("it finishes by itself; run the command again to finish removing it"));
            }
            clock.sleep(self.poll.as_millis() as u64).await;
        }
        let Some(tg) = tg else { return Ok(()) };
        let started = clock.now_ms();
        loop {
            match lb::delete_tg(&self.clients.elb, tg).await {
                Ok(()) => {
                    self.store.refs.forget_arn(tg);
                    return Ok(());
                }
                Err(e)
                    if e.kind == ErrorKind::Conflict
                        && clock.now_ms() - started < limit.as_millis() as i64 =>
                {
                    clock.sleep(self.poll.as_millis() as u64).await;
                }
                Err(e) => return Err(terr(e)),
            }
        }
    }

    /// Deregisters task definitions of the service beyond the newest `drain.keep + 1`, sparing
    /// those of deployments still serving or in progress.
    pub(crate) async fn prune_task_definitions(
        &self,
        service: &Service,
    ) -> Result<(), TargetError> {
        let keep = service.deploy.drain.keep + 1;
        let all = taskdef::active(&self.clients.ecs, &self.family(service))
            .await
            .map_err(terr)?;
        // Nothing beyond what is kept: no need to read which records still run.
        if all.len() <= keep as usize {
            return Ok(());
        }
        let mut protect = Vec::new();
        for r in self.store.list(&service.name).await? {
            let live = !r.is_finished() || r.outcome == Some(wharf_engine::Outcome::Succeeded);
            if live {
                if let Some(arn) = self.td_arn(service, &r.id).await? {
                    protect.push(arn);
                }
            }
        }
        let gone = taskdef::deregister(&self.clients.ecs, all, keep, &protect)
            .await
            .map_err(terr)?;
        for arn in gone {
            self.store.refs.forget_arn(&arn);
        }
        Ok(())
    }
}

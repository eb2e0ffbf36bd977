//! A deployment's resources on AWS, made in the order that works (seed 002): its task
//! definition, its image kept from ECR's lifecycle, its target group attached to the listener
//! before its alarms and its ECS service, then its auto scaling; and the deployments present,
//! found by their resources' names (target groups, ECS services, alarms).

use wharf_engine::{Record, TargetError};
use wharf_manifest::Service;

use super::{alarms, lb, rolling, service, taskdef, terr, AwsTarget};
use crate::refs::Kind;

impl AwsTarget {
    /// Everything a deployment runs on, each step idempotent.
    pub(crate) async fn provision_deployment(
        &self,
        service: &Service,
        record: &Record,
        count: u32,
    ) -> Result<(), TargetError> {
        self.out.reachable(service).map_err(terr)?;
        let bindings = self
            .bindings
            .get(&service.name)
            .cloned()
            .unwrap_or_default();
        let refs = &self.store.refs;
        let td = match refs.get(&service.name, &record.id, Kind::TaskDefinition) {
            Some(td) => td,
            None => taskdef::ensure(
                &self.clients.ecs,
                &self.out,
                &self.family(service),
                service,
                record,
                &bindings,
            )
            .await
            .map_err(terr)?,
        };
        refs.put(&service.name, &record.id, Kind::TaskDefinition, &td);
        self.keep_image(service, record).await.map_err(terr)?;
        let tg_name = self.tg_name(service, &record.id);
        let mut alarm_names = Vec::new();
        let tg = if service.routed() {
            // Made (or found and checked) once per deployment; then remembered. Rolling
            // deployments share one, which the previous one's record names.
            let shared = record
                .previous
                .as_deref()
                .filter(|_| rolling(service))
                .and_then(|p| refs.get(&service.name, p, Kind::TargetGroup));
            let tg = match (
                refs.get(&service.name, &record.id, Kind::TargetGroup),
                shared,
            ) {
                (Some(tg), _) => tg,
                (None, Some(tg)) => {
                    lb::set_drain_delay(&self.clients.elb, &tg, &tg_name, service)
                        .await
                        .map_err(terr)?;
                    tg
                }
                (None, None) => {
                    lb::ensure_tg(&self.clients.elb, &self.out, &tg_name, service, &record.id)
                        .await
                        .map_err(terr)?
                }
            };
            refs.put(&service.name, &record.id, Kind::TargetGroup, &tg);
            // ECS refuses a service whose target group is on no listener rule: attach it
            // first, then create the service.
            self.attach(service, &record.id, &tg).await?;
            let per_deployment = self.names().target_group(&service.name, &record.id);
            alarm_names = alarms::ensure(
                &self.clients.cw,
                &self.out,
                service,
                &record.id,
                &per_deployment,
                &tg,
            )
            .await
            .map_err(terr)?;
            Some(tg)
        } else {
            None
        };
        let (min, max) = if rolling(service) {
            (
                service.deploy.rolling.min_healthy_percent,
                service.deploy.rolling.max_percent,
            )
        } else {
            (100, 200)
        };
        service::ensure(
            &self.clients.ecs,
            &self.out,
            service,
            &service::Desired {
                name: &self.ecs_name(service, &record.id),
                task_definition: &td,
                count,
                target_group: tg.as_deref(),
                alarms: &alarm_names,
                deployment: &record.id,
                min_healthy_percent: min,
                max_percent: max,
            },
        )
        .await
        .map_err(terr)?;
        self.autoscale(service, &record.id, count, tg.as_deref())
            .await
    }

    /// The deployments of a service that still have resources.
    pub(crate) async fn present_deployments(
        &self,
        service: &Service,
    ) -> Result<Vec<String>, TargetError> {
        // Per-deployment resources are named `{service}-{id}`; an id is `{env}-YYYYMMDD-HHMMSSZ`.
        let prefix = self.names().target_group(&service.name, "");
        let shape = self.names().deployment_id_pattern().len();
        let env_prefix = format!("{}-", self.out.env);
        let id_of = |name: &str| -> Option<String> {
            name.strip_prefix(&prefix)
                .map(|rest| rest.get(..shape).unwrap_or(rest))
                .filter(|id| id.len() == shape && id.starts_with(&env_prefix))
                .map(str::to_owned)
        };
        let mut ids = std::collections::BTreeSet::new();
        if !rolling(service) {
            for name in lb::tg_names(&self.clients.elb, &prefix, &self.out.app)
                .await
                .map_err(terr)?
            {
                ids.extend(id_of(&name));
            }
            for name in service::names(&self.clients.ecs, &self.out.cluster)
                .await
                .map_err(terr)?
            {
                // A deleted service may still be listed for a while: it counts when it is not
                // INACTIVE.
                if let Some(id) = id_of(&name) {
                    if service::describe(&self.clients.ecs, &self.out.cluster, &name)
                        .await
                        .map_err(terr)?
                        .is_some()
                    {
                        ids.insert(id);
                    }
                }
            }
        }
        for name in alarms::with_prefix(&self.clients.cw, &prefix)
            .await
            .map_err(terr)?
        {
            ids.extend(id_of(&name));
        }
        Ok(ids.into_iter().collect())
    }
}

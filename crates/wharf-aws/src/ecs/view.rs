//! What `status` reads of a service on AWS: the base rule's weights by deployment, and the
//! test route.

use wharf_engine::{Routes, Store, TargetError};
use wharf_manifest::Service;

use super::{terr, AwsTarget};

impl AwsTarget {
    /// The deployments of the service in its base rule's forward (and the test route's), by
    /// their target groups. A rolling service's deployments share one target group: each
    /// record that serves gets its weight.
    pub(crate) async fn routes_of(&self, service: &Service) -> Result<Routes, TargetError> {
        if service.routing.is_none() {
            return Ok(Routes::default());
        }
        let rules = self
            .kept
            .rules(&self.clients.elb, self.out.listener_of(service))
            .await
            .map_err(terr)?;
        let (base, test, _) = Self::priorities(service);
        let forward_of = |p: u32| {
            rules
                .iter()
                .find(|r| r.priority == p)
                .map(|r| r.forward.clone())
                .unwrap_or_default()
        };
        let (weights, tested) = (forward_of(base), forward_of(test));
        let mut out = Routes::default();
        for r in self.list(&service.name).await? {
            if r.is_finished() && r.outcome != Some(wharf_engine::Outcome::Succeeded) {
                continue;
            }
            let Some(arn) = self.tg_arn(service, &r.id).await? else {
                continue;
            };
            if let Some((_, w)) = weights.iter().find(|(a, _)| *a == arn) {
                out.weights.push((r.id.clone(), *w));
            }
            if tested.iter().any(|(a, _)| *a == arn) {
                out.test = Some(r.id.clone());
            }
        }
        Ok(out)
    }
}

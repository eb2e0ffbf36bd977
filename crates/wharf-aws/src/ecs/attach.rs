//! A deployment's place on the environment's listener: its target group in the service's base
//! rule (and, for affinity, its sticky rules) before its ECS service exists, and out again.

use wharf_engine::TargetError;
use wharf_manifest::rules::{drain_guard, RuleLayout, DRAIN_GUARD_STATUS};
use wharf_manifest::{Service, StrategyKind};

use super::{lb, terr, AwsTarget};

impl AwsTarget {
    /// Adds the deployment's target group to the base rule (weight 0) — creating the rule for a
    /// first deployment — and, for affinity, its sticky rules. Done before CreateService.
    pub(crate) async fn attach(
        &self,
        service: &Service,
        deployment: &str,
        tg: &str,
    ) -> Result<(), TargetError> {
        let _g = self.edit.lock().await;
        let elb = &self.clients.elb;
        let listener = self.out.listener_of(service);
        let rules = self.kept.rules(elb, listener).await.map_err(terr)?;
        let (base, _, sticky) = Self::priorities(service);
        let tags = self.rule_tags(service);
        match rules.iter().find(|r| r.priority == base) {
            Some(r) if r.forward.iter().any(|(a, _)| a == tg) => {}
            Some(r) => {
                let mut fwd = r.forward.clone();
                fwd.push((tg.to_owned(), 0));
                self.kept
                    .set_forward(elb, r, lb::forward(&fwd, self.sticky_s(service)))
                    .await
                    .map_err(terr)?;
            }
            None => {
                self.kept
                    .put_rule(
                        elb,
                        listener,
                        &rules,
                        base,
                        lb::conditions(service, None),
                        lb::forward(&[(tg.to_owned(), 0)], self.sticky_s(service)),
                        &tags,
                    )
                    .await
                    .map_err(terr)?;
            }
        }
        self.guard_drain(service, &rules).await?;
        if service.deploy.strategy != StrategyKind::Affinity {
            return Ok(());
        }
        let only_ours = |r: &&lb::RuleView| {
            sticky.contains(&r.priority) && r.forward.len() == 1 && r.forward[0].0 == tg
        };
        if rules.iter().filter(only_ours).count() >= 2 {
            return Ok(());
        }
        let taken: Vec<u32> = rules.iter().map(|r| r.priority).collect();
        let first = sticky
            .clone()
            .step_by(2)
            .find(|p| !taken.contains(p) && !taken.contains(&(p + 1)))
            .ok_or_else(|| {
                TargetError::new(format!(
                    "no free rule priorities left in {}'s block {}..={} for another deployment",
                    service.name,
                    sticky.start(),
                    sticky.end()
                ))
                .help("drain old deployments (`wharf drain`) or lower drain.keep")
            })?;
        let a = &service.deploy.affinity;
        let to_tg = lb::forward(&[(tg.to_owned(), 1)], None);
        self.kept
            .put_rule(
                elb,
                listener,
                &rules,
                first,
                lb::conditions(
                    service,
                    Some(("Cookie", vec![format!("*{}={deployment}*", a.cookie)])),
                ),
                to_tg.clone(),
                &tags,
            )
            .await
            .map_err(terr)?;
        self.kept
            .put_rule(
                elb,
                listener,
                &rules,
                first + 1,
                lb::conditions(
                    service,
                    Some((a.header.as_str(), vec![deployment.to_owned()])),
                ),
                to_tg,
                &tags,
            )
            .await
            .map_err(terr)?;
        Ok(())
    }

    /// Puts the service's drain guard at the start of its block (a fixed 404 for the drain
    /// path), or takes a guard away that its routing no longer needs.
    async fn guard_drain(
        &self,
        service: &Service,
        rules: &[lb::RuleView],
    ) -> Result<(), TargetError> {
        let elb = &self.clients.elb;
        let at = RuleLayout::service(service).drain;
        let existing = rules.iter().find(|r| r.priority == at);
        match (drain_guard(service), existing) {
            (Some(g), _) => self
                .kept
                .put_rule(
                    elb,
                    self.out.listener_of(service),
                    rules,
                    g.priority,
                    lb::host_and_path(&g.hosts, vec![g.path]),
                    lb::fixed_response(DRAIN_GUARD_STATUS),
                    &self.rule_tags(service),
                )
                .await
                .map(|_| ())
                .map_err(terr),
            (None, Some(r)) if r.fixed.is_some() => {
                self.kept.delete_rule(elb, r).await.map_err(terr)
            }
            (None, _) => Ok(()),
        }
    }

    /// The tags of a service's listener rules.
    pub(crate) fn rule_tags<'s>(&'s self, service: &'s Service) -> [(&'s str, &'s str); 3] {
        [
            ("wharf.app", self.out.app.as_str()),
            ("wharf.env", self.out.env.as_str()),
            ("wharf.service", service.name.as_str()),
        ]
    }

    /// Affinity keeps a client on the target group it reached (ALB group stickiness) a day.
    pub(crate) fn sticky_s(&self, service: &Service) -> Option<u32> {
        (service.deploy.strategy == StrategyKind::Affinity).then_some(86_400)
    }

    /// Sets the base rule's forward action (deleting the rule when nothing is left).
    pub(crate) async fn set_base(
        &self,
        service: &Service,
        forward: Vec<(String, u32)>,
    ) -> Result<(), TargetError> {
        let elb = &self.clients.elb;
        let rules = self
            .kept
            .rules(elb, self.out.listener_of(service))
            .await
            .map_err(terr)?;
        let (base, _, _) = Self::priorities(service);
        let existing = rules.iter().find(|r| r.priority == base);
        match (existing, forward.is_empty()) {
            (Some(r), true) => {
                let guard = RuleLayout::service(service).drain;
                if let Some(g) = rules
                    .iter()
                    .find(|x| x.priority == guard && x.fixed.is_some())
                {
                    self.kept.delete_rule(elb, g).await.map_err(terr)?;
                }
                self.kept.delete_rule(elb, r).await.map_err(terr)
            }
            (None, true) => Ok(()),
            (_, false) => self
                .kept
                .put_rule(
                    elb,
                    self.out.listener_of(service),
                    &rules,
                    base,
                    lb::conditions(service, None),
                    lb::forward(&forward, self.sticky_s(service)),
                    &self.rule_tags(service),
                )
                .await
                .map(|_| ())
                .map_err(terr),
        }
    }

    /// Takes the target group out of every rule of every listener the service's rules may be
    /// on (a service made internal, or public, since the deployment began): rules forwarding
    /// only to it go; the base rule keeps the service's stickiness.
    pub(crate) async fn detach(&self, service: &Service, tg: &str) -> Result<(), TargetError> {
        let _g = self.edit.lock().await;
        let elb = &self.clients.elb;
        let mut rules = Vec::new();
        for listener in self.out.listeners_for(service) {
            rules.extend(self.kept.rules(elb, listener).await.map_err(terr)?);
        }
        for r in rules {
            if !r.forward.iter().any(|(a, _)| a == tg) {
                continue;
            }
            let rest: Vec<(String, u32)> =
                r.forward.iter().filter(|(a, _)| a != tg).cloned().collect();
            if rest.is_empty() {
                self.kept.delete_rule(elb, &r).await.map_err(terr)?;
            } else {
                self.kept
                    .set_forward(elb, &r, lb::forward(&rest, self.sticky_s(service)))
                    .await
                    .map_err(terr)?;
            }
        }
        Ok(())
    }
}

//! Telling a retiring deployment's tasks to drain, as seed 002 does, before its target group
//! leaves the listener: a rule ahead of every service's block (a free priority in 1–99)
//! forwards the drain path, for requests carrying a random `X-Wharf-Drain` value, to the
//! deployment's target group only; wharf POSTs there with the secret (`X-Drain-Secret`), each
//! time on a fresh connection so the load balancer picks a target again, until every running
//! task has answered — a task names itself in the `X-Wharf-Task` header of its answer, by its
//! task id or its private IP — or the bound passes; then the rule goes. The service's own
//! drain guard still answers 404 to everyone else.
//!
//! Not for a rolling service (its deployments share one target group, and ECS replaces the
//! tasks itself) nor an internal one (its load balancer admits only its callers); both drain
//! by the deregistration delay. `WHARF_LB_CONNECT=HOST:PORT` sends the POSTs to that address
//! instead of the load balancer's DNS name (a tunnel; the tests' stand-in listener).

use std::time::Duration;

use aws_sdk_ecs::types::DesiredStatus;
use wharf_engine::{Drained, TargetError};
use wharf_manifest::rules::{DRAIN_SECRET_HEADER, DRAIN_TASK_HEADER};
use wharf_manifest::Service;

use super::{lb, rolling, terr, AwsTarget};
use crate::error::AwsError;

/// The header a drain request is routed by.
pub const ROUTE_HEADER: &str = "X-Wharf-Drain";
/// Where a drain rule may go: below every service's block (those start at 100).
const FREE_PRIORITIES: std::ops::RangeInclusive<u32> = 1..=99;

/// A running task: its id (the last part of its ARN) and private IP.
#[derive(Debug, Clone)]
struct Task {
    id: String,
    ip: Option<String>,
}

impl AwsTarget {
    pub(crate) async fn aws_drain(
        &self,
        service: &Service,
        deployment: &str,
    ) -> Result<Option<Drained>, TargetError> {
        let Some(secret) = &service.deploy.drain.secret else {
            return Ok(None);
        };
        if !service.routed() || rolling(service) || service.internal.is_some() {
            return Ok(None);
        }
        let ecs_name = self.ecs_name(service, deployment);
        let tasks = running_tasks(&self.clients.ecs, &self.out.cluster, &ecs_name)
            .await
            .map_err(terr)?;
        let mut drained = Drained {
            tasks: tasks.len() as u32,
            acknowledged: Vec::new(),
        };
        let Some(tg) = self.tg_arn(service, deployment).await? else {
            return Ok(Some(drained));
        };
        if tasks.is_empty() {
            return Ok(Some(drained));
        }
        let secret = crate::ecs::taskdef::read_secret(&self.clients, secret)
            .await
            .map_err(terr)?;
        // A random value the drain rule matches, so that no one else's request takes it.
        let nonce = wharf_engine::holder::random_hex::<16>();
        let rule = self.drain_rule(service, &tg, &nonce).await?;
        let acked = self.post_drains(service, &secret, &nonce, &tasks).await;
        let elb = &self.clients.elb;
        let _guard = self.edit.lock().await;
        self.kept.delete_rule(elb, &rule).await.map_err(terr)?;
        drained.acknowledged = acked;
        Ok(Some(drained))
    }

    /// Puts the drain rule at a free priority below every service's block.
    async fn drain_rule(
        &self,
        service: &Service,
        tg: &str,
        nonce: &str,
    ) -> Result<lb::RuleView, TargetError> {
        let _guard = self.edit.lock().await;
        let elb = &self.clients.elb;
        let listener = self.out.listener_of(service);
        let rules = self.kept.rules(elb, listener).await.map_err(terr)?;
        let priority = FREE_PRIORITIES
            .clone()
            .find(|p| !rules.iter().any(|r| r.priority == *p))
            .ok_or_else(|| {
                TargetError::new("no free listener-rule priority in 1-99 for the drain rule")
            })?;
        let hosts = service
            .routing
            .as_ref()
            .map(|r| r.hosts.clone())
            .unwrap_or_default();
        let mut conditions = lb::host_and_path(&hosts, vec![service.deploy.drain.path.clone()]);
        conditions.push(lb::header_condition(ROUTE_HEADER, vec![nonce.to_owned()]));
        let mut tags = self.rule_tags(service).to_vec();
        tags.push(("wharf.drain", "true"));
        let arn = self
            .kept
            .put_rule(
                elb,
                listener,
                &rules,
                priority,
                conditions,
                lb::forward(&[(tg.to_owned(), 1)], None),
                &tags,
            )
            .await
            .map_err(terr)?;
        Ok(lb::RuleView {
            arn,
            priority,
            forward: vec![(tg.to_owned(), 1)],
            fixed: None,
        })
    }

    /// POSTs the drain until every task has answered or the bound passes; the tasks that did.
    async fn post_drains(
        &self,
        service: &Service,
        secret: &str,
        nonce: &str,
        tasks: &[Task],
    ) -> Vec<String> {
        let host = service
            .routing
            .as_ref()
            .and_then(|r| r.hosts.first().cloned())
            .unwrap_or_else(|| self.out.load_balancer_dns.clone());
        let endpoint = self.lb_endpoint(&host);
        let attempts = (tasks.len() * 4).clamp(8, 64);
        let deadline = tokio::time::Instant::now()
            + Duration::from_millis(service.deploy.drain.timeout.as_millis().max(10_000));
        let headers = [(DRAIN_SECRET_HEADER, secret), (ROUTE_HEADER, nonce)];
        let limits = wharf_http::Limits {
            timeout: Duration::from_secs(5),
            ..wharf_http::Limits::default()
        };
        let mut acked: Vec<String> = Vec::new();
        for _ in 0..attempts {
            if acked.len() == tasks.len() || tokio::time::Instant::now() >= deadline {
                break;
            }
            let Ok(request) =
                wharf_http::request("POST", &service.deploy.drain.path, &host, &headers)
            else {
                break;
            };
            let Ok(answer) = wharf_http::send(&endpoint, request, limits).await else {
                continue;
            };
            if !(200..300).contains(&answer.status) {
                continue;
            }
            let Some(named) = answer.header(DRAIN_TASK_HEADER) else {
                continue;
            };
            if let Some(t) = tasks.iter().find(|t| {
                t.id == named
                    || t.ip.as_deref() == Some(named)
                    || named.ends_with(&format!("/{}", t.id))
            }) {
                if !acked.contains(&t.id) {
                    acked.push(t.id.clone());
                }
            }
        }
        acked
    }

    /// The load balancer as wharf reaches it: its DNS name (TLS when the listener is), or
    /// `WHARF_LB_CONNECT`.
    fn lb_endpoint(&self, host: &str) -> wharf_http::Endpoint {
        let connect = std::env::var("WHARF_LB_CONNECT").ok().and_then(|a| {
            let (h, p) = a.rsplit_once(':')?;
            Some((h.to_owned(), p.parse::<u16>().ok()?))
        });
        match (connect, self.out.https) {
            (Some((h, p)), true) => wharf_http::Endpoint::tls(h, p, host),
            (Some((h, p)), false) => wharf_http::Endpoint::plain(h, p),
            (None, true) => wharf_http::Endpoint::tls(&self.out.load_balancer_dns, 443, host),
            (None, false) => wharf_http::Endpoint::plain(&self.out.load_balancer_dns, 80),
        }
    }
}

/// The running tasks of an ECS service, with their private IPs.
async fn running_tasks(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    name: &str,
) -> Result<Vec<Task>, AwsError> {
    Ok(
        super::service::tasks(ecs, cluster, name, DesiredStatus::Running)
            .await?
            .iter()
            .filter(|t| t.last_status() == Some("RUNNING"))
            .map(|t| Task {
                id: t
                    .task_arn()
                    .and_then(|a| a.rsplit('/').next())
                    .unwrap_or_default()
                    .to_owned(),
                ip: t
                    .attachments()
                    .iter()
                    .flat_map(|a| a.details())
                    .find(|d| d.name() == Some("privateIPv4Address"))
                    .and_then(|d| d.value())
                    .map(str::to_owned),
            })
            .collect(),
    )
}

//! A deployment's containers: started with the service's settings (env, secrets from the
//! secrets file, size, its own health check, the URLs and names of the internal services it
//! talks to) until `count` run, stopped beyond it, and registered in or drained out of the
//! deployment's target group in the proxy.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use wharf_docker::{Docker, RunSpec, LABEL_APP, LABEL_DEPLOYMENT, LABEL_ENV, LABEL_SERVICE};
use wharf_engine::TargetError;
use wharf_manifest::{SecretRef, Service};
use wharf_proxy::{HealthConfig, TargetGroupConfig};

use crate::daemon::{Answer, Command};
use crate::target::{terr, LocalTarget};

impl LocalTarget {
    pub(crate) fn labels(&self, service: &str, deployment: &str) -> HashMap<String, String> {
        [
            (LABEL_APP, self.app.as_str()),
            (LABEL_ENV, self.env.as_str()),
            (LABEL_SERVICE, service),
            (LABEL_DEPLOYMENT, deployment),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    pub(crate) fn secret(&self, r: &SecretRef) -> Result<String, TargetError> {
        self.secrets.get(&r.to_string()).cloned().ok_or_else(|| {
            terr(format!("the secret {r} has no value here"))
                .help("add a line `REFERENCE=value` to the environment's secrets_file")
        })
    }

    pub(crate) fn container_env(
        &self,
        service: &Service,
        deployment: &str,
    ) -> Result<Vec<String>, TargetError> {
        let mut env: Vec<String> = service
            .env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        for (k, r) in &service.secrets {
            env.push(format!("{k}={}", self.secret(r)?));
        }
        if let Some(r) = &service.deploy.drain.secret {
            env.push(format!("DRAIN_SECRET={}", self.secret(r)?));
        }
        for (_, var, url) in self.callees.get(&service.name).into_iter().flatten() {
            if !service.env.contains_key(var) && !service.secrets.contains_key(var) {
                env.push(format!("{var}={url}"));
            }
        }
        env.push(format!("DEPLOYMENT_ID={deployment}"));
        Ok(env)
    }

    /// The names a service's containers resolve to the proxy's internal listeners: each
    /// internal service it talks to, short (`api`) and stable (`api.pulse.internal`).
    pub(crate) fn callee_hosts(&self, service: &Service) -> Vec<(String, std::net::IpAddr)> {
        let Some(gateway) = self.gateway else {
            return vec![];
        };
        self.callees
            .get(&service.name)
            .into_iter()
            .flatten()
            .flat_map(|(callee, _, _)| {
                [
                    callee.clone(),
                    wharf_manifest::internal_host(callee, &self.app),
                ]
            })
            .map(|h| (h, gateway))
            .collect()
    }

    pub(crate) fn health_config(service: &Service) -> HealthConfig {
        let h = &service.health;
        HealthConfig {
            path: h.path.clone(),
            interval_ms: h.interval.as_millis(),
            timeout_ms: h.timeout.as_millis(),
            healthy: h.healthy,
            unhealthy: h.unhealthy,
            matcher: h.matcher.clone(),
        }
    }

    /// Runs `count` containers of the deployment (starting or stopping the difference) and
    /// registers the running ones in its target group.
    pub(crate) async fn reconcile(
        &self,
        service: &Service,
        deployment: &str,
        image: &str,
        count: u32,
    ) -> Result<(), TargetError> {
        self.desired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(deployment.to_owned(), count);
        let network = self.names().network();
        self.docker
            .ensure_network(&network, self.labels(&service.name, ""))
            .await
            .map_err(terr)?;
        let mut running = self.containers(deployment).await?;
        if running.len() < count as usize {
            self.docker.ensure_image(image).await.map_err(terr)?;
        }
        // Start the missing ones once: a container that exits at once is not retried here
        // (health() records why it stopped and replaces it, and the engine's gate gives up).
        let missing = count.saturating_sub(running.len() as u32);
        let mut next = 0u32;
        for _ in 0..missing {
            while running
                .iter()
                .any(|c| c.name.ends_with(&format!("-{next}")))
            {
                next += 1;
            }
            let name = self.names().container(&service.name, deployment, next);
            let _ = self.docker.stop_and_remove(&name, 1).await;
            self.docker
                .run(
                    RunSpec {
                        name: &name,
                        image,
                        port: Some(service.port),
                        env: self.container_env(service, deployment)?,
                        labels: self.labels(&service.name, deployment),
                        cpu: service.cpu,
                        memory_mib: service.memory,
                        stop_timeout_s: service.stop_timeout.as_secs_ceil() as i64,
                        command: service.command.clone(),
                        health: wharf_docker::health_config(&service.health),
                        hosts: self.callee_hosts(service),
                    },
                    &network,
                )
                .await
                .map_err(terr)?;
            next += 1;
        }
        if missing > 0 {
            running = self.containers(deployment).await?;
        }
        while running.len() as u32 > count {
            let c = running.pop().expect("more than count");
            self.deregister(service, deployment, &c).await?;
            self.docker
                .stop_and_remove(&c.id, service.stop_timeout.as_secs_ceil() as i32)
                .await
                .map_err(terr)?;
        }
        self.register(service, deployment).await
    }

    /// Every container of a deployment, running or stopped.
    pub(crate) async fn deployment_containers(
        &self,
        deployment: &str,
    ) -> Result<Vec<wharf_docker::Container>, TargetError> {
        self.docker
            .list(&[
                (LABEL_APP, &self.app),
                (LABEL_ENV, &self.env),
                (LABEL_DEPLOYMENT, deployment),
            ])
            .await
            .map_err(terr)
    }

    /// Running containers of a deployment, by name.
    pub(crate) async fn containers(
        &self,
        deployment: &str,
    ) -> Result<Vec<wharf_docker::Container>, TargetError> {
        let mut v: Vec<_> = self
            .deployment_containers(deployment)
            .await?
            .into_iter()
            .filter(|c| c.running)
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }

    /// Sets the deployment's target group to its running containers.
    pub(crate) async fn register(
        &self,
        service: &Service,
        deployment: &str,
    ) -> Result<(), TargetError> {
        let targets: Vec<SocketAddr> = self
            .containers(deployment)
            .await?
            .iter()
            .filter_map(Docker::address)
            .collect();
        let group = self.group_name(&service.name, deployment);
        let tg = TargetGroupConfig {
            name: group.clone(),
            deployment: Some(deployment.to_owned()),
            targets,
            health: Self::health_config(service),
            deregistration_delay_ms: service.deploy.drain.timeout.as_millis(),
        };
        self.edit(
            |cfg| match cfg.target_groups.iter_mut().find(|g| g.name == group) {
                Some(g) => *g = tg.clone(),
                None => cfg.target_groups.push(tg.clone()),
            },
        )
        .await
    }

    pub(crate) async fn deregister(
        &self,
        service: &Service,
        deployment: &str,
        c: &wharf_docker::Container,
    ) -> Result<(), TargetError> {
        let group = self.group_name(&service.name, deployment);
        let Some(addr) = Docker::address(c) else {
            return Ok(());
        };
        self.edit(|cfg| {
            if let Some(g) = cfg.target_groups.iter_mut().find(|g| g.name == group) {
                g.targets.retain(|t| *t != addr);
            }
        })
        .await?;
        // The proxy drains it: wait for its requests (bounded by the delay).
        self.wait_target_gone(&group, Some(addr), service.deploy.drain.timeout.as_millis())
            .await;
        Ok(())
    }

    pub(crate) async fn wait_target_gone(
        &self,
        group: &str,
        addr: Option<SocketAddr>,
        delay_ms: u64,
    ) {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(delay_ms + 5_000);
        while tokio::time::Instant::now() < deadline {
            let Ok(Answer::Status { groups, .. }) = self.proxy.send(&Command::Status).await else {
                return;
            };
            let present = groups.iter().any(|g| {
                g.name == group && addr.is_none_or(|a| g.targets.iter().any(|t| t.0 == a))
            });
            if !present {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

//! Labelled containers with their port published on 127.0.0.1 only, their network, their
//! logs, and why they stopped.

use std::collections::HashMap;
use std::net::SocketAddr;

use bollard::models::{ContainerCreateBody, HealthConfig, HostConfig, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, RemoveContainerOptions, StartContainerOptions,
};
use futures_util::StreamExt;

use crate::client::{api, label_filter, Docker};
use crate::error::DockerError;
use crate::{LABEL_DEPLOYMENT, LABEL_SERVICE};

/// A container wharf made, as Docker reports it.
#[derive(Debug, Clone)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub deployment: String,
    pub service: String,
    pub running: bool,
    /// "exited (1)", "OOM killed", …
    pub status: String,
    pub host_port: Option<u16>,
}

/// A container's state as [`Docker::state`] reads it.
#[derive(Debug, Clone, Default)]
pub struct ContainerState {
    /// Why it stopped (None: it runs).
    pub stopped: Option<String>,
    /// Its own health check calls it unhealthy.
    pub unhealthy: bool,
    /// Its health check's failing outputs (Docker keeps the last five runs).
    pub health_failures: Vec<String>,
}

/// What to run.
pub struct RunSpec<'a> {
    pub name: &'a str,
    pub image: &'a str,
    /// The port published on 127.0.0.1 (None: nothing published, as for a job).
    pub port: Option<u16>,
    pub env: Vec<String>,
    pub labels: HashMap<String, String>,
    pub cpu: u32,
    pub memory_mib: u32,
    pub stop_timeout_s: i64,
    pub command: Option<Vec<String>>,
    /// The container's own health check (Docker's `HEALTHCHECK`), from the manifest's
    /// `health.command`.
    pub health: Option<HealthConfig>,
    /// Names the container resolves to an address (`/etc/hosts` entries): the internal
    /// services it talks to, at the host's address on the network, where the proxy listens.
    pub hosts: Vec<(String, std::net::IpAddr)>,
}

/// Docker's health check for a service's `health.command`: its interval, timeout, unhealthy
/// threshold and grace (as the start period).
pub fn health_config(h: &wharf_manifest::HealthCheck) -> Option<HealthConfig> {
    let test = h.container_test()?;
    let ns = |d: wharf_manifest::Duration| {
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 1_000_000) * 1_000_000
    };
    Some(HealthConfig {
        test: Some(test),
        interval: Some(ns(h.interval)),
        timeout: Some(ns(h.timeout)),
        retries: Some(i64::from(h.unhealthy)),
        start_period: h.grace.map(ns),
        ..Default::default()
    })
}

/// A network's IPv4 gateway, from its IPAM configuration.
fn gateway(n: &bollard::models::Network) -> Option<std::net::IpAddr> {
    n.ipam
        .as_ref()?
        .config
        .as_ref()?
        .iter()
        .filter_map(|c| c.gateway.as_deref()?.parse::<std::net::IpAddr>().ok())
        .find(std::net::IpAddr::is_ipv4)
}

impl Docker {
    /// Makes the network when it does not exist; returns its IPv4 gateway (the host's
    /// address on it), when Docker gave it one.
    pub async fn ensure_network(
        &self,
        name: &str,
        labels: HashMap<String, String>,
    ) -> Result<Option<std::net::IpAddr>, DockerError> {
        let inspect = || {
            self.d.inspect_network(
                name,
                None::<bollard::query_parameters::InspectNetworkOptions>,
            )
        };
        if let Ok(n) = inspect().await {
            return Ok(gateway(&n));
        }
        let cfg = bollard::models::NetworkCreateRequest {
            name: name.to_owned(),
            labels: Some(labels),
            ..Default::default()
        };
        self.d
            .create_network(cfg)
            .await
            .map_err(api(format!("create network {name}")))?;
        let n = inspect()
            .await
            .map_err(api(format!("inspect network {name}")))?;
        Ok(gateway(&n))
    }

    pub async fn remove_network(&self, name: &str) -> Result<(), DockerError> {
        match self.d.remove_network(name).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(api(format!("remove network {name}"))(e)),
        }
    }

    /// Creates and starts a container; its port, if any, is published on 127.0.0.1 only.
    /// `network` is a Docker network's name (or `host`).
    pub async fn run(&self, spec: RunSpec<'_>, network: &str) -> Result<String, DockerError> {
        let port = spec.port.map(|p| format!("{p}/tcp"));
        let host = HostConfig {
            port_bindings: port.clone().map(|port| {
                HashMap::from([(
                    port,
                    Some(vec![PortBinding {
                        host_ip: Some("127.0.0.1".into()),
                        host_port: Some(String::new()),
                    }]),
                )])
            }),
            nano_cpus: Some(i64::from(spec.cpu) * 1_000_000_000 / 1024),
            memory: Some(i64::from(spec.memory_mib) * 1024 * 1024),
            network_mode: Some(network.to_owned()),
            extra_hosts: (!spec.hosts.is_empty()).then(|| {
                spec.hosts
                    .iter()
                    .map(|(name, ip)| format!("{name}:{ip}"))
                    .collect()
            }),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.to_owned()),
            env: Some(spec.env),
            labels: Some(spec.labels),
            exposed_ports: port.map(|port| HashMap::from([(port, HashMap::new())])),
            stop_timeout: Some(spec.stop_timeout_s),
            stop_signal: Some("SIGTERM".into()),
            cmd: spec.command,
            healthcheck: spec.health,
            host_config: Some(host),
            ..Default::default()
        };
        let opts = CreateContainerOptions {
            name: Some(spec.name.to_owned()),
            ..Default::default()
        };
        let created = self
            .d
            .create_container(Some(opts), body)
            .await
            .map_err(api(format!("create container {}", spec.name)))?;
        self.d
            .start_container(&created.id, None::<StartContainerOptions>)
            .await
            .map_err(api(format!("start container {}", spec.name)))?;
        Ok(created.id)
    }

    /// Containers carrying every given label, running or not.
    pub async fn list(&self, labels: &[(&str, &str)]) -> Result<Vec<Container>, DockerError> {
        let opts = ListContainersOptions {
            all: true,
            filters: Some(label_filter(labels)),
            ..Default::default()
        };
        let list = self
            .d
            .list_containers(Some(opts))
            .await
            .map_err(api("list containers"))?;
        Ok(list
            .into_iter()
            .map(|c| {
                let labels = c.labels.unwrap_or_default();
                Container {
                    id: c.id.unwrap_or_default(),
                    name: c
                        .names
                        .unwrap_or_default()
                        .first()
                        .map(|n| n.trim_start_matches('/').to_owned())
                        .unwrap_or_default(),
                    deployment: labels.get(LABEL_DEPLOYMENT).cloned().unwrap_or_default(),
                    service: labels.get(LABEL_SERVICE).cloned().unwrap_or_default(),
                    running: c.state.as_ref().is_some_and(|s| s.to_string() == "running"),
                    status: c.status.unwrap_or_default(),
                    host_port: c
                        .ports
                        .unwrap_or_default()
                        .iter()
                        .find(|p| p.ip.as_deref() == Some("127.0.0.1"))
                        .and_then(|p| p.public_port),
                }
            })
            .collect())
    }

    /// What Docker knows of a container's state: why it stopped (None: running) and the
    /// failing outputs of its own health check, the latest last (a container that is gone
    /// says so as its reason).
    pub async fn state(&self, id: &str) -> ContainerState {
        let c = match self
            .d
            .inspect_container(
                id,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
        {
            Ok(c) => c,
            Err(e) => {
                return ContainerState {
                    stopped: Some(format!("container vanished: {e}")),
                    ..ContainerState::default()
                }
            }
        };
        let s = c.state.unwrap_or_default();
        let health = s.health.clone().unwrap_or_default();
        let failing: Vec<String> = health
            .log
            .unwrap_or_default()
            .into_iter()
            .filter(|l| l.exit_code.is_some_and(|c| c != 0))
            .map(|l| {
                let out = l.output.unwrap_or_default();
                let out = out.trim();
                format!(
                    "health check exited with code {}{}{}",
                    l.exit_code.unwrap_or(-1),
                    if out.is_empty() { "" } else { ": " },
                    out.lines().last().unwrap_or_default()
                )
            })
            .collect();
        let unhealthy = health.status == Some(bollard::models::HealthStatusEnum::UNHEALTHY);
        let stopped = (s.running != Some(true)).then(|| {
            if s.oom_killed == Some(true) {
                "OutOfMemory: the container was killed for exceeding its memory".to_owned()
            } else if let Some(err) = s.error.filter(|e| !e.is_empty()) {
                format!("the container could not start: {err}")
            } else {
                format!(
                    "essential container exited with code {}",
                    s.exit_code.unwrap_or(-1)
                )
            }
        });
        ContainerState {
            stopped,
            unhealthy,
            health_failures: failing,
        }
    }

    /// SIGTERM, then SIGKILL after `timeout_s`; then removes it.
    pub async fn stop_and_remove(&self, id: &str, timeout_s: i32) -> Result<(), DockerError> {
        let _ = self.stop(id, timeout_s).await;
        match self
            .d
            .remove_container(
                id,
                Some(RemoveContainerOptions {
                    force: true,
                    v: true,
                    ..Default::default()
                }),
            )
            .await
        {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(api(format!("remove container {id}"))(e)),
        }
    }

    /// The logs of containers, each line with the container's name and its time (ms since
    /// the epoch, as Docker stamped it). Without `follow`, every container's lines (the last
    /// `tail` of each, from `since_ms`) are merged by time before they are handed on; with it,
    /// lines are handed on as they come until the containers stop.
    pub async fn logs(
        &self,
        containers: &[Container],
        follow: bool,
        tail: Option<u32>,
        since_ms: Option<i64>,
        mut line: impl FnMut(&str, Option<i64>, &str),
    ) -> Result<(), DockerError> {
        let streams = containers.iter().map(|c| {
            let name = c.name.clone();
            let opts = bollard::query_parameters::LogsOptions {
                follow,
                stdout: true,
                stderr: true,
                timestamps: true,
                since: since_ms.map_or(0, |ms| (ms / 1000).clamp(0, i64::from(i32::MAX)) as i32),
                tail: tail.map_or_else(|| "all".to_owned(), |t| t.to_string()),
                ..Default::default()
            };
            self.d
                .logs(&c.id, Some(opts))
                .map(move |item| (name.clone(), item))
        });
        let mut merged = futures_util::stream::select_all(streams.map(Box::pin));
        let mut held: Vec<(Option<i64>, String, String)> = Vec::new();
        while let Some((name, item)) = merged.next().await {
            match item {
                Ok(out) => {
                    let text = out.to_string();
                    for l in text.lines() {
                        let (ts, l) = stamped(l);
                        if since_ms.is_some_and(|s| ts.is_some_and(|t| t < s)) {
                            continue;
                        }
                        if follow {
                            line(&name, ts, l);
                        } else {
                            held.push((ts, name.clone(), l.to_owned()));
                        }
                    }
                }
                Err(e) => return Err(api(format!("read the logs of {name}"))(e)),
            }
        }
        held.sort_by_key(|(ts, _, _)| *ts);
        for (ts, name, l) in &held {
            line(name, *ts, l);
        }
        Ok(())
    }

    /// A container's published loopback address.
    pub fn address(c: &Container) -> Option<SocketAddr> {
        c.host_port.map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
    }
}

/// A line Docker stamped (`2026-12-02T21:40:01.123456789Z text`): its time and its text.
fn stamped(l: &str) -> (Option<i64>, &str) {
    match l.split_once(' ') {
        Some((ts, rest)) => match wharf_manifest::names::parse_utc(ts) {
            Some(t) => (Some(t), rest),
            None => (None, l),
        },
        None => match wharf_manifest::names::parse_utc(l) {
            Some(t) => (Some(t), ""),
            None => (None, l),
        },
    }
}

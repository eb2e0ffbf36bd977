//! Telling a retiring deployment it is draining: a POST to the service's drain path with the
//! secret (`X-Drain-Secret`), straight to each of its containers, so that it can finish work in
//! hand and refuse new long work before it is stopped. A container acknowledges with a 2xx;
//! it is named by the `X-Wharf-Task` header of its answer, else by its container name.

use std::time::Duration;

use wharf_docker::Docker;
use wharf_engine::{Drained, TargetError};
use wharf_manifest::Service;

use wharf_manifest::rules::{DRAIN_SECRET_HEADER, DRAIN_TASK_HEADER};

use crate::target::LocalTarget;

impl LocalTarget {
    pub(crate) async fn local_drain(
        &self,
        service: &Service,
        deployment: &str,
    ) -> Result<Option<Drained>, TargetError> {
        let Some(secret) = service
            .deploy
            .drain
            .secret
            .as_ref()
            .and_then(|r| self.secret(r).ok())
        else {
            return Ok(None);
        };
        let containers = self.containers(deployment).await?;
        let mut drained = Drained {
            tasks: containers.len() as u32,
            acknowledged: Vec::new(),
        };
        let headers = [(DRAIN_SECRET_HEADER, secret.as_str())];
        let limits = wharf_http::Limits {
            timeout: Duration::from_secs(5),
            ..wharf_http::Limits::default()
        };
        for c in &containers {
            let Some(addr) = Docker::address(c) else {
                continue;
            };
            let endpoint = wharf_http::Endpoint::plain(addr.ip().to_string(), addr.port());
            let host = addr.to_string();
            let Ok(request) =
                wharf_http::request("POST", &service.deploy.drain.path, &host, &headers)
            else {
                continue;
            };
            if let Ok(answer) = wharf_http::send(&endpoint, request, limits).await {
                if (200..300).contains(&answer.status) {
                    let name = answer
                        .header(DRAIN_TASK_HEADER)
                        .map(str::to_owned)
                        .unwrap_or_else(|| c.name.clone());
                    drained.acknowledged.push(name);
                }
            }
        }
        Ok(Some(drained))
    }
}

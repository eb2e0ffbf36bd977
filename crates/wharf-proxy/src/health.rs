//! Active health checks: every interval, GET the path on each target with a timeout, and move
//! it between initial, healthy and unhealthy after the configured number of consecutive results.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::group::{Group, TargetState};

/// Checks the group's targets until the group leaves the configuration.
pub fn spawn(group: Arc<Group>) {
    tokio::spawn(async move {
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1)
            .build_http::<Empty<Bytes>>();
        while group.active.load(Ordering::SeqCst) {
            let h = group
                .health
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let targets: Vec<_> = group
                .targets
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let checks = targets
                .into_iter()
                .filter(|t| t.state() != TargetState::Draining)
                .map(|t| {
                    let client = client.clone();
                    let h = h.clone();
                    async move {
                        let uri = format!("http://{}{}", t.addr, h.path);
                        let req = hyper::Request::get(uri)
                            .header("user-agent", "wharf-health-check")
                            .body(Empty::new());
                        let ok = match req {
                            Ok(req) => match tokio::time::timeout(
                                Duration::from_millis(h.timeout_ms),
                                client.request(req),
                            )
                            .await
                            {
                                Ok(Ok(resp)) => {
                                    let status = resp.status().as_u16();
                                    let _ = resp.into_body().collect().await;
                                    h.matches(status)
                                }
                                _ => false,
                            },
                            Err(_) => false,
                        };
                        t.observe(ok, &h);
                    }
                });
            futures_join(checks.collect()).await;
            group.sweep();
            tokio::time::sleep(Duration::from_millis(h.interval_ms)).await;
        }
    });
}

async fn futures_join(futs: Vec<impl std::future::Future<Output = ()> + Send + 'static>) {
    let handles: Vec<_> = futs.into_iter().map(tokio::spawn).collect();
    for h in handles {
        let _ = h.await;
    }
}

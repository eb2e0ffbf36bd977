//! Active health checks: every interval, GET the path on each target with a timeout over the
//! whole response (its body bounded), and move it between initial, healthy and unhealthy after
//! the configured number of consecutive results.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::config::HealthConfig;
use crate::group::{Backend, Group, TargetState};

/// How often the scheduler looks for targets due a check (a new target waits at most this).
const TICK: Duration = Duration::from_millis(100);

/// Checks the group's targets until the group leaves the configuration. Each target has its
/// own schedule: checked as soon as it is registered, then every interval, so a target added
/// to a group later (a rolling batch) does not wait for the group's next round.
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
            let now = Instant::now();
            let interval = Duration::from_millis(h.interval_ms);
            for t in targets.iter().filter(|t| t.claim_check(now, interval)) {
                let t = t.clone();
                let client = client.clone();
                let h = h.clone();
                // The timeout is shorter than the interval: one check per target at a time.
                tokio::spawn(async move {
                    let ok = check(&client, &t, &h).await;
                    t.observe(ok, &h);
                });
            }
            group.sweep();
            let next = targets
                .iter()
                .filter(|t| t.state() != TargetState::Draining)
                .map(|t| t.next_check())
                .min()
                .map_or(TICK, |n| n.saturating_duration_since(Instant::now()));
            tokio::time::sleep(next.clamp(Duration::from_millis(5), TICK)).await;
        }
    });
}

/// One health check: GET the path within the timeout, the status against the matcher.
async fn check(
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>,
    t: &Backend,
    h: &HealthConfig,
) -> bool {
    let uri = format!("http://{}{}", t.addr, h.path);
    let Ok(req) = hyper::Request::get(uri)
        .header("user-agent", "wharf-health-check")
        .body(Empty::new())
    else {
        return false;
    };
    // The timeout covers the whole response, body included, and the body is read only up to
    // a bound: a target trickling or streaming an endless body fails its check.
    let checked = async {
        let resp = client.request(req).await.ok()?;
        let status = resp.status().as_u16();
        http_body_util::Limited::new(resp.into_body(), MAX_BODY)
            .collect()
            .await
            .ok()?;
        Some(status)
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(h.timeout_ms), checked).await,
        Ok(Some(status)) if h.matches(status)
    )
}

/// The most of a health check's body read (ALB looks at the status alone).
const MAX_BODY: usize = 64 * 1024;

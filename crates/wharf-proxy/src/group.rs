//! Backend groups at run time: each target's state (initial, healthy, unhealthy, draining),
//! its requests in flight, round-robin choice among healthy targets, and per-second request
//! counts for the engine's alarm gate.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::{HealthConfig, TargetGroupConfig};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetState {
    /// Registered, not yet passed its health checks: gets no traffic.
    Initial,
    Healthy,
    Unhealthy,
    /// Deregistered: no new requests; removed when its requests finish or the delay ends.
    Draining,
}

impl fmt::Display for TargetState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TargetState::Initial => "initial",
            TargetState::Healthy => "healthy",
            TargetState::Unhealthy => "unhealthy",
            TargetState::Draining => "draining",
        })
    }
}

#[derive(Debug)]
pub struct Backend {
    pub addr: SocketAddr,
    /// `http://addr` as a URI authority, made once (not formatted and parsed per request).
    pub authority: hyper::http::uri::Authority,
    state: Mutex<(TargetState, u32, u32, Option<Instant>)>, // state, successes, failures, draining since
    /// The state as the request path reads it, without the lock: updated under it.
    current: AtomicU8,
    pub inflight: AtomicUsize,
    /// When its next health check is due: at once when registered, then every interval.
    next_check: Mutex<Instant>,
}

impl Backend {
    fn new(addr: SocketAddr) -> Self {
        Backend {
            addr,
            authority: hyper::http::uri::Authority::try_from(addr.to_string().as_str())
                .expect("a socket address is an authority"),
            state: Mutex::new((TargetState::Initial, 0, 0, None)),
            current: AtomicU8::new(TargetState::Initial as u8),
            inflight: AtomicUsize::new(0),
            next_check: Mutex::new(Instant::now()),
        }
    }

    /// When the target's next health check is due.
    pub fn next_check(&self) -> Instant {
        *self.next_check.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claims the check due now (true), scheduling the next one `interval` later; false when
    /// it is not due yet or the target is draining.
    pub fn claim_check(&self, now: Instant, interval: Duration) -> bool {
        if self.state() == TargetState::Draining {
            return false;
        }
        let mut next = self.next_check.lock().unwrap_or_else(|p| p.into_inner());
        if *next > now {
            return false;
        }
        *next = now + interval;
        true
    }

    pub fn state(&self) -> TargetState {
        match self.current.load(Ordering::Acquire) {
            0 => TargetState::Initial,
            1 => TargetState::Healthy,
            2 => TargetState::Unhealthy,
            _ => TargetState::Draining,
        }
    }

    /// Publishes the state just set under the lock to the request path.
    fn publish(&self, s: &(TargetState, u32, u32, Option<Instant>)) {
        self.current.store(s.0 as u8, Ordering::Release);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (TargetState, u32, u32, Option<Instant>)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a health-check result; thresholds of consecutive results change the state.
    pub fn observe(&self, ok: bool, h: &HealthConfig) {
        let mut s = self.lock();
        if s.0 == TargetState::Draining {
            return;
        }
        if ok {
            s.1 += 1;
            s.2 = 0;
            if s.1 >= h.healthy {
                s.0 = TargetState::Healthy;
            }
        } else {
            s.2 += 1;
            s.1 = 0;
            if s.2 >= h.unhealthy || s.0 == TargetState::Initial && s.2 >= 1 && h.unhealthy <= 1 {
                s.0 = TargetState::Unhealthy;
            }
        }
        self.publish(&s);
    }

    fn drain(&self) {
        let mut s = self.lock();
        if s.0 != TargetState::Draining {
            *s = (TargetState::Draining, 0, 0, Some(Instant::now()));
            self.publish(&s);
        }
    }

    fn drained(&self, delay: Duration) -> bool {
        let s = self.lock();
        s.0 == TargetState::Draining
            && (self.inflight.load(Ordering::SeqCst) == 0
                || s.3.is_some_and(|t| t.elapsed() >= delay))
    }
}

/// Requests and 5xx answers per second, for the last ten minutes. Each worker counts in its
/// own shard (a lock and cache line of its own); a reading sums them.
#[derive(Debug)]
pub struct Counters(Box<[Shard]>);

/// One worker's seconds, aligned to a cache line pair so two shards never share one.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Shard(Mutex<VecDeque<(u64, u64, u64)>>);

const KEEP_SECONDS: u64 = 600;

impl Default for Counters {
    fn default() -> Self {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        Counters((0..n).map(|_| Shard::default()).collect())
    }
}

impl Counters {
    /// Counts an answer with `status` to a request that started at `at`, in the shard of
    /// `worker`.
    pub fn record(&self, worker: usize, at: Instant, status: u16) {
        let now = secs(at);
        let mut q = self.0[worker % self.0.len()]
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        match q.back_mut() {
            Some(b) if b.0 == now => {
                b.1 += 1;
                b.2 += u64::from(status >= 500);
            }
            _ => q.push_back((now, 1, u64::from(status >= 500))),
        }
        while q.front().is_some_and(|b| b.0 + KEEP_SECONDS < now) {
            q.pop_front();
        }
    }

    /// `(requests, 5xx)` over the last `window`.
    pub fn window(&self, window: Duration) -> (u64, u64) {
        // Within the window's first seconds of the process, every second counted is in it.
        let since = secs(Instant::now()).checked_sub(window.as_secs().max(1));
        self.0.iter().fold((0, 0), |(t, e), shard| {
            let q = shard.0.lock().unwrap_or_else(|p| p.into_inner());
            q.iter()
                .filter(|b| since.is_none_or(|s| b.0 > s))
                .fold((t, e), |(t, e), b| (t + b.1, e + b.2))
        })
    }
}

/// Seconds of the monotonic clock since the process's first count: the request's start, read
/// once, serves for its second (no wall clock read per request, no jump when the wall clock is
/// set).
fn secs(at: Instant) -> u64 {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    at.saturating_duration_since(*BASE.get_or_init(Instant::now))
        .as_secs()
}

/// One target group.
#[derive(Debug)]
pub struct Group {
    pub name: String,
    pub deployment: Mutex<Option<String>>,
    pub health: Mutex<HealthConfig>,
    pub delay: Mutex<Duration>,
    pub targets: Mutex<Vec<Arc<Backend>>>,
    pub counters: Counters,
    /// Cleared when the group leaves the configuration: its health task stops.
    pub active: AtomicBool,
}

impl Group {
    pub fn new(cfg: &TargetGroupConfig) -> Arc<Self> {
        let g = Arc::new(Group {
            name: cfg.name.clone(),
            deployment: Mutex::new(None),
            health: Mutex::new(cfg.health.clone()),
            delay: Mutex::new(Duration::ZERO),
            targets: Mutex::new(Vec::new()),
            counters: Counters::default(),
            active: AtomicBool::new(true),
        });
        g.update(cfg);
        g
    }

    /// Applies a new configuration: new targets start as initial, removed ones drain.
    pub fn update(&self, cfg: &TargetGroupConfig) {
        *self.deployment.lock().unwrap_or_else(|p| p.into_inner()) = cfg.deployment.clone();
        *self.health.lock().unwrap_or_else(|p| p.into_inner()) = cfg.health.clone();
        *self.delay.lock().unwrap_or_else(|p| p.into_inner()) =
            Duration::from_millis(cfg.deregistration_delay_ms);
        let mut targets = self.targets.lock().unwrap_or_else(|p| p.into_inner());
        for t in targets.iter() {
            if !cfg.targets.contains(&t.addr) {
                t.drain();
            }
        }
        for addr in &cfg.targets {
            if !targets
                .iter()
                .any(|t| t.addr == *addr && t.state() != TargetState::Draining)
            {
                targets.push(Arc::new(Backend::new(*addr)));
            }
        }
    }

    /// Drains every target (the group left the configuration).
    pub fn drain_all(&self) {
        self.active.store(false, Ordering::SeqCst);
        for t in self
            .targets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            t.drain();
        }
    }

    /// Forgets drained targets; true when nothing is left.
    pub fn sweep(&self) -> bool {
        let delay = *self.delay.lock().unwrap_or_else(|p| p.into_inner());
        let mut targets = self.targets.lock().unwrap_or_else(|p| p.into_inner());
        targets.retain(|t| !t.drained(delay));
        targets.is_empty()
    }

    /// The targets as they are now, for a snapshot.
    pub fn targets_now(&self) -> Arc<[Arc<Backend>]> {
        self.targets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// `(addr, state, in flight)` of every target.
    pub fn status(&self) -> Vec<(SocketAddr, TargetState, usize)> {
        self.targets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|t| (t.addr, t.state(), t.inflight.load(Ordering::SeqCst)))
            .collect()
    }
}

/// A target for a new request, the `turn`-th in round robin over the healthy ones; when none
/// is healthy, over every one not draining (ALB fails open); None when there is none. Counted,
/// then taken: no list is made per request.
pub fn pick(
    targets: &[Arc<Backend>],
    turn: usize,
    skip: Option<SocketAddr>,
) -> Option<&Arc<Backend>> {
    let usable = |t: &&Arc<Backend>, want_healthy: bool| {
        Some(t.addr) != skip
            && match t.state() {
                TargetState::Healthy => true,
                TargetState::Draining => false,
                _ => !want_healthy,
            }
    };
    for want_healthy in [true, false] {
        let n = targets.iter().filter(|t| usable(t, want_healthy)).count();
        if n > 0 {
            return targets
                .iter()
                .filter(|t| usable(t, want_healthy))
                .nth(turn % n);
        }
    }
    None
}

/// Counts a request in flight on its target until its answer is read to the end or dropped.
pub struct Inflight(Arc<Backend>);

impl Inflight {
    pub fn new(target: &Arc<Backend>) -> Self {
        target.inflight.fetch_add(1, Ordering::SeqCst);
        Inflight(target.clone())
    }
}

impl Drop for Inflight {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(targets: &[&str]) -> TargetGroupConfig {
        TargetGroupConfig {
            name: "g".into(),
            deployment: None,
            targets: targets.iter().map(|t| t.parse().expect("addr")).collect(),
            health: HealthConfig {
                path: "/".into(),
                interval_ms: 5_000,
                timeout_ms: 1_000,
                healthy: 2,
                unhealthy: 2,
                matcher: "200".into(),
            },
            deregistration_delay_ms: 0,
        }
    }

    #[test]
    fn a_target_added_later_is_checked_at_once_then_every_interval() {
        let g = Group::new(&cfg(&["127.0.0.1:1"]));
        let interval = Duration::from_secs(5);
        let t0 = Instant::now();
        let first = g.targets.lock().expect("targets")[0].clone();
        assert!(first.claim_check(t0, interval), "due when registered");
        assert!(!first.claim_check(t0 + Duration::from_secs(1), interval));
        // A second target joins mid-interval (a rolling batch): due at once, not at the
        // group's next round.
        g.update(&cfg(&["127.0.0.1:1", "127.0.0.1:2"]));
        let later = Instant::now() + Duration::from_secs(1);
        let second = g.targets.lock().expect("targets")[1].clone();
        assert!(second.claim_check(later, interval));
        assert!(!second.claim_check(later + Duration::from_millis(4_999), interval));
        assert!(second.claim_check(later + interval, interval));
        assert!(first.claim_check(t0 + interval, interval));
    }

    #[test]
    fn a_draining_target_is_not_checked() {
        let g = Group::new(&cfg(&["127.0.0.1:1"]));
        let t = g.targets.lock().expect("targets")[0].clone();
        g.update(&cfg(&[]));
        assert!(!t.claim_check(Instant::now(), Duration::from_secs(5)));
    }
}

//! The configuration requests are served with, and each worker's view of it. `apply` publishes
//! a new snapshot; a worker notices by a generation number and makes its own view, so a
//! request touches nothing another worker writes: no shared lock or reference count, no
//! shared round-robin counter (the cache lines two cores would pass back and forth on every
//! request). Each rule's groups are looked up once per snapshot, not by name per request.
//! Only a rule that splits traffic between groups takes a lock shared by the workers: its
//! smooth weighted round robin, so a canary's share is exact.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use hyper::HeaderMap;

use crate::config::RuleConfig;
use crate::group::{Backend, Group};
use crate::router;

/// A target group as a snapshot holds it: the group, and its targets when it was taken
/// (targets change only by `apply`, which takes a new snapshot; a state changes in place).
pub struct Forward {
    pub group: Arc<Group>,
    pub targets: Arc<[Arc<Backend>]>,
}

/// The rules and their target groups.
pub struct Snapshot {
    pub rules: Vec<RuleConfig>,
    groups: Vec<Forward>,
    /// Per rule, per forward: the index of its group in `groups` (None: not configured).
    forwards: Vec<Vec<Option<usize>>>,
    /// Smooth weighted round-robin state per rule priority.
    wrr: Mutex<HashMap<u32, Vec<i64>>>,
}

impl Snapshot {
    pub fn new(mut rules: Vec<RuleConfig>, groups: &HashMap<String, Arc<Group>>) -> Self {
        rules.sort_by_key(|r| r.priority);
        let mut index: HashMap<&str, usize> = HashMap::new();
        let mut list = Vec::new();
        let forwards = rules
            .iter()
            .map(|r| {
                r.forward
                    .iter()
                    .map(|(name, _)| {
                        let group = groups.get(name)?;
                        Some(*index.entry(name.as_str()).or_insert_with(|| {
                            list.push(Forward {
                                group: group.clone(),
                                targets: group.targets_now(),
                            });
                            list.len() - 1
                        }))
                    })
                    .collect()
            })
            .collect();
        Snapshot {
            rules,
            groups: list,
            forwards,
            wrr: Mutex::new(HashMap::new()),
        }
    }

    /// The index of the first rule of `listener` that matches.
    pub fn route(
        &self,
        listener: Option<&str>,
        host: &str,
        path: &str,
        headers: &HeaderMap,
    ) -> Option<usize> {
        router::route_at(&self.rules, listener, Some(host), path, headers)
    }

    /// The group a request matching rule `at` goes to, by weight, as an index for
    /// [`View::group`]; None when every weight is zero or the group is not configured.
    pub fn pick(&self, at: usize) -> Option<usize> {
        let rule = &self.rules[at];
        let total: i64 = rule.forward.iter().map(|(_, w)| i64::from(*w)).sum();
        if total == 0 {
            return None;
        }
        let i = if rule.forward.len() == 1 {
            0
        } else {
            self.weighted(rule, total)
        };
        self.forwards[at].get(i).copied().flatten()
    }

    /// nginx's smooth weighted round robin: exact proportions, interleaved.
    fn weighted(&self, rule: &RuleConfig, total: i64) -> usize {
        let mut wrr = self.wrr.lock().unwrap_or_else(|p| p.into_inner());
        let current = wrr.entry(rule.priority).or_default();
        // A configuration is validated (priorities are unique), but a state of another length
        // is started over rather than indexed out of bounds.
        if current.len() != rule.forward.len() {
            *current = vec![0; rule.forward.len()];
        }
        let mut best = 0;
        for (i, (_, w)) in rule.forward.iter().enumerate() {
            current[i] += i64::from(*w);
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        best
    }
}

/// One worker's view of a snapshot: the snapshot and the worker's own turn per group for
/// round robin among its targets.
pub struct View {
    pub snapshot: Arc<Snapshot>,
    turns: Box<[AtomicUsize]>,
}

impl View {
    fn new(snapshot: Arc<Snapshot>) -> Self {
        let turns = (0..snapshot.groups.len())
            .map(|_| AtomicUsize::new(0))
            .collect();
        View { snapshot, turns }
    }

    /// Group `i` of the snapshot and this worker's next turn among its targets.
    pub fn group(&self, i: usize) -> (&Forward, usize) {
        let turn = self.turns[i].fetch_add(1, Ordering::Relaxed);
        (&self.snapshot.groups[i], turn)
    }
}

/// The current snapshot, as `apply` publishes it.
pub struct Published {
    current: RwLock<Arc<Snapshot>>,
    generation: AtomicU64,
}

/// What a worker has seen of [`Published`].
pub struct Seen {
    generation: u64,
    view: Arc<View>,
}

impl Published {
    pub fn new(snapshot: Snapshot) -> Self {
        Published {
            current: RwLock::new(Arc::new(snapshot)),
            generation: AtomicU64::new(0),
        }
    }

    /// Makes `snapshot` the one requests are served with from now on.
    pub fn set(&self, snapshot: Snapshot) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(snapshot);
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// A worker's first view.
    pub fn seen(&self) -> Seen {
        let generation = self.generation.load(Ordering::Acquire);
        let snapshot = self
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Seen {
            generation,
            view: Arc::new(View::new(snapshot)),
        }
    }

    /// The worker's view of the current snapshot, made anew only when one was published
    /// since (a read of a number no request writes, otherwise).
    pub fn view(&self, seen: &Mutex<Seen>) -> Arc<View> {
        let generation = self.generation.load(Ordering::Acquire);
        let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.generation != generation {
            *seen = self.seen();
        }
        seen.view.clone()
    }
}

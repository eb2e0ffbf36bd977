//! What does not change while a deployment lives — its task definition's and its target
//! group's ARNs — found once and kept: in this process, and in the deployment's record
//! ([`wharf_engine::Record::refs`]), which the state store fills in on save and reads back on
//! load. Without it every health poll looked the task definition up again by its
//! `DEPLOYMENT_ID` (ListTaskDefinitions and DescribeTaskDefinition) and the target group by its
//! name (DescribeTargetGroups).
//!
//! An entry goes when what it names goes: a deleted target group, a deregistered task
//! definition ([`Refs::forget_arn`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use wharf_engine::Record;

/// The kinds of reference kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    TaskDefinition,
    TargetGroup,
}

impl Kind {
    /// The key in the record's `refs`.
    pub fn key(self) -> &'static str {
        match self {
            Kind::TaskDefinition => "task-definition",
            Kind::TargetGroup => "target-group",
        }
    }
}

/// Per deployment (service and id: the services deployed by one command share an id), its
/// references by kind; and the image of each record read (a record's image never changes:
/// retiring a deployment needs it without reading its record again).
#[derive(Debug, Default)]
pub struct Refs {
    by_id: Mutex<HashMap<String, BTreeMap<String, String>>>,
    images: Mutex<HashMap<String, String>>,
}

impl Refs {
    fn with<R>(&self, f: impl FnOnce(&mut HashMap<String, BTreeMap<String, String>>) -> R) -> R {
        f(&mut self.by_id.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The image of `service`'s deployment `id`, as its record read in this process says.
    pub fn image(&self, service: &str, id: &str) -> Option<String> {
        let images = self.images.lock().unwrap_or_else(|p| p.into_inner());
        images.get(&key(service, id)).cloned()
    }

    pub fn get(&self, service: &str, deployment: &str, kind: Kind) -> Option<String> {
        self.with(|m| m.get(&key(service, deployment))?.get(kind.key()).cloned())
    }

    pub fn put(&self, service: &str, deployment: &str, kind: Kind, arn: &str) {
        self.with(|m| {
            m.entry(key(service, deployment))
                .or_default()
                .insert(kind.key().to_owned(), arn.to_owned());
        });
    }

    /// Forgets every reference to `arn` (it was deleted or deregistered).
    pub fn forget_arn(&self, arn: &str) {
        self.with(|m| {
            for refs in m.values_mut() {
                refs.retain(|_, v| v != arn);
            }
        });
    }

    /// Learns the references a record carries, and its image (one read from the store).
    pub fn learn(&self, r: &Record) {
        self.images
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key(&r.service, &r.id), r.image.clone());
        if r.refs.is_empty() {
            return;
        }
        self.with(|m| {
            let known = m.entry(key(&r.service, &r.id)).or_default();
            for (k, v) in &r.refs {
                known.entry(k.clone()).or_insert_with(|| v.clone());
            }
        });
    }

    /// The record with the references known for it, as it is to be stored (None: store it as
    /// it is). What this process forgot leaves the record too.
    pub fn fill(&self, r: &Record) -> Option<Record> {
        let known = self.with(|m| m.get(&key(&r.service, &r.id)).cloned())?;
        if known == r.refs {
            return None;
        }
        let mut out = r.clone();
        out.refs = known;
        Some(out)
    }
}

fn key(service: &str, deployment: &str) -> String {
    format!("{service}/{deployment}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> Record {
        serde_json::from_value(serde_json::json!({
            "id": id, "app": "pulse", "env": "test", "service": "api", "image": "i",
            "strategy": "rolling", "steps": [], "step": 0, "step_started_ms": 0,
            "status": "in-progress", "weight": 0, "started_ms": 0, "updated_ms": 0
        }))
        .expect("a record")
    }

    #[test]
    fn references_go_into_the_record_and_come_back_from_it() {
        let a = Refs::default();
        a.put("api", "d1", Kind::TaskDefinition, "arn:td:1");
        a.put("api", "d1", Kind::TargetGroup, "arn:tg:1");
        let stored = a.fill(&record("d1")).expect("filled");
        assert_eq!(stored.refs.len(), 2);
        assert!(a.fill(&stored).is_none(), "nothing new to add");
        assert!(a.fill(&record("d2")).is_none(), "nothing known of d2");

        // Another process reads the record and knows them without a lookup.
        let b = Refs::default();
        b.learn(&stored);
        assert_eq!(
            b.get("api", "d1", Kind::TaskDefinition).as_deref(),
            Some("arn:td:1")
        );
        assert_eq!(
            b.get("api", "d1", Kind::TargetGroup).as_deref(),
            Some("arn:tg:1")
        );
        assert_eq!(b.image("api", "d1").as_deref(), Some("i"));
        assert_eq!(b.image("api", "d2"), None);
        // Another service's deployment of the same id (one command deploys several) is its own.
        assert_eq!(b.get("web", "d1", Kind::TargetGroup), None);
        assert_eq!(b.image("web", "d1"), None);
    }

    #[test]
    fn a_deleted_resource_is_forgotten_everywhere() {
        let r = Refs::default();
        // Rolling deployments share one target group.
        r.put("api", "d1", Kind::TargetGroup, "arn:tg");
        r.put("api", "d2", Kind::TargetGroup, "arn:tg");
        r.put("api", "d2", Kind::TaskDefinition, "arn:td:2");
        let mut stored = record("d1");
        stored.refs = [("target-group".to_owned(), "arn:tg".to_owned())].into();
        r.forget_arn("arn:tg");
        assert!(
            r.fill(&stored).expect("rewritten").refs.is_empty(),
            "a record read before the deletion loses it on its next save"
        );
        assert_eq!(r.get("api", "d1", Kind::TargetGroup), None);
        assert_eq!(r.get("api", "d2", Kind::TargetGroup), None);
        assert_eq!(
            r.get("api", "d2", Kind::TaskDefinition).as_deref(),
            Some("arn:td:2")
        );
    }
}

//! The deployment record: everything needed to resume or undo a deployment, persisted by the
//! target's state store after every transition.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use wharf_manifest::StrategyKind;

use crate::plan::Step;

/// What another process asks of a running deployment ([`crate::Store::ask`]): kept beside the
/// record, never written into it, so neither the runner's saves nor the request can erase the
/// other. A record reads with the flags asked for set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ask {
    /// `wharf promote`: let it past its approval gate.
    Approve,
    /// `wharf abort`: roll it back at its next look.
    Abort,
}

impl Ask {
    pub const ALL: [Ask; 2] = [Ask::Approve, Ask::Abort];

    /// The name a store keeps the ask under, beside the record (a column, an attribute).
    pub fn field(self) -> &'static str {
        match self {
            Ask::Approve => "approve_asked",
            Ask::Abort => "abort_asked",
        }
    }

    /// Sets the flag this asks for on a record as read.
    pub fn apply(self, r: &mut Record) {
        match self {
            Ask::Approve => r.approved = true,
            Ask::Abort => r.abort_requested = true,
        }
    }
}

/// How a deployment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// All traffic on the new version.
    Succeeded,
    /// A gate failed; traffic went back to the previous version.
    RolledBack,
    /// Stopped on request (`wharf abort`); traffic went back.
    Aborted,
    /// Replaced later by `wharf rollback` or drained: no longer serving.
    Retired,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Succeeded => "succeeded",
            Outcome::RolledBack => "rolled back",
            Outcome::Aborted => "aborted",
            Outcome::Retired => "retired",
        })
    }
}

/// Where a deployment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Working through its steps.
    InProgress,
    /// Held at an approval gate until `wharf promote` or `wharf abort`.
    AwaitingApproval,
    /// Moving traffic back and removing itself.
    RollingBack,
    /// Done: see the outcome.
    Finished,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::InProgress => "in progress",
            Status::AwaitingApproval => "awaiting approval",
            Status::RollingBack => "rolling back",
            Status::Finished => "finished",
        })
    }
}

/// One deployment of one service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// `{env}-{YYYYMMDD-HHMMSS}Z`
    pub id: String,
    pub app: String,
    pub env: String,
    pub service: String,
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The platform the image is for (`linux/arm64`): its tasks run there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    pub strategy: StrategyKind,
    /// The deployment serving before this one (traffic returns there on rollback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// The plan, fixed when the deployment starts (a changed manifest does not change it).
    pub steps: Vec<Step>,
    /// Index of the step being executed (== steps.len() when all are done).
    pub step: usize,
    /// When the current step started (ms since the epoch), for bakes and bounded waits.
    pub step_started_ms: i64,
    pub status: Status,
    /// Percent of the service's default traffic on this deployment.
    pub weight: u32,
    pub started_ms: i64,
    pub updated_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Set by `wharf promote` while awaiting approval.
    #[serde(default)]
    pub approved: bool,
    /// Set by `wharf abort`: the controller rolls back at its next look.
    #[serde(default)]
    pub abort_requested: bool,
    /// When it was retired: which of its tasks acknowledged the drain POST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drained: Option<crate::reports::Drained>,
    /// The service's settings when the deployment started ([`service_digest`]): resuming with
    /// different ones is refused rather than mixing two manifests in one deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_digest: Option<String>,
    /// The deployment's timeline: when it reached each step and status (`wharf diagnose`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marks: Vec<Mark>,
    /// What the runtime made for this deployment and that does not change while it lives, by
    /// kind (`task-definition`, `target-group`: ARNs on AWS). The target's store fills it in on
    /// save and reads it back on load, so a resumed deployment does not look them up again.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub refs: BTreeMap<String, String>,
}

/// One moment of a deployment's timeline: the phase it reached, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    pub at_ms: i64,
    pub what: String,
}

/// How many marks a record keeps (the first and the latest): a deployment waiting long at one
/// step adds none, so only a pathological plan reaches it.
pub const MARKS_KEPT: usize = 64;

/// A stable fingerprint of a service's effective settings (FNV-1a over their JSON).
pub fn service_digest(service: &wharf_manifest::Service) -> String {
    let json = serde_json::to_vec(service).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in json {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl Record {
    pub fn current_step(&self) -> Option<&Step> {
        self.steps.get(self.step)
    }

    pub fn is_finished(&self) -> bool {
        self.status == Status::Finished
    }

    /// A deployment that rolled back is an error the command ends with (its reason, exit 5);
    /// any other record is the command's result.
    pub fn into_result(self) -> Result<Record, crate::EngineError> {
        if self.outcome == Some(Outcome::RolledBack) {
            return Err(crate::EngineError::RolledBack {
                service: self.service,
                id: self.id,
                reason: self.reason.unwrap_or_default(),
            });
        }
        Ok(self)
    }

    /// Adds the phase reached to the timeline, unless it is the latest mark already.
    pub fn mark(&mut self, now_ms: i64) {
        if self.status == Status::InProgress && self.current_step().is_none() {
            return; // past the last step, about to finish: the finish is the next mark
        }
        let what = match (&self.reason, self.status) {
            (Some(r), Status::Finished | Status::RollingBack) => format!("{}: {r}", self.phase()),
            _ => self.phase(),
        };
        if self.marks.last().is_some_and(|m| m.what == what) {
            return;
        }
        if self.marks.len() >= MARKS_KEPT {
            self.marks.remove(1);
        }
        self.marks.push(Mark {
            at_ms: now_ms,
            what,
        });
    }

    /// The phase as users read it: the current step, or the status when none applies.
    pub fn phase(&self) -> String {
        match (self.status, self.current_step()) {
            (Status::InProgress | Status::AwaitingApproval, Some(s)) => s.to_string(),
            (Status::Finished, _) => self
                .outcome
                .map_or_else(|| "finished".into(), |o| o.to_string()),
            (status, _) => status.to_string(),
        }
    }
}

//! `wharf diagnose`: one screen answering "what went wrong and what do I do" for a deployment
//! — its timeline from the record, the failing signal, the evidence the runtime has (stop
//! reasons, service events, target health, alarms, the tasks' last log lines, failed stacks)
//! and the catalog's rules that recognise it, each with its cause and fix.
//!
//! Written once over the engine's [`Target`]: the simulator, the local Docker target and AWS
//! hand over their evidence through [`Target::evidence`] and [`Target::stack_evidence`].

pub mod catalog;
pub mod docs;
pub mod report;
pub mod rule;
pub mod stack;

use std::sync::Mutex;

use wharf_engine::{
    Clue, EngineError, LogQuery, LogSource, Outcome, Record, Source, Target, TargetError,
};
use wharf_manifest::Service;

pub use report::{Diagnosis, Report};
pub use rule::{explain, Finding, Rule};
pub use stack::{classify, Cause};

/// How many of a deployment's last log lines are read as evidence.
pub const LOG_LINES: u32 = 60;

/// Diagnoses `service`'s deployment `deployment` (None: its latest).
pub async fn diagnose<T: Target>(
    target: &T,
    service: &Service,
    deployment: Option<&str>,
) -> Result<Diagnosis, EngineError> {
    let records = target
        .list(&service.name)
        .await
        .map_err(|e| EngineError::target(format!("read the records of {}", service.name), e))?;
    let record = match deployment {
        Some(id) => Some(records.iter().find(|r| r.id == id).ok_or_else(|| {
            EngineError::UnknownDeployment {
                service: service.name.clone(),
                id: id.to_owned(),
            }
        })?),
        None => records.iter().max_by_key(|r| r.started_ms),
    };
    let Some(record) = record else {
        return Ok(Diagnosis::empty(&service.name));
    };
    let mut notes = Vec::new();
    let mut clues = target.evidence(service, &record.id).await.map_err(|e| {
        EngineError::target(format!("read what the runtime has of {}", record.id), e)
    })?;
    if let Some(reason) = failing_signal(record) {
        clues.push(Clue::new(Source::Record, reason).at(record.finished_ms));
    }
    match last_lines(target, service, &record.id).await {
        Ok(lines) => clues.extend(lines),
        Err(e) => notes.push(format!("the tasks' logs could not be read: {e}")),
    }
    let rules = catalog::rules();
    let findings = explain(&rules, &clues, Some(service));
    Ok(Diagnosis::new(
        &service.name,
        record,
        clues,
        findings,
        notes,
    ))
}

/// Diagnoses the environment's stacks (their failed resources).
pub async fn diagnose_stacks<T: Target>(target: &T) -> Result<Vec<Finding>, EngineError> {
    let clues = target
        .stack_evidence()
        .await
        .map_err(|e| EngineError::target("read the environment's stacks", e))?;
    Ok(explain(&catalog::rules(), &clues, None))
}

/// Whether `wharf diagnose` without a service looks at this service: its latest deployment did
/// not succeed, or is not finished.
pub fn needs_look(records: &[Record]) -> bool {
    records
        .iter()
        .max_by_key(|r| r.started_ms)
        .is_some_and(|r| !r.is_finished() || r.outcome == Some(Outcome::RolledBack))
}

/// Why the deployment failed or where it stands, as its record says (None: it succeeded
/// without a word).
fn failing_signal(r: &Record) -> Option<String> {
    match (&r.reason, r.outcome) {
        (Some(reason), Some(Outcome::RolledBack | Outcome::Aborted)) => Some(reason.clone()),
        (Some(reason), None) => Some(reason.clone()),
        _ => None,
    }
}

/// The deployment's tasks' last lines, oldest first.
async fn last_lines<T: Target>(
    target: &T,
    service: &Service,
    deployment: &str,
) -> Result<Vec<Clue>, TargetError> {
    let lines = Mutex::new(Vec::new());
    let query = LogQuery {
        deployment: Some(deployment),
        tail: Some(LOG_LINES),
        ..LogQuery::default()
    };
    target
        .logs(LogSource::Service(service), query, &|l| {
            lines.lock().unwrap_or_else(|p| p.into_inner()).push(
                Clue::new(Source::Log, l.line)
                    .at(l.timestamp_ms)
                    .task(l.source),
            );
        })
        .await?;
    Ok(lines.into_inner().unwrap_or_else(|p| p.into_inner()))
}

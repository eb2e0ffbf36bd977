//! `wharf gc`: removes what no deployment that serves needs, under the service's lock. Two
//! kinds of leftovers: succeeded deployments older than the ones `drain.keep` keeps (after
//! `keep` was lowered, say), and deployments whose resources the runtime still has although
//! their record says they are gone — a rollback or a drain that died half-way, a deploy killed
//! before its first record, resources made by hand with wharf's names. An unfinished
//! deployment is left alone: `--resume` or `abort` finishes it.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;
use wharf_manifest::Service;

use crate::controller::{live, target_err, Engine};
use crate::error::EngineError;
use crate::target::{Clock, Target};

/// One deployment `gc` removed (or would remove, on a dry run), and why.
#[derive(Debug, Clone, Serialize)]
pub struct Collected {
    pub service: String,
    pub id: String,
    pub reason: String,
}

impl fmt::Display for Collected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.service, self.id, self.reason)
    }
}

impl<T: Target, C: Clock> Engine<'_, T, C> {
    /// Finds the service's leftovers and, unless `dry_run`, drains and removes each.
    pub async fn gc(
        &self,
        service: &Service,
        dry_run: bool,
    ) -> Result<Vec<Collected>, EngineError> {
        let name = &service.name;
        self.lock(name).await?;
        let result = self.collect(service, dry_run).await;
        let _ = self.target.unlock(name, &self.holder).await;
        result
    }

    async fn collect(
        &self,
        service: &Service,
        dry_run: bool,
    ) -> Result<Vec<Collected>, EngineError> {
        let name = &service.name;
        let records = self
            .target
            .list(name)
            .await
            .map_err(target_err(format!("read the records of {name}")))?;
        let present = self
            .target
            .present(service)
            .await
            .map_err(target_err(format!(
                "list the deployments of {name} the runtime has"
            )))?;
        let serving = live(&records);
        let keep = service.deploy.drain.keep as usize;
        // The newest serving deployment plus `keep` older ones stay.
        let kept: BTreeSet<&str> = serving
            .iter()
            .rev()
            .take(keep + 1)
            .map(|r| r.id.as_str())
            .collect();
        let open: BTreeSet<&str> = records
            .iter()
            .filter(|r| !r.is_finished())
            .map(|r| r.id.as_str())
            .collect();
        let mut found = Vec::new();
        for r in &serving {
            if !kept.contains(r.id.as_str()) {
                found.push((
                    r.id.clone(),
                    format!("older than the {keep} previous deployment(s) drain.keep keeps"),
                ));
            }
        }
        for id in &present {
            if kept.contains(id.as_str())
                || open.contains(id.as_str())
                || found.iter().any(|(f, _)| f == id)
            {
                continue;
            }
            let reason = match records.iter().find(|r| &r.id == id) {
                Some(r) => format!(
                    "{} but its resources are still there",
                    r.outcome
                        .map_or_else(|| "finished".to_owned(), |o| o.to_string())
                ),
                None => "resources with no deployment record".to_owned(),
            };
            found.push((id.clone(), reason));
        }
        let mut collected = Vec::new();
        for (id, reason) in found {
            if !dry_run {
                self.retire(service, &id).await?;
            }
            collected.push(Collected {
                service: name.clone(),
                id,
                reason,
            });
        }
        Ok(collected)
    }
}

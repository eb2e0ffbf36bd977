//! The simulator's records, asks and locks, in memory.

use super::SimTarget;
use crate::holder::Holder;
use crate::record::Record;
use crate::runs::RunRecord;
use crate::target::{Lock, Store, TargetError};

impl SimTarget {
    /// Lock renewals the store has had.
    pub fn renewals(&self) -> usize {
        self.st().renewals
    }

    /// Records the store has been asked for.
    pub fn loads(&self) -> usize {
        self.st().loads
    }
}

impl Store for SimTarget {
    async fn save(&self, record: &Record) -> Result<(), TargetError> {
        let mut st = self.st();
        let list = st.records.entry(record.service.clone()).or_default();
        match list.iter_mut().find(|r| r.id == record.id) {
            Some(r) => *r = record.clone(),
            None => list.push(record.clone()),
        }
        Ok(())
    }

    async fn load(&self, service: &str, id: &str) -> Result<Option<Record>, TargetError> {
        let mut st = self.st();
        st.loads += 1;
        Ok(st
            .records
            .get(service)
            .and_then(|l| l.iter().find(|r| r.id == id).cloned())
            .map(|r| Self::asked(&st, r)))
    }

    async fn list_readable(
        &self,
        service: &str,
    ) -> Result<(Vec<Record>, Vec<crate::Unreadable>), TargetError> {
        let st = self.st();
        let records = st
            .records
            .get(service)
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|r| Self::asked(&st, r))
            .collect();
        Ok((records, Vec::new()))
    }

    async fn ask(&self, service: &str, id: &str, ask: crate::Ask) -> Result<bool, TargetError> {
        let mut st = self.st();
        let known = st
            .records
            .get(service)
            .is_some_and(|l| l.iter().any(|r| r.id == id));
        if known {
            st.asks
                .entry((service.to_owned(), id.to_owned()))
                .or_default()
                .push(ask);
        }
        Ok(known)
    }

    async fn lock(
        &self,
        service: &str,
        holder: &Holder,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Result<Lock, Lock>, TargetError> {
        let mut st = self.st();
        if let Some(l) = st.locks.get(service) {
            if l.holder != *holder && l.expires_ms > now_ms {
                return Ok(Err(l.clone()));
            }
        }
        let l = Lock {
            service: service.into(),
            holder: holder.clone(),
            acquired_ms: now_ms,
            expires_ms: now_ms + lease_ms,
        };
        st.locks.insert(service.into(), l.clone());
        Ok(Ok(l))
    }

    async fn renew(
        &self,
        service: &str,
        holder: &Holder,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool, TargetError> {
        let mut st = self.st();
        st.renewals += 1;
        match st.locks.get_mut(service) {
            Some(l) if l.holder == *holder => {
                l.expires_ms = now_ms + lease_ms;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn unlock(&self, service: &str, holder: &Holder) -> Result<(), TargetError> {
        let mut st = self.st();
        if st.locks.get(service).is_some_and(|l| l.holder == *holder) {
            st.locks.remove(service);
        }
        Ok(())
    }

    async fn current_lock(&self, service: &str) -> Result<Option<Lock>, TargetError> {
        Ok(self.st().locks.get(service).cloned())
    }

    async fn force_unlock(&self, service: &str) -> Result<Option<Lock>, TargetError> {
        Ok(self.st().locks.remove(service))
    }

    async fn save_run(&self, run: &RunRecord) -> Result<(), TargetError> {
        let mut st = self.st();
        match st
            .run_records
            .iter_mut()
            .find(|r| r.job == run.job && r.run == run.run)
        {
            Some(r) => *r = run.clone(),
            None => st.run_records.push(run.clone()),
        }
        Ok(())
    }

    async fn last_run(&self, job: &str) -> Result<Option<RunRecord>, TargetError> {
        Ok(self
            .st()
            .run_records
            .iter()
            .filter(|r| r.job == job)
            .max_by_key(|r| (r.started_ms, r.run.clone()))
            .cloned())
    }
}

//! The service's lock as the engine takes it: a dead holder of this machine released first,
//! deployment ids allocated while holding it, renewed by a heartbeat while a step works (a
//! step may outlast the lease), released at the end unless the process was (as if) killed.

use wharf_manifest::Service;

use crate::controller::{target_err, Engine};
use crate::error::EngineError;
use crate::events::Event;
use crate::record::Record;
use crate::target::{Clock, Lock, Target};

impl<T: Target, C: Clock> Engine<'_, T, C> {
    /// Takes the service's lock. A lock whose holder was a process of this machine that no
    /// longer runs (killed, crashed) is released first, so `--resume`, `abort` and the next
    /// deploy work at once instead of after the lease.
    pub(crate) async fn lock(&self, service: &str) -> Result<(), EngineError> {
        let held = match self.try_lock(service).await? {
            Ok(()) => return Ok(()),
            Err(held) => held,
        };
        if held.holder.is_dead_here() {
            self.target
                .unlock(service, &held.holder)
                .await
                .map_err(target_err("release a dead process's lock"))?;
            self.events.emit(Event::LockReleased {
                service: service.to_owned(),
                holder: held.holder.to_string(),
            });
            if self.try_lock(service).await?.is_ok() {
                return Ok(());
            }
        }
        Err(EngineError::Locked {
            service: service.to_owned(),
            holder: held.holder.to_string(),
            since: format_ms(held.acquired_ms),
        })
    }

    async fn try_lock(&self, service: &str) -> Result<Result<(), Lock>, EngineError> {
        let now = self.clock.now_ms();
        Ok(self
            .target
            .lock(service, &self.holder, now, self.options.lease_ms)
            .await
            .map_err(target_err("take the deployment lock"))?
            .map(|_| ()))
    }

    /// A deployment id the service has not used yet: `{env}-{YYYYMMDD-HHMMSS}Z` of now, or
    /// of the next second when this one is taken (two deploys or rollbacks in one second).
    pub async fn fresh_id(
        &self,
        app: &str,
        env: &str,
        service: &Service,
    ) -> Result<String, EngineError> {
        let names = wharf_manifest::Names::new(app, env);
        loop {
            let id = names.deployment_id(self.clock.now_ms().div_euclid(1000));
            let taken = self
                .target
                .load(&service.name, &id)
                .await
                .map_err(target_err("read the records"))?;
            if taken.is_none() {
                return Ok(id);
            }
            self.clock.sleep(300).await;
        }
    }

    /// Runs `work` (one step) while renewing the service's lock every third of its lease, so
    /// a step longer than the lease (a retire waiting out its drain) keeps the lock. A renewal
    /// the store refuses means someone else holds it now: the step stops there, resumable.
    /// A renewal that fails to reach the store is tried again at the next beat.
    pub(crate) async fn with_heartbeat<R>(
        &self,
        service: &str,
        work: impl std::future::Future<Output = Result<R, EngineError>>,
    ) -> Result<R, EngineError> {
        let every = (self.options.lease_ms / 3).max(1);
        let beat = async {
            let mut last = self.clock.now_ms();
            loop {
                self.clock.tick().await;
                let now = self.clock.now_ms();
                if now - last < every {
                    continue;
                }
                match self
                    .target
                    .renew(service, &self.holder, now, self.options.lease_ms)
                    .await
                {
                    Ok(true) => last = now,
                    Ok(false) => {
                        return EngineError::LockLost {
                            service: service.to_owned(),
                        }
                    }
                    Err(_) => {}
                }
            }
        };
        tokio::pin!(work);
        tokio::pin!(beat);
        tokio::select! {
            biased;
            done = &mut work => done,
            lost = &mut beat => Err(lost),
        }
    }

    /// Releases the lock, except after an injected kill: a killed process releases nothing.
    pub(crate) async fn unlock_unless_killed(
        &self,
        service: &str,
        result: &Result<Record, EngineError>,
    ) {
        if !matches!(result, Err(EngineError::Injected { .. })) {
            let _ = self.target.unlock(service, &self.holder).await;
        }
    }
}

/// A Unix time in ms as `YYYY-MM-DD HH:MM:SSZ`.
fn format_ms(ms: i64) -> String {
    let id = wharf_manifest::Names::new("", "").deployment_id(ms / 1000);
    // "-YYYYMMDD-HHMMSSZ"
    let d = &id[1..];
    format!(
        "{}-{}-{} {}:{}:{}Z",
        &d[0..4],
        &d[4..6],
        &d[6..8],
        &d[9..11],
        &d[11..13],
        &d[13..15]
    )
}

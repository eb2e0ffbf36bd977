//! Going back: `wharf rollback` returns traffic to the deployment before the serving one (at
//! once when it still runs, else by deploying its image again), and `wharf drain` removes one
//! deployment that no longer serves new users. Both under the service's lock.

use wharf_manifest::{Service, StrategyKind};

use crate::controller::{live, target_err, Engine, Request};
use crate::error::EngineError;
use crate::events::Event;
use crate::record::{Outcome, Record};
use crate::target::{Clock, Target};

impl<T: Target, C: Clock> Engine<'_, T, C> {
    /// Returns traffic to the deployment before the serving one. When it still runs (affinity
    /// keeps old ones), traffic moves at once and the current one is drained; otherwise its
    /// image is deployed again as `new_id` with the service's strategy (None: a fresh id,
    /// chosen under the lock, so two rollbacks in one second never share one).
    pub async fn rollback(
        &self,
        app: &str,
        env: &str,
        service: &Service,
        new_id: Option<&str>,
    ) -> Result<Record, EngineError> {
        let name = &service.name;
        self.lock(name).await?;
        let result = self.rollback_locked(app, env, service, new_id).await;
        self.unlock_unless_killed(name, &result).await;
        result
    }

    async fn rollback_locked(
        &self,
        app: &str,
        env: &str,
        service: &Service,
        new_id: Option<&str>,
    ) -> Result<Record, EngineError> {
        let name = &service.name;
        let records = self.settled_records(name).await?;
        let live_now = live(&records);
        let current = live_now.last().copied().ok_or(EngineError::NoPrevious {
            service: name.clone(),
        })?;
        // The newest earlier deployment that succeeded (retired or not).
        let earlier = records
            .iter()
            .rev()
            .find(|r| {
                r.id != current.id
                    && r.started_ms <= current.started_ms
                    && matches!(r.outcome, Some(Outcome::Succeeded | Outcome::Retired))
            })
            .ok_or(EngineError::NoPrevious {
                service: name.clone(),
            })?;
        if earlier.outcome == Some(Outcome::Succeeded) {
            // Still running: switch now, then drain the current one.
            if service.deploy.strategy == StrategyKind::Affinity {
                self.target
                    .make_default(service, &earlier.id)
                    .await
                    .map_err(target_err(format!("make {} the default", earlier.id)))?;
            } else {
                self.target
                    .set_weights(service, &[(earlier.id.clone(), 100)])
                    .await
                    .map_err(target_err(format!("return traffic to {}", earlier.id)))?;
            }
            self.events.emit(Event::Weights {
                weights: vec![(earlier.id.clone(), 100)],
            });
            self.retire(service, &current.id).await?;
            let mut back = earlier.clone();
            back.weight = 100;
            back.reason = Some(format!("serving again after rollback from {}", current.id));
            self.save(&mut back).await?;
            return Ok(back);
        }
        let image = earlier.image.clone();
        let digest = earlier.digest.clone();
        let platform = earlier.platform.clone();
        let id = match new_id {
            Some(id) => id.to_owned(),
            None => self.fresh_id(app, env, service).await?,
        };
        self.deploy_locked(&Request {
            app,
            env,
            service,
            id: &id,
            image: &image,
            digest: digest.as_deref(),
            platform: platform.as_deref(),
        })
        .await
    }

    /// Drains and removes one deployment that is not the one serving new users.
    pub async fn drain(&self, service: &Service, id: &str) -> Result<Record, EngineError> {
        let name = &service.name;
        self.lock(name).await?;
        let result = async {
            let records = self
                .target
                .list(name)
                .await
                .map_err(target_err(format!("read the records of {name}")))?;
            let live_now = live(&records);
            let target = records.iter().find(|r| r.id == id).ok_or_else(|| {
                EngineError::UnknownDeployment {
                    service: name.clone(),
                    id: id.to_owned(),
                }
            })?;
            if live_now.last().is_some_and(|r| r.id == id) {
                return Err(EngineError::DrainingDefault {
                    service: name.clone(),
                    id: id.to_owned(),
                });
            }
            let mut drained = target.clone();
            self.retire(service, id).await?;
            drained.outcome = Some(Outcome::Retired);
            Ok(drained)
        }
        .await;
        self.unlock_unless_killed(name, &result).await;
        result
    }
}

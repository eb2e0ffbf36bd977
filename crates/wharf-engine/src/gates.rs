//! The gates and the undo: bounded health waits, the alarm gate (5xx share, stopped tasks),
//! traffic shifts, retiring a deployment, and rolling back (traffic first, then removal).

use wharf_manifest::{Service, StrategyKind};

use crate::controller::{target_err, Engine, Progress};
use crate::error::EngineError;
use crate::events::Event;
use crate::record::{Outcome, Record, Status};
use crate::target::{Clock, Target};

impl<T: Target, C: Clock> Engine<'_, T, C> {
    /// Waits (bounded) for `count` healthy targets; fails early when tasks keep stopping.
    pub(crate) async fn wait_healthy(
        &self,
        service: &Service,
        r: &Record,
        count: u32,
        elapsed: i64,
    ) -> Result<Progress, EngineError> {
        let h = self
            .target
            .health(service, &r.id)
            .await
            .map_err(target_err(format!("read the health of {}", r.id)))?;
        self.events.emit(Event::Health {
            id: r.id.clone(),
            healthy: h.healthy,
            running: h.running,
            wanted: count,
        });
        if h.healthy >= count {
            return Ok(Progress::Done);
        }
        if let Some(why) = h.failed {
            return Ok(Progress::Fail(why));
        }
        let limit = self.health_limit_ms(service);
        if h.stopped.len() as u32 >= count.max(1) * 2 {
            return Ok(Progress::Fail(format!(
                "tasks keep stopping: {}",
                h.stopped.last().cloned().unwrap_or_default()
            )));
        }
        if elapsed >= limit {
            let why = h
                .stopped
                .last()
                .map(|s| format!("; last stopped task: {s}"))
                .unwrap_or_default();
            return Ok(Progress::Fail(format!(
                "only {} of {count} targets healthy after {}s{why}",
                h.healthy,
                limit / 1000
            )));
        }
        self.events.emit(Event::Waiting {
            id: r.id.clone(),
            what: format!("{count} healthy targets"),
            elapsed_ms: elapsed,
            limit_ms: limit,
        });
        Ok(Progress::Wait)
    }

    /// Health checks need `healthy` passes `interval` apart, after the grace period and start.
    pub(crate) fn health_limit_ms(&self, service: &Service) -> i64 {
        let h = &service.health;
        let checks = (h.healthy + h.unhealthy + 2) as u64 * h.interval.as_millis();
        (h.grace.map_or(0, |g| g.as_millis()) + checks + self.options.start_allowance_ms) as i64
    }

    /// The alarm gate: the new deployment's 5xx share over the window, and tasks that stopped
    /// since the deployment became healthy. Returns why it failed.
    pub(crate) async fn alarm_gate(
        &self,
        service: &Service,
        r: &Record,
    ) -> Result<Option<String>, EngineError> {
        let policy = &service.deploy.rollback;
        let req = self
            .target
            .requests(service, &r.id, policy.window.as_millis())
            .await
            .map_err(target_err("read request metrics"))?;
        let pct = req.error_percent();
        self.events.emit(Event::Gate {
            id: r.id.clone(),
            gate: "5xx %".into(),
            value: pct,
            threshold: policy.max_5xx_percent,
            requests: req.total,
        });
        if req.total >= u64::from(policy.min_requests.max(1)) && pct > policy.max_5xx_percent {
            return Ok(Some(format!(
                "{pct:.1}% of {} requests answered 5xx over {} (limit {}%)",
                req.total, policy.window, policy.max_5xx_percent
            )));
        }
        let h = self
            .target
            .health(service, &r.id)
            .await
            .map_err(target_err("read health"))?;
        if let Some(why) = h.failed {
            return Ok(Some(why));
        }
        if let Some(alarm) = h.alarms.first() {
            return Ok(Some(format!("alarm {alarm}")));
        }
        let wanted = service.count.max(1);
        if !h.stopped.is_empty() && h.healthy < wanted {
            return Ok(Some(format!(
                "a task stopped: {} ({} of {wanted} healthy)",
                h.stopped.last().cloned().unwrap_or_default(),
                h.healthy
            )));
        }
        Ok(None)
    }

    pub(crate) async fn shift(
        &self,
        service: &Service,
        r: &mut Record,
        percent: u32,
    ) -> Result<(), EngineError> {
        let mut weights = vec![(r.id.clone(), percent)];
        if let Some(prev) = &r.previous {
            if percent < 100 {
                weights.push((prev.clone(), 100 - percent));
            }
        }
        self.target
            .set_weights(service, &weights)
            .await
            .map_err(target_err(format!("shift {percent}% to {}", r.id)))?;
        r.weight = percent;
        self.events.emit(Event::Weights { weights });
        Ok(())
    }

    pub(crate) async fn retire(&self, service: &Service, id: &str) -> Result<(), EngineError> {
        // A drain that cannot be delivered is not a reason to keep the deployment: the
        // deregistration delay still lets requests in flight finish.
        let drained = match self.target.drain(service, id).await {
            Ok(d) => d,
            Err(e) => {
                self.events.emit(Event::Progress {
                    service: service.name.clone(),
                    message: format!(
                        "{id}: the drain POST failed ({e}); draining by the deregistration delay"
                    ),
                });
                None
            }
        };
        if let Some(d) = &drained {
            self.events.emit(Event::Drained {
                id: id.to_owned(),
                drained: d.clone(),
            });
        }
        self.target
            .retire(service, id)
            .await
            .map_err(target_err(format!("drain {id}")))?;
        if let Ok(Some(mut old)) = self.target.load(&service.name, id).await {
            let served = old.outcome == Some(Outcome::Succeeded);
            if served || drained.is_some() {
                if served {
                    old.outcome = Some(Outcome::Retired);
                }
                old.drained = drained;
                old.updated_ms = self.clock.now_ms();
                self.save(&mut old).await?;
            }
        }
        self.events.emit(Event::Retired { id: id.to_owned() });
        Ok(())
    }

    pub(crate) async fn begin_rollback(
        &self,
        r: &mut Record,
        reason: &str,
    ) -> Result<(), EngineError> {
        r.status = Status::RollingBack;
        r.reason = Some(reason.to_owned());
        self.save(r).await?;
        self.events.emit(Event::RollingBack {
            id: r.id.clone(),
            reason: reason.to_owned(),
        });
        Ok(())
    }

    /// Traffic back to the previous deployment first, then the failed one is removed.
    pub(crate) async fn roll_back(
        &self,
        service: &Service,
        r: &mut Record,
    ) -> Result<(), EngineError> {
        let t = self.target;
        if let Some(prev) = r.previous.clone() {
            if r.strategy == StrategyKind::Rolling {
                t.scale(service, &prev, service.count.max(1))
                    .await
                    .map_err(target_err(format!("scale {prev} back up")))?;
                let started = self.clock.now_ms();
                loop {
                    let h = t
                        .health(service, &prev)
                        .await
                        .map_err(target_err("read health"))?;
                    if h.healthy >= service.count.max(1)
                        || self.clock.now_ms() - started > self.health_limit_ms(service)
                    {
                        break;
                    }
                    self.clock.sleep(self.options.poll_ms).await;
                }
                t.set_weights(service, &[(prev.clone(), 100)])
                    .await
                    .map_err(target_err(format!("return traffic to {prev}")))?;
            } else if r.strategy == StrategyKind::Affinity {
                t.make_default(service, &prev)
                    .await
                    .map_err(target_err(format!("make {prev} the default again")))?;
            } else {
                t.set_weights(service, &[(prev.clone(), 100)])
                    .await
                    .map_err(target_err(format!("return traffic to {prev}")))?;
            }
            self.events.emit(Event::Weights {
                weights: vec![(prev, 100)],
            });
        } else {
            t.set_weights(service, &[])
                .await
                .map_err(target_err("remove the failed deployment's traffic"))?;
            self.events.emit(Event::Weights { weights: vec![] });
        }
        r.weight = 0;
        t.set_test_route(service, None)
            .await
            .map_err(target_err("remove the test route"))?;
        t.retire(service, &r.id)
            .await
            .map_err(target_err(format!("remove {}", r.id)))?;
        let outcome = if r.abort_requested {
            Outcome::Aborted
        } else {
            Outcome::RolledBack
        };
        let reason = r.reason.clone();
        self.finish(service, r, outcome, reason).await
    }
}

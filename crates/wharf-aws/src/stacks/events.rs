//! Following a stack operation: what it reports while it runs ([`StackEvent`]), the bounded
//! wait for it to leave its in-progress state with each resource's change on the way, and the
//! first failed resource, classified into a cause and an action.

use std::fmt;
use std::time::Duration;

use aws_sdk_cloudformation::types::{ResourceStatus, StackStatus};
use serde::Serialize;

use super::status::{in_progress, succeeded};
use super::{is_missing_stack, Stacks};
use crate::classify::{classify, Cause};
use crate::error::AwsError;
use crate::StackError;

/// What a stack operation reports while it runs.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum StackEvent {
    /// A wait began or is still going on.
    Waiting {
        stack: String,
        what: String,
        elapsed_s: u64,
        limit_s: u64,
    },
    /// A resource changed state.
    Resource {
        stack: String,
        logical_id: String,
        resource_type: String,
        status: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// The stack reached a state wharf does not wait past.
    Status { stack: String, status: String },
    /// Something worth knowing that did not stop the operation.
    Warning { stack: String, message: String },
    /// A template over the inline limit went to the environment's template bucket.
    Uploaded {
        stack: String,
        bytes: usize,
        url: String,
    },
}

impl fmt::Display for StackEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StackEvent::Waiting {
                stack,
                what,
                elapsed_s,
                limit_s,
            } => write!(
                f,
                "{stack}: waiting for {what} ({elapsed_s}s of at most {limit_s}s)"
            ),
            StackEvent::Resource {
                stack,
                logical_id,
                resource_type,
                status,
                reason,
            } => {
                write!(f, "{stack}: {logical_id} ({resource_type}) {status}")?;
                if let Some(r) = reason {
                    write!(f, ": {r}")?;
                }
                Ok(())
            }
            StackEvent::Status { stack, status } => write!(f, "{stack}: {status}"),
            StackEvent::Warning { stack, message } => write!(f, "{stack}: warning: {message}"),
            StackEvent::Uploaded { stack, bytes, url } => {
                write!(f, "{stack}: template of {bytes} bytes uploaded to {url}")
            }
        }
    }
}

/// Where events go; the CLI renders them.
pub type Sink<'a> = &'a (dyn Fn(StackEvent) + Send + Sync);

/// The first resource that failed in an operation, and what to do.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: String,
    pub cause: Cause,
    pub action: String,
}

impl Failure {
    fn new(logical_id: &str, resource_type: &str, status: &str, reason: &str) -> Failure {
        let cause = classify(reason);
        Failure {
            logical_id: logical_id.to_owned(),
            resource_type: resource_type.to_owned(),
            status: status.to_owned(),
            reason: reason.to_owned(),
            cause,
            action: cause.action().to_owned(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}) {}: {} [{}]",
            self.logical_id, self.resource_type, self.status, self.reason, self.cause
        )
    }
}

impl Stacks<'_> {
    /// Waits until the stack leaves its `_IN_PROGRESS` state, reporting resource events newer
    /// than `since` (seconds since the epoch); an error when it ends anywhere but a success.
    pub async fn wait_stack(&self, name: &str, what: &str, since: i64) -> Result<(), StackError> {
        let started = tokio::time::Instant::now();
        let mut interval = self.poll;
        let mut seen = std::collections::HashSet::new();
        loop {
            let events = self.events_since(name, since).await?;
            for e in &events {
                if seen.insert(e.id.clone()) {
                    (self.events)(StackEvent::Resource {
                        stack: name.to_owned(),
                        logical_id: e.logical_id.clone(),
                        resource_type: e.resource_type.clone(),
                        status: e.status.clone(),
                        reason: e.reason.clone(),
                    });
                }
            }
            let status = match self.describe(name).await? {
                None => StackStatus::DeleteComplete,
                Some(s) => s.status,
            };
            if !in_progress(&status) {
                (self.events)(StackEvent::Status {
                    stack: name.to_owned(),
                    status: status.as_str().to_owned(),
                });
                let ok = succeeded(&status)
                    || (status == StackStatus::DeleteComplete && what.contains("deletion"));
                if ok {
                    return Ok(());
                }
                return Err(StackError::Failed {
                    stack: name.to_owned(),
                    status: status.as_str().to_owned(),
                    failure: first_failure(&events).map(Box::new),
                });
            }
            self.sleep(name, what, started, self.timeout, &mut interval)
                .await?;
        }
    }

    pub(super) async fn sleep(
        &self,
        stack: &str,
        what: &str,
        started: tokio::time::Instant,
        limit: Duration,
        interval: &mut Duration,
    ) -> Result<(), StackError> {
        let elapsed = started.elapsed();
        if elapsed >= limit {
            return Err(StackError::Timeout {
                stack: stack.to_owned(),
                what: what.to_owned(),
                limit_s: limit.as_secs(),
            });
        }
        (self.events)(StackEvent::Waiting {
            stack: stack.to_owned(),
            what: what.to_owned(),
            elapsed_s: elapsed.as_secs(),
            limit_s: limit.as_secs(),
        });
        tokio::time::sleep((*interval).min(limit - elapsed)).await;
        *interval = (*interval * 3 / 2).min(self.poll * 5);
        Ok(())
    }

    /// The stack's events at or after `since`, oldest first.
    pub async fn events_since(&self, name: &str, since: i64) -> Result<Vec<Event>, AwsError> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        'pages: loop {
            let out = match self
                .cfn
                .describe_stack_events()
                .stack_name(name)
                .set_next_token(token.take())
                .send()
                .await
            {
                Ok(o) => o,
                Err(e) => {
                    let e = AwsError::from_sdk(format!("read the events of stack {name}"), e);
                    if is_missing_stack(&e) {
                        break;
                    }
                    return Err(e);
                }
            };
            for e in out.stack_events() {
                let at = e.timestamp().map_or(0, |t| t.secs());
                if at < since {
                    break 'pages;
                }
                all.push(Event {
                    id: e.event_id().unwrap_or_default().to_owned(),
                    logical_id: e.logical_resource_id().unwrap_or_default().to_owned(),
                    resource_type: e.resource_type().unwrap_or_default().to_owned(),
                    status: e
                        .resource_status()
                        .map_or("UNKNOWN", ResourceStatus::as_str)
                        .to_owned(),
                    reason: e.resource_status_reason().map(str::to_owned),
                    at,
                });
            }
            match out.next_token() {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        all.reverse();
        Ok(all)
    }
}

/// A stack event, as wharf uses it.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: String,
    pub logical_id: String,
    pub resource_type: String,
    pub status: String,
    pub reason: Option<String>,
    pub at: i64,
}

/// The oldest failure among `events` (oldest first) that is not a cancellation caused by it.
pub fn first_failure(events: &[Event]) -> Option<Failure> {
    events
        .iter()
        .filter(|e| e.status.ends_with("_FAILED"))
        .find(|e| {
            let r = e.reason.as_deref().unwrap_or_default();
            !r.contains("Resource creation cancelled") && !r.contains("Resource update cancelled")
        })
        .map(|e| {
            Failure::new(
                &e.logical_id,
                &e.resource_type,
                &e.status,
                e.reason.as_deref().unwrap_or("no reason given"),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(logical: &str, status: &str, reason: Option<&str>) -> Event {
        Event {
            id: format!("{logical}-{status}"),
            logical_id: logical.into(),
            resource_type: "AWS::X::Y".into(),
            status: status.into(),
            reason: reason.map(Into::into),
            at: 0,
        }
    }

    #[test]
    fn the_first_failure_skips_the_cancellations_it_caused() {
        let events = [
            ev("Vpc", "CREATE_COMPLETE", None),
            ev(
                "Cluster",
                "CREATE_FAILED",
                Some("Resource creation cancelled"),
            ),
            ev(
                "Listener",
                "CREATE_FAILED",
                Some("Certificate 'arn:aws:acm:x' not found"),
            ),
            ev("pulse-prod-baseline", "ROLLBACK_IN_PROGRESS", None),
        ];
        let f = first_failure(&events).expect("a failure");
        assert_eq!(f.logical_id, "Listener");
        assert_eq!(f.cause, Cause::Certificate);
        assert!(first_failure(&events[..2]).is_none());
    }
}

//! CloudFormation stacks through change sets: preview a change (`wharf plan`), apply it with
//! progress from the stack's events (`wharf up`), delete (`wharf down`). Every wait is bounded
//! and reports what it waits for; a failed operation names its first failed resource, with the
//! reason classified into a cause and an action.

use std::fmt;
use std::time::Duration;

use aws_sdk_cloudformation::types::{
    Capability, ChangeSetStatus, ChangeSetType, ResourceStatus, StackStatus, Tag,
};
use aws_sdk_cloudformation::Client;
use serde::Serialize;

use crate::classify::{classify, Cause};
use crate::error::{AwsError, ErrorKind};
use crate::StackError;

/// A stack wharf wants to exist with this template.
#[derive(Debug, Clone)]
pub struct StackSpec {
    pub name: String,
    /// The template as JSON (at most 51,200 bytes, CloudFormation's limit for a body).
    pub template_body: String,
    pub tags: Vec<(String, String)>,
}

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
        }
    }
}

/// Where events go; the CLI renders them.
pub type Sink<'a> = &'a (dyn Fn(StackEvent) + Send + Sync);

/// One resource's change in a change set.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceChange {
    /// Add, Modify, Remove, Import or Dynamic.
    pub action: String,
    pub logical_id: String,
    pub resource_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physical_id: Option<String>,
    /// For a modification: True, False or Conditional.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<String>,
}

/// A stack's pending change, from a change set.
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub stack: String,
    /// The stack exists already (the change set is an update).
    pub exists: bool,
    pub changes: Vec<ResourceChange>,
}

impl fmt::Display for Preview {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.exists { "update" } else { "create" };
        if self.changes.is_empty() {
            return writeln!(f, "{}: no changes", self.stack);
        }
        writeln!(
            f,
            "{} ({verb}, {} change{}):",
            self.stack,
            self.changes.len(),
            if self.changes.len() == 1 { "" } else { "s" }
        )?;
        for c in &self.changes {
            let sign = match c.action.as_str() {
                "Add" => "+",
                "Remove" => "-",
                "Modify" => "~",
                _ => "?",
            };
            write!(f, "  {sign} {} ({})", c.logical_id, c.resource_type)?;
            match c.replacement.as_deref() {
                Some("True") => write!(f, "  REPLACEMENT")?,
                Some("Conditional") => write!(f, "  replacement possible")?,
                _ => {}
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

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

/// What `apply` did to a stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    Created,
    Updated,
    Unchanged,
}

/// A stack as DescribeStacks shows it.
#[derive(Debug, Clone, Serialize)]
pub struct StackInfo {
    pub name: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Seconds since the epoch of the last update (or the creation).
    pub changed_at: i64,
    pub outputs: Vec<(String, String)>,
}

/// The stack operations, with their waits' settings.
pub struct Stacks<'a> {
    pub cfn: &'a Client,
    /// The first poll's interval; it grows to five times this.
    pub poll: Duration,
    /// The longest a stack operation may take.
    pub timeout: Duration,
    pub events: Sink<'a>,
}

impl<'a> Stacks<'a> {
    pub fn new(cfn: &'a Client, events: Sink<'a>) -> Self {
        Stacks {
            cfn,
            poll: Duration::from_secs(2),
            timeout: Duration::from_secs(60 * 60),
            events,
        }
    }

    /// The stack, or `None` when it does not exist.
    pub async fn describe(&self, name: &str) -> Result<Option<StackInfo>, AwsError> {
        let out = match self.cfn.describe_stacks().stack_name(name).send().await {
            Ok(o) => o,
            Err(e) => {
                let e = AwsError::from_sdk(format!("describe stack {name}"), e);
                return if is_missing_stack(&e) {
                    Ok(None)
                } else {
                    Err(e)
                };
            }
        };
        let Some(s) = out.stacks().first() else {
            return Ok(None);
        };
        let status = s.stack_status().map(|s| s.as_str()).unwrap_or("UNKNOWN");
        if status == "DELETE_COMPLETE" {
            return Ok(None);
        }
        Ok(Some(StackInfo {
            name: name.to_owned(),
            status: status.to_owned(),
            reason: s.stack_status_reason().map(str::to_owned),
            changed_at: s
                .last_updated_time()
                .or(s.creation_time())
                .map_or(0, |t| t.secs()),
            outputs: s
                .outputs()
                .iter()
                .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
                .collect(),
        }))
    }

    /// The change `apply` would make, from a change set that is then deleted.
    pub async fn preview(&self, spec: &StackSpec) -> Result<Preview, StackError> {
        let existing = self.describe(&spec.name).await?;
        refuse_unusable(&spec.name, existing.as_ref())?;
        let exists = has_resources(existing.as_ref());
        let id = self.create_change_set(spec, exists).await?;
        let changes = self.wait_change_set(&spec.name, &id).await;
        // A preview leaves nothing behind; for a new stack the change set made it exist in
        // REVIEW_IN_PROGRESS, so that goes too.
        self.discard_change_set(&id).await;
        if !exists {
            let _ = self.cfn.delete_stack().stack_name(&spec.name).send().await;
        }
        Ok(Preview {
            stack: spec.name.clone(),
            exists,
            changes: changes?.unwrap_or_default(),
        })
    }

    /// Creates or updates the stack through a change set and waits until it is done.
    pub async fn apply(&self, spec: &StackSpec) -> Result<(Applied, Preview), StackError> {
        let mut existing = self.describe(&spec.name).await?;
        if existing
            .as_ref()
            .is_some_and(|s| s.status.ends_with("_IN_PROGRESS") && s.status != "REVIEW_IN_PROGRESS")
        {
            self.wait_stack(&spec.name, "the operation in progress to finish", 0)
                .await?;
            existing = self.describe(&spec.name).await?;
        }
        refuse_unusable(&spec.name, existing.as_ref())?;
        let exists = has_resources(existing.as_ref());
        let id = self.create_change_set(spec, exists).await?;
        let Some(changes) = self.wait_change_set(&spec.name, &id).await? else {
            self.discard_change_set(&id).await;
            let preview = Preview {
                stack: spec.name.clone(),
                exists,
                changes: Vec::new(),
            };
            return Ok((Applied::Unchanged, preview));
        };
        let since = now_secs() - 1;
        self.cfn
            .execute_change_set()
            .change_set_name(&id)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(format!("execute the change set of {}", spec.name), e)
            })?;
        let verb = if exists { "update" } else { "creation" };
        self.wait_stack(&spec.name, &format!("the stack's {verb}"), since)
            .await?;
        let preview = Preview {
            stack: spec.name.clone(),
            exists,
            changes,
        };
        Ok((
            if exists {
                Applied::Updated
            } else {
                Applied::Created
            },
            preview,
        ))
    }

    /// The physical ids of the stack's resources of `resource_type` (none when the stack does
    /// not exist), through every page.
    pub async fn physical_ids(
        &self,
        name: &str,
        resource_type: &str,
    ) -> Result<Vec<String>, AwsError> {
        if self.describe(name).await?.is_none() {
            return Ok(Vec::new());
        }
        let mut ids = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .cfn
                .list_stack_resources()
                .stack_name(name)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| {
                    AwsError::from_sdk(format!("list the resources of stack {name}"), e)
                })?;
            ids.extend(
                out.stack_resource_summaries()
                    .iter()
                    .filter(|r| r.resource_type() == Some(resource_type))
                    .filter_map(|r| r.physical_resource_id().map(str::to_owned)),
            );
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(ids);
            }
        }
    }

    /// Deletes the stack (keeping `retain`, which only a DELETE_FAILED stack accepts) and waits.
    pub async fn delete(&self, name: &str, retain: &[String]) -> Result<bool, StackError> {
        if self.describe(name).await?.is_none() {
            return Ok(false);
        }
        let since = now_secs() - 1;
        let mut req = self.cfn.delete_stack().stack_name(name);
        if !retain.is_empty() {
            req = req.set_retain_resources(Some(retain.to_vec()));
        }
        if let Err(e) = req.send().await {
            let e = AwsError::from_sdk(format!("delete stack {name}"), e);
            // The call failed, but what counts is where the stack is: an emulator that deletes
            // synchronously reports a resource's trouble here and still removes the stack.
            if e.kind.is_transient() || self.describe(name).await?.is_some() {
                return Err(e.into());
            }
            (self.events)(StackEvent::Warning {
                stack: name.to_owned(),
                message: format!("AWS answered \"{}\", yet the stack is deleted", e.message),
            });
            return Ok(true);
        }
        self.wait_stack(name, "the stack's deletion", since).await?;
        Ok(true)
    }

    /// Best effort: a change set left behind only clutters the console.
    async fn discard_change_set(&self, id: &str) {
        let _ = self
            .cfn
            .delete_change_set()
            .change_set_name(id)
            .send()
            .await;
    }

    async fn create_change_set(&self, spec: &StackSpec, exists: bool) -> Result<String, AwsError> {
        let name = format!("wharf-{}", now_secs());
        let out = self
            .cfn
            .create_change_set()
            .stack_name(&spec.name)
            .change_set_name(&name)
            .change_set_type(if exists {
                ChangeSetType::Update
            } else {
                ChangeSetType::Create
            })
            .template_body(&spec.template_body)
            .capabilities(Capability::CapabilityNamedIam)
            .set_tags(Some(
                spec.tags
                    .iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect(),
            ))
            .description("wharf up")
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(format!("create a change set for stack {}", spec.name), e)
            })?;
        Ok(out.id().unwrap_or(&name).to_owned())
    }

    /// Waits for the change set; `None` when it holds no changes.
    async fn wait_change_set(
        &self,
        stack: &str,
        id: &str,
    ) -> Result<Option<Vec<ResourceChange>>, StackError> {
        let limit = Duration::from_secs(10 * 60);
        let started = tokio::time::Instant::now();
        let mut interval = self.poll;
        loop {
            let out = self
                .cfn
                .describe_change_set()
                .change_set_name(id)
                .send()
                .await
                .map_err(|e| {
                    AwsError::from_sdk(format!("describe the change set of {stack}"), e)
                })?;
            match out.status() {
                Some(ChangeSetStatus::CreateComplete) => break,
                Some(ChangeSetStatus::Failed) => {
                    let reason = out.status_reason().unwrap_or_default();
                    if is_empty_change_set(reason) {
                        return Ok(None);
                    }
                    return Err(StackError::ChangeSet {
                        stack: stack.to_owned(),
                        reason: reason.to_owned(),
                        cause: classify(reason),
                    });
                }
                _ => {}
            }
            self.sleep(stack, "the change set", started, limit, &mut interval)
                .await?;
        }
        let mut changes = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .cfn
                .describe_change_set()
                .change_set_name(id)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| {
                    AwsError::from_sdk(format!("describe the change set of {stack}"), e)
                })?;
            for c in out.changes() {
                let Some(r) = c.resource_change() else {
                    continue;
                };
                changes.push(ResourceChange {
                    action: r.action().map_or("?", |a| a.as_str()).to_owned(),
                    logical_id: r.logical_resource_id().unwrap_or_default().to_owned(),
                    resource_type: r.resource_type().unwrap_or_default().to_owned(),
                    physical_id: r.physical_resource_id().map(str::to_owned),
                    replacement: r.replacement().map(|x| x.as_str().to_owned()),
                });
            }
            match out.next_token() {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        Ok(Some(changes))
    }

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
                None => "DELETE_COMPLETE".to_owned(),
                Some(s) => s.status,
            };
            if !status.ends_with("_IN_PROGRESS") {
                (self.events)(StackEvent::Status {
                    stack: name.to_owned(),
                    status: status.clone(),
                });
                let ok = matches!(
                    StackStatus::from(status.as_str()),
                    StackStatus::CreateComplete
                        | StackStatus::UpdateComplete
                        | StackStatus::ImportComplete
                ) || (status == "DELETE_COMPLETE" && what.contains("deletion"));
                if ok {
                    return Ok(());
                }
                return Err(StackError::Failed {
                    stack: name.to_owned(),
                    status,
                    failure: first_failure(&events).map(Box::new),
                });
            }
            self.sleep(name, what, started, self.timeout, &mut interval)
                .await?;
        }
    }

    async fn sleep(
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

/// The stack exists with resources, so a change set updates it. One left in
/// REVIEW_IN_PROGRESS (by an interrupted preview) holds none: it is created, not updated.
fn has_resources(s: Option<&StackInfo>) -> bool {
    s.is_some_and(|s| s.status != "REVIEW_IN_PROGRESS")
}

/// Whether a stack in `status` must go through `wharf recover` before it can change.
pub fn needs_recovery(status: &str) -> bool {
    matches!(
        status,
        "ROLLBACK_COMPLETE"
            | "ROLLBACK_FAILED"
            | "UPDATE_ROLLBACK_FAILED"
            | "DELETE_FAILED"
            | "CREATE_FAILED"
    )
}

/// A stack wharf cannot create a change set for, explained.
fn refuse_unusable(name: &str, s: Option<&StackInfo>) -> Result<(), StackError> {
    match s.map(|s| s.status.as_str()) {
        Some(st) if needs_recovery(st) => Err(StackError::NeedsRecovery {
            stack: name.to_owned(),
            status: st.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// DescribeStacks answers a ValidationError "Stack with id X does not exist" for a missing
/// stack: there is no typed predicate for it, so its code and text are read here.
fn is_missing_stack(e: &AwsError) -> bool {
    e.kind == ErrorKind::Invalid && e.message.contains("does not exist")
}

/// A change set that failed only because the template changes nothing.
fn is_empty_change_set(reason: &str) -> bool {
    reason.contains("didn't contain changes") || reason.contains("No updates are to be performed")
}

/// Seconds since the epoch.
pub(crate) fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
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

    #[test]
    fn empty_change_sets_are_recognised() {
        assert!(is_empty_change_set("The submitted information didn't contain changes. Submit different information to create a change set."));
        assert!(!is_empty_change_set("Template format error"));
    }
}

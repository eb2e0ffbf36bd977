//! CloudFormation stacks through change sets: preview a change (`wharf plan`), apply it with
//! progress from the stack's events (`wharf up`), delete (`wharf down`). Every wait is bounded
//! and reports what it waits for; a failed operation names its first failed resource, with the
//! reason classified into a cause and an action.

use std::time::Duration;

mod events;
mod preview;
pub mod status;

use aws_sdk_cloudformation::types::{Capability, ChangeSetStatus, ChangeSetType, StackStatus, Tag};
use aws_sdk_cloudformation::Client;
use serde::Serialize;

use crate::classify::classify;
use crate::error::{AwsError, ErrorKind};
use crate::StackError;
pub use events::{first_failure, Event, Failure, Sink, StackEvent};
pub use preview::{data_replacements, Preview, ResourceChange};
pub use status::needs_recovery;

/// A stack wharf wants to exist with this template.
#[derive(Debug, Clone)]
pub struct StackSpec {
    pub name: String,
    /// The template as JSON.
    pub template_body: String,
    /// Where CloudFormation reads the template from instead of the body: the template bucket,
    /// for a template over the 51,200 bytes a request may carry.
    pub template_url: Option<String>,
    pub tags: Vec<(String, String)>,
    /// Apply even when the change replaces a resource holding data (a new, empty one).
    pub allow_replace: bool,
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
    #[serde(serialize_with = "status::serialize")]
    pub status: StackStatus,
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
        let status = s
            .stack_status()
            .cloned()
            .unwrap_or_else(|| StackStatus::from("UNKNOWN"));
        if status == StackStatus::DeleteComplete {
            return Ok(None);
        }
        Ok(Some(StackInfo {
            name: name.to_owned(),
            status,
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
            .is_some_and(|s| status::in_progress(&s.status))
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
        let replaced = preview::data_replacements(&changes);
        if exists && !spec.allow_replace && !replaced.is_empty() {
            let resources = replaced
                .iter()
                .map(|c| format!("{} ({})", c.logical_id, c.resource_type))
                .collect::<Vec<_>>()
                .join(", ");
            self.discard_change_set(&id).await;
            return Err(StackError::WouldReplaceData {
                stack: spec.name.clone(),
                resources,
            });
        }
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
            .set_template_body(
                spec.template_url
                    .is_none()
                    .then(|| spec.template_body.clone()),
            )
            .set_template_url(spec.template_url.clone())
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
}

/// The stack exists with resources, so a change set updates it. One left in
/// REVIEW_IN_PROGRESS (by an interrupted preview) holds none: it is created, not updated.
fn has_resources(s: Option<&StackInfo>) -> bool {
    s.is_some_and(|s| s.status != StackStatus::ReviewInProgress)
}

/// A stack wharf cannot create a change set for, explained.
fn refuse_unusable(name: &str, s: Option<&StackInfo>) -> Result<(), StackError> {
    match s {
        Some(info) if needs_recovery(&info.status) => Err(StackError::NeedsRecovery {
            stack: name.to_owned(),
            status: info.status.as_str().to_owned(),
        }),
        _ => Ok(()),
    }
}

/// DescribeStacks answers a ValidationError "Stack with id X does not exist" for a missing
/// stack: there is no typed predicate for it, so its code and text are read here.
pub(crate) fn is_missing_stack(e: &AwsError) -> bool {
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

    #[test]
    fn empty_change_sets_are_recognised() {
        assert!(is_empty_change_set("The submitted information didn't contain changes. Submit different information to create a change set."));
        assert!(!is_empty_change_set("Template format error"));
    }
}

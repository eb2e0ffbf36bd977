//! Recovery of a stack from the states AWS leaves it in, each with the one action that brings
//! it back to where `wharf up` can continue:
//! ROLLBACK_COMPLETE (a failed creation) → delete it, so it can be created again;
//! UPDATE_ROLLBACK_FAILED → continue the rollback, skipping the resources that block it;
//! DELETE_FAILED → delete again, retaining the resources that block it;
//! an update in progress past its time limit → cancel it.
//! [`plan`] says what would be done and why; [`recover`] does it.

use std::fmt;
use std::time::Duration;

use aws_sdk_cloudformation::types::StackStatus;
use serde::Serialize;

use crate::classify::{classify, Cause};
use crate::error::AwsError;
use crate::stacks::{now_secs, Stacks};
use crate::StackError;

/// A resource that blocks the recovery, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Blocker {
    pub logical_id: String,
    pub resource_type: String,
    pub reason: String,
    pub cause: Cause,
}

/// The action a stack needs.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Healthy, or busy within its time limit: nothing to do.
    Nothing,
    /// A failed creation: delete it; `wharf up` creates it again.
    DeleteAndRecreate,
    /// ContinueUpdateRollback, skipping these.
    ContinueRollback { skip: Vec<Blocker> },
    /// DeleteStack again, retaining these.
    DeleteRetaining { retain: Vec<Blocker> },
    /// CancelUpdateStack: the update has run this long.
    CancelUpdate { running_s: u64 },
}

/// What recovering one stack means.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub stack: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(flatten)]
    pub action: Action,
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is {}", self.stack, self.status)?;
        if let Some(r) = &self.reason {
            write!(f, " ({r})")?;
        }
        writeln!(f)?;
        match &self.action {
            Action::Nothing => writeln!(f, "  nothing to recover"),
            Action::DeleteAndRecreate => writeln!(
                f,
                "  delete it (its creation failed and left nothing in use); `wharf up` then creates it again"
            ),
            Action::ContinueRollback { skip } => {
                writeln!(f, "  continue the update's rollback")?;
                blockers(f, "skipping", skip)?;
                if !skip.is_empty() {
                    writeln!(f, "  CloudFormation then treats the skipped resources as rolled back without changing them; `wharf up` reconciles them")?;
                }
                Ok(())
            }
            Action::DeleteRetaining { retain } => {
                writeln!(f, "  delete it again")?;
                blockers(f, "retaining (left in the account, delete them yourself)", retain)
            }
            Action::CancelUpdate { running_s } => writeln!(
                f,
                "  cancel the update, which has run {running_s}s; CloudFormation rolls it back"
            ),
        }
    }
}

fn blockers(f: &mut fmt::Formatter<'_>, verb: &str, list: &[Blocker]) -> fmt::Result {
    if list.is_empty() {
        return Ok(());
    }
    writeln!(f, "  {verb}:")?;
    for b in list {
        writeln!(
            f,
            "    {} ({}): {} [{}: {}]",
            b.logical_id,
            b.resource_type,
            b.reason,
            b.cause,
            b.cause.action()
        )?;
    }
    Ok(())
}

/// What `stack` needs; `None` when it does not exist. An update running longer than
/// `stuck_after` is to be cancelled.
pub async fn plan(
    stacks: &Stacks<'_>,
    stack: &str,
    stuck_after: Duration,
) -> Result<Option<Plan>, AwsError> {
    let Some(info) = stacks.describe(stack).await? else {
        return Ok(None);
    };
    let running = (now_secs() - info.changed_at).max(0) as u64;
    let action = match info.status {
        StackStatus::RollbackComplete | StackStatus::RollbackFailed | StackStatus::CreateFailed => {
            Action::DeleteAndRecreate
        }
        StackStatus::UpdateRollbackFailed => Action::ContinueRollback {
            skip: failed_resources(stacks, stack, "UPDATE_FAILED").await?,
        },
        StackStatus::DeleteFailed => Action::DeleteRetaining {
            retain: failed_resources(stacks, stack, "DELETE_FAILED").await?,
        },
        StackStatus::UpdateInProgress if running > stuck_after.as_secs() => {
            Action::CancelUpdate { running_s: running }
        }
        _ => Action::Nothing,
    };
    Ok(Some(Plan {
        stack: stack.to_owned(),
        status: info.status.as_str().to_owned(),
        reason: info.reason,
        action,
    }))
}

/// The stack's resources in `status`, with their reasons.
async fn failed_resources(
    stacks: &Stacks<'_>,
    stack: &str,
    status: &str,
) -> Result<Vec<Blocker>, AwsError> {
    let out = stacks
        .cfn
        .describe_stack_resources()
        .stack_name(stack)
        .send()
        .await
        .map_err(|e| AwsError::from_sdk(format!("list the resources of stack {stack}"), e))?;
    Ok(out
        .stack_resources()
        .iter()
        .filter(|r| r.resource_status().map(|s| s.as_str()) == Some(status))
        .map(|r| {
            let reason = r
                .resource_status_reason()
                .unwrap_or("no reason given")
                .to_owned();
            Blocker {
                logical_id: r.logical_resource_id().unwrap_or_default().to_owned(),
                resource_type: r.resource_type().unwrap_or_default().to_owned(),
                cause: classify(&reason),
                reason,
            }
        })
        .collect())
}

/// Carries out `plan` and waits for the stack to settle. Returns whether the stack still
/// exists afterwards.
pub async fn recover(stacks: &Stacks<'_>, plan: &Plan) -> Result<bool, StackError> {
    let name = plan.stack.as_str();
    let since = now_secs() - 1;
    match &plan.action {
        Action::Nothing => Ok(true),
        Action::DeleteAndRecreate => {
            stacks.delete(name, &[]).await?;
            Ok(false)
        }
        Action::DeleteRetaining { retain } => {
            let ids: Vec<String> = retain.iter().map(|b| b.logical_id.clone()).collect();
            stacks.delete(name, &ids).await?;
            Ok(false)
        }
        Action::ContinueRollback { skip } => {
            let ids: Vec<String> = skip.iter().map(|b| b.logical_id.clone()).collect();
            let mut req = stacks.cfn.continue_update_rollback().stack_name(name);
            if !ids.is_empty() {
                req = req.set_resources_to_skip(Some(ids));
            }
            req.send().await.map_err(|e| {
                AwsError::from_sdk(format!("continue the update rollback of stack {name}"), e)
            })?;
            wait_rolled_back(stacks, name, since).await?;
            Ok(true)
        }
        Action::CancelUpdate { .. } => {
            stacks
                .cfn
                .cancel_update_stack()
                .stack_name(name)
                .send()
                .await
                .map_err(|e| AwsError::from_sdk(format!("cancel the update of stack {name}"), e))?;
            wait_rolled_back(stacks, name, since).await?;
            Ok(true)
        }
    }
}

/// A rollback that ends in UPDATE_ROLLBACK_COMPLETE is the recovery's success.
async fn wait_rolled_back(stacks: &Stacks<'_>, name: &str, since: i64) -> Result<(), StackError> {
    match stacks.wait_stack(name, "the rollback", since).await {
        Err(StackError::Failed { status, .. }) if status == "UPDATE_ROLLBACK_COMPLETE" => Ok(()),
        other => other,
    }
}

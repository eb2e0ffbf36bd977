//! What the environment commands did on AWS, as text and as JSON.

use std::fmt;

use serde::Serialize;

use crate::access::Identity;
use crate::purge::Holding;
use crate::recover::{Action, Plan};
use crate::stacks::{Applied, Preview};

/// What `up` did on AWS.
#[derive(Debug, Serialize)]
pub struct UpAws {
    pub environment: String,
    pub identity: Identity,
    pub stacks: Vec<StackDone>,
    /// GitHub's OIDC provider, when `[ci.github]` lists the environment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github_oidc: Option<crate::oidc::Provider>,
}

#[derive(Debug, Serialize)]
pub struct StackDone {
    pub stack: String,
    pub applied: Applied,
    pub changes: usize,
}

impl fmt::Display for UpAws {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "environment {} as {}", self.environment, self.identity)?;
        for s in &self.stacks {
            let what = match s.applied {
                Applied::Created => format!("created ({} resources)", s.changes),
                Applied::Updated => format!("updated ({} changes)", s.changes),
                Applied::Unchanged => "unchanged".to_owned(),
            };
            writeln!(f, "  {}: {what}", s.stack)?;
        }
        if let Some(p) = &self.github_oidc {
            let how = if p.created {
                "created"
            } else {
                "already there"
            };
            writeln!(f, "  GitHub OIDC provider: {how} ({})", p.arn)?;
        }
        Ok(())
    }
}

/// The change-set previews of every stack.
#[derive(Debug, Serialize)]
pub struct Previews {
    pub environment: String,
    pub stacks: Vec<Preview>,
}

impl fmt::Display for Previews {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "changes to environment {} (from change sets):",
            self.environment
        )?;
        for p in &self.stacks {
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// What `down` did on AWS.
#[derive(Debug, Serialize)]
pub struct DownAws {
    pub environment: String,
    /// Repositories and buckets emptied first (`--purge`).
    pub emptied: Vec<Holding>,
    /// Job tasks still running, stopped first (they hold the cluster).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stopped_jobs: Vec<String>,
    pub deleted: Vec<String>,
}

impl fmt::Display for DownAws {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for h in &self.emptied {
            writeln!(f, "emptied {} {} ({} item(s))", h.kind, h.name, h.items)?;
        }
        for t in &self.stopped_jobs {
            writeln!(f, "stopped job task {t}")?;
        }
        if self.deleted.is_empty() {
            return writeln!(f, "environment {}: no stacks to delete", self.environment);
        }
        writeln!(
            f,
            "environment {}: deleted {}",
            self.environment,
            self.deleted.join(", ")
        )?;
        writeln!(f, "kept by design: the state table, the log bucket and the log key (DeletionPolicy Retain)")
    }
}

/// What `recover` found and did.
#[derive(Debug, Serialize)]
pub struct Recovered {
    pub environment: String,
    pub plans: Vec<Plan>,
    /// Stacks whose recovery was carried out.
    pub recovered: Vec<String>,
    /// Stacks the recovery deleted: `wharf up` creates them again.
    pub deleted: Vec<String>,
}

impl fmt::Display for Recovered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.plans {
            write!(f, "{p}")?;
        }
        if self
            .plans
            .iter()
            .all(|p| matches!(p.action, Action::Nothing))
        {
            return writeln!(f, "environment {}: nothing to recover", self.environment);
        }
        writeln!(f, "recovered: {}", self.recovered.join(", "))?;
        if !self.deleted.is_empty() {
            writeln!(
                f,
                "run `wharf up --env {}` to create {} again",
                self.environment,
                self.deleted.join(", ")
            )?;
        }
        Ok(())
    }
}

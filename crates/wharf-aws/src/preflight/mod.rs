//! `wharf validate --remote`: the account checked before anything is changed in it. Who the
//! credentials are and the account guard; the certificate (ISSUED, covering the domain and the
//! routed hosts); the images, roles, secrets and parameters the services reference (present and
//! readable); the private subnets' way out (NAT routes or the VPC endpoints Fargate needs); the
//! load balancer's security group reaching each service's port; the quotas that bite against
//! current usage; `wharf exec`'s plugin; where `[notify]` sends. Each check reads only; every
//! finding that is not fine carries its fix.

mod account;
mod network;
mod notify;
mod quotas;
mod refs;

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use wharf_manifest::{AwsEnv, Environment, Manifest, Names};

use crate::access::{Access, Identity};
use crate::error::AwsError;

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    Identity,
    Stacks,
    Certificate,
    Image,
    Role,
    Secret,
    Egress,
    SecurityGroup,
    Quota,
    /// What `wharf exec` needs: the Session Manager plugin here, the channels there.
    Exec,
    /// Where `[notify]` sends: the webhook's URL readable, the SNS topic there.
    Notify,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Check::Identity => "identity",
            Check::Stacks => "stacks",
            Check::Certificate => "certificate",
            Check::Image => "image",
            Check::Role => "role",
            Check::Secret => "secret",
            Check::Egress => "egress",
            Check::SecurityGroup => "security group",
            Check::Quota => "quota",
            Check::Exec => "exec",
            Check::Notify => "notify",
        })
    }
}

/// How a finding bears on a deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// Checked and fine.
    Ok,
    /// Not checked, and why (the environment is not up yet, the image is not in ECR, …).
    Skipped,
    /// Works now but will bite (a certificate about to expire, a quota nearly used).
    Warning,
    /// A deploy would fail.
    Error,
}

/// One result of a check.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub check: Check,
    pub level: Level,
    /// What was checked: `service api`, `ssm:/pulse/db`, `subnet subnet-…`.
    pub subject: String,
    pub message: String,
    /// What to do; present on every warning and error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    pub fn ok(check: Check, subject: impl Into<String>, message: impl Into<String>) -> Finding {
        Finding {
            check,
            level: Level::Ok,
            subject: subject.into(),
            message: message.into(),
            fix: None,
        }
    }

    pub fn skipped(check: Check, subject: impl Into<String>, why: impl Into<String>) -> Finding {
        Finding {
            level: Level::Skipped,
            ..Finding::ok(check, subject, why)
        }
    }

    pub fn warning(
        check: Check,
        subject: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding::with_fix(
            Level::Warning,
            check,
            subject.into(),
            message.into(),
            fix.into(),
        )
    }

    pub fn error(
        check: Check,
        subject: impl Into<String>,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding::with_fix(
            Level::Error,
            check,
            subject.into(),
            message.into(),
            fix.into(),
        )
    }

    fn with_fix(
        level: Level,
        check: Check,
        subject: String,
        message: String,
        fix: String,
    ) -> Finding {
        Finding {
            check,
            level,
            subject,
            message,
            fix: Some(fix),
        }
    }

    /// A read that failed: the check could not be made, which a deploy would hit too.
    pub fn failed(check: Check, subject: impl Into<String>, e: &AwsError) -> Finding {
        Finding::error(check, subject, e.to_string(), e.advice())
    }
}

/// Every finding of a preflight, in check order.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub env: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
    pub errors: usize,
    pub warnings: usize,
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.errors == 0
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for x in &self.findings {
            let mark = match x.level {
                Level::Ok => "ok  ",
                Level::Skipped => "skip",
                Level::Warning => "warn",
                Level::Error => "FAIL",
            };
            writeln!(
                f,
                "{mark} {:<14} {}: {}",
                x.check.to_string(),
                x.subject,
                x.message
            )?;
            if let Some(fix) = &x.fix {
                writeln!(f, "     {:<14} fix: {fix}", "")?;
            }
        }
        write!(
            f,
            "preflight of environment {}: {} error(s), {} warning(s)",
            self.env, self.errors, self.warnings
        )?;
        if let Some(id) = &self.identity {
            write!(f, " (as {id})")?;
        }
        writeln!(f)
    }
}

/// What the checks share: the clients' configuration, the manifest's view of the environment
/// and what its stacks say.
pub(crate) struct Context<'a> {
    pub access: &'a Access,
    pub env: &'a Environment,
    pub aws: &'a AwsEnv,
    pub names: Names<'a>,
    pub region: String,
    pub account: String,
    /// Outputs of the environment's stacks by stack name (only stacks that exist and can be
    /// read; the baseline's absence means the environment is not up).
    pub outputs: BTreeMap<String, BTreeMap<String, String>>,
    pub depth: Depth,
}

impl Context<'_> {
    /// An output of the baseline stack.
    pub fn baseline(&self, key: &str) -> Option<&str> {
        self.outputs
            .get(&self.names.baseline_stack())
            .and_then(|o| o.get(key))
            .map(String::as_str)
    }

    /// A per-service output of the baseline stack.
    pub fn service_output(&self, service: &str, suffix: &str) -> Option<&str> {
        self.baseline(&wharf_cfn::template::logical_id(&[
            "service", service, suffix,
        ]))
    }

    pub fn is_up(&self) -> bool {
        self.outputs.contains_key(&self.names.baseline_stack())
    }

    /// A finding for a check that needs the environment's stacks, when they are not there.
    pub fn not_up(&self, check: Check, subject: &str) -> Finding {
        Finding::skipped(
            check,
            subject,
            format!(
                "the environment is not up yet: `wharf up --env {}` creates what this checks",
                self.env.name
            ),
        )
    }
}

/// Whether `wharf exec` finds AWS's Session Manager plugin on `path` (this machine's PATH).
pub fn exec_client(path: Option<std::ffi::OsString>) -> Finding {
    let plugin = crate::ecs::exec::PLUGIN;
    let found = path
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(plugin))
        .find(|p| p.is_file());
    match found {
        Some(p) => Finding::ok(Check::Exec, plugin, format!("found at {}", p.display())),
        None => Finding::warning(
            Check::Exec,
            plugin,
            "not on the PATH: `wharf exec` cannot hand a session to it (deploys do not need it)",
            "install AWS's Session Manager plugin: https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html",
        ),
    }
}

/// Runs every check against the account. `progress` hears each check as it starts.
/// How much of the preflight to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// What `up` checks before changing anything: identity and guard, the stacks' states.
    Up,
    /// What `deploy` checks before changing anything: also images, secrets and parameters
    /// present, the subnets' way out.
    Deploy,
    /// Everything (`validate --remote`): also the certificate, roles, what the execution
    /// role may read (IAM's simulator), security groups, quotas, exec and notify.
    Full,
}

pub async fn run(
    access: &Access,
    manifest: &Manifest,
    env: &Environment,
    aws: &AwsEnv,
    depth: Depth,
    progress: &(dyn Fn(Check) + Sync),
) -> Report {
    let mut findings = Vec::new();
    progress(Check::Identity);
    let identity = account::identity(access, env, aws, &mut findings).await;
    if let Some(id) = identity.clone().filter(|id| id.account == aws.account) {
        let region = access
            .config
            .region()
            .map_or_else(|| aws.region.clone(), |r| r.to_string());
        let names = Names::new(&manifest.app.name, &env.name);
        progress(Check::Stacks);
        let outputs = account::stacks(access, env, &names, &mut findings).await;
        let cx = Context {
            access,
            env,
            aws,
            names,
            region,
            account: id.account,
            outputs,
            depth,
        };
        if depth == Depth::Full {
            progress(Check::Certificate);
            findings.extend(account::certificate(&cx).await);
        }
        if depth != Depth::Up {
            progress(Check::Image);
            findings.extend(refs::images(&cx).await);
            if depth == Depth::Full {
                progress(Check::Role);
                findings.extend(refs::roles(&cx).await);
            }
            progress(Check::Secret);
            findings.extend(refs::secrets(&cx).await);
            progress(Check::Egress);
            findings.extend(network::egress(&cx).await);
        }
        if depth == Depth::Full {
            full(&cx, manifest, &mut findings, progress).await;
        }
    }
    let count = |level: Level| findings.iter().filter(|f| f.level == level).count();
    Report {
        env: env.name.clone(),
        identity,
        errors: count(Level::Error),
        warnings: count(Level::Warning),
        findings,
    }
}

/// The checks only `validate --remote` makes.
async fn full(
    cx: &Context<'_>,
    manifest: &Manifest,
    findings: &mut Vec<Finding>,
    progress: &(dyn Fn(Check) + Sync),
) {
    progress(Check::SecurityGroup);
    findings.extend(network::security_groups(cx).await);
    progress(Check::Quota);
    findings.extend(quotas::check(cx).await);
    progress(Check::Exec);
    findings.push(exec_client(std::env::var_os("PATH")));
    progress(Check::Notify);
    findings.extend(notify::notify(cx, manifest.notify.as_ref()).await);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_manager_plugin_is_looked_for_on_the_path() {
        let dir = std::env::temp_dir().join(format!("wharf-plugin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = exec_client(Some(dir.clone().into_os_string()));
        assert_eq!(missing.level, Level::Warning);
        assert!(missing
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("install")));
        std::fs::write(dir.join(crate::ecs::exec::PLUGIN), "").unwrap();
        let path = std::env::join_paths(["/nonexistent".into(), dir.clone()]).unwrap();
        let found = exec_client(Some(path));
        assert_eq!(found.level, Level::Ok, "{found:?}");
        assert_eq!(exec_client(None).level, Level::Warning);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

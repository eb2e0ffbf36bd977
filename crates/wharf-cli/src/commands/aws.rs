//! The AWS side of `up`, `plan --remote`, `down` and `recover`: access resolved once, the
//! account guard checked before any change, the environment's stacks applied, previewed,
//! deleted or recovered in dependency order, progress from their events on stderr.

use std::fmt;
use std::io::Write;
use std::time::Duration;

use serde::Serialize;
use wharf_aws::recover::{Action, Plan};
use wharf_aws::{
    Access, AccessOptions, Applied, CfnClient, Identity, Preview, StackEvent, StackSpec, Stacks,
};
use wharf_cfn::StackKind;
use wharf_manifest::{AwsEnv, Environment, Manifest, Names};

use crate::cli::Global;
use crate::commands::deploy::runtime;
use crate::commands::{load, pick_env};
use crate::error::CliError;
use crate::exit::ExitStatus;
use crate::output::Printer;

/// CloudFormation's limit for a template sent in the request body.
const MAX_BODY: usize = 51_200;

/// An update running longer than this is considered stuck by `wharf recover`.
const STUCK_AFTER: Duration = Duration::from_secs(60 * 60);

pub fn aws_of<'e>(env: &'e Environment, what: &'static str) -> Result<&'e AwsEnv, CliError> {
    env.aws().ok_or_else(|| CliError::NotAws {
        env: env.name.clone(),
        what,
    })
}

/// Resolves access for the environment: the command line's profile, region and endpoint
/// over the manifest's.
pub async fn connect(global: &Global, aws: &AwsEnv) -> Access {
    wharf_aws::connect(&AccessOptions {
        profile: global.profile.clone().or_else(|| aws.profile.clone()),
        region: Some(global.region.clone().unwrap_or_else(|| aws.region.clone())),
        endpoint_url: global.endpoint_url.clone(),
        max_attempts: None,
    })
    .await
}

/// Resolves access for the environment and checks the account guard.
pub async fn access(
    global: &Global,
    aws: &AwsEnv,
    env: &str,
) -> Result<(Access, Identity), CliError> {
    let access = connect(global, aws).await;
    let id = wharf_aws::identity(&access.sts()).await?;
    wharf_aws::check_guard(env, &aws.account, &id)?;
    Ok((access, id))
}

/// The environment's stacks, in creation order, each with a CloudFormation client of its
/// region.
fn specs(
    manifest: &Manifest,
    env: &Environment,
    access: &Access,
) -> Result<Vec<(StackSpec, CfnClient)>, CliError> {
    let mut out = Vec::new();
    for s in wharf_cfn::synthesize(manifest, env)? {
        let body = serde_json::to_string(&s.template).unwrap_or_default();
        if body.len() > MAX_BODY {
            return Err(CliError::TemplateTooLarge {
                stack: s.name,
                bytes: body.len(),
            });
        }
        let cfn = if s.kind == StackKind::Edge {
            access.in_region("us-east-1").cloudformation()
        } else {
            access.cloudformation()
        };
        out.push((
            StackSpec {
                name: s.name,
                template_body: body,
                tags: vec![
                    ("wharf.app".into(), manifest.app.name.clone()),
                    ("wharf.env".into(), env.name.clone()),
                ],
            },
            cfn,
        ));
    }
    Ok(out)
}

/// Prints stack events on stderr: text lines, or JSON lines with `--output json`.
fn sink(printer: &Printer) -> impl Fn(StackEvent) + Send + Sync {
    let quiet = printer.quiet;
    let json = printer.json();
    move |e: StackEvent| {
        if quiet {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = if json {
            writeln!(err, "{}", serde_json::to_string(&e).unwrap_or_default())
        } else {
            writeln!(err, "{e}")
        };
    }
}

/// What `up` did on AWS.
#[derive(Debug, Serialize)]
pub struct UpAws {
    pub environment: String,
    pub identity: Identity,
    pub stacks: Vec<StackDone>,
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
        Ok(())
    }
}

pub fn up(
    global: &Global,
    printer: &Printer,
    m: &Manifest,
    env: &Environment,
) -> Result<ExitStatus, CliError> {
    let aws = aws_of(env, "up")?;
    let events = sink(printer);
    runtime()?.block_on(async {
        let (access, identity) = access(global, aws, &env.name).await?;
        let mut done = Vec::new();
        for (spec, cfn) in specs(m, env, &access)? {
            let stacks = Stacks::new(&cfn, &events);
            let (applied, preview) = stacks.apply(&spec).await?;
            done.push(StackDone {
                stack: spec.name,
                applied,
                changes: preview.changes.len(),
            });
        }
        printer.result(&UpAws {
            environment: env.name.clone(),
            identity,
            stacks: done,
        })?;
        Ok(ExitStatus::Success)
    })
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

pub fn preview(
    global: &Global,
    printer: &Printer,
    m: &Manifest,
    env: &Environment,
) -> Result<Previews, CliError> {
    let aws = aws_of(env, "plan --remote")?;
    let events = sink(printer);
    runtime()?.block_on(async {
        let (access, _) = access(global, aws, &env.name).await?;
        let mut out = Vec::new();
        for (spec, cfn) in specs(m, env, &access)? {
            out.push(Stacks::new(&cfn, &events).preview(&spec).await?);
        }
        Ok(Previews {
            environment: env.name.clone(),
            stacks: out,
        })
    })
}

/// What `down` did on AWS.
#[derive(Debug, Serialize)]
pub struct DownAws {
    pub environment: String,
    /// Repositories and buckets emptied first (`--purge`).
    pub emptied: Vec<wharf_aws::purge::Holding>,
    pub deleted: Vec<String>,
}

impl fmt::Display for DownAws {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for h in &self.emptied {
            writeln!(f, "emptied {} {} ({} item(s))", h.kind, h.name, h.items)?;
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

pub fn down(
    global: &Global,
    printer: &Printer,
    m: &Manifest,
    env: &Environment,
    purge: bool,
) -> Result<ExitStatus, CliError> {
    let aws = aws_of(env, "down")?;
    let events = sink(printer);
    runtime()?.block_on(async {
        let (access, _) = access(global, aws, &env.name).await?;
        let mut specs = specs(m, env, &access)?;
        specs.reverse();
        let mut existing = Vec::new();
        for (spec, cfn) in &specs {
            if Stacks::new(cfn, &events)
                .describe(&spec.name)
                .await?
                .is_some()
            {
                existing.push(spec.name.clone());
            }
        }
        // What CloudFormation would refuse to delete: the services' repositories, and the
        // data stack's buckets unless the environment retains them (prod).
        let names = Names::new(&m.app.name, &env.name);
        let repositories: Vec<String> = env.services.keys().map(|s| names.repository(s)).collect();
        let buckets = if aws.prod {
            Vec::new()
        } else {
            Stacks::new(&access.cloudformation(), &events)
                .physical_ids(&names.data_stack(), "AWS::S3::Bucket")
                .await?
        };
        let (ecr, s3) = (access.ecr(), access.s3());
        let holdings = wharf_aws::purge::holdings(&ecr, &s3, &repositories, &buckets).await?;
        if !holdings.is_empty() && !purge {
            return Err(CliError::NotEmpty {
                holdings: holdings.iter().map(ToString::to_string).collect(),
            });
        }
        let mut question = format!("delete stacks {}", existing.join(", "));
        if !holdings.is_empty() {
            let list: Vec<String> = holdings.iter().map(ToString::to_string).collect();
            question = format!("{question}, and everything in: {}", list.join("; "));
        }
        if !existing.is_empty() && !confirm(global, &format!("{question}?")) {
            return Err(CliError::NotConfirmed);
        }
        for h in &holdings {
            wharf_aws::purge::empty(&ecr, &s3, h).await?;
        }
        let mut deleted = Vec::new();
        for (spec, cfn) in &specs {
            if Stacks::new(cfn, &events).delete(&spec.name, &[]).await? {
                deleted.push(spec.name.clone());
            }
        }
        printer.result(&DownAws {
            environment: env.name.clone(),
            emptied: holdings,
            deleted,
        })?;
        Ok(ExitStatus::Success)
    })
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

pub fn recover(global: &Global, printer: &Printer) -> Result<ExitStatus, CliError> {
    let loaded = load(global, printer)?;
    let m = &loaded.manifest;
    let env = pick_env(global, m)?;
    let aws = aws_of(env, "recover")?;
    let events = sink(printer);
    runtime()?.block_on(async {
        let (access, _) = access(global, aws, &env.name).await?;
        let mut out = Recovered {
            environment: env.name.clone(),
            plans: Vec::new(),
            recovered: Vec::new(),
            deleted: Vec::new(),
        };
        for (spec, cfn) in specs(m, env, &access)? {
            let stacks = Stacks::new(&cfn, &events);
            let Some(plan) = wharf_aws::recover::plan(&stacks, &spec.name, STUCK_AFTER).await?
            else {
                continue;
            };
            if !matches!(plan.action, Action::Nothing) {
                if !printer.quiet {
                    printer.diag(&plan.to_string());
                }
                if !confirm(global, &format!("recover {} as above?", plan.stack)) {
                    return Err(CliError::NotConfirmed);
                }
                let exists = wharf_aws::recover::recover(&stacks, &plan).await?;
                out.recovered.push(plan.stack.clone());
                if !exists {
                    out.deleted.push(plan.stack.clone());
                }
            }
            out.plans.push(plan);
        }
        printer.result(&out)?;
        Ok(ExitStatus::Success)
    })
}

/// Asks on the terminal unless `--yes`; without a terminal and without `--yes`, no.
fn confirm(global: &Global, question: &str) -> bool {
    use std::io::IsTerminal;
    if global.yes {
        return true;
    }
    if !std::io::stdin().is_terminal() {
        return false;
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok() && matches!(answer.trim(), "y" | "Y" | "yes")
}

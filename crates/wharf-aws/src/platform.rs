//! An AWS environment as a whole: access resolved once, the account guard checked before any
//! change, the environment's stacks applied (`up`), previewed (`plan --remote`), deleted in
//! dependency order (`down`, stopping at repositories and buckets that hold something unless
//! purged) or recovered (`recover`), and the account's preflight (`validate --remote`).
//! Progress comes from the stacks' events, handed to the caller's sink.

use std::time::Duration;

use wharf_cfn::StackKind;
use wharf_engine::{Before, Confirm, Mode, Platform, Verdict};
use wharf_manifest::{AwsEnv, Environment, Manifest, Names};

use crate::access::{check_guard, identity, Access, GuardError, Identity};
use crate::ecs::AwsTarget;
use crate::error::AwsError;
use crate::preflight::{Check, Depth, Level, Report};
use crate::reports::{DownAws, Previews, Recovered, StackDone, UpAws};
use crate::stacks::{StackEvent, StackSpec, Stacks};
use crate::{CfnClient, StackError};

/// An update running longer than this is considered stuck by `wharf recover`.
const STUCK_AFTER: Duration = Duration::from_secs(60 * 60);

/// Why an AWS environment command stopped.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum EnvError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Aws(#[from] AwsError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Guard(#[from] GuardError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Stack(#[from] StackError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Synth(#[from] wharf_cfn::SynthError),

    #[error("environment `{env}` is a local environment: {what} works on AWS environments")]
    #[diagnostic(code(wharf::cli::not_aws), help("pick an AWS environment with --env"))]
    NotAws { env: String, what: &'static str },

    #[error("the template of stack {stack} is {bytes} bytes, over CloudFormation's 1,000,000-byte limit for a template")]
    #[diagnostic(
        code(wharf::aws::template_size),
        help("split the services over two environments (or apps)")
    )]
    TemplateTooLarge { stack: String, bytes: usize },

    #[error("not confirmed: nothing was changed")]
    #[diagnostic(
        code(wharf::cli::not_confirmed),
        help("answer y, or pass --yes to skip the question (CI)")
    )]
    NotConfirmed,

    #[error("{}: CloudFormation cannot delete them while they hold anything; nothing was deleted", holdings.join("; "))]
    #[diagnostic(
        code(wharf::aws::not_empty),
        help("copy what you need, then run `wharf down --purge` to delete their contents with the environment (for good)")
    )]
    NotEmpty { holdings: Vec<String> },
}

impl EnvError {
    /// AWS refused, could not be reached, or a stack operation failed (exit code 8), as
    /// opposed to what wharf itself stopped at.
    pub fn is_aws(&self) -> bool {
        matches!(
            self,
            EnvError::Aws(_) | EnvError::Guard(_) | EnvError::Stack(_)
        )
    }
}

/// An AWS environment of a manifest, with access resolved.
pub struct AwsPlatform<'m> {
    pub manifest: &'m Manifest,
    pub env: &'m Environment,
    pub access: Access,
    /// Stack events as they happen.
    pub events: &'m (dyn Fn(StackEvent) + Send + Sync),
}

impl AwsPlatform<'_> {
    fn aws(&self, what: &'static str) -> Result<&AwsEnv, EnvError> {
        self.env.aws().ok_or_else(|| EnvError::NotAws {
            env: self.env.name.clone(),
            what,
        })
    }

    /// Who the credentials are, checked against the environment's account guard.
    pub async fn guarded(&self, what: &'static str) -> Result<Identity, EnvError> {
        let aws = self.aws(what)?;
        let id = identity(&self.access.sts()).await?;
        check_guard(&self.env.name, &aws.account, &id)?;
        Ok(id)
    }

    /// The environment's stacks, in creation order, each with a CloudFormation client of its
    /// region.
    fn specs(&self) -> Result<Vec<(StackSpec, CfnClient)>, EnvError> {
        let (m, env) = (self.manifest, self.env);
        let mut out = Vec::new();
        for s in wharf_cfn::synthesize(m, env)? {
            let body = serde_json::to_string(&s.template).unwrap_or_default();
            if body.len() > crate::templates::MAX_URL {
                return Err(EnvError::TemplateTooLarge {
                    stack: s.name,
                    bytes: body.len(),
                });
            }
            let cfn = if s.kind == StackKind::Edge {
                self.access.in_region("us-east-1").cloudformation()
            } else {
                self.access.cloudformation()
            };
            let tags = vec![
                ("wharf.app".into(), m.app.name.clone()),
                ("wharf.env".into(), env.name.clone()),
            ];
            out.push((
                StackSpec {
                    name: s.name,
                    template_body: body,
                    template_url: None,
                    tags,
                    allow_replace: false,
                },
                cfn,
            ));
        }
        Ok(out)
    }

    /// The stacks as `specs` has them, with each template over the inline limit uploaded to
    /// the environment's template bucket (made the first time) and passed by URL.
    async fn staged(&self, identity: &Identity) -> Result<Vec<(StackSpec, CfnClient)>, EnvError> {
        let mut specs = self.specs()?;
        if specs
            .iter()
            .all(|(s, _)| s.template_body.len() <= crate::templates::MAX_BODY)
        {
            return Ok(specs);
        }
        let aws = self.aws("up")?;
        let s3 = self.access.s3();
        let mut bucket = crate::templates::TemplateBucket::new(
            &s3,
            &self.manifest.app.name,
            &self.env.name,
            &identity.account,
            &aws.region,
        );
        bucket.tls_only = !self
            .access
            .config
            .endpoint_url()
            .is_some_and(|u| u.starts_with("http://"));
        bucket.ensure().await?;
        for (spec, _) in &mut specs {
            let bytes = spec.template_body.len();
            if bytes > crate::templates::MAX_BODY {
                let url = bucket.put(&spec.name, &spec.template_body).await?;
                (self.events)(StackEvent::Uploaded {
                    stack: spec.name.clone(),
                    bytes,
                    url: url.clone(),
                });
                spec.template_url = Some(url);
            }
        }
        Ok(specs)
    }
}

impl Platform for AwsPlatform<'_> {
    type Target = AwsTarget;
    type Error = EnvError;
    type Up = UpAws;
    type Down = DownAws;
    type Recovered = Recovered;
    type Preview = Previews;
    type Preflight = Report;

    async fn target(&self, _mode: Mode) -> Result<AwsTarget, EnvError> {
        let id = self.guarded("deploy").await?;
        Ok(AwsTarget::open(&self.access, &id, self.manifest, self.env).await?)
    }

    async fn up(&self, allow_replace: bool) -> Result<UpAws, EnvError> {
        let identity = self.guarded("up").await?;
        let github_oidc = match &self.manifest.ci {
            Some(ci) if ci.environments.contains(&self.env.name) => {
                let iam = aws_sdk_iam::Client::new(&self.access.config);
                Some(
                    crate::oidc::ensure_github(&iam, &self.manifest.app.name, &self.env.name)
                        .await?,
                )
            }
            _ => None,
        };
        let mut done = Vec::new();
        for (mut spec, cfn) in self.staged(&identity).await? {
            spec.allow_replace = allow_replace;
            let (applied, preview) = Stacks::new(&cfn, self.events).apply(&spec).await?;
            done.push(StackDone {
                stack: spec.name,
                applied,
                changes: preview.changes.len(),
            });
        }
        Ok(UpAws {
            environment: self.env.name.clone(),
            identity,
            stacks: done,
            github_oidc,
        })
    }

    async fn preview(&self) -> Result<Previews, EnvError> {
        let identity = self.guarded("plan --remote").await?;
        let mut out = Vec::new();
        for (spec, cfn) in self.staged(&identity).await? {
            out.push(Stacks::new(&cfn, self.events).preview(&spec).await?);
        }
        Ok(Previews {
            environment: self.env.name.clone(),
            stacks: out,
        })
    }

    async fn down(&self, purge: bool, confirm: Confirm<'_>) -> Result<DownAws, EnvError> {
        let aws = self.aws("down")?;
        let identity = self.guarded("down").await?;
        let (m, env) = (self.manifest, self.env);
        let mut specs = self.specs()?;
        specs.reverse();
        let mut existing = Vec::new();
        for (spec, cfn) in &specs {
            if Stacks::new(cfn, self.events)
                .describe(&spec.name)
                .await?
                .is_some()
            {
                existing.push(spec.name.clone());
            }
        }
        // What CloudFormation would refuse to delete: the repositories of the services and of
        // the jobs built from source, and the data stack's buckets unless the environment
        // retains them (prod).
        let names = Names::new(&m.app.name, &env.name);
        let built_jobs = env
            .jobs
            .values()
            .filter(|j| matches!(j.image, wharf_manifest::JobImage::Build(_)));
        let repositories: Vec<String> = env
            .services
            .keys()
            .chain(built_jobs.map(|j| &j.name))
            .map(|s| names.repository(s))
            .collect();
        let buckets = if aws.prod {
            Vec::new()
        } else {
            Stacks::new(&self.access.cloudformation(), self.events)
                .physical_ids(&names.data_stack(), "AWS::S3::Bucket")
                .await?
        };
        let (ecr, s3) = (self.access.ecr(), self.access.s3());
        let holdings = crate::purge::holdings(&ecr, &s3, &repositories, &buckets).await?;
        if !holdings.is_empty() && !purge {
            return Err(EnvError::NotEmpty {
                holdings: holdings.iter().map(ToString::to_string).collect(),
            });
        }
        let mut question = format!("delete stacks {}", existing.join(", "));
        if !holdings.is_empty() {
            let list: Vec<String> = holdings.iter().map(ToString::to_string).collect();
            question = format!("{question}, and everything in: {}", list.join("; "));
        }
        if !existing.is_empty() && !confirm(&format!("{question}?")) {
            return Err(EnvError::NotConfirmed);
        }
        for h in &holdings {
            crate::purge::empty(&ecr, &s3, h).await?;
        }
        let mut deleted = Vec::new();
        // Job tasks still running (detached runs) keep the cluster from being deleted.
        let stopped_jobs = crate::ecs::jobs::stop_job_tasks(
            &self.access.ecs(),
            &names.cluster(),
            &m.app.name,
            &env.name,
        )
        .await?;
        // The schedules first: they run tasks as roles the baseline holds.
        let group = crate::ecs::schedules::group_name(&m.app.name, &env.name);
        if crate::ecs::schedules::delete_group(&self.access.scheduler(), &m.app.name, &env.name)
            .await?
        {
            deleted.push(format!("schedule group {group}"));
        }
        for (spec, cfn) in &specs {
            if Stacks::new(cfn, self.events)
                .delete(&spec.name, &[])
                .await?
            {
                deleted.push(spec.name.clone());
            }
        }
        // Last, the template bucket: wharf's own (its tags say so), holding only templates.
        let bucket = crate::templates::TemplateBucket::new(
            &s3,
            &m.app.name,
            &env.name,
            &identity.account,
            &aws.region,
        );
        match bucket.remove().await {
            Ok(true) => deleted.push(format!("bucket {}", bucket.name)),
            Ok(false) => {}
            Err(e) if e.kind == crate::error::ErrorKind::Conflict => {
                (self.events)(StackEvent::Warning {
                    stack: bucket.name.clone(),
                    message: e.message,
                });
            }
            Err(e) => return Err(e.into()),
        }
        Ok(DownAws {
            environment: env.name.clone(),
            emptied: holdings,
            stopped_jobs,
            deleted,
        })
    }

    async fn recover(&self, confirm: Confirm<'_>) -> Result<Recovered, EnvError> {
        use crate::recover::Action;
        self.guarded("recover").await?;
        let mut out = Recovered {
            environment: self.env.name.clone(),
            plans: Vec::new(),
            recovered: Vec::new(),
            deleted: Vec::new(),
        };
        for (spec, cfn) in self.specs()? {
            let stacks = Stacks::new(&cfn, self.events);
            let Some(plan) = crate::recover::plan(&stacks, &spec.name, STUCK_AFTER).await? else {
                continue;
            };
            if !matches!(plan.action, Action::Nothing) {
                let question = format!("{plan}recover {} as above?", plan.stack);
                if !confirm(&question) {
                    return Err(EnvError::NotConfirmed);
                }
                let exists = crate::recover::recover(&stacks, &plan).await?;
                out.recovered.push(plan.stack.clone());
                if !exists {
                    out.deleted.push(plan.stack.clone());
                }
            }
            out.plans.push(plan);
        }
        Ok(out)
    }

    async fn preflight(
        &self,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<(Report, Verdict), EnvError> {
        self.checked(Depth::Full, progress).await
    }

    async fn preflight_fast(
        &self,
        before: Before,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<Option<(Report, Verdict)>, EnvError> {
        let depth = match before {
            Before::Up => Depth::Up,
            Before::Deploy => Depth::Deploy,
        };
        Ok(Some(self.checked(depth, progress).await?))
    }
}

impl AwsPlatform<'_> {
    async fn checked(
        &self,
        depth: Depth,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<(Report, Verdict), EnvError> {
        let aws = self.aws("validate --remote")?;
        let tell = |c: Check| progress(&c.to_string());
        let report =
            crate::preflight::run(&self.access, self.manifest, self.env, aws, depth, &tell).await;
        let identity_failed = report
            .findings
            .iter()
            .any(|f| f.check == Check::Identity && f.level == Level::Error);
        let verdict = if identity_failed {
            Verdict::Unreachable
        } else if !report.passed() {
            Verdict::Failed
        } else if report.warnings > 0 {
            Verdict::Warnings
        } else {
            Verdict::Passed
        };
        Ok((report, verdict))
    }
}

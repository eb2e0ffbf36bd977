//! The command line: global flags and subcommands. Doc comments here are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Ship containerized services to AWS ECS Fargate safely and fast, or rehearse every rollout on
/// this machine with Docker and wharf's own proxy.
#[derive(Debug, Parser)]
#[command(
    name = "wharf",
    version,
    propagate_version = true,
    max_term_width = 100
)]
#[command(
    after_help = "Exit codes: 0 success, 1 failure, 2 usage error, 3 invalid manifest, 4 manifest not found or unreadable,\n5 deployment rolled back, 6 locked or unfinished deployment, 7 Docker or the proxy unreachable,\n8 AWS refused or unreachable, or a stack operation failed.\nDocs: README.md"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,

    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand takes.
#[derive(Debug, Args, Clone)]
pub struct Global {
    /// The manifest to use [default: wharf.toml in this directory or the nearest parent]
    #[arg(
        short = 'f',
        long = "manifest",
        global = true,
        value_name = "PATH",
        env = "WHARF_MANIFEST"
    )]
    pub manifest: Option<PathBuf>,

    /// The environment to act on [default: the only one, when the manifest has one]
    #[arg(
        short = 'e',
        long = "env",
        global = true,
        value_name = "ENV",
        env = "WHARF_ENV"
    )]
    pub env: Option<String>,

    /// How results are printed on standard output
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text, env = "WHARF_OUTPUT")]
    pub output: OutputFormat,

    /// More detail on standard error: -v, -vv wharf's own logs; -vvv every library's too
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,

    /// Only results and errors
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// No colours (also when NO_COLOR is set or output is not a terminal)
    #[arg(long, global = true)]
    pub no_color: bool,

    /// Answer yes to every confirmation (for CI)
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,

    /// AWS profile (SSO profiles included) [default: the environment's `profile`, then the
    /// standard chain: AWS_PROFILE, environment variables, instance roles]
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// AWS region [default: the environment's `region`]
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,

    /// Send every AWS call to this endpoint (an emulator); AWS_ENDPOINT_URL also works
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable text
    Text,
    /// One JSON document (JSON lines for streams)
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a commented wharf.toml (and a Dockerfile when there is none)
    Init(InitArgs),
    /// Check the manifest offline and report every problem at once
    Validate(ValidateArgs),
    /// Show every resource an environment and its services will get, offline
    Plan(PlanArgs),
    /// Print the CloudFormation templates of an AWS environment
    Render(RenderArgs),
    /// Create or start an environment (local: wharf's proxy)
    Up(UpArgs),
    /// Remove everything an environment runs (local: containers, images, network, proxy, state;
    /// AWS: its stacks, in dependency order)
    Down(DownArgs),
    /// Bring an environment's stacks back from a failed or stuck state (asks first)
    Recover,
    /// Build and roll out a new version of a service with its strategy
    Deploy(DeployArgs),
    /// Deployments, traffic weights and target health
    Status(StatusArgs),
    /// Past deployments with outcome and duration
    History(ServiceArg),
    /// Let a deployment held at its approval gate continue
    Promote(ServiceArg),
    /// Roll back the unfinished deployment
    Abort(ServiceArg),
    /// Return traffic to the previous healthy deployment
    Rollback(ServiceArg),
    /// Drain and remove an old deployment
    Drain(DrainArgs),
    /// Drain and remove leftovers: deployments beyond drain.keep, and resources of deployments
    /// that no longer serve (a rollback or drain that died half-way)
    Gc(GcArgs),
    /// Show the logs of a service's containers (all deployments, or one)
    Logs(LogsArgs),
    /// Explain a failed or stuck deployment (and failed stacks): its timeline, the evidence,
    /// and the causes and fixes the catalog recognises
    Diagnose(DiagnoseArgs),
    /// Open a shell, or run one command, in a running task of a service or job (docker exec
    /// locally, ECS Exec on AWS)
    Exec(ExecArgs),
    /// Run a job once, inside the environment: stream its logs and exit with its exit code
    Run(RunArgs),
    /// Write wharf.toml from a Copilot workspace or an ecspresso config, with a report of what
    /// became of every key (on standard error)
    #[command(subcommand)]
    Import(ImportCommand),
    /// Write a CI workflow that validates and plans pull requests and deploys the branch,
    /// environment after environment, with the deploy roles `wharf up` makes
    #[command(subcommand)]
    Ci(CiCommand),
    /// Print a shell completion script
    Completions(CompletionsArgs),
    /// The local target's own processes
    #[command(subcommand)]
    Local(LocalCommand),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory to initialise
    #[arg(default_value = ".")]
    pub dir: PathBuf,

    /// The app's name [default: the directory's name]
    #[arg(long)]
    pub name: Option<String>,

    /// The first service's name
    #[arg(long, default_value = "web")]
    pub service: String,

    /// The port the service listens on
    #[arg(long, default_value_t = 8000)]
    pub port: u16,

    /// Overwrite an existing wharf.toml
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum CiCommand {
    /// .github/workflows/wharf.yml from [ci.github]: validate and plan on pull requests; on the
    /// branch, deploy the first environment, then each later one in its GitHub environment
    /// (required reviewers approve), through OIDC and the environment's deploy role
    Github(CiGithubArgs),
}

#[derive(Debug, Args)]
pub struct CiGithubArgs {
    /// Print the workflow instead of writing it
    #[arg(long)]
    pub stdout: bool,

    /// Overwrite an existing workflow
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// From a Copilot workspace: copilot/.workspace, each service's and job's manifest.yml and
    /// addons/, copilot/environments/*/manifest.yml
    Copilot(ImportCopilotArgs),
    /// From an ecspresso config (ecspresso.yml) and its task and service definitions (JSON or
    /// YAML; Jsonnet rendered first with `ecspresso render`)
    Ecspresso(ImportEcspressoArgs),
}

#[derive(Debug, Args)]
pub struct ImportCopilotArgs {
    /// The directory holding `copilot/` (the repository's root)
    #[arg(default_value = ".")]
    pub dir: PathBuf,

    #[command(flatten)]
    pub common: ImportCommon,
}

#[derive(Debug, Args)]
pub struct ImportEcspressoArgs {
    /// The ecspresso config
    #[arg(default_value = "ecspresso.yml")]
    pub config: PathBuf,

    /// The name of the environment it deploys to [default: the cluster's name]
    #[arg(long = "as-env", value_name = "ENV")]
    pub as_env: Option<String>,

    #[command(flatten)]
    pub common: ImportCommon,
}

#[derive(Debug, Args)]
pub struct ImportCommon {
    /// The AWS account of every environment (`123456789012`), or of one (`prod=123456789012`);
    /// repeat for several. Copilot keeps accounts outside the workspace
    #[arg(long, value_name = "[ENV=]ACCOUNT")]
    pub account: Vec<String>,

    /// One environment's region (`prod=us-east-1`); --region sets every environment's
    #[arg(long, value_name = "ENV=REGION")]
    pub env_region: Vec<String>,

    /// Where to write the manifest [default: wharf.toml beside the source]
    #[arg(long, value_name = "PATH", conflicts_with = "stdout")]
    pub out: Option<PathBuf>,

    /// Print the manifest on standard output instead of writing it
    #[arg(long)]
    pub stdout: bool,

    /// Overwrite an existing wharf.toml
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Treat warnings as errors
    #[arg(long)]
    pub strict: bool,

    /// Also check the account for the environment (--env): identity and account guard,
    /// certificate, images, roles, secrets and parameters, private-subnet egress, security
    /// groups, quotas against usage. Reads only
    #[arg(long)]
    pub remote: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Also preview each stack's change set against the account (add, modify, remove,
    /// replacement); creates and deletes change sets, changes nothing else
    #[arg(long)]
    pub remote: bool,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Only this stack [default: every stack of the environment]
    #[arg(long, value_enum)]
    pub stack: Option<StackArg>,

    /// Template format
    #[arg(long, value_enum, default_value_t = TemplateFormat::Yaml)]
    pub format: TemplateFormat,

    /// Write each template to DIR/{stack-name}.{json|yaml} instead of standard output
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StackArg {
    Baseline,
    Data,
    Edge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TemplateFormat {
    Json,
    Yaml,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// AWS: do not check the account and the stacks' states first
    #[arg(long, env = "WHARF_SKIP_PREFLIGHT", value_parser = clap::builder::FalseyValueParser::new())]
    pub skip_preflight: bool,

    /// AWS: apply a change that replaces a data store or secret with a new, empty one
    #[arg(long)]
    pub allow_replace: bool,
}

#[derive(Debug, Args)]
pub struct DeployArgs {
    /// The service [default: every service]
    pub service: Option<String>,

    /// Continue the unfinished deployment instead of starting one
    #[arg(long)]
    pub resume: bool,

    /// Break a stale lock left by a deploy that died
    #[arg(long)]
    pub force_unlock: bool,

    /// Return at an approval gate instead of waiting for `wharf promote`
    #[arg(long)]
    pub no_wait: bool,

    /// AWS: do not run the fast preflight (identity, stacks, images, secrets, egress) first
    #[arg(long, env = "WHARF_SKIP_PREFLIGHT", value_parser = clap::builder::FalseyValueParser::new())]
    pub skip_preflight: bool,

    /// AWS: push built images to this registry (`host[:port]`) instead of the service's ECR
    /// repository's host, keeping the repository's name (a mirror, or a local registry in tests)
    #[arg(long, env = "WHARF_REGISTRY", value_name = "HOST")]
    pub registry: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The job, as named under [jobs.NAME]
    pub job: String,

    /// Print the run's task and return; the job goes on without wharf
    #[arg(long, short = 'd')]
    pub detach: bool,

    /// AWS: push a built image to this registry (`host[:port]`) instead of the job's ECR
    /// repository's host
    #[arg(long, env = "WHARF_REGISTRY", value_name = "HOST")]
    pub registry: Option<String>,

    /// Runs this image instead of making the job's (what the local daemon's scheduled runs
    /// use: the image deploy made)
    #[arg(long, value_name = "REF", hide = true)]
    pub image: Option<String>,

    /// The run is the job's schedule's turn (recorded so; set by the local daemon)
    #[arg(long, hide = true)]
    pub scheduled: bool,

    /// Replaces the job's command: `wharf run migrate -- /migrate down 1`
    #[arg(last = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ServiceArg {
    /// The service [default: the only one]
    pub service: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The service or job [default: the only service]
    pub service: Option<String>,

    /// Only this deployment's tasks (a job: this run's)
    #[arg(long, visible_alias = "run", value_name = "ID")]
    pub deployment: Option<String>,

    /// Only this task: its id or the start of it (locally: part of a container's name)
    #[arg(long, value_name = "ID")]
    pub task: Option<String>,

    /// Keep streaming new lines (Ctrl-C stops)
    #[arg(short = 'F', long)]
    pub follow: bool,

    /// The last N lines, merged across tasks [default: 100 without --since]
    #[arg(long, value_name = "N")]
    pub tail: Option<u32>,

    /// Only lines since then: a duration back (`10m`, `2h`, `1d`) or a time
    /// (`2026-12-02T21:40:00Z`)
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,

    /// Only lines containing this text (on AWS without --since: the last day's)
    #[arg(long, value_name = "TEXT")]
    pub grep: Option<String>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The service [default: all]
    pub service: Option<String>,

    /// Redraw every 2 s until the unfinished deployments end (Ctrl-C stops watching)
    #[arg(short = 'w', long)]
    pub watch: bool,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The service or job [default: the only service]
    pub service: Option<String>,

    /// A task of this deployment (a job: this run) [default: the serving deployment]
    #[arg(long, visible_alias = "run", value_name = "ID")]
    pub deployment: Option<String>,

    /// This task: its id or the start of it (locally: part of a container's name)
    #[arg(long, value_name = "ID")]
    pub task: Option<String>,

    /// The command to run instead of a shell: `wharf exec web -- ls -la /app`
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DiagnoseArgs {
    /// The service [default: every service whose latest deployment failed or is unfinished]
    pub service: Option<String>,

    /// This deployment of the service [default: its latest]
    #[arg(long, value_name = "ID", requires = "service")]
    pub deployment: Option<String>,

    /// Print the catalog of rules as Markdown (docs/diagnose.md) and exit
    #[arg(long, exclusive = true)]
    pub catalog: bool,
}

#[derive(Debug, Args)]
pub struct DrainArgs {
    /// The deployment id to drain
    pub id: String,

    /// The service [default: the only one]
    #[arg(long)]
    pub service: Option<String>,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// AWS: empty wharf's image repositories and the buckets deleted with the stacks first
    /// (without it, `down` stops when they hold anything)
    #[arg(long)]
    pub purge: bool,
}

#[derive(Debug, Args)]
pub struct GcArgs {
    /// The service [default: every service]
    pub service: Option<String>,

    /// List what would be removed, remove nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Subcommand)]
pub enum LocalCommand {
    /// Run wharf's proxy for a local environment (started by `wharf up --env local`)
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The environment's state dir (routes, records, the control socket)
    #[arg(long, value_name = "DIR")]
    pub state_dir: PathBuf,

    /// Address to listen on [default: the environment's `listen`]
    #[arg(long, value_name = "ADDR")]
    pub listen: String,

    /// Headers must arrive, a kept-alive connection may idle, a target must answer within this
    #[arg(long, value_name = "MS", default_value_t = wharf_local::Limits::default().header_read.as_millis() as u64)]
    pub idle_timeout_ms: u64,

    /// Most bytes of request line and headers (more is answered 431)
    #[arg(long, value_name = "BYTES", default_value_t = wharf_local::Limits::default().max_header_bytes)]
    pub max_header_bytes: usize,

    /// Client connections open at once
    #[arg(long, value_name = "N", default_value_t = wharf_local::Limits::default().max_connections)]
    pub max_connections: usize,

    /// A listener for an internal service: its rules match requests that come in there
    #[arg(long, value_name = "SERVICE=ADDR", value_parser = parse_internal)]
    pub internal: Vec<(String, std::net::SocketAddr)>,
}

fn parse_internal(s: &str) -> Result<(String, std::net::SocketAddr), String> {
    let (name, addr) = s
        .split_once('=')
        .ok_or_else(|| format!("`{s}` is not SERVICE=ADDR"))?;
    let addr = addr
        .parse()
        .map_err(|e| format!("`{addr}` is not an address: {e}"))?;
    Ok((name.to_owned(), addr))
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate for
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

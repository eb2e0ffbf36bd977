//! Errors at the CLI edge: each maps to an exit code and renders as one screen with a fix.

use std::path::PathBuf;

use serde::Serialize;
use wharf_manifest::ManifestError;

use crate::exit::ExitStatus;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CliError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Manifest(#[from] ManifestError),

    #[error("the manifest has no environment `{name}`")]
    #[diagnostic(code(wharf::cli::unknown_env), help("{}", env_help(known, suggestion.as_deref())))]
    UnknownEnv {
        name: String,
        known: Vec<String>,
        suggestion: Option<String>,
    },

    #[error("which environment? the manifest has {}", known.join(", "))]
    #[diagnostic(
        code(wharf::cli::env_required),
        help("pass --env NAME (or set WHARF_ENV)")
    )]
    EnvRequired { known: Vec<String> },

    #[error("{} already exists", path.display())]
    #[diagnostic(
        code(wharf::cli::exists),
        help("pass --force (or --yes) to overwrite it")
    )]
    AlreadyExists { path: PathBuf },

    #[error("failed to write {}", path.display())]
    #[diagnostic(code(wharf::cli::write))]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("`{name}` cannot be an app name")]
    #[diagnostic(code(wharf::cli::bad_name), help("use lowercase letters, digits and hyphens, starting with a letter (at most 16), e.g. --name my-app"))]
    BadName { name: String },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Synth(#[from] wharf_cfn::SynthError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Daemon(#[from] wharf_local::daemon::DaemonError),

    #[error("environment `{env}` is not a local environment")]
    #[diagnostic(code(wharf::cli::not_local), help("this command works on local environments for now; the AWS target comes with its own issue"))]
    NotLocal { env: String },

    #[error("the proxy did not start ({status})\n{log}")]
    #[diagnostic(code(wharf::local::proxy_start), help("the lines above are the end of its log; a taken port is the usual cause: change `listen`"))]
    ProxyStart { status: String, log: String },

    #[error("cannot read the secrets file {}", path.display())]
    #[diagnostic(
        code(wharf::local::secrets),
        help("create it with lines `ssm:/path=value`, or remove `secrets_file`")
    )]
    Secrets {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the pre-build command of {service} failed ({status})")]
    #[diagnostic(
        code(wharf::deploy::pre_build),
        help("its output is above; nothing was deployed")
    )]
    PreBuild { service: String, status: String },

    #[error("deployment {id} of {service} was rolled back: {reason}")]
    #[diagnostic(
        code(wharf::deploy::rolled_back),
        help("the previous version serves; `wharf history` shows the deployments")
    )]
    RolledBack {
        service: String,
        id: String,
        reason: String,
    },

    #[error("no service `{name}` in the manifest")]
    #[diagnostic(code(wharf::cli::unknown_service), help("services: {known}"))]
    UnknownService { name: String, known: String },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Docker(#[from] wharf_local::docker::DockerError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Store(#[from] wharf_local::StoreError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Engine(#[from] wharf_engine::EngineError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Aws(#[from] wharf_aws::AwsError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Scan(#[from] wharf_aws::image::ScanError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Guard(#[from] wharf_aws::GuardError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Stack(#[from] wharf_aws::StackError),

    #[error("environment `{env}` is a local environment: {what} works on AWS environments")]
    #[diagnostic(code(wharf::cli::not_aws), help("pick an AWS environment with --env"))]
    NotAws { env: String, what: &'static str },

    #[error("the template of stack {stack} is {bytes} bytes, over CloudFormation's 51,200-byte limit for a template body")]
    #[diagnostic(code(wharf::aws::template_size), help("split services into fewer per environment, or drop optional features (waf, flow_logs) until templates are uploaded through S3"))]
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

    #[error("failed to start the async runtime")]
    #[diagnostic(code(wharf::cli::runtime))]
    Runtime {
        #[source]
        source: std::io::Error,
    },

    #[error("failed to write to standard output")]
    #[diagnostic(code(wharf::cli::stdout))]
    Stdout {
        #[source]
        source: std::io::Error,
    },
}

fn env_help(known: &[String], suggestion: Option<&str>) -> String {
    match suggestion {
        Some(s) => format!("did you mean `{s}`? environments: {}", known.join(", ")),
        None if known.is_empty() => "add an [environments.NAME] table to the manifest".to_owned(),
        None => format!("environments: {}", known.join(", ")),
    }
}

impl CliError {
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            CliError::Manifest(ManifestError::Invalid { .. }) => ExitStatus::InvalidManifest,
            CliError::Manifest(_) => ExitStatus::NoManifest,
            CliError::UnknownEnv { .. }
            | CliError::EnvRequired { .. }
            | CliError::BadName { .. }
            | CliError::Synth(_) => ExitStatus::Usage,
            CliError::AlreadyExists { .. }
            | CliError::Write { .. }
            | CliError::Stdout { .. }
            | CliError::Runtime { .. }
            | CliError::Secrets { .. }
            | CliError::PreBuild { .. }
            | CliError::Store(_) => ExitStatus::Failure,
            CliError::NotLocal { .. } | CliError::UnknownService { .. } => ExitStatus::Usage,
            CliError::RolledBack { .. } => ExitStatus::RolledBack,
            CliError::Engine(
                wharf_engine::EngineError::Locked { .. }
                | wharf_engine::EngineError::Unfinished { .. }
                | wharf_engine::EngineError::ManifestChanged { .. },
            ) => ExitStatus::Locked,
            CliError::Engine(_) => ExitStatus::Failure,
            CliError::Scan(wharf_aws::image::ScanError::Aws(_)) => ExitStatus::Aws,
            CliError::Scan(_) => ExitStatus::Failure,
            CliError::Docker(wharf_local::docker::DockerError::Unreachable { .. })
            | CliError::Daemon(_)
            | CliError::ProxyStart { .. } => ExitStatus::Unreachable,
            CliError::Docker(_) => ExitStatus::Failure,
            CliError::Aws(_) | CliError::Guard(_) | CliError::Stack(_) => ExitStatus::Aws,
            CliError::NotAws { .. } => ExitStatus::Usage,
            CliError::TemplateTooLarge { .. }
            | CliError::NotConfirmed
            | CliError::NotEmpty { .. } => ExitStatus::Failure,
        }
    }
}

/// The JSON shape of an error, for `--output json`.
#[derive(Debug, Serialize)]
pub struct JsonError {
    pub error: JsonErrorBody,
}

#[derive(Debug, Serialize)]
pub struct JsonErrorBody {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
    pub exit_code: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problems: Option<wharf_manifest::Problems>,
}

impl JsonError {
    pub fn from_error(e: &CliError) -> Self {
        use miette::Diagnostic;
        let mut message = e.to_string();
        let mut cause = std::error::Error::source(e);
        while let Some(c) = cause {
            message.push_str(&format!(": {c}"));
            cause = c.source();
        }
        let problems = match e {
            CliError::Manifest(ManifestError::Invalid { problems }) => Some(problems.clone()),
            _ => None,
        };
        JsonError {
            error: JsonErrorBody {
                code: e
                    .code()
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "wharf::error".into()),
                message,
                help: e.help().map(|h| h.to_string()),
                exit_code: e.exit_status() as u8,
                problems,
            },
        }
    }
}

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

    #[error("the manifest has no [ci.github]: which repository deploys?")]
    #[diagnostic(
        code(wharf::cli::no_ci),
        help("add to wharf.toml:\n[ci.github]\nrepository = \"owner/name\"   # the only repository the deploy roles trust\nenvironments = [\"test\", \"prod\"]  # in order; default: the AWS environments, prod last")
    )]
    NoCi,

    #[error("`{name}` cannot be an app name")]
    #[diagnostic(code(wharf::cli::bad_name), help("use lowercase letters, digits and hyphens, starting with a letter (at most 16), e.g. --name my-app"))]
    BadName { name: String },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Synth(#[from] wharf_cfn::SynthError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Import(#[from] wharf_import::ImportError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Daemon(#[from] wharf_local::daemon::DaemonError),

    #[error("no job `{name}` in environment {env}")]
    #[diagnostic(code(wharf::cli::unknown_job), help("jobs: {known}"))]
    UnknownJob {
        name: String,
        env: String,
        known: String,
    },

    #[error("`{program}` is not installed: wharf hands the session to it")]
    #[diagnostic(code(wharf::cli::exec_client), help("{install}"))]
    ExecClient { program: String, install: String },

    #[error("failed to start `{program}`")]
    #[diagnostic(code(wharf::cli::exec_start))]
    ExecStart {
        program: String,
        #[source]
        source: std::io::Error,
    },

    #[error("no service or job `{name}` in environment {env}")]
    #[diagnostic(
        code(wharf::cli::unknown_source),
        help("services: {services}; jobs: {jobs}")
    )]
    UnknownSource {
        name: String,
        env: String,
        services: String,
        jobs: String,
    },

    #[error("`{value}` is neither a duration nor a time")]
    #[diagnostic(
        code(wharf::cli::bad_since),
        help(
            "give a duration back (`10m`, `2h`, `1d`) or an RFC 3339 time (`2026-12-02T21:40:00Z`)"
        )
    )]
    BadSince { value: String },

    #[error("no service `{name}` in the manifest")]
    #[diagnostic(code(wharf::cli::unknown_service), help("services: {known}"))]
    UnknownService { name: String, known: String },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Engine(#[from] wharf_engine::EngineError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Local(#[from] wharf_local::LocalError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Build(#[from] wharf_docker::BuildError),

    #[cfg(feature = "aws")]
    #[error(transparent)]
    #[diagnostic(transparent)]
    AwsEnv(#[from] wharf_aws::EnvError),

    #[cfg(feature = "aws")]
    #[error(transparent)]
    #[diagnostic(transparent)]
    AwsImage(#[from] wharf_aws::ImageError),

    #[cfg(not(feature = "aws"))]
    #[error("environment `{env}` runs on AWS, and this wharf was built without the AWS target")]
    #[diagnostic(
        code(wharf::cli::no_aws),
        help(
            "build it with the AWS target (a default feature): `cargo install --locked --path crates/wharf-cli`, or `cargo run -p wharf-cli -- …` without `--no-default-features`"
        )
    )]
    NoAwsTarget { env: String },

    #[error("failed to start the async runtime")]
    #[diagnostic(code(wharf::cli::runtime))]
    Runtime {
        #[source]
        source: std::io::Error,
    },

    #[error("failed to listen for Ctrl-C")]
    #[diagnostic(code(wharf::cli::signal))]
    Signal {
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
        use wharf_engine::EngineError;
        match self {
            CliError::Manifest(ManifestError::Invalid { .. }) => ExitStatus::InvalidManifest,
            CliError::Manifest(_) => ExitStatus::NoManifest,
            CliError::UnknownEnv { .. }
            | CliError::EnvRequired { .. }
            | CliError::BadName { .. }
            | CliError::NoCi
            | CliError::Synth(_)
            | CliError::UnknownService { .. }
            | CliError::UnknownJob { .. }
            | CliError::UnknownSource { .. }
            | CliError::BadSince { .. } => ExitStatus::Usage,
            CliError::Build(wharf_docker::BuildError::Docker(
                wharf_docker::DockerError::Unreachable { .. },
            )) => ExitStatus::Unreachable,
            CliError::Import(
                wharf_import::ImportError::NotCopilot { .. }
                | wharf_import::ImportError::NoAccount { .. }
                | wharf_import::ImportError::NoRegion { .. }
                | wharf_import::ImportError::BadFlag { .. },
            ) => ExitStatus::Usage,
            CliError::AlreadyExists { .. }
            | CliError::Import(_)
            | CliError::ExecClient { .. }
            | CliError::ExecStart { .. }
            | CliError::Write { .. }
            | CliError::Stdout { .. }
            | CliError::Runtime { .. }
            | CliError::Signal { .. }
            | CliError::Build(_) => ExitStatus::Failure,
            CliError::Engine(EngineError::RolledBack { .. }) => ExitStatus::RolledBack,
            CliError::Engine(
                EngineError::Locked { .. }
                | EngineError::Unfinished { .. }
                | EngineError::ManifestChanged { .. },
            ) => ExitStatus::Locked,
            CliError::Engine(EngineError::Target { source, .. }) if source.cloud => ExitStatus::Aws,
            CliError::Engine(_) => ExitStatus::Failure,
            CliError::Daemon(_) => ExitStatus::Unreachable,
            CliError::Local(e) if e.is_unreachable() => ExitStatus::Unreachable,
            CliError::Local(
                wharf_local::LocalError::NotLocal { .. } | wharf_local::LocalError::NotAws { .. },
            ) => ExitStatus::Usage,
            CliError::Local(_) => ExitStatus::Failure,
            #[cfg(feature = "aws")]
            CliError::AwsEnv(wharf_aws::EnvError::NotAws { .. }) => ExitStatus::Usage,
            #[cfg(feature = "aws")]
            CliError::AwsEnv(e) if e.is_aws() => ExitStatus::Aws,
            #[cfg(feature = "aws")]
            CliError::AwsEnv(_) => ExitStatus::Failure,
            #[cfg(feature = "aws")]
            CliError::AwsImage(e) if e.is_aws() => ExitStatus::Aws,
            #[cfg(feature = "aws")]
            CliError::AwsImage(_) => ExitStatus::Failure,
            #[cfg(not(feature = "aws"))]
            CliError::NoAwsTarget { .. } => ExitStatus::Usage,
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
                exit_code: e.exit_status().code(),
                problems,
            },
        }
    }
}

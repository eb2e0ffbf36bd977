//! What stops an import: a directory that is not what the importer expects, a file it cannot
//! read or parse, or a fact the source does not hold (an environment's account).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ImportError {
    #[error("{} is not a Copilot workspace: it has no copilot/.workspace", dir.display())]
    #[diagnostic(
        code(wharf::import::not_copilot),
        help("run `wharf import copilot DIR` with DIR the directory holding `copilot/` (the repository's root)")
    )]
    NotCopilot { dir: PathBuf },

    #[error("failed to read {}", path.display())]
    #[diagnostic(code(wharf::import::read))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{} is not valid {}: {message}", path.display(), if path.extension().is_some_and(|e| e == "json") { "JSON" } else { "YAML" })]
    #[diagnostic(
        code(wharf::import::syntax),
        help("fix the file (wharf reads it as the tool that owns it would) and import again")
    )]
    Syntax { path: PathBuf, message: String },

    #[error("{} is Jsonnet, which wharf does not evaluate", path.display())]
    #[diagnostic(
        code(wharf::import::jsonnet),
        help("render it first, e.g. `ecspresso render taskdef > ecs-task-def.json` (servicedef, config likewise), point the config at the JSON and import again")
    )]
    Jsonnet { path: PathBuf },

    #[error("{what} is missing from {}", path.display())]
    #[diagnostic(code(wharf::import::missing), help("{help}"))]
    Missing {
        path: PathBuf,
        what: String,
        help: String,
    },

    #[error("no account for environment `{env}`: {why}")]
    #[diagnostic(
        code(wharf::import::account),
        help("pass --account 123456789012 (every environment) or --account {env}=123456789012, and --region likewise")
    )]
    NoAccount { env: String, why: String },

    #[error("no region for environment `{env}`: {why}")]
    #[diagnostic(
        code(wharf::import::region),
        help("pass --region eu-west-1 (every environment) or --region {env}=eu-west-1")
    )]
    NoRegion { env: String, why: String },

    #[error("`{value}` is not a valid --{flag}")]
    #[diagnostic(code(wharf::import::flag), help("{help}"))]
    BadFlag {
        flag: &'static str,
        value: String,
        help: String,
    },
}

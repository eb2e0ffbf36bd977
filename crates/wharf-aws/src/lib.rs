//! The AWS target: account access and the account guard ([`access`]), SDK errors classified
//! ([`error`]), CloudFormation stacks through change sets ([`stacks`]) and their recovery from
//! the states AWS leaves them in ([`recover`]), the engine's target on ECS and the load
//! balancer ([`ecs`]) with records and locks in DynamoDB ([`state`]), the image's registry
//! and scan gate ([`image`], [`ship`]), and the account's preflight ([`preflight`], with the
//! few EC2 reads it needs in [`ec2`]); [`open`] opens an environment's target and [`platform`] acts on the environment as a whole, with
//! what it did in [`reports`]. Functions take the clients they need, so tests hand in clients
//! pointed at the moto server or at replayed responses. Nothing here prints: progress goes to
//! an event sink.
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod access;
pub mod ec2;
pub mod ecs;
pub mod error;
pub mod image;
pub mod oidc;
pub mod open;
pub mod platform;
pub mod preflight;
pub mod purge;
pub mod recover;
pub mod refs;
pub mod reports;
pub mod ship;
pub mod stacks;
pub mod state;
pub mod templates;
pub mod wire;

pub use access::{check_guard, connect, identity, Access, AccessOptions, GuardError, Identity};
/// The CloudFormation client every stack operation takes.
pub use aws_sdk_cloudformation::Client as CfnClient;
pub use ecs::{AwsTarget, Clients, EnvOutputs};
pub use error::{AwsError, ErrorKind};
pub use platform::{AwsPlatform, EnvError};
pub use ship::ImageError;
pub use stacks::{Applied, Failure, Preview, StackEvent, StackSpec, Stacks};
pub use state::DynamoStore;
pub use wharf_diagnose::stack as classify;
pub use wharf_diagnose::{classify, Cause};

/// Why a stack operation did not end where it should.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StackError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Aws(#[from] AwsError),

    #[error("the change set for stack {stack} failed: {reason}")]
    #[diagnostic(code(wharf::aws::change_set), help("{}", cause.action()))]
    ChangeSet {
        stack: String,
        reason: String,
        cause: Cause,
    },

    #[error("stack {stack} ended in {status}{}", failure.as_ref().map(|f| format!("; the first failure: {f}")).unwrap_or_default())]
    #[diagnostic(code(wharf::aws::stack_failed), help("{}", failed_help(failure)))]
    Failed {
        stack: String,
        status: String,
        failure: Option<Box<Failure>>,
    },

    #[error("the change to stack {stack} would replace {resources}: CloudFormation would delete it and make a new, empty one")]
    #[diagnostic(
        code(wharf::aws::would_replace_data),
        help("nothing was changed. `wharf plan --remote` shows the change; what forces a replacement is usually a setting AWS cannot change in place (a data store's encryption key, its name or engine). Keep the setting as it was, or take a snapshot or export first and run `wharf up --allow-replace`")
    )]
    WouldReplaceData { stack: String, resources: String },

    #[error("stack {stack} is in {status}: it needs recovery before it can change")]
    #[diagnostic(
        code(wharf::aws::needs_recovery),
        help("run `wharf recover --env E`: it shows what it will do and asks first")
    )]
    NeedsRecovery { stack: String, status: String },

    #[error("gave up waiting for {what} of stack {stack} after {limit_s}s")]
    #[diagnostic(
        code(wharf::aws::stack_timeout),
        help("the operation may still finish: `wharf status` shows the stack; if it stays stuck, `wharf recover --env E` cancels it")
    )]
    Timeout {
        stack: String,
        what: String,
        limit_s: u64,
    },
}

fn failed_help(failure: &Option<Box<Failure>>) -> String {
    failure.as_ref().map_or_else(
        || "the stack's events name no failed resource; `wharf recover --env E` brings it back to a usable state".to_owned(),
        |f| f.action.clone(),
    )
}

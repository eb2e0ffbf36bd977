//! Why the engine stopped, with what to do about it.

use crate::target::TargetError;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum EngineError {
    #[error("{service} is being deployed by {holder} (locked since {since})")]
    #[diagnostic(
        code(wharf::engine::locked),
        help("wait for it to finish, or if that process is gone, run with --force-unlock")
    )]
    Locked {
        service: String,
        holder: String,
        since: String,
    },

    #[error("deployment {id} of {service} is unfinished ({phase})")]
    #[diagnostic(
        code(wharf::engine::unfinished),
        help("`wharf deploy --resume` continues it, `wharf abort` rolls it back")
    )]
    Unfinished {
        service: String,
        id: String,
        phase: String,
    },

    #[error("the settings of {service} in the manifest changed since deployment {id} started: it cannot {action} with them")]
    #[diagnostic(
        code(wharf::engine::manifest_changed),
        help("`wharf abort` rolls {id} back, then `wharf deploy` starts one with the new settings; or restore the manifest and {action} again")
    )]
    ManifestChanged {
        service: String,
        id: String,
        action: &'static str,
    },

    #[error("{service} has no unfinished deployment to {action}")]
    #[diagnostic(
        code(wharf::engine::nothing),
        help("`wharf status` shows the deployments")
    )]
    Nothing {
        service: String,
        action: &'static str,
    },

    #[error("{service} has no earlier healthy deployment to return to")]
    #[diagnostic(
        code(wharf::engine::no_previous),
        help("`wharf history` lists past deployments; deploy an earlier image explicitly")
    )]
    NoPrevious { service: String },

    #[error("deployment {id} of {service} is the one serving new users; drain another one, or deploy first")]
    #[diagnostic(code(wharf::engine::draining_default))]
    DrainingDefault { service: String, id: String },

    #[error("no deployment {id} of {service}")]
    #[diagnostic(
        code(wharf::engine::unknown_deployment),
        help("`wharf status` lists the deployments")
    )]
    UnknownDeployment { service: String, id: String },

    #[error("the lock on {service} was taken away (--force-unlock by someone else?)")]
    #[diagnostic(
        code(wharf::engine::lock_lost),
        help("check `wharf status`; `wharf deploy --resume` continues from the record")
    )]
    LockLost { service: String },

    #[error("failed to {action}")]
    #[diagnostic(code(wharf::engine::target))]
    Target {
        action: String,
        #[source]
        source: TargetError,
        /// The target's advice (its error's help).
        #[help]
        help: Option<String>,
    },

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

    #[error(
        "job {job} runs the image of service {service}, and no deployment of {service} serves"
    )]
    #[diagnostic(
        code(wharf::job::no_image),
        help("deploy {service} first (`wharf deploy {service}`), or give the job its own `image` or `build`")
    )]
    NoServingImage { job: String, service: String },

    /// Fault injection for tests: the engine stops as if killed after N transitions.
    #[error("stopped by fault injection after {transitions} transitions")]
    #[diagnostic(code(wharf::engine::injected))]
    Injected { transitions: usize },
}

impl EngineError {
    /// A target operation failed while doing `action`; its advice becomes the help.
    pub fn target(action: impl Into<String>, source: TargetError) -> Self {
        EngineError::Target {
            action: action.into(),
            help: source.help.clone(),
            source,
        }
    }
}

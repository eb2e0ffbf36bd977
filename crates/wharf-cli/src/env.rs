//! The one place the CLI asks which target an environment runs on. [`run`] loads the
//! manifest, picks the environment, opens its [`Platform`] with one exhaustive `match` on the
//! manifest's target settings, and hands it to a [`Verb`], whose body is generic: every command
//! is written once for the simulator, the local and the AWS target.

use std::io::Write as _;

use wharf_engine::{Engine, EventSink, Options, Platform, SystemClock, Target};
use wharf_manifest::{Environment, Manifest, Service, TargetSettings};

use crate::cli::Global;
use crate::commands::{load, pick_env};
use crate::error::CliError;
use crate::output::Printer;

/// What every verb body gets besides its platform.
pub struct Ctx<'a> {
    pub global: &'a Global,
    pub printer: &'a Printer,
    pub manifest: &'a Manifest,
    pub env: &'a Environment,
}

/// A command's body over any platform. `CliError` takes every error a platform and its target
/// can give, so bodies use `?` freely.
pub trait Verb {
    type Output;

    async fn run<P: Platform>(self, ctx: &Ctx<'_>, platform: &P) -> Result<Self::Output, CliError>
    where
        CliError: From<P::Error> + From<<P::Target as Target>::ImageError>;
}

/// Loads the manifest, picks the environment, opens its platform and runs `verb` on it.
pub fn run<V: Verb>(global: &Global, printer: &Printer, verb: V) -> Result<V::Output, CliError> {
    let loaded = load(global, printer)?;
    run_on(global, printer, &loaded.manifest, verb)
}

/// [`run`] with a manifest already loaded.
pub fn run_on<V: Verb>(
    global: &Global,
    printer: &Printer,
    manifest: &Manifest,
    verb: V,
) -> Result<V::Output, CliError> {
    let env = pick_env(global, manifest)?;
    let ctx = Ctx {
        global,
        printer,
        manifest,
        env,
    };
    runtime()?.block_on(async {
        match &env.target {
            TargetSettings::Local(_) => {
                if let Some(w) = wharf_local::open::secrets_exposed(manifest, env) {
                    printer.diag(&format!("warning: {w}\n"));
                }
                let platform = wharf_local::LocalPlatform { manifest, env };
                verb.run(&ctx, &platform).await
            }
            #[cfg(feature = "aws")]
            TargetSettings::Aws(aws) => {
                let access = wharf_aws::connect(&wharf_aws::AccessOptions {
                    profile: global.profile.clone().or_else(|| aws.profile.clone()),
                    region: Some(global.region.clone().unwrap_or_else(|| aws.region.clone())),
                    endpoint_url: global.endpoint_url.clone(),
                    max_attempts: None,
                })
                .await;
                let events = stack_events(printer);
                let platform = wharf_aws::AwsPlatform {
                    manifest,
                    env,
                    access,
                    events: &events,
                };
                verb.run(&ctx, &platform).await
            }
            #[cfg(not(feature = "aws"))]
            TargetSettings::Aws(_) => Err(CliError::NoAwsTarget {
                env: env.name.clone(),
            }),
        }
    })
}

pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| CliError::Runtime { source })
}

/// An engine over `target` that renders its events, with this process as the lock holder and
/// the environment's jobs for hooks that run one.
pub fn engine<'a, T: Target>(
    ctx: &Ctx<'_>,
    target: &'a T,
    events: &'a dyn EventSink,
    options: Options,
) -> Engine<'a, T, SystemClock> {
    Engine {
        target,
        clock: &SystemClock,
        events,
        holder: wharf_engine::Holder::this_process(),
        options: Options {
            jobs: ctx.env.jobs.clone(),
            ..options
        },
    }
}

/// The service named, or every service of the environment in priority order.
pub fn services<'m>(
    env: &'m Environment,
    name: Option<&str>,
) -> Result<Vec<&'m Service>, CliError> {
    match name {
        Some(_) => Ok(vec![one_service(env, name)?]),
        None => Ok(env.services_by_priority()),
    }
}

/// The service named, or the only one.
pub fn one_service<'m>(env: &'m Environment, name: Option<&str>) -> Result<&'m Service, CliError> {
    let known = || env.services.keys().cloned().collect::<Vec<_>>().join(", ");
    match name {
        Some(n) => env.services.get(n).ok_or_else(|| CliError::UnknownService {
            name: n.to_owned(),
            known: known(),
        }),
        None if env.services.len() == 1 => Ok(env.services.values().next().expect("one")),
        None => Err(CliError::UnknownService {
            name: "(none given)".into(),
            known: known(),
        }),
    }
}

#[cfg(feature = "aws")]
/// Prints stack events on stderr: text lines, or JSON lines with `--output json`.
fn stack_events(printer: &Printer) -> impl Fn(wharf_aws::StackEvent) + Send + Sync {
    let quiet = printer.quiet;
    let json = printer.json();
    move |e| {
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

/// Asks on the terminal unless `--yes`; without a terminal and without `--yes`, no (the
/// question is still shown, so the user sees what would have been done).
pub fn confirm(global: &Global) -> impl Fn(&str) -> bool + Sync + '_ {
    move |question| {
        use std::io::IsTerminal;
        if global.yes {
            return true;
        }
        if !std::io::stdin().is_terminal() {
            if !global.quiet {
                eprintln!("{question} (no terminal to answer on: pass --yes)");
            }
            return false;
        }
        eprint!("{question} [y/N] ");
        let _ = std::io::stderr().flush();
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).is_ok()
            && matches!(answer.trim(), "y" | "Y" | "yes")
    }
}

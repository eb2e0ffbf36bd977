//! `wharf local serve`: runs the proxy of a local environment in the foreground (the daemon
//! `wharf up --env local` starts).

use crate::cli::ServeArgs;
use crate::error::CliError;
use crate::exit::ExitStatus;

pub fn serve(args: &ServeArgs) -> Result<ExitStatus, CliError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| CliError::Runtime { source })?;
    let limits = wharf_local::Limits {
        header_read: std::time::Duration::from_millis(args.idle_timeout_ms),
        max_header_bytes: args.max_header_bytes,
        max_connections: args.max_connections,
    };
    rt.block_on(wharf_local::daemon::serve_with(
        &args.state_dir,
        &args.listen,
        limits,
        &args.internal,
    ))?;
    Ok(ExitStatus::Success)
}

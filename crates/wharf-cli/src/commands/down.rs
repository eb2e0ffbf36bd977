//! `wharf down`: removes everything the environment runs, only what wharf made (local:
//! labelled containers and images, the network, the proxy, the state dir; AWS: its stacks in
//! dependency order, stopping at repositories and buckets that hold something unless
//! `--purge`).

use wharf_engine::{Platform, Target};

use crate::cli::DownArgs;
use crate::env::{confirm, Ctx, Verb};
use crate::error::CliError;
use crate::exit::ExitStatus;

pub struct Down<'a>(pub &'a DownArgs);

impl Verb for Down<'_> {
    type Output = ExitStatus;

    async fn run<P: Platform>(self, ctx: &Ctx<'_>, platform: &P) -> Result<ExitStatus, CliError>
    where
        CliError: From<P::Error> + From<<P::Target as Target>::ImageError>,
    {
        let done = platform.down(self.0.purge, &confirm(ctx.global)).await?;
        ctx.printer.result(&done)?;
        Ok(ExitStatus::Success)
    }
}

//! `ssofresh status`: what the daemon is doing, per profile (not implemented yet).

use std::process::ExitCode;

use crate::cli::StatusArgs;

/// Runs `ssofresh status` and returns its exit status.
pub fn run(_args: &StatusArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`ssofresh status` is not implemented yet")
}

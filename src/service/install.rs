//! `ssofresh install` and `ssofresh uninstall`: the systemd unit or launchd agent for this
//! user (not implemented yet).

use std::process::ExitCode;

use crate::cli::{InstallArgs, UninstallArgs};

/// Runs `ssofresh install` and returns its exit status.
pub fn install(_args: &InstallArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`ssofresh install` is not implemented yet")
}

/// Runs `ssofresh uninstall` and returns its exit status.
pub fn uninstall(_args: &UninstallArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`ssofresh uninstall` is not implemented yet")
}

//! ssofresh as a service of the system: installing it under systemd or launchd, and telling
//! the user and the service manager what the daemon is doing.
//!
//! - [`install`]: `ssofresh install` and `uninstall`: the unit or agent written from the
//!   embedded templates, enabled and started.
//! - [`status`]: `ssofresh status`: the daemon's view, per profile, or the files' without one.
//! - [`state`]: the state file the daemon publishes, with the sections it wrote per login.
//! - [`hooks`]: the daemon's hooks: the state file, systemd, login-needed notices.
//! - [`sdnotify`]: `READY=1`, `STATUS=`, `RELOADING=1`, `STOPPING=1` for systemd.
//! - [`notify`]: a login needed: the desktop notification and the `--on-login-needed` command.

pub mod hooks;
pub mod install;
pub mod notify;
pub mod sdnotify;
pub mod state;
pub mod status;

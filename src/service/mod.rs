//! ssofresh as a service of the system: installing it under systemd or launchd, and telling
//! the user what it is doing.
//!
//! - [`install`]: `ssofresh install` and `uninstall`: the unit or agent written from the
//!   embedded templates, enabled and started.
//! - [`status`]: `ssofresh status`: the daemon's view, per profile.

pub mod install;
pub mod status;

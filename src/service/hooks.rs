//! The daemon's [`Hooks`]: what it publishes goes to the state file and to systemd, and a
//! login that needs the user to the desktop and the `--on-login-needed` command.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use tracing::{debug, warn};

use crate::daemon::engine::Notice;
use crate::daemon::{Hooks, Published};
use crate::files::config::LoginId;
use crate::files::fsio;
use crate::service::notify::Notifier;
use crate::service::sdnotify;
use crate::service::state::StateFile;

/// The hooks of a running daemon.
#[derive(Debug)]
pub struct ServiceHooks {
    /// The state file.
    pub state_path: PathBuf,
    /// The credentials file the daemon keeps.
    pub credentials: PathBuf,
    pub notifier: Notifier,
    started_at: DateTime<Utc>,
    /// The last status line sent to systemd.
    status: Option<String>,
    /// A failed state-file write is said once until one succeeds.
    write_failed: bool,
}

impl ServiceHooks {
    /// Hooks for a daemon starting now.
    pub fn new(state_path: PathBuf, credentials: PathBuf, notifier: Notifier) -> Self {
        Self {
            state_path,
            credentials,
            notifier,
            started_at: Utc::now(),
            status: None,
            write_failed: false,
        }
    }

    fn write_state(&mut self, published: &Published) {
        let state = StateFile::new(
            std::process::id(),
            self.started_at,
            &self.credentials,
            published,
        );
        match state.write(&self.state_path) {
            Ok(()) => self.write_failed = false,
            Err(e) if !self.write_failed => {
                self.write_failed = true;
                warn!("{e}; `ssofresh status` cannot show what the daemon does");
            }
            Err(e) => debug!("{e}"),
        }
    }

    /// The status line for what is published now, if it changed.
    fn new_status(&mut self, published: &Published) -> Option<String> {
        let line = sdnotify::status_line(&published.profiles, Utc::now());
        if self.status.as_ref() == Some(&line) {
            return None;
        }
        self.status = Some(line.clone());
        Some(line)
    }
}

impl Hooks for ServiceHooks {
    fn restore(&mut self) -> Vec<(LoginId, String, String)> {
        let Some(state) = StateFile::read(&self.state_path) else {
            return Vec::new();
        };
        let text = match fsio::read_text(&self.credentials) {
            Ok(text) => text.unwrap_or_default(),
            Err(e) => {
                debug!("{e}");
                return Vec::new();
            }
        };
        let restored = state.restore(&text);
        if !restored.is_empty() {
            debug!(
                "sections written by an earlier run: {}",
                restored
                    .iter()
                    .map(|(_, s, _)| format!("[{s}]"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        restored
    }

    fn ready(&mut self, published: &Published) {
        self.write_state(published);
        let line = sdnotify::status_line(&published.profiles, Utc::now());
        sdnotify::ready(&line);
        self.status = Some(line);
    }

    fn changed(&mut self, published: &Published) {
        self.write_state(published);
        if let Some(line) = self.new_status(published) {
            sdnotify::status(&line);
        }
    }

    fn reloading(&mut self) {
        sdnotify::reloading();
    }

    fn notice(&mut self, notice: &Notice) {
        self.notifier.tell(notice);
    }

    fn stopping(&mut self) {
        sdnotify::stopping();
    }
}

//! Telling the user that a login is needed: a desktop notification (D-Bus on Linux, the
//! notification centre on macOS, through the crate `notify-rust`) and the `--on-login-needed`
//! command, run through `sh -c` with the facts in its environment and a time limit.
//!
//! Both run on threads of their own: a slow notification daemon or a hanging hook never holds
//! up the loop. Neither is fatal: no desktop session is a debug line, a failing hook a warning.
//! ssofresh never opens a browser or starts a login by itself.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use tracing::{debug, warn};

use crate::daemon::engine::{Notice, NoticeEvent};
use crate::time::{format_local, format_time, relative};

/// How long the `--on-login-needed` command may run before it is killed.
pub const HOOK_LIMIT: Duration = Duration::from_secs(30);

/// How the user is told.
#[derive(Debug, Clone)]
pub struct Notifier {
    /// Show a desktop notification (`--no-notify` turns it off).
    pub desktop: bool,
    /// The `--on-login-needed` command.
    pub hook: Option<String>,
    /// How long the command may run.
    pub limit: Duration,
}

impl Notifier {
    /// Tells the user about `notice`, in the background.
    pub fn tell(&self, notice: &Notice) {
        let (summary, body) = texts(notice);
        // The engine has logged the event itself, once, at its level.
        debug!("telling the user: {summary}: {body}");
        if self.desktop {
            let (summary, body) = (summary.clone(), body.clone());
            let _ = std::thread::Builder::new()
                .name("notify".into())
                .spawn(move || desktop(&summary, &body));
        }
        if let Some(hook) = &self.hook {
            let hook = hook.clone();
            let env = hook_env(notice);
            let limit = self.limit;
            let _ = std::thread::Builder::new()
                .name("hook".into())
                .spawn(move || match run_hook(&hook, &env, limit) {
                    Ok(()) => debug!("--on-login-needed command done"),
                    Err(e) => warn!("the --on-login-needed command {e}"),
                });
        }
    }
}

/// The notification's title and text, with the exact command to run.
pub fn texts(notice: &Notice) -> (String, String) {
    let now = Utc::now();
    let when = format!(
        "{} ({})",
        format_local(notice.expires_at),
        relative(notice.expires_at, now)
    );
    let what = match notice.event {
        NoticeEvent::Ending => format!("The AWS login for {} ends at {when}", notice.login),
        NoticeEvent::Ended => format!("The AWS login for {} has ended", notice.login),
    };
    (
        format!("AWS login needed for {}", notice.profiles.join(", ")),
        format!("{what}. Run: {}", notice.fix),
    )
}

/// The environment of the `--on-login-needed` command.
pub fn hook_env(notice: &Notice) -> Vec<(&'static str, String)> {
    vec![
        ("SSOFRESH_PROFILES", notice.profiles.join(",")),
        ("SSOFRESH_LOGIN", notice.login.cache_key().to_owned()),
        ("SSOFRESH_EXPIRES_AT", format_time(notice.expires_at)),
        ("SSOFRESH_FIX", notice.fix.clone()),
        (
            "SSOFRESH_EVENT",
            match notice.event {
                NoticeEvent::Ending => "ending",
                NoticeEvent::Ended => "ended",
            }
            .to_owned(),
        ),
    ]
}

/// Runs `sh -c CMD` with `env` added, its output going where ssofresh's goes; kills it after
/// `limit`. The error says what went wrong.
pub fn run_hook(cmd: &str, env: &[(&str, String)], limit: Duration) -> Result<(), String> {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        // A group of its own, so that what it started is stopped with it at the limit.
        .process_group(0)
        // systemd's socket is the daemon's: a hook must not speak for it.
        .env_remove("NOTIFY_SOCKET")
        .envs(env.iter().map(|(k, v)| (*k, v)))
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("could not be started: {e}"))?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => return Err(format!("failed ({status})")),
            Ok(None) if start.elapsed() >= limit => {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{}", child.id())])
                    .stderr(Stdio::null())
                    .status();
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("was still running after {limit:?} and was stopped"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("could not be waited for: {e}")),
        }
    }
}

/// Shows a desktop notification. Without a desktop session it says so at debug level only.
fn desktop(summary: &str, body: &str) {
    if cfg!(all(unix, not(target_os = "macos"))) && !has_session_bus() {
        debug!("no D-Bus session bus: no desktop notification");
        return;
    }
    match notify_rust::Notification::new()
        .appname("ssofresh")
        .summary(summary)
        .body(body)
        .show()
    {
        Ok(_) => debug!("desktop notification shown"),
        Err(e) => debug!("no desktop notification: {e}"),
    }
}

/// Whether a D-Bus session bus can be reached: `DBUS_SESSION_BUS_ADDRESS`, or the socket a
/// user systemd provides at `$XDG_RUNTIME_DIR/bus`.
fn has_session_bus() -> bool {
    std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|v| !v.is_empty())
        || std::env::var_os("XDG_RUNTIME_DIR")
            .is_some_and(|d| std::path::Path::new(&d).join("bus").exists())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::config::LoginId;

    fn notice() -> Notice {
        Notice {
            login: LoginId::Session("corp".into()),
            profiles: vec!["dev".into(), "prod".into()],
            expires_at: Utc::now(),
            fix: "aws sso login --sso-session corp".into(),
            event: NoticeEvent::Ended,
        }
    }

    /// The notice names the profiles and the exact command; the hook sees the facts in its
    /// environment.
    #[test]
    fn texts_and_environment() {
        let (summary, body) = texts(&notice());
        assert_eq!(summary, "AWS login needed for dev, prod");
        assert!(
            body.ends_with("Run: aws sso login --sso-session corp"),
            "{body}"
        );
        let env = hook_env(&notice());
        assert!(env.contains(&("SSOFRESH_PROFILES", "dev,prod".to_owned())));
        assert!(env.contains(&("SSOFRESH_LOGIN", "corp".to_owned())));
    }

    /// A hook that fails says how; one that hangs is stopped at the limit.
    #[test]
    fn hook_failures() {
        assert_eq!(run_hook("exit 0", &[], HOOK_LIMIT), Ok(()));
        let e = run_hook("exit 3", &[], HOOK_LIMIT).expect_err("fails");
        assert!(e.contains("exit status: 3"), "{e}");
        let e = run_hook("sleep 5", &[], Duration::from_millis(200)).expect_err("stopped");
        assert!(e.contains("stopped"), "{e}");
        let env = [("SSOFRESH_LOGIN", "corp".to_owned())];
        assert_eq!(
            run_hook("test \"$SSOFRESH_LOGIN\" = corp", &env, HOOK_LIMIT),
            Ok(())
        );
    }
}

//! Telling systemd what the daemon is doing (`Type=notify`): `READY=1` once the config and
//! the logins are read, `STATUS=` lines for `systemctl --user status`, `RELOADING=1` around a
//! SIGHUP and `STOPPING=1` at the end. Without `NOTIFY_SOCKET` (not under systemd) nothing is
//! sent. The messages go through the crate `sd-notify` (a datagram on the socket).

use chrono::{DateTime, Local, Utc};
use sd_notify::NotifyState;
use tracing::debug;

use crate::daemon::plan::{ProfileView, State};

fn send(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        debug!("cannot tell systemd: {e}");
    }
}

/// `READY=1` with the current status line.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// A new `STATUS=` line.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// `RELOADING=1` with `MONOTONIC_USEC`, which systemd 253 and later want with it.
pub fn reloading() {
    match NotifyState::monotonic_usec_now() {
        Ok(now) => send(&[NotifyState::Reloading, now]),
        Err(_) => send(&[NotifyState::Reloading]),
    }
}

/// `STOPPING=1`.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// The status line: how many profiles are fresh and when the next renewal is (local time),
/// then what needs the user or is failing, e.g.
/// `3 profiles fresh, next renewal 14:05; corp needs login`.
pub fn status_line(profiles: &[ProfileView], now: DateTime<Utc>) -> String {
    if profiles.is_empty() {
        return "no profile to keep fresh".to_owned();
    }
    let count = |state: State| profiles.iter().filter(|p| p.state == state).count();
    let fresh = count(State::Fresh);
    let mut head = format!("{fresh} profile{} fresh", if fresh == 1 { "" } else { "s" });
    let next = profiles
        .iter()
        .filter(|p| p.state == State::Fresh)
        .filter_map(|p| p.next_action_at)
        .min();
    if let Some(next) = next {
        let local = next.with_timezone(&Local);
        let format = if next - now < chrono::TimeDelta::hours(20) {
            "%H:%M"
        } else {
            "%Y-%m-%d %H:%M"
        };
        head.push_str(&format!(", next renewal {}", local.format(format)));
    }
    let mut parts = vec![head];
    // Logins that need the user, once each, in order.
    let mut logins: Vec<&str> = Vec::new();
    for p in profiles.iter().filter(|p| p.state == State::NeedsLogin) {
        let login = p.login.as_deref().unwrap_or(&p.profile);
        if !logins.contains(&login) {
            logins.push(login);
        }
    }
    parts.extend(logins.iter().map(|l| format!("{l} needs login")));
    for (state, what) in [
        (State::Renewing, "renewing"),
        (State::Waiting, "waiting to retry"),
        (State::NoAccess, "without access"),
        (State::Conflict, "in conflict"),
        (State::Error, "failing"),
    ] {
        let n = count(state);
        if n > 0 {
            parts.push(format!("{n} {what}"));
        }
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(name: &str, login: &str, state: State, next: Option<DateTime<Utc>>) -> ProfileView {
        ProfileView {
            profile: name.into(),
            section: Some(name.into()),
            login: Some(login.into()),
            kind: None,
            state,
            credentials_expire_at: None,
            login_expires_at: None,
            next_action_at: next,
            message: None,
            fix: None,
        }
    }

    /// The line counts fresh profiles, names the earliest renewal in local time and each
    /// login that needs the user once.
    #[test]
    fn status_lines() {
        let now = Utc::now();
        let at = now + chrono::TimeDelta::minutes(30);
        let line = status_line(
            &[
                view(
                    "a",
                    "corp",
                    State::Fresh,
                    Some(at + chrono::TimeDelta::minutes(5)),
                ),
                view("b", "corp", State::Fresh, Some(at)),
                view("c", "old", State::NeedsLogin, None),
                view("d", "old", State::NeedsLogin, None),
                view("e", "corp", State::Waiting, Some(at)),
            ],
            now,
        );
        let hm = at.with_timezone(&Local).format("%H:%M").to_string();
        assert_eq!(
            line,
            format!("2 profiles fresh, next renewal {hm}; old needs login; 1 waiting to retry")
        );
        assert_eq!(status_line(&[], now), "no profile to keep fresh");
    }
}

//! `ssofresh status`: whether a daemon keeps this credentials file, and per profile its
//! section, login, state, when its credentials and its login end, what happens next, and
//! what to do when something is wrong.
//!
//! With a daemon running, the view is the one it publishes in its state file
//! ([`crate::service::state`]). Without one (or before it has written the file), the view is
//! worked out from the files themselves: the config, the token cache and the credentials
//! file, and the output says so. Nothing is written, no network is used: it answers at once.
//!
//! Exit status: 0 when no profile needs anything (all `fresh`, or `renewing`); 2 when any
//! needs the user (`needs_login`, `no_access`, `conflict`); 1 when any is failing (`error`,
//! `waiting`) or status itself failed.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use chrono::{DateTime, Local, Utc};
use serde::Serialize;

use crate::daemon::plan::{self, LoginProblem, Outcome, ProfileView, Selection, State};
use crate::daemon::run::load_profiles;
use crate::files::config::{LoginId, LoginKind};
use crate::files::credfile;
use crate::files::fsio::{self, Holder};
use crate::files::paths::{self, Paths};
use crate::login::console::{self, SessionError};
use crate::login::token;
use crate::service::state::{ProfileJson, StateFile};
use crate::time::{format_local, format_time, relative};

/// Runs `ssofresh status` and returns its exit status.
pub fn run(json: bool, paths: &Paths, selection: &Selection) -> anyhow::Result<ExitCode> {
    let state_dir = paths::state_dir(|k| std::env::var(k).ok())?;
    let report = gather(paths, selection, &state_dir, Utc::now())?;
    let mut out = std::io::stdout().lock();
    let text = if json {
        let mut json = serde_json::to_string_pretty(&report.json())?;
        json.push('\n');
        json
    } else {
        let colour = std::io::stdout().is_terminal()
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        report.table(colour, Utc::now())
    };
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(anyhow::Error::new(e).context("cannot write to stdout"));
        }
        _ => {}
    }
    Ok(ExitCode::from(report.exit_status()))
}

/// Where the view comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The running daemon's state file.
    Daemon,
    /// The files, read now.
    Files,
}

/// What `status` found.
#[derive(Debug, Clone)]
pub struct Report {
    /// The credentials file concerned.
    pub credentials: String,
    /// The daemon holding its instance lock, if any.
    pub daemon: Option<Holder>,
    pub source: Source,
    pub profiles: Vec<ProfileView>,
}

/// Finds the daemon and the view, from its state file or from the files.
pub fn gather(
    paths: &Paths,
    selection: &Selection,
    state_dir: &std::path::Path,
    now: DateTime<Utc>,
) -> anyhow::Result<Report> {
    let daemon = fsio::instance_holder(&paths.credentials)?;
    let state = daemon.as_ref().and_then(|d| {
        StateFile::read(&paths::state_file(state_dir, &paths.credentials))
            .filter(|s| d.pid.is_none_or(|pid| pid == s.pid))
    });
    let profiles = load_profiles(&paths.config, paths.config_named)?;
    let chose = !selection.selectors.is_empty() || !selection.excludes.is_empty();
    let (targets, selection) = plan::select(&profiles, selection);
    let (source, views) = match state {
        Some(state) => {
            let mut views: Vec<ProfileView> =
                state.profiles.iter().map(ProfileJson::to_view).collect();
            if chose {
                let chosen: Vec<&str> = targets
                    .iter()
                    .map(|t| t.name())
                    .chain(selection.iter().map(|(n, _)| n.as_str()))
                    .collect();
                views.retain(|v| chosen.contains(&v.profile.as_str()));
            }
            (Source::Daemon, views)
        }
        None => {
            let text = fsio::read_text(&paths.credentials)?.unwrap_or_default();
            let mut views: Vec<ProfileView> = selection
                .iter()
                .map(|(name, outcome)| ProfileView::of_selection(name, outcome))
                .collect();
            for target in &targets {
                views.push(from_files(paths, target, &text, now));
            }
            (Source::Files, views)
        }
    };
    Ok(Report {
        credentials: paths.credentials.display().to_string(),
        daemon,
        source,
        profiles: views,
    })
}

/// One profile worked out from the files: its login's token and its section's expiry.
fn from_files(
    paths: &Paths,
    target: &plan::Target,
    credentials: &str,
    now: DateTime<Utc>,
) -> ProfileView {
    let login = &target.login;
    let expires = credfile::section_expiry(credentials, &target.section);
    // Whether the login can be used, and when an SSO login's token ends.
    let (usable, login_expires_at) = match login {
        LoginId::Console(arn) => {
            let usable = match console::read(&console::session_path(&paths.login_cache, arn)) {
                Ok(_) => Ok(()),
                Err(SessionError::Missing { .. }) => Err(LoginProblem::Missing),
                Err(e) => Err(LoginProblem::Unusable(e.to_string())),
            };
            (usable, None)
        }
        _ => {
            let read = token::read(&token::token_path(&paths.sso_cache, login));
            let usable = plan::usable_token(&read, now).map(|_| ());
            (usable, read.as_ref().ok().map(|t| t.expires_at))
        }
    };
    let mut view = ProfileView {
        profile: target.name().to_owned(),
        section: Some(target.section.clone()),
        login: Some(login.cache_key().to_owned()),
        kind: Some(login.kind()),
        state: State::Fresh,
        credentials_expire_at: expires,
        login_expires_at,
        next_action_at: None,
        message: None,
        fix: None,
    };
    if let Err(why) = usable {
        let outcome = Outcome::NeedsLogin {
            login: login.clone(),
            command: login.login_command(target.name()),
            why,
        };
        (view.state, view.message, view.fix) = outcome.status();
    } else if expires.is_none_or(|at| at <= now) {
        view.state = State::Error;
        view.message = Some(match expires {
            Some(at) if login.kind() == LoginKind::Console => format!(
                "the credentials in [{}] expired at {} and no ssofresh daemon renews them; the \
                 AWS CLI reads them before its own `aws login` session, so remove [{}] or \
                 start the daemon",
                target.section,
                format_local(at),
                target.section
            ),
            Some(at) => format!(
                "the credentials in [{}] expired at {} and no ssofresh daemon renews them",
                target.section,
                format_local(at)
            ),
            None => format!(
                "[{}] holds no credentials from ssofresh and no daemon writes them",
                target.section
            ),
        });
        view.fix = Some(
            if cfg!(target_os = "macos") {
                "launchctl kickstart gui/$(id -u)/io.github.ssofresh (or ssofresh --once)"
            } else {
                "systemctl --user start ssofresh (or ssofresh --once)"
            }
            .to_owned(),
        );
    }
    view
}

/// `status --json`.
#[derive(Debug, Serialize)]
pub struct Json {
    pub daemon: DaemonJson,
    /// `daemon` or `files`.
    pub source: &'static str,
    pub credentials: String,
    pub profiles: Vec<ProfileJson>,
}

/// The `daemon` object of `status --json`.
#[derive(Debug, Serialize)]
pub struct DaemonJson {
    pub running: bool,
    pub pid: Option<u32>,
    /// When it started (RFC 3339 UTC), if known.
    pub since: Option<String>,
}

impl Report {
    /// The exit status (see the module docs).
    pub fn exit_status(&self) -> u8 {
        if self.profiles.iter().any(|p| p.state.needs_user()) {
            2
        } else if self
            .profiles
            .iter()
            .any(|p| matches!(p.state, State::Error | State::Waiting))
        {
            1
        } else {
            0
        }
    }

    fn since(&self) -> Option<DateTime<Utc>> {
        self.daemon
            .as_ref()
            .and_then(|d| d.since)
            .map(DateTime::<Utc>::from)
    }

    /// The JSON form.
    pub fn json(&self) -> Json {
        Json {
            daemon: DaemonJson {
                running: self.daemon.is_some(),
                pid: self.daemon.as_ref().and_then(|d| d.pid),
                since: self.since().map(format_time),
            },
            source: match self.source {
                Source::Daemon => "daemon",
                Source::Files => "files",
            },
            credentials: self.credentials.clone(),
            profiles: self.profiles.iter().map(ProfileJson::from_view).collect(),
        }
    }

    /// The terminal form: who answers, a table, then each problem with what to do.
    pub fn table(&self, colour: bool, now: DateTime<Utc>) -> String {
        let mut out = String::new();
        match &self.daemon {
            Some(d) => {
                out.push_str("daemon: running");
                if let Some(pid) = d.pid {
                    out.push_str(&format!(" (pid {pid})"));
                }
                if let Some(since) = self.since() {
                    out.push_str(&format!(" since {}", when(since, now)));
                }
            }
            None => out.push_str("daemon: not running"),
        }
        out.push_str(&format!(" for {}\n", self.credentials));
        if self.source == Source::Files {
            out.push_str(
                "(worked out from the config, the login caches and the credentials file)\n",
            );
        }
        if self.profiles.is_empty() {
            out.push_str(
                "no SSO or `aws login` profile selected; set one up with `aws configure sso` or `aws login`\n",
            );
            return out;
        }
        out.push('\n');
        let at = |t: Option<DateTime<Utc>>| t.map(|t| when(t, now)).unwrap_or_else(|| "-".into());
        let mut rows = vec![[
            "PROFILE".to_owned(),
            "KIND".to_owned(),
            "SECTION".to_owned(),
            "STATE".to_owned(),
            "CREDENTIALS UNTIL".to_owned(),
            "LOGIN UNTIL".to_owned(),
            "NEXT".to_owned(),
        ]];
        for p in &self.profiles {
            rows.push([
                p.profile.clone(),
                p.kind.map_or("-", |k| k.name()).to_owned(),
                p.section.clone().unwrap_or_else(|| "-".into()),
                p.state.name().to_owned(),
                at(p.credentials_expire_at),
                at(p.login_expires_at),
                at(p.next_action_at),
            ]);
        }
        let widths: Vec<usize> = (0..7)
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        for (i, row) in rows.iter().enumerate() {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                let padded = if c + 1 == row.len() {
                    cell.clone()
                } else {
                    format!("{cell:<w$}  ", w = widths[c])
                };
                let state = (i > 0 && c == 3).then(|| self.profiles[i - 1].state);
                line.push_str(&paint(&padded, state, colour));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        let problems: Vec<&ProfileView> = self
            .profiles
            .iter()
            .filter(|p| p.message.is_some())
            .collect();
        if !problems.is_empty() {
            out.push('\n');
        }
        for p in problems {
            out.push_str(&format!(
                "{}: {}\n",
                p.profile,
                p.message.as_deref().unwrap_or_default()
            ));
            if let Some(fix) = &p.fix {
                out.push_str(&format!("  fix: {fix}\n"));
            }
        }
        out
    }
}

/// A time for the table: local, the date only when it is not today, and how far away.
fn when(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let local = t.with_timezone(&Local);
    let format = if local.date_naive() == now.with_timezone(&Local).date_naive() {
        "%H:%M"
    } else {
        "%Y-%m-%d %H:%M"
    };
    format!("{} ({})", local.format(format), relative(t, now))
}

/// The state column in colour, when asked: green fresh, yellow in progress, red otherwise.
fn paint(text: &str, state: Option<State>, colour: bool) -> String {
    let Some(state) = state.filter(|_| colour) else {
        return text.to_owned();
    };
    let code = match state {
        State::Fresh => "32",
        State::Renewing | State::Waiting => "33",
        _ => "31",
    };
    let trimmed = text.trim_end();
    let pad = &text[trimmed.len()..];
    format!("\x1b[{code}m{trimmed}\x1b[0m{pad}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(states: &[State]) -> Report {
        Report {
            credentials: "/h/.aws/credentials".into(),
            daemon: None,
            source: Source::Files,
            profiles: states
                .iter()
                .enumerate()
                .map(|(i, s)| ProfileView {
                    profile: format!("p{i}"),
                    section: Some(format!("p{i}")),
                    login: Some("corp".into()),
                    kind: None,
                    state: *s,
                    credentials_expire_at: None,
                    login_expires_at: None,
                    next_action_at: None,
                    message: (*s != State::Fresh).then(|| "wrong".to_owned()),
                    fix: (*s == State::NeedsLogin).then(|| "aws sso login".to_owned()),
                })
                .collect(),
        }
    }

    /// 0 when nothing needs anything, 2 when the user must act, 1 when something fails.
    #[test]
    fn exit_statuses() {
        assert_eq!(report(&[State::Fresh, State::Renewing]).exit_status(), 0);
        assert_eq!(report(&[State::Fresh, State::Error]).exit_status(), 1);
        assert_eq!(report(&[State::Waiting]).exit_status(), 1);
        for s in [State::NeedsLogin, State::NoAccess, State::Conflict] {
            assert_eq!(report(&[State::Error, s]).exit_status(), 2, "{s:?}");
        }
    }

    /// The table has a header, one row per profile, and each problem with its fix; colour
    /// only when asked, and then only around the state.
    #[test]
    fn table() {
        let r = report(&[State::Fresh, State::NeedsLogin]);
        let plain = r.table(false, Utc::now());
        assert!(
            plain.contains("daemon: not running for /h/.aws/credentials"),
            "{plain}"
        );
        assert!(plain.contains("PROFILE  KIND  SECTION  STATE"), "{plain}");
        assert!(
            plain.contains("p1: wrong\n  fix: aws sso login\n"),
            "{plain}"
        );
        assert!(!plain.contains('\x1b'));
        let coloured = r.table(true, Utc::now());
        assert!(coloured.contains("\x1b[32mfresh\x1b[0m"), "{coloured}");
        assert!(
            coloured.contains("\x1b[31mneeds_login\x1b[0m"),
            "{coloured}"
        );
    }
}

//! The state file: what the daemon publishes for `ssofresh status` (its pid, since when, each
//! profile's state) and the record of the sections it wrote per login, which a restarted
//! daemon loads so that a logout still removes them.
//!
//! One file per credentials file ([`crate::files::paths::state_file`]), written atomically by
//! [`crate::files::fsio`] whenever what it says changes. Nothing secret is in it: of each
//! access key id written only a SHA-1 digest is kept, enough to recognise the key in the
//! credentials file again.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha1::{Digest, Sha1};

use crate::daemon::Published;
use crate::daemon::plan::{ProfileView, State};
use crate::files::config::{LoginId, LoginKind};
use crate::files::credfile::{self, SectionState};
use crate::files::fsio::{self, FsError};
use crate::time::format_time;

/// The version of the file's layout.
pub const VERSION: u32 = 1;

/// The state file as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateFile {
    pub version: u32,
    /// The daemon that wrote it.
    pub pid: u32,
    /// When that daemon started (RFC 3339 UTC).
    pub started_at: String,
    /// The credentials file it keeps.
    pub credentials: String,
    pub profiles: Vec<ProfileJson>,
    pub written: Vec<WrittenJson>,
}

/// One profile, as in the state file and in `ssofresh status --json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileJson {
    pub profile: String,
    pub section: Option<String>,
    pub login: Option<String>,
    /// `sso` or `login` (an `aws login` session); absent in files of older versions.
    #[serde(default)]
    pub kind: Option<String>,
    pub state: String,
    pub credentials_expire_at: Option<String>,
    pub login_expires_at: Option<String>,
    pub next_action_at: Option<String>,
    pub message: Option<String>,
    pub fix: Option<String>,
}

/// A section ssofresh wrote from a login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrittenJson {
    /// `sso_session`, `start_url` or `login_session` (an `aws login` session).
    pub login_kind: String,
    /// The sso-session name, the start URL, or the `login_session` ARN.
    pub login: String,
    pub section: String,
    /// Lowercase hex SHA-1 of the access key id written.
    pub key_sha1: String,
}

impl ProfileJson {
    /// The JSON form of a profile's view.
    pub fn from_view(view: &ProfileView) -> Self {
        let time = |t: Option<DateTime<Utc>>| t.map(format_time);
        Self {
            profile: view.profile.clone(),
            section: view.section.clone(),
            login: view.login.clone(),
            kind: view.kind.map(|k| k.name().to_owned()),
            state: view.state.name().to_owned(),
            credentials_expire_at: time(view.credentials_expire_at),
            login_expires_at: time(view.login_expires_at),
            next_action_at: time(view.next_action_at),
            message: view.message.clone(),
            fix: view.fix.clone(),
        }
    }

    /// The view back from its JSON form; an unknown state reads as `error`.
    pub fn to_view(&self) -> ProfileView {
        let time = |t: &Option<String>| {
            t.as_deref()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc))
        };
        let state = [
            State::Fresh,
            State::Renewing,
            State::Waiting,
            State::NeedsLogin,
            State::NoAccess,
            State::Conflict,
            State::Error,
        ]
        .into_iter()
        .find(|s| s.name() == self.state)
        .unwrap_or(State::Error);
        ProfileView {
            profile: self.profile.clone(),
            section: self.section.clone(),
            login: self.login.clone(),
            kind: match self.kind.as_deref() {
                Some("sso") => Some(LoginKind::Sso),
                Some("login") => Some(LoginKind::Console),
                _ => None,
            },
            state,
            credentials_expire_at: time(&self.credentials_expire_at),
            login_expires_at: time(&self.login_expires_at),
            next_action_at: time(&self.next_action_at),
            message: self.message.clone(),
            fix: self.fix.clone(),
        }
    }
}

/// Lowercase hex SHA-1 of an access key id.
fn key_digest(access_key_id: &str) -> String {
    hex::encode(Sha1::digest(access_key_id.as_bytes()))
}

impl StateFile {
    /// The file's content for what the daemon publishes.
    pub fn new(
        pid: u32,
        started_at: DateTime<Utc>,
        credentials: &Path,
        published: &Published,
    ) -> Self {
        Self {
            version: VERSION,
            pid,
            started_at: format_time(started_at),
            credentials: credentials.display().to_string(),
            profiles: published
                .profiles
                .iter()
                .map(ProfileJson::from_view)
                .collect(),
            written: published
                .written
                .iter()
                .map(|(login, section, key)| {
                    let (kind, name) = match login {
                        LoginId::Session(name) => ("sso_session", name),
                        LoginId::StartUrl(url) => ("start_url", url),
                        LoginId::Console(arn) => ("login_session", arn),
                    };
                    WrittenJson {
                        login_kind: kind.to_owned(),
                        login: name.clone(),
                        section: section.clone(),
                        key_sha1: key_digest(key),
                    }
                })
                .collect(),
        }
    }

    /// Writes the file atomically (0600), creating its folder (0700) if need be.
    pub fn write(&self, path: &Path) -> Result<(), FsError> {
        if let Some(dir) = path.parent() {
            fsio::create_private_dir(dir)?;
        }
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        fsio::replace(path, text.as_bytes()).map(|_| ())
    }

    /// Reads the file; `None` when there is none or it cannot be used (a newer layout, a
    /// broken file: what it said is worked out again).
    pub fn read(path: &Path) -> Option<Self> {
        let text = fsio::read_text(path).ok()??;
        serde_json::from_str::<Self>(&text)
            .ok()
            .filter(|s| s.version == VERSION)
    }

    /// The sections of the record that `credentials` (the credentials file's text) still
    /// holds with the key written: `(login, section, access key id)`, for
    /// [`crate::daemon::engine::Engine::restore_written`]. A section changed since is left
    /// alone: it is no longer ssofresh's.
    pub fn restore(&self, credentials: &str) -> Vec<(LoginId, String, String)> {
        self.written
            .iter()
            .filter_map(|w| {
                let login = match w.login_kind.as_str() {
                    "sso_session" => LoginId::Session(w.login.clone()),
                    "start_url" => LoginId::StartUrl(w.login.clone()),
                    "login_session" => LoginId::Console(w.login.clone()),
                    _ => return None,
                };
                match credfile::section_key_id(credentials, &w.section) {
                    SectionState::Holds {
                        access_key_id: Some(key),
                    } if key_digest(&key) == w.key_sha1 => Some((login, w.section.clone(), key)),
                    _ => None,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn published() -> Published {
        Published {
            profiles: vec![ProfileView {
                profile: "dev".into(),
                section: Some("dev".into()),
                login: Some("corp".into()),
                kind: None,
                state: State::NeedsLogin,
                credentials_expire_at: Some(DateTime::<Utc>::UNIX_EPOCH),
                login_expires_at: None,
                next_action_at: None,
                message: Some("the login expired".into()),
                fix: Some("aws sso login --sso-session corp".into()),
            }],
            written: vec![
                (
                    LoginId::Session("corp".into()),
                    "dev".into(),
                    "ASIAKEPT".into(),
                ),
                (
                    LoginId::StartUrl("https://x/start".into()),
                    "old".into(),
                    "ASIAGONE".into(),
                ),
            ],
        }
    }

    /// The file round-trips, keeps no access key id in clear, and restores only the sections
    /// that still hold the key written.
    #[test]
    fn round_trip_and_restore() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub").join("state-x.json");
        let state = StateFile::new(
            42,
            Utc::now(),
            Path::new("/h/.aws/credentials"),
            &published(),
        );
        state.write(&path).expect("write");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains("ASIAKEPT"), "{text}");
        let back = StateFile::read(&path).expect("parse");
        assert_eq!(back, state);
        assert_eq!(back.profiles[0].to_view(), published().profiles[0]);
        let creds = "[dev]\naws_access_key_id = ASIAKEPT\n[old]\naws_access_key_id = ASIAOTHER\n";
        assert_eq!(
            back.restore(creds),
            [(
                LoginId::Session("corp".into()),
                "dev".to_owned(),
                "ASIAKEPT".to_owned()
            )]
        );
        std::fs::write(&path, "{\"version\": 99}").expect("write");
        assert!(StateFile::read(&path).is_none());
    }
}

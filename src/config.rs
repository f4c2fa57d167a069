//! Reading `~/.aws/config`: which profiles are SSO profiles, and which login each one uses.
//!
//! The file is read exactly as botocore reads it (see [`crate::ini`]) and never written.
//! A profile that is wrong is reported by name with what to fix, and the others still run.

use std::fmt;

/// The login (cached SSO token) a profile draws on. Its [`cache_key`](Self::cache_key) names
/// the token file: `~/.aws/sso/cache/<sha1(cache_key)>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LoginId {
    /// `sso_session = NAME` profiles share the `[sso-session NAME]` login.
    Session(String),
    /// Legacy profiles: the login is keyed by the exact `sso_start_url` string.
    StartUrl(String),
}

impl LoginId {
    /// The string whose SHA-1 names the token file, as the AWS CLI computes it.
    pub fn cache_key(&self) -> &str {
        match self {
            LoginId::Session(name) => name,
            LoginId::StartUrl(url) => url,
        }
    }

    /// The command that renews this login, e.g. `aws sso login --sso-session corp`.
    /// A legacy login is renewed through one of its profiles.
    pub fn login_command(&self, profile: &str) -> String {
        match self {
            LoginId::Session(name) => format!("aws sso login --sso-session {}", shell_word(name)),
            LoginId::StartUrl(_) => format!("aws sso login --profile {}", shell_word(profile)),
        }
    }
}

impl fmt::Display for LoginId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginId::Session(name) => write!(f, "sso-session {name}"),
            LoginId::StartUrl(url) => write!(f, "start URL {url}"),
        }
    }
}

/// Quotes a word for a shell command line when it needs it.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/@+=,".contains(c));
    if plain {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// An SSO profile that can be turned into role credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoProfile {
    /// The profile's name (`dev` for `[profile dev]`, `default` for `[default]`).
    pub name: String,
    /// The login it uses.
    pub login: LoginId,
    /// `sso_start_url` (from the profile, or from its `[sso-session]`).
    pub start_url: String,
    /// `sso_region`: where the portal and OIDC endpoints are.
    pub sso_region: String,
    /// `sso_account_id`.
    pub account_id: String,
    /// `sso_role_name`.
    pub role_name: String,
    /// The profile's own `region`, written to the credentials file only when asked.
    pub region: Option<String>,
    /// The profile's `ca_bundle`, a PEM file of extra certificate authorities.
    pub ca_bundle: Option<String>,
}

/// A profile that looks like an SSO profile but cannot be used; skipped, the others still run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileProblem {
    /// The profile's name.
    pub profile: String,
    /// What is wrong and what to do, as one sentence for the user.
    pub message: String,
}

/// The file as a whole cannot be read the way botocore reads it (botocore refuses it too).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong there.
    pub message: String,
}

/// Everything ssofresh takes from the config file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profiles {
    /// Usable SSO profiles, in file order.
    pub sso: Vec<SsoProfile>,
    /// SSO profiles that cannot be used, with the reason.
    pub problems: Vec<ProfileProblem>,
}

/// Reads the text of a config file.
pub fn parse(text: &str) -> Result<Profiles, ParseError> {
    let _ = text;
    unimplemented!("config::parse is being written")
}

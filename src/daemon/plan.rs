//! The pure decisions of a pass: which profiles to write and where, which logins are usable,
//! and what each profile's outcome means for the user. No I/O, no clock: the time is an input.

use chrono::{DateTime, Utc};

use crate::files::config::{LoginId, LoginKind, Profile, ProfileProblem, Profiles, SsoProfile};
use crate::files::credfile::{self, Refusal};
use crate::login::portal::{CallError, place};
use crate::login::token::{Token, TokenError};
use crate::time::format_local;

/// One `--profile` choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// `NAME[:SECTION]`: this profile, to this section.
    Exact {
        /// The profile in the config file.
        profile: String,
        /// The credentials-file section to write.
        section: String,
    },
    /// `GLOB`: the profiles whose names match, each to its own section.
    Glob(Glob),
}

/// The `--profile` and `--exclude` choices. Without selectors: every SSO profile; the
/// excludes then remove from what was chosen, whichever way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// `--profile` choices; empty means every SSO profile.
    pub selectors: Vec<Selector>,
    /// `--exclude` globs. One that matches nothing is not an error: a service line such as
    /// `--exclude 'prod-*'` must work on a machine without such profiles.
    pub excludes: Vec<Glob>,
}

impl Selection {
    /// True when `--exclude` leaves this profile out.
    pub fn excludes(&self, profile: &str) -> bool {
        self.excludes.iter().any(|glob| glob.is_match(profile))
    }
}

/// A shell-style pattern over profile names: `*`, `?`, `[...]`, `{a,b}`; case matters, as in
/// profile names. Compared by its text.
#[derive(Debug, Clone)]
pub struct Glob {
    text: String,
    matcher: globset::GlobMatcher,
}

impl Glob {
    /// The characters that make a `--profile` value a glob rather than a name.
    pub const SPECIAL: [char; 4] = ['*', '?', '[', '{'];

    /// Compiles a pattern, or says what is wrong with it.
    pub fn new(text: &str) -> Result<Self, String> {
        let matcher = globset::GlobBuilder::new(text)
            .literal_separator(false)
            .backslash_escape(true)
            .build()
            .map_err(|e| format!("{text:?} is not a valid glob: {}", e.kind()))?
            .compile_matcher();
        Ok(Self {
            text: text.to_owned(),
            matcher,
        })
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when the profile name matches.
    pub fn is_match(&self, name: &str) -> bool {
        self.matcher.is_match(name)
    }
}

impl PartialEq for Glob {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for Glob {}

/// A profile to write, and the credentials-file section it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The profile from the config file, of either kind.
    pub profile: Profile,
    /// The section of the credentials file it is written to.
    pub section: String,
    /// The login it draws on (the profile's, kept at hand).
    pub login: LoginId,
}

impl Target {
    /// The profile `profile` written to `section`.
    pub fn new(profile: Profile, section: String) -> Self {
        Self {
            login: profile.login(),
            profile,
            section,
        }
    }

    /// The profile's name.
    pub fn name(&self) -> &str {
        self.profile.name()
    }
}

/// What happened to one profile in a pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Fresh credentials are in `section`, valid until `expires`.
    Written {
        section: String,
        expires: DateTime<Utc>,
    },
    /// The login cannot be used; `command` renews it.
    NeedsLogin {
        login: LoginId,
        command: String,
        why: LoginProblem,
    },
    /// The login has no access to this account and role.
    NoAccess { detail: String },
    /// The portal failed or could not be reached, after retries.
    Unavailable { detail: String },
    /// Another failure that retrying will not cure.
    Failed { detail: String },
    /// The section was not written to protect what is there.
    Conflict { section: String, refusal: Refusal },
    /// The profile is wrong in the config file.
    Misconfigured { message: String },
    /// `--profile` named a profile that is not an SSO profile in the config file, or (`glob`)
    /// gave a glob that matches none; `known` are the SSO profiles there are.
    NotFound { known: Vec<String>, glob: bool },
}

impl Outcome {
    /// True when the profile was written.
    pub fn is_written(&self) -> bool {
        matches!(self, Outcome::Written { .. })
    }

    /// The outcome of a failed portal call. `endpoint` is where the calls really went when
    /// `AWS_ENDPOINT_URL_SSO` (or `AWS_ENDPOINT_URL`) sends them elsewhere than AWS.
    pub fn from_call(error: CallError, profile: &SsoProfile, endpoint: Option<&str>) -> Self {
        let portal = format!("the SSO portal {}", place(&profile.sso_region, endpoint));
        match error {
            CallError::Unauthorized => Outcome::NeedsLogin {
                command: profile.login.login_command(&profile.name),
                login: profile.login.clone(),
                why: LoginProblem::Rejected,
            },
            CallError::NoAccess { code, message } => Outcome::NoAccess {
                detail: format!(
                    "no access to account {} as role {} ({code}{}); check sso_account_id and \
                     sso_role_name of this profile, or ask your administrator for the assignment",
                    profile.account_id,
                    profile.role_name,
                    if message.is_empty() {
                        String::new()
                    } else {
                        format!(": {message}")
                    },
                ),
            },
            CallError::Throttled { detail } => Outcome::Unavailable {
                detail: format!(
                    "{portal} is throttling calls ({detail}); wait a minute and run again"
                ),
            },
            // An answer with a status is the portal failing; no answer is the way there.
            CallError::Transient { detail } if detail.starts_with("HTTP ") => {
                Outcome::Unavailable {
                    detail: format!("{portal} failed ({detail}); run again in a few minutes"),
                }
            }
            CallError::Transient { detail } => Outcome::Unavailable {
                detail: format!(
                    "{portal} did not answer ({detail}); check your network or proxy settings \
                     and run again"
                ),
            },
            CallError::Failed { detail } => Outcome::Failed {
                detail: format!("GetRoleCredentials failed: {detail}"),
            },
        }
    }

    /// One sentence for the user: what happened and, when something is wrong, what to do.
    pub fn message(&self) -> String {
        match self {
            Outcome::Written { section, expires } => {
                format!("wrote [{section}], valid until {}", format_local(*expires))
            }
            Outcome::NeedsLogin {
                login,
                command,
                why,
            } => {
                format!("{}; run `{command}`", why.describe(login))
            }
            Outcome::NoAccess { detail }
            | Outcome::Unavailable { detail }
            | Outcome::Failed { detail } => detail.clone(),
            Outcome::Conflict { section, refusal } => {
                format!("not written to [{section}]: {refusal}")
            }
            Outcome::Misconfigured { message } => message.clone(),
            Outcome::NotFound { known, glob } => {
                let what = if *glob {
                    "this --profile glob matches no SSO or `aws login` profile in the config file"
                } else {
                    "not an SSO or `aws login` profile in the config file"
                };
                if known.is_empty() {
                    format!(
                        "{what}, which has none; set one up with `aws configure sso` or `aws login`"
                    )
                } else {
                    format!("{what} (its profiles: {})", known.join(", "))
                }
            }
        }
    }
}

/// A profile's state as `ssofresh status` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Credentials are written and renewed on time.
    Fresh,
    /// A call or a write is under way.
    Renewing,
    /// Backing off after a fault that may pass (the portal failing, no network).
    Waiting,
    /// Only the user can help: `aws sso login`.
    NeedsLogin,
    /// The login has no access to the account and role.
    NoAccess,
    /// The section is not written, to protect what is there.
    Conflict,
    /// Anything else: a broken profile, an unexpected failure.
    Error,
}

impl State {
    /// The name used in `status` output and its JSON.
    pub fn name(self) -> &'static str {
        match self {
            State::Fresh => "fresh",
            State::Renewing => "renewing",
            State::Waiting => "waiting",
            State::NeedsLogin => "needs_login",
            State::NoAccess => "no_access",
            State::Conflict => "conflict",
            State::Error => "error",
        }
    }

    /// True when only the user can change it (a login, an access grant, a conflicting section).
    pub fn needs_user(self) -> bool {
        matches!(self, State::NeedsLogin | State::NoAccess | State::Conflict)
    }
}

/// One profile as `ssofresh status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileView {
    pub profile: String,
    /// The credentials-file section, if the profile has one.
    pub section: Option<String>,
    /// The sso-session name, the start URL of a legacy profile, or the `login_session` ARN.
    pub login: Option<String>,
    /// Which kind of login the profile draws on.
    pub kind: Option<LoginKind>,
    pub state: State,
    pub credentials_expire_at: Option<DateTime<Utc>>,
    /// When the login's current SSO access token ends.
    pub login_expires_at: Option<DateTime<Utc>>,
    /// When ssofresh acts next for this profile (renewal, retry).
    pub next_action_at: Option<DateTime<Utc>>,
    /// What is wrong, when something is.
    pub message: Option<String>,
    /// The command that fixes it, when there is one.
    pub fix: Option<String>,
}

impl Outcome {
    /// The state an outcome puts a profile in, what to say and the command that fixes it.
    pub fn status(&self) -> (State, Option<String>, Option<String>) {
        let state = match self {
            Outcome::Written { .. } => return (State::Fresh, None, None),
            Outcome::NeedsLogin {
                login,
                command,
                why,
            } => {
                return (
                    State::NeedsLogin,
                    Some(why.describe(login)),
                    Some(command.clone()),
                );
            }
            Outcome::NoAccess { .. } => State::NoAccess,
            Outcome::Unavailable { .. } => State::Waiting,
            Outcome::Conflict { .. } => State::Conflict,
            Outcome::Failed { .. } | Outcome::Misconfigured { .. } | Outcome::NotFound { .. } => {
                State::Error
            }
        };
        (state, Some(self.message()), None)
    }
}

impl ProfileView {
    /// A profile the selection itself settled (misconfigured, not found, section clash).
    pub fn of_selection(name: &str, outcome: &Outcome) -> Self {
        let (state, message, fix) = outcome.status();
        Self {
            profile: name.to_owned(),
            section: match outcome {
                Outcome::Conflict { section, .. } => Some(section.clone()),
                _ => None,
            },
            login: None,
            kind: None,
            state,
            credentials_expire_at: None,
            login_expires_at: None,
            next_action_at: None,
            message,
            fix,
        }
    }
}

/// Why a login cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginProblem {
    /// No token file.
    Missing,
    /// The token expired at this time; it is never sent.
    Expired(DateTime<Utc>),
    /// The portal answered 401.
    Rejected,
    /// The token file cannot be read or is not a token (the reason, naming the file).
    Unusable(String),
    /// AWS Sign-In says the `aws login` session is over (what it said).
    Ended(String),
}

impl LoginProblem {
    fn describe(&self, login: &LoginId) -> String {
        match self {
            LoginProblem::Missing if login.kind() == LoginKind::Console => {
                format!("no {login} is cached (signed out, or never signed in)")
            }
            LoginProblem::Missing => format!("no login found for {login}"),
            LoginProblem::Ended(detail) => format!("{login} has ended ({detail})"),
            LoginProblem::Expired(at) if login.kind() == LoginKind::Console => format!(
                "the credentials of {login} expired at {} and it cannot be refreshed",
                format_local(*at)
            ),
            LoginProblem::Expired(at) => {
                format!("the login for {login} expired at {}", format_local(*at))
            }
            LoginProblem::Rejected => {
                format!("the SSO portal rejected the login for {login} (signed out or revoked)")
            }
            LoginProblem::Unusable(reason) => {
                format!("the login for {login} cannot be used: {reason}")
            }
        }
    }
}

/// Chooses the profiles of a pass. Without selectors: every SSO profile, each to its own
/// section, plus the config problems as outcomes. With selectors: just those (a glob's matches
/// in the order of the config file, a profile named exactly winning over a glob), and a
/// selected name that is not a usable SSO profile, or a glob that matches none, is an outcome
/// too. `--exclude` then removes what it matches, whichever way it was chosen.
pub fn select(profiles: &Profiles, selection: &Selection) -> (Vec<Target>, Vec<(String, Outcome)>) {
    let mut targets = Vec::new();
    let mut outcomes = Vec::new();
    let usable = profiles.usable();
    let own_section = |profile: &Profile| Target::new(profile.clone(), profile.name().to_owned());
    let misconfigured = |problem: &ProfileProblem| {
        (
            problem.profile.clone(),
            Outcome::Misconfigured {
                message: problem.message.clone(),
            },
        )
    };
    let known = || usable.iter().map(|p| p.name().to_owned()).collect();
    if selection.selectors.is_empty() {
        targets.extend(usable.iter().map(own_section));
        outcomes.extend(profiles.problems.iter().map(misconfigured));
    }
    let exact: Vec<&str> = selection
        .selectors
        .iter()
        .filter_map(|s| match s {
            Selector::Exact { profile, .. } => Some(profile.as_str()),
            Selector::Glob(_) => None,
        })
        .collect();
    let mut seen: Vec<&Selector> = Vec::new();
    for selector in &selection.selectors {
        if seen.contains(&selector) {
            continue; // the same -p twice
        }
        seen.push(selector);
        match selector {
            Selector::Exact { profile, section } => {
                if let Some(found) = usable.iter().find(|p| p.name() == profile) {
                    targets.push(Target::new(found.clone(), section.clone()));
                } else if let Some(problem) =
                    profiles.problems.iter().find(|p| p.profile == *profile)
                {
                    outcomes.push(misconfigured(problem));
                } else {
                    outcomes.push((
                        profile.clone(),
                        Outcome::NotFound {
                            known: known(),
                            glob: false,
                        },
                    ));
                }
            }
            Selector::Glob(glob) => {
                // Matches already chosen (by name, or by an earlier glob) are left alone.
                let fresh = |name: &str| {
                    glob.is_match(name)
                        && !exact.contains(&name)
                        && !targets.iter().any(|t: &Target| t.name() == name)
                        && !outcomes.iter().any(|(n, _)| n == name)
                };
                let matched = usable.iter().any(|p| glob.is_match(p.name()))
                    || profiles.problems.iter().any(|p| glob.is_match(&p.profile));
                let new_targets: Vec<Target> = usable
                    .iter()
                    .filter(|p| fresh(p.name()))
                    .map(own_section)
                    .collect();
                let new_problems: Vec<(String, Outcome)> = profiles
                    .problems
                    .iter()
                    .filter(|p| fresh(&p.profile))
                    .map(misconfigured)
                    .collect();
                targets.extend(new_targets);
                outcomes.extend(new_problems);
                if !matched {
                    outcomes.push((
                        glob.as_str().to_owned(),
                        Outcome::NotFound {
                            known: known(),
                            glob: true,
                        },
                    ));
                }
            }
        }
    }
    targets.retain(|t| !selection.excludes(t.name()));
    outcomes.retain(|(name, outcome)| {
        matches!(outcome, Outcome::NotFound { glob: true, .. }) || !selection.excludes(name)
    });
    // A section name no reader agrees on is refused before any call.
    let (unusable, targets): (Vec<Target>, Vec<Target>) = targets
        .into_iter()
        .partition(|t| credfile::unusable_section_name(&t.section).is_some());
    for target in unusable {
        let why = credfile::unusable_section_name(&target.section).unwrap_or_default();
        outcomes.push((
            target.name().to_owned(),
            Outcome::Conflict {
                section: target.section,
                refusal: Refusal::UnusableName(why),
            },
        ));
    }
    // Two profiles aimed at one section: neither is written, and no call is made for them.
    let sections: Vec<String> = targets.iter().map(|t| t.section.clone()).collect();
    let (clashing, targets): (Vec<Target>, Vec<Target>) = targets
        .into_iter()
        .partition(|t| sections.iter().filter(|s| **s == t.section).count() > 1);
    for target in clashing {
        outcomes.push((
            target.name().to_owned(),
            Outcome::Conflict {
                section: target.section,
                refusal: Refusal::TargetedTwice,
            },
        ));
    }
    (targets, outcomes)
}

/// Decides whether a login's token may be sent: an expired token never leaves the machine.
pub fn usable_token(
    read: &Result<Token, TokenError>,
    now: DateTime<Utc>,
) -> Result<&Token, LoginProblem> {
    match read {
        Ok(token) if token.is_expired(now) => Err(LoginProblem::Expired(token.expires_at)),
        Ok(token) => Ok(token),
        Err(TokenError::Missing { .. }) => Err(LoginProblem::Missing),
        Err(other) => Err(LoginProblem::Unusable(other.to_string())),
    }
}

/// Outcomes with the same message, merged: `dev, prod: no login found …; run …` once rather
/// than once per profile of a session. Order of first appearance is kept.
pub fn group_by_message(outcomes: &[(String, Outcome)]) -> Vec<(Vec<String>, String)> {
    let mut groups: Vec<(Vec<String>, String)> = Vec::new();
    for (name, outcome) in outcomes {
        let message = outcome.message();
        match groups.iter_mut().find(|(_, m)| *m == message) {
            Some((names, _)) => names.push(name.clone()),
            None => groups.push((vec![name.clone()], message)),
        }
    }
    groups
}

/// The exit status of `--once`: 0 when every selected profile was written, else 2.
pub fn exit_status(outcomes: &[(String, Outcome)]) -> u8 {
    if outcomes.iter().all(|(_, o)| o.is_written()) {
        0
    } else {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::config::ProfileProblem;
    use crate::secret::Secret;
    use chrono::TimeZone;

    fn profile(name: &str, login: LoginId) -> SsoProfile {
        SsoProfile {
            name: name.into(),
            login,
            start_url: "https://d-1.awsapps.com/start".into(),
            sso_region: "us-east-1".into(),
            account_id: "111122223333".into(),
            role_name: "Dev".into(),
            region: None,
            ca_bundle: None,
        }
    }

    fn profiles() -> Profiles {
        Profiles {
            sso: vec![
                profile("dev", LoginId::Session("corp".into())),
                profile(
                    "legacy",
                    LoginId::StartUrl("https://d-1.awsapps.com/start".into()),
                ),
            ],
            problems: vec![ProfileProblem {
                profile: "broken".into(),
                message: "missing sso_role_name".into(),
            }],
            console: Vec::new(),
        }
    }

    fn sel(p: &str, s: &str) -> Selector {
        Selector::Exact {
            profile: p.into(),
            section: s.into(),
        }
    }

    fn glob(text: &str) -> Selector {
        Selector::Glob(Glob::new(text).expect("a valid glob"))
    }

    /// A selection of these selectors and excludes.
    fn choose(selectors: &[Selector], excludes: &[&str]) -> Selection {
        Selection {
            selectors: selectors.to_vec(),
            excludes: excludes
                .iter()
                .map(|e| Glob::new(e).expect("a valid glob"))
                .collect(),
        }
    }

    /// Without --profile every SSO profile goes to its own section and problems are reported.
    #[test]
    fn select_all() {
        let (targets, outcomes) = select(&profiles(), &Selection::default());
        let sections: Vec<_> = targets.iter().map(|t| t.section.as_str()).collect();
        assert_eq!(sections, ["dev", "legacy"]);
        assert_eq!(outcomes.len(), 1);
        assert_eq!(outcomes[0].0, "broken");
        assert_eq!(exit_status(&outcomes), 2);
    }

    /// --profile picks profiles and sections; unknown and broken names are outcomes.
    #[test]
    fn select_some() {
        let (targets, outcomes) = select(
            &profiles(),
            &choose(
                &[
                    sel("dev", "default"),
                    sel("nope", "nope"),
                    sel("broken", "broken"),
                ],
                &[],
            ),
        );
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].section, "default");
        assert!(
            matches!(&outcomes[0].1, Outcome::NotFound { known, glob: false } if known == &["dev", "legacy"])
        );
        assert!(outcomes[0].1.message().contains("dev, legacy"));
        assert!(matches!(&outcomes[1].1, Outcome::Misconfigured { .. }));
    }

    /// Globs pick profiles (and report broken ones they match) in config order; a name given
    /// exactly keeps its section; excludes remove whatever chose them; a glob matching
    /// nothing is an outcome naming the SSO profiles there are.
    #[test]
    fn select_globs() {
        let names = |targets: &[Target]| -> Vec<String> {
            targets
                .iter()
                .map(|t| format!("{}:{}", t.name(), t.section))
                .collect()
        };
        let (targets, outcomes) = select(&profiles(), &choose(&[glob("*")], &[]));
        assert_eq!(names(&targets), ["dev:dev", "legacy:legacy"]);
        assert_eq!(outcomes.len(), 1, "broken is reported: {outcomes:?}");
        let (targets, outcomes) = select(
            &profiles(),
            &choose(&[glob("[a-z]e?*"), sel("dev", "default")], &[]),
        );
        assert_eq!(names(&targets), ["legacy:legacy", "dev:default"]);
        assert!(outcomes.is_empty(), "{outcomes:?}");
        let (targets, outcomes) = select(&profiles(), &choose(&[], &["l*", "b*"]));
        assert_eq!(names(&targets), ["dev:dev"]);
        assert!(outcomes.is_empty(), "broken was excluded: {outcomes:?}");
        let (targets, outcomes) = select(
            &profiles(),
            &choose(&[glob("prod-*"), sel("dev", "dev")], &["nothing-*"]),
        );
        assert_eq!(names(&targets), ["dev:dev"]);
        assert_eq!(outcomes.len(), 1);
        assert_eq!(outcomes[0].0, "prod-*");
        assert!(
            outcomes[0]
                .1
                .message()
                .contains("matches no SSO or `aws login` profile")
                && outcomes[0].1.message().contains("dev, legacy"),
            "{outcomes:?}"
        );
        assert_eq!(exit_status(&outcomes), 2);
        let (targets, _) = select(&profiles(), &choose(&[glob("{dev,legacy}")], &["dev"]));
        assert_eq!(names(&targets), ["legacy:legacy"]);
        assert!(Glob::new("dev-[").is_err());
    }

    /// A section name that a reader would misread is refused, with or without --profile.
    #[test]
    fn unusable_section_names() {
        let mut with_default = profiles();
        with_default.sso[0].name = "DEFAULT".into();
        let (targets, outcomes) = select(&with_default, &Selection::default());
        assert_eq!(targets.len(), 1, "only legacy is left");
        assert!(outcomes.iter().any(|(n, o)| n == "DEFAULT"
            && matches!(
                o,
                Outcome::Conflict {
                    refusal: Refusal::UnusableName(_),
                    ..
                }
            )));
        for section in ["team #1", "__proto__", "a ;b"] {
            let (targets, outcomes) = select(&profiles(), &choose(&[sel("dev", section)], &[]));
            assert!(targets.is_empty(), "{section}");
            assert!(
                outcomes[0].1.message().contains("--profile NAME:SECTION"),
                "{section}"
            );
        }
        let (targets, _) = select(&profiles(), &choose(&[sel("dev", "team#1")], &[]));
        assert_eq!(targets.len(), 1, "'#' without a space before it is fine");
    }

    /// The same -p twice is one target; two profiles aimed at one section are both refused.
    #[test]
    fn section_clashes() {
        let (targets, outcomes) = select(
            &profiles(),
            &choose(&[sel("dev", "dev"), sel("dev", "dev")], &[]),
        );
        assert_eq!((targets.len(), outcomes.len()), (1, 0));
        let (targets, outcomes) = select(
            &profiles(),
            &choose(&[sel("dev", "x"), sel("legacy", "x")], &[]),
        );
        assert!(targets.is_empty());
        assert_eq!(outcomes.len(), 2);
        assert!(outcomes.iter().all(|(_, o)| matches!(
            o,
            Outcome::Conflict {
                refusal: Refusal::TargetedTwice,
                ..
            }
        )));
    }

    /// Profiles that share a message are listed once, in order of first appearance.
    #[test]
    fn grouping() {
        let login = |name: &str| {
            (
                name.to_owned(),
                Outcome::NeedsLogin {
                    login: LoginId::Session("corp".into()),
                    command: "aws sso login --sso-session corp".into(),
                    why: LoginProblem::Missing,
                },
            )
        };
        let other = (
            "x".to_owned(),
            Outcome::Failed {
                detail: "boom".into(),
            },
        );
        let groups = group_by_message(&[login("a"), other, login("b")]);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].0, ["a", "b"]);
        assert_eq!(groups[1], (vec!["x".to_owned()], "boom".to_owned()));
    }

    /// Expired tokens are never usable; missing and broken files say so.
    #[test]
    fn token_usability() {
        let now = Utc
            .with_ymd_and_hms(2026, 1, 1, 12, 0, 0)
            .single()
            .expect("date");
        let token = |at| Token {
            access_token: Secret::new("t"),
            expires_at: at,
            region: None,
            start_url: None,
            refresh: None,
        };
        let fresh = Ok(token(now + chrono::Duration::minutes(5)));
        assert!(usable_token(&fresh, now).is_ok());
        let expired = Ok(token(now));
        assert_eq!(
            usable_token(&expired, now).err(),
            Some(LoginProblem::Expired(now))
        );
        let missing = Err(TokenError::Missing {
            path: "/c/x.json".into(),
        });
        assert_eq!(
            usable_token(&missing, now).err(),
            Some(LoginProblem::Missing)
        );
    }

    /// Each failure's message names what to do.
    #[test]
    fn messages_say_what_to_do() {
        let t = profile(
            "legacy",
            LoginId::StartUrl("https://d-1.awsapps.com/start".into()),
        );
        let m = Outcome::from_call(CallError::Unauthorized, &t, None).message();
        assert!(m.contains("aws sso login --profile legacy"), "{m}");
        let m = Outcome::from_call(
            CallError::NoAccess {
                code: "ForbiddenException".into(),
                message: "No access".into(),
            },
            &t,
            None,
        )
        .message();
        assert!(
            m.contains("no access to account 111122223333 as role Dev"),
            "{m}"
        );
        let m = Outcome::from_call(
            CallError::Transient {
                detail: "HTTP 500".into(),
            },
            &t,
            None,
        )
        .message();
        assert!(m.contains("run again"), "{m}");
        assert!(m.contains("the SSO portal in us-east-1"), "{m}");
        let m = Outcome::from_call(
            CallError::Transient {
                detail: "HTTP 500".into(),
            },
            &t,
            Some("http://127.0.0.1:9"),
        )
        .message();
        assert!(
            m.contains("the SSO portal at http://127.0.0.1:9 failed"),
            "{m}"
        );
        let session = profile("dev", LoginId::Session("corp".into()));
        let m = Outcome::from_call(CallError::Unauthorized, &session, None).message();
        assert!(m.contains("aws sso login --sso-session corp"), "{m}");
    }
}

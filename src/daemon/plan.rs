//! The pure decisions of a pass: which profiles to write and where, which logins are usable,
//! and what each profile's outcome means for the user. No I/O, no clock: the time is an input.

use chrono::{DateTime, Utc};

use crate::files::config::{LoginId, Profiles, SsoProfile};
use crate::files::credfile::{self, Refusal};
use crate::login::portal::CallError;
use crate::login::token::{Token, TokenError};
use crate::time::format_time;

/// One `--profile NAME[:SECTION]` choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The profile in the config file.
    pub profile: String,
    /// The credentials-file section to write.
    pub section: String,
}

/// A profile to write, and the credentials-file section it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The SSO profile from the config file.
    pub profile: SsoProfile,
    /// The section of the credentials file it is written to.
    pub section: String,
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
    /// `--profile` named a profile that is not an SSO profile in the config file.
    NotFound { known: Vec<String> },
}

impl Outcome {
    /// True when the profile was written.
    pub fn is_written(&self) -> bool {
        matches!(self, Outcome::Written { .. })
    }

    /// The outcome of a failed portal call.
    pub fn from_call(error: CallError, target: &Target) -> Self {
        match error {
            CallError::Unauthorized => Outcome::NeedsLogin {
                command: target.profile.login.login_command(&target.profile.name),
                login: target.profile.login.clone(),
                why: LoginProblem::Rejected,
            },
            CallError::NoAccess { code, message } => Outcome::NoAccess {
                detail: format!(
                    "no access to account {} as role {} ({code}{}); check sso_account_id and \
                     sso_role_name of this profile, or ask your administrator for the assignment",
                    target.profile.account_id,
                    target.profile.role_name,
                    if message.is_empty() {
                        String::new()
                    } else {
                        format!(": {message}")
                    },
                ),
            },
            CallError::Throttled { detail } => Outcome::Unavailable {
                detail: format!(
                    "the SSO portal in {} is throttling calls ({detail}); wait a minute and run again",
                    target.profile.sso_region
                ),
            },
            // An answer with a status is the portal failing; no answer is the way there.
            CallError::Transient { detail } if detail.starts_with("HTTP ") => {
                Outcome::Unavailable {
                    detail: format!(
                        "the SSO portal in {} failed ({detail}); run again in a few minutes",
                        target.profile.sso_region
                    ),
                }
            }
            CallError::Transient { detail } => Outcome::Unavailable {
                detail: format!(
                    "the SSO portal in {} did not answer ({detail}); check your network or proxy \
                     settings and run again",
                    target.profile.sso_region
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
                format!("wrote [{section}], valid until {}", format_time(*expires))
            }
            Outcome::NeedsLogin { login, command, why } => {
                format!("{}; run `{command}`", why.describe(login))
            }
            Outcome::NoAccess { detail } | Outcome::Unavailable { detail } | Outcome::Failed { detail } => {
                detail.clone()
            }
            Outcome::Conflict { section, refusal } => format!("not written to [{section}]: {refusal}"),
            Outcome::Misconfigured { message } => message.clone(),
            Outcome::NotFound { known } if known.is_empty() => {
                "not an SSO profile in the config file, which has none; set one up with `aws configure sso`"
                    .to_owned()
            }
            Outcome::NotFound { known } => format!(
                "not an SSO profile in the config file (its SSO profiles: {})",
                known.join(", ")
            ),
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
}

impl LoginProblem {
    fn describe(&self, login: &LoginId) -> String {
        match self {
            LoginProblem::Missing => format!("no login found for {login}"),
            LoginProblem::Expired(at) => {
                format!("the login for {login} expired at {}", format_time(*at))
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
/// section, plus the config problems as outcomes. With selectors: just those, and a
/// selected name that is not a usable SSO profile is an outcome too.
pub fn select(
    profiles: &Profiles,
    selectors: &[Selector],
) -> (Vec<Target>, Vec<(String, Outcome)>) {
    let mut targets = Vec::new();
    let mut outcomes = Vec::new();
    if selectors.is_empty() {
        for profile in &profiles.sso {
            targets.push(Target {
                section: profile.name.clone(),
                profile: profile.clone(),
            });
        }
        for problem in &profiles.problems {
            outcomes.push((
                problem.profile.clone(),
                Outcome::Misconfigured {
                    message: problem.message.clone(),
                },
            ));
        }
    }
    let mut seen: Vec<&Selector> = Vec::new();
    for selector in selectors {
        if seen.contains(&selector) {
            continue; // the same -p twice
        }
        seen.push(selector);
        if let Some(profile) = profiles.sso.iter().find(|p| p.name == selector.profile) {
            targets.push(Target {
                profile: profile.clone(),
                section: selector.section.clone(),
            });
        } else if let Some(problem) = profiles
            .problems
            .iter()
            .find(|p| p.profile == selector.profile)
        {
            outcomes.push((
                selector.profile.clone(),
                Outcome::Misconfigured {
                    message: problem.message.clone(),
                },
            ));
        } else {
            let known = profiles.sso.iter().map(|p| p.name.clone()).collect();
            outcomes.push((selector.profile.clone(), Outcome::NotFound { known }));
        }
    }
    // A section name no reader agrees on is refused before any call.
    let (unusable, targets): (Vec<Target>, Vec<Target>) = targets
        .into_iter()
        .partition(|t| credfile::unusable_section_name(&t.section).is_some());
    for target in unusable {
        let why = credfile::unusable_section_name(&target.section).unwrap_or_default();
        outcomes.push((
            target.profile.name.clone(),
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
            target.profile.name.clone(),
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
        Selector {
            profile: p.into(),
            section: s.into(),
        }
    }

    /// Without --profile every SSO profile goes to its own section and problems are reported.
    #[test]
    fn select_all() {
        let (targets, outcomes) = select(&profiles(), &[]);
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
            &[
                sel("dev", "default"),
                sel("nope", "nope"),
                sel("broken", "broken"),
            ],
        );
        assert_eq!(targets.len(), 1);
        assert_eq!(targets[0].section, "default");
        assert!(
            matches!(&outcomes[0].1, Outcome::NotFound { known } if known == &["dev", "legacy"])
        );
        assert!(outcomes[0].1.message().contains("dev, legacy"));
        assert!(matches!(&outcomes[1].1, Outcome::Misconfigured { .. }));
    }

    /// A section name that a reader would misread is refused, with or without --profile.
    #[test]
    fn unusable_section_names() {
        let mut with_default = profiles();
        with_default.sso[0].name = "DEFAULT".into();
        let (targets, outcomes) = select(&with_default, &[]);
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
            let (targets, outcomes) = select(&profiles(), &[sel("dev", section)]);
            assert!(targets.is_empty(), "{section}");
            assert!(
                outcomes[0].1.message().contains("--profile NAME:SECTION"),
                "{section}"
            );
        }
        let (targets, _) = select(&profiles(), &[sel("dev", "team#1")]);
        assert_eq!(targets.len(), 1, "'#' without a space before it is fine");
    }

    /// The same -p twice is one target; two profiles aimed at one section are both refused.
    #[test]
    fn section_clashes() {
        let (targets, outcomes) = select(&profiles(), &[sel("dev", "dev"), sel("dev", "dev")]);
        assert_eq!((targets.len(), outcomes.len()), (1, 0));
        let (targets, outcomes) = select(&profiles(), &[sel("dev", "x"), sel("legacy", "x")]);
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
        let t = Target {
            profile: profile(
                "legacy",
                LoginId::StartUrl("https://d-1.awsapps.com/start".into()),
            ),
            section: "legacy".into(),
        };
        let m = Outcome::from_call(CallError::Unauthorized, &t).message();
        assert!(m.contains("aws sso login --profile legacy"), "{m}");
        let m = Outcome::from_call(
            CallError::NoAccess {
                code: "ForbiddenException".into(),
                message: "No access".into(),
            },
            &t,
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
        )
        .message();
        assert!(m.contains("run again"), "{m}");
        let session = Target {
            profile: profile("dev", LoginId::Session("corp".into())),
            section: "dev".into(),
        };
        let m = Outcome::from_call(CallError::Unauthorized, &session).message();
        assert!(m.contains("aws sso login --sso-session corp"), "{m}");
    }
}

//! One pass, with its I/O: read the config and the logins, call the portal for every
//! profile (several at a time), and write the credentials file once.
//!
//! `ssofresh --once` is exactly one pass; the report it returns says what happened to each
//! profile and gives the exit status.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::cli::Selector;
use crate::config::{self, LoginId, Profiles};
use crate::credfile::{self, RoleCredentials, Update};
use crate::fsio::{self, FsError};
use crate::paths::Paths;
use crate::plan::{self, Outcome, Target};
use crate::portal::{CallError, CallPolicy, Endpoint, Portal, Route};
use crate::token::{self, Token, TokenError};

/// How many GetRoleCredentials calls may be in flight at once.
pub const MAX_CONCURRENT_CALLS: usize = 8;

/// How many times a write is retried when another program changes the file meanwhile.
const WRITE_ATTEMPTS: usize = 3;

/// What a pass is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where the files are.
    pub paths: Paths,
    /// `--profile` choices; empty means every SSO profile.
    pub selectors: Vec<Selector>,
    /// Write each profile's `region` too.
    pub with_region: bool,
    /// Timeouts and retries of portal calls.
    pub policy: CallPolicy,
}

/// A failure that stops the pass: nothing can be written.
#[derive(Debug, thiserror::Error)]
pub enum Fatal {
    /// The config file cannot be read.
    #[error(transparent)]
    Fs(#[from] FsError),
    /// The config file is malformed the way botocore refuses too.
    #[error("{}: {error}", path.display())]
    Config {
        path: PathBuf,
        error: config::ParseError,
    },
    /// The config file named by `--config` or `AWS_CONFIG_FILE` does not exist.
    #[error("the config file {} does not exist; check --config or AWS_CONFIG_FILE", .0.display())]
    NoConfig(PathBuf),
    /// The credentials file starts with a UTF-8 byte-order mark.
    #[error(
        "{} starts with a byte-order mark, which the AWS CLI cannot read either; \
         save it as UTF-8 without one and run again",
        .0.display()
    )]
    ByteOrderMark(PathBuf),
    /// The credentials file changed under every attempt to write it.
    #[error("{} kept changing while ssofresh was writing it; run again", .0.display())]
    Busy(PathBuf),
}

/// What a pass did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Each selected profile and what happened to it, in config order.
    pub outcomes: Vec<(String, Outcome)>,
    /// The config file had no SSO profile at all.
    pub no_sso_profiles: bool,
    /// The credentials file's mode was looser than 0600 and has been tightened from this.
    pub tightened_from: Option<u32>,
}

impl Report {
    /// The exit status of `--once`.
    pub fn exit_status(&self) -> u8 {
        plan::exit_status(&self.outcomes)
    }
}

/// Runs one pass.
pub async fn pass(options: &Options) -> Result<Report, Fatal> {
    let started = Instant::now();
    let paths = &options.paths;
    let profiles = load_profiles(&paths.config, paths.config_named)?;
    if profiles.sso.is_empty() && profiles.problems.is_empty() && options.selectors.is_empty() {
        return Ok(Report {
            no_sso_profiles: true,
            ..Report::default()
        });
    }
    let (targets, mut outcomes) = plan::select(&profiles, &options.selectors);

    // One read per login, shared by all its profiles.
    let now = Utc::now();
    let mut logins: BTreeMap<LoginId, Result<Token, TokenError>> = BTreeMap::new();
    for target in &targets {
        let login = &target.profile.login;
        if !logins.contains_key(login) {
            let path = token::token_path(&paths.sso_cache, login);
            let read = token::read(&path);
            if let Err(e) = &read {
                debug!(%login, "{e}");
            }
            logins.insert(login.clone(), read);
        }
    }

    let mut jobs: Vec<(Target, Token)> = Vec::new();
    for target in targets {
        match plan::usable_token(&logins[&target.profile.login], now) {
            Ok(token) => jobs.push((target, token.clone())),
            Err(why) => {
                let login = target.profile.login.clone();
                let command = login.login_command(&target.profile.name);
                outcomes.push((
                    target.profile.name.clone(),
                    Outcome::NeedsLogin {
                        login,
                        command,
                        why,
                    },
                ));
            }
        }
    }

    let fetched = fetch_all(jobs, options.policy).await;
    let mut written: Vec<(Target, RoleCredentials)> = Vec::new();
    for (target, result) in fetched {
        match result {
            Ok(creds) => written.push((target, creds)),
            Err(e) => {
                let outcome = Outcome::from_call(e, &target);
                outcomes.push((target.profile.name.clone(), outcome));
            }
        }
    }

    let mut report = Report::default();
    if !written.is_empty() {
        let updates: Vec<Update<'_>> = written
            .iter()
            .map(|(t, c)| Update {
                section: &t.section,
                credentials: c,
                region: if options.with_region {
                    t.profile.region.as_deref()
                } else {
                    None
                },
            })
            .collect();
        let (refused, tightened) = write_credentials(&paths.credentials, &updates)?;
        report.tightened_from = tightened;
        for (target, creds) in &written {
            let outcome = match refused.iter().find(|(s, _)| *s == target.section) {
                Some((section, refusal)) => Outcome::Conflict {
                    section: section.clone(),
                    refusal: refusal.clone(),
                },
                None => Outcome::Written {
                    section: target.section.clone(),
                    expires: creds.expiration,
                },
            };
            outcomes.push((target.profile.name.clone(), outcome));
        }
    }

    // Config order, whatever order the calls finished in.
    let order = |name: &str| {
        profiles
            .sso
            .iter()
            .position(|p| p.name == name)
            .unwrap_or(usize::MAX)
    };
    outcomes.sort_by_key(|(name, _)| order(name));
    for (name, outcome) in &outcomes {
        if outcome.is_written() {
            info!("{name}: {}", outcome.message());
        }
    }
    debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "pass done"
    );
    report.outcomes = outcomes;
    Ok(report)
}

/// Reads and parses the config file. A missing default file has no profiles (a new
/// machine); a missing file the user named is an error (a typo).
fn load_profiles(path: &std::path::Path, named: bool) -> Result<Profiles, Fatal> {
    let Some(text) = fsio::read_text(path)? else {
        if named {
            return Err(Fatal::NoConfig(path.to_owned()));
        }
        debug!(path = %path.display(), "no config file");
        return Ok(Profiles::default());
    };
    if text.starts_with('\u{feff}') {
        return Err(Fatal::ByteOrderMark(path.to_owned()));
    }
    config::parse(&text).map_err(|error| Fatal::Config {
        path: path.to_owned(),
        error,
    })
}

/// Calls the portal for every job, at most [`MAX_CONCURRENT_CALLS`] at a time.
async fn fetch_all(
    jobs: Vec<(Target, Token)>,
    policy: CallPolicy,
) -> Vec<(Target, Result<RoleCredentials, CallError>)> {
    if jobs.is_empty() {
        return Vec::new();
    }
    let bundle_env = std::env::var_os("AWS_CA_BUNDLE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let route_of = |t: &Target| Route {
        region: t.profile.sso_region.clone(),
        ca_bundle: bundle_env
            .clone()
            .or_else(|| t.profile.ca_bundle.as_ref().map(PathBuf::from)),
    };
    let endpoint = Endpoint::from_env("SSO", |k| std::env::var(k).ok());
    let portal = Arc::new(Portal::new(
        jobs.iter().map(|(t, _)| route_of(t)),
        &endpoint,
        policy,
    ));
    let permits = Arc::new(Semaphore::new(MAX_CONCURRENT_CALLS));
    let mut set = JoinSet::new();
    // Which target each task serves, so that a task that dies still gives its profile an
    // outcome rather than dropping it (which would read as success).
    let mut tasks = HashMap::new();
    for (target, token) in jobs {
        let route = route_of(&target);
        let portal = Arc::clone(&portal);
        let permits = Arc::clone(&permits);
        let served = target.clone();
        let handle = set.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let name = target.profile.name.clone();
            let result = portal
                .role_credentials(
                    &route,
                    &target.profile.account_id,
                    &target.profile.role_name,
                    &token.access_token,
                    |attempt, error, delay| {
                        warn!("{name}: attempt {attempt} failed: {error}; retrying in {delay:.1?}");
                    },
                )
                .await;
            (target, result)
        });
        tasks.insert(handle.id(), served);
    }
    let mut results = Vec::new();
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(result) => results.push(result),
            Err(e) => {
                if let Some(target) = tasks.remove(&e.id()) {
                    let failure = CallError::Failed {
                        detail: "internal error: the call stopped unexpectedly; please report this"
                            .to_owned(),
                    };
                    results.push((target, Err(failure)));
                }
            }
        }
    }
    results
}

/// Sections the editor refused, with the reason.
type Refusals = Vec<(String, credfile::Refusal)>;

/// Applies the updates to the credentials file in one atomic write, under the lock that
/// serialises ssofresh writers. The file is re-read just before the write and the edit redone
/// if another program changed it meanwhile: that narrows, but cannot close, the window in
/// which a program that takes no lock could lose a write.
fn write_credentials(
    path: &std::path::Path,
    updates: &[Update<'_>],
) -> Result<(Refusals, Option<u32>), Fatal> {
    fsio::with_write_lock(path, || edit_and_replace(path, updates))
}

fn edit_and_replace(
    path: &std::path::Path,
    updates: &[Update<'_>],
) -> Result<(Refusals, Option<u32>), Fatal> {
    fsio::ensure_regular(path)?;
    for _ in 0..WRITE_ATTEMPTS {
        let old = fsio::read_text(path)?;
        let old_text = old.as_deref().unwrap_or("");
        if old_text.starts_with('\u{feff}') {
            return Err(Fatal::ByteOrderMark(path.to_owned()));
        }
        let edit = credfile::apply(old_text, updates);
        if edit.text == old_text {
            debug!(path = %path.display(), "credentials file already up to date");
            let tightened = if old.is_some() {
                fsio::make_private(path)?
            } else {
                None
            };
            return Ok((edit.refused, tightened));
        }
        if fsio::read_text(path)? != old {
            debug!(path = %path.display(), "changed while editing; redoing the edit");
            continue;
        }
        let written = fsio::replace(path, edit.text.as_bytes())?;
        if written.target != path {
            debug!(link = %path.display(), target = %written.target.display(), "wrote through a symlink");
        }
        if edit.text.contains('\r') && !edit.text.contains('\n') {
            warn!(
                "{} has CR-only line endings, which the AWS SDK for JavaScript v2 cannot read",
                path.display()
            );
        }
        return Ok((edit.refused, written.tightened_from));
    }
    Err(Fatal::Busy(path.to_owned()))
}

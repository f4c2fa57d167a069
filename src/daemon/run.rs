//! The I/O the event loop's actions need: reading the config and the logins, calling the
//! portal (several calls at a time, each reporting back as an event), refreshing tokens, and
//! writing the credentials file.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use tokio::sync::{Semaphore, mpsc};
use tracing::{debug, warn};

use crate::daemon::engine::{self, Event, Put, Refresh, Removal, Seen};
use crate::daemon::plan::Selection;
use crate::daemon::plan::{self, Outcome, Target};
use crate::files::config::{self, LoginId, Profile, Profiles};
use crate::files::credfile::{self, Update};
use crate::files::fsio::{self, FsError, Replaced};
use crate::files::guard;
use crate::files::paths::Paths;
use crate::login::console::{self, SessionError};
use crate::login::oidc::{Oidc, RefreshError};
use crate::login::portal::{CallError, CallPolicy, Endpoint, Portal, Route};
use crate::login::signin::{self, Renewal, SignIn};
use crate::login::token::{self, Problem, Token, TokenError};
use crate::secret::{Secret, redact};

/// How many GetRoleCredentials calls may be in flight at once.
pub const MAX_CONCURRENT_CALLS: usize = 8;

/// How long after a write, made while another program was at work on the file, the file is
/// looked at again for an older copy written back over it.
const REAPPLY_AFTER: std::time::Duration = std::time::Duration::from_millis(20);

/// How long a write keeps being redone while another program keeps changing the file; each
/// redo waits a random 1–8 ms first, so that a program writing at a steady pace is not met
/// in step.
const WRITE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// What a pass is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where the files are.
    pub paths: Paths,
    /// `--profile` and `--exclude` choices.
    pub selection: Selection,
    /// Write each profile's `region` too.
    pub with_region: bool,
    /// Timeouts and retries of portal calls.
    pub policy: CallPolicy,
    /// Renew this long before credentials expire.
    pub refresh_margin: std::time::Duration,
    /// Where the SSO portal is when not at AWS (`AWS_ENDPOINT_URL_SSO`).
    pub sso_endpoint: Endpoint,
    /// Where SSO OIDC is when not at AWS (`AWS_ENDPOINT_URL_SSO_OIDC`).
    pub oidc_endpoint: Endpoint,
    /// Where AWS Sign-In is when not at AWS (`AWS_ENDPOINT_URL_SIGNIN`).
    pub signin_endpoint: Endpoint,
    /// How the user is told that a login is needed.
    pub notify: Notify,
}

/// How the user is told that a login is needed (`--notify-before`, `--on-login-needed`,
/// `--no-notify`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notify {
    /// Tell this long before a login that cannot be renewed ends.
    pub before: std::time::Duration,
    /// The command run through `sh -c` when a login is needed.
    pub hook: Option<String>,
    /// Whether a desktop notification is shown.
    pub desktop: bool,
}

/// A failure that stops the pass: nothing can be written.
#[derive(Debug, thiserror::Error)]
pub enum Fatal {
    /// `--once` was told to stop (SIGTERM, SIGINT) before it was done.
    #[error(
        "stopped by a signal before the pass was done; files are as they were or fully written"
    )]
    Interrupted,
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
    #[error(
        "cannot write {}: another program kept changing it while ssofresh was writing; it was left unchanged",
        .0.display()
    )]
    Busy(PathBuf),
    /// Another daemon keeps the same credentials file.
    #[error(transparent)]
    Instance(#[from] fsio::InstanceError),
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
    /// Sections written from `aws login` sessions, with when their credentials end: nothing
    /// renews them after `--once`, and the AWS CLI reads them before the session itself.
    /// `(profile, section, end)`.
    pub sessions_left: Vec<(String, String, chrono::DateTime<Utc>)>,
    /// Refreshed `aws login` sessions that could not be saved, each said as one line.
    pub lost_sessions: Vec<String>,
}

impl Report {
    /// The exit status of `--once`.
    pub fn exit_status(&self) -> u8 {
        if self.lost_sessions.is_empty() {
            plan::exit_status(&self.outcomes)
        } else {
            2
        }
    }
}

/// Reads and parses the config file. A missing default file has no profiles (a new
/// machine); a missing file the user named is an error (a typo).
pub fn load_profiles(path: &Path, named: bool) -> Result<Profiles, Fatal> {
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

/// What a write did.
#[derive(Debug, Clone)]
pub struct Wrote {
    /// Sections the editor refused, with the reason.
    pub refused: Vec<(String, credfile::Refusal)>,
    /// The file's text after the write (it holds keys: a `Debug` print shows none).
    pub text: Secret,
    /// The file's mode was looser than 0600 and has been tightened from this.
    pub tightened_from: Option<u32>,
}

/// Applies the puts and removals to the credentials file in one atomic write, under the lock
/// that serialises ssofresh writers. Other programs take no lock, so the file is read only once
/// it has settled and does not look cut short ([`guard::read_settled`]), and replaced only if
/// it still holds what was read ([`fsio::replace_if_still`]); when another program wrote it
/// meanwhile, it is read again and the edit redone.
pub fn write_credentials(path: &Path, puts: &[Put], removals: &[Removal]) -> Result<Wrote, Fatal> {
    let updates: Vec<Update<'_>> = puts
        .iter()
        .map(|p| Update {
            section: &p.section,
            credentials: &p.credentials,
            region: p.region.as_deref(),
        })
        .collect();
    let removals: Vec<credfile::Removal<'_>> = removals
        .iter()
        .map(|r| credfile::Removal {
            section: &r.section,
            access_key_id: &r.access_key_id,
        })
        .collect();
    fsio::with_write_lock(path, || edit_and_replace(path, &updates, &removals))
}

fn edit_and_replace(
    path: &Path,
    updates: &[Update<'_>],
    removals: &[credfile::Removal<'_>],
) -> Result<Wrote, Fatal> {
    fsio::ensure_regular(path)?;
    let own: Vec<&str> = updates
        .iter()
        .map(|u| u.section)
        .chain(removals.iter().map(|r| r.section))
        .collect();
    let start = std::time::Instant::now();
    let mut done: Option<Wrote> = None;
    while start.elapsed() < WRITE_PATIENCE {
        let settled = match guard::read_settled(path, |now, last| {
            guard::credentials_suspect(now, last, &own)
        }) {
            Ok(settled) => settled,
            Err(e) => return wrote_anyway(path, done, e.into()),
        };
        let old = settled.text;
        let old_text = old.as_deref().unwrap_or("");
        if old_text.starts_with('\u{feff}') {
            return wrote_anyway(path, done, Fatal::ByteOrderMark(path.to_owned()));
        }
        let mut edit = credfile::apply(old_text, updates);
        if !removals.is_empty() {
            let removed = credfile::remove(&edit.text, removals);
            edit.text = removed.text;
            for (section, why) in removed.refused {
                debug!(section, "not removed: {why}");
            }
        }
        if let Some(done) = done.take_if(|_| edit.text == old_text) {
            return Ok(done);
        }
        if done.is_some() {
            debug!(path = %path.display(), "another program wrote back an older copy; writing again");
        }
        if edit.text == old_text {
            debug!(path = %path.display(), "credentials file already up to date");
            let tightened_from = if old.is_some() {
                fsio::make_private(path)?
            } else {
                None
            };
            return Ok(Wrote {
                refused: edit.refused,
                text: Secret::new(edit.text),
                tightened_from,
            });
        }
        let expected = old.as_deref().map(str::as_bytes);
        let late = if settled.appended {
            fsio::LATE_WRITES_APPEND
        } else if settled.others_active {
            fsio::LATE_WRITES_BUSY
        } else {
            fsio::LATE_WRITES
        };
        let written = match fsio::replace_watching(path, edit.text.as_bytes(), expected, late) {
            Err(e) => return wrote_anyway(path, done, e.into()),
            Ok(Replaced::Written(written)) => written,
            Ok(Replaced::Changed) => {
                debug!(path = %path.display(), "another program wrote the file meanwhile; redoing the edit");
                std::thread::sleep(std::time::Duration::from_millis(fastrand::u64(1..=8)));
                continue;
            }
        };
        guard::remember(path, &edit.text);
        if written.target != path {
            debug!(link = %path.display(), target = %written.target.display(), "wrote through a symlink");
        }
        if edit.text.contains('\r') && !edit.text.contains('\n') {
            warn!(
                "{} has CR-only line endings, which the AWS SDK for JavaScript v2 cannot read",
                path.display()
            );
        }
        let wrote = Wrote {
            refused: edit.refused,
            text: Secret::new(edit.text),
            tightened_from: written.tightened_from,
        };
        if !settled.others_active {
            return Ok(wrote);
        }
        // Another program is at work: if it read the file before this write, it may write
        // its older copy back in a moment. Look again, and redo the edit if it did.
        std::thread::sleep(REAPPLY_AFTER);
        done = Some(wrote);
    }
    done.ok_or_else(|| Fatal::Busy(path.to_owned()))
}

/// `error`, unless a write already succeeded (`done`): then the error came from looking
/// again after it, the file was written, and the write is what to report.
fn wrote_anyway(path: &Path, done: Option<Wrote>, error: Fatal) -> Result<Wrote, Fatal> {
    match done {
        Some(done) => {
            debug!(path = %path.display(), "written; looking again afterwards failed: {error}");
            Ok(done)
        }
        None => Err(error),
    }
}

/// Reads a login's file (an SSO token, an `aws login` session) and says what it holds.
pub fn read_login(paths: &Paths, login: &LoginId) -> Seen {
    if let LoginId::Console(arn) = login {
        return read_session(&console::session_path(&paths.login_cache, arn));
    }
    let path = token::token_path(&paths.sso_cache, login);
    match token::read(&path) {
        Ok(token) => Seen::Token(token),
        Err(TokenError::Missing { .. }) => Seen::Missing,
        Err(
            e @ TokenError::Invalid {
                problem: Problem::Empty | Problem::NotJson { .. },
                ..
            },
        ) => Seen::NotYet(e.to_string()),
        Err(e) => Seen::Unusable(e.to_string()),
    }
}

/// Reads an `aws login` session's file. Only the credentials and a fingerprint of the
/// refresh token leave this function; the token and the key stay in the file.
fn read_session(path: &Path) -> Seen {
    match console::read(path) {
        Ok(session) => Seen::Session(engine::Session {
            version: engine::session_version(&session.refresh_token, &session.credentials),
            credentials: session.credentials,
        }),
        Err(SessionError::Missing { .. }) => Seen::Missing,
        Err(e) if e.may_be_partial() => Seen::NotYet(e.to_string()),
        // The outcome adds the command to run (`aws login --profile NAME`).
        Err(e) => Seen::Unusable(e.to_string()),
    }
}

/// Where a profile's calls go: the SSO region of an SSO profile; for an `aws login`
/// profile the region botocore would use before the session's file is read (its
/// `signInRegion`, read by [`spawn_refresh`], comes first).
pub fn route_of(target: &Target) -> Route {
    let bundle_env = std::env::var_os("AWS_CA_BUNDLE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let region = match &target.profile {
        Profile::Sso(p) => p.sso_region.clone(),
        Profile::Console(p) => signin_region(None, p.region.as_deref()).unwrap_or_default(),
    };
    Route {
        region,
        ca_bundle: bundle_env.or_else(|| target.profile.ca_bundle().map(PathBuf::from)),
    }
}

/// The Sign-In region as botocore picks it: the session's `signInRegion`, else
/// `AWS_DEFAULT_REGION`, else the profile's `region`.
fn signin_region(sign_in_region: Option<&str>, profile_region: Option<&str>) -> Option<String> {
    let env = std::env::var("AWS_DEFAULT_REGION").ok();
    signin::region(sign_in_region, env.as_deref(), profile_region)
}

/// Starts a GetRoleCredentials call for every job, at most [`MAX_CONCURRENT_CALLS`] in
/// flight per route across the process (`permits`), so that a portal that hangs in one
/// region holds up no call to another; each reports back on `events` as [`Event::Fetched`],
/// also when its task dies.
pub fn spawn_fetches(
    jobs: Vec<(Target, Token, u64)>,
    endpoint: &Endpoint,
    policy: CallPolicy,
    permits: &mut HashMap<Route, Arc<Semaphore>>,
    events: &mpsc::UnboundedSender<TaskDone>,
) {
    if jobs.is_empty() {
        return;
    }
    // One portal per batch: its stall breaker gives up on a hanging route for this batch only.
    let portal = Arc::new(Portal::new(
        jobs.iter().map(|(t, _, _)| route_of(t)),
        endpoint,
        policy,
    ));
    for (target, token, version) in jobs {
        let Profile::Sso(profile) = target.profile.clone() else {
            continue; // never asked for: `aws login` profiles take their session's credentials
        };
        let portal = Arc::clone(&portal);
        let permits = Arc::clone(
            permits
                .entry(route_of(&target))
                .or_insert_with(|| Arc::new(Semaphore::new(MAX_CONCURRENT_CALLS))),
        );
        let name = target.name().to_owned();
        let call = tokio::spawn(async move {
            let _permit = permits.acquire_owned().await;
            let route = route_of(&target);
            let name = target.name().to_owned();
            // Boxed, so that a task waiting for its permit holds a pointer, not the SDK call's
            // future (kilobytes): with hundreds of profiles those made most of the peak heap,
            // which the allocator then keeps while the daemon idles.
            Box::pin(portal.role_credentials(
                &route,
                &profile.account_id,
                &profile.role_name,
                &token.access_token,
                |attempt, error, delay| {
                    warn!("{name}: attempt {attempt} failed: {error}; retrying in {delay:.1?}");
                },
            ))
            .await
        });
        let events = events.clone();
        tokio::spawn(async move {
            let result = call.await.unwrap_or_else(|_| {
                Err(CallError::Failed {
                    detail: "internal error: the call stopped unexpectedly; please report this"
                        .to_owned(),
                })
            });
            let _ = events.send(TaskDone::Event(Event::Fetched {
                profile: name,
                token: version,
                result,
            }));
        });
    }
}

/// What a task reports to the loop.
#[derive(Debug)]
pub enum TaskDone {
    /// Something for the engine.
    Event(Event),
    /// A token refresh ended; if CreateToken answered, the new file content is ready and the
    /// loop writes it (see [`write_refreshed`]).
    Refresh {
        login: LoginId,
        from: u64,
        result: Result<Ready, Refresh>,
    },
    /// An `aws login` session's refresh ended; if Sign-In answered, the session's new file
    /// content is ready and the loop writes it (see [`write_renewed`]).
    Renew {
        login: LoginId,
        from: u64,
        result: Result<Box<signin::Ready>, Refresh>,
    },
}

/// A refreshed token file, ready to be written in place of `original`. Its `Debug` shows the
/// path alone: both contents hold tokens.
pub struct Ready {
    path: PathBuf,
    original: Vec<u8>,
    contents: Vec<u8>,
}

impl std::fmt::Debug for Ready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ready")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Writes a refreshed token file the way the AWS CLI does (atomically, 0600), unless the file
/// changed since it was read (a login landed, another program refreshed): then nothing is
/// written and the change is reported. Runs on the loop, so the engine knows the new token
/// before anything can read the file.
pub fn write_refreshed(ready: &Ready) -> Refresh {
    let path = &ready.path;
    match token::write_if_unchanged(path, &ready.contents, &ready.original) {
        Ok(true) => match token::parse(&ready.contents) {
            Ok(token) => Refresh::Done(token),
            Err(problem) => Refresh::Failed(format!("{}: {problem}", path.display())),
        },
        Ok(false) => Refresh::Changed,
        Err(e) => Refresh::Failed(e.to_string()),
    }
}

/// Starts a token refresh: re-read the token file, call CreateToken and prepare the file's new
/// content the way the AWS CLI writes it; after `InvalidGrantException`, re-read once and
/// report a change if another program refreshed it meanwhile. Reports back as
/// [`TaskDone::Refresh`].
pub fn spawn_refresh(
    cache_dir: &Path,
    login: LoginId,
    version: u64,
    route: Route,
    endpoint: &Endpoint,
    policy: CallPolicy,
    events: &mpsc::UnboundedSender<TaskDone>,
) {
    let path = token::token_path(cache_dir, &login);
    let events = events.clone();
    let task_login = login.clone();
    let endpoint = endpoint.clone();
    let call =
        tokio::spawn(async move { refresh(&path, version, &route, &endpoint, policy).await });
    tokio::spawn(async move {
        let result = match call.await {
            Ok(result) => result,
            Err(_) => Err(Refresh::Failed(
                "internal error: the refresh stopped unexpectedly".to_owned(),
            )),
        };
        let _ = events.send(TaskDone::Refresh {
            login: task_login,
            from: version,
            result,
        });
    });
}

async fn refresh(
    path: &Path,
    version: u64,
    route: &Route,
    endpoint: &Endpoint,
    policy: CallPolicy,
) -> Result<Ready, Refresh> {
    // The file as it is now: another program may have refreshed it already.
    let (bytes, token) = read_token_bytes(path).map_err(Refresh::Failed)?;
    if engine::version(&token) != version {
        return Err(Refresh::Changed);
    }
    let Some(grant) = token.refresh.clone() else {
        return Err(Refresh::Rejected(format!(
            "{} has no refresh token",
            path.display()
        )));
    };
    let oidc = Oidc::new([route.clone()], endpoint, policy);
    // OIDC's answers already have the refresh token and client secret blanked; the access
    // token too, should the service echo it.
    let hide = |text: String| redact(&text, &[&token.access_token]);
    let new = match oidc.create_token(route, &grant, Utc::now()).await {
        Ok(new) => new,
        Err(RefreshError::InvalidGrant { detail }) => {
            // Perhaps the AWS CLI refreshed first and rotated the refresh token.
            return Err(match read_token_bytes(path) {
                Ok((_, now_token)) if engine::version(&now_token) != version => Refresh::Changed,
                _ => Refresh::Rejected(hide(detail)),
            });
        }
        Err(RefreshError::InvalidClient { detail }) => {
            return Err(Refresh::Rejected(hide(detail)));
        }
        Err(e) if e.is_transient() => return Err(Refresh::Transient(hide(e.to_string()))),
        Err(e) => return Err(Refresh::Failed(hide(e.to_string()))),
    };
    let contents = token::refreshed(
        &bytes,
        &new.access_token,
        new.expires_at,
        new.refresh_token.as_ref(),
    )
    .map_err(|problem| Refresh::Failed(format!("{}: {problem}", path.display())))?;
    Ok(Ready {
        path: path.to_owned(),
        original: bytes,
        contents,
    })
}

fn read_token_bytes(path: &Path) -> Result<(Vec<u8>, Token), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let token = token::parse(&bytes)
        .map_err(|problem| format!("{} is not a usable SSO token ({problem})", path.display()))?;
    Ok((bytes, token))
}

/// Writes a refreshed `aws login` session's file as botocore does (atomically, 0600, every
/// other field kept), only while it still holds the refresh token the refresh used: a new
/// `aws login`, or another program's refresh, meanwhile wins. Runs on the loop, so the engine
/// knows the new session before anything can read the file.
///
/// `Err` when the file could not be written: the caller keeps `ready` (the only copy of the
/// rotated refresh token) and tries again.
pub fn write_renewed(ready: &signin::Ready) -> Result<Refresh, FsError> {
    let path = &ready.path;
    Ok(
        match console::write_if_unchanged(path, &ready.contents, &ready.used)? {
            true => match console::parse(&ready.contents) {
                Ok(session) => Refresh::Renewed(engine::Session {
                    version: engine::session_version(&session.refresh_token, &session.credentials),
                    credentials: session.credentials,
                }),
                Err(problem) => Refresh::Failed(format!("{}: {problem}", path.display())),
            },
            false => Refresh::Changed,
        },
    )
}

/// Starts the refresh of an `aws login` session (see [`signin::renew`]): the file is re-read
/// first, and when it no longer holds `version` (another program refreshed it, a new login)
/// no call is made; otherwise CreateOAuth2Token with a new DPoP proof per attempt, in the
/// Sign-In region botocore would use. Reports back as [`TaskDone::Renew`].
#[allow(clippy::too_many_arguments)]
pub fn spawn_renew(
    cache_dir: &Path,
    login: LoginId,
    version: u64,
    target: &Target,
    lead: chrono::TimeDelta,
    endpoint: &Endpoint,
    policy: CallPolicy,
    stopping: &Arc<std::sync::atomic::AtomicBool>,
    events: &mpsc::UnboundedSender<TaskDone>,
) {
    let stopping = Arc::clone(stopping);
    let LoginId::Console(arn) = &login else {
        return;
    };
    let path = console::session_path(cache_dir, arn);
    let events = events.clone();
    let task_login = login.clone();
    let endpoint = endpoint.clone();
    let route = route_of(target);
    let profile_region = target.profile.region().map(str::to_owned);
    let name = target.name().to_owned();
    let call = tokio::spawn(async move {
        // The file as it is now: another program may have refreshed it already.
        let session = match console::read(&path) {
            Ok(session) => session,
            Err(e) if e.may_be_partial() => return Err(Refresh::Changed),
            Err(SessionError::Missing { .. }) => return Err(Refresh::Changed),
            Err(e) => return Err(Refresh::Failed(e.to_string())),
        };
        if engine::session_version(&session.refresh_token, &session.credentials) != version {
            return Err(Refresh::Changed);
        }
        let Some(region) =
            signin_region(session.sign_in_region.as_deref(), profile_region.as_deref())
        else {
            return Err(Refresh::Failed(format!(
                "no region for AWS Sign-In: set `region` in profile {name} (or AWS_DEFAULT_REGION)"
            )));
        };
        drop(session);
        let route = Route { region, ..route };
        let signin = SignIn::new([route.clone()], &endpoint, policy).stop_on(stopping);
        let threshold = Utc::now() + lead;
        let renewal = signin::renew(
            &signin,
            &route,
            &path,
            threshold,
            |attempt, error, delay| {
                warn!("{name}: Sign-In attempt {attempt} failed: {error}; retrying in {delay:.1?}");
            },
        )
        .await;
        match renewal {
            Renewal::Ready(ready) => Ok(ready),
            Renewal::Fresh(_) | Renewal::Changed => Err(Refresh::Changed),
            Renewal::Failed(e) => Err(match e {
                signin::RefreshError::SessionEnded { .. }
                | signin::RefreshError::InvalidGrant { .. } => Refresh::Rejected(e.to_string()),
                signin::RefreshError::NotPermitted { .. } => Refresh::NotPermitted(e.to_string()),
                signin::RefreshError::Transient { .. } => Refresh::Transient(e.to_string()),
                signin::RefreshError::Failed { .. } => Refresh::Failed(e.to_string()),
            }),
        }
    });
    tokio::spawn(async move {
        let result = match call.await {
            Ok(result) => result,
            Err(_) => Err(Refresh::Failed(
                "internal error: the refresh stopped unexpectedly".to_owned(),
            )),
        };
        let _ = events.send(TaskDone::Renew {
            login: task_login,
            from: version,
            result,
        });
    });
}

//! The daemon's decisions, as a pure state machine: given what has been seen of the config,
//! the logins and the credentials file, the results of calls, and the time, what to do next.
//!
//! No tokio, no file system, no network, no clock: the shell ([`crate::daemon`]) reads files
//! and the clock, turns what happened into an [`Event`], hands it to [`Engine::handle`], and
//! carries out the [`Action`]s that [`Engine::decide`] returns. [`Engine::next_wake`] says when
//! to look again. Everything here is tested with tables and a fake clock.
//!
//! Deadlines are wall-clock times (`DateTime<Utc>`), never monotonic instants: the monotonic
//! clock stops while a laptop sleeps, so a deadline that passed during a suspend is simply
//! found due on the first wake after it.
//!
//! Rules, in short:
//! - A profile is renewed `refresh_margin` (minus a little jitter) before its credentials
//!   expire; a profile whose credentials live less than the margin is renewed halfway.
//! - A token file that changes (a new login, a refresh by another program) renews every
//!   profile of that login; ssofresh's own refresh does not loop back.
//! - 401: the login needs `aws sso login`; said once; nothing is sent until the file changes.
//!   403/404: said once, retried hourly. 429/5xx/no answer: per-login exponential backoff.
//! - An sso-session login with a refresh token is refreshed [`TOKEN_REFRESH_LEAD`] before its
//!   access token expires, clear of the AWS CLI's own 15-minute window.
//! - The token file disappearing (`aws sso logout`) removes the sections ssofresh wrote for it.
//! - A managed section that another program dropped or changed is put back, whenever the
//!   credentials file is read (a change, or the periodic re-read), even if it reads as ssofresh
//!   last wrote it.
//! - Logins are of two kinds ([`LoginKind`]). An SSO token is turned into credentials per
//!   profile by portal calls ([`Action::Fetch`]); an `aws login` session holds the
//!   credentials itself, which go to its profiles' sections with no call, and is refreshed
//!   through Sign-In [`session_lead`] before they end ([`Action::Refresh`] serves both
//!   kinds). A session's sections never outlive its credentials while the daemon runs, and
//!   are taken back when it stops: the AWS CLI reads them before the session itself.
//! - One write per pass: results wait for the other calls still out while answers keep
//!   coming, until none came for [`WRITE_HOLD`], at most [`WRITE_HOLD_MAX`] (under `--once`,
//!   for all of them); a renewal that falls due takes along every renewal due within
//!   [`gather_window`] of it.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

use chrono::{DateTime, TimeDelta, Utc};

use crate::daemon::plan::Selection;
use crate::daemon::plan::{self, LoginProblem, Outcome, ProfileView, State, Target};
use crate::files::config::{LoginId, LoginKind, Profiles};
use crate::files::credfile::{self, RoleCredentials};
use crate::login::portal::CallError;
use crate::login::token::Token;
use crate::secret::Secret;
use crate::time::format_local;

/// How long before the access token expires ssofresh refreshes it: the AWS CLI refreshes
/// within 15 minutes of expiry, so ssofresh goes first and the two rarely race.
pub const TOKEN_REFRESH_LEAD: TimeDelta = TimeDelta::minutes(20);

/// The least time between two refreshes of a token by ssofresh (the AWS CLI waits 60 s too).
pub const MIN_REFRESH_GAP: TimeDelta = TimeDelta::seconds(60);

/// Credentials that live less than the margin are renewed halfway, but never sooner than this.
pub const MIN_RENEWAL_GAP: TimeDelta = TimeDelta::seconds(5);

/// First delay after a transient failure of a login's calls; doubled each time.
pub const BACKOFF_BASE: TimeDelta = TimeDelta::seconds(5);

/// The longest delay between retries of a failing login.
pub const BACKOFF_CAP: TimeDelta = TimeDelta::minutes(5);

/// How often a profile without access (403/404) is tried again.
pub const NO_ACCESS_RETRY: TimeDelta = TimeDelta::hours(1);

/// How often an unexpected failure is tried again.
pub const FAILED_RETRY: TimeDelta = TimeDelta::minutes(15);

/// How soon a write that failed (a credentials file that cannot be written) is tried again.
pub const WRITE_RETRY: TimeDelta = TimeDelta::seconds(30);

/// How far the wall clock must step back to count as a step (and not as jitter between reads).
pub const CLOCK_STEP: TimeDelta = TimeDelta::seconds(5);

/// How long a half-written token file is given before it is reported as unusable.
pub const NOT_YET_PATIENCE: TimeDelta = TimeDelta::seconds(5);

/// How soon a half-written token file is read again.
pub const NOT_YET_RETRY: TimeDelta = TimeDelta::milliseconds(250);

/// The most jitter taken off a renewal time, so that many profiles do not fire at once.
pub const MAX_JITTER: TimeDelta = TimeDelta::seconds(30);

/// How long after the latest answer the results in hand wait for the calls still out before
/// they are written without them: a call that has not answered a second after the others
/// follows in a write of its own. (The daemon only: `--once` waits for every call, so it
/// writes once.)
pub const WRITE_HOLD: TimeDelta = TimeDelta::seconds(1);

/// The longest a result waits while answers keep coming (a large batch on a slow line): the
/// daemon writes at least this often while a batch is being answered.
pub const WRITE_HOLD_MAX: TimeDelta = TimeDelta::seconds(5);

/// Added to the jitter to make the window in which due renewals are gathered: the spread of
/// expiry times of credentials fetched in one batch (the calls take a while to answer).
pub const GATHER_SLACK: TimeDelta = TimeDelta::seconds(10);

/// The least lead of an `aws login` session's refresh (see [`session_lead`]).
pub const SESSION_LEAD_MIN: TimeDelta = TimeDelta::minutes(6);

/// The most lead of an `aws login` session's refresh (see [`session_lead`]).
pub const SESSION_LEAD_MAX: TimeDelta = TimeDelta::minutes(12);

/// How long before a login that cannot be renewed ends the user is told (`--notify-before`).
pub const NOTIFY_BEFORE: TimeDelta = TimeDelta::minutes(15);

/// What the engine is asked to do.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Renew this long before credentials expire.
    pub refresh_margin: TimeDelta,
    /// `--profile` and `--exclude` choices.
    pub selection: Selection,
    /// Write each profile's `region` too.
    pub with_region: bool,
    /// `--once`: one attempt per profile, no waiting, no token refresh, no backoff.
    pub once: bool,
}

/// A login's file, as last read: an SSO token, or an `aws login` session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// No file: nobody logged in, or `aws sso logout` / `aws logout` removed it.
    Missing,
    /// Empty or not (yet) valid JSON: the CLI writes in place, so it may be mid-write.
    NotYet(String),
    /// Present but not a usable token or session (the reason names the file).
    Unusable(String),
    /// An SSO token.
    Token(Token),
    /// An `aws login` session.
    Session(Session),
}

/// An `aws login` session as the engine knows it: the credentials it holds, and a fingerprint
/// of the file's refresh token. The refresh token and the DPoP key stay in the file: the
/// refresh reads them there, for as long as it needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub credentials: RoleCredentials,
    /// Changes whenever the refresh token or the credentials do (see [`session_version`]).
    pub version: u64,
}

/// What a refresh of a login came to: an SSO token through OIDC, an `aws login` session
/// through Sign-In.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refresh {
    /// CreateToken answered and the new token is in the cache file.
    Done(Token),
    /// Sign-In answered; the new credentials and the rotated refresh token are in the file.
    Renewed(Session),
    /// Another program changed the file first; the next read picks it up.
    Changed,
    /// Only a new login helps: the refresh token or client registration was refused, or the
    /// `aws login` session has ended.
    Rejected(String),
    /// The identity may not refresh (`INSUFFICIENT_PERMISSIONS`): another login will not help.
    NotPermitted(String),
    /// Throttling, 5xx, no answer: try again later.
    Transient(String),
    /// Anything else.
    Failed(String),
}

/// Something that happened.
#[derive(Debug, Clone)]
pub enum Event {
    /// The config file was read (or could not be: the message names the file and line).
    Config(Result<Profiles, String>),
    /// A login's token file was read.
    Login { login: LoginId, seen: Seen },
    /// A GetRoleCredentials call for a profile ended. `token` is the version it used.
    Fetched {
        profile: String,
        token: u64,
        result: Result<RoleCredentials, CallError>,
    },
    /// A token refresh for a login ended; `from` is the version it started from.
    Refreshed {
        login: LoginId,
        from: u64,
        result: Refresh,
    },
    /// A write asked for by [`Action::Write`] ended.
    Wrote(WriteResult),
    /// The credentials file as read now (a change by another program, or a periodic check).
    /// (Its keys make it a [`Secret`]: a `Debug` print of the event shows none of them.)
    CredentialsFile(Secret),
}

/// What came of an [`Action::Write`].
#[derive(Debug, Clone)]
pub enum WriteResult {
    /// The file was written (or already said this). Sections refused, with the reason.
    Done {
        refused: Vec<(String, credfile::Refusal)>,
        /// The file's text as written, so that its coming back as an event is recognised
        /// (a [`Secret`]: it holds keys).
        text: Secret,
    },
    /// Nothing could be written (the message names the file and what to do).
    Failed(String),
}

/// Something to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Call GetRoleCredentials for `target` with `token` (version `version`).
    Fetch {
        target: Target,
        token: Token,
        version: u64,
    },
    /// Refresh the login from its file: an SSO token through OIDC CreateToken, an `aws login`
    /// session through Sign-In CreateOAuth2Token, provided the file still holds `version`.
    /// `route_of` gives the route (region, CA bundle) to use.
    Refresh {
        login: LoginId,
        version: u64,
        route_of: Target,
    },
    /// Write these sections and remove these, in one write.
    Write {
        puts: Vec<Put>,
        removals: Vec<Removal>,
    },
    /// Say this, at this level.
    Log(Level, String),
    /// Tell the user a login needs them (desktop notice, `--on-login-needed`); emitted once
    /// per login, token and event.
    Notify(Notice),
}

/// A login that only the user can renew, and what to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub login: LoginId,
    /// The profiles of the login, in config order.
    pub profiles: Vec<String>,
    /// When the login ends or ended.
    pub expires_at: DateTime<Utc>,
    /// The exact command that renews it, e.g. `aws sso login --sso-session corp`.
    pub fix: String,
    pub event: NoticeEvent,
}

/// What a [`Notice`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeEvent {
    /// The login ends within `--notify-before` and cannot be renewed.
    Ending,
    /// The login has ended (expired, or refused by the portal).
    Ended,
}

/// A section to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Put {
    pub section: String,
    pub credentials: RoleCredentials,
    pub region: Option<String>,
}

/// A section ssofresh wrote, to remove if it still holds `access_key_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub section: String,
    pub access_key_id: String,
}

/// How loud a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// A short fingerprint of a token, to tell one login (or refresh) from the next. Not a secret
/// and never shown: it only changes when the token does.
pub fn version(token: &Token) -> u64 {
    let mut h = DefaultHasher::new();
    token.access_token.expose().hash(&mut h);
    token.expires_at.hash(&mut h);
    h.finish()
}

/// The fingerprint of an `aws login` session: it changes with its refresh token (every
/// refresh rotates it, every `aws login` makes a new one) and with its credentials.
pub fn session_version(refresh_token: &Secret, credentials: &RoleCredentials) -> u64 {
    let mut h = DefaultHasher::new();
    refresh_token.expose().hash(&mut h);
    credentials.access_key_id.hash(&mut h);
    credentials.expiration.hash(&mut h);
    h.finish()
}

/// How long before its credentials end an `aws login` session is refreshed: the margin, kept
/// above the SDKs' 5 minutes (so that ssofresh refreshes first and they find fresh
/// credentials in the file) and below the credentials' 15-minute life (or every refresh
/// would be due at once).
pub fn session_lead(margin: TimeDelta) -> TimeDelta {
    margin.clamp(SESSION_LEAD_MIN, SESSION_LEAD_MAX)
}

#[derive(Debug, Clone)]
struct ProfileState {
    target: Target,
    /// Credentials written and still held, to put back if another program drops them.
    held: Option<RoleCredentials>,
    /// When to call again; `None` until there is something to call with.
    due: Option<DateTime<Utc>>,
    in_flight: bool,
    /// The call in flight was made for the profile as it was before a config change: its
    /// answer is dropped and the profile called again.
    discard_answer: bool,
    /// Written this pass and waiting for [`Event::Wrote`].
    pending: Option<RoleCredentials>,
    /// What happened last, shown once when it changes.
    outcome: Option<Outcome>,
}

impl ProfileState {
    /// The section as it should read now, from the credentials held; `None` while nothing is
    /// held or an answer is under way (it is written anyway).
    fn put_back(&self, with_region: bool) -> Option<credfile::Update<'_>> {
        let held = self.held.as_ref()?;
        if self.in_flight || self.pending.is_some() {
            return None;
        }
        Some(credfile::Update {
            section: &self.target.section,
            credentials: held,
            region: if with_region {
                self.target.profile.region()
            } else {
                None
            },
        })
    }
}

#[derive(Debug, Clone, Default)]
struct RefreshState {
    in_flight: bool,
    failures: u32,
    not_before: Option<DateTime<Utc>>,
    /// When the token ssofresh itself got is refreshed next (see [`next_refresh`]).
    next_at: Option<DateTime<Utc>>,
    /// The token version whose refresh was refused: not tried again.
    refused: Option<u64>,
    /// When the refresh now out began (an `aws login` session's: its profiles wait for its
    /// answer at most [`WRITE_HOLD_MAX`]).
    started: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
struct LoginState {
    seen: Option<Seen>,
    /// The version the portal answered 401 to: nothing is sent until the file changes.
    rejected: Option<u64>,
    /// What Sign-In said when it declared the session `rejected` over.
    ended: Option<String>,
    /// Transient failures in a row, and when to try again.
    failures: u32,
    not_before: Option<DateTime<Utc>>,
    refresh: RefreshState,
    /// Since when the file has been half-written.
    not_yet_since: Option<DateTime<Utc>>,
    /// Sections ssofresh wrote from this login, with the access key id written: what a
    /// logout takes back, whether or not their profiles are still in the config.
    written: BTreeMap<String, String>,
    /// The token ssofresh's own last refresh replaced: calls made with it still count.
    replaced_by_refresh: Option<u64>,
    /// The token whose end was announced, to say it once per token.
    told_end: Option<u64>,
    /// The token whose expiry was reported, likewise.
    told_expired: Option<u64>,
    /// The tokens whose coming end, and whose end, the user was notified of.
    notified_ending: Option<u64>,
    notified_ended: Option<u64>,
}

impl LoginState {
    fn new() -> Self {
        Self {
            seen: None,
            rejected: None,
            ended: None,
            failures: 0,
            not_before: None,
            refresh: RefreshState::default(),
            not_yet_since: None,
            written: BTreeMap::new(),
            replaced_by_refresh: None,
            told_end: None,
            told_expired: None,
            notified_ending: None,
            notified_ended: None,
        }
    }

    fn token(&self) -> Option<&Token> {
        match &self.seen {
            Some(Seen::Token(t)) => Some(t),
            _ => None,
        }
    }

    fn session(&self) -> Option<&Session> {
        match &self.seen {
            Some(Seen::Session(s)) => Some(s),
            _ => None,
        }
    }
}

/// The daemon's state. See the module docs for the rules.
#[derive(Debug)]
pub struct Engine {
    settings: Settings,
    profiles: BTreeMap<String, ProfileState>,
    /// Profile names in config order.
    order: Vec<String>,
    logins: BTreeMap<LoginId, LoginState>,
    /// Outcomes of the selection itself (misconfigured, not found, section clashes).
    selection: Vec<(String, Outcome)>,
    selection_said: BTreeSet<String>,
    /// The credentials file's text as ssofresh last wrote it.
    last_written: Option<Secret>,
    /// Whether the config has been read at least once with profiles in it.
    config_loaded: bool,
    config_error: Option<String>,
    /// A write is in progress (between [`Action::Write`] and [`Event::Wrote`]).
    writing: bool,
    /// Sections to take back (after a logout), kept until a write succeeds.
    removals: Vec<Removal>,
    /// Profiles dropped from the config while a call for them was out: should they come back
    /// before its answer, that answer is for their old settings and is dropped.
    orphan_calls: BTreeSet<String>,
    /// When the oldest result not yet written arrived, and when the latest answer (of any
    /// kind) came: the write waits for the calls still out (see [`Engine::write_held`]).
    waiting_since: Option<DateTime<Utc>>,
    last_answer: Option<DateTime<Utc>>,
    /// After a failed write: when to try again, and what went wrong (said once).
    write_retry: Option<DateTime<Utc>>,
    write_error: Option<String>,
    /// The latest time seen, to notice the clock stepping back.
    last_now: Option<DateTime<Utc>>,
    rng: fastrand::Rng,
    /// How long before a login that cannot be renewed ends the user is told.
    notify_before: TimeDelta,
    /// Where portal calls really go when not to AWS (`AWS_ENDPOINT_URL_SSO`), for messages.
    sso_endpoint: Option<String>,
}

impl Engine {
    /// An engine with no profiles yet; `seed` makes the jitter repeatable in tests.
    pub fn new(settings: Settings, seed: u64) -> Self {
        Self {
            settings,
            profiles: BTreeMap::new(),
            order: Vec::new(),
            logins: BTreeMap::new(),
            selection: Vec::new(),
            selection_said: BTreeSet::new(),
            last_written: None,
            config_loaded: false,
            config_error: None,
            writing: false,
            removals: Vec::new(),
            orphan_calls: BTreeSet::new(),
            waiting_since: None,
            last_answer: None,
            write_retry: None,
            write_error: None,
            last_now: None,
            rng: fastrand::Rng::with_seed(seed),
            notify_before: NOTIFY_BEFORE,
            sso_endpoint: None,
        }
    }

    /// Sets how long before a login that cannot be renewed ends the user is told.
    pub fn set_notify_before(&mut self, before: TimeDelta) {
        self.notify_before = before;
    }

    /// Names the endpoint portal calls really go to, when not AWS's, in messages.
    pub fn set_sso_endpoint(&mut self, url: Option<String>) {
        self.sso_endpoint = url;
    }

    /// Takes back the record of a section written from `login` in an earlier run (still
    /// holding `access_key_id`), so that a logout after a restart removes it too.
    pub fn restore_written(&mut self, login: LoginId, section: String, access_key_id: String) {
        self.logins
            .entry(login)
            .or_insert_with(LoginState::new)
            .written
            .insert(section, access_key_id);
    }

    /// Every section written and still owned, per login: `(login, section, access key id)`.
    pub fn written(&self) -> Vec<(LoginId, String, String)> {
        self.logins
            .iter()
            .flat_map(|(login, l)| {
                l.written
                    .iter()
                    .map(move |(s, k)| (login.clone(), s.clone(), k.clone()))
            })
            .collect()
    }

    /// What each profile is doing, for `ssofresh status`: selection problems first, then the
    /// profiles in config order.
    pub fn view(&self) -> Vec<ProfileView> {
        let mut out: Vec<ProfileView> = self
            .selection
            .iter()
            .map(|(name, outcome)| ProfileView::of_selection(name, outcome))
            .collect();
        for p in self.order.iter().filter_map(|n| self.profiles.get(n)) {
            let login = &p.target.login;
            let l = self.logins.get(login);
            let (mut state, message, fix) = match &p.outcome {
                Some(o) => o.status(),
                None => (State::Renewing, None, None),
            };
            if p.in_flight || p.pending.is_some() {
                state = State::Renewing;
            }
            let console = login.kind() == LoginKind::Console;
            // An `aws login` session acts for all its profiles at once: its next refresh.
            let due = match l {
                Some(l) if console => self.session_renewal(l),
                _ => p.due,
            };
            let next_action_at = match state {
                State::NeedsLogin | State::Conflict => None,
                State::Waiting => due.max(l.and_then(|l| l.not_before)),
                _ => due,
            };
            out.push(ProfileView {
                profile: p.target.name().to_owned(),
                section: Some(p.target.section.clone()),
                login: Some(login.cache_key().to_owned()),
                kind: Some(login.kind()),
                state,
                credentials_expire_at: p.held.as_ref().map(|c| c.expiration),
                login_expires_at: l.and_then(|l| l.token()).map(|t| t.expires_at),
                next_action_at,
                message,
                fix,
            });
        }
        out
    }

    /// Tells the user once per login, token and event that the login needs them.
    fn notify(
        &mut self,
        login: &LoginId,
        token: u64,
        event: NoticeEvent,
        expires_at: DateTime<Utc>,
        out: &mut Vec<Action>,
    ) {
        if self.settings.once {
            return;
        }
        let names = self.names_of(login);
        let Some(l) = self.logins.get_mut(login) else {
            return;
        };
        let told = match event {
            NoticeEvent::Ending => &mut l.notified_ending,
            NoticeEvent::Ended => &mut l.notified_ended,
        };
        if *told == Some(token) || names.is_empty() {
            return;
        }
        *told = Some(token);
        let profiles: Vec<String> = names.split(", ").map(str::to_owned).collect();
        out.push(Action::Notify(Notice {
            login: login.clone(),
            fix: login.login_command(&profiles[0]),
            profiles,
            expires_at,
            event,
        }));
    }

    /// The logins whose token files are read: those the profiles use, and those ssofresh
    /// still has sections of in the credentials file (to notice a logout).
    pub fn logins(&self) -> Vec<LoginId> {
        self.logins.keys().cloned().collect()
    }

    /// True when every selected profile has an outcome and nothing is in flight: the end of
    /// a `--once` pass.
    pub fn settled(&self) -> bool {
        !self.writing
            && self.removals.is_empty()
            && self
                .profiles
                .values()
                .all(|p| !p.in_flight && p.pending.is_none() && p.outcome.is_some())
            && self.logins.values().all(|l| !l.refresh.in_flight)
    }

    /// Every profile's latest outcome, in config order, selection problems included.
    pub fn outcomes(&self) -> Vec<(String, Outcome)> {
        let mut out: Vec<(String, Outcome)> = self.selection.clone();
        for name in &self.order {
            if let Some(p) = self.profiles.get(name)
                && let Some(o) = &p.outcome
            {
                out.push((name.clone(), o.clone()));
            }
        }
        let pos = |n: &str| self.order.iter().position(|o| o == n).unwrap_or(usize::MAX);
        out.sort_by_key(|(n, _)| pos(n));
        out
    }

    /// Notices the wall clock stepping back (NTP after a boot with a wrong clock, a manual
    /// change). Everything scheduled moves back by the step: waits measured from the old time
    /// would otherwise stretch by it (a 5-second backoff lasting hours). A renewal that follows
    /// the credentials' expiry comes early by the step, which costs one call.
    fn observe_clock(&mut self, now: DateTime<Utc>, out: &mut Vec<Action>) {
        let step = self.last_now.map_or(TimeDelta::zero(), |last| last - now);
        self.last_now = Some(now);
        if step <= CLOCK_STEP {
            return;
        }
        out.push(Action::Log(
            Level::Info,
            format!(
                "the clock stepped back by {} s; moving what was scheduled back with it",
                step.num_seconds()
            ),
        ));
        let back = |t: &mut Option<DateTime<Utc>>| *t = t.map(|t| t - step);
        back(&mut self.write_retry);
        for l in self.logins.values_mut() {
            back(&mut l.not_before);
            back(&mut l.refresh.not_before);
            back(&mut l.refresh.next_at);
            back(&mut l.not_yet_since);
        }
        for p in self.profiles.values_mut() {
            back(&mut p.due);
        }
    }

    /// Takes in what happened. Returns log lines and writes that must happen at once.
    pub fn handle(&mut self, event: Event, now: DateTime<Utc>) -> Vec<Action> {
        let mut out = Vec::new();
        self.observe_clock(now, &mut out);
        match event {
            Event::Config(result) => self.on_config(result, now, &mut out),
            Event::Login { login, seen } => self.on_login(login, seen, now, &mut out),
            Event::Fetched {
                profile,
                token,
                result,
            } => self.on_fetched(&profile, token, result, now, &mut out),
            Event::Refreshed {
                login,
                from,
                result,
            } => self.on_refreshed(login, from, result, now, &mut out),
            Event::Wrote(result) => self.on_wrote(result, now, &mut out),
            Event::CredentialsFile(text) => {
                self.on_credentials_file(text.expose(), now, &mut out);
            }
        }
        if self.has_work_to_write() {
            self.waiting_since.get_or_insert(now);
        }
        out
    }

    /// Whether anything waits to be written: results in hand, sections to put back or remove.
    fn has_work_to_write(&self) -> bool {
        !self.removals.is_empty() || self.profiles.values().any(|p| p.pending.is_some())
    }

    /// Whether the write waits for calls still out: under `--once` until the last answers (one
    /// write per run); in the daemon until [`Engine::hold_ends`], so that one slow call holds
    /// the others back by about a second.
    fn write_held(&self, now: DateTime<Utc>) -> bool {
        // A session's refresh holds the write back no longer than its profiles wait for it.
        let refresh_out = self.logins.iter().any(|(id, l)| {
            id.kind() == LoginKind::Console
                && l.refresh.in_flight
                && (self.settings.once
                    || l.refresh.started.is_none_or(|t| now < t + WRITE_HOLD_MAX))
        });
        let calls_out = self.profiles.values().any(|p| p.in_flight) || refresh_out;
        calls_out && (self.settings.once || self.hold_ends().is_none_or(|t| now < t))
    }

    /// When the results waiting are written even with calls still out: [`WRITE_HOLD`] after
    /// the latest answer, and no later than [`WRITE_HOLD_MAX`] after the first result waiting.
    fn hold_ends(&self) -> Option<DateTime<Utc>> {
        let first = self.waiting_since?;
        let latest = self.last_answer.map_or(first, |t| t.max(first));
        Some((latest + WRITE_HOLD).min(first + WRITE_HOLD_MAX))
    }

    fn on_config(
        &mut self,
        result: Result<Profiles, String>,
        now: DateTime<Utc>,
        out: &mut Vec<Action>,
    ) {
        let profiles = match result {
            Ok(p) => p,
            Err(message) => {
                if self.config_error.as_ref() != Some(&message) {
                    let keeping = if self.profiles.is_empty() {
                        String::new()
                    } else {
                        "; keeping the profiles read before".to_owned()
                    };
                    out.push(Action::Log(Level::Error, format!("{message}{keeping}")));
                }
                self.config_error = Some(message);
                return;
            }
        };
        self.config_error = None;
        let (targets, selection) = plan::select(&profiles, &self.settings.selection);
        for (name, outcome) in &selection {
            let line = format!("{name}: {}", outcome.message());
            if self.selection_said.insert(line.clone()) && !self.settings.once {
                out.push(Action::Log(Level::Warn, line));
            }
        }
        self.selection = selection;
        let mut kept = BTreeMap::new();
        let mut order = Vec::new();
        for target in targets {
            let name = target.name().to_owned();
            order.push(name.clone());
            match self.profiles.remove(&name) {
                Some(state) if state.target == target => {
                    kept.insert(name, state);
                }
                previous => {
                    if self.config_loaded && !self.settings.once {
                        let what = if previous.is_some() {
                            "changed in the config"
                        } else {
                            "new in the config"
                        };
                        out.push(Action::Log(
                            Level::Info,
                            format!("{name}: {what}; writing [{}]", target.section),
                        ));
                    }
                    self.logins
                        .entry(target.login.clone())
                        .or_insert_with(LoginState::new);
                    let l = &self.logins[&target.login];
                    let due = (l.token().is_some() || l.session().is_some()).then_some(now);
                    let busy = match previous {
                        Some(p) => p.in_flight,
                        None => self.orphan_calls.remove(&name),
                    };
                    kept.insert(
                        name,
                        ProfileState {
                            target,
                            held: None,
                            due,
                            in_flight: busy,
                            discard_answer: busy,
                            pending: None,
                            outcome: None,
                        },
                    );
                }
            }
        }
        for (name, state) in std::mem::take(&mut self.profiles) {
            if state.in_flight {
                self.orphan_calls.insert(name.clone());
            }
            if !self.settings.once {
                out.push(Action::Log(
                    Level::Info,
                    format!(
                        "{name}: no longer selected in the config; [{}] is no longer renewed",
                        state.target.section
                    ),
                ));
            }
        }
        self.profiles = kept;
        self.order = order;
        let used: BTreeSet<LoginId> = self
            .profiles
            .values()
            .map(|p| p.target.login.clone())
            .collect();
        // The sections of an `aws login` session no profile uses any more are taken back:
        // nothing renews them, and the AWS CLI reads them before its own session.
        // Likewise a section no selected profile of the session writes any more (one of
        // several profiles on one ARN taken out, or given another section).
        let targets: BTreeSet<(&LoginId, &str)> = self
            .profiles
            .values()
            .map(|p| (&p.target.login, p.target.section.as_str()))
            .collect();
        let mut dropped = Vec::new();
        for (login, l) in self.logins.iter_mut() {
            if login.kind() != LoginKind::Console {
                continue;
            }
            let mut gone: BTreeMap<String, String> = l
                .written
                .iter()
                .filter(|(section, _)| !targets.contains(&(login, section.as_str())))
                .map(|(s, k)| (s.clone(), k.clone()))
                .collect();
            l.written.retain(|section, _| !gone.contains_key(section));
            dropped.extend(take_back(&mut gone, &mut self.removals));
        }
        if !dropped.is_empty() {
            out.push(Action::Log(
                Level::Info,
                format!(
                    "removing {}: written from an `aws login` session no selected profile uses \
                     now, and the AWS CLI would read it before the session itself",
                    dropped.join(", ")
                ),
            ));
        }
        // A login no profile uses any more is still watched for a logout while ssofresh has
        // sections of it in the file.
        self.logins
            .retain(|l, state| used.contains(l) || !state.written.is_empty());
        self.config_loaded = true;
        // A profile new in the config, of a login that cannot be used, says so like the others.
        let problems: Vec<(LoginId, LoginProblem)> = self
            .logins
            .iter()
            .filter_map(|(id, l)| match &l.seen {
                Some(Seen::Missing) => Some((id.clone(), LoginProblem::Missing)),
                Some(Seen::Unusable(why)) => {
                    Some((id.clone(), LoginProblem::Unusable(why.clone())))
                }
                Some(Seen::Session(s)) if l.rejected == Some(s.version) => Some((
                    id.clone(),
                    LoginProblem::Ended(l.ended.clone().unwrap_or_default()),
                )),
                _ => None,
            })
            .collect();
        for (login, problem) in problems {
            self.set_login_outcome(&login, problem, out);
        }
    }

    fn on_login(&mut self, login: LoginId, seen: Seen, now: DateTime<Utc>, out: &mut Vec<Action>) {
        let once = self.settings.once;
        let Some(state) = self.logins.get_mut(&login) else {
            return;
        };
        let before = state.seen.clone();
        match &seen {
            Seen::NotYet(reason) if !once => {
                // Reported already: wait for the watcher or the periodic rescan, not a poll.
                if before.as_ref() == Some(&Seen::Unusable(reason.clone())) {
                    state.not_yet_since = None;
                    return;
                }
                // Keep what was there; look again shortly, and give up waiting after a while.
                let since = *state.not_yet_since.get_or_insert(now);
                if now - since < NOT_YET_PATIENCE {
                    return;
                }
                state.not_yet_since = None;
                state.seen = Some(Seen::Unusable(reason.clone()));
                self.set_login_outcome(&login, LoginProblem::Unusable(reason.clone()), out);
                return;
            }
            _ => state.not_yet_since = None,
        }
        if before.as_ref() == Some(&seen) {
            return;
        }
        state.seen = Some(seen.clone());
        match seen {
            Seen::Token(_) | Seen::Session(_) => {
                // A new token or session (a login, or a refresh by another program): start
                // afresh.
                state.replaced_by_refresh = None;
                state.rejected = None;
                state.failures = 0;
                state.not_before = None;
                state.refresh = RefreshState {
                    in_flight: state.refresh.in_flight,
                    started: state.refresh.started,
                    ..RefreshState::default()
                };
                let fresh = before.is_some_and(|b| matches!(b, Seen::Token(_) | Seen::Session(_)));
                let mut names = Vec::new();
                for p in self
                    .profiles
                    .values_mut()
                    .filter(|p| p.target.login == login)
                {
                    p.due = Some(now);
                    names.push(p.target.name().to_owned());
                }
                if fresh && !once {
                    let what = match login.kind() {
                        LoginKind::Sso => format!("new token for {login}; renewing now"),
                        LoginKind::Console => format!("new credentials in {login}; writing them"),
                    };
                    out.push(Action::Log(
                        Level::Info,
                        format!("{}: {what}", names.join(", ")),
                    ));
                }
            }
            Seen::Missing => {
                for p in self
                    .profiles
                    .values_mut()
                    .filter(|p| p.target.login == login)
                {
                    p.due = None;
                    p.pending = None;
                    p.held = None;
                }
                let sections = take_back(&mut state.written, &mut self.removals);
                if !sections.is_empty() {
                    out.push(Action::Log(
                        Level::Info,
                        format!("signed out of {login}: removing {}", sections.join(", ")),
                    ));
                }
                self.set_login_outcome(&login, LoginProblem::Missing, out);
            }
            Seen::Unusable(reason) | Seen::NotYet(reason) => {
                for p in self
                    .profiles
                    .values_mut()
                    .filter(|p| p.target.login == login)
                {
                    p.due = None;
                }
                self.set_login_outcome(&login, LoginProblem::Unusable(reason), out);
            }
        }
    }

    /// Gives every profile of `login` that is not in flight the outcome "needs login".
    fn set_login_outcome(&mut self, login: &LoginId, why: LoginProblem, out: &mut Vec<Action>) {
        let mut names = Vec::new();
        let mut message = None;
        for p in self
            .profiles
            .values_mut()
            .filter(|p| &p.target.login == login)
        {
            let outcome = Outcome::NeedsLogin {
                login: login.clone(),
                command: login.login_command(p.target.name()),
                why: why.clone(),
            };
            if p.outcome.as_ref() != Some(&outcome) {
                names.push(p.target.name().to_owned());
                message = Some(outcome.message());
            }
            p.outcome = Some(outcome);
        }
        if let Some(message) = message
            && !self.settings.once
        {
            out.push(Action::Log(
                Level::Warn,
                format!("{}: {message}", names.join(", ")),
            ));
        }
    }

    fn on_fetched(
        &mut self,
        name: &str,
        token: u64,
        result: Result<RoleCredentials, CallError>,
        now: DateTime<Utc>,
        out: &mut Vec<Action>,
    ) {
        let once = self.settings.once;
        self.last_answer = Some(now);
        let Some(p) = self.profiles.get_mut(name) else {
            self.orphan_calls.remove(name);
            return; // removed from the config meanwhile
        };
        p.in_flight = false;
        if std::mem::take(&mut p.discard_answer) {
            return; // asked for the profile as it was before the config changed
        }
        let login = p.target.login.clone();
        let l = self.logins.get(&login);
        let current = l.and_then(|l| l.token()).map(version);
        let ours = l.is_some_and(|l| l.replaced_by_refresh == Some(token));
        if current.is_none() || (current != Some(token) && !ours) {
            out.push(Action::Log(
                Level::Debug,
                format!("{name}: answer for a token no longer current dropped"),
            ));
            // Signed out meanwhile (drop the credentials), or a new token arrived: the
            // profile is still due and is called again with the new one.
            return;
        }
        match result {
            Ok(creds) if creds.expiration <= now + MIN_RENEWAL_GAP => {
                // A clock far ahead of AWS's: calling again soon would get the same.
                let outcome = Outcome::Failed {
                    detail: format!(
                        "the portal's credentials expire at {}, which this machine's clock says \
                         is already past: check the clock (it reads {})",
                        format_local(creds.expiration),
                        format_local(now)
                    ),
                };
                let next = now + FAILED_RETRY;
                p.due = Some(next);
                if p.outcome.as_ref() != Some(&outcome) && !once {
                    out.push(Action::Log(
                        Level::Warn,
                        format!(
                            "{name}: {}; trying again at {}",
                            outcome.message(),
                            format_local(next)
                        ),
                    ));
                }
                p.outcome = Some(outcome);
            }
            Ok(creds) => {
                if let Some(l) = self.logins.get_mut(&login) {
                    l.failures = 0;
                    l.not_before = None;
                }
                p.pending = Some(creds);
            }
            Err(CallError::Unauthorized) => {
                // Every profile of the login waits for a new token file.
                if let Some(l) = self.logins.get_mut(&login) {
                    l.rejected = Some(token);
                }
                self.set_login_outcome(&login, LoginProblem::Rejected, out);
                self.notify(&login, token, NoticeEvent::Ended, now, out);
            }
            Err(error) => {
                let Some(sso) = p.target.profile.sso() else {
                    return; // `aws login` profiles are never fetched
                };
                let outcome = Outcome::from_call(error.clone(), sso, self.sso_endpoint.as_deref());
                let changed = p.outcome.as_ref() != Some(&outcome);
                p.outcome = Some(outcome.clone());
                let next = match error {
                    CallError::Throttled { .. } | CallError::Transient { .. } => {
                        // Backoff is per login: its other profiles wait too. The profiles of
                        // one round failing together count as one failure.
                        p.due = Some(now);
                        let l = self.logins.entry(login).or_insert_with(LoginState::new);
                        match l.not_before {
                            Some(at) if at > now => at,
                            _ => {
                                l.failures += 1;
                                let at = now + backoff(l.failures, &mut self.rng);
                                l.not_before = Some(at);
                                at
                            }
                        }
                    }
                    CallError::NoAccess { .. } => now + NO_ACCESS_RETRY,
                    _ => now + FAILED_RETRY,
                };
                if !matches!(
                    error,
                    CallError::Throttled { .. } | CallError::Transient { .. }
                ) {
                    p.due = Some(next);
                }
                if (changed || error.is_transient()) && !once {
                    out.push(Action::Log(
                        Level::Warn,
                        format!(
                            "{name}: {}; trying again at {}",
                            outcome.message(),
                            format_local(next)
                        ),
                    ));
                }
            }
        }
    }

    fn on_refreshed(
        &mut self,
        login: LoginId,
        from: u64,
        result: Refresh,
        now: DateTime<Utc>,
        out: &mut Vec<Action>,
    ) {
        if login.kind() == LoginKind::Console {
            return self.on_renewed(login, from, result, now, out);
        }
        let names = self.names_of(&login);
        let once = self.settings.once;
        let Some(l) = self.logins.get_mut(&login) else {
            return;
        };
        l.refresh.in_flight = false;
        if once && !matches!(result, Refresh::Done(_)) {
            // One attempt per pass: a login whose token has expired ends the pass with what
            // the refresh came to; otherwise the token in hand is used.
            l.refresh.refused = Some(from);
            let expired = l.token().is_none_or(|t| t.is_expired(now));
            let outcome = match &result {
                Refresh::Transient(detail) => Some(Outcome::Unavailable {
                    detail: format!(
                        "refreshing the token of {login} failed ({detail}); run again in a few minutes"
                    ),
                }),
                Refresh::Failed(detail) => Some(Outcome::Failed {
                    detail: format!("refreshing the token of {login} failed ({detail})"),
                }),
                // Rejected: the expired token says "needs login"; Changed: the file is read again.
                _ => None,
            };
            if let Some(outcome) = outcome.filter(|_| expired) {
                // The outcome stands; not replaced by "expired".
                l.told_expired = Some(from);
                for p in self
                    .profiles
                    .values_mut()
                    .filter(|p| p.target.login == login)
                {
                    p.due = None;
                    p.outcome = Some(outcome.clone());
                }
            }
            if let Refresh::Rejected(detail) = &result {
                out.push(Action::Log(
                    Level::Debug,
                    format!("{names}: the token of {login} cannot be refreshed ({detail})"),
                ));
            }
            return;
        }
        match result {
            Refresh::Done(token) => {
                l.refresh.failures = 0;
                l.refresh.not_before = None;
                l.refresh.next_at = Some(next_refresh(now, token.expires_at));
                l.replaced_by_refresh = Some(from);
                out.push(Action::Log(
                    if once { Level::Debug } else { Level::Info },
                    format!(
                        "{names}: refreshed the token of {login}; valid until {}",
                        format_local(token.expires_at)
                    ),
                ));
                // Our own write: the credentials in hand stay good; nothing to renew.
                l.seen = Some(Seen::Token(token));
                l.rejected = None;
            }
            // The shell reads the file again at once; should it still hold the old token,
            // it is not tried again straight away.
            Refresh::Changed => l.refresh.not_before = Some(now + BACKOFF_BASE),
            Refresh::Rejected(detail) => {
                l.refresh.refused = Some(from);
                // Said here once, with the reason: not again as "cannot be renewed".
                l.told_end = Some(from);
                let end = l
                    .token()
                    .map(|t| format_local(t.expires_at))
                    .unwrap_or_default();
                let command = login.login_command(names.split(", ").next().unwrap_or_default());
                out.push(Action::Log(
                    Level::Warn,
                    format!("{names}: the token of {login} cannot be refreshed ({detail}); the login ends at {end}, then run `{command}`"),
                ));
            }
            Refresh::Transient(detail) => {
                l.refresh.failures += 1;
                let delay = backoff(l.refresh.failures, &mut self.rng);
                l.refresh.not_before = Some(now + delay);
                out.push(Action::Log(
                    Level::Warn,
                    format!("{names}: refreshing the token of {login} failed ({detail}); trying again at {}", format_local(now + delay)),
                ));
            }
            Refresh::Renewed(_) | Refresh::NotPermitted(_) | Refresh::Failed(_) => {
                let detail = match result {
                    Refresh::Failed(detail) | Refresh::NotPermitted(detail) => detail,
                    _ => "internal error: a session's answer for an SSO token".to_owned(),
                };
                l.refresh.failures += 1;
                l.refresh.not_before = Some(now + FAILED_RETRY);
                out.push(Action::Log(
                    Level::Warn,
                    format!("{names}: refreshing the token of {login} failed ({detail}); trying again at {}", format_local(now + FAILED_RETRY)),
                ));
            }
        }
    }

    fn names_of(&self, login: &LoginId) -> String {
        let names: Vec<&str> = self
            .order
            .iter()
            .filter(|n| {
                self.profiles
                    .get(*n)
                    .is_some_and(|p| &p.target.login == login)
            })
            .map(String::as_str)
            .collect();
        names.join(", ")
    }

    fn on_wrote(&mut self, result: WriteResult, now: DateTime<Utc>, out: &mut Vec<Action>) {
        self.writing = false;
        let once = self.settings.once;
        let margin = self.settings.refresh_margin;
        match result {
            WriteResult::Done { refused, text } => {
                self.last_written = Some(text);
                self.write_retry = None;
                self.write_error = None;
                self.removals.clear();
                let renewals: BTreeMap<LoginId, Option<DateTime<Utc>>> = self
                    .logins
                    .iter()
                    .map(|(id, l)| (id.clone(), self.session_renewal(l)))
                    .collect();
                let ended: BTreeSet<LoginId> = self
                    .logins
                    .iter()
                    .filter(|(_, l)| l.session().is_some_and(|s| l.rejected == Some(s.version)))
                    .map(|(id, _)| id.clone())
                    .collect();
                for p in self.profiles.values_mut() {
                    let Some(creds) = p.pending.take() else {
                        continue;
                    };
                    let section = p.target.section.clone();
                    if let Some((_, refusal)) = refused.iter().find(|(s, _)| *s == section) {
                        let outcome = Outcome::Conflict {
                            section,
                            refusal: refusal.clone(),
                        };
                        if p.outcome.as_ref() != Some(&outcome) && !once {
                            out.push(Action::Log(
                                Level::Warn,
                                format!(
                                    "{}: {}; trying again when the file changes",
                                    p.target.name(),
                                    outcome.message()
                                ),
                            ));
                        }
                        p.outcome = Some(outcome);
                        p.held = None;
                        p.due = None;
                        continue;
                    }
                    let expires = creds.expiration;
                    let due = match p.target.login.kind() {
                        LoginKind::Sso => Some(renewal_time(now, expires, margin, &mut self.rng)),
                        // Renewed with its session (see `decide_console`), unless that ended.
                        LoginKind::Console => renewals.get(&p.target.login).copied().flatten(),
                    };
                    if !once {
                        let next = match due {
                            Some(t) => format!("renewing at {}", format_local(t)),
                            None => "not renewed: its `aws login` session has ended".to_owned(),
                        };
                        out.push(Action::Log(
                            Level::Info,
                            format!(
                                "{}: wrote [{section}], valid until {}; {next}",
                                p.target.name(),
                                format_local(expires),
                            ),
                        ));
                    }
                    // Whichever login wrote the section last owns it for a logout.
                    for (id, l) in self.logins.iter_mut() {
                        if *id == p.target.login {
                            l.written
                                .insert(section.clone(), creds.access_key_id.clone());
                        } else {
                            l.written.remove(&section);
                        }
                    }
                    // A session Sign-In declared over keeps saying so while its last
                    // credentials are written: only the user can renew it.
                    let ended = ended.contains(&p.target.login)
                        && matches!(p.outcome, Some(Outcome::NeedsLogin { .. }));
                    if !ended {
                        p.outcome = Some(Outcome::Written { section, expires });
                    }
                    p.held = Some(creds);
                    p.due = due.filter(|_| p.target.login.kind() == LoginKind::Sso);
                }
            }
            WriteResult::Failed(message) => {
                // The credentials in hand stay pending: the write is tried again, not the calls.
                let retry = now + WRITE_RETRY;
                self.write_retry = Some(retry);
                let mut names = Vec::new();
                for p in self.profiles.values_mut().filter(|p| p.pending.is_some()) {
                    names.push(p.target.name().to_owned());
                    p.outcome = Some(Outcome::Failed {
                        detail: message.clone(),
                    });
                }
                if self.write_error.as_ref() != Some(&message) && !once {
                    out.push(Action::Log(
                        Level::Error,
                        format!(
                            "{}: {message}; trying again at {} and whenever the file changes",
                            names.join(", "),
                            format_local(retry)
                        ),
                    ));
                }
                self.write_error = Some(message);
            }
        }
    }

    fn on_credentials_file(&mut self, text: &str, now: DateTime<Utc>, out: &mut Vec<Action>) {
        if self.writing {
            return;
        }
        // Someone changed the file, perhaps fixing what made the last write fail, perhaps
        // freeing a section that was refused. A text equal to the last one written or read is
        // still checked below: a section can be broken in a file that has not changed since
        // (its renewal was in flight when the file was last read, and then failed).
        let changed = self.last_written.as_ref().map(Secret::expose) != Some(text);
        if changed {
            self.write_retry = None;
        }
        let with_region = self.settings.with_region;
        // All sections at once first: one pass over the file when all is well (the usual case).
        let all: Vec<credfile::Update<'_>> = self
            .profiles
            .values()
            .filter_map(|p| p.put_back(with_region))
            .collect();
        let broken: BTreeSet<String> = if credfile::apply(text, &all).text == text {
            BTreeSet::new()
        } else {
            self.profiles
                .iter()
                .filter(|(_, p)| {
                    p.put_back(with_region)
                        .is_some_and(|u| credfile::apply(text, &[u]).text != text)
                })
                .map(|(name, _)| name.clone())
                .collect()
        };
        let margin = self.settings.refresh_margin;
        let mut names = Vec::new();
        for (name, p) in self.profiles.iter_mut() {
            // A refused section is tried again whenever the file changes.
            if changed
                && !p.in_flight
                && p.pending.is_none()
                && matches!(p.outcome, Some(Outcome::Conflict { .. }))
            {
                p.due = Some(now);
            }
            let Some(held) = p.held.as_ref().filter(|_| broken.contains(name)) else {
                continue;
            };
            names.push(format!("[{}]", p.target.section));
            if held.expiration - margin > now {
                p.pending = Some(held.clone());
            } else {
                p.due = Some(now);
            }
        }
        if !names.is_empty() {
            out.push(Action::Log(
                Level::Info,
                format!(
                    "{} changed or dropped by another program; putting back",
                    names.join(", ")
                ),
            ));
        }
        self.last_written = Some(Secret::new(text));
    }

    /// Decides what to do now: calls to make, tokens to refresh, sections to write.
    ///
    /// Calls go out in batches: when one profile's renewal falls due, every profile due within
    /// [`gather_window`] is called with it, so that the jitter that spreads renewals over time
    /// does not split one batch into many writes. The write waits for the batch (see
    /// `Engine::write_held`) and takes every result in hand.
    pub fn decide(&mut self, now: DateTime<Utc>) -> Vec<Action> {
        let mut out = Vec::new();
        self.observe_clock(now, &mut out);
        let once = self.settings.once;
        let logins: Vec<LoginId> = self.logins.keys().cloned().collect();
        let callable: Vec<(LoginId, Token)> = logins
            .into_iter()
            .filter_map(|login| {
                if login.kind() == LoginKind::Console {
                    self.decide_console(&login, now, once, &mut out);
                    return None;
                }
                let token = self.decide_login(&login, now, once, &mut out)?;
                Some((login, token))
            })
            .collect();
        let callable_due = |p: &ProfileState, until: DateTime<Utc>| {
            !p.in_flight && p.pending.is_none() && p.due.is_some_and(|d| d <= until)
        };
        let any_due = callable.iter().any(|(login, _)| {
            self.profiles
                .values()
                .any(|p| &p.target.login == login && callable_due(p, now))
        });
        if any_due {
            let until = now + gather_window(self.settings.refresh_margin);
            for (login, token) in &callable {
                let v = version(token);
                for p in self
                    .profiles
                    .values_mut()
                    .filter(|p| &p.target.login == login && callable_due(p, until))
                {
                    p.in_flight = true;
                    out.push(Action::Log(
                        Level::Debug,
                        format!("{}: calling GetRoleCredentials", p.target.name()),
                    ));
                    out.push(Action::Fetch {
                        target: p.target.clone(),
                        token: token.clone(),
                        version: v,
                    });
                }
            }
        }
        if self.write_retry.is_none_or(|t| t <= now) && !self.write_held(now) {
            out.extend(self.write());
        }
        out
    }

    /// On the way out (SIGTERM): writes what is in hand at once, without waiting for the
    /// calls still out or for a failed write's retry time, and takes back the sections of
    /// `aws login` sessions: with nothing to renew them they would expire in place, and the
    /// AWS CLI, which reads them before the session itself, would fail on those profiles
    /// until someone edited the file. (Wait for [`Engine::sessions_refreshing`] first: a
    /// session's rotated refresh token must reach its file.)
    pub fn flush(&mut self) -> Vec<Action> {
        let mut out = Vec::new();
        if !self.settings.once {
            let mut sections = Vec::new();
            for (login, l) in self.logins.iter_mut() {
                if login.kind() != LoginKind::Console {
                    continue;
                }
                sections.extend(take_back(&mut l.written, &mut self.removals));
            }
            for p in self.profiles.values_mut() {
                if p.target.login.kind() == LoginKind::Console {
                    p.pending = None;
                    p.held = None;
                }
            }
            if !sections.is_empty() {
                out.push(Action::Log(
                    Level::Info,
                    format!(
                        "removing {} (from `aws login` sessions): nothing renews them once \
                         ssofresh stops, and the AWS CLI reads them before its own session",
                        sections.join(", ")
                    ),
                ));
            }
        }
        out.extend(self.write());
        out
    }

    /// True while an `aws login` session's refresh is out: its answer carries the rotated
    /// refresh token, which must be written to the session's file before the process ends.
    pub fn sessions_refreshing(&self) -> bool {
        self.logins
            .iter()
            .any(|(id, l)| id.kind() == LoginKind::Console && l.refresh.in_flight)
    }

    /// The sections holding credentials from `aws login` sessions, with when those end.
    /// `(profile, section, end)` in config order.
    pub fn session_sections(&self) -> Vec<(String, String, DateTime<Utc>)> {
        self.order
            .iter()
            .filter_map(|n| self.profiles.get(n))
            .filter(|p| p.target.login.kind() == LoginKind::Console)
            .filter_map(|p| {
                let end = p.held.as_ref()?.expiration;
                Some((p.target.name().to_owned(), p.target.section.clone(), end))
            })
            .collect()
    }

    /// When an `aws login` session is refreshed next: [`session_lead`] before its credentials
    /// end, or as set after ssofresh's own refresh; `None` when it is not refreshed any more.
    fn session_renewal(&self, l: &LoginState) -> Option<DateTime<Utc>> {
        let s = l.session()?;
        if l.rejected == Some(s.version) || l.refresh.refused == Some(s.version) {
            return None;
        }
        let lead = session_lead(self.settings.refresh_margin);
        let at = l.refresh.next_at.unwrap_or(s.credentials.expiration - lead);
        // After a failure, not before the retry.
        Some(at.max(l.refresh.not_before.unwrap_or(at)))
    }

    /// An `aws login` session: refreshes it through Sign-In when due, hands the credentials
    /// it holds to its profiles that need them (unless a refresh is out: its answer is written
    /// instead), and, once those credentials have ended with nothing to renew them, takes
    /// back its sections (the AWS CLI reads them before the session itself: expired keys
    /// there would break `aws --profile NAME`).
    fn decide_console(
        &mut self,
        login: &LoginId,
        now: DateTime<Utc>,
        once: bool,
        out: &mut Vec<Action>,
    ) {
        let Some(route_of) = self
            .order
            .iter()
            .filter_map(|n| self.profiles.get(n))
            .find(|p| &p.target.login == login)
            .map(|p| p.target.clone())
        else {
            return; // kept only to notice a logout
        };
        let names = self.names_of(login);
        let Some(l) = self.logins.get(login) else {
            return;
        };
        let Some(session) = l.session().cloned() else {
            if matches!(l.seen, Some(Seen::Unusable(_))) {
                self.take_back_unusable(login, &names, now, out);
            }
            return;
        };
        let v = session.version;
        let renew_at = self.session_renewal(l);
        let Some(l) = self.logins.get_mut(login) else {
            return;
        };
        if !l.refresh.in_flight
            && renew_at.is_some_and(|t| t <= now)
            && l.refresh.not_before.is_none_or(|t| t <= now)
        {
            l.refresh.in_flight = true;
            l.refresh.started = Some(now);
            out.push(Action::Log(
                Level::Debug,
                format!("{names}: refreshing {login} through AWS Sign-In"),
            ));
            out.push(Action::Refresh {
                login: login.clone(),
                version: v,
                route_of,
            });
        }
        // The write waits for the refresh's answer, but not for long: a slow Sign-In must not
        // keep usable credentials (a new login, another program's refresh) out of the file.
        // (`--once` waits for it: one write per pass.)
        let waiting = l.refresh.in_flight
            && (once || l.refresh.started.is_none_or(|t| now < t + WRITE_HOLD_MAX));
        if waiting {
            return;
        }
        let expires = session.credentials.expiration;
        if expires > now + MIN_RENEWAL_GAP {
            for p in self
                .profiles
                .values_mut()
                .filter(|p| &p.target.login == login)
            {
                if !p.in_flight && p.pending.is_none() && p.due.is_some_and(|d| d <= now) {
                    p.pending = Some(session.credentials.clone());
                    p.due = None;
                    self.waiting_since.get_or_insert(now);
                }
            }
            return;
        }
        if l.refresh.in_flight {
            return; // its answer decides
        }
        // The credentials in hand have ended (or do in a moment) and nothing renews them now.
        let sections = take_back(&mut l.written, &mut self.removals);
        let renewable = renew_at.is_some();
        let said = l.told_expired == Some(v);
        l.told_expired = Some(v);
        for p in self
            .profiles
            .values_mut()
            .filter(|p| &p.target.login == login)
        {
            p.held = None;
            p.pending = None;
            p.due = None;
        }
        if !sections.is_empty() && !once {
            out.push(Action::Log(
                Level::Info,
                format!(
                    "{names}: the credentials of {login} end at {}; removing {} now so that \
                     the AWS CLI does not read expired keys before its own session",
                    format_local(expires),
                    sections.join(", ")
                ),
            ));
        }
        if !renewable && !said {
            self.set_login_outcome(login, LoginProblem::Expired(expires), out);
            self.notify(login, v, NoticeEvent::Ended, expires, out);
        }
    }

    /// A session file that cannot be used (reported already): the sections written from it
    /// are taken back once the credentials ssofresh holds for them end, and at once where it
    /// holds none (written by an earlier run): nothing can renew them, and the AWS CLI reads
    /// them before the session itself.
    fn take_back_unusable(
        &mut self,
        login: &LoginId,
        names: &str,
        now: DateTime<Utc>,
        out: &mut Vec<Action>,
    ) {
        let mut live = BTreeSet::new();
        for p in self
            .profiles
            .values_mut()
            .filter(|p| &p.target.login == login)
        {
            if p.held
                .as_ref()
                .is_some_and(|c| c.expiration > now + MIN_RENEWAL_GAP)
            {
                live.insert(p.target.section.clone());
            } else {
                p.held = None;
                p.pending = None;
            }
        }
        let Some(l) = self.logins.get_mut(login) else {
            return;
        };
        let mut ended: BTreeMap<String, String> = l
            .written
            .iter()
            .filter(|(section, _)| !live.contains(*section))
            .map(|(s, k)| (s.clone(), k.clone()))
            .collect();
        l.written.retain(|section, _| live.contains(section));
        let sections = take_back(&mut ended, &mut self.removals);
        if !sections.is_empty() && !self.settings.once {
            out.push(Action::Log(
                Level::Info,
                format!(
                    "{names}: removing {}: {login} cannot be used and nothing renews them; the \
                     AWS CLI would read expired keys there before its own session",
                    sections.join(", ")
                ),
            ));
        }
    }

    /// What a refresh of an `aws login` session came to.
    fn on_renewed(
        &mut self,
        login: LoginId,
        from: u64,
        result: Refresh,
        now: DateTime<Utc>,
        out: &mut Vec<Action>,
    ) {
        let names = self.names_of(&login);
        let once = self.settings.once;
        let lead = session_lead(self.settings.refresh_margin);
        self.last_answer = Some(now);
        let Some(l) = self.logins.get_mut(&login) else {
            return;
        };
        l.refresh.in_flight = false;
        l.refresh.started = None;
        let current = l.session().map(|s| s.version);
        if current != Some(from) && !matches!(result, Refresh::Renewed(_)) {
            // For a session the file no longer holds (a new `aws login` landed meanwhile):
            // what Sign-In said of the old one says nothing of the new.
            out.push(Action::Log(
                Level::Debug,
                format!("{names}: the answer for a session no longer in the file dropped"),
            ));
            return;
        }
        let expires = l.session().map(|s| s.credentials.expiration);
        let usable = expires.is_some_and(|e| e > now + MIN_RENEWAL_GAP);
        let first = names.split(", ").next().unwrap_or_default().to_owned();
        // What follows a failed refresh, for the log: the daemon tries again at `retry`;
        // `--once` writes the credentials in hand while they last (when none are left, its
        // report says why, so nothing is logged).
        let then = |retry: DateTime<Utc>| match expires {
            _ if !once => Some(format!("trying again at {}", format_local(retry))),
            Some(at) if usable => Some(format!(
                "the credentials in hand last until {}",
                format_local(at)
            )),
            _ => None,
        };
        // What the profiles show when the refresh failed and no usable credentials are left.
        let failed = |detail: &str| Outcome::Failed {
            detail: format!("refreshing {login} failed ({detail})"),
        };
        let outcome = match &result {
            Refresh::Renewed(session) => {
                l.refresh = RefreshState {
                    // Never again within a minute, however short the new credentials.
                    next_at: Some(
                        (session.credentials.expiration - lead).max(now + MIN_REFRESH_GAP),
                    ),
                    ..RefreshState::default()
                };
                l.rejected = None;
                l.told_expired = None;
                out.push(Action::Log(
                    Level::Debug,
                    format!(
                        "{names}: refreshed {login}; its credentials are valid until {}",
                        format_local(session.credentials.expiration)
                    ),
                ));
                // Our own write: the next read of the file finds what is already known.
                l.seen = Some(Seen::Session(session.clone()));
                for p in self
                    .profiles
                    .values_mut()
                    .filter(|p| p.target.login == login)
                {
                    p.due = Some(now);
                }
                return;
            }
            // The shell reads the file again at once; should it still hold the same session,
            // it is not tried again straight away.
            Refresh::Changed => {
                l.refresh.not_before = Some(now + BACKOFF_BASE);
                // Its own schedule again (a clock stepped back may have moved it early).
                l.refresh.next_at = None;
                if once {
                    // One attempt per pass: if the file still holds this session, the pass
                    // ends with it as it is.
                    l.refresh.refused = Some(from);
                }
                return;
            }
            Refresh::Rejected(detail) => {
                l.rejected = Some(from);
                l.ended = Some(detail.clone());
                Outcome::NeedsLogin {
                    login: login.clone(),
                    command: login.login_command(&first),
                    why: LoginProblem::Ended(detail.clone()),
                }
            }
            Refresh::NotPermitted(detail) => {
                l.refresh.not_before = Some(now + NO_ACCESS_RETRY);
                Outcome::NoAccess {
                    detail: detail.clone(),
                }
            }
            Refresh::Transient(detail) => {
                l.refresh.failures += 1;
                let delay = backoff(l.refresh.failures, &mut self.rng);
                l.refresh.not_before = Some(now + delay);
                if let Some(next) = then(now + delay) {
                    out.push(Action::Log(
                        Level::Warn,
                        format!("{names}: refreshing {login} failed ({detail}); {next}"),
                    ));
                }
                Outcome::Unavailable {
                    detail: format!(
                        "AWS Sign-In could not refresh {login} ({detail}); run again in a few minutes"
                    ),
                }
            }
            Refresh::Failed(detail) => {
                l.refresh.not_before = Some(now + FAILED_RETRY);
                if let Some(next) = then(now + FAILED_RETRY) {
                    out.push(Action::Log(
                        Level::Warn,
                        format!("{names}: refreshing {login} failed ({detail}); {next}"),
                    ));
                }
                failed(detail)
            }
            Refresh::Done(_) => failed("internal error: an SSO token for an `aws login` session"),
        };
        if once {
            // One attempt per pass: the credentials in hand are written while they last.
            l.refresh.refused = Some(from);
        }
        let ended = matches!(result, Refresh::Rejected(_));
        if ended && !once {
            self.notify(
                &login,
                from,
                NoticeEvent::Ended,
                expires.unwrap_or(now),
                out,
            );
        }
        // Said (and shown) when only the user can help, or when nothing usable is left.
        if !(ended || matches!(result, Refresh::NotPermitted(_)) || !usable) {
            return;
        }
        if let Some(l) = self.logins.get_mut(&login) {
            l.told_expired = Some(from);
        }
        let mut changed = false;
        for p in self
            .profiles
            .values_mut()
            .filter(|p| p.target.login == login)
        {
            changed |= p.outcome.as_ref() != Some(&outcome);
            if !usable {
                p.due = None;
            }
            p.outcome = Some(outcome.clone());
        }
        // `--once` says a missing permission too when it still writes the credentials in hand
        // (that outcome then gives way to the write); its report says the rest.
        let not_permitted = matches!(result, Refresh::NotPermitted(_));
        if changed && (!once || (usable && not_permitted)) && (ended || not_permitted) {
            let until = match expires.filter(|_| usable) {
                Some(at) => format!("; the credentials in hand last until {}", format_local(at)),
                None => String::new(),
            };
            out.push(Action::Log(
                Level::Warn,
                format!("{names}: {}{until}", outcome.message()),
            ));
        }
    }

    /// One write of every result in hand and every section to take back, if any and if no
    /// write is under way.
    fn write(&mut self) -> Option<Action> {
        if self.writing {
            return None;
        }
        let puts: Vec<Put> = self
            .order
            .iter()
            .filter_map(|n| self.profiles.get(n))
            .filter_map(|p| {
                p.pending.as_ref().map(|c| Put {
                    section: p.target.section.clone(),
                    credentials: c.clone(),
                    region: if self.settings.with_region {
                        p.target.profile.region().map(str::to_owned)
                    } else {
                        None
                    },
                })
            })
            .collect();
        if puts.is_empty() && self.removals.is_empty() {
            return None;
        }
        self.writing = true;
        self.waiting_since = None;
        Some(Action::Write {
            puts,
            removals: self.removals.clone(),
        })
    }

    /// Refreshes the login's token when due and says what is wrong with it; returns the token
    /// when its profiles may be called now.
    fn decide_login(
        &mut self,
        login: &LoginId,
        now: DateTime<Utc>,
        once: bool,
        out: &mut Vec<Action>,
    ) -> Option<Token> {
        if !self.profiles.values().any(|p| &p.target.login == login) {
            return None; // kept only to notice a logout
        }
        let l = self.logins.get(login)?;
        let token = l.token().cloned()?;
        let v = version(&token);
        if l.rejected == Some(v) {
            return None;
        }
        // Refresh the token itself, ahead of the AWS CLI (under `--once` too: the same path).
        let refreshable = matches!(login, LoginId::Session(_))
            && token
                .refresh
                .as_ref()
                .is_some_and(|g| g.registration_expires_at > now)
            && l.refresh.refused != Some(v);
        if refreshable
            && !l.refresh.in_flight
            && now
                >= l.refresh
                    .next_at
                    .unwrap_or(token.expires_at - TOKEN_REFRESH_LEAD)
            && l.refresh.not_before.is_none_or(|t| t <= now)
            && let Some(route_of) = self
                .profiles
                .values()
                .find(|p| &p.target.login == login)
                .map(|p| p.target.clone())
        {
            if let Some(l) = self.logins.get_mut(login) {
                l.refresh.in_flight = true;
            }
            out.push(Action::Refresh {
                login: login.clone(),
                version: v,
                route_of,
            });
        }
        let l = self.logins.get_mut(login)?;
        if token.is_expired(now) {
            if !(refreshable || l.refresh.in_flight) {
                let said = l.told_expired == Some(v);
                l.told_expired = Some(v);
                for p in self
                    .profiles
                    .values_mut()
                    .filter(|p| &p.target.login == login)
                {
                    p.due = None;
                }
                if !said {
                    self.set_login_outcome(login, LoginProblem::Expired(token.expires_at), out);
                }
                self.notify(login, v, NoticeEvent::Ended, token.expires_at, out);
            }
            return None;
        }
        if !refreshable && token.expires_at - now <= self.notify_before {
            self.notify(login, v, NoticeEvent::Ending, token.expires_at, out);
        }
        let l = self.logins.get_mut(login)?;
        if !refreshable && l.told_end != Some(v) && !once {
            l.told_end = Some(v);
            let names = self.names_of(login);
            let why = match login {
                LoginId::Console(_) => "it cannot be refreshed",
                LoginId::StartUrl(_) => {
                    "legacy logins (sso_start_url in the profile) cannot be renewed without a browser"
                }
                LoginId::Session(_) => "it has no usable refresh token",
            };
            out.push(Action::Log(
                Level::Info,
                format!(
                    "{names}: the login for {login} ends at {} ({why}); then run `{}`",
                    format_local(token.expires_at),
                    login.login_command(names.split(", ").next().unwrap_or_default())
                ),
            ));
        }
        let l = self.logins.get(login)?;
        l.not_before.is_none_or(|t| t <= now).then_some(token)
    }

    /// The next time something may be due, if any: the shell sleeps until then (capped).
    pub fn next_wake(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut times: Vec<DateTime<Utc>> = self.write_retry.into_iter().collect();
        if !self.writing {
            times.extend(self.hold_ends());
        }
        for (login, l) in &self.logins {
            if l.not_yet_since.is_some() {
                times.push(now + NOT_YET_RETRY);
            }
            if login.kind() == LoginKind::Console {
                // When a write waiting for a refresh goes ahead without it; when credentials
                // held from a file that cannot be used end.
                times.extend(l.refresh.started.map(|t| t + WRITE_HOLD_MAX));
                times.extend(
                    self.profiles
                        .values()
                        .filter(|p| &p.target.login == login)
                        .filter_map(|p| Some(p.held.as_ref()?.expiration - MIN_RENEWAL_GAP)),
                );
            }
            if let Some(session) = l.session() {
                // Its refresh, the end of its credentials in hand, a retry, a profile to serve.
                times.extend(self.session_renewal(l));
                let expires = session.credentials.expiration;
                times.push(expires - MIN_RENEWAL_GAP);
                times.push(expires);
                times.extend(l.refresh.not_before);
                times.extend(
                    self.profiles
                        .values()
                        .filter(|p| &p.target.login == login)
                        .filter_map(|p| p.due),
                );
                continue;
            }
            let Some(token) = l.token() else { continue };
            times.push(token.expires_at);
            times.push(token.expires_at - self.notify_before);
            times.push(
                l.refresh
                    .next_at
                    .unwrap_or(token.expires_at - TOKEN_REFRESH_LEAD),
            );
            times.extend(l.refresh.not_before);
            times.extend(l.not_before);
            for p in self.profiles.values().filter(|p| &p.target.login == login) {
                times.extend(p.due);
            }
        }
        times.into_iter().filter(|t| *t > now).min()
    }
}

/// Moves every section in `written` (section → access key id written) to `removals`, to be
/// taken out of the file where they still hold that key; returns them as `[section]`.
fn take_back(written: &mut BTreeMap<String, String>, removals: &mut Vec<Removal>) -> Vec<String> {
    std::mem::take(written)
        .into_iter()
        .map(|(section, access_key_id)| {
            let shown = format!("[{section}]");
            removals.push(Removal {
                section,
                access_key_id,
            });
            shown
        })
        .collect()
}

/// How far ahead of its time a renewal is made when another falls due: the most jitter
/// [`renewal_time`] takes off, plus [`GATHER_SLACK`]. Renewals of one batch, spread by jitter
/// over that much time, are thus made (and written) together again.
pub fn gather_window(margin: TimeDelta) -> TimeDelta {
    jitter_cap(margin) + GATHER_SLACK
}

/// The most jitter taken off a renewal time: a tenth of the margin, at most [`MAX_JITTER`].
fn jitter_cap(margin: TimeDelta) -> TimeDelta {
    (margin / 10).clamp(TimeDelta::zero(), MAX_JITTER)
}

/// When credentials that expire at `expires` are renewed: `margin` before, less up to a tenth
/// of the margin (at most [`MAX_JITTER`]) so profiles spread out; halfway for credentials that
/// live less than the margin, and never sooner than [`MIN_RENEWAL_GAP`].
pub fn renewal_time(
    now: DateTime<Utc>,
    expires: DateTime<Utc>,
    margin: TimeDelta,
    rng: &mut fastrand::Rng,
) -> DateTime<Utc> {
    let jitter = TimeDelta::milliseconds(rng.i64(0..=jitter_cap(margin).num_milliseconds()));
    let at = expires - margin - jitter;
    if at > now + MIN_RENEWAL_GAP {
        at
    } else {
        now + ((expires - now) / 2).max(MIN_RENEWAL_GAP)
    }
}

/// When a token that ssofresh just got by refreshing is refreshed again:
/// [`TOKEN_REFRESH_LEAD`] before it expires, but for a token that lives less than twice that
/// (near the end of a session), halfway, and never within [`MIN_REFRESH_GAP`]: a short-lived
/// token never turns into a loop of refreshes.
pub fn next_refresh(now: DateTime<Utc>, expires: DateTime<Utc>) -> DateTime<Utc> {
    (expires - TOKEN_REFRESH_LEAD).max(now + ((expires - now) / 2).max(MIN_REFRESH_GAP))
}

/// The delay after the `failures`-th transient failure in a row: [`BACKOFF_BASE`] doubled
/// each time, at most [`BACKOFF_CAP`], plus up to a quarter more at random.
pub fn backoff(failures: u32, rng: &mut fastrand::Rng) -> TimeDelta {
    let exp = BACKOFF_BASE * (1i32 << failures.saturating_sub(1).min(10));
    let capped = exp.min(BACKOFF_CAP);
    capped + TimeDelta::milliseconds(rng.i64(0..=capped.num_milliseconds() / 4))
}

#[cfg(test)]
mod tests;

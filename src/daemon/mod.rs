//! The event loop: one task owns the [`Engine`]; the watcher's hints, the timer, signals and
//! finished calls arrive as events; the engine's actions go out as spawned calls, token
//! refreshes, writes and log lines.
//!
//! `--once` runs this same loop with no watcher and no signals, and stops as soon as every
//! selected profile has an outcome.
//!
//! Sleeps are capped at [`MAX_SLEEP`] and every wake re-reads the wall clock: tokio's timers
//! run on the monotonic clock, which stops while a laptop sleeps, so a long sleep would wake
//! late by the length of the suspend. Every wake also re-reads the token files (a few small
//! files), and every [`RESCAN`] the config and credentials files, as a safety net for lost
//! watcher events.

pub mod engine;
pub mod plan;
pub mod run;
pub mod watch;

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::{Semaphore, mpsc};
use tracing::{debug, error, info, warn};

use crate::files::config::{LoginId, LoginKind, Profiles};
use crate::files::fsio;
use crate::login::portal::Route;
use crate::login::signin;
use crate::secret::Secret;
use engine::{Action, Engine, Event, Level, Notice, Refresh, Settings, WriteResult};
use plan::ProfileView;
use run::{Fatal, Options, Report, TaskDone};
use watch::{Hint, Watched, Watcher};

/// The longest the loop sleeps before looking at the wall clock again: after a laptop wakes,
/// whatever fell due while it slept is acted on within this time.
pub const MAX_SLEEP: Duration = Duration::from_secs(10);

/// How often the config and credentials files are re-read even without a watcher event.
pub const RESCAN: Duration = Duration::from_secs(60);

/// How long watcher hints are gathered before acting on them: the AWS CLI truncates and then
/// writes a token file, and editors save in several steps.
pub const DEBOUNCE: Duration = Duration::from_millis(25);

/// The longest a stop waits for an `aws login` session's refresh that is out (an answer
/// takes well under a second; the attempt under way may take `--timeout`, at most
/// [`signin::MAX_ATTEMPT`], and no new one starts): within the service managers' stop
/// timeouts (20 s in the unit, launchd's default 20 s).
pub const STOP_PATIENCE: Duration = Duration::from_secs(15);

/// What the process is told from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGTERM or SIGINT: stop now.
    Stop,
    /// SIGHUP: re-read the config.
    Reload,
}

/// How the loop runs.
#[derive(Debug)]
pub enum Mode {
    /// One attempt per profile, then stop; SIGTERM or SIGINT (`signals`) ends it early, once
    /// an `aws login` session's refresh that is out has answered and been saved.
    Once {
        signals: Option<mpsc::Receiver<Signal>>,
    },
    /// Keep running until told to stop.
    Daemon {
        /// SIGTERM, SIGINT, SIGHUP as they arrive.
        signals: mpsc::Receiver<Signal>,
        /// Who is told what the daemon does.
        hooks: Box<dyn Hooks>,
    },
}

/// What the daemon publishes: each profile as `ssofresh status` shows it, and the sections
/// written per login (what a logout takes back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub profiles: Vec<ProfileView>,
    /// `(login, section, access key id)` for each section ssofresh wrote and still owns.
    pub written: Vec<(LoginId, String, String)>,
}

/// Everything the daemon tells beyond the credentials file (the state file, the service
/// manager, the user), carried out by the layer above ([`crate::service`]); the loop only
/// says when.
pub trait Hooks: std::fmt::Debug {
    /// Sections written by an earlier run and still owned: `(login, section, access key id)`.
    fn restore(&mut self) -> Vec<(LoginId, String, String)>;
    /// The config and the logins have been read (at start, and after a reload).
    fn ready(&mut self, now: &Published);
    /// What is published changed.
    fn changed(&mut self, now: &Published);
    /// A reload (SIGHUP) begins; [`Hooks::ready`] follows.
    fn reloading(&mut self);
    /// A login needs the user.
    fn notice(&mut self, notice: &Notice);
    /// The daemon is stopping.
    fn stopping(&mut self);
}

/// Runs the loop. Under `--once` it returns the report of the pass; as a daemon it returns
/// when told to stop, with the outcomes as they stand.
pub async fn run(options: &Options, mode: Mode) -> Result<Report, Fatal> {
    let once = matches!(mode, Mode::Once { .. });
    let paths = &options.paths;
    let settings = Settings {
        refresh_margin: chrono::TimeDelta::from_std(options.refresh_margin)
            .unwrap_or(chrono::TimeDelta::minutes(10)),
        selection: options.selection.clone(),
        with_region: options.with_region,
        once,
    };
    let mut engine = Engine::new(settings, fastrand::u64(..));
    engine.set_sso_endpoint(options.sso_endpoint.0.clone());
    engine.set_notify_before(
        chrono::TimeDelta::from_std(options.notify.before).unwrap_or(engine::NOTIFY_BEFORE),
    );
    let mut shell = Shell {
        options,
        engine,
        events: mpsc::unbounded_channel(),
        permits: HashMap::new(),
        tightened_from: None,
        once,
        said_no_profiles: false,
        hooks: None,
        published: None,
        unsaved: HashMap::new(),
        stopping: Arc::default(),
    };

    if let Mode::Once { signals } = mode {
        let mut signals = signals;
        let profiles = run::load_profiles(&paths.config, paths.config_named)?;
        if profiles.is_empty() && options.selection.selectors.is_empty() {
            return Ok(Report {
                no_sso_profiles: true,
                ..Report::default()
            });
        }
        shell.handle(Event::Config(Ok(profiles)))?;
        shell.scan_logins()?;
        loop {
            shell.step()?;
            if shell.engine.settled() {
                shell.retry_unsaved()?;
                return Ok(shell.report());
            }
            tokio::select! {
                done = shell.events.1.recv() => match done {
                    Some(done) => shell.task_done(done)?,
                    None => return Ok(shell.report()),
                },
                // SIGHUP too: a terminal gone away.
                Some(_) = next_signal(signals.as_mut()) => {
                    shell.finish_refreshes().await?;
                    shell.retry_unsaved()?;
                    for line in shell.lost_sessions() {
                        eprintln!("ssofresh: {line}");
                    }
                    return Err(Fatal::Interrupted);
                }
            }
        }
    }

    let Mode::Daemon { mut signals, hooks } = mode else {
        return Ok(shell.report());
    };
    let hooks = shell.hooks.insert(hooks);
    for (login, section, key) in hooks.restore() {
        shell.engine.restore_written(login, section, key);
    }
    let (hint_tx, mut hints) = mpsc::channel::<Hint>(64);
    let mut watcher = match Watcher::start(
        Watched {
            cache_dir: paths.sso_cache.clone(),
            login_cache_dir: paths.login_cache.clone(),
            config: paths.config.clone(),
            credentials: paths.credentials.clone(),
        },
        hint_tx,
    ) {
        Ok(w) => Some(w),
        Err(e) => {
            warn!("{e}");
            None
        }
    };
    info!(
        "watching {}, {} and {}; writing {}",
        paths.sso_cache.display(),
        paths.login_cache.display(),
        paths.config.display(),
        paths.credentials.display()
    );
    rearm(watcher.as_mut());
    shell.reload_config()?;
    shell.scan_logins()?;
    shell.check_credentials()?;
    shell.ready();
    let mut last_rescan = Instant::now();
    // Hints gathered while the debounce runs, and when it ends. The loop keeps serving
    // results and signals meanwhile.
    let mut gathered: Vec<Hint> = Vec::new();
    let mut debounce_until: Option<tokio::time::Instant> = None;
    loop {
        shell.step()?;
        shell.publish();
        let now = Utc::now();
        let sleep = shell
            .engine
            .next_wake(now)
            .and_then(|t| (t - now).to_std().ok())
            .unwrap_or(MAX_SLEEP)
            .min(MAX_SLEEP);
        tokio::select! {
            Some(done) = shell.events.1.recv() => {
                shell.task_done(done)?;
                while let Ok(done) = shell.events.1.try_recv() {
                    shell.task_done(done)?;
                }
            }
            Some(hint) = hints.recv() => {
                gathered.push(hint);
                debounce_until.get_or_insert_with(|| tokio::time::Instant::now() + DEBOUNCE);
            }
            () = sleep_until(debounce_until), if debounce_until.is_some() => {
                debounce_until = None;
                let seen = std::mem::take(&mut gathered);
                debug!(?seen, "watcher hints");
                rearm(watcher.as_mut());
                if seen.contains(&Hint::Config) {
                    shell.reload_config()?;
                }
                shell.scan_logins()?;
                if seen.contains(&Hint::Credentials) {
                    shell.check_credentials()?;
                }
            }
            signal = signals.recv() => match signal {
                Some(Signal::Reload) => {
                    info!("SIGHUP: reloading {}", paths.config.display());
                    if let Some(hooks) = shell.hooks.as_mut() {
                        hooks.reloading();
                    }
                    shell.reload_config()?;
                    shell.scan_logins()?;
                    shell.check_credentials()?;
                    shell.ready();
                }
                Some(Signal::Stop) | None => {
                    info!("stopping");
                    shell.finish_refreshes().await?;
                    shell.retry_unsaved()?;
                    for line in shell.lost_sessions() {
                        error!("{line}");
                    }
                    shell.flush()?;
                    if let Some(hooks) = shell.hooks.as_mut() {
                        hooks.stopping();
                    }
                    return Ok(shell.report());
                }
            },
            () = tokio::time::sleep(sleep) => {
                rearm(watcher.as_mut());
                if last_rescan.elapsed() >= RESCAN {
                    last_rescan = Instant::now();
                    shell.reload_config()?;
                    shell.check_credentials()?;
                }
                shell.retry_unsaved()?;
                shell.scan_logins()?;
            }
        }
    }
}

/// The next signal, if there is a receiver (never returns without one).
async fn next_signal(signals: Option<&mut mpsc::Receiver<Signal>>) -> Option<Signal> {
    match signals {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Sleeps until `deadline` (never returns without one; the `select!` guard keeps it unpolled).
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// What a failed write is reported as: always naming the credentials file and saying it was
/// left as it was, whatever step failed (a full disk fails on the temp file, gone by now).
fn write_failure(path: &Path, error: &Fatal) -> String {
    let message = error.to_string();
    let file = path.display().to_string();
    if message.contains(&file) {
        message
    } else {
        format!("{file} was left unchanged: {message}")
    }
}

/// Re-points the watches and logs any folder that could not be watched.
fn rearm(watcher: Option<&mut Watcher>) {
    if let Some(w) = watcher {
        for e in w.rearm() {
            warn!("{e}");
        }
    }
}

/// The loop's I/O around the engine.
struct Shell<'a> {
    options: &'a Options,
    engine: Engine,
    /// Where spawned calls and refreshes report back.
    events: (
        mpsc::UnboundedSender<TaskDone>,
        mpsc::UnboundedReceiver<TaskDone>,
    ),
    /// Calls in flight per route (region and CA bundle).
    permits: HashMap<Route, Arc<Semaphore>>,
    tightened_from: Option<u32>,
    once: bool,
    said_no_profiles: bool,
    /// The daemon's hooks (none under `--once`).
    hooks: Option<Box<dyn Hooks>>,
    /// What was last published, to publish only changes.
    published: Option<Published>,
    /// Refreshed sessions whose files could not be written: `(version refreshed, content)`.
    unsaved: HashMap<LoginId, (u64, Box<signin::Ready>)>,
    /// Set at a stop: a session's refresh that is out makes no new attempt.
    stopping: Arc<std::sync::atomic::AtomicBool>,
}

impl Shell<'_> {
    /// What the engine shows now.
    fn published(&self) -> Published {
        Published {
            profiles: self.engine.view(),
            written: self.engine.written(),
        }
    }

    /// Tells the hooks the daemon is ready, with what it shows now.
    fn ready(&mut self) {
        let now = self.published();
        if let Some(hooks) = self.hooks.as_mut() {
            hooks.ready(&now);
        }
        self.published = Some(now);
    }

    /// Tells the hooks what the engine shows, if it changed since last time.
    fn publish(&mut self) {
        if self.hooks.is_none() {
            return;
        }
        let now = self.published();
        if self.published.as_ref() == Some(&now) {
            return;
        }
        if let Some(hooks) = self.hooks.as_mut() {
            hooks.changed(&now);
        }
        self.published = Some(now);
    }

    /// Takes in what a task reports: a refreshed token file is written here, on the loop, so
    /// the engine learns of the new token before anything can read the file.
    fn task_done(&mut self, done: TaskDone) -> Result<(), Fatal> {
        match done {
            TaskDone::Event(event) => self.handle(event),
            TaskDone::Refresh {
                login,
                from,
                result,
            } => {
                let result = match result {
                    Ok(ready) => run::write_refreshed(&ready),
                    Err(refresh) => refresh,
                };
                self.handle(Event::Refreshed {
                    login,
                    from,
                    result,
                })
            }
            TaskDone::Renew {
                login,
                from,
                result,
            } => {
                let result = match result {
                    Ok(ready) => return self.save_renewed(login, from, ready),
                    Err(refresh) => refresh,
                };
                self.handle(Event::Refreshed {
                    login,
                    from,
                    result,
                })
            }
        }
    }

    /// Writes a refreshed session's file. When it cannot be written (a full disk, a folder
    /// gone read-only), the new content, the only copy of the rotated refresh token, is kept
    /// and written again on every wake, at the session's next refresh (instead of a call
    /// that would send the spent token) and at a stop.
    fn save_renewed(
        &mut self,
        login: LoginId,
        from: u64,
        ready: Box<signin::Ready>,
    ) -> Result<(), Fatal> {
        let result = match run::write_renewed(&ready) {
            Ok(result) => result,
            Err(e) => {
                let detail = if self.once {
                    e.to_string()
                } else {
                    format!(
                        "{e}; the refreshed session is kept in memory and written as soon as \
                         it can be (until then the AWS CLI's copy holds a spent refresh token)"
                    )
                };
                self.unsaved.insert(login.clone(), (from, ready));
                Refresh::Failed(detail)
            }
        };
        self.handle(Event::Refreshed {
            login,
            from,
            result,
        })
    }

    /// What is lost with the refreshed sessions still not written when the process ends: one
    /// line each, naming the file and what to do.
    fn lost_sessions(&self) -> Vec<String> {
        self.unsaved
            .iter()
            .map(|(login, (_, ready))| {
                format!(
                    "the refreshed {login} could not be saved to {}, which now holds a spent \
                     refresh token: make the file writable, then run `aws login`",
                    ready.path.display()
                )
            })
            .collect()
    }

    /// Tries again to write the refreshed sessions whose files could not be written.
    fn retry_unsaved(&mut self) -> Result<(), Fatal> {
        for (login, (from, ready)) in std::mem::take(&mut self.unsaved) {
            match run::write_renewed(&ready) {
                Ok(result) => self.handle(Event::Refreshed {
                    login,
                    from,
                    result,
                })?,
                Err(_) => {
                    self.unsaved.insert(login, (from, ready));
                }
            }
        }
        Ok(())
    }

    /// `--refresh-margin`, as the engine takes it.
    fn engine_margin(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::from_std(self.options.refresh_margin)
            .unwrap_or(chrono::TimeDelta::minutes(10))
    }

    /// Hands an event to the engine and carries out what it says at once.
    fn handle(&mut self, event: Event) -> Result<(), Fatal> {
        let refreshed = matches!(event, Event::Refreshed { .. });
        let actions = self.engine.handle(event, Utc::now());
        self.execute(actions)?;
        if refreshed {
            // Another program may have refreshed the token first: take its file now.
            self.scan_logins()?;
        }
        Ok(())
    }

    /// Asks the engine what is due and does it.
    fn step(&mut self) -> Result<(), Fatal> {
        let actions = self.engine.decide(Utc::now());
        self.execute(actions)
    }

    /// Before stopping, lets the `aws login` sessions' refreshes that are out end (for at
    /// most [`STOP_PATIENCE`]) and writes their files: Sign-In rotates the refresh token with
    /// every answer, and a file left with the spent one would sign the user out. (An SSO
    /// token's refresh that is out is dropped: the token in the file stays valid.)
    async fn finish_refreshes(&mut self) -> Result<(), Fatal> {
        // The attempt under way, to its end (its guard adds 1 s, a refused token's re-reads
        // 0.8 s); no new attempt starts.
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if !self.engine.sessions_refreshing() {
            return Ok(());
        }
        let attempt = self.options.policy.timeout.min(signin::MAX_ATTEMPT);
        let patience = (attempt + Duration::from_secs(3)).min(STOP_PATIENCE);
        if self.once {
            eprintln!(
                "ssofresh: waiting up to {} s for AWS Sign-In's answer, to save the refreshed session",
                patience.as_secs()
            );
        }
        let deadline = tokio::time::Instant::now() + patience;
        while self.engine.sessions_refreshing() {
            match tokio::time::timeout_at(deadline, self.events.1.recv()).await {
                Ok(Some(done)) => self.task_done(done)?,
                Ok(None) | Err(_) => {
                    error!(
                        "AWS Sign-In did not answer within {} s; if it refreshed the session \
                         meanwhile, its file keeps a spent refresh token and `aws login` is \
                         needed again",
                        patience.as_secs()
                    );
                    break;
                }
            }
        }
        Ok(())
    }

    /// Writes the results in hand before stopping, rather than drop them.
    fn flush(&mut self) -> Result<(), Fatal> {
        let actions = self.engine.flush();
        self.execute(actions)
    }

    /// What a write came to, for the engine; returns what the engine does next. Under
    /// `--once` a failed write ends the pass.
    fn wrote(&mut self, result: Result<run::Wrote, Fatal>) -> Result<Vec<Action>, Fatal> {
        let path = &self.options.paths.credentials;
        let result = match result {
            Ok(wrote) => {
                if let Some(mode) = wrote.tightened_from {
                    self.tightened_from = Some(mode);
                    if !self.once {
                        warn!(
                            "{} was readable by others (mode {mode:03o}); it is now private (0600)",
                            path.display()
                        );
                    }
                }
                WriteResult::Done {
                    refused: wrote.refused,
                    text: wrote.text,
                }
            }
            Err(e) if self.once => return Err(e),
            Err(e) => WriteResult::Failed(write_failure(path, &e)),
        };
        Ok(self.engine.handle(Event::Wrote(result), Utc::now()))
    }

    fn execute(&mut self, actions: Vec<Action>) -> Result<(), Fatal> {
        let mut queue: VecDeque<Action> = actions.into();
        let mut fetches = Vec::new();
        while let Some(action) = queue.pop_front() {
            match action {
                Action::Notify(notice) => {
                    if let Some(hooks) = self.hooks.as_mut() {
                        hooks.notice(&notice);
                    }
                }
                Action::Log(level, line) => match level {
                    Level::Debug => debug!("{line}"),
                    Level::Info => info!("{line}"),
                    Level::Warn => warn!("{line}"),
                    Level::Error => error!("{line}"),
                },
                Action::Fetch {
                    target,
                    token,
                    version,
                } => fetches.push((target, token, version)),
                Action::Refresh { login, .. }
                    if login.kind() == LoginKind::Console && self.unsaved.contains_key(&login) =>
                {
                    // Its refresh token is spent: write what Sign-In answered, not call again.
                    if let Some((from, ready)) = self.unsaved.remove(&login) {
                        self.save_renewed(login, from, ready)?;
                    }
                }
                Action::Refresh {
                    login,
                    version,
                    route_of,
                } if login.kind() == LoginKind::Console => run::spawn_renew(
                    &self.options.paths.login_cache,
                    login,
                    version,
                    &route_of,
                    engine::session_lead(self.engine_margin()),
                    &self.options.signin_endpoint,
                    self.options.policy,
                    &self.stopping,
                    &self.events.0,
                ),
                Action::Refresh {
                    login,
                    version,
                    route_of,
                } => {
                    if self.once {
                        debug!("{}: refreshing the token of {login}", route_of.name());
                    } else {
                        info!("{}: refreshing the token of {login}", route_of.name());
                    }
                    run::spawn_refresh(
                        &self.options.paths.sso_cache,
                        login,
                        version,
                        run::route_of(&route_of),
                        &self.options.oidc_endpoint,
                        self.options.policy,
                        &self.events.0,
                    );
                }
                // On the loop: the engine learns what was written before anything else
                // happens (a logout meanwhile must find the sections it takes back).
                Action::Write { puts, removals } => {
                    let result =
                        run::write_credentials(&self.options.paths.credentials, &puts, &removals);
                    queue.extend(self.wrote(result)?);
                }
            }
        }
        run::spawn_fetches(
            fetches,
            &self.options.sso_endpoint,
            self.options.policy,
            &mut self.permits,
            &self.events.0,
        );
        Ok(())
    }

    /// Re-reads the config. Under `--once` a broken config is fatal; the daemon says so and
    /// keeps the profiles it has.
    fn reload_config(&mut self) -> Result<(), Fatal> {
        let paths = &self.options.paths;
        let result = match run::load_profiles(&paths.config, paths.config_named) {
            Ok(p) => Ok(p),
            Err(e) if self.once => return Err(e),
            Err(e) => Err(e.to_string()),
        };
        let empty = result.as_ref().is_ok_and(Profiles::is_empty);
        if empty && !self.said_no_profiles {
            info!(
                "no SSO or `aws login` profile in {} yet; waiting for one (`aws configure sso` \
                 or `aws login` sets one up)",
                paths.config.display()
            );
        }
        self.said_no_profiles = empty;
        self.handle(Event::Config(result))
    }

    /// Reads every login's token file and tells the engine what each holds.
    fn scan_logins(&mut self) -> Result<(), Fatal> {
        for login in self.engine.logins() {
            let seen = run::read_login(&self.options.paths, &login);
            self.handle(Event::Login { login, seen })?;
        }
        Ok(())
    }

    /// Reads the credentials file so that sections another program dropped are put back.
    fn check_credentials(&mut self) -> Result<(), Fatal> {
        let path = &self.options.paths.credentials;
        match fsio::read_text(path) {
            Ok(text) => self.handle(Event::CredentialsFile(Secret::new(
                text.unwrap_or_default(),
            ))),
            Err(e) => {
                debug!("{e}");
                Ok(())
            }
        }
    }

    fn report(&self) -> Report {
        Report {
            outcomes: self.engine.outcomes(),
            no_sso_profiles: false,
            tightened_from: self.tightened_from,
            lost_sessions: self.lost_sessions(),
            sessions_left: self.engine.session_sections(),
        }
    }
}

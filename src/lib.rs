//! ssofresh keeps `~/.aws/credentials` fresh from AWS IAM Identity Center (SSO) logins and
//! `aws login` console sessions.
//!
//! # Layout
//! One event loop owns the state: watcher hints, the timer, signals and finished calls arrive
//! as one [`daemon::engine::Event`] enum; a pure engine decides, given the state and the wall-clock
//! time, and the loop carries out its [`daemon::engine::Action`]s. `--once` is the same loop, stopped
//! when every profile has an outcome. Decisions are pure functions; I/O stays in thin shells.
//!
//! Folders group the modules by role; a module imports only from its own folder and the ones
//! listed below it, never from one above.
//! - [`app`]: the program as run from the command line: options, instance lock, signals, report.
//! - [`cli`]: the command line (subcommands and options), parsed raw and resolved into
//!   validated values.
//! - [`service`]: ssofresh as a service of the system.
//!   - [`service::install`]: `install` and `uninstall`: the systemd unit or launchd agent.
//!   - [`service::status`]: `status`: what the daemon is doing, per profile, or what the
//!     files say without one.
//!   - [`service::state`]: the state file the daemon publishes (its view, and the sections it
//!     wrote per login, loaded again at start).
//!   - [`service::hooks`]: the daemon's [`daemon::Hooks`]: the state file, systemd, notices.
//!   - [`service::sdnotify`]: `READY=1`, `STATUS=`, `RELOADING=1`, `STOPPING=1` for systemd.
//!   - [`service::notify`]: a login needed: the desktop notification, the `--on-login-needed`
//!     command.
//! - [`daemon`]: the event loop: events in, actions out, capped sleeps on the wall clock; what
//!   it publishes goes out through [`daemon::Hooks`], implemented above it.
//!   - [`daemon::engine`]: the pure decisions over both kinds of login: schedules, backoff,
//!     refresh, logout, put-back, taking `aws login` sections back, one write per pass.
//!   - [`daemon::run`](mod@daemon::run): the loop's I/O: token and session files read, calls
//!     and refreshes spawned, a renewed session's file written back, the credentials write.
//!   - [`daemon::plan`]: which profiles go to which section, usable tokens, outcomes, messages.
//!   - [`daemon::watch`]: the file watcher: events on the SSO and `aws login` caches, config
//!     and credentials.
//! - [`login`]: the two kinds of login (an SSO token, an `aws login` session) and the services
//!   that renew them.
//!   - [`login::token`]: the SSO token cache: file names, parsing, every `expiresAt` form, the
//!     file's content after a refresh.
//!   - [`login::oidc`]: CreateToken through aws-sdk-ssooidc: one refresh of a login, its errors.
//!   - [`login::portal`]: GetRoleCredentials through aws-sdk-sso: timeouts, proxies, CAs,
//!     error classes, retries.
//!   - [`login::console`]: the `aws login` cache (`~/.aws/login/cache`): SHA-256 file names,
//!     the session's fields, the file's content after a refresh, written only over the token used.
//!   - [`login::dpop`]: DPoP proofs (RFC 9449, ES256 with aws-lc-rs) from the session's key.
//!   - [`login::signin`]: CreateOAuth2Token through aws-sdk-signin: one refresh, a proof per
//!     attempt, error classes, and one renewal of a session file.
//! - [`files`]: the files themselves, knowing nothing of logins.
//!   - [`files::paths`]: the only module that knows where files are (HOME, `AWS_CONFIG_FILE`, …).
//!   - [`files::config`]: profiles from `~/.aws/config`, read as botocore does.
//!   - [`files::ini`]: a line-level reader of AWS's INI dialect, faithful to botocore's `configparser`.
//!   - [`files::credfile`]: the credentials editor, a pure function from (old text, changes) to new text.
//!   - [`files::fsio`]: the one place that writes files: temp file, fsync, rename (an exchange,
//!     verified, where the platform has one), 0600, symlinks followed.
//!   - [`files::scratch`]: the temp files a crash cannot strand (`O_TMPFILE`), and the sweep of
//!     those dead ssofresh processes left.
//!   - [`files::guard`]: reading a file other programs write: settled, and not cut short.
//! - [`secret`]: the `Secret` type whose `Debug`/`Display` redact tokens and keys.
//! - [`time`]: how a point in time is written: UTC in files, local time in messages.
//! - [`logging`]: the tracing subscriber, with other crates capped below TRACE.

pub mod app;
pub mod cli;
pub mod daemon;
pub mod files;
pub mod logging;
pub mod login;
pub mod secret;
pub mod service;
pub mod time;

//! ssofresh keeps `~/.aws/credentials` fresh from AWS IAM Identity Center (SSO) logins.
//!
//! # Layout
//! One event loop owns the state: watcher hints, the timer, signals and finished calls arrive
//! as one [`engine::Event`] enum; a pure engine decides, given the state and the wall-clock
//! time, and the loop carries out its [`engine::Action`]s. `--once` is the same loop, stopped
//! when every profile has an outcome. Decisions are pure functions; I/O stays in thin shells.
//! - [`cli`]: the command line, parsed raw and resolved into validated values.
//! - [`app`]: the program as run from the command line: options, instance lock, signals, report.
//! - [`daemon`]: the event loop: events in, actions out, capped sleeps on the wall clock.
//! - [`engine`]: the pure decisions of the daemon: schedules, backoff, refresh, logout, put-back.
//! - [`run`]: the loop's I/O: token files read, calls and refreshes spawned, the one write.
//! - [`plan`]: which profiles go to which section, usable tokens, outcomes and their messages.
//! - [`paths`]: the only module that knows where files are (HOME, `AWS_CONFIG_FILE`, …).
//! - [`config`]: SSO profiles from `~/.aws/config` (legacy and `sso_session` forms), read as botocore does.
//! - [`ini`]: a line-level reader of AWS's INI dialect, faithful to botocore's `configparser`.
//! - [`token`]: the SSO token cache: file names, token parsing, every `expiresAt` form, the
//!   file's content after a refresh.
//! - [`portal`]: GetRoleCredentials through aws-sdk-sso: timeouts, proxies, CAs, error classes, retries.
//! - [`oidc`]: CreateToken through aws-sdk-ssooidc: one refresh of a login, its error classes.
//! - [`credfile`]: the credentials editor, a pure function from (old text, changes) to new text.
//! - [`watch`]: the file watcher: events on the token cache, config and credentials as hints.
//! - [`fsio`]: the one place that writes files: temp file, fsync, rename, 0600, symlinks followed.
//! - [`secret`]: the `Secret` type whose `Debug`/`Display` redact tokens and keys.
//! - [`logging`]: the tracing subscriber, with other crates capped below TRACE.

pub mod app;
pub mod cli;
pub mod config;
pub mod credfile;
pub mod daemon;
pub mod engine;
pub mod fsio;
pub mod ini;
pub mod logging;
pub mod oidc;
pub mod paths;
pub mod plan;
pub mod portal;
pub mod run;
pub mod secret;
pub mod token;
pub mod watch;

//! The integration tests, in one binary (one link, one build of the harness).
//!
//! - [`common`]: the harness: temporary HOME, the real binary, the local portal, real readers.
//! - [`daemon`]: `ssofresh` as a daemon: logins landing, renewal, token refresh, faults,
//!   logout, other writers, signals, one instance per credentials file.
//! - [`crash`]: SIGKILL at random moments of `--once` and of a token refresh: files whole,
//!   no temp file after the next start.
//! - [`cowriters`]: four kinds of other programs writing the credentials file while the
//!   daemon renews: the file always parses, their last write is there, lost updates counted.
//! - [`write_failures`]: a full disk (file-size limit), a read-only folder, a file of another
//!   user: the credentials file named and left unchanged, no temp file, the daemon keeps going.
//! - [`once`]: `ssofresh --once` as users run it, judged by botocore and the JavaScript SDK v2.
//! - [`network`]: HTTPS with a private CA, and proxies, through the real binary.
//! - [`oidc_selftest`]: one token refresh through `ssofresh::login::oidc` against the local SSO OIDC,
//!   the token file rewritten with `ssofresh::login::token` and judged by botocore.
//! - [`signin_selftest`]: `aws login` refreshes through `ssofresh::login::signin` against the
//!   local Sign-In (every DPoP proof checked), the session file rewritten, botocore carrying on.
//! - [`botocore_config`]: our config reader agrees with botocore on real-world config files.
//! - [`editor_botocore`]: botocore judges the credentials editor's writes and removals.
//! - [`service`]: `ssofresh status`, the `--on-login-needed` command, systemd's notify
//!   socket, the pid file, the written-sections record across a restart, `--once` refreshing.
//! - [`service_files`]: the systemd unit and the launchd agent are valid and match the README.
//! - [`cli`]: `--help`, `--version`, completions and the man page.
//! - [`install`]: `ssofresh install` / `uninstall` with recording `systemctl` stand-ins.
//! - [`login`]: `aws login` sessions through the real binary: `--once`, the daemon (logins,
//!   refreshes through Sign-In, logout, session end, stop and crash, races with botocore's own
//!   refresh), `status`, secrets; botocore and the JavaScript SDK v2 judge.
//! - [`portal_selftest`], [`readers_selftest`], [`harness_selftest`]: the harness is faithful.

mod botocore_config;
mod cli;
mod common;
mod cowriters;
mod crash;
mod daemon;
mod editor_botocore;
mod faults;
mod harness_selftest;
mod install;
mod login;
mod network;
mod oidc_selftest;
mod once;
mod portal_selftest;
mod props;
mod readers_selftest;
mod secrets_echoed;
mod service;
mod service_files;
mod signin_selftest;
mod write_failures;

//! The integration tests, in one binary (one link, one build of the harness).
//!
//! - [`common`]: the harness: temporary HOME, the real binary, the local portal, real readers.
//! - [`daemon`]: `ssofresh` as a daemon: logins landing, renewal, token refresh, faults,
//!   logout, other writers, signals, one instance per credentials file.
//! - [`once`]: `ssofresh --once` as users run it, judged by botocore and the JavaScript SDK v2.
//! - [`network`]: HTTPS with a private CA, and proxies, through the real binary.
//! - [`oidc_selftest`]: one token refresh through `ssofresh::login::oidc` against the local SSO OIDC,
//!   the token file rewritten with `ssofresh::login::token` and judged by botocore.
//! - [`signin_selftest`]: `aws login` refreshes through `ssofresh::login::signin` against the
//!   local Sign-In (every DPoP proof checked), the session file rewritten, botocore carrying on.
//! - [`botocore_config`]: our config reader agrees with botocore on real-world config files.
//! - [`editor_botocore`]: botocore judges the credentials editor's writes and removals.
//! - [`service_files`]: the systemd unit and the launchd agent are valid and match the README.
//! - [`portal_selftest`], [`readers_selftest`], [`harness_selftest`]: the harness is faithful.

mod botocore_config;
mod common;
mod daemon;
mod editor_botocore;
mod harness_selftest;
mod network;
mod oidc_selftest;
mod once;
mod portal_selftest;
mod readers_selftest;
mod secrets_echoed;
mod service_files;
mod signin_selftest;

//! ssofresh keeps `~/.aws/credentials` fresh from AWS IAM Identity Center (SSO) logins.
//!
//! # Layout
//! - [`secret`]: the `Secret` type whose `Debug`/`Display` redact tokens and keys.
//! - [`ini`]: a line-level reader of AWS's INI dialect, faithful to botocore's `configparser`.
//! - [`config`]: SSO profiles from `~/.aws/config` (legacy and `sso_session` forms).
//! - [`token`]: the SSO token cache: file names, token parsing, every `expiresAt` form.
pub mod config;
pub mod credfile;
pub mod fsio;
pub mod ini;
pub mod secret;
pub mod token;

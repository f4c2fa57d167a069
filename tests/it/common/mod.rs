//! The harness shared by every integration test.
//!
//! # Layout
//! - [`home`]: [`TestHome`], a temporary HOME with `.aws/config`, `.aws/credentials` and SSO
//!   token cache helpers.
//! - [`run`]: [`ssofresh`] builds a command for the real binary with a cleared environment
//!   pointed at a [`Portal`]; [`run`] runs it with a hard timeout.
//! - [`portal`]: [`Portal`], a local stand-in for the SSO portal and SSO OIDC that speaks the
//!   real wire protocol and records every request.
//! - [`signin`]: the AWS Sign-In side of the [`Portal`] (CreateOAuth2Token, every DPoP proof
//!   checked) and `aws login` session files as the CLI writes them.
//! - [`tls`]: a throw-away CA ([`TestPki`]), a TLS terminator in front of the portal
//!   ([`TlsFront`]) and a forward proxy that records what it carries ([`ConnectProxy`]).
//! - [`readers`]: real clients (botocore, the JavaScript SDK v2) that judge a credentials file,
//!   and botocore judging an SSO token cache file.
//! - [`daemon`]: [`Daemon`], the binary running as a daemon: its log as it comes, signals,
//!   waits that fail with the log, and no process left behind.
//! - [`renames`]: [`Replacements`], how often a file is replaced on disk, as inotify sees it.
//!
//! Each test binary uses only part of this module, hence the `dead_code` allowance.
//! The benches (`benches/*.rs`) and `examples/demo.rs` include these files by path too.
#![allow(dead_code, unused_imports)]

pub mod daemon;
pub mod home;
pub mod portal;
pub mod readers;
pub mod renames;
pub mod run;
pub mod signin;
pub mod tls;

pub use daemon::Daemon;
pub use home::{TestHome, cache_file_name, token_json};
pub use portal::{Portal, Recorded, Reply};
pub use readers::{
    botocore_login, botocore_raw, botocore_raw_each, botocore_raw_pairs, botocore_read,
    botocore_sso_token, js_v2_read,
};
pub use renames::Replacements;
pub use run::{Outcome, run, run_with_timeout, ssofresh};
pub use tls::{ConnectProxy, ProxyRequest, TestPki, TlsFront};

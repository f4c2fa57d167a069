//! The kinds of login and the services that renew them:
//! - the IAM Identity Center (SSO) token ([`token`]), renewed through OIDC ([`oidc`]) and
//!   turned into role credentials per profile by the portal ([`portal`]);
//! - the `aws login` console session ([`console`]), renewed through AWS Sign-In
//!   ([`signin`]) with a DPoP proof ([`dpop`]); Sign-In hands out the credentials itself.
//!
//! The daemon's engine ([`crate::daemon::engine`]) decides over both kinds alike (what is
//! due, what to call, what to write, what to tell the user), and they differ only where the
//! services do. An SSO login is a token refreshed through OIDC ahead of the AWS CLI, and each
//! of its profiles gets role credentials of its own from a portal call. An `aws login`
//! session is refreshed as a whole, a few minutes before its 15-minute credentials end, and
//! its profiles take the session's credentials with no call of their own; since the AWS CLI
//! reads a section in `~/.aws/credentials` before the session, the engine takes its sections
//! back whenever nothing will renew them (the daemon stops, the session ends or is dropped).

pub mod console;
pub mod dpop;
pub mod oidc;
pub mod portal;
pub mod signin;
pub mod token;

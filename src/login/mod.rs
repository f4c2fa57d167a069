//! The kinds of login and the services that renew them:
//! - the IAM Identity Center (SSO) token ([`token`]), renewed through OIDC ([`oidc`]) and
//!   turned into role credentials per profile by the portal ([`portal`]);
//! - the `aws login` console session ([`console`]), renewed through AWS Sign-In
//!   ([`signin`]) with a DPoP proof ([`dpop`]); Sign-In hands out the credentials itself. The
//!   daemon does not serve these yet: the pieces are here, tested against a Sign-In stand-in.

pub mod console;
pub mod dpop;
pub mod oidc;
pub mod portal;
pub mod signin;
pub mod token;

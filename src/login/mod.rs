//! The kinds of login and the services that renew them. Today one kind: the IAM Identity Center
//! (SSO) token, renewed through OIDC and turned into role credentials by the portal.

pub mod oidc;
pub mod portal;
pub mod token;

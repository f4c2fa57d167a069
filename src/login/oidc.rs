//! SSO OIDC: `CreateToken` with a refresh token through aws-sdk-ssooidc, with its failures
//! classified. This renews a login's access token without a browser.
//!
//! The clients go through the same HTTP client as the portal's ([`crate::login::portal`]): the same
//! proxies, the same trusted CAs (`AWS_CA_BUNDLE` or the profile's `ca_bundle` included), the
//! same timeouts. `AWS_ENDPOINT_URL_SSO_OIDC` (or `AWS_ENDPOINT_URL`) points them elsewhere, as
//! in every SDK; tests point them at a local stand-in.
//!
//! [`Oidc::create_token`] makes exactly one call: SDK retries are off and there are none of
//! ours, because the caller (the scheduler) decides when to try again, from the class of the
//! [`RefreshError`]. Nothing secret (access token, refresh token, client secret) reaches an
//! error: the service's `error_description` may be shown, with any of the request's secrets
//! blanked out of it should they ever appear there.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_ssooidc::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ssooidc::operation::create_token::CreateTokenError;
use chrono::{DateTime, TimeDelta, Timelike, Utc};

use crate::login::portal::{CallError, CallPolicy, Endpoint, Route, client_for};
use crate::login::token::RefreshGrant;
use crate::secret::{Secret, scrub};
use crate::time::format_time;

/// A renewed login, as `CreateToken` returned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// The new bearer token for the portal.
    pub access_token: Secret,
    /// When it stops working: the time of the call plus `expiresIn`, in whole seconds (as
    /// the token file will say it).
    pub expires_at: DateTime<Utc>,
    /// The rotated refresh token, when the service sent one; otherwise the old one stays.
    pub refresh_token: Option<Secret>,
}

/// Why a `CreateToken` call failed, in the classes that drive what happens next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    /// `InvalidGrantException`, `ExpiredTokenException`, `AccessDeniedException`: the refresh
    /// token is no longer accepted (used up, revoked, the session ended); only a new
    /// `aws sso login` helps.
    #[error(
        "SSO OIDC no longer accepts the refresh token ({detail}); a new `aws sso login` is needed"
    )]
    InvalidGrant { detail: String },
    /// 401 `InvalidClientException`, `UnauthorizedClientException`: the client registration
    /// stored with the login is no good (expired, deleted); a new `aws sso login` registers
    /// a new one.
    #[error(
        "SSO OIDC rejected the login's client registration ({detail}); a new `aws sso login` is needed"
    )]
    InvalidClient { detail: String },
    /// 429, `SlowDownException`: the service asks for fewer calls; worth another try later.
    #[error("SSO OIDC is throttling token refreshes ({detail})")]
    Throttled { detail: String },
    /// 5xx, timeouts, connection errors: worth another try later.
    #[error("SSO OIDC could not be reached or failed ({detail})")]
    Transient { detail: String },
    /// Anything else (a malformed request or answer, a certificate that is not trusted, a
    /// host that does not exist): retrying will not help.
    #[error("the token refresh through SSO OIDC failed ({detail})")]
    Failed { detail: String },
}

impl RefreshError {
    /// True for failures that another attempt may cure.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            RefreshError::Transient { .. } | RefreshError::Throttled { .. }
        )
    }

    /// True for failures after which only a new `aws sso login` helps.
    pub fn needs_login(&self) -> bool {
        matches!(
            self,
            RefreshError::InvalidGrant { .. } | RefreshError::InvalidClient { .. }
        )
    }
}

/// Classifies a `CreateToken` answer from its HTTP status, its error code (as the SDK
/// sanitised it from `x-amzn-ErrorType`, e.g. `InvalidGrantException`) and its
/// `error_description`. The code decides when there is one; the status otherwise.
pub fn classify(
    status: Option<u16>,
    code: Option<&str>,
    description: Option<&str>,
) -> RefreshError {
    let description = description.map(str::trim).filter(|d| !d.is_empty());
    let detail = {
        let head = match (status, code) {
            (Some(s), Some(c)) => format!("HTTP {s} {c}"),
            (None, Some(c)) => c.to_owned(),
            (Some(s), None) => format!("HTTP {s}"),
            (None, None) => "no status".to_owned(),
        };
        match description {
            Some(d) => format!("{head}: {d}"),
            None => head,
        }
    };
    match (code, status) {
        (Some("InvalidGrantException" | "ExpiredTokenException" | "AccessDeniedException"), _) => {
            RefreshError::InvalidGrant { detail }
        }
        (Some("InvalidClientException" | "UnauthorizedClientException"), _) | (None, Some(401)) => {
            RefreshError::InvalidClient { detail }
        }
        (Some("SlowDownException" | "ThrottlingException" | "TooManyRequestsException"), _)
        | (_, Some(429)) => RefreshError::Throttled { detail },
        (Some("InternalServerException" | "RequestTimeoutException"), _) => {
            RefreshError::Transient { detail }
        }
        (_, Some(s)) if s >= 500 => RefreshError::Transient { detail },
        _ => RefreshError::Failed { detail },
    }
}

/// The error code for an OAuth-style `error` (`invalid_grant`, …), for an answer that came
/// without the `x-amzn-ErrorType` header (a proxy may drop it); the body alone then names
/// the error.
pub fn code_from_oauth_error(error: &str) -> Option<&'static str> {
    Some(match error {
        "invalid_grant" => "InvalidGrantException",
        "expired_token" => "ExpiredTokenException",
        "access_denied" => "AccessDeniedException",
        "invalid_client" => "InvalidClientException",
        "unauthorized_client" => "UnauthorizedClientException",
        "slow_down" => "SlowDownException",
        "server_error" => "InternalServerException",
        "invalid_request" => "InvalidRequestException",
        "unsupported_grant_type" => "UnsupportedGrantTypeException",
        "invalid_scope" => "InvalidScopeException",
        "authorization_pending" => "AuthorizationPendingException",
        _ => return None,
    })
}

/// The `error_description` of a modelled error.
fn error_description(err: &CreateTokenError) -> Option<&str> {
    use CreateTokenError as E;
    match err {
        E::AccessDeniedException(e) => e.error_description(),
        E::AuthorizationPendingException(e) => e.error_description(),
        E::ExpiredTokenException(e) => e.error_description(),
        E::InternalServerException(e) => e.error_description(),
        E::InvalidClientException(e) => e.error_description(),
        E::InvalidGrantException(e) => e.error_description(),
        E::InvalidRequestException(e) => e.error_description(),
        E::InvalidScopeException(e) => e.error_description(),
        E::SlowDownException(e) => e.error_description(),
        E::UnauthorizedClientException(e) => e.error_description(),
        E::UnsupportedGrantTypeException(e) => e.error_description(),
        _ => None,
    }
}

/// The OAuth `error` and `error_description` of a raw error body, if it is one.
fn oauth_body(body: Option<&[u8]>) -> (Option<String>, Option<String>) {
    let Some(serde_json::Value::Object(map)) =
        body.and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
    else {
        return (None, None);
    };
    let field = |name: &str| map.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    (field("error"), field("error_description"))
}

/// The detail of a call that got no answer within the timeout.
const NO_ANSWER: &str = "no answer within the timeout";

fn classify_sdk(
    err: SdkError<CreateTokenError, aws_sdk_ssooidc::config::http::HttpResponse>,
    service: &str,
    secrets: &[&Secret],
) -> RefreshError {
    match &err {
        SdkError::ServiceError(service) if service.raw().status().is_success() => {
            let cause = scrub(&crate::login::portal::root_cause(&err), secrets);
            let status = service.raw().status().as_u16();
            from_unreadable(crate::login::portal::unreadable_answer(
                status, None, &cause,
            ))
        }
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let e = service.err();
            let (oauth_error, oauth_description) = oauth_body(service.raw().body().bytes());
            let code = e
                .code()
                .or_else(|| oauth_error.as_deref().and_then(code_from_oauth_error))
                .map(|c| scrub(c, secrets));
            let description = error_description(e)
                .or(oauth_description.as_deref())
                .or(e.message())
                .map(|d| scrub(d, secrets));
            classify(Some(status), code.as_deref(), description.as_deref())
        }
        SdkError::TimeoutError(_) => RefreshError::Transient {
            detail: NO_ANSWER.to_owned(),
        },
        SdkError::DispatchFailure(d) => {
            let chain = format!(
                "{}",
                aws_smithy_types::error::display::DisplayErrorContext(&err)
            );
            let cause = crate::login::portal::root_cause(&err);
            if d.is_timeout() {
                RefreshError::Transient {
                    detail: NO_ANSWER.to_owned(),
                }
            } else if let Some(reason) = crate::login::portal::untrusted_certificate(&chain) {
                RefreshError::Failed {
                    detail: format!(
                        "the TLS certificate of {service} is not trusted ({reason}); \
                         if your network inspects TLS, point AWS_CA_BUNDLE (or ca_bundle in \
                         the profile) at your organisation's CA bundle"
                    ),
                }
            } else if crate::login::portal::no_such_host(&cause) {
                RefreshError::Failed {
                    detail: format!(
                        "the host name of {service} does not resolve \
                         ({cause}); check sso_region in the config file, or \
                         AWS_ENDPOINT_URL_SSO_OIDC if you set it"
                    ),
                }
            } else {
                RefreshError::Transient { detail: cause }
            }
        }
        SdkError::ResponseError(_) if crate::login::portal::io_error_in(&err) => {
            let cause = scrub(&crate::login::portal::root_cause(&err), secrets);
            RefreshError::Transient {
                detail: format!("the connection broke off mid-answer: {cause}"),
            }
        }
        SdkError::ResponseError(r) => {
            let status = r.raw().status().as_u16();
            let detail = format!("unreadable answer, HTTP {status}");
            match status {
                429 => RefreshError::Throttled { detail },
                s if s >= 500 => RefreshError::Transient { detail },
                _ => RefreshError::Failed { detail },
            }
        }
        _ => RefreshError::Failed {
            detail: scrub(&crate::login::portal::root_cause(&err), secrets),
        },
    }
}

/// A portal verdict on an answer that is not SSO OIDC's, as a refresh error.
fn from_unreadable(error: CallError) -> RefreshError {
    match error {
        CallError::Transient { detail } => RefreshError::Transient { detail },
        CallError::Throttled { detail } => RefreshError::Throttled { detail },
        other => RefreshError::Failed {
            detail: other.to_string(),
        },
    }
}

/// SSO OIDC clients, one per [`Route`], sharing one configuration.
#[derive(Debug)]
pub struct Oidc {
    clients: HashMap<Route, Result<aws_sdk_ssooidc::Client, String>>,
    policy: CallPolicy,
    /// `AWS_ENDPOINT_URL_SSO_OIDC`, to name the service really called in messages.
    endpoint: Option<String>,
}

impl Oidc {
    /// Builds a client for each route, with the portal's HTTP client and timeouts and no SDK
    /// retries (`policy.attempts` is not used: the caller retries). A route whose CA bundle
    /// is unreadable gets an error that every call on it returns. `endpoint` is
    /// `Endpoint::from_env("SSO_OIDC", …)`.
    pub fn new(
        routes: impl IntoIterator<Item = Route>,
        endpoint: &Endpoint,
        policy: CallPolicy,
    ) -> Self {
        let timeouts = crate::login::portal::timeouts(&policy);
        let clients =
            crate::login::portal::clients_per_route!(aws_sdk_ssooidc, routes, endpoint, timeouts);
        Self {
            clients,
            policy,
            endpoint: endpoint.0.clone(),
        }
    }

    /// One `CreateToken` call (grant type `refresh_token`), no retries: the caller decides
    /// retries from the error's class. `now` is the time of the call; the new token expires
    /// `expiresIn` seconds after it. A grant whose client registration has expired by `now`
    /// is refused without a call, as [`RefreshError::InvalidClient`].
    pub async fn create_token(
        &self,
        route: &Route,
        grant: &RefreshGrant,
        now: DateTime<Utc>,
    ) -> Result<NewToken, RefreshError> {
        let client =
            client_for(&self.clients, route).map_err(|detail| RefreshError::Failed { detail })?;
        if grant.registration_expires_at <= now {
            return Err(RefreshError::InvalidClient {
                detail: format!(
                    "the client registration expired at {}",
                    format_time(grant.registration_expires_at)
                ),
            });
        }
        let call = client
            .create_token()
            .grant_type("refresh_token")
            .client_id(&grant.client_id)
            .client_secret(grant.client_secret.expose())
            .refresh_token(grant.refresh_token.expose())
            .send();
        // The SDK enforces the timeout too; this outer one is a guard against a stall
        // anywhere else in the stack.
        let guard = self.policy.timeout.saturating_add(Duration::from_secs(1));
        let secrets = [&grant.refresh_token, &grant.client_secret];
        let output = match tokio::time::timeout(guard, call).await {
            Err(_) => {
                return Err(RefreshError::Transient {
                    detail: NO_ANSWER.to_owned(),
                });
            }
            Ok(result) => result.map_err(|e| {
                let where_ = crate::login::portal::place(&route.region, self.endpoint.as_deref());
                let service = format!("SSO OIDC {where_}");
                classify_sdk(e, &service, &secrets)
            })?,
        };
        let access_token = output
            .access_token()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| RefreshError::Failed {
                detail: "the answer has no accessToken".to_owned(),
            })?;
        let expires_at = (output.expires_in() > 0)
            .then(|| now.checked_add_signed(TimeDelta::seconds(output.expires_in().into())))
            .flatten()
            .and_then(|t| t.with_nanosecond(0))
            .ok_or_else(|| RefreshError::Failed {
                detail: format!(
                    "the answer has no valid expiresIn ({})",
                    output.expires_in()
                ),
            })?;
        Ok(NewToken {
            access_token: Secret::new(access_token),
            expires_at,
            refresh_token: output
                .refresh_token()
                .filter(|t| !t.is_empty())
                .map(Secret::new),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(e: &RefreshError) -> &'static str {
        match e {
            RefreshError::InvalidGrant { .. } => "grant",
            RefreshError::InvalidClient { .. } => "client",
            RefreshError::Throttled { .. } => "throttled",
            RefreshError::Transient { .. } => "transient",
            RefreshError::Failed { .. } => "failed",
        }
    }

    /// Every `CreateToken` error of the service model (and a few status-only answers) lands
    /// in the class that drives what happens next.
    #[test]
    fn classification() {
        let table = [
            (Some(400), Some("InvalidGrantException"), "grant"),
            (Some(400), Some("ExpiredTokenException"), "grant"),
            (Some(400), Some("AccessDeniedException"), "grant"),
            (Some(401), Some("InvalidClientException"), "client"),
            (Some(401), None, "client"),
            (Some(400), Some("UnauthorizedClientException"), "client"),
            (Some(400), Some("SlowDownException"), "throttled"),
            (Some(429), None, "throttled"),
            (Some(429), Some("TooManyRequestsException"), "throttled"),
            (Some(500), Some("InternalServerException"), "transient"),
            (Some(500), None, "transient"),
            (Some(503), Some("ServiceUnavailable"), "transient"),
            (Some(400), Some("InvalidRequestException"), "failed"),
            (Some(400), Some("UnsupportedGrantTypeException"), "failed"),
            (Some(400), Some("InvalidScopeException"), "failed"),
            (Some(400), Some("AuthorizationPendingException"), "failed"),
            (Some(400), None, "failed"),
            (Some(418), None, "failed"),
            (Some(418), Some("TeapotException"), "failed"),
        ];
        for (status, code, want) in table {
            let got = classify(status, code, Some("why"));
            assert_eq!(class(&got), want, "{status:?} {code:?} gave {got:?}");
            assert_eq!(
                got.is_transient(),
                matches!(want, "throttled" | "transient"),
                "{got:?}"
            );
            assert_eq!(got.needs_login(), matches!(want, "grant" | "client"));
        }
    }

    /// The message says what happened: the status, the code and the service's description,
    /// and for a dead refresh token, the command that helps.
    #[test]
    fn messages() {
        let e = classify(
            Some(400),
            Some("InvalidGrantException"),
            Some("Invalid refresh token provided"),
        );
        assert_eq!(
            e.to_string(),
            "SSO OIDC no longer accepts the refresh token (HTTP 400 InvalidGrantException: \
             Invalid refresh token provided); a new `aws sso login` is needed"
        );
        assert_eq!(
            classify(Some(500), None, Some("  ")).to_string(),
            "SSO OIDC could not be reached or failed (HTTP 500)"
        );
    }

    /// An answer without the `x-amzn-ErrorType` header is still classified from its OAuth
    /// `error` field.
    #[test]
    fn oauth_errors() {
        let table = [
            ("invalid_grant", "grant"),
            ("expired_token", "grant"),
            ("access_denied", "grant"),
            ("invalid_client", "client"),
            ("unauthorized_client", "client"),
            ("slow_down", "throttled"),
            ("server_error", "transient"),
            ("invalid_request", "failed"),
        ];
        for (error, want) in table {
            let code = code_from_oauth_error(error);
            assert!(code.is_some(), "{error}");
            assert_eq!(class(&classify(Some(400), code, None)), want, "{error}");
        }
        assert_eq!(code_from_oauth_error("something_new"), None);
        let (error, description) = oauth_body(Some(
            br#"{"error":"invalid_grant","error_description":"Invalid refresh token provided"}"#,
        ));
        assert_eq!(error.as_deref(), Some("invalid_grant"));
        assert_eq!(
            description.as_deref(),
            Some("Invalid refresh token provided")
        );
        assert_eq!(oauth_body(Some(b"<html>")), (None, None));
        assert_eq!(oauth_body(None), (None, None));
    }

    /// A service description is kept to one short line, and a secret of the request that
    /// shows up in it is blanked out.
    #[test]
    fn descriptions_are_scrubbed() {
        let rt = Secret::new("rt-very-secret");
        let cs = Secret::new("cs-very-secret");
        let shown = scrub(
            "bad token rt-very-secret\nfor client cs-very-secret",
            &[&rt, &cs],
        );
        assert_eq!(shown, "bad token ** redacted ** for client ** redacted **");
        let long = "x".repeat(1000);
        assert_eq!(
            scrub(&long, &[]).chars().count(),
            crate::secret::MAX_SHOWN + 1
        );
        assert_eq!(scrub("fine", &[&Secret::new("")]), "fine");
    }

    /// No error class and no new token shows a secret in its Display or Debug output.
    #[test]
    fn nothing_secret_is_shown() {
        let new = NewToken {
            access_token: Secret::new("at-very-secret"),
            expires_at: DateTime::<Utc>::UNIX_EPOCH,
            refresh_token: Some(Secret::new("rt-very-secret")),
        };
        let shown = format!("{new:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        let rt = Secret::new("rt-very-secret");
        for code in [
            "InvalidGrantException",
            "InvalidClientException",
            "SlowDownException",
            "InternalServerException",
            "InvalidRequestException",
        ] {
            let description = scrub("the token rt-very-secret is bad", &[&rt]);
            let e = classify(Some(400), Some(code), Some(&description));
            for shown in [e.to_string(), format!("{e:?}")] {
                assert!(!shown.contains("very-secret"), "{shown}");
            }
        }
    }
}

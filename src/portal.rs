//! The SSO portal: `GetRoleCredentials` through aws-sdk-sso, with its failures classified.
//!
//! Every call has a timeout, goes through `HTTPS_PROXY`/`NO_PROXY` when they are set, and
//! trusts the system's certificate authorities (`SSL_CERT_FILE` and `SSL_CERT_DIR` included)
//! plus the PEM file named by `AWS_CA_BUNDLE` or the profile's `ca_bundle`, as corporate
//! networks that inspect TLS need. `AWS_ENDPOINT_URL_SSO` (or `AWS_ENDPOINT_URL`) points it
//! elsewhere, as in every SDK; tests point it at a local stand-in.
//!
//! The clients are built from aws-sdk-sso alone, without aws-config's loader: that loader
//! reads `~/.aws/credentials` on its own and, when the file is not UTF-8, logs its raw bytes
//! (secrets included) at WARN. ssofresh needs nothing from it but the endpoint variables,
//! which [`Endpoint::from_env`] reads.
//!
//! Retries are ours, not the SDK's, so each one is logged and the classes stay explicit:
//! [`CallError::is_transient`] decides what is retried.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_sdk_sso::config::retry::RetryConfig;
use aws_sdk_sso::config::timeout::TimeoutConfig;
use aws_sdk_sso::config::{BehaviorVersion, Region};
use aws_sdk_sso::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sso::operation::get_role_credentials::GetRoleCredentialsError;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder as HttpBuilder, Connector};
use chrono::{DateTime, Utc};

use crate::credfile::RoleCredentials;
use crate::secret::Secret;

/// Why a GetRoleCredentials call failed, in the classes that drive what happens next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// 401: the login is no longer valid; only a new `aws sso login` helps.
    #[error("the portal rejected the login (UnauthorizedException)")]
    Unauthorized,
    /// 403/404: this login has no access to the account or role.
    #[error("no access to this account and role ({code}: {message})")]
    NoAccess { code: String, message: String },
    /// 429, 5xx, timeouts, network errors: worth another try later.
    #[error("the portal could not be reached or failed ({detail})")]
    Transient { detail: String },
    /// Anything else (a malformed request or response): retrying will not help.
    #[error("the portal call failed ({detail})")]
    Failed { detail: String },
}

impl CallError {
    /// True for failures that another attempt may cure.
    pub fn is_transient(&self) -> bool {
        matches!(self, CallError::Transient { .. })
    }
}

/// Classifies a portal answer from its HTTP status and error code (the code as the SDK
/// sanitised it from `x-amzn-ErrorType`, `code` or `__type`).
pub fn classify(status: Option<u16>, code: Option<&str>, message: Option<&str>) -> CallError {
    let message = message.unwrap_or("").to_owned();
    let code_or_status = || match (code, status) {
        (Some(c), Some(s)) => format!("HTTP {s} {c}"),
        (Some(c), None) => c.to_owned(),
        (None, Some(s)) => format!("HTTP {s}"),
        (None, None) => "no status".to_owned(),
    };
    match (code, status) {
        (Some("UnauthorizedException"), _) | (None, Some(401)) => CallError::Unauthorized,
        (Some(c @ ("ForbiddenException" | "ResourceNotFoundException")), _) => {
            CallError::NoAccess {
                code: c.to_owned(),
                message,
            }
        }
        (None, Some(s @ (403 | 404))) => CallError::NoAccess {
            code: format!("HTTP {s}"),
            message,
        },
        (
            Some("TooManyRequestsException" | "ThrottlingException" | "RequestTimeoutException"),
            _,
        ) => CallError::Transient {
            detail: code_or_status(),
        },
        (_, Some(s)) if s == 429 || s >= 500 => CallError::Transient {
            detail: code_or_status(),
        },
        _ => CallError::Failed {
            detail: format!(
                "{}{}",
                code_or_status(),
                if message.is_empty() {
                    String::new()
                } else {
                    format!(": {message}")
                }
            ),
        },
    }
}

fn classify_sdk(
    err: SdkError<GetRoleCredentialsError, aws_sdk_sso::config::http::HttpResponse>,
) -> CallError {
    match &err {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let e = service.err();
            classify(Some(status), e.code(), e.message())
        }
        SdkError::TimeoutError(_) => CallError::Transient {
            detail: "no answer within the timeout".to_owned(),
        },
        SdkError::DispatchFailure(d) => CallError::Transient {
            detail: if d.is_timeout() {
                "connection timed out".to_owned()
            } else {
                format!(
                    "{}",
                    aws_smithy_types::error::display::DisplayErrorContext(&err)
                )
            },
        },
        SdkError::ResponseError(r) => {
            let status = r.raw().status().as_u16();
            if status >= 500 || status == 429 {
                CallError::Transient {
                    detail: format!("HTTP {status}"),
                }
            } else {
                CallError::Failed {
                    detail: format!("unreadable answer, HTTP {status}"),
                }
            }
        }
        _ => CallError::Failed {
            detail: format!(
                "{}",
                aws_smithy_types::error::display::DisplayErrorContext(&err)
            ),
        },
    }
}

/// How calls are made: timeout and retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallPolicy {
    /// Time allowed for one attempt, connection included.
    pub timeout: Duration,
    /// Attempts in all for a transient failure (1 = no retry).
    pub attempts: u32,
    /// Delay before the first retry; doubled each time, with up to 50% jitter.
    pub backoff: Duration,
}

impl Default for CallPolicy {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            attempts: 3,
            backoff: Duration::from_millis(500),
        }
    }
}

/// Where a call goes: the SSO region, and the extra certificate authorities to trust.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Route {
    /// `sso_region`.
    pub region: String,
    /// A PEM file of extra CAs (`AWS_CA_BUNDLE`, else the profile's `ca_bundle`).
    pub ca_bundle: Option<PathBuf>,
}

/// A PEM bundle that could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read the CA bundle {}: {error}", path.display())]
pub struct BundleError {
    pub path: PathBuf,
    pub error: std::io::Error,
}

/// A service endpoint set by environment variable, as the AWS SDKs read it: the
/// service-specific `AWS_ENDPOINT_URL_<SERVICE>` first, then `AWS_ENDPOINT_URL`, neither when
/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is true.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Endpoint(pub Option<String>);

impl Endpoint {
    /// Reads the endpoint for the service whose variable suffix is `service` (e.g. `SSO`).
    pub fn from_env(service: &str, env: impl Fn(&str) -> Option<String>) -> Self {
        let set = |name: &str| {
            env(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if set("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return Self(None);
        }
        Self(set(&format!("AWS_ENDPOINT_URL_{service}")).or_else(|| set("AWS_ENDPOINT_URL")))
    }
}

/// Portal clients, one per [`Route`], sharing one configuration.
#[derive(Debug)]
pub struct Portal {
    clients: HashMap<Route, Result<aws_sdk_sso::Client, String>>,
    policy: CallPolicy,
}

impl Portal {
    /// Builds a client for each route. A route whose CA bundle is unreadable gets an error
    /// that every call on it returns.
    pub fn new(
        routes: impl IntoIterator<Item = Route>,
        endpoint: &Endpoint,
        policy: CallPolicy,
    ) -> Self {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(policy.timeout.min(Duration::from_secs(5)))
            .operation_attempt_timeout(policy.timeout)
            .build();
        let mut clients = HashMap::new();
        for route in routes {
            if clients.contains_key(&route) {
                continue;
            }
            let client = http_client(route.ca_bundle.as_deref())
                .map(|http| {
                    let mut conf = aws_sdk_sso::config::Builder::new()
                        .behavior_version(BehaviorVersion::latest())
                        .region(Region::new(route.region.clone()))
                        .retry_config(RetryConfig::disabled())
                        .timeout_config(timeouts.clone())
                        .http_client(http);
                    if let Some(url) = &endpoint.0 {
                        conf = conf.endpoint_url(url);
                    }
                    aws_sdk_sso::Client::from_conf(conf.build())
                })
                .map_err(|e| e.to_string());
            clients.insert(route, client);
        }
        Self { clients, policy }
    }

    /// GetRoleCredentials, retried on transient failures. `on_retry` hears of each retry.
    pub async fn role_credentials(
        &self,
        route: &Route,
        account_id: &str,
        role_name: &str,
        token: &Secret,
        mut on_retry: impl FnMut(u32, &CallError, Duration),
    ) -> Result<RoleCredentials, CallError> {
        let client = match self.clients.get(route) {
            Some(Ok(client)) => client,
            Some(Err(e)) => return Err(CallError::Failed { detail: e.clone() }),
            None => {
                return Err(CallError::Failed {
                    detail: format!("no client for region {}", route.region),
                });
            }
        };
        let mut attempt = 1;
        loop {
            let result = self.attempt(client, account_id, role_name, token).await;
            match result {
                Err(e) if e.is_transient() && attempt < self.policy.attempts => {
                    let delay = backoff(self.policy.backoff, attempt);
                    on_retry(attempt, &e, delay);
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn attempt(
        &self,
        client: &aws_sdk_sso::Client,
        account_id: &str,
        role_name: &str,
        token: &Secret,
    ) -> Result<RoleCredentials, CallError> {
        let call = client
            .get_role_credentials()
            .account_id(account_id)
            .role_name(role_name)
            .access_token(token.expose())
            .send();
        // The SDK enforces the timeout too; this outer one is a guard against a stall
        // anywhere else in the stack.
        let output =
            match tokio::time::timeout(self.policy.timeout + Duration::from_secs(1), call).await {
                Err(_) => {
                    return Err(CallError::Transient {
                        detail: "no answer within the timeout".to_owned(),
                    });
                }
                Ok(result) => result.map_err(classify_sdk)?,
            };
        let creds = output.role_credentials().ok_or_else(|| CallError::Failed {
            detail: "the answer has no roleCredentials".to_owned(),
        })?;
        let field = |v: Option<&str>, name: &str| {
            v.filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| CallError::Failed {
                    detail: format!("the answer has no {name}"),
                })
        };
        let expiration = DateTime::<Utc>::from_timestamp_millis(creds.expiration())
            .filter(|t| t.timestamp() > 0)
            .ok_or_else(|| CallError::Failed {
                detail: "the answer has no valid expiration".to_owned(),
            })?;
        Ok(RoleCredentials {
            access_key_id: field(creds.access_key_id(), "accessKeyId")?,
            secret_access_key: Secret::new(field(creds.secret_access_key(), "secretAccessKey")?),
            session_token: Secret::new(field(creds.session_token(), "sessionToken")?),
            expiration,
        })
    }
}

/// The delay before retry number `attempt` (1-based): `base * 2^(attempt-1)`, plus up to 50%.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1 << attempt.saturating_sub(1).min(16));
    exp + exp.mul_f64(fastrand::f64() * 0.5)
}

/// An HTTPS client that trusts the system CAs plus `ca_bundle`, and honours proxy variables.
fn http_client(
    ca_bundle: Option<&Path>,
) -> Result<aws_sdk_sso::config::SharedHttpClient, BundleError> {
    let mut trust = TrustStore::default();
    if let Some(path) = ca_bundle {
        let pem = std::fs::read(path).map_err(|error| BundleError {
            path: path.to_owned(),
            error,
        })?;
        trust = trust.with_pem_certificate(pem);
    }
    let context = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .map_err(|e| BundleError {
            path: ca_bundle.map(Path::to_owned).unwrap_or_default(),
            error: std::io::Error::other(e.to_string()),
        })?;
    Ok(
        HttpBuilder::new().build_with_connector_fn(move |settings, components| {
            let mut builder = Connector::builder()
                .proxy_config(ProxyConfig::from_env())
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::AwsLc,
                ))
                .tls_context(context.clone());
            builder.set_connector_settings(settings.cloned());
            if let Some(components) = components {
                builder.set_sleep_impl(components.sleep_impl());
            }
            builder.build()
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The classes that drive retries and messages, from what the portal answers.
    #[test]
    fn classification() {
        let class = |e: &CallError| match e {
            CallError::Unauthorized => "login",
            CallError::NoAccess { .. } => "access",
            CallError::Transient { .. } => "transient",
            CallError::Failed { .. } => "failed",
        };
        let table = [
            (Some(401), Some("UnauthorizedException"), "login"),
            (Some(401), None, "login"),
            (Some(403), Some("ForbiddenException"), "access"),
            (Some(403), None, "access"),
            (Some(404), Some("ResourceNotFoundException"), "access"),
            (Some(429), Some("TooManyRequestsException"), "transient"),
            (Some(500), None, "transient"),
            (Some(503), Some("ServiceUnavailable"), "transient"),
            (Some(400), Some("InvalidRequestException"), "failed"),
            (Some(418), None, "failed"),
        ];
        for (status, code, want) in table {
            let got = classify(status, code, Some("msg"));
            assert_eq!(class(&got), want, "{status:?} {code:?} gave {got:?}");
        }
    }

    /// The endpoint variables, in the SDKs' order of strength.
    #[test]
    fn endpoint_from_env() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(Endpoint::from_env("SSO", env(&[])), Endpoint(None));
        let both = &[
            ("AWS_ENDPOINT_URL_SSO", "http://a"),
            ("AWS_ENDPOINT_URL", "http://b"),
        ];
        assert_eq!(
            Endpoint::from_env("SSO", env(both)).0.as_deref(),
            Some("http://a")
        );
        assert_eq!(
            Endpoint::from_env("SSO_OIDC", env(both)).0.as_deref(),
            Some("http://b")
        );
        let ignored = &[
            ("AWS_ENDPOINT_URL_SSO", "http://a"),
            ("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE"),
        ];
        assert_eq!(Endpoint::from_env("SSO", env(ignored)), Endpoint(None));
    }

    /// Backoff doubles and its jitter stays within half of the step.
    #[test]
    fn backoff_grows() {
        let base = Duration::from_millis(100);
        for attempt in 1..6u32 {
            let d = backoff(base, attempt);
            let step = base * 2u32.pow(attempt - 1);
            assert!(d >= step && d <= step + step / 2, "{attempt}: {d:?}");
        }
    }
}

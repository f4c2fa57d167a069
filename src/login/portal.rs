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
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use aws_sdk_sso::config::timeout::TimeoutConfig;
use aws_sdk_sso::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sso::operation::get_role_credentials::GetRoleCredentialsError;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Builder as HttpBuilder, Connector};
use chrono::{DateTime, Utc};

use crate::files::credfile::RoleCredentials;
use crate::secret::{Secret, scrub};

/// Why a GetRoleCredentials call failed, in the classes that drive what happens next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// 401: the login is no longer valid; only a new `aws sso login` helps.
    #[error("the portal rejected the login (UnauthorizedException)")]
    Unauthorized,
    /// 403/404: this login has no access to the account or role.
    #[error("no access to this account and role ({code}: {message})")]
    NoAccess { code: String, message: String },
    /// 429 and throttling codes: the portal asks for fewer calls; worth another try later.
    #[error("the portal is throttling calls ({detail})")]
    Throttled { detail: String },
    /// 5xx, timeouts, network errors: worth another try later.
    #[error("the portal could not be reached or failed ({detail})")]
    Transient { detail: String },
    /// Anything else (a malformed request or response, a portal certificate that is not
    /// trusted): retrying will not help.
    #[error("the portal call failed ({detail})")]
    Failed { detail: String },
}

impl CallError {
    /// True for failures that another attempt may cure.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CallError::Transient { .. } | CallError::Throttled { .. }
        )
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
        (Some("TooManyRequestsException" | "ThrottlingException"), _) | (_, Some(429)) => {
            CallError::Throttled {
                detail: code_or_status(),
            }
        }
        (Some("RequestTimeoutException"), _) => CallError::Transient {
            detail: code_or_status(),
        },
        (_, Some(s)) if s >= 500 => CallError::Transient {
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

/// The innermost cause of an error: the part a person can act on ("Connection refused"),
/// without the SDK's layers of wrappers around it.
pub(crate) fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// Where messages say a service is: `in us-east-1`, or, when an endpoint variable
/// (`AWS_ENDPOINT_URL_SSO`, …) sends the calls elsewhere, `at https://…`.
pub fn place(region: &str, endpoint: Option<&str>) -> String {
    match endpoint {
        Some(url) => format!("at {url}"),
        None => format!("in {region}"),
    }
}

/// Classifies a request that never got an answer, from its innermost cause. A host name that
/// does not exist is final (usually a wrong `sso_region`); everything else may pass. `portal`
/// names the portal, e.g. `the SSO portal in us-east-1` (see [`place`]).
pub fn dispatch_failure(cause: &str, portal: &str) -> CallError {
    if no_such_host(cause) {
        CallError::Failed {
            detail: format!(
                "the host name of {portal} does not resolve ({cause}); \
                 check sso_region in the config file, or AWS_ENDPOINT_URL_SSO if you set it"
            ),
        }
    } else {
        CallError::Transient {
            detail: cause.to_owned(),
        }
    }
}

/// True when an I/O error is among the causes of `err`: the connection broke.
pub(crate) fn io_error_in(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.is::<std::io::Error>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// Classifies an answer that could not be read (`broke_off`: the connection reset or closed
/// before the whole body came, with that cause) or is not the portal's (a body that is not
/// its JSON, as a captive portal or an intercepting proxy sends). All are worth another try
/// later, except a client error whose body is garbled.
pub fn unreadable_answer(status: u16, broke_off: Option<&str>, cause: &str) -> CallError {
    if let Some(cause) = broke_off {
        CallError::Transient {
            detail: format!("the connection broke off mid-answer: {cause}"),
        }
    } else if status >= 500 || status == 429 {
        CallError::Transient {
            detail: format!("HTTP {status}"),
        }
    } else if (200..300).contains(&status) {
        CallError::Transient {
            detail: format!(
                "something else answered: HTTP {status} with a body that is not the portal's \
                 ({cause}); a captive portal or a proxy may be in the way"
            ),
        }
    } else {
        CallError::Failed {
            detail: format!("unreadable answer, HTTP {status} ({cause})"),
        }
    }
}

/// True when the innermost cause of a failed request says the host name does not exist.
pub(crate) fn no_such_host(cause: &str) -> bool {
    [
        "Name or service not known",
        "nodename nor servname",
        "No address associated",
    ]
    .iter()
    .any(|m| cause.contains(m))
}

/// The reason rustls gave for refusing the portal's certificate, if `chain` (an error as
/// [`DisplayErrorContext`](aws_smithy_types::error::display::DisplayErrorContext) prints it)
/// shows one: `UnknownIssuer`, `Expired`, `NotValidForName`, …
pub fn untrusted_certificate(chain: &str) -> Option<&str> {
    if let Some((_, rest)) = chain.split_once("InvalidCertificate(") {
        let end = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        let reason = &rest[..end];
        let reason = reason
            .strip_suffix("Context")
            .filter(|r| !r.is_empty())
            .unwrap_or(reason);
        return Some(if reason.is_empty() {
            "invalid certificate"
        } else {
            reason
        });
    }
    chain
        .contains("invalid peer certificate")
        .then_some("invalid certificate")
}

fn classify_sdk(
    err: SdkError<GetRoleCredentialsError, aws_sdk_sso::config::http::HttpResponse>,
    portal: &str,
    token: &Secret,
) -> CallError {
    match &err {
        SdkError::ServiceError(service) if service.raw().status().is_success() => {
            // A success status whose body is not the portal's answer: something else answered.
            let cause = scrub(&root_cause(&err), &[token]);
            unreadable_answer(service.raw().status().as_u16(), None, &cause)
        }
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let e = service.err();
            // The portal's own words, with the bearer token blanked should it echo it.
            let code = e.code().map(|c| scrub(c, &[token]));
            let message = e.message().map(|m| scrub(m, &[token]));
            classify(Some(status), code.as_deref(), message.as_deref())
        }
        SdkError::TimeoutError(_) => CallError::Transient {
            detail: NO_ANSWER.to_owned(),
        },
        SdkError::DispatchFailure(d) => {
            let chain = format!(
                "{}",
                aws_smithy_types::error::display::DisplayErrorContext(&err)
            );
            if d.is_timeout() {
                CallError::Transient {
                    detail: NO_ANSWER.to_owned(),
                }
            } else if let Some(reason) = untrusted_certificate(&chain) {
                // Another attempt meets the same certificate.
                CallError::Failed {
                    detail: format!(
                        "the TLS certificate of {portal} is not trusted \
                         ({reason}); if your network inspects TLS, point AWS_CA_BUNDLE (or \
                         ca_bundle in the profile) at your organisation's CA bundle"
                    ),
                }
            } else {
                dispatch_failure(&root_cause(&err), portal)
            }
        }
        SdkError::ResponseError(r) => {
            let cause = scrub(&root_cause(&err), &[token]);
            let broke_off = io_error_in(&err).then_some(cause.as_str());
            unreadable_answer(r.raw().status().as_u16(), broke_off, &cause)
        }
        _ => CallError::Failed {
            detail: root_cause(&err),
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

/// The client built for `route` by `clients_per_route!`, or what every call on it fails
/// with (a CA bundle that cannot be used, a route never built).
pub fn client_for<'a, C>(
    clients: &'a HashMap<Route, Result<C, String>>,
    route: &Route,
) -> Result<&'a C, String> {
    match clients.get(route) {
        Some(Ok(client)) => Ok(client),
        Some(Err(e)) => Err(e.clone()),
        None => Err(format!("no client for region {}", route.region)),
    }
}

/// One client of an AWS SDK crate (`aws_sdk_sso`, `aws_sdk_ssooidc`) per distinct route, all
/// alike: the route's region and CA bundle, the shared HTTP client (proxies, TLS), the given
/// timeouts, the endpoint override, and the SDK's own retries off (ssofresh decides retries).
/// A route whose CA bundle cannot be used maps to the error every call on it returns. A macro
/// because each crate's config builder is a type of its own.
macro_rules! clients_per_route {
    ($sdk:ident, $routes:expr, $endpoint:expr, $timeouts:expr) => {{
        let mut clients = ::std::collections::HashMap::new();
        for route in $routes {
            if clients.contains_key(&route) {
                continue;
            }
            let client = $crate::login::portal::http_client(route.ca_bundle.as_deref())
                .map(|http| {
                    let mut conf = $sdk::config::Builder::new()
                        .behavior_version($sdk::config::BehaviorVersion::latest())
                        .region($sdk::config::Region::new(route.region.clone()))
                        .retry_config($sdk::config::retry::RetryConfig::disabled())
                        .timeout_config($timeouts.clone())
                        .http_client(http);
                    if let Some(url) = &$endpoint.0 {
                        conf = conf.endpoint_url(url);
                    }
                    $sdk::Client::from_conf(conf.build())
                })
                .map_err(|e| e.to_string());
            clients.insert(route, client);
        }
        clients
    }};
}
pub(crate) use clients_per_route;

/// Portal clients, one per [`Route`], sharing one configuration.
#[derive(Debug)]
pub struct Portal {
    clients: HashMap<Route, Result<aws_sdk_sso::Client, String>>,
    policy: CallPolicy,
    /// Calls per route that got no answer in time. From [`STALLS_BEFORE_GIVING_UP`] on, the
    /// route's other calls fail at once: a portal or proxy that hangs would otherwise cost a
    /// timeout per attempt per profile (minutes, for many profiles).
    stalls: HashMap<Route, AtomicU32>,
    /// `AWS_ENDPOINT_URL_SSO`, to name the portal really called in messages.
    endpoint: Option<String>,
}

/// The detail of a call that got no answer within the timeout.
const NO_ANSWER: &str = "no answer within the timeout";

/// The detail of a call not made because the route counts as down.
const NOT_TRIED: &str = "not tried: other calls to it got no answer just before";

/// How many unanswered calls make a route count as down for the rest of the pass.
pub const STALLS_BEFORE_GIVING_UP: u32 = 2;

impl Portal {
    /// Builds a client for each route. A route whose CA bundle is unreadable gets an error
    /// that every call on it returns.
    pub fn new(
        routes: impl IntoIterator<Item = Route>,
        endpoint: &Endpoint,
        policy: CallPolicy,
    ) -> Self {
        let timeouts = timeouts(&policy);
        let clients = clients_per_route!(aws_sdk_sso, routes, endpoint, timeouts);
        let stalls = clients
            .keys()
            .map(|r| (r.clone(), AtomicU32::new(0)))
            .collect();
        Self {
            clients,
            policy,
            stalls,
            endpoint: endpoint.0.clone(),
        }
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
        let client =
            client_for(&self.clients, route).map_err(|detail| CallError::Failed { detail })?;
        let stalls = self.stalls.get(route);
        let stalled =
            || stalls.is_some_and(|s| s.load(Ordering::SeqCst) >= STALLS_BEFORE_GIVING_UP);
        if stalled() {
            return Err(CallError::Transient {
                detail: NOT_TRIED.to_owned(),
            });
        }
        let mut attempt = 1;
        loop {
            let result = self
                .attempt(client, &route.region, account_id, role_name, token)
                .await;
            if matches!(&result, Err(CallError::Transient { detail }) if detail == NO_ANSWER)
                && let Some(count) = stalls
            {
                count.fetch_add(1, Ordering::SeqCst);
            }
            match result {
                Err(e) if e.is_transient() && attempt < self.policy.attempts && !stalled() => {
                    let delay = backoff(self.policy.backoff, attempt);
                    on_retry(attempt, &e, delay);
                    tokio::time::sleep(delay).await;
                    if stalled() {
                        return Err(e);
                    }
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn attempt(
        &self,
        client: &aws_sdk_sso::Client,
        region: &str,
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
        let guard = self.policy.timeout.saturating_add(Duration::from_secs(1));
        let output = match tokio::time::timeout(guard, call).await {
            Err(_) => {
                return Err(CallError::Transient {
                    detail: NO_ANSWER.to_owned(),
                });
            }
            Ok(result) => result.map_err(|e| {
                let portal = format!("the SSO portal {}", place(region, self.endpoint.as_deref()));
                classify_sdk(e, &portal, token)
            })?,
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

/// Checks that a CA bundle holds at least one certificate and nothing malformed. The HTTP
/// client panics on a malformed bundle, so it must never see one.
pub fn check_bundle(pem: &[u8]) -> Result<(), String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a valid PEM file ({e:?})"))?;
    if certs.is_empty() {
        return Err("no PEM certificate in it".to_owned());
    }
    let mut roots = rustls::RootCertStore::empty();
    for (n, cert) in certs.into_iter().enumerate() {
        roots
            .add(cert)
            .map_err(|e| format!("certificate {} cannot be used ({e})", n + 1))?;
    }
    Ok(())
}

/// The SDK timeouts for `policy`: each attempt within `policy.timeout`, its connection within
/// that or 5 seconds, whichever is shorter. Shared by every client ssofresh builds.
pub(crate) fn timeouts(policy: &CallPolicy) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(policy.timeout.min(Duration::from_secs(5)))
        .operation_attempt_timeout(policy.timeout)
        .build()
}

/// An HTTPS client that trusts the system CAs plus `ca_bundle`, and honours proxy variables.
/// Shared by every client ssofresh builds (the portal's and SSO OIDC's), so both go through
/// the same proxies and trust the same CAs.
pub(crate) fn http_client(
    ca_bundle: Option<&Path>,
) -> Result<aws_sdk_sso::config::SharedHttpClient, BundleError> {
    let mut trust = TrustStore::default();
    if let Some(path) = ca_bundle {
        let pem = std::fs::read(path).map_err(|error| BundleError {
            path: path.to_owned(),
            error,
        })?;
        check_bundle(&pem).map_err(|problem| BundleError {
            path: path.to_owned(),
            error: std::io::Error::new(std::io::ErrorKind::InvalidData, problem),
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
            CallError::Throttled { .. } => "throttled",
            CallError::Failed { .. } => "failed",
        };
        let table = [
            (Some(401), Some("UnauthorizedException"), "login"),
            (Some(401), None, "login"),
            (Some(403), Some("ForbiddenException"), "access"),
            (Some(403), None, "access"),
            (Some(404), Some("ResourceNotFoundException"), "access"),
            (Some(429), Some("TooManyRequestsException"), "throttled"),
            (Some(429), None, "throttled"),
            (Some(400), Some("ThrottlingException"), "throttled"),
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

    /// A refused certificate is found in the error chain, by the reason rustls gave; other
    /// connection failures are not mistaken for one.
    #[test]
    fn certificate_failures() {
        let chain = "dispatch failure: io error: client error (Connect): TLS handshake failed: \
                     invalid peer certificate: UnknownIssuer (DispatchFailure(DispatchFailure { \
                     source: ConnectorError { kind: Io, source: hyper_util::client::legacy::\
                     Error(Connect, TlsConnectError { kind: Protocol, source: Custom { kind: \
                     Other, error: Custom { kind: InvalidData, error: InvalidCertificate(\
                     UnknownIssuer) } } }), connection: Unknown } }))";
        assert_eq!(untrusted_certificate(chain), Some("UnknownIssuer"));
        let table = [
            ("error: InvalidCertificate(Expired) }", Some("Expired")),
            (
                "InvalidCertificate(ExpiredContext { time: UnixTime(1), not_after: UnixTime(0) })",
                Some("Expired"),
            ),
            (
                "InvalidCertificate(NotValidForNameContext { expected: .. })",
                Some("NotValidForName"),
            ),
            (
                "TLS handshake failed: invalid peer certificate: certificate expired",
                Some("invalid certificate"),
            ),
            ("io error: Connection refused (os error 111)", None),
            ("received fatal alert: HandshakeFailure", None),
        ];
        for (chain, want) in table {
            assert_eq!(untrusted_certificate(chain), want, "{chain}");
        }
    }

    /// A dispatch failure over a refused certificate is final, names the region and the
    /// settings that fix it; other connection failures stay transient.
    #[test]
    fn certificate_failure_is_not_retried() {
        use aws_sdk_sso::error::ConnectorError;
        let dispatch = |msg: &str| {
            SdkError::dispatch_failure(ConnectorError::io(Box::new(std::io::Error::other(
                msg.to_owned(),
            ))))
        };
        let e = classify_sdk(
            dispatch("invalid peer certificate: UnknownIssuer"),
            "the SSO portal in eu-west-1",
            &Secret::new("t"),
        );
        assert!(!e.is_transient(), "{e:?}");
        let CallError::Failed { detail } = e else {
            panic!("{e:?}")
        };
        for part in [
            "SSO portal in eu-west-1",
            "not trusted",
            "AWS_CA_BUNDLE",
            "ca_bundle",
        ] {
            assert!(detail.contains(part), "{part} in {detail}");
        }
        let e = classify_sdk(
            dispatch("Connection refused (os error 111)"),
            "the SSO portal in eu-west-1",
            &Secret::new("t"),
        );
        assert!(e.is_transient(), "{e:?}");
    }

    /// A CA bundle must be PEM certificates: garbage, empty files and non-certificates are
    /// refused here (the HTTP client would panic on them).
    #[test]
    fn bundle_checks() {
        assert!(check_bundle(b"").is_err());
        assert!(check_bundle(b"just text\n").is_err());
        let bad_base64 = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(check_bundle(bad_base64).is_err());
        let not_a_cert = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(
            check_bundle(not_a_cert)
                .expect_err("not a certificate")
                .contains("certificate 1")
        );
    }

    /// A host that does not exist is final and points at sso_region; other network causes
    /// (refused, reset, a lookup that may work later) are transient and kept short.
    #[test]
    fn dispatch_failures() {
        let e = dispatch_failure(
            "failed to lookup address information: Name or service not known",
            "the SSO portal in xx-nowhere-9",
        );
        assert!(!e.is_transient());
        assert!(e.to_string().contains("check sso_region"), "{e}");
        for cause in [
            "Connection refused (os error 111)",
            "failed to lookup address information: Temporary failure in name resolution",
        ] {
            assert_eq!(
                dispatch_failure(cause, "the SSO portal in us-east-1"),
                CallError::Transient {
                    detail: cause.to_owned()
                }
            );
        }
    }

    /// An answer that broke off, or that is not the portal's (an HTML page with 200), is
    /// worth another try and says what happened; a garbled client error is final.
    #[test]
    fn unreadable_answers() {
        let reset = unreadable_answer(
            200,
            Some("Connection reset by peer (os error 104)"),
            "Connection reset by peer (os error 104)",
        );
        assert!(reset.is_transient());
        assert!(
            reset.to_string().contains("broke off mid-answer"),
            "{reset}"
        );
        let html = unreadable_answer(200, None, "unexpected token '<'");
        assert!(html.is_transient());
        assert!(html.to_string().contains("captive portal"), "{html}");
        assert!(unreadable_answer(503, None, "x").is_transient());
        assert!(!unreadable_answer(400, None, "x").is_transient());
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

//! AWS Sign-In `CreateOAuth2Token` through `aws-sdk-signin`: one refresh of an `aws login`
//! console session, a fresh DPoP proof per attempt, and its errors in the classes that drive
//! what happens next.
//!
//! Why the SDK crate and not a hand-made `POST`: it carries the endpoint rules for every
//! partition (`https://{region}.signin.aws.amazon.com`, `….amazonaws.cn`, GovCloud, EUSC, and
//! whatever partitions come), the endpoint overrides, and the modelled errors
//! (`AccessDeniedException.error` = `TOKEN_EXPIRED`, …) on the same runtime, HTTP client, TLS,
//! proxy and CA setup as the SSO clients ([`crate::login::portal`]). Its retries are off:
//! ssofresh retries itself, and the proof is added by a request hook that runs after the
//! endpoint is resolved, on every attempt, so `htu` is the exact URL called and every attempt
//! has its own `jti` and `iat` (botocore reuses one proof across retries).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use aws_sdk_signin::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_signin::operation::create_o_auth2_token::CreateOAuth2TokenError;
use aws_sdk_signin::types::CreateOAuth2TokenRequestBody;
use chrono::{DateTime, Utc};

use crate::files::scratch::Scratch;
use crate::login::console::{self, Refreshed, Session};
use crate::login::dpop::DpopKey;
use crate::login::portal::{
    CallPolicy, Endpoint, Route, backoff, client_for, clients_per_route, no_such_host, root_cause,
    timeouts, untrusted_certificate,
};
use crate::login::token::Problem;
use crate::secret::{Secret, scrub};

/// A clock more than this far from the service's (its `Date` header) is named in errors.
pub const SKEW_NAMED: Duration = Duration::from_secs(60);

/// Why a refresh failed, in the classes that drive what happens next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefreshError {
    /// `TOKEN_EXPIRED` or `USER_CREDENTIALS_CHANGED`: the session is over; only a new
    /// `aws login` helps. No further calls until the cache file changes.
    #[error("the sign-in session has ended ({detail})")]
    SessionEnded { detail: String },
    /// `INSUFFICIENT_PERMISSIONS`: the identity may not call `signin:CreateOAuth2Token`;
    /// another `aws login` will not help.
    #[error(
        "the console identity lacks permission for signin:CreateOAuth2Token ({detail}); another `aws login` will not help: an administrator must allow signin:CreateOAuth2Token (e.g. the managed policy SignInLocalDevelopmentAccess)"
    )]
    NotPermitted { detail: String },
    /// A `ValidationException` about the grant (`invalid_grant`, `INVALID_REQUEST`): perhaps
    /// another process rotated the refresh token. Re-read the cache once before giving up.
    #[error("Sign-In refused the refresh token ({detail})")]
    InvalidGrant { detail: String },
    /// 429, 5xx, timeouts, network errors: worth another try later.
    #[error("AWS Sign-In could not be reached or failed ({detail})")]
    Transient { detail: String },
    /// Anything else (a key that does not load, a malformed answer, an untrusted
    /// certificate, no region): retrying will not help.
    #[error("the Sign-In refresh failed ({detail})")]
    Failed { detail: String },
}

impl RefreshError {
    /// True for failures that another attempt may cure.
    pub fn is_transient(&self) -> bool {
        matches!(self, RefreshError::Transient { .. })
    }

    /// True when only a new `aws login` helps.
    pub fn needs_login(&self) -> bool {
        matches!(
            self,
            RefreshError::SessionEnded { .. } | RefreshError::InvalidGrant { .. }
        )
    }

    fn detail_mut(&mut self) -> &mut String {
        match self {
            RefreshError::SessionEnded { detail }
            | RefreshError::NotPermitted { detail }
            | RefreshError::InvalidGrant { detail }
            | RefreshError::Transient { detail }
            | RefreshError::Failed { detail } => detail,
        }
    }
}

/// Classifies a Sign-In error answer from its HTTP status, its error type (from
/// `x-amzn-ErrorType`, `code` or `__type`, as the SDK sanitised it) and the body's `error`
/// member (an OAuth2 error code), keyed on the type and code rather than the status.
pub fn classify(
    status: Option<u16>,
    error_type: Option<&str>,
    oauth_error: Option<&str>,
    message: Option<&str>,
) -> RefreshError {
    let detail = [
        status.map(|s| format!("HTTP {s}")),
        error_type.map(str::to_owned),
        oauth_error.map(str::to_owned),
        message.filter(|m| !m.is_empty()).map(str::to_owned),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" ");
    match (error_type, oauth_error, status) {
        (_, Some("TOKEN_EXPIRED" | "USER_CREDENTIALS_CHANGED"), _) => {
            RefreshError::SessionEnded { detail }
        }
        (_, Some("INSUFFICIENT_PERMISSIONS"), _) => RefreshError::NotPermitted { detail },
        (Some("TooManyRequestsError" | "ThrottlingException"), _, _)
        | (Some("InternalServerException" | "ServiceUnavailableException"), _, _)
        | (_, Some("rate_exceeded" | "server_error" | "service_unavailable"), _)
        | (_, _, Some(429)) => RefreshError::Transient { detail },
        (_, _, Some(s)) if s >= 500 => RefreshError::Transient { detail },
        (
            Some("ValidationException"),
            Some("invalid_grant" | "INVALID_REQUEST" | "invalid_request"),
            _,
        ) => RefreshError::InvalidGrant { detail },
        _ => RefreshError::Failed { detail },
    }
}

/// The clause naming a clock that is off, when the service's `Date` is more than
/// [`SKEW_NAMED`] from `now`.
pub fn skew_note(date_header: Option<&str>, now: DateTime<Utc>) -> Option<String> {
    let theirs = DateTime::parse_from_rfc2822(date_header?.trim()).ok()?;
    let diff = now.signed_duration_since(theirs).num_seconds();
    (diff.unsigned_abs() > SKEW_NAMED.as_secs()).then(|| {
        format!(
            "this machine's clock is {}s {} AWS Sign-In's (its Date: {}); DPoP proofs carry the local time, so set the clock right (e.g. enable NTP)",
            diff.unsigned_abs(),
            if diff > 0 { "ahead of" } else { "behind" },
            theirs.with_timezone(&Utc).format("%Y-%m-%dT%H:%M:%SZ")
        )
    })
}

/// The region a refresh goes to, as botocore picks it: the cache's `signInRegion`, else
/// `AWS_DEFAULT_REGION`, else the profile's `region`. `None`: botocore fails too
/// (`NoRegionError`).
pub fn region(
    sign_in_region: Option<&str>,
    default_region_env: Option<&str>,
    profile_region: Option<&str>,
) -> Option<String> {
    [sign_in_region, default_region_env, profile_region]
        .into_iter()
        .flatten()
        .map(str::trim)
        .find(|r| !r.is_empty())
        .map(str::to_owned)
}

/// Sign-In clients, one per [`Route`] (region and CA bundle), sharing one configuration.
#[derive(Debug)]
pub struct SignIn {
    clients: HashMap<Route, Result<aws_sdk_signin::Client, String>>,
    policy: CallPolicy,
    /// Set when the process is stopping: no new attempt after the one under way.
    stopping: Option<Arc<AtomicBool>>,
}

/// The longest one Sign-In attempt may take, whatever `--timeout` says: a stop waits for the
/// attempt under way (its answer carries the rotated refresh token), within the service
/// managers' stop timeouts (20 s).
pub const MAX_ATTEMPT: Duration = Duration::from_secs(12);

const NO_ANSWER: &str = "no answer within the timeout";

impl SignIn {
    /// Builds a client for each route; `endpoint` is `AWS_ENDPOINT_URL_SIGNIN`, then
    /// `AWS_ENDPOINT_URL` (see [`Endpoint::from_env`] with `"SIGNIN"`).
    pub fn new(
        routes: impl IntoIterator<Item = Route>,
        endpoint: &Endpoint,
        policy: CallPolicy,
    ) -> Self {
        let policy = CallPolicy {
            timeout: policy.timeout.min(MAX_ATTEMPT),
            ..policy
        };
        let timeouts = timeouts(&policy);
        let clients = clients_per_route!(aws_sdk_signin, routes, endpoint, timeouts);
        Self {
            clients,
            policy,
            stopping: None,
        }
    }

    /// Makes no new attempt once `stopping` is set.
    pub fn stop_on(mut self, stopping: Arc<AtomicBool>) -> Self {
        self.stopping = Some(stopping);
        self
    }

    /// One refresh of `session` (as just re-read from its file) through `route`, retried on
    /// transient failures with backoff and a new proof each time. `on_retry` hears of each
    /// retry. The DPoP key is loaded for this call only and dropped when it returns.
    pub async fn refresh(
        &self,
        route: &Route,
        session: &Session,
        mut on_retry: impl FnMut(u32, &RefreshError, Duration),
    ) -> Result<Refreshed, RefreshError> {
        let client =
            client_for(&self.clients, route).map_err(|detail| RefreshError::Failed { detail })?;
        let key =
            DpopKey::from_pem(session.dpop_key.expose()).map_err(|e| RefreshError::Failed {
                detail: format!("{e} in the cached session; run `aws login` again"),
            })?;
        let key = Arc::new(key);
        let mut attempt = 1;
        loop {
            match self.attempt(client, route, session, &key).await {
                Err(e)
                    if e.is_transient()
                        && attempt < self.policy.attempts
                        && !self
                            .stopping
                            .as_ref()
                            .is_some_and(|s| s.load(Ordering::SeqCst)) =>
                {
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
        client: &aws_sdk_signin::Client,
        route: &Route,
        session: &Session,
        key: &Arc<DpopKey>,
    ) -> Result<Refreshed, RefreshError> {
        let secrets = [&session.refresh_token];
        let body = CreateOAuth2TokenRequestBody::builder()
            .client_id(&session.client_id)
            .grant_type("refresh_token")
            .refresh_token(session.refresh_token.expose())
            .build()
            .map_err(|e| RefreshError::Failed {
                detail: scrub(&e.to_string(), &secrets),
            })?;
        let signer = Arc::clone(key);
        let call = client
            .create_o_auth2_token()
            .token_input(body)
            .customize()
            // Runs once per attempt, after the endpoint is resolved: the URI is the one called.
            .map_request(move |mut request| {
                let url = request.uri().to_owned();
                let proof = signer.proof(&url, Utc::now())?;
                request
                    .headers_mut()
                    .insert("DPoP", proof.expose().to_owned());
                Ok::<_, crate::login::dpop::KeyError>(request)
            })
            .send();
        let guard = self.policy.timeout.saturating_add(Duration::from_secs(1));
        let output = match tokio::time::timeout(guard, call).await {
            Err(_) => {
                return Err(RefreshError::Transient {
                    detail: NO_ANSWER.to_owned(),
                });
            }
            Ok(result) => result.map_err(|e| classify_sdk(e, &route.region, &secrets))?,
        };
        let missing = |name: &str| RefreshError::Failed {
            detail: format!("the answer has no {name}"),
        };
        let body = output
            .token_output()
            .ok_or_else(|| missing("tokenOutput"))?;
        let creds = body.access_token().ok_or_else(|| missing("accessToken"))?;
        let nonempty = |v: &str, name: &str| {
            (!v.is_empty())
                .then(|| v.to_owned())
                .ok_or_else(|| missing(name))
        };
        if body.expires_in() <= 0 {
            return Err(missing("positive expiresIn"));
        }
        Ok(Refreshed {
            access_key_id: nonempty(creds.access_key_id(), "accessKeyId")?,
            secret_access_key: Secret::new(nonempty(creds.secret_access_key(), "secretAccessKey")?),
            session_token: Secret::new(nonempty(creds.session_token(), "sessionToken")?),
            expires_in: i64::from(body.expires_in()),
            refresh_token: Secret::new(nonempty(body.refresh_token(), "refreshToken")?),
        })
    }
}

/// What one renewal of a console session came to (see [`renew`]).
#[derive(Debug)]
pub enum Renewal {
    /// The file already holds credentials with more than the threshold left (another
    /// process refreshed): take them; no call was made.
    Fresh(Box<Session>),
    /// Sign-In answered: write `contents` in place of `original` with
    /// [`console::write_if_unchanged`] over the refresh token `used`.
    Ready(Box<Ready>),
    /// The file changed between the reads (a new `aws login`, or another refresher whose
    /// token is now the live one): read it again; nothing to write.
    Changed,
    /// The call failed; after an invalid grant the file was re-read once and still held the
    /// token that was refused, so the session is over.
    Failed(RefreshError),
}

/// A refreshed session file, ready to be written. Its `Debug` shows the path alone: the
/// contents hold the keys, the rotated refresh token and the DPoP private key.
pub struct Ready {
    pub path: PathBuf,
    pub contents: Vec<u8>,
    /// The refresh token the call used: the write happens only over it.
    pub used: Secret,
    /// The new credentials, as they go to `~/.aws/credentials`.
    pub credentials: crate::files::credfile::RoleCredentials,
}

impl std::fmt::Debug for Ready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ready")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// One renewal of the console session in `path`, the way the SDKs do it and then some:
/// re-read the file first and make no call when it holds credentials ending after
/// `threshold` (another process refreshed); else CreateOAuth2Token with a fresh proof per
/// attempt; after an invalid grant, re-read once: a different refresh token there means
/// another refresher won (use theirs), the same one means the session is over. The new file
/// content is prepared as botocore writes it; the caller writes it (see [`Ready`]).
pub async fn renew(
    signin: &SignIn,
    route: &Route,
    path: &Path,
    threshold: DateTime<Utc>,
    on_retry: impl FnMut(u32, &RefreshError, Duration),
) -> Renewal {
    let failed = |detail: String| Renewal::Failed(RefreshError::Failed { detail });
    // A half-written file (the JS and Rust SDKs write in place) is "read again", never an end.
    let read = |path: &Path| -> Result<(Vec<u8>, Session), Renewal> {
        let bytes = std::fs::read(path)
            .map_err(|e| failed(format!("cannot read {}: {e}", path.display())))?;
        let session = console::parse(&bytes).map_err(|problem| match problem {
            Problem::Empty | Problem::NotJson { .. } => Renewal::Changed,
            problem => failed(format!(
                "{} is not a usable `aws login` session ({problem}); run `aws login` again",
                path.display()
            )),
        })?;
        Ok((bytes, session))
    };
    let (bytes, session) = match read(path) {
        Ok(read) => read,
        Err(renewal) => return renewal,
    };
    if session.credentials.expiration > threshold {
        return Renewal::Fresh(Box::new(session));
    }
    // Sign-In spends the refresh token as it answers: make sure the answer can be saved
    // (a folder the service may not write, a full disk) before asking, while the token in
    // the file is still good.
    if let Err(e) = can_write_beside(path, bytes.len()) {
        return failed(format!(
            "cannot write beside {} ({e}), so a refreshed session could not be saved; \
             nothing was sent. Make the folder writable for ssofresh",
            path.display()
        ));
    }
    match signin.refresh(route, &session, on_retry).await {
        Ok(new) => match console::refreshed(&bytes, &new, Utc::now()) {
            Ok(contents) => Renewal::Ready(Box::new(Ready {
                path: path.to_owned(),
                contents,
                used: session.refresh_token.clone(),
                credentials: new.credentials(Utc::now()),
            })),
            Err(problem) => failed(format!("{}: {problem}", path.display())),
        },
        // A refused token may only mean that another refresher (botocore, the CLI) rotated
        // it first: look at the file again before declaring the session over.
        Err(RefreshError::InvalidGrant { detail }) => {
            rotated_meanwhile(path, &session.refresh_token, &read)
                .await
                .unwrap_or(Renewal::Failed(RefreshError::SessionEnded { detail }))
        }
        Err(ended @ RefreshError::SessionEnded { .. }) => {
            rotated_meanwhile(path, &session.refresh_token, &read)
                .await
                .unwrap_or(Renewal::Failed(ended))
        }
        Err(e) => Renewal::Failed(e),
    }
}

/// Whether a file of `len` bytes can be written (and synced) in the folder that really holds
/// `path`, as the write-back will write it: a temp file there, filled, then dropped (it leaves
/// nothing behind).
fn can_write_beside(path: &Path, len: usize) -> std::io::Result<()> {
    let real = std::fs::canonicalize(path)?;
    let (Some(dir), Some(name)) = (real.parent(), real.file_name()) else {
        return Err(std::io::Error::other("no folder"));
    };
    let mut probe = Scratch::create(dir, &name.to_string_lossy())?;
    // The answer's content can be a little longer than the file's.
    probe.fill(&vec![b' '; len + 4096])
}

/// How many times, [`REREAD_PAUSE`] apart, the file is looked at after a refused refresh
/// token before the session is declared over: the refresher that won may not have written
/// its file yet, or be writing it in place (the JS and Rust SDKs do).
const REREADS: u32 = 3;

/// See [`REREADS`].
const REREAD_PAUSE: Duration = Duration::from_millis(400);

/// `Some(Changed)` when the file at `path` no longer holds the refresh token `used` (another
/// refresher saved its own, a new login, `aws logout`), or is being written; `None` when it
/// still holds it after [`REREADS`] looks.
async fn rotated_meanwhile(
    path: &Path,
    used: &Secret,
    read: &impl Fn(&Path) -> Result<(Vec<u8>, Session), Renewal>,
) -> Option<Renewal> {
    for look in 0..REREADS {
        if look > 0 {
            tokio::time::sleep(REREAD_PAUSE).await;
        }
        match read(path) {
            Ok((_, now)) if now.refresh_token == *used => {}
            // Another token, a file half-written, gone or unreadable: not an end to declare.
            _ => return Some(Renewal::Changed),
        }
    }
    None
}

/// The OAuth2 `error` member of a modelled error.
fn oauth_error(e: &CreateOAuth2TokenError) -> Option<&str> {
    match e {
        CreateOAuth2TokenError::AccessDeniedException(x) => Some(x.error().as_str()),
        CreateOAuth2TokenError::InternalServerException(x) => Some(x.error().as_str()),
        CreateOAuth2TokenError::TooManyRequestsError(x) => Some(x.error().as_str()),
        CreateOAuth2TokenError::ValidationException(x) => Some(x.error().as_str()),
        _ => None,
    }
}

fn classify_sdk(
    err: SdkError<CreateOAuth2TokenError, aws_sdk_signin::config::http::HttpResponse>,
    region: &str,
    secrets: &[&Secret],
) -> RefreshError {
    match &err {
        SdkError::ServiceError(service) => {
            let raw = service.raw();
            let e = service.err();
            let code = e.code().map(|c| scrub(c, secrets));
            let oauth = oauth_error(e).map(|c| scrub(c, secrets));
            let message = e.message().map(|m| scrub(m, secrets));
            let mut out = classify(
                Some(raw.status().as_u16()),
                code.as_deref(),
                oauth.as_deref(),
                message.as_deref(),
            );
            if !out.is_transient()
                && let Some(note) = skew_note(raw.headers().get("date"), Utc::now())
            {
                let detail = out.detail_mut();
                detail.push_str("; ");
                detail.push_str(&note);
                // A grant refused while the clock is off: the proof's time is the likely cause,
                // not a spent token, so the session is not declared over (another `aws login`
                // would fail the same way); the clock is what to fix.
                if let RefreshError::InvalidGrant { detail } = out {
                    out = RefreshError::Failed { detail };
                }
            }
            out
        }
        SdkError::TimeoutError(_) => RefreshError::Transient {
            detail: NO_ANSWER.to_owned(),
        },
        SdkError::DispatchFailure(d) => {
            let chain = format!(
                "{}",
                aws_smithy_types::error::display::DisplayErrorContext(&err)
            );
            let cause = root_cause(&err);
            if d.is_timeout() {
                RefreshError::Transient {
                    detail: NO_ANSWER.to_owned(),
                }
            } else if let Some(reason) = untrusted_certificate(&chain) {
                RefreshError::Failed {
                    detail: format!(
                        "the TLS certificate of AWS Sign-In in {region} is not trusted ({reason}); if your network inspects TLS, point AWS_CA_BUNDLE (or ca_bundle in the profile) at your organisation's CA bundle"
                    ),
                }
            } else if no_such_host(&cause) {
                RefreshError::Failed {
                    detail: format!(
                        "the host name of AWS Sign-In for region {region} does not resolve ({cause}); check the profile's region (or the session's signInRegion), or AWS_ENDPOINT_URL_SIGNIN if you set it"
                    ),
                }
            } else {
                RefreshError::Transient { detail: cause }
            }
        }
        SdkError::ResponseError(r) => {
            let status = r.raw().status().as_u16();
            if status >= 500 || status == 429 {
                RefreshError::Transient {
                    detail: format!("HTTP {status}"),
                }
            } else {
                RefreshError::Failed {
                    detail: format!("unreadable answer, HTTP {status}"),
                }
            }
        }
        _ => RefreshError::Failed {
            detail: scrub(&root_cause(&err), secrets),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// A refreshed session ready to be written prints its path and nothing of its contents
    /// (keys, rotated refresh token, DPoP private key) nor of the new credentials.
    #[test]
    fn ready_debug_shows_no_secret() {
        let ready = Ready {
            path: PathBuf::from("/c/session.json"),
            contents: b"ASORsecret -----BEGIN EC PRIVATE KEY----- sk".to_vec(),
            used: Secret::new("ASORused"),
            credentials: crate::files::credfile::RoleCredentials {
                access_key_id: "ASIAKEYID".into(),
                secret_access_key: Secret::new("skey"),
                session_token: Secret::new("stok"),
                expiration: Utc::now(),
            },
        };
        let alone = format!("{ready:?}");
        let shown = format!("{alone} {:?}", Renewal::Ready(Box::new(ready)));
        assert!(shown.contains("/c/session.json"), "{shown}");
        for secret in ["ASOR", "PRIVATE", "sk", "skey", "stok", "ASIAKEYID"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }

    /// Every error the facts list lands in its class, keyed on the type and the OAuth2 code.
    #[test]
    fn classification_table() {
        type Row = (
            Option<u16>,
            Option<&'static str>,
            Option<&'static str>,
            &'static str,
        );
        let table: [Row; 12] = [
            (
                Some(400),
                Some("AccessDeniedException"),
                Some("TOKEN_EXPIRED"),
                "ended",
            ),
            (
                Some(403),
                Some("AccessDeniedException"),
                Some("USER_CREDENTIALS_CHANGED"),
                "ended",
            ),
            (
                None,
                Some("AccessDeniedException"),
                Some("INSUFFICIENT_PERMISSIONS"),
                "perm",
            ),
            (
                Some(400),
                Some("ValidationException"),
                Some("INVALID_REQUEST"),
                "grant",
            ),
            (
                Some(400),
                Some("ValidationException"),
                Some("invalid_grant"),
                "grant",
            ),
            (
                Some(400),
                Some("ValidationException"),
                Some("invalid_client"),
                "failed",
            ),
            (
                Some(429),
                Some("TooManyRequestsError"),
                Some("rate_exceeded"),
                "transient",
            ),
            (
                Some(500),
                Some("InternalServerException"),
                Some("server_error"),
                "transient",
            ),
            (Some(503), None, None, "transient"),
            (Some(502), None, None, "transient"),
            (
                Some(400),
                Some("AccessDeniedException"),
                Some("AUTHCODE_EXPIRED"),
                "failed",
            ),
            (Some(404), None, None, "failed"),
        ];
        for (status, kind, code, want) in table {
            let got = classify(status, kind, code, Some("words"));
            let class = match &got {
                RefreshError::SessionEnded { .. } => "ended",
                RefreshError::NotPermitted { .. } => "perm",
                RefreshError::InvalidGrant { .. } => "grant",
                RefreshError::Transient { .. } => "transient",
                RefreshError::Failed { .. } => "failed",
            };
            assert_eq!(class, want, "{status:?} {kind:?} {code:?}");
            assert!(got.to_string().contains("words"), "{got}");
        }
        let perm = classify(None, None, Some("INSUFFICIENT_PERMISSIONS"), None).to_string();
        assert!(perm.contains("another `aws login` will not help"), "{perm}");
        assert!(perm.contains("signin:CreateOAuth2Token"), "{perm}");
    }

    /// A clock a few minutes off the service's `Date` is named, with its direction; a few
    /// seconds are not; a missing or odd header says nothing.
    #[test]
    fn clock_skew_named() {
        let now = Utc
            .with_ymd_and_hms(2026, 12, 2, 14, 0, 0)
            .single()
            .expect("t");
        let note = skew_note(Some("Wed, 02 Dec 2026 13:55:00 GMT"), now).expect("named");
        assert!(note.contains("300s ahead of"), "{note}");
        let note = skew_note(Some("Wed, 02 Dec 2026 14:03:00 GMT"), now).expect("named");
        assert!(note.contains("180s behind"), "{note}");
        assert_eq!(skew_note(Some("Wed, 02 Dec 2026 14:00:20 GMT"), now), None);
        assert_eq!(skew_note(None, now), None);
        assert_eq!(skew_note(Some("yesterday"), now), None);
    }

    /// botocore's order: `signInRegion`, then `AWS_DEFAULT_REGION`, then the profile's region.
    #[test]
    fn region_order() {
        assert_eq!(
            region(Some("eu-west-1"), Some("us-east-2"), Some("ap-south-1")).as_deref(),
            Some("eu-west-1")
        );
        assert_eq!(
            region(None, Some("us-east-2"), Some("ap-south-1")).as_deref(),
            Some("us-east-2")
        );
        assert_eq!(
            region(None, Some(" "), Some("ap-south-1")).as_deref(),
            Some("ap-south-1")
        );
        assert_eq!(region(None, None, None), None);
    }
}

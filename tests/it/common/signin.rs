//! The AWS Sign-In stand-in (`POST /v1/token`, CreateOAuth2Token with a refresh token), served
//! by the same local server as the [`Portal`] so one `AWS_ENDPOINT_URL` reaches both; and
//! [`login_cache_json`], a session file laid out exactly as `aws login` writes it.
//!
//! Every request's DPoP proof is checked as RFC 9449 §4.3 asks: one `DPoP` header, a JWS whose
//! signature holds against the JWK in its header (`typ` `dpop+jwt`, `alg` `ES256`, no private
//! part), `htm` `POST`, `htu` equal to the URL called (`http://<Host><path>`), `iat` within a
//! minute of the stand-in's clock, a `jti` never seen before, and the JWK the one the refresh
//! token is bound to. A failed check is answered as a `ValidationException` and recorded
//! ([`Portal::proof_failures`]), so tests can assert there were none. Refresh tokens rotate:
//! the old one is spent.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};
use ssofresh::login::dpop::{DpopKey, check_proof};

use super::portal::{HttpRequest, HttpResponse, Portal};

/// What Sign-In knows: live refresh tokens and what they are bound to.
#[derive(Debug, Default)]
pub(super) struct SignInState {
    /// refresh token → the session it belongs to.
    tokens: HashMap<String, Bound>,
    /// Every `jti` seen.
    jtis: HashSet<String>,
    /// Why proofs were refused, in order.
    failures: Vec<String>,
    /// Sessions ended with this OAuth2 code (`TOKEN_EXPIRED`, …): every call gets it.
    ended: Option<String>,
    /// Seconds added to the stand-in's clock (its `Date` and its `iat` window).
    clock_offset: i64,
    /// `expiresIn` of refreshed credentials; 900 unless set.
    expires_in: Option<i64>,
    /// Every refresh handed out.
    refreshes: Vec<SignInRefresh>,
    counter: u64,
}

/// The session a refresh token belongs to.
#[derive(Debug, Clone)]
struct Bound {
    client_id: String,
    /// The DPoP JWK's `x` and `y`.
    jwk: (String, String),
}

/// One successful refresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInRefresh {
    pub old_refresh_token: String,
    pub refresh_token: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// The `jti` of the proof that got it.
    pub jti: String,
}

impl Portal {
    /// Makes `refresh_token` valid for a session of `client_id` whose DPoP key is `key_pem`.
    pub fn add_signin_session(&self, refresh_token: &str, client_id: &str, key_pem: &str) {
        let key = DpopKey::from_pem(key_pem).expect("a P-256 key");
        self.shared().state().signin.tokens.insert(
            refresh_token.to_owned(),
            Bound {
                client_id: client_id.to_owned(),
                jwk: key.jwk_xy(),
            },
        );
    }

    /// Ends every session: each call from now on gets `AccessDeniedException` with `code`
    /// (`TOKEN_EXPIRED`, `USER_CREDENTIALS_CHANGED`, `INSUFFICIENT_PERMISSIONS`).
    pub fn end_signin_sessions(&self, code: &str) {
        self.shared().state().signin.ended = Some(code.to_owned());
    }

    /// Shifts the stand-in's clock (its `Date` header and the `iat` window) by `seconds`.
    pub fn set_signin_clock_offset(&self, seconds: i64) {
        self.shared().state().signin.clock_offset = seconds;
    }

    /// Sets `expiresIn` of refreshed credentials (default 900).
    pub fn set_signin_expires_in(&self, seconds: i64) {
        self.shared().state().signin.expires_in = Some(seconds);
    }

    /// Every DPoP proof refused so far, with the reason.
    pub fn proof_failures(&self) -> Vec<String> {
        self.shared().state().signin.failures.clone()
    }

    /// Every successful Sign-In refresh so far.
    pub fn signin_refreshes(&self) -> Vec<SignInRefresh> {
        self.shared().state().signin.refreshes.clone()
    }

    /// The CreateOAuth2Token requests received so far.
    pub fn signin_requests(&self) -> Vec<super::portal::Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path == "/v1/token")
            .collect()
    }
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A Sign-In error in its wire shape: the type in `x-amzn-ErrorType`, `error` and `message`
/// in the body.
pub(super) fn signin_error(status: u16, kind: &str, code: &str, message: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("x-amzn-ErrorType".to_owned(), kind.to_owned())],
        body: json!({"error": code, "message": message}).to_string(),
        cut: None,
    }
}

/// The scripted error for `status`: 400 `ValidationException` `INVALID_REQUEST`, 429
/// `TooManyRequestsError`, 500 `InternalServerException`, others 503 `service_unavailable`.
pub(super) fn signin_status(status: u16) -> HttpResponse {
    match status {
        400 => signin_error(
            400,
            "ValidationException",
            "INVALID_REQUEST",
            "The provided authorization grant is invalid, expired, revoked, or malformed",
        ),
        429 => signin_error(
            429,
            "TooManyRequestsError",
            "rate_exceeded",
            "Rate exceeded",
        ),
        500 => signin_error(
            500,
            "InternalServerException",
            "server_error",
            "Internal error",
        ),
        s => signin_error(
            s,
            "ServiceUnavailableException",
            "service_unavailable",
            "Unavailable",
        ),
    }
}

/// Adds the stand-in's `Date` header (with its clock offset) to a Sign-In response.
pub(super) fn with_date(response: &mut HttpResponse, state: &SignInState) {
    let t =
        chrono::DateTime::from_timestamp(now_secs() + state.clock_offset, 0).expect("a valid time");
    response.headers.push((
        "Date".to_owned(),
        t.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
    ));
}

/// Answers one CreateOAuth2Token request.
pub(super) fn create_oauth2_token(state: &mut SignInState, request: &HttpRequest) -> HttpResponse {
    let host = request.header("host").unwrap_or_default();
    let url = format!("http://{host}{}", request.path);
    let proofs: Vec<&str> = request
        .headers
        .iter()
        .filter(|(k, _)| k == "dpop")
        .map(|(_, v)| v.as_str())
        .collect();
    let refuse = |state: &mut SignInState, why: String| {
        state.failures.push(why.clone());
        signin_error(
            400,
            "ValidationException",
            "INVALID_REQUEST",
            &format!("DPoP proof refused: {why}"),
        )
    };
    let [proof] = proofs[..] else {
        return refuse(state, format!("{} DPoP headers", proofs.len()));
    };
    let checked = match check_proof(proof) {
        Ok(c) => c,
        Err(e) => return refuse(state, e),
    };
    if checked.htm != "POST" {
        return refuse(state, format!("htm {}", checked.htm));
    }
    if checked.htu != url {
        return refuse(
            state,
            format!("htu {} is not the URL called, {url}", checked.htu),
        );
    }
    let skew = checked.iat - (now_secs() + state.clock_offset);
    if skew.abs() > 60 {
        return refuse(state, format!("iat {skew}s off"));
    }
    if !state.jtis.insert(checked.jti.clone()) {
        return refuse(state, format!("jti {} used before", checked.jti));
    }
    if let Some(code) = state.ended.clone() {
        return signin_error(
            400,
            "AccessDeniedException",
            &code,
            "The refresh token has expired.",
        );
    }
    let Ok(body) = serde_json::from_slice::<Value>(&request.body) else {
        return signin_error(
            400,
            "ValidationException",
            "INVALID_REQUEST",
            "body is not JSON",
        );
    };
    let field = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    if field("grantType") != "refresh_token" {
        return signin_error(
            400,
            "ValidationException",
            "unsupported_grant_type",
            "grant type",
        );
    }
    let old = field("refreshToken");
    let Some(bound) = state.tokens.get(&old).cloned() else {
        return signin_status(400);
    };
    if bound.client_id != field("clientId") {
        return signin_error(
            400,
            "ValidationException",
            "invalid_client",
            "client mismatch",
        );
    }
    if bound.jwk != (checked.x.clone(), checked.y.clone()) {
        return refuse(
            state,
            "proof signed with a key the token is not bound to".into(),
        );
    }
    state.tokens.remove(&old);
    state.counter += 1;
    let n = state.counter;
    let refresh = SignInRefresh {
        old_refresh_token: old,
        refresh_token: format!("ASOR-rotated-{n:06}"),
        access_key_id: format!("ASIASIGNIN{n:010}"),
        secret_access_key: format!("signin-secret-{n:06}"),
        session_token: format!("signin-session-{n:06}-IQoJb3JpZ2luX2VjEXAMPLE/+="),
        jti: checked.jti,
    };
    state.tokens.insert(refresh.refresh_token.clone(), bound);
    state.refreshes.push(refresh.clone());
    HttpResponse {
        status: 200,
        headers: Vec::new(),
        body: json!({
            "accessToken": {
                "accessKeyId": refresh.access_key_id,
                "secretAccessKey": refresh.secret_access_key,
                "sessionToken": refresh.session_token,
            },
            "tokenType": "aws_sigv4",
            "expiresIn": state.expires_in.unwrap_or(900),
            "refreshToken": refresh.refresh_token,
        })
        .to_string(),
        cut: None,
    }
}

/// A session file as `aws login` writes it: `json.dumps` with Python's separators, keys in
/// the CLI's order, `expiresAt` as `%Y-%m-%dT%H:%M:%SZ`, no final newline.
pub fn login_cache_json(
    access_key_id: &str,
    expires_at: chrono::DateTime<chrono::Utc>,
    refresh_token: &str,
    key_pem: &str,
) -> String {
    let s = |v: &str| serde_json::to_string(v).expect("a JSON string");
    format!(
        "{{\"accessToken\": {{\"accessKeyId\": {}, \"secretAccessKey\": \"cli-secret\", \"sessionToken\": \"cli-session\", \"accountId\": \"012345678901\", \"expiresAt\": {}}}, \"tokenType\": \"aws_sigv4\", \"clientId\": \"arn:aws:signin:::devtools/same-device\", \"refreshToken\": {}, \"idToken\": \"eyJhbGciOiJFUzM4NCJ9.e30.sig\", \"dpopKey\": {}}}",
        s(access_key_id),
        s(&expires_at.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        s(refresh_token),
        s(key_pem)
    )
}

/// The `clientId` `aws login` writes for a browser on this machine.
pub const SAME_DEVICE: &str = "arn:aws:signin:::devtools/same-device";

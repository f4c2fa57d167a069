//! One token refresh through [`ssofresh::login::oidc::Oidc`] against the local SSO OIDC stand-in: what
//! goes on the wire, how each answer is classified, and the token file rewritten with
//! [`ssofresh::login::token::refreshed`] and [`ssofresh::login::token::write_if_unchanged`], judged by botocore.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::Value;
use ssofresh::login::oidc::{NewToken, Oidc, RefreshError};
use ssofresh::login::portal::{CallPolicy, Endpoint, Route};
use ssofresh::login::token::{self, RefreshGrant};
use ssofresh::secret::Secret;

use crate::common::{Portal, Reply, TestHome, botocore_sso_token, token_json};

const REFRESH_TOKEN: &str = "rt-secret-4f1d";
const CLIENT_SECRET: &str = "cs-secret-9a2e";
/// A hard bound for a call that must end by its own timeout; not a timing assertion.
const BOUND: Duration = Duration::from_secs(60);

fn route() -> Route {
    Route {
        region: "us-east-1".to_owned(),
        ca_bundle: None,
    }
}

fn oidc(portal: &Portal, timeout: Duration) -> Oidc {
    let endpoint = Endpoint::from_env("SSO_OIDC", |k| {
        (k == "AWS_ENDPOINT_URL_SSO_OIDC").then(|| portal.url())
    });
    Oidc::new(
        [route()],
        &endpoint,
        CallPolicy {
            timeout,
            ..CallPolicy::default()
        },
    )
}

fn grant(refresh_token: &str, now: DateTime<Utc>) -> RefreshGrant {
    RefreshGrant {
        refresh_token: Secret::new(refresh_token),
        client_id: "cid-test".to_owned(),
        client_secret: Secret::new(CLIENT_SECRET),
        registration_expires_at: now + TimeDelta::days(90),
    }
}

async fn refresh(oidc: &Oidc, grant: &RefreshGrant) -> Result<NewToken, RefreshError> {
    tokio::time::timeout(BOUND, oidc.create_token(&route(), grant, Utc::now()))
        .await
        .expect("create_token ends by its own timeout")
}

/// Neither the Display nor the Debug of `shown` holds any of the secrets involved.
#[track_caller]
fn assert_no_secret(shown: &dyn std::fmt::Debug, display: &str, secrets: &[&str]) {
    let debug = format!("{shown:?}");
    for secret in secrets {
        assert!(!debug.contains(secret), "{secret} in {debug}");
        assert!(!display.contains(secret), "{secret} in {display}");
    }
}

/// A refresh sends the refresh grant the CLI sends (grant type, client id and secret, refresh
/// token, unsigned) and returns the new access token, the rotated refresh token and an
/// expiry `expiresIn` after the call, in whole seconds.
#[tokio::test]
async fn refresh_on_the_wire() {
    let portal = Portal::start();
    portal.add_refresh_token(REFRESH_TOKEN, "old-access");
    portal.set_refreshed_expires_in(3_600);
    let now = Utc::now();
    let new = tokio::time::timeout(
        BOUND,
        oidc(&portal, Duration::from_secs(10)).create_token(
            &route(),
            &grant(REFRESH_TOKEN, now),
            now,
        ),
    )
    .await
    .expect("bounded")
    .expect("refreshed");

    let refreshed = portal.refreshed();
    assert_eq!(refreshed.len(), 1);
    assert_eq!(new.access_token.expose(), refreshed[0].access_token);
    assert_eq!(
        new.refresh_token.as_ref().map(Secret::expose),
        Some(refreshed[0].refresh_token.as_str())
    );
    assert_eq!(new.expires_at.timestamp(), now.timestamp() + 3_600);
    assert_eq!(new.expires_at.timestamp_subsec_nanos(), 0);
    assert_no_secret(
        &new,
        &format!("{:?}", new),
        &[&refreshed[0].access_token, &refreshed[0].refresh_token],
    );

    let requests = portal.create_token_requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        request.header("authorization"),
        None,
        "CreateToken is unsigned"
    );
    assert!(
        request
            .header("content-type")
            .is_some_and(|v| v.starts_with("application/json")),
        "{request:?}"
    );
    let body: Value = serde_json::from_str(&request.body).expect("JSON body");
    assert_eq!(body["grantType"], "refresh_token");
    assert_eq!(body["clientId"], "cid-test");
    assert_eq!(body["clientSecret"], CLIENT_SECRET);
    assert_eq!(body["refreshToken"], REFRESH_TOKEN);
}

/// A refresh token the service does not know (used up by another program, revoked) is
/// `InvalidGrant`: it needs a new login, is not retried, and its message carries the
/// service's description but no secret.
#[tokio::test]
async fn unknown_refresh_token_is_invalid_grant() {
    let portal = Portal::start();
    let err = refresh(
        &oidc(&portal, Duration::from_secs(10)),
        &grant(REFRESH_TOKEN, Utc::now()),
    )
    .await
    .expect_err("unknown refresh token");
    assert!(matches!(err, RefreshError::InvalidGrant { .. }), "{err:?}");
    assert!(err.needs_login() && !err.is_transient(), "{err:?}");
    let shown = err.to_string();
    for part in [
        "HTTP 400",
        "InvalidGrantException",
        "Invalid refresh token provided",
        "aws sso login",
    ] {
        assert!(shown.contains(part), "{part} in {shown}");
    }
    assert_no_secret(&err, &shown, &[REFRESH_TOKEN, CLIENT_SECRET]);
}

/// Each scripted error answer lands in its class, one call each (no SDK retries), and the
/// next answer works again; no error shows a secret.
#[tokio::test]
async fn scripted_errors_are_classified_without_retries() {
    let portal = Portal::start();
    portal.add_refresh_token(REFRESH_TOKEN, "old-access");
    portal.script_create_token([
        Reply::Status(500),
        Reply::Status(401),
        Reply::Status(429),
        Reply::Status(400),
    ]);
    let oidc = oidc(&portal, Duration::from_secs(10));
    let grant = grant(REFRESH_TOKEN, Utc::now());
    let mut classes = Vec::new();
    for _ in 0..4 {
        let err = refresh(&oidc, &grant).await.expect_err("scripted error");
        assert_no_secret(&err, &err.to_string(), &[REFRESH_TOKEN, CLIENT_SECRET]);
        classes.push(match err {
            RefreshError::Transient { .. } => "transient",
            RefreshError::InvalidClient { .. } => "client",
            RefreshError::Throttled { .. } => "throttled",
            RefreshError::InvalidGrant { .. } => "grant",
            RefreshError::Failed { .. } => "failed",
        });
    }
    assert_eq!(classes, ["transient", "client", "throttled", "grant"]);
    assert_eq!(
        portal.create_token_requests().len(),
        4,
        "one request per call"
    );
    let new = refresh(&oidc, &grant).await.expect("the script is used up");
    assert_eq!(
        new.access_token.expose(),
        portal.refreshed()[0].access_token
    );
}

/// A service that never answers costs one timeout and gives `Transient`.
#[tokio::test]
async fn hang_is_transient() {
    let portal = Portal::start();
    portal.add_refresh_token(REFRESH_TOKEN, "old-access");
    portal.script_create_token([Reply::Hang]);
    let err = refresh(
        &oidc(&portal, Duration::from_millis(500)),
        &grant(REFRESH_TOKEN, Utc::now()),
    )
    .await
    .expect_err("no answer");
    assert!(matches!(err, RefreshError::Transient { .. }), "{err:?}");
    assert!(
        err.to_string().contains("no answer within the timeout"),
        "{err}"
    );
    assert_eq!(portal.create_token_requests().len(), 1);
}

/// A port where nobody listens is a transient connection failure.
#[tokio::test]
async fn refused_connection_is_transient() {
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let endpoint = Endpoint(Some(format!("http://{addr}")));
    let oidc = Oidc::new([route()], &endpoint, CallPolicy::default());
    let err = tokio::time::timeout(
        BOUND,
        oidc.create_token(&route(), &grant(REFRESH_TOKEN, Utc::now()), Utc::now()),
    )
    .await
    .expect("bounded")
    .expect_err("refused");
    assert!(err.is_transient(), "{err:?}");
}

/// A client registration that has expired is refused without a call: it needs a new login.
#[tokio::test]
async fn expired_registration_makes_no_call() {
    let portal = Portal::start();
    portal.add_refresh_token(REFRESH_TOKEN, "old-access");
    let now = Utc::now();
    let mut expired = grant(REFRESH_TOKEN, now);
    expired.registration_expires_at = now - TimeDelta::seconds(1);
    let err = oidc(&portal, Duration::from_secs(10))
        .create_token(&route(), &expired, now)
        .await
        .expect_err("expired registration");
    assert!(matches!(err, RefreshError::InvalidClient { .. }), "{err:?}");
    assert!(portal.create_token_requests().is_empty());
}

/// The whole refresh of a CLI login: the token file read, CreateToken called with its grant,
/// the file rewritten in place; ssofresh then reads the new token with the same grant and the
/// rotated refresh token, and botocore (as boto3 and the CLI load `~/.aws/sso/cache`) sees the
/// new access token and expiry, with the registration and unknown fields kept.
#[tokio::test]
async fn refreshed_file_is_read_by_botocore() {
    let home = TestHome::new();
    let portal = Portal::start();
    let mut old = token_json("access-before", Utc::now() + TimeDelta::minutes(20));
    old["ssofreshTestUnknown"] = serde_json::json!({"kept": true});
    let path = home.write_token("corp", old.clone());
    portal.add_refresh_token("refresh-access-before", "access-before");

    let before = token::read(&path).expect("CLI token");
    let grant = before.refresh.clone().expect("refreshable");
    let new = refresh(&oidc(&portal, Duration::from_secs(10)), &grant)
        .await
        .expect("refreshed");
    let old_bytes = std::fs::read(&path).expect("read token file");
    let contents = token::refreshed(
        &old_bytes,
        &new.access_token,
        new.expires_at,
        new.refresh_token.as_ref(),
    )
    .expect("new content");
    assert!(token::write_if_unchanged(&path, &contents, &old_bytes).expect("write token file"));

    let after = token::read(&path).expect("token after refresh");
    assert_eq!(after.access_token, new.access_token);
    assert_eq!(after.expires_at, new.expires_at);
    let rotated = new.refresh_token.clone().expect("rotated");
    assert_ne!(rotated, grant.refresh_token);
    assert_eq!(
        after.refresh,
        Some(RefreshGrant {
            refresh_token: rotated.clone(),
            ..grant
        })
    );

    let seen = botocore_sso_token(
        &home.cache_dir(),
        "corp",
        old["startUrl"].as_str().expect("startUrl"),
        old["region"].as_str().expect("region"),
    );
    assert_eq!(seen["method"], "sso", "{seen}");
    assert_eq!(seen["token"], new.access_token.expose(), "{seen}");
    assert_eq!(seen["expiration"], new.expires_at.timestamp(), "{seen}");
    let cached = &seen["cached"];
    assert_eq!(cached["refreshToken"], rotated.expose());
    assert_eq!(
        cached["expiresAt"],
        new.expires_at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
    );
    for kept in [
        "startUrl",
        "region",
        "clientId",
        "clientSecret",
        "registrationExpiresAt",
        "ssofreshTestUnknown",
    ] {
        assert_eq!(cached[kept], old[kept], "{kept}");
    }
}

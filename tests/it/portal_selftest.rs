//! The local portal is faithful: the real `aws_sdk_sso` client parses its answers and
//! classifies its errors as it would the real portal's.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::common::{Portal, Reply};
use aws_sdk_sso::Client;
use aws_sdk_sso::config::retry::RetryConfig;
use aws_sdk_sso::config::timeout::TimeoutConfig;
use aws_sdk_sso::config::{BehaviorVersion, Region};
use aws_sdk_sso::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sso::operation::get_role_credentials::{
    GetRoleCredentialsError, GetRoleCredentialsOutput,
};
use serde_json::{Value, json};

const ACCOUNT: &str = "111122223333";
const ROLE: &str = "Dev";
const HOUR: Duration = Duration::from_secs(3600);

fn builder(portal: &Portal) -> aws_sdk_sso::config::Builder {
    aws_sdk_sso::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(portal.url())
        .retry_config(RetryConfig::disabled())
}

fn client(portal: &Portal) -> Client {
    Client::from_conf(builder(portal).build())
}

type Result = std::result::Result<GetRoleCredentialsOutput, SdkError<GetRoleCredentialsError>>;

async fn get(client: &Client, token: &str) -> Result {
    client
        .get_role_credentials()
        .account_id(ACCOUNT)
        .role_name(ROLE)
        .access_token(token)
        .send()
        .await
}

fn service_error(result: Result) -> GetRoleCredentialsError {
    match result {
        Err(SdkError::ServiceError(e)) => e.into_err(),
        other => panic!("expected a service error, got {other:?}"),
    }
}

fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    i64::try_from(since.as_millis()).expect("millis fit")
}

/// A granted role yields credentials the SDK parses, with the expiration in epoch
/// milliseconds; the request carried the bearer token and the query the SDK builds.
#[tokio::test]
async fn success_parses() {
    let portal = Portal::start();
    portal.grant("tok", ACCOUNT, ROLE, HOUR);
    let out = get(&client(&portal), "tok").await.expect("credentials");
    let creds = out.role_credentials().expect("roleCredentials");
    let issued = portal.last_issued(ACCOUNT, ROLE).expect("issued");
    assert_eq!(creds.access_key_id(), Some(issued.access_key_id.as_str()));
    assert_eq!(
        creds.secret_access_key(),
        Some(issued.secret_access_key.as_str())
    );
    assert_eq!(creds.session_token(), Some(issued.session_token.as_str()));
    assert_eq!(creds.expiration(), issued.expiration_ms);
    let lifetime_ms = issued.expiration_ms - now_ms();
    assert!(
        (3_590_000..=3_600_000).contains(&lifetime_ms),
        "expiration is an hour away in ms: {lifetime_ms}"
    );
    assert!(out.role_credentials().is_some());

    let requests = portal.credential_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].token.as_deref(), Some("tok"));
    assert_eq!(requests[0].query_param("account_id"), Some(ACCOUNT));
    assert_eq!(requests[0].query_param("role_name"), Some(ROLE));
    assert_eq!(requests[0].header("authorization"), None);
}

/// Each call returns new credentials, so tests can tell a fresh write from an old one; the
/// SDK reuses the kept-alive connection without trouble.
#[tokio::test]
async fn credentials_are_unique_per_call() {
    let portal = Portal::start();
    portal.grant("tok", ACCOUNT, ROLE, HOUR);
    let client = client(&portal);
    let mut keys = Vec::new();
    for _ in 0..3 {
        let out = get(&client, "tok").await.expect("credentials");
        let creds = out.role_credentials().expect("roleCredentials");
        keys.push(creds.access_key_id().expect("key id").to_owned());
    }
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert_eq!(portal.count(ACCOUNT, ROLE), 3);
}

/// An unknown token gets 401, which the SDK classifies as `UnauthorizedException`.
#[tokio::test]
async fn unknown_token_is_unauthorized() {
    let portal = Portal::start();
    let err = service_error(get(&client(&portal), "nope").await);
    assert!(err.is_unauthorized_exception(), "{err:?}");
    assert_eq!(err.message(), Some("Session token not found or invalid"));
    assert!(err.meta().extra("aws_request_id").is_some(), "{err:?}");
}

/// A known token without the role gets 403, an unmodelled `ForbiddenException`.
#[tokio::test]
async fn ungranted_role_is_forbidden() {
    let portal = Portal::start();
    portal.add_token("tok");
    let err = service_error(get(&client(&portal), "tok").await);
    // Not one of the modelled variants (matching `Unhandled` directly is deprecated).
    assert!(
        !(err.is_invalid_request_exception()
            || err.is_unauthorized_exception()
            || err.is_resource_not_found_exception()
            || err.is_too_many_requests_exception()),
        "{err:?}"
    );
    assert_eq!(err.code(), Some("ForbiddenException"));
    assert_eq!(err.message(), Some("No access"));
}

/// Scripted 429 and 404 map to `TooManyRequestsException` and `ResourceNotFoundException`,
/// and a script is consumed in order before normal answers resume.
#[tokio::test]
async fn scripted_errors_are_classified() {
    let portal = Portal::start();
    portal.grant("tok", ACCOUNT, ROLE, HOUR);
    portal.script(ACCOUNT, ROLE, [Reply::Status(429), Reply::Status(404)]);
    let client = client(&portal);
    let err = service_error(get(&client, "tok").await);
    assert!(err.is_too_many_requests_exception(), "{err:?}");
    let err = service_error(get(&client, "tok").await);
    assert!(err.is_resource_not_found_exception(), "{err:?}");
    get(&client, "tok")
        .await
        .expect("script used up: normal answer");
}

/// A scripted 500 is an unhandled service error; with retries on, the SDK retries it and
/// succeeds on the next scripted `Ok`.
#[tokio::test]
async fn server_error_then_success() {
    let portal = Portal::start();
    portal.grant("tok", ACCOUNT, ROLE, HOUR);
    portal.script(ACCOUNT, ROLE, [Reply::Status(500)]);
    let err = service_error(get(&client(&portal), "tok").await);
    assert_eq!(err.code(), Some("InternalServerException"));

    portal.script(ACCOUNT, ROLE, [Reply::Status(500), Reply::Ok]);
    let retrying = Client::from_conf(
        builder(&portal)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(10)),
            )
            .build(),
    );
    get(&retrying, "tok").await.expect("retried to success");
    assert_eq!(portal.count(ACCOUNT, ROLE), 3);
}

/// A hanging reply holds the request until the SDK's operation timeout fires; a delayed
/// reply arrives after its delay.
#[tokio::test]
async fn hang_and_delay() {
    let portal = Portal::start();
    portal.grant("tok", ACCOUNT, ROLE, HOUR);
    portal.script(
        ACCOUNT,
        ROLE,
        [Reply::Hang, Reply::Ok.after(Duration::from_millis(300))],
    );
    let timeout = Client::from_conf(
        builder(&portal)
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(Duration::from_millis(500))
                    .build(),
            )
            .build(),
    );
    let start = Instant::now();
    let result = get(&timeout, "tok").await;
    assert!(
        matches!(result, Err(SdkError::TimeoutError(_))),
        "{result:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    assert_eq!(
        portal.count(ACCOUNT, ROLE),
        1,
        "the hung request was recorded"
    );

    let start = Instant::now();
    get(&timeout, "tok").await.expect("delayed success");
    assert!(start.elapsed() >= Duration::from_millis(300));
}

/// `POST /token` refreshes: the refresh token rotates, the new access token holds the old
/// one's roles, and a used or unknown refresh token gets `InvalidGrantException`.
#[test]
fn create_token_refreshes_and_rotates() {
    let portal = Portal::start();
    portal.grant("old", ACCOUNT, ROLE, HOUR);
    portal.add_refresh_token("rt-1", "old");
    let body = |rt: &str| {
        json!({"clientId": "cid", "clientSecret": "csec", "grantType": "refresh_token",
               "refreshToken": rt})
        .to_string()
    };
    let (status, headers, reply) = post_token(&portal, &body("rt-1"));
    assert_eq!(status, 200, "{reply}");
    assert!(headers.contains("x-amzn-RequestId"), "{headers}");
    assert_eq!(reply["tokenType"], "Bearer");
    assert_eq!(reply["expiresIn"], 28_800);
    let new_rt = reply["refreshToken"].as_str().expect("refreshToken");
    assert_ne!(new_rt, "rt-1");
    let refreshed = portal.refreshed();
    assert_eq!(refreshed.len(), 1);
    assert_eq!(
        reply["accessToken"].as_str(),
        Some(refreshed[0].access_token.as_str())
    );

    for used in ["rt-1", "unknown"] {
        let (status, headers, reply) = post_token(&portal, &body(used));
        assert_eq!(status, 400);
        assert!(
            headers.contains(
                "x-amzn-ErrorType: InvalidGrantException:http://internal.amazon.com/coral/com.amazonaws.sso.oidc/"
            ),
            "{headers}"
        );
        assert_eq!(
            reply,
            json!({"error": "invalid_grant", "error_description": "Invalid refresh token provided"})
        );
    }
    let (status, _, _) = post_token(&portal, &body(new_rt));
    assert_eq!(status, 200, "the rotated refresh token works");
    assert_eq!(portal.create_token_requests().len(), 4);
}

/// The refreshed access token is granted the roles of the token it replaced.
#[tokio::test]
async fn refreshed_token_inherits_roles() {
    let portal = Portal::start();
    portal.grant("old", ACCOUNT, ROLE, HOUR);
    portal.add_refresh_token("rt-1", "old");
    let body = json!({"clientId": "cid", "clientSecret": "csec",
                      "grantType": "refresh_token", "refreshToken": "rt-1"});
    let (status, _, reply) = post_token(&portal, &body.to_string());
    assert_eq!(status, 200);
    let new_token = reply["accessToken"].as_str().expect("accessToken");
    get(&client(&portal), new_token)
        .await
        .expect("new token holds the role");
}

/// Sends one `POST /token` over a raw connection, so the raw headers can be checked (the
/// SDK's view is in `oidc_selftest`), and returns the status, the raw header block and the
/// parsed body.
fn post_token(portal: &Portal, body: &str) -> (u16, String, Value) {
    let addr = portal.url().trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&addr).expect("connect to portal");
    write!(
        stream,
        "POST /token HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let (head, body) = response.split_once("\r\n\r\n").expect("header/body split");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    (
        status,
        head.to_owned(),
        serde_json::from_str(body).expect("JSON body"),
    )
}

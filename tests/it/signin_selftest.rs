//! `aws login` refreshes through [`ssofresh::login::signin::SignIn`] against the local Sign-In
//! stand-in (every DPoP proof checked), the session file rewritten with
//! [`ssofresh::login::console`], and botocore's own login provider carrying on from it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use serde_json::Value;
use ssofresh::login::console::{self, Refreshed};
use ssofresh::login::dpop::generate_pem;
use ssofresh::login::portal::{CallPolicy, Endpoint, Route};
use ssofresh::login::signin::{RefreshError, Renewal, SignIn, renew};

use crate::common::signin::{SAME_DEVICE, login_cache_json};
use crate::common::{Portal, Reply, botocore_login};

const ARN: &str = "arn:aws:iam::012345678901:user/Admin";
const FIRST_TOKEN: &str = "ASOR-initial-7c1e";
/// A hard bound for a call that must end by its own timeout; not a timing assertion.
const BOUND: Duration = Duration::from_secs(60);

fn route() -> Route {
    Route {
        region: "us-east-1".to_owned(),
        ca_bundle: None,
    }
}

fn signin(portal: &Portal) -> SignIn {
    let endpoint = Endpoint::from_env("SIGNIN", |k| {
        (k == "AWS_ENDPOINT_URL_SIGNIN").then(|| portal.url())
    });
    SignIn::new(
        [route()],
        &endpoint,
        CallPolicy {
            backoff: Duration::from_millis(20),
            ..CallPolicy::default()
        },
    )
}

/// A login cache folder holding one session file as `aws login` writes it, its credentials
/// ending in `left`; the stand-in knows its refresh token and key.
fn cli_login(portal: &Portal, dir: &Path, sec1: bool, left: TimeDelta) -> std::path::PathBuf {
    let pem = generate_pem(sec1);
    portal.add_signin_session(FIRST_TOKEN, SAME_DEVICE, &pem);
    let path = console::session_path(dir, ARN);
    std::fs::write(
        &path,
        login_cache_json("ASIACLI", Utc::now() + left, FIRST_TOKEN, &pem),
    )
    .expect("write the session file");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("0600");
    path
}

async fn refresh_once(portal: &Portal, path: &Path) -> Result<Refreshed, RefreshError> {
    let session = console::read(path).expect("a session");
    let (client, route) = (signin(portal), route());
    tokio::time::timeout(BOUND, client.refresh(&route, &session, |_, _, _| {}))
        .await
        .expect("refresh ends by its own timeout")
}

/// For a SEC1 key (as the CLI writes) and a PKCS#8 key: ssofresh's refresh passes every proof
/// check, the rotated token and new credentials go back into the file (0600, other keys kept
/// in order), and botocore's own login provider then loads that file and refreshes again
/// through the stand-in with the rotated token: proof the write-back is what the SDKs expect.
#[tokio::test]
async fn refresh_write_back_then_botocore_carries_on() {
    for sec1 in [true, false] {
        let portal = Portal::start();
        // Short credentials, so botocore (5-minute threshold) refreshes after us.
        portal.set_signin_expires_in(120);
        let home = tempfile::tempdir().expect("home");
        let cache = home.path().join("login-cache");
        std::fs::create_dir(&cache).expect("cache dir");
        let path = cli_login(&portal, &cache, sec1, TimeDelta::minutes(3));
        let old = std::fs::read(&path).expect("old");
        let used = console::parse(&old).expect("parses").refresh_token;

        let new = refresh_once(&portal, &path).await.expect("refreshed");
        assert_eq!(portal.proof_failures(), Vec::<String>::new());
        let issued = portal.signin_refreshes();
        assert_eq!(issued.len(), 1);
        assert_eq!(new.refresh_token.expose(), issued[0].refresh_token);
        assert_eq!(new.access_key_id, issued[0].access_key_id);
        let wire = &portal.signin_requests()[0];
        let body: Value = serde_json::from_str(&wire.body).expect("JSON body");
        assert_eq!(
            body,
            serde_json::json!({"clientId": SAME_DEVICE, "grantType": "refresh_token", "refreshToken": FIRST_TOKEN})
        );
        assert!(wire.header("authorization").is_none(), "no SigV4");

        let contents = console::refreshed(&old, &new, Utc::now()).expect("new contents");
        assert!(console::write_if_unchanged(&path, &contents, &used).expect("written"));
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let after: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
        let keys: Vec<&str> = after
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "accessToken",
                "tokenType",
                "clientId",
                "refreshToken",
                "idToken",
                "dpopKey"
            ]
        );
        assert_eq!(after["accessToken"]["accountId"], "012345678901");

        let config = home.path().join("config");
        std::fs::write(
            &config,
            format!("[profile console]\nlogin_session = {ARN}\nregion = us-east-1\n"),
        )
        .expect("config");
        let seen = botocore_login(&config, &cache, &portal.url(), "console", None);
        assert_eq!(
            portal.proof_failures(),
            Vec::<String>::new(),
            "botocore's proofs"
        );
        let issued = portal.signin_refreshes();
        assert_eq!(issued.len(), 2, "botocore refreshed once more: {seen}");
        assert_eq!(issued[1].old_refresh_token, issued[0].refresh_token);
        assert_eq!(seen["access_key"], issued[1].access_key_id, "{seen}");
        assert_eq!(seen["method"], "login", "{seen}");
        let file = console::read(&path).expect("botocore's write parses");
        assert_eq!(file.refresh_token.expose(), issued[1].refresh_token);
    }
}

/// Each attempt carries its own proof: after a 500 and a 429 the third attempt succeeds, and
/// the stand-in (which refuses a reused `jti`) saw three distinct, valid proofs.
#[tokio::test]
async fn retries_make_new_proofs() {
    let portal = Portal::start();
    let dir = tempfile::tempdir().expect("dir");
    let path = cli_login(&portal, dir.path(), true, TimeDelta::minutes(3));
    portal.script_signin([Reply::Status(500), Reply::Status(429)]);
    refresh_once(&portal, &path).await.expect("third attempt");
    let proofs: Vec<String> = portal
        .signin_requests()
        .iter()
        .map(|r| r.header("dpop").expect("a proof").to_owned())
        .collect();
    assert_eq!(proofs.len(), 3);
    assert_ne!(proofs[0], proofs[1]);
    assert_ne!(proofs[1], proofs[2]);
    assert_eq!(portal.proof_failures(), Vec::<String>::new());
}

/// The service's verdicts land in their classes, once each, and none shows a secret: an
/// ended session (run `aws login`), a missing permission (another login will not help), a
/// spent refresh token (invalid grant), and a clock five minutes off (named from `Date`).
#[tokio::test]
async fn verdicts_and_clock_skew() {
    for (code, want) in [
        ("TOKEN_EXPIRED", "ended"),
        ("USER_CREDENTIALS_CHANGED", "ended"),
        ("INSUFFICIENT_PERMISSIONS", "perm"),
    ] {
        let portal = Portal::start();
        let dir = tempfile::tempdir().expect("dir");
        let path = cli_login(&portal, dir.path(), true, TimeDelta::minutes(3));
        portal.end_signin_sessions(code);
        let err = refresh_once(&portal, &path).await.expect_err(code);
        let class = match err {
            RefreshError::SessionEnded { .. } => "ended",
            RefreshError::NotPermitted { .. } => "perm",
            _ => "other",
        };
        assert_eq!(class, want, "{code}: {err}");
        assert_eq!(portal.signin_requests().len(), 1, "not retried");
        assert!(!err.to_string().contains(FIRST_TOKEN), "{err}");
    }
    // A refresh token already spent (someone else refreshed): invalid grant.
    let portal = Portal::start();
    let dir = tempfile::tempdir().expect("dir");
    let path = cli_login(&portal, dir.path(), true, TimeDelta::minutes(3));
    refresh_once(&portal, &path).await.expect("first");
    let err = refresh_once(&portal, &path).await.expect_err("spent token");
    assert!(matches!(err, RefreshError::InvalidGrant { .. }), "{err}");
    // The stand-in's clock five minutes ahead: proofs fail, and the error says why.
    let portal = Portal::start();
    let path = cli_login(&portal, dir.path(), true, TimeDelta::minutes(3));
    portal.set_signin_clock_offset(300);
    let err = refresh_once(&portal, &path).await.expect_err("skew");
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("clock is "), "{shown}");
    assert!(shown.contains("behind"), "{shown}");
    assert!(!shown.contains(FIRST_TOKEN), "{shown}");
}

/// [`ssofresh::login::signin::renew`] makes no call while the file holds credentials past
/// the threshold (another process refreshed), and refreshes once it does not.
#[tokio::test]
async fn renew_takes_fresh_credentials_without_a_call() {
    let portal = Portal::start();
    let dir = tempfile::tempdir().expect("dir");
    let path = cli_login(&portal, dir.path(), true, TimeDelta::minutes(12));
    let client = signin(&portal);
    let threshold = Utc::now() + TimeDelta::minutes(10);
    let got = renew(&client, &route(), &path, threshold, |_, _, _| {}).await;
    assert!(matches!(got, Renewal::Fresh(_)), "{got:?}");
    assert!(portal.signin_requests().is_empty());
    let later = Utc::now() + TimeDelta::minutes(13);
    let Renewal::Ready(ready) = renew(&client, &route(), &path, later, |_, _, _| {}).await else {
        panic!("a refresh");
    };
    assert!(console::write_if_unchanged(&ready.path, &ready.contents, &ready.used).expect("io"));
    let issued = portal.signin_refreshes();
    assert_eq!(ready.credentials.access_key_id, issued[0].access_key_id);
    let file = console::read(&path).expect("read");
    assert_eq!(file.refresh_token.expose(), issued[0].refresh_token);
}

/// Two refreshers on one session, ssofresh and botocore: botocore refreshes (and rotates the
/// token) while ssofresh's call is between attempts; ssofresh's next attempt, with the spent
/// token, is refused, it re-reads the file, sees botocore's token and stands back (no write);
/// its next renewal goes on from botocore's token. Nobody is signed out.
#[tokio::test]
async fn two_refreshers_never_sign_the_user_out() {
    let portal = Portal::start();
    portal.set_signin_expires_in(120);
    let home = tempfile::tempdir().expect("home");
    let cache = home.path().join("login-cache");
    std::fs::create_dir(&cache).expect("cache dir");
    let path = cli_login(&portal, &cache, true, TimeDelta::minutes(3));
    let config = home.path().join("config");
    std::fs::write(
        &config,
        format!("[profile console]\nlogin_session = {ARN}\nregion = us-east-1\n"),
    )
    .expect("config");
    portal.script_signin([Reply::Status(500)]);
    let client = signin(&portal);
    let threshold = Utc::now() + TimeDelta::minutes(10);
    let url = portal.url();
    let mut botocore_seen = None;
    let got = renew(&client, &route(), &path, threshold, |_, _, _| {
        // Between ssofresh's attempts: botocore refreshes the same session.
        botocore_seen = Some(botocore_login(&config, &cache, &url, "console", None));
    })
    .await;
    assert!(matches!(got, Renewal::Changed), "{got:?}");
    let issued = portal.signin_refreshes();
    assert_eq!(issued.len(), 1, "only botocore's refresh went through");
    let seen = botocore_seen.expect("botocore ran");
    assert_eq!(seen["access_key"], issued[0].access_key_id, "{seen}");
    let file = console::read(&path).expect("botocore's file");
    assert_eq!(
        file.refresh_token.expose(),
        issued[0].refresh_token,
        "not overwritten"
    );
    let Renewal::Ready(ready) = renew(&client, &route(), &path, threshold, |_, _, _| {}).await
    else {
        panic!("a refresh from botocore's token");
    };
    assert!(console::write_if_unchanged(&ready.path, &ready.contents, &ready.used).expect("io"));
    let issued = portal.signin_refreshes();
    assert_eq!(issued.len(), 2);
    assert_eq!(issued[1].old_refresh_token, issued[0].refresh_token);
    assert_eq!(portal.proof_failures(), Vec::<String>::new());
}

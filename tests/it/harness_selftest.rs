//! The harness itself: token file names, the binary's environment, and the hard timeout.

use std::process::Command;
use std::time::Duration;

use crate::common::{
    Portal, TestHome, cache_file_name, run, run_with_timeout, ssofresh, token_json,
};
use chrono::{TimeZone, Utc};

/// Token files are named by the lowercase hex SHA-1 of the session name or start URL, as the
/// AWS CLI names them (values computed with Python's hashlib).
#[test]
fn token_file_names_match_the_cli() {
    assert_eq!(
        cache_file_name("corp"),
        "ee0bfd2552fbd840c02cc48b6e823320543c450f.json"
    );
    assert_eq!(
        cache_file_name("https://d-1234567890.awsapps.com/start"),
        "7487b5b67d5fa1132cf33fa93ae51ef38cc37752.json"
    );
    let home = TestHome::new();
    let expires = Utc
        .with_ymd_and_hms(2030, 1, 2, 3, 4, 5)
        .single()
        .expect("valid date");
    let path = home.write_token("corp", token_json("tok", expires));
    assert!(path.ends_with(".aws/sso/cache/ee0bfd2552fbd840c02cc48b6e823320543c450f.json"));
    let token = home.read_token("corp");
    assert_eq!(token["accessToken"], "tok");
    assert_eq!(token["expiresAt"], "2030-01-02T03:04:05Z");
    for field in [
        "startUrl",
        "region",
        "clientId",
        "clientSecret",
        "registrationExpiresAt",
        "refreshToken",
    ] {
        assert!(token[field].is_string(), "{field} in {token}");
    }
}

/// The binary gets only PATH, HOME and the endpoint variables: nothing from the developer's
/// environment (profiles, keys, proxies) leaks in.
#[test]
fn binary_environment_is_cleared() {
    let home = TestHome::new();
    let portal = Portal::start();
    let cmd = ssofresh(&home, &portal);
    let mut names: Vec<String> = cmd
        .get_envs()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut expected = vec![
        "AWS_EC2_METADATA_DISABLED",
        "AWS_ENDPOINT_URL_SSO",
        "AWS_ENDPOINT_URL_SSO_OIDC",
        "HOME",
    ];
    if std::env::var_os("PATH").is_some() {
        expected.push("PATH");
    }
    assert_eq!(names, expected);
    assert_eq!(cmd.get_current_dir(), Some(home.path()));
}

/// `run` returns the exit code and both outputs.
#[test]
fn run_captures_output() {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
    let outcome = run(cmd);
    assert_eq!(outcome.status, 3);
    assert_eq!(outcome.stdout, "out\n");
    assert_eq!(outcome.stderr, "err\n");
}

/// A hung process is killed and fails the test instead of hanging it.
#[test]
#[should_panic(expected = "still running after")]
fn run_kills_a_hung_process() {
    let mut cmd = Command::new("sleep");
    cmd.arg("30");
    run_with_timeout(cmd, Duration::from_millis(200));
}

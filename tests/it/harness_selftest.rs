//! The harness itself: token file names, the binary's environment, the hard timeout, and the
//! daemon runner (output as it comes, signals, waits that fail fast, no stray process).

use std::process::Command;
use std::thread;
use std::time::Duration;

use crate::common::{
    Daemon, Portal, TestHome, cache_file_name, run, run_with_timeout, ssofresh, token_json,
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

/// A shell that traps SIGTERM: exits 0 saying "bye" on SIGTERM, 7 on SIGINT.
fn trapping_shell() -> Command {
    let mut cmd = Command::new("sh");
    cmd.args([
        "-c",
        "trap 'echo bye >&2; exit 0' TERM; trap 'exit 7' USR1; echo hello >&2; echo out; \
         while :; do sleep 0.05; done",
    ]);
    cmd
}

/// The daemon runner shows output as it comes, and `stop` returns the status and all output
/// after SIGTERM; `stop_with` sends the named signal.
#[test]
fn daemon_output_and_stop() {
    let d = Daemon::spawn(trapping_shell());
    d.wait_for("hello", Duration::from_secs(5), || {
        d.log().contains("hello")
    });
    assert_eq!(d.exited(), None);
    let out = d.stop();
    assert_eq!(out.status, 0, "{out}");
    assert_eq!(out.stderr, "hello\nbye\n");
    assert_eq!(out.stdout, "out\n");
    let d = Daemon::spawn(trapping_shell());
    d.wait_for("hello", Duration::from_secs(5), || {
        d.log().contains("hello")
    });
    // USR1, not INT: a shell that started `cargo test` in the background has SIGINT ignored,
    // and a shell cannot trap a signal ignored when it started.
    assert_eq!(d.stop_with("USR1").status, 7);
}

/// A wait fails at once, naming what it waited for, when the process has ended.
#[test]
#[should_panic(expected = "exited with status 3 while the test waited for Godot")]
fn daemon_wait_fails_when_the_process_ends() {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "exit 3"]);
    let d = Daemon::spawn(cmd);
    d.wait_for("Godot", Duration::from_secs(30), || false);
}

/// `stop` fails when the process had already ended: a daemon runs until signalled.
#[test]
#[should_panic(expected = "already exited with status 0")]
fn daemon_stop_fails_if_it_already_ended() {
    let d = Daemon::spawn(Command::new("true"));
    thread::sleep(Duration::from_millis(300));
    d.stop();
}

/// Dropping a running daemon kills it: no process outlives its test.
#[test]
fn daemon_drop_kills_the_process() {
    let mut cmd = Command::new("sleep");
    cmd.arg("30");
    let d = Daemon::spawn(cmd);
    let pid = d.pid().to_string();
    drop(d);
    let alive = Command::new("kill")
        .args(["-0", &pid])
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run kill");
    assert!(!alive.success(), "process {pid} survived the drop");
}

//! What ssofresh tells beyond the credentials file, through the real binary in a temporary
//! HOME against the local portal: `ssofresh status` (with a daemon and without), the
//! `--on-login-needed` command, systemd's notify socket (a Unix datagram socket in the test),
//! the pid file, the record of written sections across a restart, and `--once` renewing an
//! expired token with its refresh token.

use std::fs;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::common::{
    Daemon, Portal, TestHome, botocore_read, botocore_sso_token, run, ssofresh, token_json,
};

const START_URL: &str = "https://d-1234567890.awsapps.com/start";
const HOUR: Duration = Duration::from_secs(3600);
/// Generous bound for what the daemon does "within a second".
const SOON: Duration = Duration::from_secs(10);

/// `dev` (granted) and `prod` (not granted: 403) on `corp`; `conf`, granted on `corp`, aimed
/// at a section holding someone's long-term keys; `legacy`, a legacy login with no token.
fn config() -> String {
    format!(
        "[profile dev]\nsso_session = corp\nsso_account_id = 111111111111\nsso_role_name = Dev\n\n\
         [profile prod]\nsso_session = corp\nsso_account_id = 222222222222\nsso_role_name = Admin\n\n\
         [profile conf]\nsso_session = corp\nsso_account_id = 444444444444\nsso_role_name = Dev\n\n\
         [profile legacy]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n\
         sso_account_id = 333333333333\nsso_role_name = Admin\n\n\
         [sso-session corp]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n"
    )
}

const LONG_TERM: &str =
    "[conf]\naws_access_key_id = AKIAUSERSOWNKEY\naws_secret_access_key = users-own-secret\n";

fn in_minutes(m: i64) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::minutes(m)
}

/// HOME with [`config`], the long-term keys, a valid `corp` login and a portal granting `dev`
/// and `conf` to it.
fn setup() -> (TestHome, Portal) {
    let home = TestHome::new();
    home.write_config(&config());
    home.write_credentials(LONG_TERM);
    home.write_token("corp", token_json("tok-corp", in_minutes(480)));
    let portal = Portal::start();
    portal.grant("tok-corp", "111111111111", "Dev", HOUR);
    portal.grant("tok-corp", "444444444444", "Dev", HOUR);
    (home, portal)
}

/// `ssofresh status --json ARGS`: the exit status and the parsed JSON.
fn status(home: &TestHome, portal: &Portal, args: &[&str]) -> (i32, Value) {
    let mut cmd = ssofresh(home, portal);
    cmd.args(["status", "--json"]).args(args);
    let out = run(cmd);
    let json = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out}"));
    (out.status, json)
}

/// Each profile's state in a status answer, by name.
fn states(json: &Value) -> Vec<(String, String)> {
    json["profiles"]
        .as_array()
        .expect("profiles")
        .iter()
        .map(|p| {
            (
                p["profile"].as_str().unwrap_or_default().to_owned(),
                p["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn pair(name: &str, state: &str) -> (String, String) {
    (name.to_owned(), state.to_owned())
}

fn profile<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["profiles"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["profile"] == json!(name)))
        .unwrap_or_else(|| panic!("no {name} in {json}"))
}

/// The instance lock file of the test HOME's credentials file.
fn pid_file(home: &TestHome) -> PathBuf {
    home.aws_dir().join(".credentials.ssofresh.pid")
}

/// `status --json` against a running daemon: it is found with its pid and start time, the
/// view is the daemon's, and the profiles reach `fresh`, `no_access`, `conflict` and
/// `needs_login` (with the exact command as the fix); exit status 2, as the user must act.
/// It answers quickly (the time is printed, not judged). After SIGTERM the pid file is gone
/// and status says no daemon runs.
#[test]
fn status_with_a_running_daemon() {
    let (home, portal) = setup();
    let d = Daemon::spawn(ssofresh(&home, &portal));
    let want = [
        pair("dev", "fresh"),
        pair("prod", "no_access"),
        pair("conf", "conflict"),
        pair("legacy", "needs_login"),
    ];
    let mut last = Value::Null;
    d.wait_for("every profile in its state", SOON, || {
        last = status(&home, &portal, &[]).1;
        states(&last) == want
    });
    let started = Instant::now();
    let (code, json) = status(&home, &portal, &[]);
    eprintln!(
        "status --json with a daemon answered in {:?}",
        started.elapsed()
    );
    assert_eq!(code, 2, "{json}");
    assert_eq!(json["source"], json!("daemon"), "{json}");
    assert_eq!(json["daemon"]["running"], json!(true));
    assert_eq!(json["daemon"]["pid"], json!(d.pid()));
    assert!(
        json["daemon"]["since"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z')),
        "{json}"
    );
    let dev = profile(&json, "dev");
    assert_eq!(dev["login"], json!("corp"));
    assert_eq!(dev["section"], json!("dev"));
    for key in [
        "credentials_expire_at",
        "login_expires_at",
        "next_action_at",
    ] {
        let t = dev[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} in {dev}"));
        DateTime::parse_from_rfc3339(t).unwrap_or_else(|e| panic!("{key} {t}: {e}"));
    }
    assert_eq!(dev["message"], Value::Null);
    let legacy = profile(&json, "legacy");
    assert_eq!(
        legacy["fix"],
        json!("aws sso login --profile legacy"),
        "{legacy}"
    );
    assert!(
        profile(&json, "conf")["message"]
            .as_str()
            .is_some_and(|m| m.contains("long-term"))
    );
    // The table, without a terminal: no colour codes.
    let mut cmd = ssofresh(&home, &portal);
    cmd.arg("status");
    let table = run(cmd);
    assert_eq!(table.status, 2, "{table}");
    assert!(
        table
            .stdout
            .contains(&format!("daemon: running (pid {})", d.pid())),
        "{table}"
    );
    assert!(table.stdout.contains("PROFILE"), "{table}");
    assert!(
        table
            .stdout
            .contains("  fix: aws sso login --profile legacy"),
        "{table}"
    );
    assert!(!table.stdout.contains('\x1b'), "{table}");

    let out = d.stop();
    assert_eq!(out.status, 0, "{out}");
    assert!(
        !pid_file(&home).exists(),
        "the pid file is removed on a clean stop"
    );
    let (_, json) = status(&home, &portal, &[]);
    assert_eq!(json["daemon"]["running"], json!(false), "{json}");
    assert_eq!(json["source"], json!("files"), "{json}");
}

/// Without a daemon, status works the view out from the files and says so: a profile whose
/// section `--once` wrote is `fresh` (exit 0 when only it is chosen); a login that is missing
/// is `needs_login` (exit 2); with no credentials written yet, `error` (exit 1).
#[test]
fn status_without_a_daemon() {
    let (home, portal) = setup();
    let (code, json) = status(&home, &portal, &["--profile", "dev"]);
    assert_eq!(code, 1, "{json}");
    assert_eq!(states(&json), [pair("dev", "error")]);
    let mut once = ssofresh(&home, &portal);
    once.args(["--once", "--profile", "dev"]);
    run(once).assert_success();
    let (code, json) = status(&home, &portal, &["--profile", "dev"]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["source"], json!("files"));
    assert_eq!(
        json["daemon"],
        json!({"running": false, "pid": null, "since": null})
    );
    assert_eq!(states(&json), [pair("dev", "fresh")]);
    assert!(
        profile(&json, "dev")["credentials_expire_at"].is_string(),
        "{json}"
    );
    let (code, json) = status(&home, &portal, &[]);
    assert_eq!(code, 2, "{json}");
    assert_eq!(
        profile(&json, "legacy")["fix"],
        json!("aws sso login --profile legacy")
    );
    assert!(!pid_file(&home).exists(), "status creates nothing");
}

/// The `--on-login-needed` command runs once, with the facts in its environment, when a
/// legacy login comes within `--notify-before` of its end; not again on the next passes (a
/// SIGHUP reload, a rescan).
#[test]
fn login_needed_hook_runs_once() {
    let home = TestHome::new();
    home.write_config(&format!(
        "[profile legacy]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n\
         sso_account_id = 333333333333\nsso_role_name = Admin\n"
    ));
    let ends = in_minutes(10);
    home.write_token(START_URL, token_json("tok-legacy", ends));
    let portal = Portal::start();
    portal.grant("tok-legacy", "333333333333", "Admin", HOUR);
    let record = home.path().join("hook.log");
    let hook = format!(
        "printf '%s|%s|%s|%s\\n' \"$SSOFRESH_PROFILES\" \"$SSOFRESH_LOGIN\" \
         \"$SSOFRESH_EXPIRES_AT\" \"$SSOFRESH_FIX\" >> '{}'",
        record.display()
    );
    let mut cmd = ssofresh(&home, &portal);
    cmd.args([
        "--notify-before",
        "15m",
        "--on-login-needed",
        &hook,
        "--no-notify",
    ]);
    let d = Daemon::spawn(cmd);
    let lines = || {
        fs::read_to_string(&record)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    d.wait_for("the hook to run", SOON, || !lines().is_empty());
    d.signal("HUP");
    d.stays_up(Duration::from_secs(2));
    let expires = ends.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    assert_eq!(
        lines(),
        [format!(
            "legacy|{START_URL}|{expires}|aws sso login --profile legacy"
        )],
        "once, with the right environment\n{}",
        d.log()
    );
    let log = d.log();
    assert_eq!(
        log.matches("aws sso login --profile legacy").count(),
        1,
        "one log line for the coming end, none added by the notice\n{log}"
    );
    d.stop();
}

/// Reads datagrams from `socket` into `got` until one has a line for which `want` holds;
/// panics, naming `what`, after `limit`.
fn receive_until(
    socket: &UnixDatagram,
    got: &mut Vec<String>,
    what: &str,
    want: impl Fn(&str) -> bool,
) {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        if got.iter().any(|m| m.lines().any(&want)) {
            return;
        }
        assert!(
            start.elapsed() < SOON,
            "no {what} within {SOON:?}; got {got:?}"
        );
        if let Ok(n) = socket.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
}

/// Under systemd (`NOTIFY_SOCKET` set): `READY=1` with a `STATUS=` line once the config and
/// the logins are read, a `STATUS=` line counting the fresh profile and naming the login that
/// needs the user, `RELOADING=1` with `MONOTONIC_USEC` then `READY=1` around a SIGHUP, and
/// `STOPPING=1` at SIGTERM, after which the pid file is gone.
#[test]
fn systemd_notify_socket() {
    let (home, portal) = setup();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind");
    socket
        .set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let mut cmd = ssofresh(&home, &portal);
    cmd.env("NOTIFY_SOCKET", &path);
    let d = Daemon::spawn(cmd);
    let mut got = Vec::new();
    receive_until(&socket, &mut got, "READY=1", |l| l == "READY=1");
    let ready = got.iter().find(|m| m.contains("READY=1")).expect("seen");
    assert!(ready.lines().any(|l| l.starts_with("STATUS=")), "{got:?}");
    receive_until(&socket, &mut got, "a status with dev fresh", |l| {
        l.starts_with("STATUS=1 profile fresh, next renewal ")
            && l.contains(&format!("{START_URL} needs login"))
    });
    d.signal("HUP");
    got.clear();
    receive_until(&socket, &mut got, "RELOADING=1", |l| l == "RELOADING=1");
    let reloading = got
        .iter()
        .find(|m| m.contains("RELOADING=1"))
        .expect("seen");
    assert!(reloading.contains("MONOTONIC_USEC="), "{reloading}");
    receive_until(&socket, &mut got, "READY=1 after the reload", |l| {
        l == "READY=1"
    });
    let out = d.stop();
    assert_eq!(out.status, 0, "{out}");
    receive_until(&socket, &mut got, "STOPPING=1", |l| l == "STOPPING=1");
    assert!(
        !pid_file(&home).exists(),
        "the pid file is removed on a clean stop"
    );
}

/// `--once` with an expired access token and a live refresh token renews the token through
/// SSO OIDC (as the daemon does), writes it back to the cache where botocore reads it, and
/// writes the credentials with the new token.
#[test]
fn once_renews_an_expired_token() {
    let home = TestHome::new();
    home.write_config(&config());
    home.write_token("corp", token_json("tok-corp", in_minutes(-5)));
    let portal = Portal::start();
    portal.add_refresh_token("refresh-tok-corp", "tok-corp");
    portal.grant("tok-corp", "111111111111", "Dev", HOUR);
    let mut cmd = ssofresh(&home, &portal);
    cmd.args(["--once", "--profile", "dev"]);
    let out = run(cmd);
    out.assert_success();
    let refreshed = portal.refreshed();
    assert_eq!(refreshed.len(), 1, "{out}");
    let loaded = botocore_sso_token(&home.cache_dir(), "corp", START_URL, "us-east-1");
    assert_eq!(
        loaded["token"],
        json!(refreshed[0].access_token),
        "{loaded}"
    );
    let sent = portal.tokens_sent();
    assert!(
        !sent.contains(&"tok-corp".to_owned()),
        "expired token sent: {sent:?}"
    );
    let creds = botocore_read(&home.credentials_path(), &["dev"]);
    assert!(creds.to_string().contains("ASIA"), "{creds}");
}

/// The sections a daemon wrote are remembered across a restart: logging out while no daemon
/// runs, then starting one, removes them; the user's own section stays.
#[test]
fn logout_after_a_restart_removes_the_sections() {
    let (home, portal) = setup();
    let d = Daemon::spawn(ssofresh(&home, &portal));
    d.wait_for("dev written", SOON, || {
        fs::read_to_string(home.credentials_path()).is_ok_and(|t| t.contains("[dev]"))
    });
    d.stop();
    fs::remove_file(home.token_path("corp")).expect("logout");
    let d = Daemon::spawn(ssofresh(&home, &portal));
    d.wait_for("[dev] removed", SOON, || {
        fs::read_to_string(home.credentials_path()).is_ok_and(|t| !t.contains("[dev]"))
    });
    assert!(
        home.read_credentials().contains(LONG_TERM),
        "{}",
        home.read_credentials()
    );
    d.stop();
}

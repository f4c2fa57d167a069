//! `aws login` sessions through the real binary, as users run it: a temporary HOME whose
//! config holds a `login_session` profile (`console`) beside an SSO profile (`dev`), a session
//! file laid out exactly as the AWS CLI writes it (SEC1 key, or PKCS#8), and the local Sign-In
//! stand-in, which checks every DPoP proof and rotates refresh tokens. `--once` and the daemon
//! are judged by botocore and the JavaScript SDK v2 reading the credentials file, and by
//! botocore's own login provider carrying on from the session file ssofresh rewrote: after
//! ssofresh has stopped, the AWS CLI keeps working on that profile.
//!
//! Deadlines are generous bounds for a broken daemon; nothing here measures a working one.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use serde_json::{Value, json};
use ssofresh::login::console;
use ssofresh::login::dpop::generate_pem;

use crate::common::signin::{SAME_DEVICE, SignInRefresh, login_cache_json};
use crate::common::{
    Daemon, Outcome, Portal, Reply, TestHome, botocore_login, botocore_read, js_v2_read, run,
    ssofresh, token_json,
};

/// The console identity `aws login` signed in as (the profile's `login_session`).
const ARN: &str = "arn:aws:iam::012345678901:user/Admin";
/// The refresh token of the first `aws login`.
const FIRST_TOKEN: &str = "ASOR-initial-ltests-5d2a9c";
/// The `aws login` profile.
const CONSOLE: &str = "console";
const START_URL: &str = "https://d-1234567890.awsapps.com/start";
/// Credentials the session file holds as `aws login` left it (see [`login_cache_json`]).
const CLI_KEY: &str = "ASIACLI";
const CLI_SECRET: &str = "cli-secret";
const CLI_SESSION: &str = "cli-session";
/// Generous bound for what the daemon does "within a second".
const SOON: Duration = Duration::from_secs(10);
/// Long enough to see calls that should not be made, or a second line that should not come.
const WINDOW: Duration = Duration::from_secs(3);

/// The user's own bytes in the credentials file: a comment and long-term keys.
const MINE: &str = "# my own keys: keep them\n[personal]\naws_access_key_id = AKIAPERSONAL\n\
    aws_secret_access_key = keep/me\n\n";

/// `console` (an `aws login` profile) if `with_console`, and `dev` (SSO, login `corp`).
fn config(with_console: bool) -> String {
    let sso = format!(
        "[profile dev]\nsso_session = corp\nsso_account_id = 111111111111\nsso_role_name = Dev\n\n\
         [sso-session corp]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n"
    );
    if with_console {
        format!("[profile {CONSOLE}]\nlogin_session = {ARN}\nregion = us-east-1\n\n{sso}")
    } else {
        sso
    }
}

/// HOME with [`config`] (both profiles), [`MINE`] in the credentials file and a valid `corp`
/// SSO login; a stand-in granting `dev` for an hour. No `aws login` yet.
fn setup() -> (TestHome, Portal) {
    let home = TestHome::new();
    home.write_config(&config(true));
    home.write_credentials(MINE);
    home.write_token(
        "corp",
        token_json("tok-corp", Utc::now() + TimeDelta::hours(8)),
    );
    let portal = Portal::start();
    portal.grant("tok-corp", "111111111111", "Dev", Duration::from_secs(3600));
    (home, portal)
}

/// `~/.aws/login/cache`.
fn login_dir(home: &TestHome) -> PathBuf {
    home.aws_dir().join("login").join("cache")
}

/// The session file of [`ARN`]: `<sha256(ARN)>.json` in [`login_dir`].
fn session_path(home: &TestHome) -> PathBuf {
    console::session_path(&login_dir(home), ARN)
}

/// Signs in as `aws login` does: the stand-in learns a session (refresh token `token`, a new
/// P-256 key, SEC1 as the CLI writes it or PKCS#8) and its file lands in the login cache,
/// written under a temporary name (0600) and renamed into place, its credentials ending
/// `left` from now. Returns the key's PEM.
fn aws_login(home: &TestHome, portal: &Portal, token: &str, sec1: bool, left: TimeDelta) -> String {
    aws_login_in(&login_dir(home), portal, CLI_KEY, token, sec1, left)
}

/// [`aws_login`] into the login cache `dir`, the file holding access key id `key`.
fn aws_login_in(
    dir: &Path,
    portal: &Portal,
    key: &str,
    token: &str,
    sec1: bool,
    left: TimeDelta,
) -> String {
    let pem = generate_pem(sec1);
    portal.add_signin_session(token, SAME_DEVICE, &pem);
    fs::create_dir_all(dir).expect("mkdir -p the login cache");
    let tmp = dir.join(".login-in-progress.tmp");
    fs::write(&tmp, login_cache_json(key, Utc::now() + left, token, &pem))
        .expect("write the session file");
    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).expect("chmod 0600");
    fs::rename(&tmp, console::session_path(dir, ARN)).expect("rename into place");
    pem
}

/// The binary with Sign-In (as well as SSO and SSO OIDC) pointed at the stand-in.
fn command(home: &TestHome, portal: &Portal) -> Command {
    let mut cmd = ssofresh(home, portal);
    cmd.env("AWS_ENDPOINT_URL_SIGNIN", portal.url());
    cmd
}

/// `ssofresh --once`.
fn once(home: &TestHome, portal: &Portal) -> Outcome {
    once_with(home, portal, &[])
}

/// `ssofresh --once ARGS`.
fn once_with(home: &TestHome, portal: &Portal, args: &[&str]) -> Outcome {
    let mut cmd = command(home, portal);
    cmd.arg("--once").args(args);
    run(cmd)
}

/// `ssofresh ARGS` running as a daemon.
fn daemon(home: &TestHome, portal: &Portal, args: &[&str]) -> Daemon {
    let mut cmd = command(home, portal);
    cmd.args(args);
    Daemon::spawn(cmd)
}

/// A fresh `aws login` (14 minutes left) and the daemon, once it has written `[console]`
/// (from the session file, no call) and `[dev]`.
fn serving_both(home: &TestHome, portal: &Portal) -> Daemon {
    aws_login(home, portal, FIRST_TOKEN, true, TimeDelta::minutes(14));
    let d = daemon(home, portal, &[]);
    d.wait_for("[console] and [dev] written", SOON, || {
        let text = credentials(home);
        holds_key(&text, CLI_KEY) && has_section(&text, "dev")
    });
    d
}

/// The credentials file, or "" while there is none.
fn credentials(home: &TestHome) -> String {
    fs::read_to_string(home.credentials_path()).unwrap_or_default()
}

/// True if `text` has a `[name]` section header.
fn has_section(text: &str, name: &str) -> bool {
    text.lines().any(|l| l.trim() == format!("[{name}]"))
}

/// True if `text` holds the access key id `key` (each test's keys are unique to a section).
fn holds_key(text: &str, key: &str) -> bool {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .any(|(k, v)| k.trim() == "aws_access_key_id" && v.trim() == key)
}

/// Both readers (botocore, the JavaScript SDK v2) get exactly `(key, secret, token)` for the
/// `console` profile from the credentials file.
#[track_caller]
fn assert_readers_see(home: &TestHome, key: &str, secret: &str, token: &str) {
    let want = json!({"access_key": key, "secret_key": secret, "token": token});
    for (reader, seen) in [
        (
            "botocore",
            botocore_read(&home.credentials_path(), &[CONSOLE]),
        ),
        (
            "JS SDK v2",
            js_v2_read(&home.credentials_path(), &[CONSOLE]),
        ),
    ] {
        let got = &seen[CONSOLE];
        for field in ["access_key", "secret_key", "token"] {
            assert_eq!(got[field], want[field], "{reader} read {seen}");
        }
    }
}

/// The session file as JSON.
fn session_json(home: &TestHome) -> Value {
    let bytes = fs::read(session_path(home)).expect("read the session file");
    serde_json::from_slice(&bytes).expect("the session file is JSON")
}

/// The one refresh the stand-in made, with no proof refused.
#[track_caller]
fn one_refresh(portal: &Portal) -> SignInRefresh {
    assert_eq!(portal.proof_failures(), Vec::<String>::new());
    let issued = portal.signin_refreshes();
    assert_eq!(issued.len(), 1, "{issued:?}");
    issued[0].clone()
}

/// The session file holds refresh token `token` (`why` says what that shows).
#[track_caller]
fn assert_session_token(home: &TestHome, token: &str, why: &str) {
    let file = console::read(&session_path(home)).expect("the session file parses");
    assert_eq!(file.refresh_token.expose(), token, "{why}");
}

/// botocore's own chain (as the AWS CLI) for `console`, with this HOME's config, login cache
/// and credentials file: it must resolve through the login provider, refreshing through the
/// stand-in once more from the token `after` (the rotated one ssofresh saved).
#[track_caller]
fn assert_cli_carries_on(home: &TestHome, portal: &Portal, after: &str) {
    let seen = botocore_login(
        &home.config_path(),
        &login_dir(home),
        &portal.url(),
        CONSOLE,
        Some(&home.credentials_path()),
    );
    assert_eq!(
        portal.proof_failures(),
        Vec::<String>::new(),
        "botocore's proofs"
    );
    let issued = portal.signin_refreshes();
    let last = issued.last().expect("a refresh");
    assert_eq!(last.old_refresh_token, after, "botocore refreshed: {seen}");
    assert_eq!(seen["method"], "login", "{seen}");
    assert_eq!(seen["access_key"], json!(last.access_key_id), "{seen}");
    let file = console::read(&session_path(home)).expect("botocore's write parses");
    assert_eq!(file.refresh_token.expose(), last.refresh_token);
}

/// `--once` with a fresh session, laid out as `aws login` writes it (SEC1 key): exit 0, its
/// credentials written to `[console]` and read by botocore and the JavaScript SDK v2, the
/// user's bytes kept, no Sign-In call, and stderr saying that the section is read by the AWS
/// CLI before its own session and until when it holds.
#[test]
fn once_writes_a_fresh_session() {
    let (home, portal) = setup();
    aws_login(&home, &portal, FIRST_TOKEN, true, TimeDelta::minutes(14));
    let before = fs::read(session_path(&home)).expect("session");
    let out = once(&home, &portal);
    out.assert_success();
    let text = credentials(&home);
    assert!(text.starts_with(MINE), "{text}");
    assert!(holds_key(&text, CLI_KEY), "{text}");
    assert_readers_see(&home, CLI_KEY, CLI_SECRET, CLI_SESSION);
    assert!(portal.signin_requests().is_empty(), "no Sign-In call");
    assert_eq!(
        fs::read(session_path(&home)).expect("session"),
        before,
        "the session file is left as it was"
    );
    assert!(
        out.stderr
            .contains("[console] holds credentials from `aws login`, valid until"),
        "{out}"
    );
}

/// `--once` with 3 minutes left, for a SEC1 and a PKCS#8 key: one refresh through the
/// stand-in, no proof refused; the session file rewritten 0600 with the rotated refresh
/// token and the new credentials, every other field kept in order; `[console]` holds the new
/// credentials (both readers agree). Then botocore's own login provider loads that file and
/// refreshes again with the rotated token: ssofresh saved it as the SDKs expect.
#[test]
fn once_refreshes_a_session_due() {
    for sec1 in [true, false] {
        let (home, portal) = setup();
        // Short credentials, so that botocore (5-minute threshold) refreshes after ssofresh.
        portal.set_signin_expires_in(120);
        let pem = aws_login(&home, &portal, FIRST_TOKEN, sec1, TimeDelta::minutes(3));
        let old = session_json(&home);
        let out = once(&home, &portal);
        out.assert_success();
        let issued = one_refresh(&portal);
        assert_eq!(issued.old_refresh_token, FIRST_TOKEN);

        let mode = fs::metadata(session_path(&home))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "sec1 {sec1}");
        let new = session_json(&home);
        let keys =
            |v: &Value| -> Vec<String> { v.as_object().expect("object").keys().cloned().collect() };
        assert_eq!(keys(&new), keys(&old), "fields kept in order");
        assert_eq!(keys(&new["accessToken"]), keys(&old["accessToken"]));
        for field in ["tokenType", "clientId", "idToken", "dpopKey"] {
            assert_eq!(new[field], old[field], "{field} kept");
        }
        assert_eq!(new["dpopKey"], json!(pem));
        assert_eq!(
            new["accessToken"]["accountId"],
            old["accessToken"]["accountId"]
        );
        assert_eq!(new["refreshToken"], json!(issued.refresh_token), "rotated");
        assert_eq!(
            new["accessToken"]["accessKeyId"],
            json!(issued.access_key_id)
        );
        assert_eq!(
            new["accessToken"]["secretAccessKey"],
            json!(issued.secret_access_key)
        );
        assert_eq!(
            new["accessToken"]["sessionToken"],
            json!(issued.session_token)
        );

        let text = credentials(&home);
        assert!(text.starts_with(MINE), "{text}");
        assert!(!holds_key(&text, CLI_KEY), "{text}");
        assert_readers_see(
            &home,
            &issued.access_key_id,
            &issued.secret_access_key,
            &issued.session_token,
        );
        assert!(out.stderr.contains("credentials from `aws login`"), "{out}");

        // The AWS CLI without ssofresh's section: its own provider, from ssofresh's write.
        fs::write(home.credentials_path(), MINE).expect("take the section out");
        assert_cli_carries_on(&home, &portal, &issued.refresh_token);
    }
}

/// `--refresh-margin` is clamped for sessions to [6 min, 12 min]: with `1m`, a session with
/// 5 minutes left is still refreshed before the SDKs' own 5-minute threshold; with `30m`, one
/// with 13 minutes left is not (every refresh would otherwise be due at once).
#[test]
fn once_clamps_the_margin() {
    for (margin, left, calls) in [("1m", 5, 1), ("30m", 13, 0)] {
        let (home, portal) = setup();
        aws_login(&home, &portal, FIRST_TOKEN, true, TimeDelta::minutes(left));
        let out = once_with(&home, &portal, &["--refresh-margin", margin]);
        out.assert_success();
        assert_eq!(
            portal.signin_refreshes().len(),
            calls,
            "--refresh-margin {margin}, {left} min left\n{out}"
        );
        assert_eq!(portal.proof_failures(), Vec::<String>::new());
    }
}

/// `AWS_LOGIN_CACHE_DIRECTORY` moves the login cache, as for the SDKs: the session is found
/// there (and refreshed there, rotated in place), not in `~/.aws/login/cache`. A profile that
/// mixes `login_session` with SSO settings is reported by name with what to do, exit 2, and
/// the others are still written.
#[test]
fn once_login_cache_directory_and_mixed_profile() {
    let (home, portal) = setup();
    let mut config = config(true);
    config.push_str(&format!(
        "\n[profile mixed]\nlogin_session = {ARN}\nsso_session = corp\n\
         sso_account_id = 111111111111\nsso_role_name = Dev\n"
    ));
    home.write_config(&config);
    let dir = home.path().join("elsewhere");
    aws_login_in(
        &dir,
        &portal,
        CLI_KEY,
        FIRST_TOKEN,
        true,
        TimeDelta::minutes(3),
    );
    let mut cmd = command(&home, &portal);
    cmd.arg("--once").env("AWS_LOGIN_CACHE_DIRECTORY", &dir);
    let out = run(cmd);
    out.assert_status(2);
    assert!(
        out.stderr.contains("mixed") && out.stderr.contains("keep one kind"),
        "{out}"
    );
    let issued = one_refresh(&portal);
    let file = console::read(&console::session_path(&dir, ARN)).expect("session");
    assert_eq!(file.refresh_token.expose(), issued.refresh_token);
    assert!(!login_dir(&home).exists(), "nothing in ~/.aws/login/cache");
    let text = credentials(&home);
    assert!(holds_key(&text, &issued.access_key_id), "{text}");
    assert!(
        has_section(&text, "dev") && !has_section(&text, "mixed"),
        "{text}"
    );
}

/// `--once` when Sign-In says the session has ended (`TOKEN_EXPIRED`): one call, and the user
/// is told once to run `aws login --profile console`, exit 2 (only the user can renew it);
/// the credentials in hand are written while they last (3 minutes), and the report says so,
/// not once they have ended. For `INSUFFICIENT_PERMISSIONS`: said once that another `aws login` will not help,
/// the credentials in hand written, exit 0.
#[test]
fn once_session_ended_or_not_permitted() {
    for (code, left, status, said, written) in [
        ("TOKEN_EXPIRED", 3, 2, "aws login --profile console", true),
        ("TOKEN_EXPIRED", -1, 2, "aws login --profile console", false),
        ("INSUFFICIENT_PERMISSIONS", 3, 0, "will not help", true),
    ] {
        let (home, portal) = setup();
        portal.end_signin_sessions(code);
        aws_login(&home, &portal, FIRST_TOKEN, true, TimeDelta::minutes(left));
        let out = once(&home, &portal);
        out.assert_status(status);
        assert_eq!(portal.signin_requests().len(), 1, "{out}");
        assert_eq!(
            out.stderr.matches(said).count(),
            1,
            "{code}: said once\n{out}"
        );
        assert_eq!(
            holds_key(&credentials(&home), CLI_KEY),
            written,
            "written while they last\n{out}"
        );
        if written && status == 2 {
            assert!(
                out.stderr.contains("console: written, but") && !out.stderr.contains("not written"),
                "the report says it was written, and why the user is needed\n{out}"
            );
        }
    }
}

/// A session file that is not one (JSON of another shape) or is cut short: `--once` names
/// the file and says once to run `aws login --profile console`, exit 2; `[dev]` is still
/// written and no call is made.
#[test]
fn once_broken_session_files() {
    for content in [
        "{\"startUrl\": \"https://x\"}",
        "{\"accessToken\": {\"accessKeyId\"",
    ] {
        let (home, portal) = setup();
        fs::create_dir_all(login_dir(&home)).expect("mkdir");
        fs::write(session_path(&home), content).expect("write");
        let out = once(&home, &portal);
        out.assert_status(2);
        let path = session_path(&home).display().to_string();
        assert!(out.stderr.contains(&path), "{content}\n{out}");
        assert_eq!(
            out.stderr.matches("run `aws login").count(),
            1,
            "the command said once: {content}\n{out}"
        );
        assert!(
            out.stderr.contains("run `aws login --profile console`"),
            "{out}"
        );
        assert!(has_section(&credentials(&home), "dev"), "{out}");
        assert!(portal.signin_requests().is_empty(), "{out}");
    }
}

/// The daemon: an `aws login` that lands after it started (the file renamed into place, its
/// folder created by the login) becomes `[console]` without a Sign-In call, and so does a
/// second `aws login` replacing it; `aws logout` (the
/// file deleted) takes the section back, leaving the file byte for byte as before the login.
#[test]
fn daemon_login_lands_then_logout() {
    let (home, portal) = setup();
    let d = daemon(&home, &portal, &[]);
    d.wait_for("[dev] written", SOON, || {
        has_section(&credentials(&home), "dev")
    });
    let before = credentials(&home);
    assert!(!login_dir(&home).exists(), "no `aws login` yet");
    let watched = format!(
        "watching {}, {}",
        home.cache_dir().display(),
        login_dir(&home).display()
    );
    assert!(
        d.log().contains(&watched),
        "the login cache named\n{}",
        d.log()
    );
    aws_login(&home, &portal, FIRST_TOKEN, true, TimeDelta::minutes(14));
    d.wait_for("[console] written", SOON, || {
        holds_key(&credentials(&home), CLI_KEY)
    });
    assert_readers_see(&home, CLI_KEY, CLI_SECRET, CLI_SESSION);
    // A second `aws login` (new token, key and credentials) replaces the first.
    aws_login_in(
        &login_dir(&home),
        &portal,
        "ASIACLISECOND",
        "ASOR-second-login",
        true,
        TimeDelta::minutes(14),
    );
    d.wait_for("the second login's credentials written", SOON, || {
        holds_key(&credentials(&home), "ASIACLISECOND")
    });
    assert!(portal.signin_requests().is_empty(), "no Sign-In call");
    fs::remove_file(session_path(&home)).expect("aws logout");
    d.wait_for("[console] removed", SOON, || {
        !has_section(&credentials(&home), CONSOLE)
    });
    assert_eq!(credentials(&home), before, "every other byte kept");
    d.stop().assert_success();
}

/// The `aws login` profile taken out of the config while the daemon runs: `[console]` is
/// taken back (nothing renews it now, and the AWS CLI would read it first), `[dev]` and the
/// user's bytes stay, and the daemon carries on.
#[test]
fn daemon_profile_removed_from_config() {
    let (home, portal) = setup();
    let d = serving_both(&home, &portal);
    home.write_config(&config(false));
    d.wait_for("[console] removed", SOON, || {
        !has_section(&credentials(&home), CONSOLE)
    });
    let text = credentials(&home);
    assert!(
        text.starts_with(MINE) && has_section(&text, "dev"),
        "{text}"
    );
    assert!(d.log().contains("no selected profile uses"), "{}", d.log());
    d.stop().assert_success();
}

/// `[console]` already holds the user's long-term keys: the daemon refuses to write over
/// them (said, naming the section), and neither the refusal, a refresh nor the clean stop
/// that takes `aws login` sections back touches them: the file ends byte for byte as it began.
#[test]
fn long_term_keys_in_the_section_survive() {
    let (home, portal) = setup();
    let mine = format!(
        "{MINE}[console]\naws_access_key_id = AKIALONGTERM\naws_secret_access_key = mine/too\n"
    );
    home.write_credentials(&mine);
    aws_login(&home, &portal, FIRST_TOKEN, true, TimeDelta::minutes(3));
    let d = daemon(&home, &portal, &["-p", "console"]);
    d.wait_for("the refusal said", SOON, || {
        d.log().contains("not written to [console]")
    });
    let issued = one_refresh(&portal);
    assert_session_token(&home, &issued.refresh_token, "rotated");
    d.stays_up(WINDOW);
    let out = d.stop();
    out.assert_success();
    assert_eq!(credentials(&home), mine, "{out}");
}

/// The daemon with a session due at once: one refresh (proofs valid), the session file
/// rotated, `[console]` updated. SIGTERM: `[console]` is removed (said in the log), `[dev]`
/// and the user's bytes stay, exit 0. Afterwards botocore (`Session(profile=console)`, the
/// AWS CLI's chain, with this credentials file) resolves through its login provider and
/// refreshes through the stand-in: the CLI keeps working on that profile after ssofresh stopped.
#[test]
fn daemon_refreshes_then_hands_back_on_stop() {
    let (home, portal) = setup();
    portal.set_signin_expires_in(120);
    aws_login(&home, &portal, FIRST_TOKEN, true, TimeDelta::minutes(3));
    let d = daemon(&home, &portal, &[]);
    d.wait_for("the refresh written", SOON, || {
        let text = credentials(&home);
        has_section(&text, "dev")
            && portal
                .signin_refreshes()
                .first()
                .is_some_and(|r| holds_key(&text, &r.access_key_id))
    });
    let issued = one_refresh(&portal);
    assert_session_token(&home, &issued.refresh_token, "rotated");
    assert_readers_see(
        &home,
        &issued.access_key_id,
        &issued.secret_access_key,
        &issued.session_token,
    );
    let out = d.stop();
    out.assert_success();
    assert!(
        out.stderr
            .contains("removing [console] (from `aws login` sessions)"),
        "{out}"
    );
    let text = credentials(&home);
    assert!(!has_section(&text, CONSOLE), "{text}");
    assert!(has_section(&text, "dev"), "{text}");
    assert!(text.starts_with(MINE), "{text}");
    assert_eq!(
        portal.signin_refreshes().len(),
        1,
        "no refresh on the way out"
    );
    assert_cli_carries_on(&home, &portal, &issued.refresh_token);
}

/// Two refreshers on one session, the daemon and botocore: the daemon's call is held at
/// Sign-In while botocore refreshes the same session (rotating the refresh token and writing
/// the file); the daemon's call, with the spent token, is refused; the daemon reads the file
/// again, takes botocore's credentials for `[console]` without another call, and says
/// nothing about signing in again. The file keeps botocore's token; after the daemon stops,
/// botocore carries on from it. Nobody is signed out.
#[test]
fn daemon_and_botocore_refresh_one_session() {
    let (home, portal) = setup();
    aws_login(&home, &portal, FIRST_TOKEN, true, TimeDelta::minutes(3));
    // The daemon's call is answered 8 s after it arrives (its attempt timeout is raised to 20 s).
    portal.script_signin([Reply::Ok.after(Duration::from_secs(8))]);
    let d = daemon(&home, &portal, &["--timeout", "20s"]);
    d.wait_for("the daemon's call", SOON, || {
        portal.signin_requests().len() == 1
    });
    // Meanwhile a program that reads the session itself (no credentials file) refreshes it.
    let seen = botocore_login(
        &home.config_path(),
        &login_dir(&home),
        &portal.url(),
        CONSOLE,
        None,
    );
    let issued = one_refresh(&portal);
    assert_eq!(seen["access_key"], json!(issued.access_key_id), "{seen}");
    d.wait_for("botocore's credentials in [console]", SOON * 2, || {
        holds_key(&credentials(&home), &issued.access_key_id)
    });
    d.stays_up(WINDOW);
    assert_eq!(
        portal.signin_requests().len(),
        2,
        "no call after the refusal"
    );
    assert_eq!(portal.signin_refreshes().len(), 1);
    assert_session_token(&home, &issued.refresh_token, "botocore's token kept");
    let log = d.log();
    assert!(
        !log.contains("aws login --profile"),
        "not signed out\n{log}"
    );
    d.stop().assert_success();
    let again = botocore_login(
        &home.config_path(),
        &login_dir(&home),
        &portal.url(),
        CONSOLE,
        Some(&home.credentials_path()),
    );
    assert_eq!(again["method"], "login", "{again}");
    assert_eq!(again["access_key"], json!(issued.access_key_id), "{again}");
}

/// SIGTERM while a refresh is out (Sign-In answers 2 s later): the daemon waits for the
/// answer, saves the rotated refresh token in the session file (a file left with the spent
/// one would sign the user out), then takes `[console]` back and exits 0; botocore carries on
/// from the saved token.
#[test]
fn stop_during_a_refresh_saves_the_rotated_token() {
    let (home, portal) = setup();
    portal.set_signin_expires_in(120);
    aws_login(&home, &portal, FIRST_TOKEN, true, TimeDelta::minutes(3));
    portal.script_signin([Reply::Ok.after(Duration::from_secs(2))]);
    let d = daemon(&home, &portal, &[]);
    d.wait_for("the daemon's call", SOON, || {
        portal.signin_requests().len() == 1
    });
    assert!(portal.signin_refreshes().is_empty(), "still out");
    let out = d.stop();
    out.assert_success();
    let issued = one_refresh(&portal);
    assert_session_token(&home, &issued.refresh_token, &format!("saved\n{out}"));
    let text = credentials(&home);
    assert!(!has_section(&text, CONSOLE), "{text}\n{out}");
    assert!(text.starts_with(MINE), "{text}");
    fs::remove_file(home.credentials_path()).expect("no credentials file");
    assert_cli_carries_on(&home, &portal, &issued.refresh_token);
}

/// `-p console:work` writes the session's credentials to `[work]`, and a clean stop takes
/// `[work]` back.
#[test]
fn renamed_section_taken_back_on_stop() {
    let (home, portal) = setup();
    aws_login(&home, &portal, FIRST_TOKEN, true, TimeDelta::minutes(14));
    let d = daemon(&home, &portal, &["-p", "console:work"]);
    d.wait_for("[work] written", SOON, || {
        let text = credentials(&home);
        has_section(&text, "work") && holds_key(&text, CLI_KEY)
    });
    assert!(!has_section(&credentials(&home), CONSOLE));
    let out = d.stop();
    out.assert_success();
    assert!(out.stderr.contains("removing [work]"), "{out}");
    // The user's bytes, less the blank line that separated `[work]` from them: the editor
    // takes the last section with the blank line before it (see `files::credfile`).
    assert_eq!(credentials(&home), MINE.trim_end().to_owned() + "\n");
}

/// A clock 5 minutes off Sign-In's: the proofs are refused, and `--once` names the clock
/// (from the response's `Date`) as what to fix, rather than declaring the session over and
/// sending the user to `aws login` (which would not help); the credentials in hand are
/// written while they last.
#[test]
fn once_names_a_clock_that_is_off() {
    let (home, portal) = setup();
    portal.set_signin_clock_offset(300);
    aws_login(&home, &portal, FIRST_TOKEN, true, TimeDelta::minutes(3));
    let out = once(&home, &portal);
    out.assert_success();
    assert!(
        out.stderr.contains("this machine's clock is ") && out.stderr.contains("s behind"),
        "{out}"
    );
    assert!(!out.stderr.contains("aws login --profile"), "{out}");
    assert!(
        out.stderr.contains("the credentials in hand last until"),
        "{out}"
    );
    assert!(portal.signin_refreshes().is_empty());
    assert_eq!(portal.signin_requests().len(), 1, "not retried: {out}");
}

/// An `aws login` profile without a region (and no `AWS_DEFAULT_REGION`) whose session is
/// due: no call is made; `--once` names the profile and says to set `region`, and writes the
/// credentials in hand, saying until when they last.
#[test]
fn once_without_a_region() {
    let (home, portal) = setup();
    home.write_config(&config(true).replace("region = us-east-1\n\n", "\n"));
    aws_login(&home, &portal, FIRST_TOKEN, true, TimeDelta::minutes(3));
    let out = once(&home, &portal);
    out.assert_success();
    assert!(
        out.stderr.contains("set `region` in profile console"),
        "{out}"
    );
    assert!(
        out.stderr.contains("the credentials in hand last until"),
        "{out}"
    );
    assert!(portal.signin_requests().is_empty(), "{out}");
    assert!(holds_key(&credentials(&home), CLI_KEY), "{out}");
}

/// True when the long runs are asked for (`SSOFRESH_STRESS=1`).
fn stress() -> bool {
    std::env::var_os("SSOFRESH_STRESS").is_some_and(|v| v == "1")
}

/// Which of two refreshers goes first is left to timing: the daemon's call is held at
/// Sign-In for `delay` while botocore (reading the session itself) gets credentials from the
/// file as it finds it, refreshing if the daemon has not yet. Whatever the order, once both
/// are done the file holds the live refresh token, `[console]` holds the file's credentials,
/// botocore carries on, and nobody is told to sign in again. The daemon first by default;
/// with `SSOFRESH_STRESS=1`, delays of 0 to 8 s, which cover both orders.
#[test]
fn refresh_races_sign_nobody_out() {
    let delays: Vec<u64> = if stress() { (0..=8).collect() } else { vec![0] };
    for delay in delays {
        let (home, portal) = setup();
        aws_login(&home, &portal, FIRST_TOKEN, true, TimeDelta::minutes(3));
        portal.script_signin([Reply::Ok.after(Duration::from_secs(delay))]);
        let d = daemon(&home, &portal, &["--timeout", "20s"]);
        d.wait_for("the daemon's call", SOON, || {
            !portal.signin_requests().is_empty()
        });
        let reader = || {
            botocore_login(
                &home.config_path(),
                &login_dir(&home),
                &portal.url(),
                CONSOLE,
                None,
            )
        };
        let seen = reader();
        assert_eq!(seen["method"], "login", "delay {delay}s: {seen}");
        d.stays_up(Duration::from_secs(delay) + WINDOW);
        d.wait_for("[console] holding the file's credentials", SOON, || {
            let file = console::read(&session_path(&home)).expect("session");
            holds_key(&credentials(&home), &file.credentials.access_key_id)
        });
        let issued = portal.signin_refreshes();
        let live = &issued.last().expect("a refresh").refresh_token;
        assert_session_token(&home, live, &format!("delay {delay}s: the live token"));
        assert_eq!(portal.proof_failures(), Vec::<String>::new());
        let log = d.log();
        assert!(
            !log.contains("aws login --profile"),
            "delay {delay}s: not signed out\n{log}"
        );
        d.stop().assert_success();
        let again = reader();
        assert_eq!(again["method"], "login", "delay {delay}s: {again}");
    }
}

/// A chain of renewals: Sign-In hands out credentials shorter than the lead (400 s), so the
/// daemon refreshes again after its one-minute floor, each time from the token the last
/// refresh rotated in; every time `[console]` and the session file hold the newest, both
/// readers agree, and after the stop botocore carries on. One renewal by default; four (about
/// three minutes) with `SSOFRESH_STRESS=1`.
#[test]
fn daemon_keeps_renewing() {
    let renewals = if stress() { 4 } else { 1 };
    let (home, portal) = setup();
    portal.set_signin_expires_in(400);
    aws_login(&home, &portal, FIRST_TOKEN, true, TimeDelta::minutes(3));
    let d = daemon(&home, &portal, &[]);
    let mut used = FIRST_TOKEN.to_owned();
    for n in 1..=renewals {
        d.wait_for(
            &format!("renewal {n} written"),
            Duration::from_secs(120),
            || {
                portal
                    .signin_refreshes()
                    .get(n - 1)
                    .is_some_and(|r| holds_key(&credentials(&home), &r.access_key_id))
            },
        );
        let issued = portal.signin_refreshes()[n - 1].clone();
        assert_eq!(
            issued.old_refresh_token, used,
            "renewal {n} from the last token"
        );
        assert_session_token(&home, &issued.refresh_token, &format!("renewal {n}"));
        assert_readers_see(
            &home,
            &issued.access_key_id,
            &issued.secret_access_key,
            &issued.session_token,
        );
        used = issued.refresh_token;
    }
    assert_eq!(
        portal.signin_refreshes().len(),
        renewals,
        "no extra refresh"
    );
    assert_eq!(portal.proof_failures(), Vec::<String>::new());
    d.stop().assert_success();
    // With 400 s left botocore (5-minute threshold) does not refresh: it reads the session.
    let seen = botocore_login(
        &home.config_path(),
        &login_dir(&home),
        &portal.url(),
        CONSOLE,
        Some(&home.credentials_path()),
    );
    assert_eq!(seen["method"], "login", "{seen}");
    let last = portal
        .signin_refreshes()
        .last()
        .cloned()
        .expect("a refresh");
    assert_eq!(seen["access_key"], json!(last.access_key_id), "{seen}");
}

/// The session ends (`TOKEN_EXPIRED` at Sign-In) with credentials good for 12 more seconds:
/// the daemon writes them (promising no renewal), says once that `aws login --profile console`
/// is needed, runs the `--on-login-needed` command once with the facts, makes no further
/// call, and removes
/// `[console]` when those credentials run out (the user's bytes and `[dev]` stay).
#[test]
fn daemon_session_ends_said_once() {
    let (home, portal) = setup();
    portal.end_signin_sessions("TOKEN_EXPIRED");
    aws_login(&home, &portal, FIRST_TOKEN, true, TimeDelta::seconds(12));
    let record = home.path().join("hook.log");
    let hook = format!(
        "printf '%s|%s|%s\\n' \"$SSOFRESH_PROFILES\" \"$SSOFRESH_LOGIN\" \"$SSOFRESH_FIX\" >> '{}'",
        record.display()
    );
    let d = daemon(&home, &portal, &["--no-notify", "--on-login-needed", &hook]);
    // What the hook recorded, one line per run.
    let runs = || fs::read_to_string(&record).unwrap_or_default();
    d.wait_for("the hook to run", SOON, || !runs().is_empty());
    d.wait_for("[console] removed as its credentials end", SOON * 3, || {
        let text = credentials(&home);
        has_section(&text, "dev") && !has_section(&text, CONSOLE)
    });
    d.stays_up(WINDOW);
    let requests = portal.signin_requests().len();
    assert!((1..=2).contains(&requests), "{requests} Sign-In calls");
    assert_eq!(
        runs(),
        format!("{CONSOLE}|{ARN}|aws login --profile {CONSOLE}\n"),
        "once, with the facts"
    );
    let log = d.log();
    assert_eq!(
        log.matches("aws login --profile console").count(),
        1,
        "said once\n{log}"
    );
    let wrote = log
        .lines()
        .find(|l| l.contains("console: wrote [console]"))
        .unwrap_or_else(|| panic!("[console] written while its credentials last\n{log}"));
    assert!(wrote.contains("not renewed"), "no renewal promised\n{log}");
    assert!(credentials(&home).starts_with(MINE));
    d.stop().assert_success();
}

/// Sign-In refuses the refresh for a missing permission (`INSUFFICIENT_PERMISSIONS`): the
/// daemon says once that another `aws login` will not help, makes no further call, and keeps
/// the credentials in hand written meanwhile.
#[test]
fn daemon_session_not_permitted() {
    let (home, portal) = setup();
    portal.end_signin_sessions("INSUFFICIENT_PERMISSIONS");
    aws_login(&home, &portal, FIRST_TOKEN, true, TimeDelta::minutes(3));
    let d = daemon(&home, &portal, &[]);
    d.wait_for("the refusal said", SOON, || {
        d.log().contains("will not help")
    });
    d.wait_for("[console] written", SOON, || {
        holds_key(&credentials(&home), CLI_KEY)
    });
    d.stays_up(WINDOW);
    assert_eq!(portal.signin_requests().len(), 1, "not tried again");
    let log = d.log();
    assert_eq!(log.matches("will not help").count(), 1, "said once\n{log}");
    assert!(
        log.contains("signin:CreateOAuth2Token"),
        "names the permission\n{log}"
    );
    d.stop().assert_success();
}

/// After a crash (SIGKILL) with `[console]` written, the next start takes the section back
/// when the profile left the config, and when the session's file is gone (`aws logout` while
/// no daemon ran), from the state file's record; `[dev]` and the user's bytes stay.
#[test]
fn restart_after_a_crash_takes_stale_sections_back() {
    for logout in [false, true] {
        let (home, portal) = setup();
        let d = serving_both(&home, &portal);
        d.wait_for("[console] in the state file's record", SOON, || {
            recorded(&home).contains(&("login_session".to_owned(), CONSOLE.to_owned()))
        });
        assert_eq!(d.stop_with("KILL").status, 128 + 9);
        if logout {
            fs::remove_file(session_path(&home)).expect("aws logout");
        } else {
            home.write_config(&config(false));
        }
        let d = daemon(&home, &portal, &[]);
        d.wait_for("[console] removed", SOON, || {
            !has_section(&credentials(&home), CONSOLE)
        });
        let text = credentials(&home);
        assert!(text.starts_with(MINE), "{text}");
        assert!(has_section(&text, "dev"), "{text}");
        d.stop().assert_success();
    }
}

/// The state file's record of written sections: `(login_kind, section)` of each.
fn recorded(home: &TestHome) -> Vec<(String, String)> {
    let dir = home.path().join(".local").join("state").join("ssofresh");
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let Ok(text) = fs::read_to_string(entry.path()) else {
            continue;
        };
        let state: Value = serde_json::from_str(&text).unwrap_or_default();
        for w in state["written"].as_array().into_iter().flatten() {
            let s = |k: &str| w[k].as_str().unwrap_or_default().to_owned();
            out.push((s("login_kind"), s("section")));
        }
    }
    out
}

/// `status --json` lists the `aws login` profile with `"kind": "login"` (the SSO one with
/// `"sso"`), from the daemon and from the files alone; the table shows `login` in its KIND
/// column.
#[test]
fn status_shows_the_kind() {
    let (home, portal) = setup();
    aws_login(&home, &portal, FIRST_TOKEN, true, TimeDelta::minutes(14));
    let status = |json: bool| {
        let mut cmd = command(&home, &portal);
        cmd.arg("status");
        if json {
            cmd.arg("--json");
        }
        run(cmd)
    };
    // (source, [(profile, kind)] sorted by name) of a `status --json` answer.
    let kinds = |out: &Outcome| -> (String, Vec<(String, String)>) {
        let json: Value =
            serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out}"));
        let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        let mut profiles: Vec<(String, String)> = json["profiles"]
            .as_array()
            .expect("profiles")
            .iter()
            .map(|p| (s(&p["profile"]), s(&p["kind"])))
            .collect();
        profiles.sort();
        (s(&json["source"]), profiles)
    };
    let want = vec![
        (CONSOLE.to_owned(), "login".to_owned()),
        ("dev".to_owned(), "sso".to_owned()),
    ];
    let d = daemon(&home, &portal, &[]);
    let mut last = None;
    d.wait_for("the daemon's view, both fresh", SOON, || {
        let out = status(true);
        let fresh = out.stdout.matches("\"fresh\"").count() == 2;
        last = Some(out);
        fresh
    });
    let out = last.expect("a status");
    assert_eq!(kinds(&out), ("daemon".to_owned(), want.clone()), "{out}");
    let table = status(false);
    let row = table
        .stdout
        .lines()
        .find(|l| l.starts_with("console "))
        .unwrap_or_else(|| panic!("no console row\n{table}"));
    assert_eq!(row.split_whitespace().nth(1), Some("login"), "{table}");
    d.stop().assert_success();
    let out = status(true);
    assert_eq!(kinds(&out).1, want, "without a daemon\n{out}");
}

/// Sign-In echoing the refresh token in its error text (as services do with what they were
/// sent): `--once -vv` with `RUST_LOG=trace` shows the error, without the token, and no other
/// secret of the session either.
#[test]
fn echoed_refresh_token_stays_out_of_once_output() {
    let (home, portal) = setup();
    let pem = aws_login(&home, &portal, FIRST_TOKEN, true, TimeDelta::minutes(3));
    let echo = json!({
        "__type": "ValidationException",
        "error": "invalid_grant",
        "message": format!("refresh token {FIRST_TOKEN} is not valid"),
    });
    portal.script_signin([Reply::Raw(400, echo.to_string())]);
    let mut cmd = command(&home, &portal);
    cmd.args(["--once", "-vv"]).env("RUST_LOG", "trace");
    let out = run(cmd);
    assert_eq!(portal.signin_requests().len(), 1, "{out}");
    let shown = format!("{}\n{}", out.stdout, out.stderr);
    assert!(
        shown.contains("refresh token ** redacted ** is not valid"),
        "the error is shown, the token redacted\n{shown}"
    );
    let key_lines = pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 16);
    for secret in key_lines.chain([FIRST_TOKEN, CLI_SECRET, CLI_SESSION]) {
        assert!(!shown.contains(secret), "{secret:?} in the output\n{shown}");
    }
}

/// With `RUST_LOG=trace`, through a refresh, a write and the take-back on stop: neither
/// stdout nor stderr carries the refresh tokens (old, rotated), the DPoP key, the proof, or
/// any secret key or session token, old or new.
#[test]
fn secrets_stay_out_of_the_trace_log() {
    let (home, portal) = setup();
    let pem = aws_login(&home, &portal, FIRST_TOKEN, true, TimeDelta::minutes(3));
    let mut cmd = command(&home, &portal);
    cmd.env("RUST_LOG", "trace");
    let d = Daemon::spawn(cmd);
    d.wait_for("the refresh written", SOON, || {
        portal
            .signin_refreshes()
            .first()
            .is_some_and(|r| holds_key(&credentials(&home), &r.access_key_id))
    });
    let issued = one_refresh(&portal);
    let proof = portal.signin_requests()[0]
        .header("dpop")
        .expect("a proof")
        .to_owned();
    let out = d.stop();
    out.assert_success();
    let shown = format!("{}\n{}", out.stdout, out.stderr);
    assert!(
        shown.contains("DEBUG Signin.CreateOAuth2Token") && shown.contains("refreshed `aws login`"),
        "the log is at its most detailed and covers the refresh\n{shown}"
    );
    let mut secrets = vec![
        FIRST_TOKEN.to_owned(),
        issued.refresh_token.clone(),
        issued.secret_access_key.clone(),
        issued.session_token.clone(),
        CLI_SECRET.to_owned(),
        CLI_SESSION.to_owned(),
        proof.clone(),
    ];
    // The proof's signature, and each line of the key's PEM body.
    secrets.push(proof.rsplit('.').next().expect("a JWS").to_owned());
    secrets.extend(
        pem.lines()
            .filter(|l| !l.starts_with("-----") && l.len() > 16)
            .map(str::to_owned),
    );
    for secret in &secrets {
        assert!(
            !shown.contains(secret.as_str()),
            "{secret:?} in the output\n{shown}"
        );
    }
}

/// A refreshed session that could not be saved would leave the file with a spent refresh
/// token (signed out). So the folder is tried first: under a file-size limit (as a full disk)
/// that leaves room for nothing, `--once` sends nothing to Sign-In, names the session file,
/// and leaves it as it was, its refresh token still good.
#[test]
fn nothing_sent_when_the_refreshed_session_could_not_be_saved() {
    let (home, portal) = setup();
    aws_login(&home, &portal, FIRST_TOKEN, true, TimeDelta::minutes(3));
    let path = console::session_path(&login_dir(&home), ARN);
    let before = fs::read(&path).expect("the session file");
    let out = run(crate::write_failures::wrapped(
        command(&home, &portal).arg("--once"),
        &["prlimit", "--fsize=100:unlimited", "--"],
    ));
    assert!(portal.signin_requests().is_empty(), "nothing sent\n{out}");
    assert_eq!(fs::read(&path).expect("read"), before, "{out}");
    assert!(
        out.stderr.contains("nothing was sent") && out.stderr.contains(&path.display().to_string()),
        "{out}"
    );
}

/// Ctrl-C (SIGINT) during `--once`'s refresh (Sign-In answers 2 s later): it waits for the
/// answer and saves the rotated refresh token before it exits (130), so the session file is
/// never left with the spent one; botocore carries on from it.
#[test]
fn once_interrupted_during_a_refresh_saves_the_rotated_token() {
    let (home, portal) = setup();
    portal.set_signin_expires_in(120);
    aws_login(&home, &portal, FIRST_TOKEN, true, TimeDelta::minutes(3));
    portal.script_signin([Reply::Ok.after(Duration::from_secs(2))]);
    let mut cmd = command(&home, &portal);
    cmd.arg("--once");
    let run = Daemon::spawn(cmd);
    run.wait_for("the call", SOON, || portal.signin_requests().len() == 1);
    let out = run.stop_with("INT");
    out.assert_status(130);
    let issued = one_refresh(&portal);
    assert_session_token(&home, &issued.refresh_token, &format!("saved\n{out}"));
    assert_cli_carries_on(&home, &portal, &issued.refresh_token);
}

/// A temp file a killed ssofresh left in the `aws login` cache (a named one: file systems
/// without `O_TMPFILE`) holds a refresh token and a key: the next run removes it.
#[test]
fn stray_temp_in_the_login_cache_is_swept() {
    let (home, portal) = setup();
    aws_login(&home, &portal, FIRST_TOKEN, true, TimeDelta::minutes(14));
    let name = format!(".{}.ssofresh-999999-0badcafe.tmp", console::file_name(ARN));
    let stray = login_dir(&home).join(&name);
    fs::write(&stray, "a copy of a session").expect("stray temp");
    once(&home, &portal).assert_success();
    assert!(!stray.exists(), "{name} swept");
}

/// One write per run across both kinds: `--once` with an SSO profile and an `aws login`
/// session due for a refresh that Sign-In answers a second late replaces the credentials file
/// exactly once (counted as the kernel reports it), with both sections in it.
#[test]
fn once_writes_both_kinds_in_one_write() {
    let (home, portal) = setup();
    aws_login(&home, &portal, FIRST_TOKEN, true, TimeDelta::minutes(3));
    portal.script_signin([Reply::Ok.after(Duration::from_secs(1))]);
    let replaced = crate::common::renames::Replacements::watch(&home.credentials_path());
    let out = once(&home, &portal);
    out.assert_success();
    assert_eq!(replaced.settled(), 1, "one write\n{out}");
    let issued = one_refresh(&portal);
    let text = credentials(&home);
    assert!(
        has_section(&text, "dev") && holds_key(&text, &issued.access_key_id),
        "{text}"
    );
}

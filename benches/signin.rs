//! `aws login` sessions, each figure next to a floor measured in the same run:
//! - one refresh round trip against the local Sign-In stand-in: what it costs ssofresh to
//!   re-read the session file, sign a DPoP proof, call CreateOAuth2Token through
//!   aws-sdk-signin and write the rotated file back, beside the bare call, the proof alone,
//!   and `curl` posting the same request;
//! - an `aws login` landing (a new session file renamed into `~/.aws/login/cache`, as the CLI
//!   writes it) → the profile's section written by the real daemon, beside an `aws sso login`
//!   landing on the same daemon and `curl` making that landing's GetRoleCredentials call;
//! - `ssofresh --once` for one `aws login` profile (fresh cache: no call; due: one refresh),
//!   for one SSO profile, and `curl` making each call.
//!
//! Run with `cargo bench --bench signin` (`--profile dev` for a debug build).
//! `SSOFRESH_BENCH_LANDINGS=N` and `SSOFRESH_BENCH_RUNS=N` change the counts of the last two.
//! It prints figures; it asserts nothing about speed (it does check that every landing and
//! run wrote what it should, and counts the Sign-In calls).

#![allow(clippy::print_stdout)] // a benchmark's job is to print figures

#[path = "../tests/it/common/mod.rs"]
mod common;
#[path = "support/mod.rs"]
mod support;

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use ssofresh::login::console;
use ssofresh::login::dpop::{DpopKey, generate_pem};
use ssofresh::login::portal::{CallPolicy, Endpoint, Route};
use ssofresh::login::signin::SignIn;

use common::signin::{SAME_DEVICE, login_cache_json};
use common::{Daemon, Portal, TestHome, ssofresh, token_json};
use support::{FileWatch, ROLE, TOKEN};

const RUNS: usize = 200;
const ARN: &str = "arn:aws:iam::012345678901:user/Admin";

/// How long one landing is waited for (past the daemon's 10-s wake, so that a lost watcher
/// event shows as a figure rather than a miss).
const LIMIT: Duration = Duration::from_secs(20);

fn main() {
    if !support::start("aws login sessions") {
        return;
    }
    refresh_round_trip();
    landings();
    once_rows();
}

/// One refresh, in process, against the stand-in: the whole of it, its call, its floors.
fn refresh_round_trip() {
    let portal = Portal::start();
    let dir = tempfile::tempdir().expect("dir");
    let pem = generate_pem(true);
    portal.add_signin_session("ASOR-bench-0", SAME_DEVICE, &pem);
    let path = console::session_path(dir.path(), ARN);
    std::fs::write(
        &path,
        login_cache_json(
            "ASIACLI",
            Utc::now() + TimeDelta::minutes(3),
            "ASOR-bench-0",
            &pem,
        ),
    )
    .expect("session file");
    let route = Route {
        region: "us-east-1".into(),
        ca_bundle: None,
    };
    let client = SignIn::new(
        [route.clone()],
        &Endpoint(Some(portal.url())),
        CallPolicy::default(),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    // The whole refresh as the daemon does it: re-read, call, write back over the token used.
    let full = times(|| {
        let old = std::fs::read(&path).expect("read");
        let session = console::parse(&old).expect("parse");
        let new = rt
            .block_on(client.refresh(&route, &session, |_, _, _| {}))
            .expect("refresh");
        let contents = console::refreshed(&old, &new, Utc::now()).expect("contents");
        assert!(
            console::write_if_unchanged(&path, &contents, &session.refresh_token).expect("write")
        );
    });
    // The call alone, the file's read and write outside the timing.
    let mut call = Vec::new();
    for run in 0..RUNS + 3 {
        let old = std::fs::read(&path).expect("read");
        let session = console::parse(&old).expect("parse");
        let start = Instant::now();
        let new = rt
            .block_on(client.refresh(&route, &session, |_, _, _| {}))
            .expect("refresh");
        if run >= 3 {
            call.push(start.elapsed());
        }
        let contents = console::refreshed(&old, &new, Utc::now()).expect("contents");
        std::fs::write(&path, contents).expect("write");
    }
    call.sort();
    // Floor 1: one proof, signed in process.
    let key = DpopKey::from_pem(&pem).expect("key");
    let url = format!("{}/v1/token", portal.url());
    let proof = times(|| {
        key.proof(&url, Utc::now()).expect("proof");
    });
    // Floor 2: curl posting the same request (a fresh proof each; the stand-in answers 400
    // for the spent token, which costs it the same checks).
    let curl = times(|| {
        curl_signin(&key, &url, "ASOR-bench-0");
    });
    assert_eq!(portal.proof_failures(), Vec::<String>::new());
    println!("  one refresh against the local Sign-In, {RUNS} runs each");
    println!("  {:<58} {:>10} {:>10} {:>10}", "", "median", "p90", "max");
    for (name, t) in [
        (
            "ssofresh: re-read + proof + CreateOAuth2Token + write-back",
            &full,
        ),
        ("ssofresh: proof + CreateOAuth2Token (in process)", &call),
        ("floor: curl process posting the same request", &curl),
        ("floor: one DPoP proof (ES256, aws-lc-rs)", &proof),
    ] {
        println!(
            "  {name:<58} {:>10} {:>10} {:>10}",
            us(t[t.len() / 2]),
            us(t[t.len() * 9 / 10]),
            us(t[t.len() - 1])
        );
    }
}

/// Sorted durations of [`RUNS`] runs of `f`, after a few warm-up runs.
fn times(mut f: impl FnMut()) -> Vec<Duration> {
    for _ in 0..3 {
        f();
    }
    let mut t: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    t.sort();
    t
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

/// `curl` posting a CreateOAuth2Token request with a fresh proof; the wall time of the
/// process. The stand-in answers 400 for a spent token, which costs it the same checks.
fn curl_signin(key: &DpopKey, url: &str, refresh_token: &str) -> Duration {
    let p = key.proof(url, Utc::now()).expect("proof");
    let mut cmd = Command::new(support::CURL);
    cmd.args(["-s", "-o", "/dev/null", "-X", "POST", "-H", "Content-Type: application/json"])
        .arg("-H")
        .arg(format!("DPoP: {}", p.expose()))
        .arg("--data")
        .arg(format!(
            "{{\"clientId\":\"{SAME_DEVICE}\",\"grantType\":\"refresh_token\",\"refreshToken\":\"{refresh_token}\"}}"
        ))
        .arg(url)
        .stdin(Stdio::null());
    let start = Instant::now();
    let status = cmd.status().expect("run curl");
    let elapsed = start.elapsed();
    assert!(status.success(), "curl failed: {status}");
    elapsed
}

/// The account of the SSO profile `sso`.
const ACCOUNT: &str = "100000000000";

/// A HOME with the profiles asked for: `console` (`login_session`, signed in with a session
/// whose credentials last 15 minutes) and `sso` (on sso-session `corp`, signed in with
/// [`TOKEN`]), both served by `portal`.
struct LoginHome {
    home: TestHome,
    /// The `aws login` session file of `console`.
    session: PathBuf,
}

impl LoginHome {
    fn new(portal: &Portal, console: bool, sso: bool) -> Self {
        let home = TestHome::new();
        let mut config = String::new();
        if sso {
            config.push_str(&format!(
                "[sso-session corp]\nsso_start_url = https://d-1234567890.awsapps.com/start\n\
                 sso_region = us-east-1\n\n[profile sso]\nsso_session = corp\n\
                 sso_account_id = {ACCOUNT}\nsso_role_name = {ROLE}\n\n"
            ));
            portal.grant(TOKEN, ACCOUNT, ROLE, Duration::from_secs(3600));
            home.write_token("corp", token_json(TOKEN, Utc::now() + TimeDelta::hours(8)));
        }
        if console {
            config.push_str(&format!(
                "[profile console]\nlogin_session = {ARN}\nregion = us-east-1\n"
            ));
        }
        home.write_config(&config);
        let cache = home.aws_dir().join("login").join("cache");
        fs::create_dir_all(&cache).expect("create the login cache");
        let session = console::session_path(&cache, ARN);
        let this = Self { home, session };
        if console {
            this.land(portal, "ASIABENCHSTART", "ASOR-start");
        }
        this
    }

    /// An `aws login`: a new key, refresh token and credentials (15 minutes) in a new file
    /// renamed over the session's name, as botocore's `JSONFileCache` writes it (temp file
    /// 0600, fsync, rename). Returns when the rename is done.
    fn land(&self, portal: &Portal, access_key_id: &str, refresh_token: &str) {
        let pem = generate_pem(true);
        portal.add_signin_session(refresh_token, SAME_DEVICE, &pem);
        let text = login_cache_json(
            access_key_id,
            Utc::now() + TimeDelta::minutes(15),
            refresh_token,
            &pem,
        );
        replace(&self.session, &text);
    }

    /// Makes the session's credentials end in 3 minutes (inside the refresh lead), keeping
    /// its live refresh token and key: the next run of ssofresh refreshes it.
    fn make_due(&self) {
        let text = fs::read_to_string(&self.session).expect("read the session file");
        let mut json: serde_json::Value = serde_json::from_str(&text).expect("session JSON");
        json["accessToken"]["expiresAt"] = (Utc::now() + TimeDelta::minutes(3))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
            .into();
        replace(&self.session, &json.to_string());
    }

    /// The real binary, its Sign-In calls sent to `portal` too.
    fn ssofresh(&self, portal: &Portal) -> Command {
        let mut cmd = ssofresh(&self.home, portal);
        cmd.env("AWS_ENDPOINT_URL_SIGNIN", portal.url());
        cmd
    }

    /// True if the credentials file holds `access_key_id`.
    fn holds(&self, access_key_id: &str) -> bool {
        fs::read_to_string(self.home.credentials_path()).is_ok_and(|t| t.contains(access_key_id))
    }
}

/// Writes `text` to a temp file beside `path` (0600), fsyncs it and renames it over `path`.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("bench-tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .expect("create the temp file");
    f.write_all(text.as_bytes()).expect("write the temp file");
    f.sync_all().expect("fsync the temp file");
    fs::rename(&tmp, path).expect("rename the temp file");
}

/// Sorted, with its median and range, as `median (min-max)`.
fn spread(t: &mut [Duration]) -> String {
    t.sort();
    format!(
        "{} ({}-{})",
        support::ms(t[t.len() / 2]),
        support::ms(t[0]),
        support::ms(t[t.len() - 1])
    )
}

/// The real daemon with one `aws login` profile and one SSO profile: landings of each kind in
/// turn, timed from the file's rename to the credentials file holding the new key, and after
/// each SSO landing its floor, `curl` making the same GetRoleCredentials call.
fn landings() {
    let n = support::env_number("SSOFRESH_BENCH_LANDINGS", 30);
    let portal = Portal::start();
    let home = LoginHome::new(&portal, true, true);
    let watch = FileWatch::new(&home.home.aws_dir(), "credentials");
    let daemon = Daemon::spawn(home.ssofresh(&portal));
    let first = watch.wait_until(Instant::now(), LIMIT, || {
        home.holds("ASIABENCHSTART")
            && support::holds_latest(&home.home, &portal, TOKEN, &[ACCOUNT.to_owned()])
    });
    assert!(
        first.is_some(),
        "no first credentials within {LIMIT:?}:\n{}",
        daemon.log()
    );
    let calls_before = portal.signin_requests().len();
    let (mut login, mut sso, mut floor) = (Vec::new(), Vec::new(), Vec::new());
    let mut missed = 0;
    for i in 1..=n {
        let key = format!("ASIALANDING{i:05}");
        home.land(&portal, &key, &format!("ASOR-landing-{i}"));
        match watch.wait_until(Instant::now(), LIMIT, || home.holds(&key)) {
            Some(t) => login.push(t),
            None => missed += 1,
        }
        thread::sleep(Duration::from_millis(150 + 37 * (i as u64 % 5)));
        let token = format!("landing-{i}");
        portal.grant(&token, ACCOUNT, ROLE, Duration::from_secs(3600));
        let json = token_json(&token, Utc::now() + TimeDelta::hours(8));
        replace(
            &home.home.token_path("corp"),
            &serde_json::to_string_pretty(&json).expect("token JSON"),
        );
        let accounts = [ACCOUNT.to_owned()];
        match watch.wait_until(Instant::now(), LIMIT, || {
            support::holds_latest(&home.home, &portal, &token, &accounts)
        }) {
            Some(t) => sso.push(t),
            None => missed += 1,
        }
        floor.push(support::curl_floor(&portal, &token, &accounts, 1));
        thread::sleep(Duration::from_millis(150 + 37 * (i as u64 % 3)));
    }
    let calls = portal.signin_requests().len() - calls_before;
    let out = daemon.stop();
    let key = format!("ASIALANDING{n:05}");
    let taken_back = !home.holds(&key);
    println!(
        "  landing -> section written by the daemon (one `aws login` profile, one SSO profile), \
         {n} landings of each kind, timed from the rename of the new file"
    );
    println!("  {:<58} {:>26}", "", "median (min-max)");
    for (label, t) in [
        ("ssofresh: `aws login` landing (no call)", &mut login),
        ("ssofresh: `aws sso login` landing (one call)", &mut sso),
        (
            "floor: curl making that GetRoleCredentials call",
            &mut floor,
        ),
    ] {
        if !t.is_empty() {
            println!("  {label:<58} {:>26}", spread(t));
        }
    }
    println!(
        "  Sign-In calls during the landings: {calls}; after SIGTERM the [console] section is {}",
        if taken_back { "gone" } else { "STILL THERE" }
    );
    if missed > 0 {
        println!("  ! {missed} landings NOT written within {LIMIT:?}");
    }
    for line in out
        .stderr
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
    {
        println!("  ! daemon said: {line}");
    }
}

/// `ssofresh --once -q` in `home`: its wall time.
fn once(home: &LoginHome, portal: &Portal) -> Duration {
    support::once_run(home.ssofresh(portal))
}

/// `--once` for one profile of each kind, runs alternating, next to `curl` making each call.
fn once_rows() {
    let runs = support::env_number("SSOFRESH_BENCH_RUNS", 20);
    let portal = Portal::start();
    let fresh = LoginHome::new(&portal, true, false);
    let due = LoginHome::new(&portal, true, false);
    let sso = LoginHome::new(&portal, false, true);
    let key = DpopKey::from_pem(&generate_pem(true)).expect("key");
    let url = format!("{}/v1/token", portal.url());
    let mut rows: [(&str, Vec<Duration>, usize); 5] = Default::default();
    rows[0].0 = "ssofresh --once: `aws login` profile, fresh (no call)";
    rows[1].0 = "ssofresh --once: `aws login` profile, due (one refresh)";
    rows[2].0 = "ssofresh --once: SSO profile (one GetRoleCredentials)";
    rows[3].0 = "floor: curl posting CreateOAuth2Token";
    rows[4].0 = "floor: curl making GetRoleCredentials";
    for run in 0..runs {
        let calls = portal.signin_requests().len();
        rows[0].1.push(once(&fresh, &portal));
        rows[0].2 += portal.signin_requests().len() - calls;
        assert!(
            fresh.holds("ASIABENCHSTART"),
            "--once did not write [console]"
        );

        due.make_due();
        let calls = portal.signin_requests().len();
        rows[1].1.push(once(&due, &portal));
        rows[1].2 += portal.signin_requests().len() - calls;
        let renewed = portal.signin_refreshes().len();
        assert!(
            renewed > run && due.holds(&portal.signin_refreshes()[renewed - 1].access_key_id),
            "--once did not write the refreshed credentials"
        );

        let calls = portal.count(ACCOUNT, ROLE);
        rows[2].1.push(once(&sso, &portal));
        rows[2].2 += portal.count(ACCOUNT, ROLE) - calls;

        let calls = portal.signin_requests().len();
        rows[3].1.push(curl_signin(&key, &url, "ASOR-spent"));
        rows[3].2 += portal.signin_requests().len() - calls;

        let calls = portal.count(ACCOUNT, ROLE);
        rows[4].1.push(support::curl_floor(
            &portal,
            TOKEN,
            &[ACCOUNT.to_owned()],
            1,
        ));
        rows[4].2 += portal.count(ACCOUNT, ROLE) - calls;
    }
    assert_eq!(portal.proof_failures(), Vec::<String>::new());
    println!(
        "  one profile: wall time of the whole process, {runs} runs each (alternating); calls = \
         calls made over all runs"
    );
    println!("  {:<58} {:>26} {:>6}", "", "median (min-max)", "calls");
    for (label, mut t, calls) in rows {
        println!("  {label:<58} {:>26} {calls:>6}", spread(&mut t));
    }
}

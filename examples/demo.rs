//! `cargo run --example demo`: the ssofresh daemon at work in about 15 seconds, with no AWS
//! account and nothing touched outside a temporary folder.
//!
//! Nothing is simulated: the real daemon ([`ssofresh::daemon::run`]) runs in this process
//! against a temporary HOME and the local stand-in for the SSO portal and SSO OIDC that the
//! integration tests use, which speaks the real `GetRoleCredentials` and `CreateToken` wire
//! protocol. The story, narrated on stdout (the daemon's own log lines go to stderr):
//! 1. the daemon starts on a machine with two SSO profiles and no login;
//! 2. a login lands: the token file is written in place, as `aws sso login` does;
//! 3. credentials for both profiles appear in `~/.aws/credentials`;
//! 4. the portal hands out 15-second credentials, so they are renewed about 10 s later;
//! 5. the access token is 20 minutes from expiry, so the daemon refreshes it through
//!    `CreateToken` and writes it back into the cache file, refresh token rotated;
//! 6. the daemon is told to stop, as SIGTERM would.
//!
//! Every wait has a deadline: if the daemon misbehaves, the demo panics saying which step
//! did not happen. No secret is printed.

#![allow(clippy::print_stdout)] // a demo's job is to narrate on stdout

#[allow(dead_code)] // the test harness has more than the demo uses
#[path = "../tests/it/common/home.rs"]
mod home;
#[allow(dead_code, unused_imports)] // as the harness's own mod.rs allows
#[path = "../tests/it/common/portal.rs"]
mod portal;
#[allow(dead_code)] // the portal's Sign-In side, which the demo does not use
#[path = "../tests/it/common/signin.rs"]
mod signin;

use std::thread;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::Value;
use tokio::sync::mpsc;

use ssofresh::daemon::run::{Notify, Options, Report};
use ssofresh::daemon::{self, Mode, Signal};
use ssofresh::files::paths::Paths;
use ssofresh::files::paths::state_file;
use ssofresh::login::portal::{CallPolicy, Endpoint};
use ssofresh::service::hooks::ServiceHooks;
use ssofresh::service::notify::{HOOK_LIMIT, Notifier};

use home::{TestHome, token_json};
use portal::Portal;

const CONFIG: &str = "\
[sso-session demo]
sso_start_url = https://d-1234567890.awsapps.com/start
sso_region = us-east-1

[profile dev]
sso_session = demo
sso_account_id = 111111111111
sso_role_name = Developer

[profile prod]
sso_session = demo
sso_account_id = 222222222222
sso_role_name = ReadOnly
";

/// (profile, account, role), as in [`CONFIG`].
const PROFILES: [(&str, &str, &str); 2] = [
    ("dev", "111111111111", "Developer"),
    ("prod", "222222222222", "ReadOnly"),
];

/// How long the portal's role credentials live: short, so that a renewal comes soon.
const CREDENTIALS_LIFETIME: Duration = Duration::from_secs(15);

/// Renew this long before credentials expire (the daemon's `--refresh-margin`).
const REFRESH_MARGIN: Duration = Duration::from_secs(5);

/// The access token's lifetime beyond the daemon's 20-minute refresh lead: the token
/// refresh comes about this long after the login.
const TOKEN_REFRESH_IN: chrono::TimeDelta = chrono::TimeDelta::seconds(12);

fn main() {
    ssofresh::logging::init(0, false, false);
    let story = Story::new();

    let home = TestHome::new();
    home.write_config(CONFIG);
    let portal = Portal::start();
    story.say(&format!(
        "a new machine: HOME={}, with profiles dev and prod on [sso-session demo] and no login;",
        home.path().display()
    ));
    story.say(&format!(
        "a local SSO portal and SSO OIDC at {}; starting the daemon",
        portal.url()
    ));

    // The daemon, as `ssofresh --refresh-margin 5s` would run it with this HOME.
    let paths = Paths::resolve(None, None, |k| {
        (k == "HOME").then(|| home.path().display().to_string())
    })
    .expect("HOME is set");
    let options = Options {
        paths,
        selection: Default::default(),
        with_region: false,
        policy: CallPolicy::default(),
        refresh_margin: REFRESH_MARGIN,
        sso_endpoint: Endpoint(Some(portal.url())),
        oidc_endpoint: Endpoint(Some(portal.url())),
        signin_endpoint: Endpoint(None),
        notify: Notify {
            before: Duration::from_secs(15 * 60),
            hook: None,
            desktop: false,
        },
    };
    let state_dir = home.path().join(".local/state/ssofresh");
    let (stop, signals) = mpsc::channel(1);
    let daemon = thread::Builder::new()
        .name("daemon".into())
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("start the async runtime");
            // The state file goes in the demo's HOME; no desktop notification.
            let hooks = Box::new(ServiceHooks::new(
                state_file(&state_dir, &options.paths.credentials),
                options.paths.credentials.clone(),
                Notifier {
                    desktop: false,
                    hook: None,
                    limit: HOOK_LIMIT,
                },
            ));
            runtime.block_on(daemon::run(&options, Mode::Daemon { signals, hooks }))
        })
        .expect("start the daemon thread");
    // Let it settle, so its "no login" line shows before the login lands.
    thread::sleep(Duration::from_millis(1500));

    // (2) The login, as `aws sso login --sso-session demo` leaves it.
    let access_token = "demo-access-1";
    let refresh_token = format!("refresh-{access_token}");
    for (_, account, role) in PROFILES {
        portal.grant(access_token, account, role, CREDENTIALS_LIFETIME);
    }
    portal.add_refresh_token(&refresh_token, access_token);
    let expires_at = Utc::now() + ssofresh::daemon::engine::TOKEN_REFRESH_LEAD + TOKEN_REFRESH_IN;
    story.say(
        "a login lands: ~/.aws/sso/cache/<sha1 of \"demo\">.json written in place, as \
         `aws sso login` does; its access token expires in 20 min 12 s",
    );
    let landed = Instant::now();
    let token_path = home.write_token("demo", token_json(access_token, expires_at));

    // (3) Credentials for both profiles.
    let first = story.wait(
        "credentials for dev and prod after the login",
        Duration::from_secs(5),
        &daemon,
        || key_ids(&home),
    );
    story.say(&format!(
        "credentials for dev and prod written {} ms after the token file; [dev] reads:",
        landed.elapsed().as_millis()
    ));
    for line in masked_section(&home.read_credentials(), "dev") {
        println!("        {line}");
    }

    // (4) A renewal, REFRESH_MARGIN before the 15-second credentials expire.
    story.say(&format!(
        "they live {} s; with a {} s refresh margin they are renewed about {} s from now",
        CREDENTIALS_LIFETIME.as_secs(),
        REFRESH_MARGIN.as_secs(),
        (CREDENTIALS_LIFETIME - REFRESH_MARGIN).as_secs()
    ));
    let renewed = story.wait(
        "a renewal of both profiles' credentials",
        CREDENTIALS_LIFETIME,
        &daemon,
        || key_ids(&home).filter(|now| now.iter().zip(&first).all(|(a, b)| a != b)),
    );
    story.say(&format!(
        "renewed before expiry: [dev] {} -> {}, [prod] {} -> {}",
        first[0], renewed[0], first[1], renewed[1]
    ));

    // (5) The token refresh, 20 minutes before the access token expires.
    story.wait(
        "a CreateToken call to refresh the access token",
        Duration::from_secs(15),
        &daemon,
        || (!portal.create_token_requests().is_empty()).then_some(()),
    );
    let refreshed = story.wait(
        "the refreshed token written back to the cache file",
        Duration::from_secs(5),
        &daemon,
        || {
            read_json(&token_path).filter(|t| {
                t.get("refreshToken").and_then(Value::as_str) != Some(refresh_token.as_str())
            })
        },
    );
    let field = |name: &str| {
        refreshed
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or("(missing)")
            .to_owned()
    };
    story.say(&format!(
        "the access token was refreshed through CreateToken and written back: expiresAt {} \
         (was {}); refreshToken rotated: {}; clientId kept: {}",
        field("expiresAt"),
        home::cli_timestamp(expires_at),
        if field("refreshToken") == refresh_token {
            "no"
        } else {
            "yes"
        },
        if field("clientId") == "client-id-ssofresh-test" {
            "yes"
        } else {
            "no"
        },
    ));

    // (6) Stop, as SIGTERM would.
    story.say("sending Stop (what SIGTERM and SIGINT become)");
    let stopping = Instant::now();
    stop.blocking_send(Signal::Stop)
        .expect("the daemon is still listening for signals");
    let report: Report = daemon
        .join()
        .expect("the daemon thread panicked")
        .unwrap_or_else(|e| panic!("demo failed: the daemon stopped with an error: {e}"));
    let written = report
        .outcomes
        .iter()
        .filter(|(_, o)| o.is_written())
        .count();
    story.say(&format!(
        "stopped cleanly in {} ms, {written} of {} profiles written; {} calls to the portal in all",
        stopping.elapsed().as_millis(),
        report.outcomes.len(),
        portal.requests().len()
    ));
}

/// The narrator: lines on stdout, with the time since the start.
struct Story {
    start: Instant,
}

impl Story {
    fn new() -> Self {
        Self {
            start: Instant::now(),
        }
    }

    fn say(&self, line: &str) {
        println!("[demo {:5.1}s] {line}", self.start.elapsed().as_secs_f64());
    }

    /// Polls `probe` until it gives a value; panics after `deadline`, or if the daemon ends.
    fn wait<T>(
        &self,
        what: &str,
        deadline: Duration,
        daemon: &thread::JoinHandle<Result<Report, ssofresh::daemon::run::Fatal>>,
        mut probe: impl FnMut() -> Option<T>,
    ) -> T {
        let start = Instant::now();
        loop {
            if let Some(value) = probe() {
                return value;
            }
            assert!(
                !daemon.is_finished(),
                "demo failed: the daemon stopped while waiting for {what}; see its log above"
            );
            assert!(
                start.elapsed() < deadline,
                "demo failed: no {what} within {deadline:?}; see the daemon's log above \
                 (if HTTP_PROXY is set, add 127.0.0.1 to NO_PROXY)"
            );
            thread::sleep(Duration::from_millis(5));
        }
    }
}

/// The access key ids of [dev] and [prod], once the credentials file holds both.
fn key_ids(home: &TestHome) -> Option<[String; 2]> {
    let text = std::fs::read_to_string(home.credentials_path()).ok()?;
    let id = |section| {
        section_lines(&text, section)
            .into_iter()
            .find(|(k, _)| k == "aws_access_key_id")
            .map(|(_, v)| v)
    };
    Some([id(PROFILES[0].0)?, id(PROFILES[1].0)?])
}

/// The `key = value` lines of `[section]`.
fn section_lines(text: &str, section: &str) -> Vec<(String, String)> {
    let header = format!("[{section}]");
    text.lines()
        .map(str::trim)
        .skip_while(|l| *l != header)
        .skip(1)
        .take_while(|l| !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

/// `[section]` with every value but the access key id and the expiry masked.
fn masked_section(text: &str, section: &str) -> Vec<String> {
    let mut lines = vec![format!("[{section}]")];
    for (key, value) in section_lines(text, section) {
        let shown = match key.as_str() {
            "aws_access_key_id" | "x_security_token_expires" => value,
            _ => "****".to_owned(),
        };
        lines.push(format!("{key} = {shown}"));
    }
    lines
}

/// The token file as JSON, or `None` while it is missing or not parsable.
fn read_json(path: &std::path::Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

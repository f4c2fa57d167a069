//! A login landing → credentials written: the real daemon in a temporary HOME with 10 SSO
//! profiles on one sso-session, 50 new logins (a new access token granted on the portal and
//! written to the token cache, alternately in place as `aws sso login` does and by temp file
//! and rename as botocore does). Each is timed from the token write finishing to the
//! credentials file holding the new key ids of every profile (checked on every inotify event
//! in `~/.aws`, and every 5 ms). Next to it, the floor: the same calls made by one `curl`
//! process on the same portal, 8 at once, timed the same way.
//!
//! Run with `cargo bench --bench landing`. `SSOFRESH_BENCH_PROFILES=N` and
//! `SSOFRESH_BENCH_LANDINGS=N` change the counts. It prints figures; it asserts nothing
//! about speed.

#![allow(clippy::print_stdout)] // a benchmark's job is to print figures

#[path = "../tests/it/common/mod.rs"]
mod common;
#[path = "support/mod.rs"]
mod support;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use common::{Daemon, ssofresh, token_json};
use ssofresh::daemon::DEBOUNCE;
use ssofresh::daemon::run::MAX_CONCURRENT_CALLS;
use support::{FileWatch, ROLE, TOKEN};

/// How long one landing is waited for (past the daemon's 10-s wake, so that a lost watcher
/// event shows as a figure rather than a miss).
const LIMIT: Duration = Duration::from_secs(20);

fn main() {
    let profiles = support::env_number("SSOFRESH_BENCH_PROFILES", 10);
    let landings = support::env_number("SSOFRESH_BENCH_LANDINGS", 50);
    if !support::start("Login landing -> credentials written") {
        return;
    }
    let (home, portal) = support::home_with_profiles(profiles, Duration::from_secs(3600));
    let accounts: Vec<String> = (0..profiles).map(support::account).collect();
    fs::create_dir_all(home.aws_dir()).expect("create ~/.aws");
    let watch = FileWatch::new(&home.aws_dir(), "credentials");
    let daemon = Daemon::spawn(ssofresh(&home, &portal));
    let first = watch.wait_until(Instant::now(), LIMIT, || {
        support::holds_latest(&home, &portal, TOKEN, &accounts)
    });
    assert!(
        first.is_some(),
        "no first credentials within {LIMIT:?}:\n{}",
        daemon.log()
    );
    watch.take_renames();

    let mut ours = Vec::new();
    let mut floor = Vec::new();
    let mut renames = Vec::new();
    let mut missed = 0;
    for i in 1..=landings {
        let token = format!("landing-{i}");
        for a in &accounts {
            portal.grant(&token, a, ROLE, Duration::from_secs(3600));
        }
        let json = token_json(&token, Utc::now() + TimeDelta::hours(8));
        let text = serde_json::to_string_pretty(&json).expect("token JSON");
        write_token(&home.token_path("corp"), &text, i % 2 == 0);
        let written = Instant::now();
        match watch.wait_until(written, LIMIT, || {
            support::holds_latest(&home, &portal, &token, &accounts)
        }) {
            Some(t) => ours.push(t),
            None => missed += 1,
        }
        renames.push(watch.take_renames());
        floor.push(support::curl_floor(
            &portal,
            &token,
            &accounts,
            MAX_CONCURRENT_CALLS,
        ));
        // Idle again, at an uneven pace.
        thread::sleep(Duration::from_millis(150 + 37 * (i as u64 % 5)));
    }
    let log = daemon.stop().stderr;

    ours.sort();
    floor.sort();
    renames.sort();
    println!(
        "  {profiles} profiles, {landings} landings (odd: in place, even: renamed into place); \
         curl makes the same {profiles} calls, {MAX_CONCURRENT_CALLS} at once"
    );
    println!(
        "  {:<24} {:>10} {:>10} {:>10} {:>10}",
        "", "p50", "p99", "min", "max"
    );
    for (label, t) in [("ssofresh daemon", &ours), ("curl (floor)", &floor)] {
        if t.is_empty() {
            continue;
        }
        println!(
            "  {label:<24} {:>10} {:>10} {:>10} {:>10}",
            support::ms(support::percentile(t, 0.5)),
            support::ms(support::percentile(t, 0.99)),
            support::ms(t[0]),
            support::ms(t[t.len() - 1])
        );
    }
    if !ours.is_empty() {
        let beyond =
            |p| support::percentile(&ours, p).saturating_sub(support::percentile(&floor, p));
        println!(
            "  beyond the floor: p50 {}, p99 {} (aim: under 20 ms); of it, the daemon's debounce \
             (DEBOUNCE, gathering the watcher's events before acting) is {}",
            support::ms(beyond(0.5)),
            support::ms(beyond(0.99)),
            support::ms(DEBOUNCE)
        );
    }
    println!(
        "  renames onto the credentials file per landing: {}-{} (total {})",
        renames[0],
        renames[renames.len() - 1],
        renames.iter().sum::<usize>()
    );
    if missed > 0 {
        println!("  ! {missed} landings NOT written within {LIMIT:?}");
    }
    for line in log
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
    {
        println!("  ! daemon said: {line}");
    }
}

/// Writes a token file in place (truncate, then write, as the AWS CLI v2 does) or by temp file
/// and rename (as botocore does); returns when the write has finished.
fn write_token(path: &Path, text: &str, rename: bool) {
    if rename {
        let tmp = path.with_extension("tmp");
        let mut f = fs::File::create(&tmp).expect("create the temp file");
        f.write_all(text.as_bytes()).expect("write the temp file");
        f.sync_all().expect("fsync the temp file");
        fs::rename(&tmp, path).expect("rename the temp file");
    } else {
        let mut f = fs::File::create(path).expect("open the token file");
        f.write_all(text.as_bytes()).expect("write the token file");
    }
}

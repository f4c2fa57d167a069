//! How long `ssofresh --once` takes, and how much memory it uses, for 1, 10 and 100 profiles
//! against the local portal; once with an instant portal and once with 50 ms per call (about
//! a real portal's latency), which shows what the bounded concurrency buys.
//!
//! Run with `cargo bench --bench once`. It prints figures; it asserts nothing about speed.

#![allow(clippy::print_stdout)] // a benchmark's job is to print figures

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Portal, Reply, TestHome, token_json};

const RUNS: usize = 15;

fn main() {
    println!("ssofresh --once, {RUNS} runs each (wall time of the whole process; peak RSS)");
    println!(
        "{:>9} {:>10} {:>10} {:>10} {:>10} {:>9}",
        "profiles", "latency", "median", "min", "max", "max RSS"
    );
    for latency in [Duration::ZERO, Duration::from_millis(50)] {
        for profiles in [1usize, 10, 100] {
            let (times, rss) = measure(profiles, latency);
            println!(
                "{profiles:>9} {:>10} {:>10} {:>10} {:>10} {:>6} MiB",
                format!("{} ms", latency.as_millis()),
                ms(times[times.len() / 2]),
                ms(times[0]),
                ms(times[times.len() - 1]),
                rss / 1024
            );
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Sorted wall times and the largest peak RSS (KiB) over [`RUNS`] runs.
fn measure(profiles: usize, latency: Duration) -> (Vec<Duration>, u64) {
    let home = TestHome::new();
    let portal = Portal::start();
    let mut config = String::from(
        "[sso-session corp]\nsso_start_url = https://d-1234567890.awsapps.com/start\nsso_region = us-east-1\n",
    );
    for i in 0..profiles {
        let account = format!("{:012}", 100_000_000_000u64 + i as u64);
        config.push_str(&format!(
            "\n[profile p{i}]\nsso_session = corp\nsso_account_id = {account}\nsso_role_name = Dev\n"
        ));
        portal.grant("tok", &account, "Dev", Duration::from_secs(3600));
        if !latency.is_zero() {
            portal.script(&account, "Dev", (0..RUNS).map(|_| Reply::Ok.after(latency)));
        }
    }
    home.write_config(&config);
    home.write_token(
        "corp",
        token_json("tok", chrono::Utc::now() + chrono::Duration::hours(8)),
    );
    let mut times = Vec::new();
    let mut max_rss = 0;
    for _ in 0..RUNS {
        let mut cmd = Command::new("/usr/bin/time");
        cmd.args([
            "-f",
            "maxrss=%M",
            env!("CARGO_BIN_EXE_ssofresh"),
            "--once",
            "-q",
        ])
        .env_clear()
        .env("HOME", home.path())
        .env("AWS_ENDPOINT_URL_SSO", portal.url())
        .stdin(Stdio::null());
        let start = Instant::now();
        let out = cmd.output().expect("run /usr/bin/time ssofresh");
        times.push(start.elapsed());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "ssofresh failed: {stderr}");
        let rss: u64 = stderr
            .lines()
            .find_map(|l| l.strip_prefix("maxrss="))
            .and_then(|v| v.trim().parse().ok())
            .expect("maxrss line from /usr/bin/time");
        max_rss = max_rss.max(rss);
    }
    assert_eq!(portal.credential_requests().len(), profiles * RUNS);
    times.sort();
    (times, max_rss)
}

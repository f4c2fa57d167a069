//! `ssofresh --once` for 1, 100 and 1,000 profiles on the local portal, next to its floor:
//! the same GetRoleCredentials calls made by one `curl` process on the same portal with the
//! same concurrency (8 at once, `--parallel --parallel-max 8`). Wall time of the whole
//! process for both; for ssofresh also the renames onto the credentials file per run
//! (counted with inotify) and the peak RSS (of one more, untimed run under `/usr/bin/time`).
//! First with an instant portal, then with 50 ms per call (about a real portal's latency).
//!
//! Run with `cargo bench --bench once`. `SSOFRESH_BENCH_RUNS=N` sets the runs per row;
//! `SSOFRESH_BENCH_FULL=1` adds 1,000 profiles at 50 ms. It prints figures and asserts
//! nothing about speed; it does check that every call of both clients succeeded.

#![allow(clippy::print_stdout)] // a benchmark's job is to print figures

#[path = "../tests/it/common/mod.rs"]
mod common;
#[path = "support/mod.rs"]
mod support;

use std::process::Command;
use std::time::Duration;

use common::{Reply, ssofresh};
use ssofresh::daemon::run::MAX_CONCURRENT_CALLS;
use support::{FileWatch, ROLE, TOKEN};

fn main() {
    let runs = support::env_number("SSOFRESH_BENCH_RUNS", 0);
    if !support::start("ssofresh --once against its curl floor") {
        return;
    }
    println!(
        "  wall time of the whole process, median of the runs (min-max); curl makes the same \
         calls with at most {MAX_CONCURRENT_CALLS} at once; renames = renames onto \
         ~/.aws/credentials per run"
    );
    println!(
        "  {:>8} {:>7} {:>4} {:>22} {:>22} {:>8} {:>8} {:>8}",
        "profiles",
        "latency",
        "runs",
        "ssofresh --once",
        "curl (floor)",
        "vs floor",
        "renames",
        "peak RSS"
    );
    let mut rows = vec![
        (1, Duration::ZERO, 20),
        (100, Duration::ZERO, 10),
        (1000, Duration::ZERO, 5),
        (1, Duration::from_millis(50), 10),
        (100, Duration::from_millis(50), 5),
    ];
    if support::full() {
        rows.push((1000, Duration::from_millis(50), 3));
    }
    for (profiles, latency, default_runs) in rows {
        let runs = if runs > 0 { runs } else { default_runs };
        row(profiles, latency, runs);
    }
}

/// Measures and prints one row: `runs` runs of each client, alternating.
fn row(profiles: usize, latency: Duration, runs: usize) {
    let (home, portal) = support::home_with_profiles(profiles, Duration::from_secs(3600));
    let accounts: Vec<String> = (0..profiles).map(support::account).collect();
    if !latency.is_zero() {
        for a in &accounts {
            // One scripted reply per call of both clients.
            portal.script(a, ROLE, (0..2 * runs + 1).map(|_| Reply::Ok.after(latency)));
        }
    }
    std::fs::create_dir_all(home.aws_dir()).expect("create ~/.aws");
    let watch = FileWatch::new(&home.aws_dir(), "credentials");
    let mut ours = Vec::new();
    let mut floor = Vec::new();
    let mut renames = Vec::new();
    for _ in 0..runs {
        floor.push(support::curl_floor(
            &portal,
            TOKEN,
            &accounts,
            MAX_CONCURRENT_CALLS,
        ));
        ours.push(support::once_run(ssofresh(&home, &portal)));
        renames.push(watch.take_renames());
    }
    let max_rss = peak_rss(&home, &portal);
    assert!(
        support::holds_latest(&home, &portal, TOKEN, &accounts),
        "the credentials file lacks the last credentials issued"
    );
    ours.sort();
    floor.sort();
    renames.sort();
    let spread = |t: &[Duration]| {
        format!(
            "{} ({}-{})",
            support::ms(t[t.len() / 2]),
            support::ms(t[0]),
            support::ms(t[t.len() - 1])
        )
    };
    let renames = if renames[0] == renames[renames.len() - 1] {
        renames[0].to_string()
    } else {
        format!("{}-{}", renames[0], renames[renames.len() - 1])
    };
    println!(
        "  {profiles:>8} {:>7} {runs:>4} {:>22} {:>22} {:>8} {renames:>8} {:>8}",
        format!("{} ms", latency.as_millis()),
        spread(&ours),
        spread(&floor),
        support::versus(ours[ours.len() / 2], floor[floor.len() / 2]),
        support::mib(max_rss)
    );
}

/// The peak RSS (KiB) of one more, untimed `ssofresh --once -q`, from `/usr/bin/time`.
fn peak_rss(home: &common::TestHome, portal: &common::Portal) -> u64 {
    let inner = ssofresh(home, portal);
    let mut cmd = Command::new("/usr/bin/time");
    cmd.args(["-f", "maxrss=%M"])
        .arg(inner.get_program())
        .args(["--once", "-q"])
        .env_clear()
        .envs(inner.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .current_dir(home.path());
    let out = cmd.output().expect("run /usr/bin/time ssofresh --once");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ssofresh --once failed: {stderr}");
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("maxrss="))
        .and_then(|v| v.trim().parse().ok())
        .expect("a maxrss line from /usr/bin/time")
}

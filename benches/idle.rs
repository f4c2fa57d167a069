//! The daemon idle: resident memory with 3 and with 100 SSO profiles (credentials for an
//! hour written, an 8-hour login; nothing to do), and with 100 whose calls went over HTTPS
//! (a TLS front before the portal); where that memory sits; and the CPU spent between
//! events, sampled every 100 ms so that each wake shows: the loop's capped sleep (every 10 s
//! it re-reads the token cache) and the rescan of the config and credentials files (every
//! 60 s). Last, what one re-read costs: five SIGHUPs, each measured alone.
//!
//! Run with `cargo bench --bench idle`. `SSOFRESH_BENCH_IDLE_SECS=N` sets the idle span
//! (default 65 s, so that one rescan falls in it). Linux only (`/proc`). It prints figures;
//! it asserts nothing about speed or size.

#![allow(clippy::print_stdout)] // a benchmark's job is to print figures

#[path = "../tests/it/common/mod.rs"]
mod common;
#[path = "support/mod.rs"]
mod support;

use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use common::{Daemon, Portal, TestHome, TestPki, TlsFront, ssofresh};
use ssofresh::daemon::{MAX_SLEEP, RESCAN};
use support::{FileWatch, Memory, TOKEN};

/// How long after the first write the daemon is left to settle before memory is read.
const SETTLE: Duration = Duration::from_secs(2);
/// The CPU sampling interval.
const SAMPLE: Duration = Duration::from_millis(100);

struct Running {
    label: String,
    daemon: Daemon,
    _home: TestHome,
    _portal: Portal,
    _front: Option<TlsFront>,
}

fn main() {
    let idle_secs = support::env_number("SSOFRESH_BENCH_IDLE_SECS", 65);
    println!("The daemon idle: {}", support::machine());
    let running: Vec<Running> = [(3, false), (100, false), (100, true)]
        .into_iter()
        .map(|(profiles, tls)| start(profiles, tls))
        .collect();
    thread::sleep(SETTLE);

    println!(
        "  Resident memory {} after the first write:",
        support::ms(SETTLE)
    );
    println!(
        "  {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "profiles", "RSS", "peak RSS", "PSS", "anonymous", "file", "threads"
    );
    let mems: Vec<Memory> = running.iter().map(|r| Memory::of(r.daemon.pid())).collect();
    for (r, m) in running.iter().zip(&mems) {
        println!(
            "  {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}",
            r.label,
            support::mib(m.rss),
            support::mib(m.hwm),
            support::mib(m.pss),
            support::mib(m.anon),
            support::mib(m.file),
            m.threads
        );
    }
    if let (Some(r), Some(m)) = (running.last(), mems.last()) {
        println!(
            "  where the RSS of the daemon with {} profiles sits:",
            r.label
        );
        for (kind, kib) in &m.by_kind {
            println!("    {:<40} {:>10}", kind, support::mib(*kib));
        }
    }

    println!(
        "  CPU between events over {idle_secs} s (on-CPU time of all threads from \
         /proc/<pid>/task/*/schedstat, sampled every {}):",
        support::ms(SAMPLE)
    );
    let pids: Vec<u32> = running.iter().map(|r| r.daemon.pid()).collect();
    let mut last: Vec<u64> = pids.iter().map(|p| support::cpu_ns(*p)).collect();
    let first = last.clone();
    // Per daemon: (seconds into the span, ns) of every sample in which it ran.
    let mut wakes: Vec<Vec<(f64, u64)>> = vec![Vec::new(); pids.len()];
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(idle_secs as u64) {
        thread::sleep(SAMPLE);
        for (k, pid) in pids.iter().enumerate() {
            let now = support::cpu_ns(*pid);
            if now > last[k] {
                wakes[k].push((start.elapsed().as_secs_f64(), now - last[k]));
            }
            last[k] = now;
        }
    }
    let span = start.elapsed().as_secs_f64();
    for (k, r) in running.iter().enumerate() {
        let total = last[k] - first[k];
        let per_hour_ms = total as f64 / 1e6 * 3600.0 / span;
        println!(
            "    {} profiles: {:.2} ms of CPU in {span:.0} s = {per_hour_ms:.0} ms per hour \
             ({:.4}% of one core)",
            r.label,
            total as f64 / 1e6,
            total as f64 / 1e9 / span * 100.0
        );
        let list: Vec<String> = wakes[k]
            .iter()
            .map(|(t, ns)| format!("{t:.1}s:{:.0}µs", *ns as f64 / 1e3))
            .collect();
        println!(
            "      samples with CPU (time into the span: CPU): {}",
            list.join(" ")
        );
        let hup = reread_cost(&r.daemon);
        println!(
            "      one re-read as SIGHUP does it (config, token cache, credentials: the work of \
             the {}-s rescan plus the {}-s wake's token-cache read), median of 5: {:.0} µs",
            RESCAN.as_secs(),
            MAX_SLEEP.as_secs(),
            hup as f64 / 1e3
        );
    }
    for r in running {
        let log = r.daemon.stop().stderr;
        for line in log
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        {
            println!("  ! daemon with {} profiles said: {line}", r.label);
        }
    }
}

/// The on-CPU time (ns) of one SIGHUP re-read, median of 5, each given 500 ms to finish.
fn reread_cost(daemon: &Daemon) -> u64 {
    let mut costs: Vec<u64> = (0..5)
        .map(|_| {
            let before = support::cpu_ns(daemon.pid());
            daemon.signal("HUP");
            thread::sleep(Duration::from_millis(500));
            support::cpu_ns(daemon.pid()) - before
        })
        .collect();
    costs.sort_unstable();
    costs[costs.len() / 2]
}

/// A daemon with `profiles` profiles, once it has written all of them; with `tls`, its
/// calls go through a TLS front (a throw-away CA in `AWS_CA_BUNDLE`), as a real portal's do.
fn start(profiles: usize, tls: bool) -> Running {
    let (home, portal) = support::home_with_profiles(profiles, Duration::from_secs(3600));
    let accounts: Vec<String> = (0..profiles).map(support::account).collect();
    fs::create_dir_all(home.aws_dir()).expect("create ~/.aws");
    let watch = FileWatch::new(&home.aws_dir(), "credentials");
    let mut cmd = ssofresh(&home, &portal);
    let front = tls.then(|| {
        let pki = TestPki::generate();
        let front = TlsFront::start(&pki, portal.addr());
        cmd.env("AWS_ENDPOINT_URL_SSO", front.url())
            .env("AWS_CA_BUNDLE", pki.write_ca(&home));
        front
    });
    let daemon = Daemon::spawn(cmd);
    let written = watch.wait_until(Instant::now(), Duration::from_secs(30), || {
        support::holds_latest(&home, &portal, TOKEN, &accounts)
    });
    assert!(
        written.is_some(),
        "the daemon with {profiles} profiles wrote nothing within 30 s:\n{}",
        daemon.log()
    );
    Running {
        label: format!("{profiles}{}", if tls { " HTTPS" } else { "" }),
        daemon,
        _home: home,
        _portal: portal,
        _front: front,
    }
}

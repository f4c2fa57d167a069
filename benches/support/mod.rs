//! What the issue-8 benchmarks share: a HOME with N SSO profiles on one local portal, the
//! curl floor (the same GetRoleCredentials calls made by `curl` on the same portal, with the
//! same concurrency), a watcher that counts renames onto the credentials file and wakes a
//! waiter on every change, per-process CPU and memory from `/proc`, and the figures.
//!
//! Included by path (`#[path = "support/mod.rs"]`) next to `tests/it/common`, whose
//! [`Portal`] and [`TestHome`] it uses. Each bench uses only part of it.
#![allow(dead_code)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use notify::event::{EventKind, ModifyKind, RenameMode};
use notify::{RecursiveMode, Watcher};

use crate::common::{Portal, TestHome, token_json};

/// The access token every bench home is logged in with.
pub const TOKEN: &str = "bench-token";
/// The role every profile takes.
pub const ROLE: &str = "Dev";
/// `/usr/bin/curl`, the floor's client.
pub const CURL: &str = "/usr/bin/curl";

/// The 12-digit account of profile `i`.
pub fn account(i: usize) -> String {
    format!("{:012}", 100_000_000_000u64 + i as u64)
}

/// A HOME with `profiles` SSO profiles (`p0`, `p1`, …) on one sso-session, logged in with
/// [`TOKEN`] (8 h left), and a portal that grants every profile's role for `lifetime`.
pub fn home_with_profiles(profiles: usize, lifetime: Duration) -> (TestHome, Portal) {
    let home = TestHome::new();
    let portal = Portal::start();
    let mut config = String::from(
        "[sso-session corp]\nsso_start_url = https://d-1234567890.awsapps.com/start\nsso_region = us-east-1\n",
    );
    for i in 0..profiles {
        let account = account(i);
        config.push_str(&format!(
            "\n[profile p{i}]\nsso_session = corp\nsso_account_id = {account}\nsso_role_name = {ROLE}\n"
        ));
        portal.grant(TOKEN, &account, ROLE, lifetime);
    }
    home.write_config(&config);
    home.write_token("corp", token_json(TOKEN, Utc::now() + TimeDelta::hours(8)));
    (home, portal)
}

/// Prints the bench's title with the machine; true if `/usr/bin/curl` runs, else says that
/// the floor is missing.
pub fn start(title: &str) -> bool {
    println!("{title}: {}", machine());
    let present = Command::new(CURL)
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        println!("  {CURL} is missing: install curl (apt-get install curl) for the floor");
    }
    present
}

/// The floor: one `curl` process making GetRoleCredentials for `accounts` with `token` on
/// `portal`, at most `parallel` at once (`--parallel --parallel-max`), bodies discarded. The
/// wall time of the whole process, as `ssofresh --once` is timed. Panics unless every call
/// got 200 (a floor made of errors would flatter nothing).
pub fn curl_floor(portal: &Portal, token: &str, accounts: &[String], parallel: usize) -> Duration {
    // The calls go in a config file (`-K`): a thousand URLs would not fit well on a command
    // line, and the token stays off it as ssofresh keeps it off its own.
    let mut config = tempfile::NamedTempFile::new().expect("create the curl config");
    let mut text = format!("silent\nheader = \"x-amz-sso_bearer_token: {token}\"\n");
    text.push_str("write-out = \"%{http_code}\\n\"\n");
    for account in accounts {
        text.push_str(&format!(
            "url = \"{}/federation/credentials?role_name={ROLE}&account_id={account}\"\noutput = \"/dev/null\"\n",
            portal.url()
        ));
    }
    config
        .write_all(text.as_bytes())
        .expect("write the curl config");
    let mut cmd = Command::new(CURL);
    if accounts.len() > 1 {
        cmd.args(["--parallel", "--parallel-max", &parallel.to_string()]);
    }
    cmd.arg("-K").arg(config.path()).stdin(Stdio::null());
    let start = Instant::now();
    let out = cmd.output().expect("run curl");
    let elapsed = start.elapsed();
    let codes = String::from_utf8_lossy(&out.stdout);
    let ok = codes.lines().filter(|c| *c == "200").count();
    assert!(
        out.status.success() && ok == accounts.len(),
        "curl floor: {ok} of {} calls answered 200 ({}): {}",
        accounts.len(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

/// Watches a HOME's `~/.aws` folder: counts renames onto `credentials` (whatever way the
/// writer renames: `rename`, `renameat2` with or without `RENAME_EXCHANGE`), and wakes
/// [`FileWatch::wait_until`] on every change there.
pub struct FileWatch {
    _watcher: notify::RecommendedWatcher,
    renames: Arc<AtomicUsize>,
    changes: mpsc::Receiver<()>,
}

impl FileWatch {
    /// Starts watching `dir` (which must exist) for renames onto `dir/name`.
    pub fn new(dir: &Path, name: &str) -> Self {
        let renames = Arc::new(AtomicUsize::new(0));
        let (tx, changes) = mpsc::channel();
        let counted = Arc::clone(&renames);
        let target = dir.join(name);
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else { return };
                if event.kind == EventKind::Modify(ModifyKind::Name(RenameMode::To))
                    && event.paths.iter().any(|p| p == &target)
                {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
                let _ = tx.send(());
            })
            .expect("start the file watcher");
        watcher
            .watch(dir, RecursiveMode::NonRecursive)
            .expect("watch the folder");
        Self {
            _watcher: watcher,
            renames,
            changes,
        }
    }

    /// Renames onto the file since the last call (events of the last moment included: it
    /// waits 50 ms for the watcher to catch up first).
    pub fn take_renames(&self) -> usize {
        std::thread::sleep(Duration::from_millis(50));
        self.renames.swap(0, Ordering::SeqCst)
    }

    /// Checks `cond` at once, on every change in the folder, and every 5 ms; the time from
    /// `since` to the first check that holds, or `None` after `limit`.
    pub fn wait_until(
        &self,
        since: Instant,
        limit: Duration,
        mut cond: impl FnMut() -> bool,
    ) -> Option<Duration> {
        loop {
            if cond() {
                return Some(since.elapsed());
            }
            if since.elapsed() >= limit {
                return None;
            }
            let _ = self.changes.recv_timeout(Duration::from_millis(5));
        }
    }
}

/// True if the credentials file holds, for every account of `accounts`, the key id that the
/// portal last issued to `token` for it.
pub fn holds_latest(home: &TestHome, portal: &Portal, token: &str, accounts: &[String]) -> bool {
    let issued = portal.issued();
    let Ok(text) = fs::read_to_string(home.credentials_path()) else {
        return false;
    };
    accounts.iter().all(|a| {
        issued
            .iter()
            .rev()
            .find(|i| i.token == token && &i.account == a)
            .is_some_and(|i| text.contains(i.access_key_id.as_str()))
    })
}

/// On-CPU time of every thread of `pid` so far, in ns (`/proc/<pid>/task/*/schedstat`,
/// nanosecond resolution; `/proc/<pid>/stat` counts 10-ms ticks).
pub fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// One line of `/proc/<pid>/status` or `smaps_rollup` (`name:  123 kB`), in KiB.
fn kib_field(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resident memory of a process, in KiB, and where it sits.
#[derive(Debug, Default, Clone)]
pub struct Memory {
    pub rss: u64,
    pub hwm: u64,
    pub pss: u64,
    pub anon: u64,
    pub file: u64,
    pub threads: u64,
    /// Resident KiB by mapping kind: the executable, shared libraries, `[heap]`, other
    /// anonymous mappings (thread stacks, malloc arenas), the main stack.
    pub by_kind: Vec<(String, u64)>,
}

impl Memory {
    /// Reads `/proc/<pid>/{status,smaps_rollup,smaps}`.
    pub fn of(pid: u32) -> Memory {
        let read = |f: &str| fs::read_to_string(format!("/proc/{pid}/{f}")).unwrap_or_default();
        let status = read("status");
        let rollup = read("smaps_rollup");
        let exe: PathBuf = fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
        let mut by_kind: Vec<(String, u64)> = Vec::new();
        let mut kind = String::new();
        for line in read("smaps").lines() {
            let mut fields = line.split_whitespace();
            let first = fields.next().unwrap_or("");
            if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                let perms = fields.next().unwrap_or("");
                let name = fields.nth(3).unwrap_or("");
                kind = if Path::new(name) == exe {
                    if perms.contains('x') {
                        "executable: code".to_owned()
                    } else if perms.contains('w') {
                        "executable: data".to_owned()
                    } else {
                        "executable: read-only data".to_owned()
                    }
                } else if name.starts_with('/') {
                    format!(
                        "library {}",
                        Path::new(name)
                            .file_name()
                            .map_or_else(|| name.into(), |n| n.to_string_lossy())
                    )
                } else if name.is_empty() {
                    "anonymous (thread stacks, arenas)".to_owned()
                } else {
                    name.to_owned()
                };
            } else if first == "Rss:" {
                let kib: u64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
                match by_kind.iter_mut().find(|(k, _)| *k == kind) {
                    Some((_, total)) => *total += kib,
                    None => by_kind.push((kind.clone(), kib)),
                }
            }
        }
        by_kind.retain(|(_, kib)| *kib > 0);
        by_kind.sort_by_key(|k| std::cmp::Reverse(k.1));
        Memory {
            rss: kib_field(&status, "VmRSS"),
            hwm: kib_field(&status, "VmHWM"),
            pss: kib_field(&rollup, "Pss"),
            anon: kib_field(&status, "RssAnon"),
            file: kib_field(&status, "RssFile"),
            threads: status
                .lines()
                .find_map(|l| l.strip_prefix("Threads:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0),
            by_kind,
        }
    }
}

/// KiB as MiB with one decimal.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// A duration in ms with one decimal (three below 1 ms).
pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1.0 {
        format!("{ms:.3} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// Nearest-rank percentile `p` (0..=1) of a sorted list.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `a` against `b`, as `+12.3%` (or `-4.0%`).
pub fn versus(a: Duration, b: Duration) -> String {
    let pct = (a.as_secs_f64() / b.as_secs_f64() - 1.0) * 100.0;
    format!("{pct:+.1}%")
}

/// A number from the environment variable `name`, else `default`.
pub fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// True if `SSOFRESH_BENCH_FULL` is set to 1: the heavier variants run too.
pub fn full() -> bool {
    std::env::var("SSOFRESH_BENCH_FULL").is_ok_and(|v| v == "1")
}

/// The machine, for the figures' header: CPU model, cores, memory, load.
pub fn machine() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map_or("unknown CPU".to_owned(), |(_, m)| m.trim().to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "{model}, {cores} cores, {} memory, load average {}",
        mib(kib_field(&meminfo, "MemTotal")),
        load.join(" ")
    )
}

/// One `ssofresh --once -q` run of `cmd` (the binary, its environment set): its wall time, as
/// the floor's is taken (no wrapper process). Panics unless it succeeded.
pub fn once_run(mut cmd: Command) -> Duration {
    cmd.args(["--once", "-q"]);
    let start = Instant::now();
    let out = cmd.output().expect("run ssofresh --once");
    let elapsed = start.elapsed();
    assert!(
        out.status.success(),
        "ssofresh --once failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

//! The figures issue 3 asks for, measured: how soon a login landing in the SSO token cache
//! becomes credentials in `~/.aws/credentials`, and how many calls the daemon makes per
//! profile per hour; with the daemon's peak memory and CPU time.
//!
//! 1. Login-landing latency: the real binary as a daemon in a temporary HOME against the local
//!    portal, two profiles on one sso-session. Twenty new logins (a new access token granted
//!    on the portal and written to the token file), alternately in place (truncate + write,
//!    as `aws sso login` does) and by temp file + rename (as botocore does); the time from the
//!    write finishing to the credentials file holding the new key ids of both profiles,
//!    polled every 1 ms. Then the first login on a machine with no `~/.aws` at all.
//! 2. Calls per profile per hour: the pure engine with a fake clock over 24 simulated hours,
//!    and the real daemon for a minute with 20-s credentials, next to what the engine's
//!    schedule predicts for that minute; peak RSS and CPU time from `/proc`.
//!
//! Run with `cargo bench --bench daemon` (Linux: it reads `/proc`). It prints figures; it
//! asserts nothing about speed. About 1.5 minutes.

#![allow(clippy::print_stdout)] // a benchmark's job is to print figures

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use common::{Portal, TestHome, ssofresh, token_json};
use ssofresh::daemon::engine::{Action, Engine, Event, Refresh, Seen, Settings, WriteResult};
use ssofresh::files::config::{self, LoginId};
use ssofresh::files::credfile::RoleCredentials;
use ssofresh::login::token::{RefreshGrant, Token};
use ssofresh::secret::Secret;

const START_URL: &str = "https://d-1234567890.awsapps.com/start";
const SESSION_HEAD: &str = "[sso-session corp]\nsso_start_url = https://d-1234567890.awsapps.com/start\nsso_region = us-east-1\n";
const LANDINGS: usize = 20;
const FIRST_LOGINS: usize = 3;
/// How long a landing is waited for before it is counted as missed (past the daemon's
/// 30-s safety-net wake, so a lost watcher event still shows up as a figure).
const LANDING_LIMIT: Duration = Duration::from_secs(40);
const MINUTE: Duration = Duration::from_secs(60);
const REFRESH_DAEMONS: usize = 10;

fn main() {
    let clk_tck = clock_ticks_per_second();
    landing_latency();
    first_login();
    engine_schedule();
    real_minute(clk_tck);
    refresh_loop_back();
}

// ---------------------------------------------------------------------------------------
// 1. Login-landing latency
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteStyle {
    /// `open(O_TRUNC)` then write, as `aws sso login` (CLI v2) does.
    InPlace,
    /// `tmpXXXX.tmp` in the same folder, fsync, rename over the file, as botocore ≥ 1.42.11.
    Rename,
}

impl WriteStyle {
    fn label(self) -> &'static str {
        match self {
            WriteStyle::InPlace => "in place (truncate+write, AWS CLI v2)",
            WriteStyle::Rename => "temp file + rename (botocore)",
        }
    }
}

/// Writes `text` to `path` the way `style` says; returns when the write has finished.
fn write_token_file(path: &Path, text: &str, style: WriteStyle, n: usize) {
    let dir = path.parent().expect("token file has a folder");
    fs::create_dir_all(dir).expect("create the cache folder");
    match style {
        WriteStyle::InPlace => {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(path)
                .expect("open the token file");
            f.write_all(text.as_bytes()).expect("write the token file");
        }
        WriteStyle::Rename => {
            let tmp = dir.join(format!("tmp{n:08x}.tmp"));
            let mut f = fs::File::create(&tmp).expect("create the temp file");
            f.write_all(text.as_bytes()).expect("write the temp file");
            f.sync_all().expect("fsync the temp file");
            drop(f);
            fs::rename(&tmp, path).expect("rename the temp file");
        }
    }
}

fn accounts(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{:012}", 111_111_111_111u64 * (i as u64 + 1)))
        .collect()
}

fn session_config(accounts: &[String]) -> String {
    let mut config = String::from(SESSION_HEAD);
    for (i, account) in accounts.iter().enumerate() {
        config.push_str(&format!(
            "\n[profile p{i}]\nsso_session = corp\nsso_account_id = {account}\nsso_role_name = Dev\n"
        ));
    }
    config
}

/// Polls every 1 ms until the credentials file holds, for every account, the key id the
/// portal issued to `token`; the time since `since`, or `None` after [`LANDING_LIMIT`].
fn wait_landed(
    home: &TestHome,
    portal: &Portal,
    token: &str,
    accounts: &[String],
    since: Instant,
) -> Option<Duration> {
    let path = home.credentials_path();
    while since.elapsed() < LANDING_LIMIT {
        let issued = portal.issued();
        let ids: Option<Vec<String>> = accounts
            .iter()
            .map(|a| {
                issued
                    .iter()
                    .rev()
                    .find(|i| i.token == token && &i.account == a)
                    .map(|i| i.access_key_id.clone())
            })
            .collect();
        if let Some(ids) = ids
            && let Ok(text) = fs::read_to_string(&path)
            && ids.iter().all(|id| text.contains(id.as_str()))
        {
            return Some(since.elapsed());
        }
        thread::sleep(Duration::from_millis(1));
    }
    None
}

fn landing_latency() {
    let home = TestHome::new();
    let portal = Portal::start();
    let accounts = accounts(2);
    for a in &accounts {
        portal.grant("tok-0", a, "Dev", Duration::from_secs(3600));
    }
    home.write_config(&session_config(&accounts));
    home.write_token(
        "corp",
        token_json("tok-0", Utc::now() + TimeDelta::hours(8)),
    );
    let daemon = Daemon::start(ssofresh(&home, &portal));
    wait_landed(&home, &portal, "tok-0", &accounts, Instant::now())
        .expect("the first credentials within 40 s");

    let mut by_style: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut each = Vec::new();
    let mut missed = Vec::new();
    for i in 1..=LANDINGS {
        let style = if i % 2 == 1 {
            WriteStyle::InPlace
        } else {
            WriteStyle::Rename
        };
        let token = format!("tok-{i}");
        for a in &accounts {
            portal.grant(&token, a, "Dev", Duration::from_secs(3600));
        }
        let json = token_json(&token, Utc::now() + TimeDelta::hours(8));
        let text = serde_json::to_string_pretty(&json).expect("token JSON");
        write_token_file(&home.token_path("corp"), &text, style, i);
        let done = Instant::now();
        match wait_landed(&home, &portal, &token, &accounts, done) {
            Some(t) => {
                by_style.entry(style.label()).or_default().push(t);
                let mark = if style == WriteStyle::InPlace {
                    "i"
                } else {
                    "r"
                };
                each.push(format!("{mark}{:.0}", t.as_secs_f64() * 1000.0));
            }
            None => missed.push((i, style.label())),
        }
        // Let the daemon go idle again, at an uneven pace.
        thread::sleep(Duration::from_millis(200 + 37 * (i as u64 % 5)));
    }
    let log = daemon.stop();

    println!(
        "1. Login landing -> credentials written, real daemon, 2 profiles on one sso-session, \
         {LANDINGS} new logins (time from the token write finishing to the credentials file \
         holding both new key ids; polled every 1 ms)"
    );
    println!(
        "   {:<40} {:>3} {:>9} {:>9} {:>9} {:>9}",
        "write style", "n", "median", "min", "p90", "max"
    );
    let mut all = Vec::new();
    for (label, times) in &by_style {
        print_row(label, times);
        all.extend(times.iter().copied());
    }
    print_row("overall", &all);
    println!(
        "   each, in order (i = in place, r = rename; ms): {}",
        each.join(" ")
    );
    for (i, label) in &missed {
        println!("   landing {i} ({label}): NOT written within {LANDING_LIMIT:?}");
    }
    print_log_summary(&log);
    println!();
}

fn print_row(label: &str, times: &[Duration]) {
    let mut t = times.to_vec();
    t.sort();
    if t.is_empty() {
        println!("   {label:<40}   0");
        return;
    }
    println!(
        "   {label:<40} {:>3} {:>9} {:>9} {:>9} {:>9}",
        t.len(),
        ms(median(&t)),
        ms(t[0]),
        ms(percentile(&t, 0.9)),
        ms(t[t.len() - 1])
    );
}

/// The first login on a new machine: the daemon started with no `~/.aws` at all.
fn first_login() {
    println!(
        "   First login after start, no ~/.aws folder at all ({FIRST_LOGINS} runs each, a fresh HOME and daemon per run):"
    );
    for configure in [false, true] {
        let mut times = Vec::new();
        let mut logs = Vec::new();
        let mut before = Vec::new();
        for run in 0..FIRST_LOGINS {
            let home = TestHome::new();
            let portal = Portal::start();
            let accounts = accounts(2);
            for a in &accounts {
                portal.grant("tok-first", a, "Dev", Duration::from_secs(3600));
            }
            let mut cmd = ssofresh(&home, &portal);
            let outside = home.path().join("aws-config");
            if !configure {
                fs::write(&outside, session_config(&accounts)).expect("write the config");
                cmd.env("AWS_CONFIG_FILE", &outside);
            }
            let daemon = Daemon::start(cmd);
            // Let the daemon settle into its wait before the login lands.
            thread::sleep(Duration::from_millis(300));
            if run == 0 {
                before.push(listing(&home.aws_dir()));
            }
            let json = token_json("tok-first", Utc::now() + TimeDelta::hours(8));
            let text = serde_json::to_string_pretty(&json).expect("token JSON");
            let style = if run % 2 == 0 {
                WriteStyle::InPlace
            } else {
                WriteStyle::Rename
            };
            write_token_file(&home.token_path("corp"), &text, style, run);
            if configure {
                // `aws configure sso` logs in first, then writes the profile.
                fs::write(home.config_path(), session_config(&accounts)).expect("write config");
            }
            let done = Instant::now();
            match wait_landed(&home, &portal, "tok-first", &accounts, done) {
                Some(t) => times.push(t),
                None => println!("     run {run}: NOT written within {LANDING_LIMIT:?}"),
            }
            logs.push(daemon.stop());
        }
        let label = if configure {
            "token, then ~/.aws/config (aws configure sso)"
        } else {
            "config elsewhere (AWS_CONFIG_FILE); token"
        };
        times.sort();
        let list: Vec<String> = times.iter().map(|t| ms(*t)).collect();
        println!("   {label:<46} {}", list.join(", "));
        for b in &before {
            println!("     ~/.aws just before the login (made by the daemon at start): {b}");
        }
        for log in &logs {
            print_log_summary(log);
        }
    }
    println!("   (in place and rename alternate across runs; time from the last write finishing)");
    println!();
}

/// The names under `dir`, recursively, or "absent".
fn listing(dir: &Path) -> String {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        let mut names: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        names.sort();
        for path in names {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            let name = format!("{prefix}{}", name.unwrap_or_default());
            if path.is_dir() {
                out.push(format!("{name}/"));
                walk(&path, &format!("{name}/"), out);
            } else {
                out.push(name);
            }
        }
    }
    if !dir.exists() {
        return "absent".to_owned();
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out);
    if out.is_empty() {
        "empty".to_owned()
    } else {
        out.join(", ")
    }
}

// ---------------------------------------------------------------------------------------
// 2a. The engine's schedule with a fake clock
// ---------------------------------------------------------------------------------------

/// One simulated run of the pure engine.
#[derive(Debug, Clone)]
struct Sim {
    margin: TimeDelta,
    credentials: TimeDelta,
    span: TimeDelta,
    session_profiles: usize,
    legacy_profiles: usize,
    /// How long the first session token has left at the start.
    first_token: TimeDelta,
    /// When a CreateToken and GetRoleCredentials calls are out at once, whether the
    /// CreateToken answer is handed to the engine first.
    refresh_answers_first: bool,
}

/// What a simulated run counted.
#[derive(Debug, Default)]
struct Counts {
    /// GetRoleCredentials per login kind.
    session_calls: usize,
    legacy_calls: usize,
    /// CreateToken calls (session login only: legacy logins cannot be refreshed).
    refreshes: usize,
    /// New legacy logins the simulated user made when the old one ended.
    legacy_relogins: usize,
    /// Calls per profile name, with the simulated time of each.
    calls: BTreeMap<String, Vec<DateTime<Utc>>>,
}

fn sim_token(access: &str, expires: DateTime<Utc>, refreshable: bool, now: DateTime<Utc>) -> Token {
    Token {
        access_token: Secret::new(access),
        expires_at: expires,
        region: Some("us-east-1".into()),
        start_url: Some(START_URL.into()),
        refresh: refreshable.then(|| RefreshGrant {
            refresh_token: Secret::new(format!("refresh-{access}")),
            client_id: "client".into(),
            client_secret: Secret::new("client-secret"),
            registration_expires_at: now + TimeDelta::days(90),
        }),
    }
}

/// Drives the engine the way the daemon's loop does: on every wake (at the engine's
/// `next_wake`, capped at 30 s) the token files are read, `decide` runs, calls answer at
/// once, writes succeed; repeated until nothing more is due at that instant.
fn simulate(sim: &Sim) -> Counts {
    let settings = Settings {
        refresh_margin: sim.margin,
        selection: Default::default(),
        with_region: false,
        once: false,
    };
    let mut engine = Engine::new(settings, 0x5eed);
    let t0 = Utc::now();
    let end = t0 + sim.span;
    let mut text = String::from(SESSION_HEAD);
    for i in 0..sim.session_profiles {
        text.push_str(&format!(
            "\n[profile s{i}]\nsso_session = corp\nsso_account_id = {:012}\nsso_role_name = Dev\n",
            100_000_000_000u64 + i as u64
        ));
    }
    for i in 0..sim.legacy_profiles {
        text.push_str(&format!(
            "\n[profile l{i}]\nsso_start_url = {START_URL}\nsso_region = us-east-1\nsso_account_id = {:012}\nsso_role_name = Dev\n",
            200_000_000_000u64 + i as u64
        ));
    }
    let profiles = config::parse(&text).expect("the simulated config parses");
    let session = LoginId::Session("corp".into());
    let legacy = LoginId::StartUrl(START_URL.into());
    let token_life = TimeDelta::hours(8);

    let mut counts = Counts::default();
    let mut session_file = sim_token("s-0", t0 + sim.first_token, true, t0);
    let mut legacy_file = sim_token("l-0", t0 + token_life, false, t0);
    let mut minted = 0usize;
    let mut keys = 0usize;
    let mut now = t0;
    let mut pending: Vec<Event> = vec![Event::Config(Ok(profiles))];
    while now < end {
        // The user logs in again as soon as a legacy login ends.
        if legacy_file.expires_at <= now && sim.legacy_profiles > 0 {
            minted += 1;
            legacy_file = sim_token(&format!("l-{minted}"), now + token_life, false, now);
            counts.legacy_relogins += 1;
        }
        // Every wake re-reads the token files.
        pending.push(Event::Login {
            login: session.clone(),
            seen: Seen::Token(session_file.clone()),
        });
        pending.push(Event::Login {
            login: legacy.clone(),
            seen: Seen::Token(legacy_file.clone()),
        });
        loop {
            let mut actions = Vec::new();
            for event in pending.drain(..) {
                actions.extend(engine.handle(event, now));
            }
            actions.extend(engine.decide(now));
            let mut any = false;
            let (mut fetched, mut refreshed) = (Vec::new(), Vec::new());
            let mut queue: std::collections::VecDeque<Action> = actions.into();
            while let Some(action) = queue.pop_front() {
                match action {
                    Action::Fetch {
                        target, version, ..
                    } => {
                        any = true;
                        if target.login == session {
                            counts.session_calls += 1;
                        } else {
                            counts.legacy_calls += 1;
                        }
                        counts
                            .calls
                            .entry(target.name().to_owned())
                            .or_default()
                            .push(now);
                        keys += 1;
                        fetched.push(Event::Fetched {
                            profile: target.name().to_owned(),
                            token: version,
                            result: Ok(RoleCredentials {
                                access_key_id: format!("ASIASIM{keys:012}"),
                                secret_access_key: Secret::new("sim-secret"),
                                session_token: Secret::new("sim-session"),
                                expiration: now + sim.credentials,
                            }),
                        });
                    }
                    Action::Refresh { login, version, .. } => {
                        any = true;
                        counts.refreshes += 1;
                        minted += 1;
                        // The daemon writes the refreshed token back into the same file.
                        session_file =
                            sim_token(&format!("s-{minted}"), now + token_life, true, now);
                        refreshed.push(Event::Refreshed {
                            login,
                            from: version,
                            result: Refresh::Done(session_file.clone()),
                        });
                    }
                    Action::Write { .. } => {
                        any = true;
                        queue.extend(engine.handle(
                            Event::Wrote(WriteResult::Done {
                                refused: Vec::new(),
                                text: format!("simulated write {keys}").into(),
                            }),
                            now,
                        ));
                    }
                    Action::Log(..) | Action::Notify(_) => {}
                }
            }
            if sim.refresh_answers_first {
                pending.extend(refreshed);
                pending.extend(fetched);
            } else {
                pending.extend(fetched);
                pending.extend(refreshed);
            }
            if !any && pending.is_empty() {
                break;
            }
        }
        let cap = now + TimeDelta::seconds(30);
        now = engine.next_wake(now).map_or(cap, |t| t.min(cap));
    }
    counts
}

fn engine_schedule() {
    println!(
        "2a. Calls per profile per hour, the pure engine with a fake clock, 24 simulated hours, \
         10 profiles: 5 on an sso-session (refresh token, 8-h access tokens) and 5 on a legacy \
         login (8-h tokens; the simulated user logs in again the moment one ends), margin 10 min"
    );
    println!(
        "   {:<12} {:>16} {:>16} {:>12} {:>22} {:>16}",
        "credentials",
        "GRC/prof/h sess.",
        "GRC/prof/h legacy",
        "GRC/prof/h",
        "CreateToken/login/day",
        "legacy re-logins"
    );
    for hours in [1, 12] {
        let sim = Sim {
            margin: TimeDelta::minutes(10),
            credentials: TimeDelta::hours(hours),
            span: TimeDelta::hours(24),
            session_profiles: 5,
            legacy_profiles: 5,
            first_token: TimeDelta::hours(8),
            refresh_answers_first: false,
        };
        let c = simulate(&sim);
        let per = |calls: usize, n: usize| calls as f64 / n as f64 / 24.0;
        println!(
            "   {:<12} {:>16.3} {:>17.3} {:>12.3} {:>22} {:>16}",
            format!("{hours} h"),
            per(c.session_calls, sim.session_profiles),
            per(c.legacy_calls, sim.legacy_profiles),
            per(c.session_calls + c.legacy_calls, 10),
            c.refreshes,
            c.legacy_relogins
        );
        for (kind, prefix) in [("sso-session", "s"), ("legacy", "l")] {
            let of_kind: BTreeMap<String, Vec<DateTime<Utc>>> = c
                .calls
                .iter()
                .filter(|(name, _)| name.starts_with(prefix))
                .map(|(n, t)| (n.clone(), t.clone()))
                .collect();
            let gaps = gaps_secs(&of_kind);
            let calls: usize = of_kind.values().map(Vec::len).sum();
            if let (Some(lo), Some(hi)) = (
                gaps.iter().copied().reduce(f64::min),
                gaps.iter().copied().reduce(f64::max),
            ) {
                println!(
                    "   {:<12} {kind}: {calls} calls (first included), a profile's calls {} to {} apart",
                    "",
                    hms(lo),
                    hms(hi),
                );
            }
        }
    }
    println!(
        "   (CreateToken/login/day is for the sso-session login; legacy logins cannot be refreshed, \
         so each re-login renews its profiles at once)"
    );
    println!();
}

/// Seconds between consecutive calls of the same profile, over every profile.
fn gaps_secs(calls: &BTreeMap<String, Vec<DateTime<Utc>>>) -> Vec<f64> {
    calls
        .values()
        .flat_map(|times| {
            times
                .windows(2)
                .map(|w| (w[1] - w[0]).num_milliseconds() as f64 / 1000.0)
                .collect::<Vec<_>>()
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// 2b. The real daemon for a minute
// ---------------------------------------------------------------------------------------

fn real_minute(clk_tck: u64) {
    // The busy one: 20-s credentials, margin 10 s, and a token 19 min from its end, so that
    // it also refreshes the token once at start (its own write must not loop back).
    let busy_home = TestHome::new();
    let busy_portal = Portal::start();
    let accounts = accounts(2);
    for a in &accounts {
        busy_portal.grant("busy", a, "Dev", Duration::from_secs(20));
    }
    busy_portal.add_refresh_token("refresh-busy", "busy");
    busy_home.write_config(&session_config(&accounts));
    busy_home.write_token(
        "corp",
        token_json("busy", Utc::now() + TimeDelta::minutes(19)),
    );

    // The idle one, alongside: 1-h credentials, an 8-h token; nothing to do all minute.
    let idle_home = TestHome::new();
    let idle_portal = Portal::start();
    for a in &accounts {
        idle_portal.grant("idle", a, "Dev", Duration::from_secs(3600));
    }
    idle_home.write_config(&session_config(&accounts));
    idle_home.write_token("corp", token_json("idle", Utc::now() + TimeDelta::hours(8)));

    let mut busy_cmd = ssofresh(&busy_home, &busy_portal);
    busy_cmd.args(["--refresh-margin", "10s"]);
    let start = Instant::now();
    let busy = Daemon::start(busy_cmd);
    let idle = Daemon::start(ssofresh(&idle_home, &idle_portal));
    let busy_cpu0 = cpu_ticks(busy.pid());
    let idle_cpu0 = cpu_ticks(idle.pid());

    // When each profile's calls arrived, polled every 20 ms.
    let mut seen = vec![0usize; accounts.len()];
    let mut arrivals: Vec<Vec<Duration>> = vec![Vec::new(); accounts.len()];
    while start.elapsed() < MINUTE {
        for (k, a) in accounts.iter().enumerate() {
            let n = busy_portal.count(a, "Dev");
            while seen[k] < n {
                seen[k] += 1;
                arrivals[k].push(start.elapsed());
            }
        }
        thread::sleep(Duration::from_millis(20));
    }
    let elapsed = start.elapsed();
    let busy_total = cpu_ticks(busy.pid());
    let idle_total = cpu_ticks(idle.pid());
    let busy_cpu = busy_total.saturating_sub(busy_cpu0);
    let idle_cpu = idle_total.saturating_sub(idle_cpu0);
    let busy_rss = vm_hwm_kib(busy.pid());
    let idle_rss = vm_hwm_kib(idle.pid());
    let creates = busy_portal.create_token_requests().len();
    let idle_calls: usize = accounts.iter().map(|a| idle_portal.count(a, "Dev")).sum();
    let busy_log = busy.stop();
    let idle_log = idle.stop();

    // What the engine's schedule predicts for the same span, with the answers at start in
    // either order (locally GetRoleCredentials answers before CreateToken has written).
    let predict = |refresh_answers_first| {
        simulate(&Sim {
            margin: TimeDelta::seconds(10),
            credentials: TimeDelta::seconds(20),
            span: TimeDelta::from_std(elapsed).unwrap_or(TimeDelta::seconds(60)),
            session_profiles: accounts.len(),
            legacy_profiles: 0,
            first_token: TimeDelta::minutes(19),
            refresh_answers_first,
        })
    };
    let predicted = predict(false);
    let refresh_first = predict(true);

    println!(
        "2b. The real daemon for {:.1} s, 2 profiles on one sso-session, 20-s credentials, \
         --refresh-margin 10s (token 19 min from its end at start)",
        elapsed.as_secs_f64()
    );
    println!(
        "   {:<10} {:>6} {:>10} {:>26}",
        "profile", "calls", "per min", "gap between calls (s)"
    );
    for (k, times) in arrivals.iter().enumerate() {
        let gaps: Vec<f64> = times
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs_f64())
            .collect();
        println!(
            "   {:<10} {:>6} {:>10.2} {:>26}",
            format!("p{k}"),
            times.len(),
            times.len() as f64 / elapsed.as_secs_f64() * 60.0,
            gap_range(&gaps)
        );
    }
    for (label, c) in [("engine", &predicted), ("engine*", &refresh_first)] {
        let per_profile = c.session_calls as f64 / accounts.len() as f64;
        println!(
            "   {:<10} {:>6.1} {:>10.2} {:>26}",
            label,
            per_profile,
            per_profile / elapsed.as_secs_f64() * 60.0,
            gap_range(&gaps_secs(&c.calls))
        );
    }
    println!(
        "   (engine = the pure engine, fake clock, same span and settings: renewal 10 s before \
         expiry less up to 1 s of jitter, so a call every 9-10 s: the first call + 6 in a minute;"
    );
    println!(
        "    engine* = the same, but the start-up CreateToken answer handed in before the \
         GetRoleCredentials answers)"
    );
    println!(
        "   CreateToken calls: {creates} (engine predicts {}); idle daemon's calls: {idle_calls} (expected {})",
        predicted.refreshes,
        accounts.len()
    );
    println!("   {:<40} {:>14} {:>14}", "", "busy (20-s)", "idle (1-h)");
    println!(
        "   {:<40} {:>10} MiB {:>10} MiB",
        "peak RSS (VmHWM)",
        format!("{:.1}", busy_rss as f64 / 1024.0),
        format!("{:.1}", idle_rss as f64 / 1024.0)
    );
    let cpu_ms = |ticks: u64| ticks as f64 * 1000.0 / clk_tck as f64;
    println!(
        "   {:<40} {:>11} ms {:>11} ms",
        format!("CPU time (utime+stime) over {:.0} s", elapsed.as_secs_f64()),
        format!("{:.0}", cpu_ms(busy_cpu)),
        format!("{:.0}", cpu_ms(idle_cpu))
    );
    println!(
        "   {:<40} {:>11} ms {:>11} ms",
        "CPU time including start-up",
        format!("{:.0}", cpu_ms(busy_total)),
        format!("{:.0}", cpu_ms(idle_total))
    );
    println!(
        "   {:<40} {:>13.3}% {:>13.3}%",
        "share of one core (after start-up)",
        cpu_ms(busy_cpu) / (elapsed.as_secs_f64() * 10.0),
        cpu_ms(idle_cpu) / (elapsed.as_secs_f64() * 10.0)
    );
    println!(
        "   (CPU from /proc/<pid>/stat utime+stime, {clk_tck} ticks/s so 0 means < {:.0} ms; \
         'over' counts from when the daemon said it was watching)",
        1000.0 / clk_tck as f64
    );
    print_log_summary(&busy_log);
    print_log_summary(&idle_log);
}

/// Token refreshes in steady state: each of [`REFRESH_DAEMONS`] daemons starts with a token
/// 5 s short of the refresh lead (20 min), writes its 1-h credentials, refreshes the token
/// about 5 s later with nothing else in flight, and should then make no call: the refresh is
/// its own write. Counts the GetRoleCredentials calls that followed the refresh anyway.
fn refresh_loop_back() {
    let accounts = accounts(2);
    let mut runs = Vec::new();
    for k in 0..REFRESH_DAEMONS {
        let home = TestHome::new();
        let portal = Portal::start();
        let token = format!("rt-{k}");
        for a in &accounts {
            portal.grant(&token, a, "Dev", Duration::from_secs(3600));
        }
        portal.add_refresh_token(&format!("refresh-{token}"), &token);
        home.write_config(&session_config(&accounts));
        let expires = Utc::now() + TimeDelta::minutes(20) + TimeDelta::seconds(5);
        home.write_token("corp", token_json(&token, expires));
        let daemon = Daemon::start(ssofresh(&home, &portal));
        runs.push((home, portal, daemon));
    }
    // Every refresh done, then time for any renewal it set off.
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(15)
        && runs
            .iter()
            .any(|(_, portal, _)| portal.refreshed().is_empty())
    {
        thread::sleep(Duration::from_millis(50));
    }
    thread::sleep(Duration::from_millis(1500));
    let mut renewed = 0;
    let mut extra_calls = 0;
    let mut refreshes = 0;
    let mut logs = Vec::new();
    for (_, portal, daemon) in runs {
        refreshes += portal.refreshed().len();
        let after: usize = portal
            .credential_requests()
            .len()
            .saturating_sub(accounts.len());
        if after > 0 {
            renewed += 1;
        }
        extra_calls += after;
        logs.push(daemon.stop());
    }
    let said_new = logs
        .iter()
        .filter(|log| log.iter().any(|l| l.contains("new token for")))
        .count();
    println!();
    println!(
        "2c. Token refresh in steady state, {REFRESH_DAEMONS} real daemons, 2 profiles each, \
         1-h credentials already written; each refreshes its token once with nothing in flight"
    );
    println!(
        "   refreshes: {refreshes}; daemons whose own refresh set off GetRoleCredentials calls: \
         {renewed} ({extra_calls} calls; engine predicts 0); daemons that logged \"new token for\": {said_new}"
    );
    for log in &logs {
        print_log_summary(log);
    }
}

fn gap_range(gaps: &[f64]) -> String {
    if gaps.is_empty() {
        return "-".to_owned();
    }
    let lo = gaps.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = gaps.iter().copied().fold(0.0, f64::max);
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    format!("{lo:.2}-{hi:.2}, mean {mean:.2}")
}

// ---------------------------------------------------------------------------------------
// The daemon process
// ---------------------------------------------------------------------------------------

/// The real binary running as a daemon, its stderr collected line by line.
struct Daemon {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    /// Spawns `cmd` (no `--once`) and waits until it says it is watching.
    fn start(mut cmd: Command) -> Self {
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn ssofresh");
        let stderr = child.stderr.take().expect("stderr is piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready) = mpsc::channel();
        {
            let log = Arc::clone(&log);
            thread::spawn(move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if line.contains("watching ") {
                        let _ = ready_tx.send(());
                    }
                    log.lock().unwrap_or_else(|e| e.into_inner()).push(line);
                }
            });
        }
        let daemon = Self { child, log };
        if ready.recv_timeout(Duration::from_secs(10)).is_err() {
            let log = daemon.stop();
            panic!(
                "ssofresh did not start watching within 10 s:\n{}",
                log.join("\n")
            );
        }
        daemon
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then wait (kill after 5 s); returns the log.
    fn stop(mut self) -> Vec<String> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
        if let Ok(None) = self.child.try_wait() {
            println!(
                "   ! ssofresh {} did not stop within 5 s of SIGTERM; killed",
                self.pid()
            );
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // Give the reader thread a moment to take the last lines.
        thread::sleep(Duration::from_millis(20));
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Warnings and errors the daemon logged, shown so that a figure is never read without them.
fn print_log_summary(log: &[String]) {
    for line in log
        .iter()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
    {
        println!("   ! daemon said: {line}");
    }
}

// ---------------------------------------------------------------------------------------
// /proc and figures
// ---------------------------------------------------------------------------------------

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/<pid>/stat");
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of the whole line are 12 and 13 after the name (state is first).
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    field(11) + field(12)
}

/// VmHWM of `pid`, in KiB.
fn vm_hwm_kib(pid: u32) -> u64 {
    let status =
        fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/<pid>/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

fn median(sorted: &[Duration]) -> Duration {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2
    }
}

/// Nearest-rank percentile of a sorted list.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn hms(secs: f64) -> String {
    let s = secs.round() as i64;
    format!("{}h{:02}m{:02}s", s / 3600, s % 3600 / 60, s % 60)
}

//! Other programs writing `~/.aws/credentials` while the daemon writes it too: a login lands
//! every 250 ms (each one a write of every profile), and a co-writer of one of four kinds
//! writes the file every 5–10 ms: appending, renaming a new file over it, rewriting it in
//! place (truncate, then write), and rewriting it in place slowly (two halves, 2 ms apart).
//! Before each write the co-writer checks that its previous one is still there, counting lost
//! updates. The file must always parse with the user's lines intact; once things are quiet,
//! the co-writer's last write is there and ssofresh's sections are whole and current.
//! A few seconds per kind by default; a minute per kind with `SSOFRESH_STRESS=1`, where lost
//! updates per 10,000 co-writer writes are printed for each kind.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::common::{Daemon, Portal, botocore_raw, ssofresh, token_json};
use crate::crash::{grant_all, many_profiles_home, stress, wholeness_problem};

const PROFILES: usize = 6;

/// How a co-writer writes.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Appends a comment line (`>>`).
    Append,
    /// Writes a new file beside it and renames it over (editors, most tools).
    Rename,
    /// Truncates and rewrites the file in place (`aws configure set`, scripts).
    InPlace,
    /// The same in two halves 2 ms apart (a slow program).
    SlowInPlace,
}

/// What a co-writer saw.
#[derive(Debug, Default)]
struct Tally {
    writes: u64,
    /// Writes gone for good.
    lost: u64,
    /// Writes missing when looked at, back 50 ms later (an exchange undone meanwhile).
    absent_a_moment: u64,
    broken: Vec<String>,
}

/// The file with the co-writer's counter set to `i`: `[cowriter]` / `count = i` at the end.
fn with_count(text: &str, i: u64) -> String {
    let line = format!("[cowriter]\ncount = {i}\n");
    match text.find("[cowriter]\n") {
        Some(at) => {
            let rest = &text[at..];
            let end = rest
                .match_indices('\n')
                .nth(1)
                .map_or(rest.len(), |(n, _)| n + 1);
            format!("{}{line}{}", &text[..at], &rest[end..])
        }
        None => format!("{text}{line}"),
    }
}

/// One write of `kind`, number `i`; returns what must be in the file if it was kept.
fn write_once(kind: Kind, path: &Path, i: u64) -> String {
    match kind {
        Kind::Append => {
            let line = format!("# cowriter {i}\n");
            let mut f = OpenOptions::new().append(true).open(path).expect("open");
            f.write_all(line.as_bytes()).expect("append");
            line
        }
        Kind::Rename | Kind::InPlace | Kind::SlowInPlace => {
            let text = with_count(&fs::read_to_string(path).expect("read"), i);
            match kind {
                Kind::Rename => {
                    let tmp = path.with_file_name("credentials.cowriter-tmp");
                    fs::write(&tmp, &text).expect("write");
                    fs::set_permissions(&tmp, fs::Permissions::from_mode(0o600)).expect("chmod");
                    fs::rename(&tmp, path).expect("rename");
                }
                _ => {
                    let mut f = OpenOptions::new()
                        .write(true)
                        .truncate(true)
                        .open(path)
                        .expect("open");
                    let (a, b) = text.as_bytes().split_at(text.len() / 2);
                    f.write_all(a).expect("write");
                    if matches!(kind, Kind::SlowInPlace) {
                        thread::sleep(Duration::from_millis(2));
                    }
                    f.write_all(b).expect("write");
                }
            }
            format!("[cowriter]\ncount = {i}\n")
        }
    }
}

/// Writes every 5–10 ms until `stop`, checking before each write that the last one is there.
fn cowrite(kind: Kind, path: PathBuf, stop: Arc<AtomicBool>) -> (Tally, String) {
    let mut tally = Tally::default();
    let mut last = String::new();
    if matches!(kind, Kind::Append) {
        let mut f = OpenOptions::new().append(true).open(&path).expect("open");
        f.write_all(b"[cowriter]\n").expect("append");
    }
    while !stop.load(Ordering::Relaxed) {
        tally.writes += 1;
        last = write_once(kind, &path, tally.writes);
        thread::sleep(Duration::from_millis(fastrand::u64(5..=10)));
        let now = fs::read_to_string(&path).expect("read");
        if !now.contains(&last) {
            // Gone for good, or only for the moment ssofresh takes to undo an exchange?
            thread::sleep(Duration::from_millis(50));
            if fs::read_to_string(&path).expect("read").contains(&last) {
                tally.absent_a_moment += 1;
            } else {
                tally.lost += 1;
            }
        }
        if let Some(problem) = wholeness_problem(&now) {
            tally.broken.push(format!("{problem}\n{now}"));
        }
    }
    (tally, last)
}

/// Lands a new login (renamed into place, as botocore writes it) every 250 ms until `stop`;
/// returns the last access token.
fn land_logins(
    home_cache: PathBuf,
    token_path: PathBuf,
    portal: Arc<Portal>,
    stop: Arc<AtomicBool>,
) -> String {
    let mut last = "tok-corp".to_owned();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let access = format!("tok-landing-{n}");
        grant_all(&portal, &access, PROFILES, Duration::from_secs(3600));
        let json = token_json(&access, Utc::now() + chrono::Duration::hours(8));
        let tmp = home_cache.join("tmplanding.tmp");
        fs::write(&tmp, json.to_string()).expect("write token");
        fs::rename(&tmp, &token_path).expect("rename token");
        last = access;
        thread::sleep(Duration::from_millis(250));
    }
    last
}

/// Runs one co-writer kind against the daemon for the default or the STRESS duration.
fn race(kind: Kind) {
    let seconds = if stress() { 60 } else { 3 };
    let (home, portal) = many_profiles_home(PROFILES, Duration::from_secs(3600));
    let portal = Arc::new(portal);
    let d = Daemon::spawn(ssofresh(&home, &portal));
    let path = home.credentials_path();
    d.wait_for("the first write", Duration::from_secs(10), || {
        fs::read_to_string(&path).is_ok_and(|t| t.contains("[p005]"))
    });
    let stop = Arc::new(AtomicBool::new(false));
    let lander = {
        let (cache, token, portal, stop) = (
            home.cache_dir(),
            home.token_path("corp"),
            Arc::clone(&portal),
            Arc::clone(&stop),
        );
        thread::spawn(move || land_logins(cache, token, portal, stop))
    };
    let writer = {
        let (path, stop) = (path.clone(), Arc::clone(&stop));
        thread::spawn(move || cowrite(kind, path, stop))
    };
    let start = Instant::now();
    d.stays_up(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    let last_token = lander.join().expect("lander");
    let (tally, last_write) = writer.join().expect("co-writer");
    let elapsed = start.elapsed();
    // Quiet now: the daemon's sections become whole and current, the co-writer's last write stays.
    let stale = |text: &str| -> Vec<String> {
        (0..PROFILES)
            .filter_map(|i| {
                let account = format!("{:012}", 100_000_000_000u64 + i as u64);
                let c = portal.last_issued(&account, "Dev");
                // The last credentials issued, whichever login asked (that a login landing
                // while a call is out gets a call of its own is the engine's business).
                let ok = c.as_ref().is_some_and(|c| text.contains(&c.access_key_id));
                (!ok).then(|| format!("p{i:03} (last issued: {:?})", c.map(|c| c.token)))
            })
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let text = fs::read_to_string(&path).expect("read");
        let not_current = stale(&text);
        if not_current.is_empty() && wholeness_problem(&text).is_none() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ssofresh's sections not current 15 s after the co-writer stopped: {not_current:?}, \
             last token {last_token}\n{text}\n--- log ---\n{}",
            d.log()
        );
        thread::sleep(Duration::from_millis(50));
    }
    let text = fs::read_to_string(&path).expect("read");
    let seen = botocore_raw(&path);
    let log = d.log();
    let _ = d.stop();
    eprintln!(
        "{kind:?} co-writer, {elapsed:.1?}: {} writes, {} lost ({:.1} per 10,000), {} absent for a \
         moment, {} unparsable",
        tally.writes,
        tally.lost,
        tally.lost as f64 * 10_000.0 / tally.writes.max(1) as f64,
        tally.absent_a_moment,
        tally.broken.len()
    );
    assert!(
        tally.broken.is_empty(),
        "{} broken files, the first:\n{}\n--- log ---\n{log}",
        tally.broken.len(),
        tally.broken[0]
    );
    assert!(
        text.contains(&last_write),
        "the co-writer's last write is gone:\n{text}"
    );
    assert!(
        seen.get("error").is_none() && seen.get("p000").is_some(),
        "{seen}"
    );
    assert!(
        tally.writes > 100,
        "the co-writer barely wrote: {}",
        tally.writes
    );
    if stress() {
        // The bar: at most a few per 10,000.
        assert!(
            tally.lost * 10_000 <= 10 * tally.writes,
            "{} lost in {} writes",
            tally.lost,
            tally.writes
        );
    }
}

/// An appending co-writer (`echo … >> credentials`) against a daemon writing 4+ times a second.
#[test]
fn append_cowriter() {
    race(Kind::Append);
}

/// A co-writer renaming a new file over the credentials file, as editors do.
#[test]
fn rename_cowriter() {
    race(Kind::Rename);
}

/// A co-writer rewriting the file in place (truncate, write), as `aws configure set` does.
#[test]
fn in_place_cowriter() {
    race(Kind::InPlace);
}

/// A slow in-place co-writer (truncate, half, 2 ms, the rest): ssofresh never builds on the
/// half-written file.
#[test]
fn slow_in_place_cowriter() {
    race(Kind::SlowInPlace);
}

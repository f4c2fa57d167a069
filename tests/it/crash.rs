//! Crash safety of the write path: `ssofresh --once` writing a large credentials file (300
//! profiles) and the daemon refreshing an SSO token, killed with SIGKILL at random moments.
//! After every kill the file is whole (botocore parses it), the user's bytes are intact and
//! every section of ssofresh's is complete; the next start removes any temp file left behind.
//! Dozens of kills by default, hundreds with `SSOFRESH_STRESS=1`. Botocore judges every file
//! left by a kill.

use std::fs;
use std::path::Path;
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::common::{Portal, TestHome, botocore_raw_each, ssofresh, token_json};

pub const START_URL: &str = "https://d-1234567890.awsapps.com/start";

/// The user's own part of the credentials file, which must survive byte for byte.
pub const USER_HEAD: &str = "# my keys, by hand\n[personal]\naws_access_key_id = AKIAPERSONALKEY00001\naws_secret_access_key = personal-secret\n\n";

/// True when the long runs are asked for (`SSOFRESH_STRESS=1`).
pub fn stress() -> bool {
    std::env::var_os("SSOFRESH_STRESS").is_some_and(|v| v == "1")
}

/// A config with `n` profiles `p000`… on one sso-session `corp`, each its own account.
pub fn many_profiles_config(n: usize) -> String {
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
            "[profile p{i:03}]\nsso_session = corp\nsso_account_id = {:012}\nsso_role_name = Dev\n\n",
            100_000_000_000u64 + i as u64
        ));
    }
    text.push_str(&format!(
        "[sso-session corp]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n\
         sso_registration_scopes = sso:account:access\n"
    ));
    text
}

/// Lets `token` get credentials lasting `lifetime` for each of the `n` profiles.
pub fn grant_all(portal: &Portal, token: &str, n: usize, lifetime: Duration) {
    for i in 0..n {
        portal.grant(
            token,
            &format!("{:012}", 100_000_000_000u64 + i as u64),
            "Dev",
            lifetime,
        );
    }
}

/// HOME with `n` profiles, a valid login `tok-corp`, the user's head in the credentials file,
/// and a portal granting every role for `lifetime`.
pub fn many_profiles_home(n: usize, lifetime: Duration) -> (TestHome, Portal) {
    let home = TestHome::new();
    home.write_config(&many_profiles_config(n));
    home.write_token(
        "corp",
        token_json("tok-corp", Utc::now() + chrono::Duration::hours(8)),
    );
    home.write_credentials(USER_HEAD);
    let portal = Portal::start();
    grant_all(&portal, "tok-corp", n, lifetime);
    (home, portal)
}

/// Why `text` is not a whole credentials file: the user's head must open it, no line may be
/// one configparser rejects, and every `[pNNN]` section must hold all four keys ssofresh writes.
pub fn wholeness_problem(text: &str) -> Option<String> {
    use ssofresh::files::ini::{Kind, lex};
    if !text.starts_with(USER_HEAD) {
        return Some("the user's lines are not intact".to_owned());
    }
    let mut section: Option<(String, usize)> = None;
    let mut problems = Vec::new();
    let mut close = |s: Option<(String, usize)>| {
        if let Some((name, keys)) = s
            && name.len() == 4
            && name.starts_with('p')
            && name[1..].bytes().all(|b| b.is_ascii_digit())
            && keys != 4
        {
            problems.push(format!("[{name}] has {keys} keys, not 4"));
        }
    };
    for line in lex(text) {
        match line.kind {
            Kind::Section(name) => close(section.replace((name.to_owned(), 0))),
            Kind::Key { .. } => {
                if let Some((_, keys)) = &mut section {
                    *keys += 1;
                }
            }
            Kind::Invalid(why) => return Some(format!("line {}: {why}", line.number)),
            _ => {}
        }
    }
    close(section);
    if !text.ends_with('\n') {
        problems.push("no final newline".to_owned());
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// ssofresh's temp files in `dir` (`.NAME.ssofresh-PID-XXXXXXXX.tmp`).
pub fn stray_temps(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".ssofresh-") && n.ends_with(".tmp"))
        .collect()
}

/// Spawns the binary with output discarded.
fn spawn_quiet(mut cmd: std::process::Command) -> Child {
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd.spawn().expect("spawn ssofresh")
}

/// Runs `--once` to the end, output discarded; panics naming `what` unless it succeeds.
fn once_clean(home: &TestHome, portal: &Portal, what: &str) {
    let status = ssofresh(home, portal)
        .arg("--once")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run");
    assert!(status.success(), "{what} failed: {status}");
}

fn kill(mut child: Child) {
    let _ = child.kill();
    child.wait().expect("reap");
}

/// SIGKILL at random moments of `--once` writing 300 profiles (24 kills; 300 under STRESS):
/// after every kill the file parses for botocore, the user's lines are intact and every
/// section of ssofresh's is complete; a temp file left by a kill is gone after the next
/// start, and none is left at the end.
#[test]
fn once_killed_at_random_moments() {
    const PROFILES: usize = 300;
    let kills = if stress() { 300 } else { 24 };
    let (home, portal) = many_profiles_home(PROFILES, Duration::from_secs(3600));
    let aws = home.aws_dir();
    // One clean run, timed: kills fall anywhere in a run's length.
    let start = Instant::now();
    once_clean(&home, &portal, "the clean run");
    let run_time = start.elapsed();
    let snapshots = tempfile::tempdir().expect("tempdir");
    let mut stranded = 0;
    for k in 0..kills {
        let child = spawn_quiet({
            let mut cmd = ssofresh(&home, &portal);
            cmd.arg("--once");
            cmd
        });
        // Anywhere in the run; in its first 3 s when a run takes longer (one write per
        // profile, before writes were batched), to keep the default run short.
        let window = run_time.min(Duration::from_secs(3)).mul_f64(1.2);
        thread::sleep(window.mul_f64(fastrand::f64()));
        kill(child);
        let text = home.read_credentials();
        if let Some(problem) = wholeness_problem(&text) {
            panic!("after kill {k}: {problem}\n{text}");
        }
        fs::write(snapshots.path().join(format!("{k:04}")), &text).expect("snapshot");
        stranded += stray_temps(&aws).len();
    }
    once_clean(&home, &portal, "the run after the kills");
    assert_eq!(stray_temps(&aws), Vec::<String>::new(), "temp files left");
    let mut paths: Vec<_> = fs::read_dir(snapshots.path())
        .expect("ls")
        .map(|e| e.expect("entry").path())
        .collect();
    paths.sort();
    for (path, seen) in paths.iter().zip(botocore_raw_each(&paths)) {
        assert!(
            seen.get("personal").is_some() && seen.get("error").is_none(),
            "botocore cannot read the file left by kill {}: {seen}",
            path.display()
        );
    }
    eprintln!(
        "{kills} kills of --once with {PROFILES} profiles (a run takes {run_time:?}): \
         {stranded} temp file(s) seen right after a kill, 0 after the next start"
    );
}

/// SIGKILL at random moments of a daemon refreshing an SSO token (10 kills; 100 under
/// STRESS; every other one just after the new token file appeared): the token file is always
/// the old one or the new one, whole JSON with the fields botocore needs, at least one kill
/// found the new one, and the cache folder holds no temp file after the next start.
#[test]
fn daemon_killed_during_token_refresh() {
    let kills = if stress() { 100 } else { 10 };
    let (home, portal) = many_profiles_home(3, Duration::from_secs(3600));
    let cache = home.cache_dir();
    let token_path = home.token_path("corp");
    let mut stranded = 0;
    let mut refreshed = 0;
    for k in 0..kills {
        // A token near its end: the daemon refreshes it at once.
        let access = format!("tok-near-end-{k}");
        grant_all(&portal, &access, 3, Duration::from_secs(3600));
        portal.add_refresh_token(&format!("refresh-{access}"), &access);
        home.write_token(
            "corp",
            token_json(&access, Utc::now() + chrono::Duration::minutes(3)),
        );
        let before = fs::read(&token_path).expect("token");
        let child = spawn_quiet(ssofresh(&home, &portal));
        if k % 2 == 0 {
            thread::sleep(Duration::from_millis(fastrand::u64(0..1000)));
        } else {
            // Every other kill lands once the refresh has begun: just after the new token
            // file appeared, while the daemon goes on to write the credentials.
            let until = std::time::Instant::now() + Duration::from_secs(10);
            while fs::read(&token_path).is_ok_and(|now| now == before)
                && std::time::Instant::now() < until
            {
                thread::sleep(Duration::from_millis(1));
            }
            thread::sleep(Duration::from_millis(fastrand::u64(0..20)));
        }
        kill(child);
        let after = fs::read(&token_path).expect("token file still there");
        if after != before {
            refreshed += 1;
            let json: serde_json::Value = serde_json::from_slice(&after)
                .unwrap_or_else(|e| panic!("kill {k}: token file is not whole JSON: {e}"));
            for field in ["accessToken", "expiresAt", "refreshToken", "clientSecret"] {
                assert!(
                    json.get(field).is_some(),
                    "kill {k}: {field} missing: {json}"
                );
            }
        }
        stranded += stray_temps(&cache).len();
    }
    once_clean(&home, &portal, "the run after the kills");
    assert_eq!(stray_temps(&cache), Vec::<String>::new(), "temp files left");
    assert!(
        refreshed > 0,
        "no kill landed after a refresh: the test saw none"
    );
    eprintln!(
        "{kills} kills of a daemon refreshing its token: {refreshed} after the new file was in \
         place, {stranded} temp file(s) seen right after a kill, 0 after the next start"
    );
}

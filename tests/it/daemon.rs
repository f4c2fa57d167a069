//! `ssofresh` as a daemon (no `--once`), as systemd and launchd run it: the real binary in a
//! temporary HOME against the local portal and SSO OIDC stand-in, driven by what users and
//! other programs do to the files (logins landing in place or by rename, a second login,
//! logout, another program rewriting the credentials file, config edits) and by signals, and
//! judged by what it writes, what it asks the portal, and what it logs.
//!
//! Deadlines here are generous ("within about a second" is waited for up to 10 s): they bound
//! a broken daemon, they do not measure a working one.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::common::portal::{Issued, fleet_account};
use crate::common::{
    Daemon, Outcome, Portal, Replacements, Reply, TestHome, botocore_raw, botocore_read,
    botocore_sso_token, run_with_timeout, ssofresh, token_json,
};

const START_URL: &str = "https://d-1234567890.awsapps.com/start";
const HOUR: Duration = Duration::from_secs(3600);
/// A credentials lifetime short enough to see a renewal within a test.
const SHORT: Duration = Duration::from_secs(20);
/// The `--refresh-margin` used with [`SHORT`] credentials.
const MARGIN: &str = "10s";
const MARGIN_MS: i64 = 10_000;
/// Generous bound for what the daemon does "within a second".
const SOON: Duration = Duration::from_secs(10);
/// Long enough for the daemon to have finished starting, before a test changes files.
const SETTLE: Duration = Duration::from_secs(1);

/// A profile as the tests expect it written: (credentials section, account, role).
type Target = (&'static str, &'static str, &'static str);
const DEV: Target = ("dev", "111111111111", "Dev");
const PROD: Target = ("prod", "222222222222", "ReadOnly");
const LEGACY: Target = ("legacy", "333333333333", "Admin");

fn dev_prod_config() -> String {
    format!(
        "[profile dev]\nsso_session = corp\nsso_account_id = 111111111111\nsso_role_name = Dev\n\n\
         [profile prod]\nsso_session = corp\nsso_account_id = 222222222222\nsso_role_name = ReadOnly\n\n\
         [sso-session corp]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n\
         sso_registration_scopes = sso:account:access\n"
    )
}

/// Two sso-session profiles on login `corp` (dev, prod) and one legacy profile.
fn config() -> String {
    format!(
        "# team config\n[default]\nregion = us-east-1\n\n{}\n\
         [profile legacy]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n\
         sso_account_id = 333333333333\nsso_role_name = Admin\n",
        dev_prod_config()
    )
}

fn in_minutes(m: i64) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::minutes(m)
}

fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since.as_millis()).expect("epoch millis fit in i64")
}

/// HOME with [`config`], valid logins `tok-corp` (corp) and `tok-legacy` (legacy), and a
/// portal granting every role for an hour.
fn setup() -> (TestHome, Portal) {
    let home = TestHome::new();
    home.write_config(&config());
    home.write_token("corp", token_json("tok-corp", in_minutes(480)));
    home.write_token(START_URL, token_json("tok-legacy", in_minutes(480)));
    let portal = Portal::start();
    grant(&portal, "tok-corp", &[DEV, PROD], HOUR);
    grant(&portal, "tok-legacy", &[LEGACY], HOUR);
    (home, portal)
}

fn grant(portal: &Portal, token: &str, targets: &[Target], lifetime: Duration) {
    for (_, account, role) in targets {
        portal.grant(token, account, role, lifetime);
    }
}

/// `ssofresh ARGS` (no `--once`) running as a daemon.
fn daemon(home: &TestHome, portal: &Portal, args: &[&str]) -> Daemon {
    let mut cmd = ssofresh(home, portal);
    cmd.args(args);
    Daemon::spawn(cmd)
}

/// The key/value lines of the first `[name]` section of `text`, if there is one.
fn section(text: &str, name: &str) -> Option<Vec<(String, String)>> {
    let mut lines = text.lines().map(str::trim);
    lines.find(|l| l.strip_prefix('[').and_then(|l| l.strip_suffix(']')) == Some(name))?;
    Some(
        lines
            .take_while(|l| !l.starts_with('['))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect(),
    )
}

/// True if section `name` of `text` holds exactly the keys of `issued`.
fn holds(text: &str, name: &str, issued: &Issued) -> bool {
    let Some(keys) = section(text, name) else {
        return false;
    };
    let get = |k: &str| {
        keys.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    get("aws_access_key_id") == Some(issued.access_key_id.as_str())
        && get("aws_secret_access_key") == Some(issued.secret_access_key.as_str())
        && get("aws_session_token") == Some(issued.session_token.as_str())
}

fn credentials(home: &TestHome) -> String {
    fs::read_to_string(home.credentials_path()).unwrap_or_default()
}

/// The portal's latest credentials for `target`, if they were asked for with `token` (any
/// token if `None`) and its section of the credentials file holds them.
fn written(
    home: &TestHome,
    portal: &Portal,
    target: Target,
    token: Option<&str>,
) -> Option<Issued> {
    let (name, account, role) = target;
    let issued = portal.last_issued(account, role)?;
    if token.is_some_and(|t| t != issued.token) {
        return None;
    }
    holds(&credentials(home), name, &issued).then_some(issued)
}

/// Waits up to [`SOON`] until every target's section holds the portal's latest credentials
/// for it, asked for with `token` if given; returns them in order.
#[track_caller]
fn wait_written(
    d: &Daemon,
    home: &TestHome,
    portal: &Portal,
    targets: &[Target],
    token: Option<&str>,
) -> Vec<Issued> {
    wait_written_within(d, home, portal, targets, token, SOON)
}

/// [`wait_written`] with a deadline of `timeout`.
#[track_caller]
fn wait_written_within(
    d: &Daemon,
    home: &TestHome,
    portal: &Portal,
    targets: &[Target],
    token: Option<&str>,
    timeout: Duration,
) -> Vec<Issued> {
    let names: Vec<&str> = targets.iter().map(|t| t.0).collect();
    let what = match token {
        Some(t) => format!("credentials from {t} written for {names:?}"),
        None => format!("credentials written for {names:?}"),
    };
    d.wait_for(&what, timeout, || {
        targets
            .iter()
            .all(|t| written(home, portal, *t, token).is_some())
    });
    targets
        .iter()
        .map(|t| written(home, portal, *t, token).expect("still written"))
        .collect()
}

/// botocore reads, for `target`'s profile, the credentials its section holds now (the
/// portal's latest for it). Checked again if the daemon wrote newer ones meanwhile.
#[track_caller]
fn assert_botocore_sees(home: &TestHome, portal: &Portal, target: Target) {
    let profile = target.0;
    for _ in 0..3 {
        let want = written(home, portal, target, None)
            .unwrap_or_else(|| panic!("{profile} is not written:\n{}", credentials(home)));
        let seen = botocore_read(&home.credentials_path(), &[profile]);
        let got = &seen[profile];
        if got["access_key"] == json!(want.access_key_id)
            && got["secret_key"] == json!(want.secret_access_key)
            && got["token"] == json!(want.session_token)
        {
            return;
        }
        if written(home, portal, target, None).as_ref() == Some(&want) {
            panic!("botocore reads {seen} for {profile}, but {want:?} was written");
        }
    }
    panic!("{profile} kept changing while botocore read it");
}

/// Requests that carried `token`.
fn calls_with(portal: &Portal, token: &str) -> usize {
    portal
        .credential_requests()
        .iter()
        .filter(|r| r.token.as_deref() == Some(token))
        .count()
}

fn token_text(token: &Value) -> String {
    serde_json::to_string_pretty(token).expect("serialize token")
}

/// Writes `text` to `path` as `aws sso login` (CLI v2) does: opened in place, truncated, then
/// written, here in two halves half a second apart, so a watcher sees an empty and a
/// half-written file first.
fn write_in_place(path: &Path, text: &str) {
    let parent = path.parent().expect("a parent");
    fs::create_dir_all(parent).expect("create the folder");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let (first, rest) = text.as_bytes().split_at(text.len() / 2);
    file.write_all(first).expect("write the first half");
    file.sync_all().expect("sync");
    thread::sleep(Duration::from_millis(500));
    file.write_all(rest).expect("write the rest");
    file.sync_all().expect("sync");
}

/// The names in `dir` that look like temporary files (`*.tmp`, `*.tmp-*`).
fn temp_files(dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") || n.contains(".tmp-"))
        .collect()
}

/// Panics if the output holds any secret: the access tokens in `tokens` and their refresh
/// tokens (`refresh-<token>`, as [`token_json`] makes them), the test client secret, every
/// bearer token the portal saw, every token it refreshed or rotated, and every key it issued.
#[track_caller]
pub(crate) fn assert_no_secrets(out: &Outcome, portal: &Portal, tokens: &[&str]) {
    let mut secrets = vec!["client-secret-ssofresh-test".to_owned()];
    for t in tokens {
        secrets.push((*t).to_owned());
        secrets.push(format!("refresh-{t}"));
    }
    secrets.extend(portal.tokens_sent());
    for r in portal.refreshed() {
        secrets.extend([r.old_refresh_token, r.access_token, r.refresh_token]);
    }
    for r in portal.create_token_requests() {
        if let Ok(body) = serde_json::from_str::<Value>(&r.body) {
            for field in ["refreshToken", "clientSecret"] {
                if let Some(s) = body[field].as_str() {
                    secrets.push(s.to_owned());
                }
            }
        }
    }
    for i in portal.issued() {
        secrets.extend([i.secret_access_key, i.session_token, i.access_key_id]);
    }
    secrets.sort();
    secrets.dedup();
    for secret in &secrets {
        assert!(
            !out.stderr.contains(secret.as_str()) && !out.stdout.contains(secret.as_str()),
            "{secret} leaked into the output: {out}"
        );
    }
}

/// Stops the daemon with SIGTERM: it exits 0 (within [`crate::common::daemon::STOP_LIMIT`];
/// the time is printed, not judged), did not panic, and logged no secret.
#[track_caller]
pub(crate) fn finish(d: Daemon, portal: &Portal, tokens: &[&str]) -> Outcome {
    let out = d.stop();
    eprintln!("ssofresh exited {:?} after SIGTERM", out.elapsed);
    out.assert_success();
    assert!(!out.stderr.contains("panicked"), "{out}");
    assert_no_secrets(&out, portal, tokens);
    out
}

/// Start: every SSO profile with a valid login is written (sso-session and legacy alike),
/// an expired login is never sent, the log names each profile, and the daemon's own writes
/// do not loop back into more calls.
#[test]
fn start_writes_every_profile_with_a_valid_login() {
    let (home, portal) = setup();
    home.write_config(&format!(
        "{}\n[profile stale]\nsso_session = old\nsso_account_id = 444444444444\nsso_role_name = Dev\n\n\
         [sso-session old]\nsso_start_url = https://d-0000000000.awsapps.com/start\nsso_region = us-east-1\n",
        config()
    ));
    home.write_token("old", token_json("tok-old-expired", in_minutes(-60)));
    portal.grant("tok-old-expired", "444444444444", "Dev", HOUR);
    let d = daemon(&home, &portal, &[]);
    let issued = wait_written(&d, &home, &portal, &[DEV, PROD, LEGACY], None);
    assert_eq!(
        (issued[0].token.as_str(), issued[2].token.as_str()),
        ("tok-corp", "tok-legacy")
    );
    d.stays_up(Duration::from_secs(3));
    assert_eq!(
        portal.credential_requests().len(),
        3,
        "one call per valid profile, and its own writes cause no more: {:?}\n{}",
        portal.tokens_sent(),
        d.log()
    );
    assert_eq!(
        calls_with(&portal, "tok-old-expired"),
        0,
        "expired login sent"
    );
    let log = d.log();
    for name in ["dev", "prod", "legacy"] {
        assert!(log.contains(name), "the log names {name}:\n{log}");
    }
    for target in [DEV, PROD, LEGACY] {
        assert_botocore_sees(&home, &portal, target);
    }
    finish(d, &portal, &["tok-corp", "tok-legacy", "tok-old-expired"]);
}

/// A new machine: no `~/.aws` at all when the daemon starts. A config file created later,
/// then a login whose cache folder did not exist, become credentials.
#[test]
fn fresh_machine_picks_up_config_and_login_later() {
    let home = TestHome::new();
    let portal = Portal::start();
    grant(&portal, "tok-corp", &[DEV, PROD], HOUR);
    let d = daemon(&home, &portal, &[]);
    d.stays_up(SETTLE);
    assert!(portal.requests().is_empty());
    home.write_config(&config());
    d.stays_up(Duration::from_millis(500));
    write_in_place(
        &home.token_path("corp"),
        &token_text(&token_json("tok-corp", in_minutes(480))),
    );
    wait_written(&d, &home, &portal, &[DEV, PROD], Some("tok-corp"));
    assert_botocore_sees(&home, &portal, DEV);
    finish(d, &portal, &["tok-corp"]);
}

/// A login written in place as the AWS CLI writes it (truncate, then the JSON in two halves
/// half a second apart) becomes credentials for every profile of that login; the empty and
/// the half-written file are "not yet", and a client registration file in the cache folder
/// is not mistaken for a login.
#[test]
fn login_written_in_place_becomes_credentials() {
    let home = TestHome::new();
    home.write_config(&dev_prod_config());
    fs::create_dir_all(home.cache_dir()).expect("mkdir cache");
    fs::write(
        home.cache_dir().join("botocore-client-id-us-east-1.json"),
        json!({"clientId": "cid", "clientSecret": "client-secret-ssofresh-test",
               "expiresAt": "2099-01-01T00:00:00Z"})
        .to_string(),
    )
    .expect("registration file");
    let portal = Portal::start();
    grant(&portal, "tok-corp-landed", &[DEV, PROD], HOUR);
    let d = daemon(&home, &portal, &[]);
    d.stays_up(SETTLE);
    assert!(portal.credential_requests().is_empty(), "no login yet");
    write_in_place(
        &home.token_path("corp"),
        &token_text(&token_json("tok-corp-landed", in_minutes(480))),
    );
    wait_written(&d, &home, &portal, &[DEV, PROD], Some("tok-corp-landed"));
    assert_botocore_sees(&home, &portal, DEV);
    assert_botocore_sees(&home, &portal, PROD);
    finish(d, &portal, &["tok-corp-landed"]);
}

/// A login written as botocore writes it (a `tmpXXXX.tmp` file in the cache folder, then a
/// rename onto the token file's name) becomes credentials.
#[test]
fn login_renamed_into_place_becomes_credentials() {
    let home = TestHome::new();
    home.write_config(&dev_prod_config());
    fs::create_dir_all(home.cache_dir()).expect("mkdir cache");
    let portal = Portal::start();
    grant(&portal, "tok-corp-renamed", &[DEV, PROD], HOUR);
    let d = daemon(&home, &portal, &[]);
    d.stays_up(SETTLE);
    let tmp = home.cache_dir().join("tmpk3j2h1x.tmp");
    fs::write(
        &tmp,
        token_text(&token_json("tok-corp-renamed", in_minutes(480))),
    )
    .expect("write temp");
    d.stays_up(Duration::from_millis(300));
    fs::rename(&tmp, home.token_path("corp")).expect("rename");
    wait_written(&d, &home, &portal, &[DEV, PROD], Some("tok-corp-renamed"));
    assert_botocore_sees(&home, &portal, PROD);
    finish(d, &portal, &["tok-corp-renamed"]);
}

/// A second login (the token file rewritten in place with a new access token) replaces the
/// credentials of every profile of that login with new ones asked for with the new token,
/// in the same sections.
#[test]
fn second_login_replaces_credentials() {
    let home = TestHome::new();
    home.write_config(&config());
    home.write_token("corp", token_json("tok-corp-first", in_minutes(480)));
    home.write_token(START_URL, token_json("tok-legacy", in_minutes(480)));
    let portal = Portal::start();
    grant(&portal, "tok-corp-first", &[DEV, PROD], HOUR);
    grant(&portal, "tok-corp-second", &[DEV, PROD], HOUR);
    grant(&portal, "tok-legacy", &[LEGACY], HOUR);
    let d = daemon(&home, &portal, &[]);
    let first = wait_written(&d, &home, &portal, &[DEV, PROD, LEGACY], None);
    write_in_place(
        &home.token_path("corp"),
        &token_text(&token_json("tok-corp-second", in_minutes(480))),
    );
    let second = wait_written(&d, &home, &portal, &[DEV, PROD], Some("tok-corp-second"));
    assert!(portal.tokens_sent().contains(&"tok-corp-second".to_owned()));
    for (a, b) in first.iter().zip(&second) {
        assert_ne!(a.access_key_id, b.access_key_id, "new keys for {}", a.role);
    }
    let text = credentials(&home);
    for name in ["[dev]", "[prod]", "[legacy]"] {
        assert_eq!(text.matches(name).count(), 1, "{text}");
    }
    assert!(
        holds(&text, "legacy", &first[2]),
        "the other login is untouched:\n{text}"
    );
    assert_botocore_sees(&home, &portal, DEV);
    finish(
        d,
        &portal,
        &["tok-corp-first", "tok-corp-second", "tok-legacy"],
    );
}

/// Renewal: with 20-second credentials and `--refresh-margin 10s`, the profile is asked for
/// again, and the new keys written, before the first credentials expire; once, not in a storm.
#[test]
fn renews_credentials_before_they_expire() {
    let home = TestHome::new();
    home.write_config(&dev_prod_config());
    home.write_token("corp", token_json("tok-corp", in_minutes(480)));
    let portal = Portal::start();
    grant(&portal, "tok-corp", &[DEV], SHORT);
    grant(&portal, "tok-corp", &[PROD], HOUR);
    let d = daemon(&home, &portal, &["--refresh-margin", MARGIN]);
    let first = wait_written(&d, &home, &portal, &[DEV], None).remove(0);
    d.wait_for("dev renewed and its new keys written", SHORT + SOON, || {
        written(&home, &portal, DEV, None).is_some_and(|i| i.access_key_id != first.access_key_id)
    });
    let second = written(&home, &portal, DEV, None).expect("renewed");
    let lifetime_ms = i64::try_from(SHORT.as_millis()).expect("ms");
    let asked_at_ms = second.expiration_ms - lifetime_ms;
    assert!(
        asked_at_ms < first.expiration_ms,
        "renewed {} ms after the first credentials expired",
        asked_at_ms - first.expiration_ms
    );
    let modified = fs::metadata(home.credentials_path())
        .and_then(|m| m.modified())
        .expect("mtime");
    let modified_ms = i64::try_from(
        modified
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_millis(),
    )
    .expect("ms");
    assert!(
        modified_ms < first.expiration_ms,
        "the renewed keys were written {} ms after the first expired",
        modified_ms - first.expiration_ms
    );
    let calls = portal.count(DEV.1, DEV.2);
    assert!(
        (2..=3).contains(&calls),
        "one renewal per lifetime, not a storm: {calls} calls\n{}",
        d.log()
    );
    assert_eq!(
        portal.count(PROD.1, PROD.2),
        1,
        "prod's hour-long credentials are not renewed with dev's"
    );
    assert_botocore_sees(&home, &portal, DEV);
    finish(d, &portal, &["tok-corp"]);
}

/// Token refresh: an sso-session login expiring in 10 minutes is renewed through SSO OIDC
/// CreateToken; the cache file is replaced (new inode, mode 0600) with the new access token,
/// `expiresAt` as `…Z` eight hours on, the rotated refresh token, and every other field kept
/// (an unknown one too); botocore still loads it; the next renewal of the profiles' (short)
/// credentials uses the new token. A legacy login, though it carries refresh fields, is never
/// refreshed.
#[test]
fn refreshes_the_sso_token_and_keeps_the_cache_file_readable() {
    let home = TestHome::new();
    home.write_config(&config());
    let mut corp = token_json("tok-corp", in_minutes(10));
    corp["extraField"] = json!({"kept": ["as", "is"]});
    home.write_token("corp", corp.clone());
    let legacy_path = home.write_token(START_URL, token_json("tok-legacy", in_minutes(10)));
    let legacy_bytes = fs::read(&legacy_path).expect("read legacy token");
    let inode_before = fs::metadata(home.token_path("corp")).expect("meta").ino();
    let portal = Portal::start();
    grant(&portal, "tok-corp", &[DEV, PROD], SHORT);
    grant(&portal, "tok-legacy", &[LEGACY], HOUR);
    portal.add_refresh_token("refresh-tok-corp", "tok-corp");
    portal.add_refresh_token("refresh-tok-legacy", "tok-legacy");
    let d = daemon(&home, &portal, &["--refresh-margin", MARGIN]);

    let path = home.token_path("corp");
    let on_disk =
        || -> Option<Value> { serde_json::from_str(&fs::read_to_string(&path).ok()?).ok() };
    d.wait_for("the corp token refreshed and saved", SOON, || {
        portal
            .refreshed()
            .first()
            .is_some_and(|r| on_disk().is_some_and(|t| t["accessToken"] == json!(r.access_token)))
    });
    let refreshed = portal.refreshed().remove(0);
    let requests = portal.create_token_requests();
    let body: Value = serde_json::from_str(&requests[0].body).expect("CreateToken body");
    assert_eq!(body["refreshToken"], json!("refresh-tok-corp"), "{body}");
    assert_eq!(body["grantType"], json!("refresh_token"), "{body}");

    let saved = on_disk().expect("token file");
    assert_eq!(
        saved["refreshToken"],
        json!(refreshed.refresh_token),
        "{saved}"
    );
    let expires_at = saved["expiresAt"].as_str().expect("expiresAt");
    assert!(expires_at.ends_with('Z'), "{expires_at}");
    let expires = DateTime::parse_from_rfc3339(expires_at).expect("RFC 3339");
    let minutes = (expires.with_timezone(&Utc) - Utc::now()).num_minutes();
    assert!(
        (470..=481).contains(&minutes),
        "expiresAt from expiresIn (8 h): {expires_at}"
    );
    let mut kept = corp.clone();
    kept["accessToken"] = saved["accessToken"].clone();
    kept["refreshToken"] = saved["refreshToken"].clone();
    kept["expiresAt"] = saved["expiresAt"].clone();
    assert_eq!(saved, kept, "every other field kept");
    let meta = fs::metadata(&path).expect("meta");
    assert_ne!(
        meta.ino(),
        inode_before,
        "replaced atomically, not in place"
    );
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    // The replaced file keeps its temp name for the few ms it is watched for late writes.
    d.wait_for("no temp file left in the cache", SOON, || {
        temp_files(&home.cache_dir()).is_empty()
    });

    let loaded = botocore_sso_token(&home.cache_dir(), "corp", START_URL, "us-east-1");
    assert_eq!(loaded["token"], json!(refreshed.access_token), "{loaded}");

    // Renewed 10 s before the 20-second credentials from the old token expire.
    wait_written_within(
        &d,
        &home,
        &portal,
        &[DEV, PROD],
        Some(&refreshed.access_token),
        SHORT + SOON,
    );
    assert_botocore_sees(&home, &portal, DEV);
    wait_written(&d, &home, &portal, &[LEGACY], Some("tok-legacy"));
    d.stays_up(Duration::from_secs(2));
    assert_eq!(
        portal.create_token_requests().len(),
        1,
        "one refresh, and never of the legacy login"
    );
    assert_eq!(
        fs::read(&legacy_path).expect("read legacy token"),
        legacy_bytes,
        "the legacy token file is left alone"
    );
    finish(d, &portal, &["tok-corp", "tok-legacy"]);
}

/// 500s and a 503 for one profile are retried with backoff until the portal answers; the
/// profile is then written, with no call after the one that worked, and the other profile
/// was written meanwhile.
#[test]
fn server_errors_are_retried_until_written() {
    let (home, portal) = setup();
    portal.script(
        DEV.1,
        DEV.2,
        [Reply::Status(500), Reply::Status(503), Reply::Status(500)],
    );
    let d = daemon(&home, &portal, &[]);
    wait_written(&d, &home, &portal, &[PROD, LEGACY], None);
    d.wait_for(
        "dev written after three failures",
        Duration::from_secs(25),
        || written(&home, &portal, DEV, None).is_some(),
    );
    d.stays_up(Duration::from_secs(1));
    assert_eq!(
        portal.count(DEV.1, DEV.2),
        4,
        "three failures, one success, nothing after\n{}",
        d.log()
    );
    assert_botocore_sees(&home, &portal, DEV);
    finish(d, &portal, &["tok-corp", "tok-legacy"]);
}

/// A login the portal rejects (401) is logged once with the exact `aws sso login` command
/// (`--sso-session corp`; `--profile legacy` for a legacy login) and is not asked about again
/// while its token file stays the same; a new login brings its profiles back, and the other
/// rejected login stays quiet.
#[test]
fn rejected_login_is_not_hammered() {
    let home = TestHome::new();
    home.write_config(&config());
    home.write_token("corp", token_json("tok-corp-stale", in_minutes(480)));
    home.write_token(START_URL, token_json("tok-legacy-stale", in_minutes(480)));
    let portal = Portal::start();
    grant(&portal, "tok-corp-new", &[DEV, PROD], HOUR);
    let d = daemon(&home, &portal, &[]);
    let corp_cmd = "aws sso login --sso-session corp";
    let legacy_cmd = "aws sso login --profile legacy";
    d.wait_for("both logins reported as needing a login", SOON, || {
        let log = d.log();
        log.contains(corp_cmd) && log.contains(legacy_cmd)
    });
    let corp = calls_with(&portal, "tok-corp-stale");
    let legacy = calls_with(&portal, "tok-legacy-stale");
    assert!(
        (1..=2).contains(&corp) && legacy == 1,
        "at most one call per profile: corp {corp}, legacy {legacy}"
    );
    d.stays_up(Duration::from_secs(5));
    assert_eq!(
        (
            calls_with(&portal, "tok-corp-stale"),
            calls_with(&portal, "tok-legacy-stale")
        ),
        (corp, legacy),
        "a rejected login is not retried until its token file changes\n{}",
        d.log()
    );
    let log = d.log();
    // The legacy login's end is announced (with the same command) before any call; the
    // rejection is its own line, said once.
    let rejections = |cmd: &str| {
        log.lines()
            .filter(|l| l.contains("rejected") && l.contains(cmd))
            .count()
    };
    assert_eq!(rejections(corp_cmd), 1, "logged once:\n{log}");
    assert_eq!(rejections(legacy_cmd), 1, "logged once:\n{log}");

    write_in_place(
        &home.token_path("corp"),
        &token_text(&token_json("tok-corp-new", in_minutes(480))),
    );
    wait_written(&d, &home, &portal, &[DEV, PROD], Some("tok-corp-new"));
    assert_botocore_sees(&home, &portal, PROD);
    assert_eq!(calls_with(&portal, "tok-corp-stale"), corp);
    assert_eq!(
        calls_with(&portal, "tok-legacy-stale"),
        legacy,
        "another login's token file changing does not retry this one"
    );
    finish(
        d,
        &portal,
        &["tok-corp-stale", "tok-legacy-stale", "tok-corp-new"],
    );
}

/// Logout (the token file deleted): the sections ssofresh wrote for that login's profiles are
/// removed, everything else in the file (the user's sections and comments before and after,
/// the other login's section) stays, and that login is not renewed any more.
#[test]
fn logout_removes_the_sections_of_that_login() {
    let (home, portal) = setup();
    grant(&portal, "tok-corp", &[DEV, PROD], SHORT);
    let head = "# my long-term keys\n[personal]\naws_access_key_id = AKIAPERSONAL\n\
                aws_secret_access_key = personal/secret\n";
    home.write_credentials(head);
    let d = daemon(&home, &portal, &["--refresh-margin", MARGIN]);
    let issued = wait_written(&d, &home, &portal, &[DEV, PROD, LEGACY], None);
    let tail = "\n# added by hand later\n[tail]\nregion = eu-west-1\n";
    OpenOptions::new()
        .append(true)
        .open(home.credentials_path())
        .expect("open credentials")
        .write_all(tail.as_bytes())
        .expect("append");
    let corp_calls = calls_with(&portal, "tok-corp");
    // When dev and prod would be renewed, had the login stayed (plus slack for jitter).
    let renewal_ms = issued[0].expiration_ms.min(issued[1].expiration_ms) - MARGIN_MS + 3_000;

    fs::remove_file(home.token_path("corp")).expect("log out");
    d.wait_for("dev and prod removed", SOON, || {
        let text = credentials(&home);
        section(&text, "dev").is_none() && section(&text, "prod").is_none()
    });
    let text = home.read_credentials();
    assert!(text.starts_with(head), "the user's head is kept:\n{text}");
    assert!(
        text.ends_with(tail.trim_start()),
        "the user's tail is kept:\n{text}"
    );
    assert!(holds(&text, "legacy", &issued[2]), "{text}");
    let seen = botocore_raw(&home.credentials_path());
    let mut sections: Vec<&String> = seen.as_object().expect("sections").keys().collect();
    sections.sort();
    assert_eq!(sections, ["legacy", "personal", "tail"], "{seen}");

    let wait_ms = (renewal_ms - now_ms()).max(0);
    d.stays_up(Duration::from_millis(u64::try_from(wait_ms).expect("ms")));
    assert_eq!(
        calls_with(&portal, "tok-corp"),
        corp_calls,
        "no calls for a logged-out login\n{}",
        d.log()
    );
    let text = home.read_credentials();
    assert!(section(&text, "dev").is_none(), "{text}");
    finish(d, &portal, &["tok-corp", "tok-legacy"]);
}

/// Another program replaces the credentials file, dropping one managed section and changing
/// another: both are put back, and what the other program wrote is kept.
#[test]
fn other_writer_dropping_a_section_gets_it_back() {
    let (home, portal, d, issued) = dev_prod_written();
    let theirs = format!(
        "[prod]\naws_access_key_id = {}\naws_secret_access_key = {}\naws_session_token = tampered\n\n\
         # written by another tool\n[other]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = other/secret\n",
        issued[1].access_key_id, issued[1].secret_access_key
    );
    // Written whole then renamed, so that the daemon can never see it half-written.
    let staged = home.aws_dir().join("credentials.other-tool");
    fs::write(&staged, &theirs).expect("the other program writes");
    fs::rename(&staged, home.credentials_path()).expect("and renames");
    let restored = wait_written(&d, &home, &portal, &[DEV, PROD], None);
    let text = home.read_credentials();
    assert!(
        text.contains(
            "# written by another tool\n[other]\naws_access_key_id = AKIAOTHER\n\
             aws_secret_access_key = other/secret\n"
        ),
        "the other program's section is kept:\n{text}"
    );
    for name in ["[dev]", "[prod]", "[other]"] {
        assert_eq!(text.matches(name).count(), 1, "{text}");
    }
    assert!(!text.contains("tampered"), "{text}");
    let seen = botocore_read(&home.credentials_path(), &["dev", "prod", "other"]);
    assert_eq!(seen["other"]["access_key"], json!("AKIAOTHER"), "{seen}");
    assert_eq!(
        seen["dev"]["access_key"],
        json!(restored[0].access_key_id),
        "{seen}"
    );
    assert_eq!(
        seen["prod"]["token"],
        json!(restored[1].session_token),
        "{seen}"
    );
    finish(d, &portal, &["tok-corp"]);
}

/// SIGHUP reloads the config: a profile added to it (here through a dotfiles symlink, edited
/// at its target) is written. The daemon may notice the edit by itself too; either way the
/// profile must be written after the SIGHUP.
#[test]
fn sighup_reloads_the_config() {
    let home = TestHome::new();
    let dotfiles = home.path().join("dotfiles");
    fs::create_dir_all(&dotfiles).expect("mkdir dotfiles");
    let target = dotfiles.join("aws-config");
    let only_dev = format!(
        "[profile dev]\nsso_session = corp\nsso_account_id = 111111111111\nsso_role_name = Dev\n\n\
         [sso-session corp]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n"
    );
    fs::write(&target, &only_dev).expect("write config");
    fs::create_dir_all(home.aws_dir()).expect("mkdir .aws");
    symlink("../dotfiles/aws-config", home.config_path()).expect("symlink");
    home.write_token("corp", token_json("tok-corp", in_minutes(480)));
    let portal = Portal::start();
    grant(&portal, "tok-corp", &[DEV, PROD], HOUR);
    let d = daemon(&home, &portal, &[]);
    wait_written(&d, &home, &portal, &[DEV], None);
    assert_eq!(portal.count(PROD.1, PROD.2), 0);
    fs::write(&target, dev_prod_config()).expect("edit config");
    d.signal("HUP");
    wait_written(&d, &home, &portal, &[PROD], None);
    assert_botocore_sees(&home, &portal, PROD);
    finish(d, &portal, &["tok-corp"]);
}

/// A config file edited while the daemon runs is reloaded without a signal: the added
/// profile is written, and the removed one is not renewed when it would have been.
#[test]
fn config_change_reloads_profiles() {
    let home = TestHome::new();
    let only = |name: &str, account: &str, role: &str| {
        format!(
            "[profile {name}]\nsso_session = corp\nsso_account_id = {account}\nsso_role_name = {role}\n\n\
             [sso-session corp]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n"
        )
    };
    home.write_config(&only("dev", DEV.1, DEV.2));
    home.write_token("corp", token_json("tok-corp", in_minutes(480)));
    let portal = Portal::start();
    grant(&portal, "tok-corp", &[DEV], SHORT);
    grant(&portal, "tok-corp", &[PROD], HOUR);
    let d = daemon(&home, &portal, &["--refresh-margin", MARGIN]);
    let dev = wait_written(&d, &home, &portal, &[DEV], None).remove(0);
    let renewal_ms = dev.expiration_ms - MARGIN_MS + 3_000;
    home.write_config(&only("prod", PROD.1, PROD.2));
    wait_written(&d, &home, &portal, &[PROD], None);
    let wait_ms = (renewal_ms - now_ms()).max(0);
    d.stays_up(Duration::from_millis(u64::try_from(wait_ms).expect("ms")));
    assert_eq!(
        portal.count(DEV.1, DEV.2),
        1,
        "a profile removed from the config is not renewed\n{}",
        d.log()
    );
    finish(d, &portal, &["tok-corp"]);
}

/// SIGTERM while a call to the portal hangs, then SIGINT in a second run on the same HOME:
/// each ends the process with status 0 (the time from the signal is printed, not judged),
/// leaves no temporary file beside the credentials file, and leaves a credentials file
/// botocore reads; the second run is not refused as a second instance.
#[test]
fn sigterm_and_sigint_end_it_cleanly() {
    let (home, portal) = setup();
    home.write_credentials(
        "[personal]\naws_access_key_id = AKIAPERSONAL\naws_secret_access_key = s\n",
    );
    portal.script(DEV.1, DEV.2, [Reply::Hang]);
    let d = daemon(&home, &portal, &[]);
    d.wait_for("dev's call in flight", SOON, || {
        portal.count(DEV.1, DEV.2) == 1
    });
    let out = finish(d, &portal, &["tok-corp", "tok-legacy"]);
    eprintln!(
        "SIGTERM with a call in flight: exited after {:?}",
        out.elapsed
    );
    assert!(
        temp_files(&home.aws_dir()).is_empty(),
        "{:?}",
        temp_files(&home.aws_dir())
    );
    let seen = botocore_read(&home.credentials_path(), &["personal"]);
    assert_eq!(
        seen["personal"]["access_key"],
        json!("AKIAPERSONAL"),
        "{seen}"
    );

    let d = daemon(&home, &portal, &[]);
    wait_written(&d, &home, &portal, &[DEV, PROD, LEGACY], None);
    let out = d.stop_with("INT");
    eprintln!("SIGINT: exited after {:?}", out.elapsed);
    out.assert_success();
    assert_no_secrets(&out, &portal, &["tok-corp", "tok-legacy"]);
    assert!(
        temp_files(&home.aws_dir()).is_empty(),
        "{:?}",
        temp_files(&home.aws_dir())
    );
    for target in [DEV, PROD, LEGACY] {
        assert_botocore_sees(&home, &portal, target);
    }
}

/// A second instance for the same credentials file exits at once, non-zero, saying one is
/// already running, and the first keeps running; an instance for another credentials file
/// is not refused.
#[test]
fn second_instance_is_refused() {
    let (home, portal) = setup();
    let d = daemon(&home, &portal, &[]);
    wait_written(&d, &home, &portal, &[DEV, PROD, LEGACY], None);
    let calls = portal.credential_requests().len();
    let second = run_with_timeout(ssofresh(&home, &portal), SOON);
    assert_ne!(second.status, 0, "{second}");
    assert!(second.stderr.contains("already"), "{second}");
    assert_eq!(
        portal.credential_requests().len(),
        calls,
        "the refused instance made no call"
    );
    assert_no_secrets(&second, &portal, &["tok-corp", "tok-legacy"]);
    d.stays_up(Duration::from_millis(500));

    let elsewhere = home.path().join("other-credentials");
    let mut cmd = ssofresh(&home, &portal);
    cmd.arg("--credentials").arg(&elsewhere);
    let other = Daemon::spawn(cmd);
    other.wait_for("the other credentials file written", SOON, || {
        fs::read_to_string(&elsewhere).is_ok_and(|t| section(&t, "legacy").is_some())
    });
    finish(other, &portal, &["tok-corp", "tok-legacy"]);
    finish(d, &portal, &["tok-corp", "tok-legacy"]);
}

/// Nothing secret reaches the output at the highest verbosity with RUST_LOG=trace, through a
/// token refresh, a 500 then success, a 401, a second login and a logout.
#[test]
fn secrets_never_reach_the_daemon_log() {
    let home = TestHome::new();
    home.write_config(&config());
    home.write_token("corp", token_json("tok-corp", in_minutes(10)));
    home.write_token(START_URL, token_json("tok-legacy-stale", in_minutes(480)));
    let portal = Portal::start();
    grant(&portal, "tok-corp", &[DEV, PROD], SHORT);
    grant(&portal, "tok-corp-second", &[DEV, PROD], HOUR);
    portal.add_refresh_token("refresh-tok-corp", "tok-corp");
    portal.script(PROD.1, PROD.2, [Reply::Status(500)]);
    let mut cmd = ssofresh(&home, &portal);
    cmd.args(["-vv", "--refresh-margin", MARGIN])
        .env("RUST_LOG", "trace");
    let d = Daemon::spawn(cmd);
    d.wait_for(
        "the refresh, the 401, prod's retry and a renewal with the new token",
        SHORT + SOON,
        || {
            let refreshed = portal.refreshed();
            refreshed.first().is_some_and(|r| {
                written(&home, &portal, PROD, Some(&r.access_token)).is_some()
                    && written(&home, &portal, DEV, Some(&r.access_token)).is_some()
            }) && d.log().contains("aws sso login --profile legacy")
        },
    );
    write_in_place(
        &home.token_path("corp"),
        &token_text(&token_json("tok-corp-second", in_minutes(480))),
    );
    wait_written(&d, &home, &portal, &[DEV, PROD], Some("tok-corp-second"));
    fs::remove_file(home.token_path("corp")).expect("log out");
    d.wait_for("the logout handled", SOON, || {
        section(&credentials(&home), "dev").is_none()
    });
    let out = finish(
        d,
        &portal,
        &["tok-corp", "tok-corp-second", "tok-legacy-stale"],
    );
    assert!(out.stderr.len() > 1000, "trace output was produced: {out}");
}

/// REVIEW: ssofresh's own token refresh must not loop back into work: the credentials in
/// hand (an hour left) stay good, so no profile is renewed with the refreshed token.
#[test]
fn review_own_token_refresh_does_not_renew_profiles() {
    let home = TestHome::new();
    home.write_config(&dev_prod_config());
    home.write_token("corp", token_json("tok-corp", in_minutes(10)));
    let portal = Portal::start();
    grant(&portal, "tok-corp", &[DEV, PROD], HOUR);
    portal.add_refresh_token("refresh-tok-corp", "tok-corp");
    // The refresh answers after the credentials from tok-corp are written.
    portal.script_create_token([Reply::Ok.after(Duration::from_millis(1500))]);
    let d = daemon(&home, &portal, &[]);
    wait_written(&d, &home, &portal, &[DEV, PROD], Some("tok-corp"));
    d.wait_for("the corp token refreshed", SOON, || {
        !portal.refreshed().is_empty()
    });
    d.stays_up(Duration::from_secs(3));
    let new = portal.refreshed().remove(0).access_token;
    assert_eq!(
        calls_with(&portal, &new),
        0,
        "own refresh renewed the profiles\n{}",
        d.log()
    );
    finish(d, &portal, &["tok-corp"]);
}

/// REVIEW: a refreshed token that lives less than TOKEN_REFRESH_LEAD (20 min) — e.g. an
/// access token capped by the end of the SSO session — must not be refreshed again at once.
#[test]
fn review_short_lived_refreshed_token_is_not_refreshed_in_a_loop() {
    let home = TestHome::new();
    home.write_config(&dev_prod_config());
    home.write_token("corp", token_json("tok-corp", in_minutes(10)));
    let portal = Portal::start();
    grant(&portal, "tok-corp", &[DEV, PROD], HOUR);
    portal.add_refresh_token("refresh-tok-corp", "tok-corp");
    portal.set_refreshed_expires_in(600);
    let d = daemon(&home, &portal, &[]);
    d.wait_for("the corp token refreshed", SOON, || {
        !portal.refreshed().is_empty()
    });
    d.stays_up(Duration::from_secs(3));
    let n = portal.create_token_requests().len();
    let log = d.log();
    finish(d, &portal, &["tok-corp"]);
    assert!(
        n <= 2,
        "{n} CreateToken calls in about 3 s\n{}",
        &log[..log.len().min(3000)]
    );
}

/// REVIEW: a credentials file that cannot be written (here: a byte-order mark) should make
/// ssofresh say so and back off; instead it asks the portal again for every profile every 30 s.
#[test]
fn review_unwritable_credentials_file_is_not_a_call_loop() {
    let (home, portal) = setup();
    home.write_credentials("\u{feff}[personal]\naws_access_key_id = AKIAPERSONAL\n");
    let d = daemon(&home, &portal, &[]);
    d.wait_for("first calls", SOON, || {
        portal.credential_requests().len() >= 3
    });
    d.stays_up(Duration::from_secs(65));
    let calls = portal.credential_requests().len();
    let log = d.log();
    finish(d, &portal, &["tok-corp", "tok-legacy"]);
    let errors = log
        .lines()
        .filter(|l| l.contains("byte-order mark"))
        .count();
    assert!(
        calls <= 3,
        "{calls} calls for 3 profiles in ~65 s, {errors} error lines\n{log}"
    );
}

/// REVIEW: SIGTERM while CreateToken hangs ends the process at once: well within the 10 s
/// call timeout it would otherwise wait out (3 s allowed for a loaded machine).
#[test]
fn review_sigterm_with_a_hanging_token_refresh() {
    let home = TestHome::new();
    home.write_config(&dev_prod_config());
    home.write_token("corp", token_json("tok-corp", in_minutes(10)));
    let portal = Portal::start();
    grant(&portal, "tok-corp", &[DEV, PROD], HOUR);
    portal.add_refresh_token("refresh-tok-corp", "tok-corp");
    portal.script_create_token([Reply::Hang]);
    let d = daemon(&home, &portal, &[]);
    d.wait_for("refresh in flight", SOON, || {
        !portal.create_token_requests().is_empty()
    });
    wait_written(&d, &home, &portal, &[DEV, PROD], Some("tok-corp"));
    let out = finish(d, &portal, &["tok-corp"]);
    assert!(out.elapsed < Duration::from_secs(3), "{:?}", out.elapsed);
}

/// REVIEW: a portal that hangs (eight profiles on login `a`) must not stall a profile on
/// another login and region (`b`): here `b` waits for one of the eight call permits.
#[test]
fn review_hanging_portal_does_not_stall_another_login() {
    let home = TestHome::new();
    let mut config = String::new();
    for i in 0..8 {
        config.push_str(&format!(
            "[profile a{i}]\nsso_session = a\nsso_account_id = 10000000000{i}\nsso_role_name = R\n\n"
        ));
    }
    config.push_str(&format!(
        "[profile b]\nsso_session = b\nsso_account_id = 999999999999\nsso_role_name = R\n\n\
         [sso-session a]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n\n\
         [sso-session b]\nsso_start_url = https://d-2.awsapps.com/start\nsso_region = eu-west-1\n"
    ));
    home.write_config(&config);
    home.write_token("a", token_json("tok-a", in_minutes(480)));
    home.write_token("b", token_json("tok-b", in_minutes(480)));
    let portal = Portal::start();
    for i in 0..8 {
        portal.script(&format!("10000000000{i}"), "R", [Reply::Hang]);
    }
    portal.grant("tok-b", "999999999999", "R", HOUR);
    let d = daemon(&home, &portal, &[]);
    let start = std::time::Instant::now();
    d.wait_for("b written", Duration::from_secs(30), || {
        section(&credentials(&home), "b").is_some()
    });
    let waited = start.elapsed();
    let log = d.log();
    finish(d, &portal, &["tok-a", "tok-b"]);
    assert!(
        waited < Duration::from_secs(8),
        "b written after {waited:?}, as if behind a 10 s timeout\n{log}"
    );
}

/// Regression (review 4): a new `aws sso login` lands while ssofresh's own token refresh hangs. The new
/// token is ignored for as long as the refresh is in flight (up to `--timeout` + 1 s), so the
/// login does not become credentials "within a second".
#[test]
fn review4_login_during_a_hanging_refresh_is_ignored() {
    let home = TestHome::new();
    home.write_config(&dev_prod_config());
    home.write_token("corp", token_json("tok-corp", in_minutes(10)));
    let portal = Portal::start();
    grant(&portal, "tok-corp", &[DEV, PROD], HOUR);
    grant(&portal, "tok-new", &[DEV, PROD], HOUR);
    portal.add_refresh_token("refresh-tok-corp", "tok-corp");
    portal.script_create_token([Reply::Hang]);
    let d = daemon(&home, &portal, &["--timeout", "30s"]);
    d.wait_for("refresh in flight", SOON, || {
        !portal.create_token_requests().is_empty()
    });
    wait_written(&d, &home, &portal, &[DEV, PROD], Some("tok-corp"));
    write_in_place(
        &home.token_path("corp"),
        &token_text(&token_json("tok-new", in_minutes(480))),
    );
    wait_written(&d, &home, &portal, &[DEV, PROD], Some("tok-new"));
    finish(d, &portal, &["tok-corp", "tok-new"]);
}

/// Regression (review 4): a `--refresh-margin` beyond chrono's date range used to panic the
/// daemon on its first write; it is refused up front (usage error, status 1) with the limit.
#[test]
fn review4_huge_refresh_margin_is_refused() {
    let (home, portal) = setup();
    let mut cmd = ssofresh(&home, &portal);
    cmd.args(["--refresh-margin", "10000000000000s"]);
    let out = run_with_timeout(cmd, Duration::from_secs(10));
    out.assert_status(1);
    assert!(out.stderr.contains("at most 12h"), "{out}");
    assert!(portal.credential_requests().is_empty(), "{out}");
}

/// Regression (review 4): a credentials file that is a FIFO. `--once` refuses it (ensure_regular), but the
/// daemon's startup check reads it with a plain read, which blocks the loop for good: no
/// login is served and SIGTERM is never acted on.
#[test]
fn review4_fifo_credentials_file_blocks_the_loop() {
    let (home, portal) = setup();
    let status = std::process::Command::new("mkfifo")
        .arg(home.credentials_path())
        .status()
        .expect("mkfifo");
    assert!(status.success());
    let d = daemon(&home, &portal, &[]);
    d.stays_up(SETTLE);
    finish(d, &portal, &["tok-corp", "tok-legacy"]);
}

/// Under systemd the journal timestamps each line, so ssofresh leaves its own out, but only
/// when `JOURNAL_STREAM` names the very stream its stderr is: a program started from a
/// service inherits the variable with its stderr elsewhere, and keeps its timestamps.
#[test]
fn no_timestamps_when_stderr_is_the_journal() {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let log_with = |journal: Option<&str>| -> String {
        let (home, portal) = setup();
        let (mut reader, writer) = std::io::pipe().expect("a pipe");
        let meta = fs::File::from(std::os::fd::OwnedFd::from(
            writer.try_clone().expect("clone the pipe's end"),
        ))
        .metadata()
        .expect("stat the pipe");
        let stream =
            journal.map_or_else(|| format!("{}:{}", meta.dev(), meta.ino()), str::to_owned);
        let mut cmd = ssofresh(&home, &portal);
        cmd.env("JOURNAL_STREAM", &stream)
            .stdout(std::process::Stdio::null())
            .stderr(writer);
        let mut child = cmd.spawn().expect("spawn ssofresh");
        drop(cmd); // its copy of the pipe's writing end, or the read below never ends
        let start = std::time::Instant::now();
        while section(&credentials(&home), "dev").is_none() && start.elapsed() < SOON {
            std::thread::sleep(Duration::from_millis(20));
        }
        let killed = std::process::Command::new("kill")
            .args(["-s", "TERM", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(killed.success());
        assert!(child.wait().expect("wait").success());
        let mut log = String::new();
        reader.read_to_string(&mut log).expect("read the log");
        log
    };
    let journal = log_with(None);
    assert!(journal.contains("wrote [dev]"), "{journal}");
    assert!(
        journal.lines().all(|l| l.trim_start().starts_with("INFO")
            || l.trim_start().starts_with("WARN")
            || l.trim_start().starts_with("DEBUG")),
        "no timestamps when stderr is the journal:\n{journal}"
    );
    let elsewhere = log_with(Some("1:2"));
    assert!(
        elsewhere.lines().all(|l| l.starts_with("20")),
        "timestamps when the journal is another stream:\n{elsewhere}"
    );
}

/// HOME with `n` sso-session profiles `p0`… on login `corp` (no login yet), the user's own
/// keys in the credentials file, and a portal granting every role to `tok-corp`.
fn many_profiles(n: u64) -> (TestHome, Portal) {
    let home = TestHome::new();
    let portal = Portal::start();
    home.write_config(&portal.fleet("tok-corp", n, START_URL));
    home.write_credentials(MINE);
    (home, portal)
}

/// A daemon keeping `dev` and `prod` (login `corp`, `tok-corp`), once both are written, with
/// the credentials written for them.
fn dev_prod_written() -> (TestHome, Portal, Daemon, Vec<Issued>) {
    let home = TestHome::new();
    home.write_config(&dev_prod_config());
    home.write_token("corp", token_json("tok-corp", in_minutes(480)));
    let portal = Portal::start();
    grant(&portal, "tok-corp", &[DEV, PROD], HOUR);
    let d = daemon(&home, &portal, &[]);
    let issued = wait_written(&d, &home, &portal, &[DEV, PROD], None);
    (home, portal, d, issued)
}

/// The user's own keys, kept at the top of the credentials file.
const MINE: &str =
    "# my keys\n[personal]\naws_access_key_id = AKIAMINE\naws_secret_access_key = s\n";

/// How many sections of the credentials file hold role credentials.
fn sections_written(home: &TestHome) -> usize {
    credentials(home).matches("aws_session_token").count()
}

/// One write per login: a login landing for 100 profiles replaces the credentials file once
/// (as inotify sees it; twice at most should the box be so loaded that a call is still out
/// a second after the first answer), and the user's lines stay.
#[test]
fn login_of_a_hundred_profiles_is_one_write() {
    let (home, portal) = many_profiles(100);
    let d = daemon(&home, &portal, &[]);
    d.stays_up(SETTLE);
    let replaced = Replacements::watch(&home.credentials_path());
    home.write_token("corp", token_json("tok-corp", in_minutes(480)));
    d.wait_for("100 sections written", SOON, || {
        sections_written(&home) == 100
    });
    let writes = replaced.settled();
    eprintln!("one login of 100 profiles: {writes} write(s)");
    assert!((1..=2).contains(&writes), "{writes} writes\n{}", d.log());
    assert!(credentials(&home).starts_with(MINE));
    finish(d, &portal, &["tok-corp"]);
}

/// A slow call holds the others back about a second, not until it answers: 99 profiles are
/// written in one write while it is still out, and it follows in a second write.
#[test]
fn slow_call_follows_in_a_second_write() {
    let (home, portal) = many_profiles(100);
    let slow = Duration::from_secs(5);
    portal.script(&fleet_account(7), "Dev", [Reply::Ok.after(slow)]);
    let d = daemon(&home, &portal, &[]);
    d.stays_up(SETTLE);
    let replaced = Replacements::watch(&home.credentials_path());
    let landed = std::time::Instant::now();
    home.write_token("corp", token_json("tok-corp", in_minutes(480)));
    d.wait_for("99 sections written", SOON, || {
        sections_written(&home) == 99
    });
    let first = landed.elapsed();
    eprintln!("99 of 100 written {first:?} after the login landed; the slow call takes {slow:?}");
    assert!(
        section(&credentials(&home), "p7").is_none(),
        "the others waited for the slow call"
    );
    d.wait_for("the slow one written", SOON, || {
        sections_written(&home) == 100
    });
    assert_eq!(replaced.settled(), 2, "{}", d.log());
    finish(d, &portal, &["tok-corp"]);
}

/// Self-repair: another program cuts ssofresh's section short (its session token line gone,
/// which would read as long-term keys): it is made whole again from the credentials in hand,
/// without a call, and the other program's lines stay.
#[test]
fn cut_section_is_made_whole() {
    let (home, portal, d, issued) = dev_prod_written();
    let calls = portal.credential_requests().len();
    let cut = format!("# another tool\n{}", credentials(&home)).replace(
        &format!("aws_session_token = {}\n", issued[0].session_token),
        "",
    );
    assert!(!holds(&cut, "dev", &issued[0]));
    let staged = home.aws_dir().join("credentials.other-tool");
    fs::write(&staged, &cut).expect("the other program writes");
    fs::rename(&staged, home.credentials_path()).expect("and renames");
    d.wait_for("[dev] whole again", SOON, || {
        holds(&credentials(&home), "dev", &issued[0])
    });
    assert!(credentials(&home).starts_with("# another tool\n"));
    assert_eq!(
        portal.credential_requests().len(),
        calls,
        "put back without a call"
    );
    finish(d, &portal, &["tok-corp"]);
}

/// A write that fails for want of room (here a file-size limit, `RLIMIT_FSIZE`, with
/// SIGXFSZ ignored as a shell can leave it) is reported naming the credentials file, which
/// is left as it was; the daemon keeps running.
#[test]
fn failed_write_names_the_credentials_file() {
    let (home, portal) = setup();
    home.write_credentials(MINE);
    let base = ssofresh(&home, &portal);
    let mut cmd = std::process::Command::new("sh");
    cmd.env_clear()
        .current_dir(home.path())
        .args(["-c", "trap '' XFSZ; ulimit -f 1; exec \"$0\""])
        .arg(base.get_program());
    for (key, value) in base.get_envs() {
        if let Some(value) = value {
            cmd.env(key, value);
        }
    }
    let d = Daemon::spawn(cmd);
    let path = home.credentials_path().display().to_string();
    d.wait_for("the failure reported", SOON, || {
        d.log()
            .lines()
            .any(|l| l.contains("ERROR") && l.contains(&path))
    });
    d.stays_up(SETTLE);
    assert_eq!(home.read_credentials(), MINE);
    let log = d.log();
    finish(d, &portal, &["tok-corp", "tok-legacy"]);
    eprintln!("{log}");
}

/// `--profile` globs and `--exclude` in the daemon: only the matching profiles are asked for
/// and written, and a profile added to the config later joins when it matches (and stays out
/// when excluded).
#[test]
fn globs_choose_profiles_as_the_config_changes() {
    let (home, portal) = setup();
    let d = daemon(&home, &portal, &["--profile", "d*", "--exclude", "*-old"]);
    wait_written(&d, &home, &portal, &[DEV], Some("tok-corp"));
    const DEV2: Target = ("dev2", "444444444444", "Dev");
    const OLD: Target = ("dev-old", "555555555555", "Dev");
    grant(&portal, "tok-corp", &[DEV2, OLD], HOUR);
    let more = "\n[profile dev2]\nsso_session = corp\nsso_account_id = 444444444444\nsso_role_name = Dev\n\
                \n[profile dev-old]\nsso_session = corp\nsso_account_id = 555555555555\nsso_role_name = Dev\n";
    home.write_config(&format!("{}{more}", config()));
    wait_written(&d, &home, &portal, &[DEV2], Some("tok-corp"));
    d.stays_up(SETTLE);
    for (name, account, role) in [PROD, LEGACY, OLD] {
        assert_eq!(portal.count(account, role), 0, "{name} was not chosen");
        assert!(
            section(&credentials(&home), name).is_none(),
            "{name} not written"
        );
    }
    d.stop().assert_success();
}

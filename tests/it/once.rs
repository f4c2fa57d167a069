//! `ssofresh --once` as users run it: the real binary, a temporary HOME, the local portal,
//! and real readers (botocore, the JavaScript SDK v2) judging the credentials file it writes.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::common::portal::{Issued, fleet_account};
use crate::common::{
    Outcome, Portal, Replacements, Reply, TestHome, botocore_raw, botocore_read, js_v2_read, run,
    ssofresh, token_json,
};

const START_URL: &str = "https://d-1234567890.awsapps.com/start";
const HOUR: Duration = Duration::from_secs(3600);

/// A config with two sso-session profiles on one login and one legacy profile.
fn config() -> String {
    format!(
        "# team config\n\
         [default]\nregion = us-east-1\noutput = json\n\n\
         [profile dev]\nsso_session = corp\nsso_account_id = 111111111111\nsso_role_name = Dev\nregion = eu-west-1\n\
         s3 =\n  max_concurrent_requests = 20\n\n\
         [profile prod]\nsso_session = corp\nsso_account_id = 222222222222\nsso_role_name = ReadOnly\n\n\
         [profile legacy]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n\
         sso_account_id = 333333333333\nsso_role_name = Admin\n\n\
         [sso-session corp]\nsso_start_url = {START_URL}\nsso_region = us-east-1\n\
         sso_registration_scopes = sso:account:access\n"
    )
}

fn in_hours(h: i64) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::hours(h)
}

/// HOME with the config, a valid `corp` login ("tok-corp") and a valid legacy login
/// ("tok-legacy"), and a portal that grants every role.
fn setup() -> (TestHome, Portal) {
    let home = TestHome::new();
    home.write_config(&config());
    home.write_token("corp", token_json("tok-corp", in_hours(8)));
    home.write_token(START_URL, token_json("tok-legacy", in_hours(8)));
    let portal = Portal::start();
    portal.grant("tok-corp", "111111111111", "Dev", HOUR);
    portal.grant("tok-corp", "222222222222", "ReadOnly", HOUR);
    portal.grant("tok-legacy", "333333333333", "Admin", HOUR);
    (home, portal)
}

fn once(home: &TestHome, portal: &Portal, args: &[&str]) -> Outcome {
    let mut cmd = ssofresh(home, portal);
    cmd.arg("--once").args(args);
    run(cmd)
}

fn issued(portal: &Portal, account: &str, role: &str) -> Issued {
    portal
        .last_issued(account, role)
        .unwrap_or_else(|| panic!("the portal issued nothing for {account}/{role}"))
}

/// What a reader must find for `profile`: the keys the portal issued.
#[track_caller]
fn assert_reader_sees(reader: &serde_json::Value, profile: &str, want: &Issued) {
    let got = &reader[profile];
    assert_eq!(
        got["access_key"],
        json!(want.access_key_id),
        "{profile} in {reader}"
    );
    assert_eq!(
        got["secret_key"],
        json!(want.secret_access_key),
        "{profile} in {reader}"
    );
    assert_eq!(
        got["token"],
        json!(want.session_token),
        "{profile} in {reader}"
    );
}

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

/// Both profile forms are written; both profiles of a session use its one login; the
/// user's own bytes survive; botocore and the JavaScript SDK v2 read what was written.
#[test]
fn writes_every_profile_for_real_readers() {
    let (home, portal) = setup();
    let mine = "# my long-term keys, keep them\r\n[personal]\r\naws_access_key_id = AKIAPERSONAL\r\n\
                aws_secret_access_key = personal/secret\r\n; trailing comment\r\n";
    home.write_credentials(mine);
    let out = once(&home, &portal, &[]);
    out.assert_success();
    assert!(out.stderr.contains("wrote 3 of 3 profiles"), "{out}");

    let text = home.read_credentials();
    assert!(
        text.starts_with(mine),
        "the user's bytes come first and unchanged:\n{text}"
    );
    assert!(
        !text.replace("\r\n", "").contains('\n'),
        "a CRLF file stays CRLF:\n{text:?}"
    );
    let (dev, prod, legacy) = (
        issued(&portal, "111111111111", "Dev"),
        issued(&portal, "222222222222", "ReadOnly"),
        issued(&portal, "333333333333", "Admin"),
    );
    assert_eq!(
        (dev.token.as_str(), legacy.token.as_str()),
        ("tok-corp", "tok-legacy")
    );
    assert_eq!(portal.credential_requests().len(), 3);
    let expires = DateTime::<Utc>::from_timestamp_millis(dev.expiration_ms).expect("ms");
    assert!(
        text.contains(&format!(
            "x_security_token_expires = {}",
            expires.format("%Y-%m-%dT%H:%M:%SZ")
        )),
        "{text}"
    );
    assert!(!text.contains("region"), "region only when asked:\n{text}");

    for reader in [
        botocore_read(
            &home.credentials_path(),
            &["dev", "prod", "legacy", "personal"],
        ),
        js_v2_read(
            &home.credentials_path(),
            &["dev", "prod", "legacy", "personal"],
        ),
    ] {
        assert_reader_sees(&reader, "dev", &dev);
        assert_reader_sees(&reader, "prod", &prod);
        assert_reader_sees(&reader, "legacy", &legacy);
        assert_eq!(
            reader["personal"]["access_key"],
            json!("AKIAPERSONAL"),
            "{reader}"
        );
    }
    assert_eq!(mode(&home.credentials_path()), 0o600);
}

/// A second run replaces the keys in place: same sections, no duplicates, new values.
#[test]
fn second_run_replaces_in_place() {
    let (home, portal) = setup();
    once(&home, &portal, &[]).assert_success();
    let first = home.read_credentials();
    once(&home, &portal, &[]).assert_success();
    let second = home.read_credentials();
    assert_ne!(first, second, "fresh keys were written");
    assert_eq!(second.matches("[dev]").count(), 1, "{second}");
    assert_eq!(second.matches("aws_session_token").count(), 3, "{second}");
    assert_eq!(first.lines().count(), second.lines().count());
    let dev = issued(&portal, "111111111111", "Dev");
    assert_reader_sees(
        &botocore_read(&home.credentials_path(), &["dev"]),
        "dev",
        &dev,
    );
}

/// An expired login is never sent to the portal; the user is told the exact command.
#[test]
fn expired_login_is_never_sent() {
    let (home, portal) = setup();
    home.write_token("corp", token_json("tok-corp", in_hours(-1)));
    home.write_token(
        START_URL,
        json!({"accessToken": "tok-legacy", "expiresAt": "2020-12-18T19:09:40UTC"}),
    );
    // Messages show local time: here 5 hours behind UTC.
    let mut cmd = ssofresh(&home, &portal);
    cmd.arg("--once").env("TZ", "EST5");
    let out = run(cmd);
    out.assert_status(2);
    assert!(
        portal.credential_requests().is_empty(),
        "{:?}",
        portal.tokens_sent()
    );
    assert!(
        out.stderr.contains("aws sso login --sso-session corp"),
        "{out}"
    );
    assert!(
        out.stderr.contains("aws sso login --profile legacy"),
        "{out}"
    );
    assert!(
        out.stderr.contains("expired at 2020-12-18 14:09:40 -05:00"),
        "old CLI's UTC form is read, shown in local time: {out}"
    );
    assert!(
        !home.credentials_path().exists(),
        "nothing to write, nothing created"
    );
}

/// No login at all, and a login the portal rejects (401): each login is named once, with its
/// profiles and the command to run.
#[test]
fn missing_and_rejected_logins() {
    let (home, portal) = setup();
    fs::remove_file(home.token_path(START_URL)).expect("remove legacy token");
    portal.revoke("tok-corp");
    let out = once(&home, &portal, &[]);
    out.assert_status(2);
    assert!(out.stderr.contains("legacy: no login found"), "{out}");
    assert!(
        out.stderr.contains("aws sso login --profile legacy"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("dev, prod: the SSO portal rejected the login for sso-session corp"),
        "{out}"
    );
    assert_eq!(
        out.stderr
            .matches("aws sso login --sso-session corp")
            .count(),
        1,
        "{out}"
    );
    assert_eq!(portal.credential_requests().len(), 2, "401 is not retried");
}

/// 403 (no access to the role) is reported by profile; the others are written.
#[test]
fn no_access_is_reported_and_others_written() {
    let (home, portal) = setup();
    portal.revoke("tok-corp");
    portal.grant("tok-corp", "111111111111", "Dev", HOUR);
    let out = once(&home, &portal, &[]);
    out.assert_status(2);
    assert!(
        out.stderr.contains(
            "prod: no access to account 222222222222 as role ReadOnly (ForbiddenException"
        ),
        "{out}"
    );
    assert_eq!(
        portal.count("222222222222", "ReadOnly"),
        1,
        "403 is not retried"
    );
    let text = home.read_credentials();
    assert!(
        text.contains("[dev]") && text.contains("[legacy]") && !text.contains("[prod]"),
        "{text}"
    );
}

/// A 500 and a 429 are retried, and the run then succeeds.
#[test]
fn transient_errors_are_retried() {
    let (home, portal) = setup();
    portal.script("111111111111", "Dev", [Reply::Status(500), Reply::Ok]);
    portal.script(
        "222222222222",
        "ReadOnly",
        [Reply::Status(429), Reply::Status(503), Reply::Ok],
    );
    let out = once(&home, &portal, &[]);
    out.assert_success();
    assert_eq!(portal.count("111111111111", "Dev"), 2);
    assert_eq!(portal.count("222222222222", "ReadOnly"), 3);
    assert!(out.stderr.contains("dev: attempt 1 failed"), "{out}");
}

/// A portal that keeps failing is given up on after three attempts, with advice.
#[test]
fn persistent_failure_gives_up() {
    let (home, portal) = setup();
    portal.script(
        "111111111111",
        "Dev",
        [Reply::Status(500), Reply::Status(500), Reply::Status(500)],
    );
    let out = once(&home, &portal, &["-p", "dev"]);
    out.assert_status(2);
    assert_eq!(portal.count("111111111111", "Dev"), 3);
    assert!(
        out.stderr.contains(&format!(
            "dev: the SSO portal at {} failed (HTTP 500",
            portal.url()
        )),
        "{out}"
    );
}

/// A portal that never answers costs one timeout per attempt and never stalls the profiles
/// whose calls do get answers.
#[test]
fn hanging_portal_times_out_without_stalling_others() {
    let (home, portal) = setup();
    portal.script(
        "111111111111",
        "Dev",
        [Reply::Hang, Reply::Hang, Reply::Hang],
    );
    let out = once(&home, &portal, &["--timeout", "1s"]);
    out.assert_status(2);
    assert!(
        out.stderr
            .contains(&format!("dev: the SSO portal at {} did not answer (no answer within the timeout); check your network", portal.url())),
        "{out}"
    );
    assert!(
        out.elapsed < Duration::from_secs(20),
        "three 1 s attempts plus backoff: {out}"
    );
    let text = home.read_credentials();
    assert!(
        text.contains("[prod]") && text.contains("[legacy]") && !text.contains("[dev]"),
        "{text}"
    );
}

/// Long-term keys in a section are never overwritten; `-p dev:SECTION` writes elsewhere.
#[test]
fn long_term_keys_are_a_conflict() {
    let (home, portal) = setup();
    let mine = "[dev]\naws_access_key_id = AKIALONGTERM\naws_secret_access_key = keep/me\n";
    home.write_credentials(mine);
    let out = once(&home, &portal, &["-p", "dev", "-p", "prod"]);
    out.assert_status(2);
    assert!(
        out.stderr
            .contains("dev: not written to [dev]: the section holds long-term keys"),
        "{out}"
    );
    let text = home.read_credentials();
    assert!(text.starts_with(mine), "{text}");
    assert!(text.contains("[prod]"), "{text}");

    once(&home, &portal, &["-p", "dev:dev-sso"]).assert_success();
    let text = home.read_credentials();
    assert!(text.starts_with(mine), "{text}");
    let reader = botocore_read(&home.credentials_path(), &["dev", "dev-sso"]);
    assert_eq!(reader["dev"]["access_key"], json!("AKIALONGTERM"));
    assert_reader_sees(&reader, "dev-sso", &issued(&portal, "111111111111", "Dev"));
}

/// `-p NAME:default` writes the default section, and only the selected profiles are touched.
#[test]
fn selected_profile_to_default_section() {
    let (home, portal) = setup();
    let out = once(
        &home,
        &portal,
        &["--profile", "prod:default", "--with-region"],
    );
    out.assert_success();
    assert_eq!(portal.credential_requests().len(), 1);
    let text = home.read_credentials();
    assert!(text.starts_with("[default]\n"), "{text}");
    assert!(
        !text.contains("region"),
        "prod has no region of its own: {text}"
    );
    let reader = js_v2_read(&home.credentials_path(), &["default"]);
    assert_reader_sees(
        &reader,
        "default",
        &issued(&portal, "222222222222", "ReadOnly"),
    );

    once(&home, &portal, &["-p", "dev", "--with-region"]).assert_success();
    assert!(
        home.read_credentials().contains("[dev]\n")
            && home.read_credentials().contains("region = eu-west-1\n")
    );
}

/// A profile that is not an SSO profile, and a broken profile, are reported by name.
#[test]
fn unknown_and_broken_profiles() {
    let (home, portal) = setup();
    home.write_config(&format!(
        "{}\n[profile half]\nsso_session = corp\nsso_account_id = 1\n",
        config()
    ));
    let out = once(&home, &portal, &[]);
    out.assert_status(2);
    assert!(out.stderr.contains("half: missing sso_role_name"), "{out}");
    assert!(out.stderr.contains("wrote 3 of 4 profiles"), "{out}");
    let out = once(&home, &portal, &["-p", "nosuch"]);
    out.assert_status(2);
    assert!(
        out.stderr.contains(
            "nosuch: not an SSO or `aws login` profile in the config file (its profiles: dev, prod, legacy)"
        ),
        "{out}"
    );
}

/// `--profile` globs and `--exclude`: only the profiles they leave are asked for and written;
/// a glob that matches nothing is reported with the SSO profiles there are; a bad glob is a
/// usage error that writes nothing.
#[test]
fn globs_and_excludes() {
    let (home, portal) = setup();
    let out = once(&home, &portal, &["--profile", "*", "--exclude", "p?o[d]"]);
    out.assert_success();
    assert!(out.stderr.contains("wrote 2 of 2 profiles"), "{out}");
    assert_eq!(
        portal.count("222222222222", "ReadOnly"),
        0,
        "prod was excluded"
    );
    let read = botocore_raw(&home.credentials_path());
    assert!(
        read.get("dev").is_some() && read.get("legacy").is_some(),
        "{read}"
    );
    assert!(read.get("prod").is_none(), "{read}");

    let out = once(&home, &portal, &["-p", "prod", "-p", "staging-*"]);
    out.assert_status(2);
    assert!(
        out.stderr.contains(
            "staging-*: this --profile glob matches no SSO or `aws login` profile in the config file \
             (its profiles: dev, prod, legacy)"
        ),
        "{out}"
    );
    assert!(out.stderr.contains("wrote 1 of 2 profiles"), "{out}");
    assert_eq!(portal.count("222222222222", "ReadOnly"), 1);

    let before = home.read_credentials();
    let requests = portal.requests().len();
    for bad in [["-p", "dev-["], ["-p", "d*:default"], ["--exclude", "{x"]] {
        let out = once(&home, &portal, &bad);
        out.assert_status(1);
        assert!(out.stderr.contains(bad[1]), "names the value: {out}");
    }
    assert_eq!(home.read_credentials(), before, "nothing written");
    assert_eq!(portal.requests().len(), requests, "nothing asked");
}

/// A malformed config file is a fatal error naming the file and line.
#[test]
fn malformed_config_is_fatal() {
    let (home, portal) = setup();
    home.write_config("[profile dev]\nsso_session = corp\n[profile dev]\nregion = x\n");
    let out = once(&home, &portal, &[]);
    out.assert_status(1);
    assert!(
        out.stderr
            .contains(&home.config_path().display().to_string()),
        "{out}"
    );
    assert!(out.stderr.contains("line 3"), "{out}");
    assert!(portal.requests().is_empty());
}

/// A fresh machine: no config, no cache. ssofresh explains how to start and exits 0.
#[test]
fn fresh_machine_explains_setup() {
    let home = TestHome::new();
    let portal = Portal::start();
    let out = once(&home, &portal, &[]);
    out.assert_success();
    assert!(out.stderr.contains("aws configure sso"), "{out}");
    assert!(!home.credentials_path().exists());
}

/// Empty, half-written and foreign token files are reported by path, never a crash.
#[test]
fn broken_token_files() {
    let (home, portal) = setup();
    let corp = home.token_path("corp");
    fs::write(&corp, "").expect("truncate");
    fs::write(home.token_path(START_URL), "{\"accessToken\": \"tok-leg").expect("half");
    let out = once(&home, &portal, &[]);
    out.assert_status(2);
    assert!(out.stderr.contains(&corp.display().to_string()), "{out}");
    assert!(out.stderr.contains("empty"), "{out}");
    assert!(out.stderr.contains("not valid JSON"), "{out}");
    assert!(
        !out.stderr.contains("tok-leg"),
        "no token text in messages: {out}"
    );
    assert!(!out.stderr.contains("panicked"), "{out}");
    fs::write(
        &corp,
        json!({"clientId": "x", "clientSecret": "y", "expiresAt": "2099-01-01T00:00:00Z"})
            .to_string(),
    )
    .expect("registration");
    let out = once(&home, &portal, &["-p", "dev"]);
    assert!(out.stderr.contains("no accessToken"), "{out}");
}

/// A symlinked credentials file is written through to its target and stays a link; a
/// world-readable file becomes private, and the user is told.
#[test]
fn symlink_followed_and_file_made_private() {
    let (home, portal) = setup();
    let dotfiles = home.path().join("dotfiles");
    fs::create_dir_all(&dotfiles).expect("mkdir");
    let target = dotfiles.join("aws-credentials");
    fs::write(&target, "[other]\nk = v\n").expect("write");
    fs::set_permissions(&target, fs::Permissions::from_mode(0o644)).expect("chmod");
    fs::create_dir_all(home.aws_dir()).expect("mkdir");
    symlink("../dotfiles/aws-credentials", home.credentials_path()).expect("symlink");
    let out = once(&home, &portal, &[]);
    out.assert_success();
    assert!(out.stderr.contains("mode 644"), "{out}");
    let link = fs::symlink_metadata(home.credentials_path()).expect("meta");
    assert!(link.file_type().is_symlink(), "still a link");
    let text = fs::read_to_string(&target).expect("read target");
    assert!(
        text.starts_with("[other]\nk = v\n") && text.contains("[dev]"),
        "{text}"
    );
    assert_eq!(mode(&target), 0o600);
    let mut beside: Vec<_> = fs::read_dir(&dotfiles)
        .expect("ls")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    beside.sort();
    assert_eq!(
        beside,
        ["aws-credentials"],
        "no temp or lock file in the dotfiles folder"
    );
    assert!(
        home.aws_dir().join(".credentials.ssofresh.lock").exists(),
        "the lock is in ~/.aws"
    );
}

/// `AWS_SHARED_CREDENTIALS_FILE` and `AWS_CONFIG_FILE` are honoured; `--credentials` wins.
#[test]
fn file_locations_from_environment_and_flags() {
    let (home, portal) = setup();
    let elsewhere = home.path().join("elsewhere");
    fs::create_dir_all(&elsewhere).expect("mkdir");
    fs::rename(home.config_path(), elsewhere.join("cfg")).expect("move config");
    let mut cmd = ssofresh(&home, &portal);
    cmd.arg("--once")
        .env("AWS_CONFIG_FILE", elsewhere.join("cfg"))
        .env("AWS_SHARED_CREDENTIALS_FILE", elsewhere.join("creds"));
    run(cmd).assert_success();
    assert!(
        fs::read_to_string(elsewhere.join("creds"))
            .expect("creds")
            .contains("[legacy]")
    );
    let mut cmd = ssofresh(&home, &portal);
    cmd.args(["--once", "--credentials"])
        .arg(elsewhere.join("flag"))
        .env("AWS_CONFIG_FILE", elsewhere.join("cfg"))
        .env("AWS_SHARED_CREDENTIALS_FILE", elsewhere.join("creds"));
    run(cmd).assert_success();
    assert!(elsewhere.join("flag").exists());
}

/// No token, key, session token, refresh token or client secret appears in the output, at
/// the highest verbosity and with RUST_LOG=trace, in success and in failure.
#[test]
fn secrets_never_reach_the_output() {
    let (home, portal) = setup();
    portal.script(
        "222222222222",
        "ReadOnly",
        [Reply::Status(500), Reply::Status(403)],
    );
    // -vv alone (ssofresh at trace, the rest at debug), then RUST_LOG=trace for everything.
    for rust_log in [None, Some("trace")] {
        let mut cmd = ssofresh(&home, &portal);
        cmd.args(["--once", "-vv"]);
        if let Some(level) = rust_log {
            cmd.env("RUST_LOG", level);
        }
        let out = run(cmd);
        let mut secrets = vec![
            "tok-corp".to_owned(),
            "tok-legacy".to_owned(),
            "refresh-tok-corp".to_owned(),
            "client-secret-ssofresh-test".to_owned(),
        ];
        for i in portal.issued() {
            secrets.extend([i.secret_access_key, i.session_token, i.access_key_id]);
        }
        assert!(out.stderr.len() > 1000, "trace output was produced: {out}");
        for secret in &secrets {
            assert!(
                !out.stderr.contains(secret.as_str()),
                "{secret} leaked: {out}"
            );
            assert!(
                !out.stdout.contains(secret.as_str()),
                "{secret} leaked: {out}"
            );
        }
    }
}

/// A credentials file that cannot be written, or that is not text, is a fatal error (exit 1)
/// naming the file, and nothing is changed.
#[test]
fn unwritable_or_binary_credentials_file_is_fatal() {
    let (home, portal) = setup();
    let blocker = home.path().join("not-a-folder");
    fs::write(&blocker, "x").expect("write");
    let mut cmd = ssofresh(&home, &portal);
    cmd.args(["--once", "--credentials"])
        .arg(blocker.join("credentials"));
    let out = run(cmd);
    out.assert_status(1);
    assert!(out.stderr.contains(&blocker.display().to_string()), "{out}");

    let binary = b"[old]\naws_secret_access_key = keep-this-secret\xff\xfe\n";
    fs::create_dir_all(home.aws_dir()).expect("mkdir");
    fs::write(home.credentials_path(), binary).expect("write");
    let out = once(&home, &portal, &[]);
    out.assert_status(1);
    assert!(out.stderr.contains("not UTF-8"), "{out}");
    // Regression: aws-config's loader used to log such a file's raw bytes at WARN.
    assert!(
        !out.stderr.contains("keep-this-secret") && !out.stderr.contains("bytes:"),
        "{out}"
    );
    assert_eq!(
        fs::read(home.credentials_path()).expect("read"),
        binary,
        "left as it was"
    );
}

/// A credentials path that is not a regular file is refused, not replaced; a config file
/// with a byte-order mark is refused with that reason.
#[test]
fn odd_files_are_refused() {
    let (home, portal) = setup();
    let folder = home.path().join("a-folder");
    fs::create_dir_all(&folder).expect("mkdir");
    let mut cmd = ssofresh(&home, &portal);
    cmd.args(["--once", "--credentials"]).arg(&folder);
    let out = run(cmd);
    out.assert_status(1);
    assert!(out.stderr.contains("not a regular file"), "{out}");
    assert!(folder.is_dir());

    home.write_config(&format!("\u{feff}{}", config()));
    let out = once(&home, &portal, &[]);
    out.assert_status(1);
    assert!(out.stderr.contains("byte-order mark"), "{out}");
}

/// A config path that cannot be read is fatal and named.
#[test]
fn unreadable_config_is_fatal() {
    let (home, portal) = setup();
    let mut cmd = ssofresh(&home, &portal);
    cmd.args(["--once", "--config"]).arg(home.path());
    let out = run(cmd);
    out.assert_status(1);
    assert!(out.stderr.contains("cannot read"), "{out}");
    assert!(
        out.stderr.contains(&home.path().display().to_string()),
        "{out}"
    );
}

/// A credentials file a human has shaped (comments, `:` separators, a spaced header, indented
/// keys, a nested block, no final newline) reads the same in botocore afterwards, except for
/// the keys ssofresh owns in the section it writes.
#[test]
fn botocore_sees_every_foreign_setting_unchanged() {
    let (home, portal) = setup();
    let mine = "# header comment\n\
                [personal]\n\
                aws_access_key_id = AKIAPERSONAL\n\
                aws_secret_access_key = personal/secret ; not a comment\n\
                \x20 \n\
                [ spaced ]\n\
                aws_access_key_id: ASIASPACED\n\
                aws_secret_access_key: s\n\
                aws_session_token: t\n\
                \n\
                [dev]\n\
                \x20 region = eu-west-1\n\
                \x20 aws_access_key_id = ASIAOLD\n\
                \x20 aws_secret_access_key = old\n\
                \x20 aws_session_token = old\n\
                \x20 output = json\n\
                [tools]\n\
                s3 =\n\
                \x20 max_concurrent_requests = 20\n\
                aws_access_key_id = AKIATOOLS\n\
                aws_secret_access_key = tools";
    home.write_credentials(mine);
    let before = botocore_raw(&home.credentials_path());
    assert!(before.get("error").is_none(), "{before}");
    once(&home, &portal, &["-p", "dev"]).assert_success();
    let after = botocore_raw(&home.credentials_path());
    let dev = issued(&portal, "111111111111", "Dev");
    let mut expected = before.clone();
    let section = expected["dev"].as_object_mut().expect("dev section");
    section.insert("aws_access_key_id".into(), json!(dev.access_key_id));
    section.insert("aws_secret_access_key".into(), json!(dev.secret_access_key));
    section.insert("aws_session_token".into(), json!(dev.session_token));
    let expires = DateTime::<Utc>::from_timestamp_millis(dev.expiration_ms).expect("ms");
    section.insert(
        "x_security_token_expires".into(),
        json!(expires.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
    );
    assert_eq!(after, expected);
    assert!(
        !home.read_credentials().ends_with('\n'),
        "still no final newline"
    );
}

/// A file starting with a byte-order mark is refused whole: the AWS CLI cannot read it, and
/// its first section would not be recognised.
#[test]
fn byte_order_mark_is_refused() {
    let (home, portal) = setup();
    let text = "\u{feff}[dev]\naws_session_token = t\n";
    home.write_credentials(text);
    let out = once(&home, &portal, &[]);
    out.assert_status(1);
    assert!(out.stderr.contains("byte-order mark"), "{out}");
    assert_eq!(home.read_credentials(), text);
}

/// Usage errors are fatal (1), never 2; help is 0; a config file named but missing is fatal.
#[test]
fn usage_errors_and_named_config() {
    let (home, portal) = setup();
    for bad in [
        &["--refresh-margin", "5x"][..],
        &["-p", "dev:a]b"],
        &["--no-such-flag"],
        &["--timeout", "0s"],
        &["--timeout", "18446744073709551615"],
    ] {
        once(&home, &portal, bad).assert_status(1);
    }
    let mut cmd = ssofresh(&home, &portal);
    cmd.arg("--help");
    let out = run(cmd);
    out.assert_success();
    assert!(out.stdout.contains("--refresh-margin"), "{out}");
    let mut cmd = ssofresh(&home, &portal);
    cmd.args(["--once", "--config"])
        .arg(home.path().join("typo"));
    let out = run(cmd);
    out.assert_status(1);
    assert!(out.stderr.contains("does not exist"), "{out}");
}

/// Two profiles aimed at one section are refused before any call, and no file is created.
#[test]
fn two_profiles_one_section() {
    let (home, portal) = setup();
    let out = once(&home, &portal, &["-p", "dev:shared", "-p", "prod:shared"]);
    out.assert_status(2);
    assert!(
        out.stderr
            .contains("two profiles are set to write this same section"),
        "{out}"
    );
    assert!(portal.credential_requests().is_empty());
    assert!(!home.credentials_path().exists());
}

/// HOME with `n` sso-session profiles `p0`… on one valid login, each role answered by the
/// portal with `replies`.
fn many_profiles(n: u64, replies: &[Reply]) -> (TestHome, Portal) {
    let home = TestHome::new();
    let portal = Portal::start();
    home.write_config(&portal.fleet("tok-corp", n, START_URL));
    for i in 0..n {
        portal.script(&fleet_account(i), "Dev", replies.to_vec());
    }
    home.write_token("corp", token_json("tok-corp", in_hours(8)));
    (home, portal)
}

/// A portal that hangs for everyone is given up on after a couple of unanswered calls: the
/// other profiles fail at once instead of each waiting out its own timeouts.
#[test]
fn hanging_portal_is_given_up_on() {
    let (home, portal) = many_profiles(12, &[Reply::Hang, Reply::Hang, Reply::Hang]);
    let out = once(&home, &portal, &["--timeout", "1s"]);
    out.assert_status(2);
    let calls = portal.credential_requests().len();
    assert!(
        (1..=8).contains(&calls),
        "12 profiles × 3 attempts would be 36 calls; made {calls}: {out}"
    );
    assert!(
        out.stderr.contains("12 of 12 profiles were not written"),
        "{out}"
    );
    assert!(
        out.stderr
            .contains("not tried: other calls to it got no answer"),
        "{out}"
    );
}

/// Calls run concurrently, and never more than eight at once.
#[test]
fn calls_are_concurrent_and_bounded() {
    let (home, portal) = many_profiles(20, &[Reply::Ok.after(Duration::from_millis(200))]);
    once(&home, &portal, &[]).assert_success();
    let peak = portal.peak_in_flight();
    assert!((2..=8).contains(&peak), "peak concurrent calls: {peak}");
}

/// One write per run: `--once` with 400 profiles, a tenth of them refused by the portal,
/// replaces the credentials file exactly once (as inotify sees it), with every granted
/// profile in it and the user's lines kept.
#[test]
fn four_hundred_profiles_one_rename() {
    let (home, portal) = many_profiles(400, &[]);
    for i in (0..400u64).filter(|i| i % 10 == 3) {
        portal.script(&fleet_account(i), "Dev", [Reply::Status(403)]);
    }
    let mine =
        "# my own keys\n[personal]\naws_access_key_id = AKIAMINE\naws_secret_access_key = s\n";
    home.write_credentials(mine);
    let inode = fs::metadata(home.credentials_path()).expect("stat").ino();
    let replaced = Replacements::watch(&home.credentials_path());
    let out = once(&home, &portal, &[]);
    out.assert_status(2);
    assert!(
        out.stderr.contains("40 of 400 profiles were not written"),
        "{out}"
    );
    let renames = replaced.settled();
    eprintln!(
        "--once, 400 profiles: {renames} rename(s), {:?}",
        out.elapsed
    );
    assert_eq!(renames, 1, "renames of the credentials file; {out}");
    let text = home.read_credentials();
    assert!(text.starts_with(mine), "{text}");
    assert_eq!(text.matches("aws_session_token").count(), 360);
    assert_ne!(
        fs::metadata(home.credentials_path()).expect("stat").ino(),
        inode
    );
}

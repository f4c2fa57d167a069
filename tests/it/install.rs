//! `ssofresh install` and `uninstall` as users run them: the real binary, a temporary HOME,
//! and `systemctl` / `launchctl` stand-ins first on PATH that record their arguments (no
//! real user systemd session or launchd here). The unit is judged by
//! `systemd-analyze --user verify`, the agent by Python's plistlib.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::common::{Outcome, Portal, TestHome, run, ssofresh, token_json};
use crate::service_files::{plistlib, systemd_verify};

const UNIT: &str = ".config/systemd/user/ssofresh.service";
const PLIST: &str = "Library/LaunchAgents/io.github.ssofresh.plist";

/// A recording `systemctl`: each call's arguments go to `calls` one line per call;
/// `show-environment` fails when the file `no-session` exists; `is-active` succeeds while
/// `active` exists, which `enable --now` creates and `disable --now` removes.
const FAKE_SYSTEMCTL: &str = r#"#!/bin/sh
dir=$(dirname "$0")
echo "$*" >> "$dir/calls"
case "$*" in
  *show-environment*) [ ! -e "$dir/no-session" ] || { echo "Failed to connect to bus: No medium found" >&2; exit 1; } ;;
  *is-active*) [ -e "$dir/active" ] || exit 3 ;;
  *"enable --now"*) touch "$dir/active" ;;
  *"disable --now"*) rm -f "$dir/active" ;;
esac
exit 0
"#;

/// A HOME and a folder of fake tools first on PATH.
struct Setup {
    home: TestHome,
    bin: tempfile::TempDir,
}

impl Setup {
    fn new() -> Self {
        let bin = tempfile::tempdir().expect("tempdir");
        let path = bin.path().join("systemctl");
        fs::write(&path, FAKE_SYSTEMCTL).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod");
        Self {
            home: TestHome::new(),
            bin,
        }
    }

    /// `ssofresh ARGS` with a cleared environment: PATH (fakes first) and HOME, in HOME.
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ssofresh"));
        let path = format!(
            "{}:{}",
            self.bin.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        cmd.env_clear()
            .env("PATH", path)
            .env("HOME", self.home.path())
            .current_dir(self.home.path())
            .stdin(Stdio::null())
            .args(args);
        cmd
    }

    fn run(&self, args: &[&str]) -> Outcome {
        run(self.cmd(args))
    }

    /// The fake systemctl's calls so far, one string per call.
    fn calls(&self) -> Vec<String> {
        fs::read_to_string(self.bin.path().join("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Every file under HOME, relative.
    fn files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
            for entry in fs::read_dir(dir).expect("read_dir").flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, root, out);
                } else {
                    out.push(path.strip_prefix(root).expect("under root").to_owned());
                }
            }
        }
        let mut out = Vec::new();
        walk(self.home.path(), self.home.path(), &mut out);
        out.sort();
        out
    }
}

/// The binary's real path, as the service must name it.
fn real_exe() -> String {
    Path::new(env!("CARGO_BIN_EXE_ssofresh"))
        .canonicalize()
        .expect("canonical")
        .display()
        .to_string()
}

/// The file a dry run prints: the lines between its header and `# and run:`.
fn printed_file(out: &Outcome) -> String {
    let body = out
        .stdout
        .split_once('\n')
        .map(|(_, rest)| rest)
        .expect("a header line");
    body.split_once("\n# and run:")
        .expect("the commands follow")
        .0
        .to_owned()
}

/// `install --dry-run` for systemd prints a unit that `systemd-analyze --user verify`
/// accepts, running the real binary with the options given (quoted for systemd), carrying the
/// variables that shape ssofresh but no credentials, opening a credentials folder and an
/// `aws login` cache outside ~/.aws (a name with a space, quoted); it prints the commands,
/// runs none, and writes nothing.
#[test]
fn dry_run_systemd_unit_verifies() {
    let setup = Setup::new();
    let outside = setup.home.path().join("dot files");
    let mut cmd = setup.cmd(&[
        "install",
        "--dry-run",
        "--service",
        "systemd",
        "--profile",
        "dev-*",
        "--exclude",
        "dev-old",
        "--with-region",
        "--on-login-needed",
        "notify-send \"log in: $SSOFRESH_FIX\" 100%",
    ]);
    let logins = setup.home.path().join("login-cache");
    cmd.env("HTTPS_PROXY", "http://proxy.corp:3128")
        .env("AWS_SHARED_CREDENTIALS_FILE", outside.join("credentials"))
        .env("AWS_LOGIN_CACHE_DIRECTORY", &logins)
        .env("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        )
        .env("AWS_SESSION_TOKEN", "session-token-never-carried");
    let out = run(cmd);
    out.assert_success();
    let unit = printed_file(&out);
    let exec = unit
        .lines()
        .find(|l| l.starts_with("ExecStart="))
        .expect("ExecStart");
    assert_eq!(
        exec,
        format!(
            "ExecStart={} --profile \"dev-*\" --exclude dev-old --on-login-needed \
             \"notify-send \\\"log in: $$SSOFRESH_FIX\\\" 100%%\" --with-region",
            real_exe()
        )
    );
    assert!(
        unit.contains("\nEnvironment=HTTPS_PROXY=http://proxy.corp:3128\n"),
        "{unit}"
    );
    assert!(
        unit.contains(&format!(
            "\nEnvironment=\"AWS_SHARED_CREDENTIALS_FILE={}/credentials\"\n",
            outside.display()
        )),
        "{unit}"
    );
    assert!(
        unit.contains(&format!("\nReadWritePaths=-\"{}\"\n", outside.display())),
        "{unit}"
    );
    assert!(
        unit.contains(&format!("\nReadWritePaths=-{}\n", logins.display())),
        "the refreshed sessions' folder is writable: {unit}"
    );
    for secret in [
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI",
        "session-token-never-carried",
    ] {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "{out}"
        );
    }
    assert!(
        out.stdout.contains("\nsystemctl --user daemon-reload\n"),
        "{out}"
    );
    assert!(
        out.stdout
            .contains("\nsystemctl --user enable --now ssofresh.service\n"),
        "{out}"
    );
    assert!(
        setup.calls().is_empty(),
        "a dry run runs nothing: {:?}",
        setup.calls()
    );
    assert!(
        setup.files().is_empty(),
        "a dry run writes nothing: {:?}",
        setup.files()
    );
    match systemd_verify(&unit) {
        Some((ok, stderr)) => assert!(ok && stderr.trim().is_empty(), "systemd-analyze: {stderr}"),
        None => eprintln!("note: systemd-analyze is not installed; the unit was not verified"),
    }
}

/// `install --dry-run --service launchd` prints an agent that plistlib parses, whose
/// ProgramArguments are the binary's real path and the options given, one string each, with
/// the variables set now in EnvironmentVariables and absolute paths under this HOME.
#[test]
fn dry_run_launchd_agent_parses() {
    let setup = Setup::new();
    let mut cmd = setup.cmd(&[
        "install",
        "--dry-run",
        "--service",
        "launchd",
        "-p",
        "dev:default",
        "--refresh-margin",
        "5m",
        "--config",
        "team/config",
        "-v",
    ]);
    cmd.env("AWS_CA_BUNDLE", "/etc/corp-ca.pem")
        .env("RUST_LOG", "ssofresh=debug");
    let out = run(cmd);
    out.assert_success();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("agent.plist");
    fs::write(&path, printed_file(&out)).expect("write");
    let plist = plistlib(&path);
    let home = setup.home.path().display().to_string();
    assert_eq!(
        plist["ProgramArguments"],
        json!([
            real_exe(),
            "--profile",
            "dev:default",
            "--refresh-margin",
            "5m",
            "--config",
            format!("{home}/team/config"),
            "-v"
        ])
    );
    assert_eq!(
        plist["EnvironmentVariables"],
        json!({"AWS_CA_BUNDLE": "/etc/corp-ca.pem", "RUST_LOG": "ssofresh=debug"})
    );
    assert_eq!(plist["Label"], json!("io.github.ssofresh"));
    assert_eq!(
        plist["StandardErrorPath"],
        Value::String(format!("{home}/Library/Logs/ssofresh.log"))
    );
    let target = setup.home.path().join(PLIST);
    assert!(
        out.stdout.starts_with(&format!(
            "# ssofresh install --dry-run: would write {}\n",
            target.display()
        )),
        "{out}"
    );
    assert!(
        out.stdout.contains("\nlaunchctl bootstrap gui/")
            && out.stdout.contains(&format!(" {}\n", target.display())),
        "{out}"
    );
    assert!(setup.files().is_empty(), "{:?}", setup.files());
}

/// Without a user systemd session, install says so, shows other ways to run ssofresh,
/// writes nothing and fails.
#[test]
fn no_user_systemd_writes_nothing() {
    let setup = Setup::new();
    fs::write(setup.bin.path().join("no-session"), "").expect("write");
    let out = setup.run(&["install", "--service", "systemd"]);
    out.assert_status(1);
    assert!(out.stderr.contains("no systemd user session"), "{out}");
    assert!(out.stderr.contains("nothing was written"), "{out}");
    assert!(out.stderr.contains("ssofresh --once"), "{out}");
    assert!(setup.files().is_empty(), "{:?}", setup.files());
    assert_eq!(setup.calls(), ["--user show-environment"]);
}

/// A real install writes the unit and runs daemon-reload and enable --now; running it again
/// with other options rewrites the unit and restarts the service; uninstall disables and
/// stops it and removes the unit.
#[test]
fn install_reinstall_uninstall() {
    let setup = Setup::new();
    let unit_path = setup.home.path().join(UNIT);
    let out = setup.run(&["install", "--service", "systemd"]);
    out.assert_success();
    assert!(out.stdout.contains("enabled and started"), "{out}");
    let unit = fs::read_to_string(&unit_path).expect("the unit is written");
    assert!(
        unit.contains(&format!("\nExecStart={}\n", real_exe())),
        "{unit}"
    );
    assert_eq!(
        setup.calls(),
        [
            "--user show-environment",
            "--user is-active --quiet ssofresh.service",
            "--user daemon-reload",
            "--user enable --now ssofresh.service",
        ]
    );

    let out = setup.run(&["install", "--service", "systemd", "--with-region"]);
    out.assert_success();
    assert!(out.stdout.contains("updated"), "{out}");
    assert!(out.stdout.contains("restarted"), "{out}");
    let unit = fs::read_to_string(&unit_path).expect("the unit is written");
    assert!(
        unit.contains(&format!("\nExecStart={} --with-region\n", real_exe())),
        "{unit}"
    );
    assert_eq!(
        setup.calls()[4..],
        [
            "--user show-environment",
            "--user is-active --quiet ssofresh.service",
            "--user daemon-reload",
            "--user enable --now ssofresh.service",
            "--user restart ssofresh.service",
        ]
    );

    let out = setup.run(&["uninstall", "--service", "systemd"]);
    out.assert_success();
    assert!(!unit_path.exists(), "the unit is removed");
    assert_eq!(
        setup.calls()[9..],
        [
            "--user show-environment",
            "--user disable --now ssofresh.service",
            "--user daemon-reload",
        ]
    );
    assert!(
        out.stdout.contains("credentials file is left as it is"),
        "{out}"
    );
    let out = setup.run(&["uninstall", "--service", "systemd"]);
    out.assert_success();
    assert!(out.stdout.contains("not installed"), "{out}");
}

/// `uninstall --remove-credentials` takes out exactly the sections ssofresh wrote (here by a
/// real `--once` against the local portal), leaving the user's long-term keys, a session
/// pasted by hand and every other byte; `--dry-run` only says what would go.
#[test]
fn uninstall_removes_only_written_sections() {
    let setup = Setup::new();
    let home = &setup.home;
    let start_url = "https://d-1234567890.awsapps.com/start";
    home.write_config(&format!(
        "[profile dev]\nsso_session = corp\nsso_account_id = 111111111111\nsso_role_name = Dev\n\n\
         [profile pasted]\nsso_session = corp\nsso_account_id = 222222222222\nsso_role_name = Dev\n\n\
         [sso-session corp]\nsso_start_url = {start_url}\nsso_region = us-east-1\n"
    ));
    let mine = "# mine\n[personal]\naws_access_key_id = AKIAPERSONAL\naws_secret_access_key = k\n\n\
                [pasted]\naws_access_key_id = ASIAPASTED\naws_secret_access_key = s\naws_session_token = t\n";
    home.write_credentials(mine);
    home.write_token(
        "corp",
        token_json("tok", chrono::Utc::now() + chrono::Duration::hours(8)),
    );
    let portal = Portal::start();
    portal.grant(
        "tok",
        "111111111111",
        "Dev",
        std::time::Duration::from_secs(3600),
    );
    let mut once = ssofresh(home, &portal);
    once.args(["--once", "-p", "dev"]);
    run(once).assert_success();
    let written = home.read_credentials();
    assert!(written.contains("[dev]"), "{written}");

    let out = setup.run(&["uninstall", "--dry-run", "--remove-credentials"]);
    out.assert_success();
    assert!(
        out.stdout.contains("would remove the credentials in [dev]"),
        "{out}"
    );
    assert!(
        out.stdout.contains("no record of what ssofresh wrote"),
        "no daemon ran, so the session-shape rule is used and said: {out}"
    );
    assert_eq!(
        home.read_credentials(),
        written,
        "a dry run changes nothing"
    );

    let out = setup.run(&["uninstall", "--remove-credentials"]);
    out.assert_success();
    assert!(
        out.stdout.contains("removed the credentials in [dev]"),
        "{out}"
    );
    assert_eq!(
        home.read_credentials(),
        mine,
        "byte for byte what was there before"
    );
    let out = setup.run(&["uninstall", "--remove-credentials"]);
    out.assert_success();
    assert!(out.stdout.contains("no section"), "{out}");
}

/// `uninstall --remove-credentials` refuses while a daemon (started by hand) keeps the
/// credentials file, since it would put the sections back; the file is not touched. Its
/// `--dry-run` meanwhile takes no lock and writes nothing: it exits 0, notes the daemon, and
/// leaves the folder as it was.
#[test]
fn remove_credentials_refused_while_a_daemon_runs() {
    let setup = Setup::new();
    let home = &setup.home;
    home.write_config("[profile dev]\nsso_session = corp\nsso_account_id = 1\nsso_role_name = R\n\n\
                       [sso-session corp]\nsso_start_url = https://x.awsapps.com/start\nsso_region = us-east-1\n");
    let written = "[dev]\naws_access_key_id = ASIA1\naws_secret_access_key = s\n\
                   aws_session_token = t\nx_security_token_expires = 2030-01-01T00:00:00Z\n";
    home.write_credentials(written);
    let portal = Portal::start();
    let d = crate::common::Daemon::spawn(ssofresh(home, &portal));
    let pid_file = home.aws_dir().join(".credentials.ssofresh.pid");
    d.wait_for(
        "the daemon's lock",
        std::time::Duration::from_secs(10),
        || fs::read_to_string(&pid_file).is_ok_and(|p| p.trim() == d.pid().to_string()),
    );
    let aws_files = || {
        let mut files = setup.files();
        files.retain(|f| f.starts_with(".aws"));
        files
    };
    let before = aws_files();
    let out = setup.run(&["uninstall", "--dry-run", "--remove-credentials"]);
    out.assert_success();
    assert!(
        out.stdout
            .contains(&format!("a daemon (pid {}) keeps", d.pid())),
        "{out}"
    );
    assert_eq!(aws_files(), before, "a dry run writes nothing");
    assert_eq!(home.read_credentials(), written);
    let out = setup.run(&["uninstall", "--remove-credentials"]);
    out.assert_status(1);
    assert!(out.stderr.contains("already keeping"), "{out}");
    assert!(out.stderr.contains("were not touched"), "{out}");
    assert_eq!(home.read_credentials(), written);
    d.stop().assert_success();
}

/// With the daemon's state file, `uninstall --remove-credentials` takes out only the sections
/// it records that still hold the key it wrote, and says so: a session-shaped section it does
/// not record, and a recorded one whose key changed since, stay byte for byte.
#[test]
fn remove_credentials_follows_the_state_file() {
    use sha1::{Digest, Sha1};
    let setup = Setup::new();
    let home = &setup.home;
    home.write_config(
        "[profile dev]\nsso_session = corp\nsso_account_id = 1\nsso_role_name = R\n\n\
         [profile pasted]\nsso_session = corp\nsso_account_id = 2\nsso_role_name = R\n\n\
         [profile changed]\nsso_session = corp\nsso_account_id = 3\nsso_role_name = R\n\n\
         [sso-session corp]\nsso_start_url = https://x.awsapps.com/start\nsso_region = us-east-1\n",
    );
    let session = |key: &str| {
        format!(
            "aws_access_key_id = {key}\naws_secret_access_key = s\naws_session_token = t\n\
             x_security_token_expires = 2030-01-01T00:00:00Z\n"
        )
    };
    let kept = format!(
        "[pasted]\n{}\n[changed]\n{}",
        session("ASIAPASTED"),
        session("ASIANEW")
    );
    home.write_credentials(&format!("{kept}\n[dev]\n{}", session("ASIADEV")));
    let digest = |key: &str| hex::encode(Sha1::digest(key.as_bytes()));
    let credentials = fs::canonicalize(home.aws_dir().join("credentials")).expect("canonical");
    let state_dir = home.path().join(".local/state/ssofresh");
    fs::create_dir_all(&state_dir).expect("mkdir");
    let written = |section: &str, key: &str| {
        json!({"login_kind": "sso_session", "login": "corp", "section": section,
               "key_sha1": digest(key)})
    };
    let state = json!({
        "version": 1, "pid": 1, "started_at": "2026-01-01T00:00:00Z",
        "credentials": credentials.display().to_string(), "profiles": [],
        "written": [written("dev", "ASIADEV"), written("changed", "ASIAOLD")],
    });
    let state_path = state_dir.join(format!("state-{}.json", digest_path(&credentials)));
    fs::write(&state_path, state.to_string()).expect("write");

    let out = setup.run(&["uninstall", "--remove-credentials"]);
    out.assert_success();
    assert!(out.stdout.contains("taken from its record in"), "{out}");
    assert!(
        out.stdout.contains("removed the credentials in [dev] from"),
        "{out}"
    );
    assert_eq!(home.read_credentials(), kept, "only [dev] went");
}

/// Hex SHA-1 of a path's bytes, as the state file's name holds it.
fn digest_path(path: &Path) -> String {
    use sha1::{Digest, Sha1};
    hex::encode(Sha1::digest(path.as_os_str().as_encoded_bytes()))
}

/// `install` fails at once, writing nothing, on a `--profile` glob or name that matches no SSO
/// profile of the config file, and names the profiles there; before `aws configure sso` (no
/// config file) it only notes that the choice is checked when the service starts.
#[test]
fn install_checks_the_profile_choice_now() {
    let setup = Setup::new();
    let out = setup.run(&["install", "--dry-run", "--profile", "dev-*"]);
    out.assert_success();
    assert!(out.stderr.contains("does not exist yet"), "{out}");
    let home = &setup.home;
    home.write_config(
        "[profile prod]\nsso_session = corp\nsso_account_id = 1\nsso_role_name = R\n\n\
         [sso-session corp]\nsso_start_url = https://x.awsapps.com/start\nsso_region = us-east-1\n",
    );
    let before = setup.files();
    for dry in [true, false] {
        let mut args = vec!["install", "--profile", "dev-*"];
        if dry {
            args.push("--dry-run");
        }
        let out = setup.run(&args);
        out.assert_status(1);
        assert!(
            out.stderr.contains(
                "--profile dev-*: this --profile glob matches no SSO or `aws login` profile"
            ),
            "{out}"
        );
        assert!(out.stderr.contains("its profiles: prod"), "{out}");
        assert!(out.stderr.contains("nothing was installed"), "{out}");
        assert_eq!(setup.files(), before, "nothing written");
        assert!(
            setup.calls().is_empty(),
            "no command run: {:?}",
            setup.calls()
        );
    }
    setup
        .run(&["install", "--dry-run", "--profile", "prod"])
        .assert_success();
}

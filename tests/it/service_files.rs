//! The service files: `systemd/ssofresh.service` (a systemd user unit) and
//! `launchd/io.github.ssofresh.plist` (a macOS LaunchAgent) are what systemd and launchd accept,
//! hold the settings the README promises, and match the README's install steps.
//!
//! The plist is parsed by Python's plistlib (the interpreter of the reader tests); the unit by a
//! small INI check, and by `systemd-analyze --user verify` where systemd-analyze is installed
//! (always under `CI`: see [`systemd_verify`]).

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

const UNIT: &str = "systemd/ssofresh.service";
const PLIST: &str = "launchd/io.github.ssofresh.plist";
const LABEL: &str = "io.github.ssofresh";

fn repo_file(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The plist as the README installs it: `@HOME@` replaced by a home folder.
fn installed_plist(home: &str) -> String {
    repo_file(PLIST).replace("@HOME@", home)
}

/// Parses a plist file with Python's plistlib and returns it as JSON.
pub(crate) fn plistlib(path: &Path) -> Value {
    let python = std::env::var_os("SSOFRESH_TEST_PYTHON").unwrap_or_else(|| "python3".into());
    let script = "import json, plistlib, sys\n\
                  with open(sys.argv[1], 'rb') as f:\n    print(json.dumps(plistlib.load(f)))";
    let output = Command::new(&python)
        .args(["-c", script])
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot start {python:?}: {e}; install python3"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "plistlib refused the plist: {stderr}"
    );
    serde_json::from_slice(&output.stdout).expect("plistlib printed JSON")
}

/// The LaunchAgent, installed as the README does it, is a valid plist with absolute paths (launchd
/// expands neither `~` nor `$HOME`), starts at login, is restarted only after a failure, and logs
/// to `~/Library/Logs/ssofresh.log`.
#[test]
fn launch_agent_is_a_valid_plist_with_the_keys() {
    let raw = repo_file(PLIST);
    assert!(
        raw.contains("@HOME@/.cargo/bin/ssofresh"),
        "the README's sed has a placeholder to replace"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let home = "/Users/someone";
    let path = dir.path().join(format!("{LABEL}.plist"));
    fs::write(&path, installed_plist(home)).expect("write");
    let plist = plistlib(&path);
    let log = format!("{home}/Library/Logs/ssofresh.log");
    let want = json!({
        "Label": LABEL,
        "ProgramArguments": [format!("{home}/.cargo/bin/ssofresh")],
        "RunAtLoad": true,
        "KeepAlive": {"SuccessfulExit": false},
        "ThrottleInterval": 30,
        "ProcessType": "Standard",
        "StandardOutPath": log,
        "StandardErrorPath": log,
        "Umask": 0o077,
    });
    assert_eq!(plist, want);
    let text = plist.to_string();
    assert!(
        !text.contains('~') && !text.contains('$') && !text.contains('@'),
        "nothing launchd would not expand: {text}"
    );
    // On macOS, Apple's own checker has the last word.
    match Command::new("plutil").arg("-lint").arg(&path).output() {
        Ok(out) => assert!(
            out.status.success(),
            "plutil -lint: {}",
            String::from_utf8_lossy(&out.stdout)
        ),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            eprintln!("note: plutil is not installed (not macOS); plistlib's check only");
        }
        Err(e) => panic!("cannot run plutil: {e}"),
    }
}

/// A unit file read as an INI file: (section, directive, value) in order. Panics on a line
/// that is neither a comment, a `[section]` nor `Directive=value`.
fn unit_directives(text: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut section = String::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        assert!(
            !line.ends_with('\\'),
            "line {}: no continuation lines",
            n + 1
        );
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("line {} is not Directive=value: {line:?}", n + 1));
        assert!(
            !section.is_empty(),
            "line {}: directive before a section",
            n + 1
        );
        out.push((
            section.clone(),
            key.trim().to_owned(),
            value.trim().to_owned(),
        ));
    }
    out
}

/// Directives this unit may use, by section: all valid in user units, none that cuts the
/// network or hides the home folder.
const KNOWN: &[(&str, &[&str])] = &[
    (
        "Unit",
        &[
            "Description",
            "Documentation",
            "StartLimitIntervalSec",
            "StartLimitBurst",
        ],
    ),
    (
        "Service",
        &[
            "Type",
            "NotifyAccess",
            "ExecStart",
            "ExecStartPre",
            "ExecReload",
            "TimeoutStopSec",
            "Restart",
            "RestartSec",
            "Environment",
            "ProtectSystem",
            "ReadWritePaths",
            "PrivateTmp",
            "NoNewPrivileges",
            "UMask",
            "RestrictAddressFamilies",
            "RestrictNamespaces",
            "RestrictRealtime",
            "RestrictSUIDSGID",
            "LockPersonality",
            "MemoryDenyWriteExecute",
            "SystemCallArchitectures",
        ],
    ),
    ("Install", &["WantedBy"]),
];

/// Directives that would break ssofresh as a user service, and why.
const FORBIDDEN: &[(&str, &str)] = &[
    ("User", "a user service already runs as the user"),
    ("Group", "a user service already runs as the user"),
    ("PrivateNetwork", "ssofresh must reach the SSO portal"),
    ("IPAddressDeny", "ssofresh must reach the SSO portal"),
    (
        "ProtectHome",
        "ssofresh reads ~/.aws and writes its credentials there",
    ),
    (
        "PrivateUsers",
        "set explicitly it fails where user namespaces are refused",
    ),
    ("Type=forking", "ssofresh never forks"),
];

/// The unit is an INI file with the sections `Unit`, `Service`, `Install` in that order, only
/// known directives, one `ExecStart` of the binary `cargo install` makes, `Type=notify`,
/// restarts after failures, SIGHUP for reload, and writes allowed in `~/.aws` only.
#[test]
fn systemd_unit_has_the_shape_and_directives() {
    let directives = unit_directives(&repo_file(UNIT));
    let mut sections: Vec<&str> = directives.iter().map(|(s, _, _)| s.as_str()).collect();
    sections.dedup();
    assert_eq!(sections, ["Unit", "Service", "Install"]);
    let known: BTreeMap<&str, &[&str]> = KNOWN.iter().copied().collect();
    let mut values: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (section, key, value) in &directives {
        assert!(
            known[section.as_str()].contains(&key.as_str()),
            "unknown directive in [{section}]: {key}"
        );
        for (bad, why) in FORBIDDEN {
            let line = format!("{key}={value}");
            assert!(key != bad && line != *bad, "{line} must not be set: {why}");
        }
        values.entry(key).or_default().push(value);
    }
    let one = |key: &str| -> &str {
        match values.get(key).map(Vec::as_slice) {
            Some([value]) => value,
            other => panic!("{key} must be set once, found {other:?}"),
        }
    };
    assert_eq!(one("Type"), "notify");
    assert_eq!(one("ExecStart"), "%h/.cargo/bin/ssofresh");
    assert_eq!(one("ExecReload"), "kill -HUP $MAINPID");
    assert_eq!(one("Restart"), "on-failure");
    assert!(values.contains_key("RestartSec"), "RestartSec is set");
    assert_eq!(one("ProtectSystem"), "strict");
    assert_eq!(one("ReadWritePaths"), "%h/.aws %h/.local/state/ssofresh");
    assert_eq!(
        one("ExecStartPre"),
        "+mkdir -p -m 0700 %h/.aws %h/.local/state/ssofresh",
        "~/.aws and the state folder exist before ReadWritePaths needs them"
    );
    assert_eq!(one("NoNewPrivileges"), "yes");
    assert_eq!(one("PrivateTmp"), "yes");
    assert_eq!(one("WantedBy"), "default.target");
    for family in ["AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"] {
        assert!(
            one("RestrictAddressFamilies")
                .split_whitespace()
                .any(|f| f == family),
            "{family} is allowed"
        );
    }
}

/// Runs `systemd-analyze --user verify` on `unit` (a unit file's text) in a temporary HOME where
/// `~/.cargo/bin/ssofresh` is the binary under test: (success, stderr), or `None` when
/// systemd-analyze is not installed. With `CI` set a missing systemd-analyze fails the test
/// instead, so that CI cannot pass without the check.
pub(crate) fn systemd_verify(unit: &str) -> Option<(bool, String)> {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let bin = home.join(".cargo").join("bin");
    fs::create_dir_all(&bin).expect("mkdir");
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_ssofresh"), bin.join("ssofresh"))
        .expect("symlink");
    // The user manager wants a runtime folder, private to the user.
    let runtime = dir.path().join("run");
    fs::create_dir(&runtime).expect("mkdir");
    fs::set_permissions(&runtime, fs::Permissions::from_mode(0o700)).expect("chmod");
    let units = dir.path().join("units");
    fs::create_dir(&units).expect("mkdir");
    let path: PathBuf = units.join("ssofresh.service");
    fs::write(&path, unit).expect("write");
    let output = Command::new("systemd-analyze")
        .args(["--user", "--man=no", "verify"])
        .arg(&path)
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", &runtime)
        .stdin(Stdio::null())
        .output();
    match output {
        Ok(out) => Some((
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            assert!(
                std::env::var_os("CI").is_none(),
                "systemd-analyze is not installed, and CI is set: in CI the unit must be \
                 verified (install systemd; .ci/run does when it runs as root)"
            );
            None
        }
        Err(e) => panic!("cannot run systemd-analyze: {e}"),
    }
}

/// systemd itself accepts the unit without a warning, and the check is real: a copy with an
/// unknown directive is flagged.
#[test]
fn systemd_analyze_verifies_the_unit() {
    let unit = repo_file(UNIT);
    let Some((ok, stderr)) = systemd_verify(&unit) else {
        eprintln!(
            "note: systemd-analyze is not installed; skipping `systemd-analyze --user verify`"
        );
        return;
    };
    assert!(ok && stderr.trim().is_empty(), "systemd-analyze: {stderr}");
    let broken = unit.replace("[Service]\n", "[Service]\nNoSuchDirective=1\n");
    let (_, stderr) = systemd_verify(&broken).expect("systemd-analyze ran once already");
    assert!(
        stderr.contains("NoSuchDirective"),
        "systemd-analyze flags an unknown directive: {stderr:?}"
    );
}

/// The README's install steps (`ssofresh install`, and by hand) copy the files that exist,
/// substitute the plist's placeholder, and name the launchd label and the systemd unit they
/// define.
#[test]
fn readme_install_steps_match_the_files() {
    let readme = repo_file("README.md");
    for step in [
        "cargo install --locked --path .".to_owned(),
        "ssofresh install".to_owned(),
        "ssofresh uninstall".to_owned(),
        format!("cp {UNIT} ~/.config/systemd/user/"),
        "systemctl --user enable --now ssofresh".to_owned(),
        "systemctl --user reload ssofresh".to_owned(),
        "journalctl --user -u ssofresh".to_owned(),
        format!("sed \"s|@HOME@|$HOME|g\" {PLIST} > ~/Library/LaunchAgents/{LABEL}.plist"),
        format!("launchctl bootstrap gui/$(id -u) ~/Library/LaunchAgents/{LABEL}.plist"),
        format!("launchctl kickstart -k gui/$(id -u)/{LABEL}"),
        format!("launchctl bootout gui/$(id -u)/{LABEL}"),
        "~/Library/Logs/ssofresh.log".to_owned(),
    ] {
        assert!(readme.contains(&step), "the README has the step {step:?}");
    }
    assert!(
        repo_file(PLIST).contains(&format!("<string>{LABEL}</string>")),
        "the plist's label is the one the README uses"
    );
}

//! Writes that fail: a full disk (a file-size limit, `RLIMIT_FSIZE`, set with `prlimit`), a
//! folder ssofresh may not write in, a credentials file of another user (both run as `nobody`
//! through `setpriv`). Each time the error names the credentials file (never a temp file) and
//! says it was left unchanged, the file is byte for byte as it was, no temp file is left, and
//! the daemon keeps running and writes once the cause is gone.

use std::fs;
use std::os::unix::fs::{PermissionsExt, chown};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::{Daemon, Portal, TestHome, run, ssofresh};
use crate::crash::{USER_HEAD, many_profiles_home, stray_temps};

/// `nobody`, whom the tests run ssofresh as when permissions must bite (root ignores them).
const NOBODY: u32 = 65534;

/// `cmd` run through `wrapper` (e.g. `prlimit --fsize=1000 --`): same environment and folder.
fn wrapped(cmd: &Command, wrapper: &[&str]) -> Command {
    let mut out = Command::new(wrapper[0]);
    out.args(&wrapper[1..])
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            out.env(k, v);
        }
    }
    if let Some(dir) = cmd.get_current_dir() {
        out.current_dir(dir);
    }
    out
}

/// The file-size limit that makes every write of the credentials file fail: the user's head
/// fits, not one section more. Soft only, so that it can be lifted later without privilege.
const FSIZE: &str = "--fsize=200:unlimited";

/// Asserts that `message` names the credentials file, says it was left unchanged and names
/// no temp file.
#[track_caller]
fn assert_names_the_file(message: &str, home: &TestHome) {
    let path = home.credentials_path();
    assert!(
        message.contains(&format!("cannot write {}", path.display())),
        "{message}"
    );
    assert!(message.contains("left unchanged"), "{message}");
    assert!(!message.contains(".tmp"), "{message}");
}

/// A file-size limit (as a full disk does) under `--once`: exit 1, the credentials file named
/// and unchanged, no temp file.
#[test]
fn file_size_limit_once() {
    let (home, portal) = many_profiles_home(20, Duration::from_secs(3600));
    let out = run(wrapped(
        ssofresh(&home, &portal).arg("--once"),
        &["prlimit", FSIZE, "--"],
    ));
    out.assert_status(1);
    assert_names_the_file(&out.stderr, &home);
    assert_eq!(home.read_credentials(), USER_HEAD);
    assert_eq!(stray_temps(&home.aws_dir()), Vec::<String>::new());
}

/// The daemon under a file-size limit: it logs the error (the file named and unchanged),
/// keeps running, and once the limit is lifted and the file changes, writes every profile.
#[test]
fn file_size_limit_daemon_keeps_running() {
    let (home, portal) = many_profiles_home(20, Duration::from_secs(3600));
    let d = Daemon::spawn(wrapped(&ssofresh(&home, &portal), &["prlimit", FSIZE, "--"]));
    d.wait_for("the write error", Duration::from_secs(20), || {
        d.log().contains("left unchanged")
    });
    d.stays_up(Duration::from_millis(500));
    let log = d.log();
    assert_names_the_file(&log, &home);
    assert_eq!(home.read_credentials(), USER_HEAD);
    assert_eq!(stray_temps(&home.aws_dir()), Vec::<String>::new());
    let lifted = Command::new("prlimit")
        .args(["--pid", &d.pid().to_string(), "--fsize=unlimited:unlimited"])
        .status()
        .expect("prlimit");
    assert!(lifted.success());
    // The user edits the file: the daemon tries again at once (else in 30 s).
    home.write_credentials(&format!("{USER_HEAD}# edited\n"));
    d.wait_for("every profile written", Duration::from_secs(20), || {
        home.read_credentials().contains("[p019]")
    });
    assert!(home.read_credentials().starts_with(USER_HEAD));
    let _ = d.stop();
}

/// Makes the temp HOME reachable by `nobody` and hands it the config and token cache.
fn open_to_nobody(home: &TestHome) {
    for dir in [home.path(), &home.aws_dir()] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let mut stack = vec![home.aws_dir().join("sso")];
    while let Some(p) = stack.pop() {
        chown(&p, Some(NOBODY), Some(NOBODY)).expect("chown");
        if p.is_dir() {
            stack.extend(fs::read_dir(&p).expect("ls").map(|e| e.expect("entry").path()));
        }
    }
    chown(home.config_path(), Some(NOBODY), Some(NOBODY)).expect("chown");
}

fn as_nobody(home: &TestHome, portal: &Portal) -> Command {
    wrapped(
        ssofresh(home, portal).arg("--once"),
        &[
            "setpriv",
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "--",
        ],
    )
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("meta").permissions().mode() & 0o7777
}

/// A folder ssofresh may not write in (`~/.aws` of root, mode 0755; the file is the user's):
/// the error names the credentials file and says it was left unchanged.
#[test]
fn read_only_folder() {
    let (home, portal) = many_profiles_home(3, Duration::from_secs(3600));
    open_to_nobody(&home);
    chown(home.credentials_path(), Some(NOBODY), Some(NOBODY)).expect("chown");
    let out = run(as_nobody(&home, &portal));
    out.assert_status(1);
    assert_names_the_file(&out.stderr, &home);
    assert!(out.stderr.contains("ermission denied"), "{}", out.stderr);
    assert_eq!(home.read_credentials(), USER_HEAD);
    assert_eq!(stray_temps(&home.aws_dir()), Vec::<String>::new());
}

/// A credentials file of another user (root's, 0600) in a folder ssofresh may write in: it
/// cannot be read, the error names it, and it is left as it was (still root's, still 0600).
#[test]
fn file_of_another_user() {
    let (home, portal) = many_profiles_home(3, Duration::from_secs(3600));
    open_to_nobody(&home);
    chown(home.aws_dir(), Some(NOBODY), Some(NOBODY)).expect("chown");
    fs::set_permissions(home.credentials_path(), fs::Permissions::from_mode(0o600))
        .expect("chmod");
    let out = run(as_nobody(&home, &portal));
    out.assert_status(1);
    let path = home.credentials_path();
    assert!(
        out.stderr.contains(&path.display().to_string()) && out.stderr.contains("ermission denied"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(".tmp"), "{}", out.stderr);
    assert_eq!(home.read_credentials(), USER_HEAD);
    assert_eq!(mode(&path), 0o600);
    assert_eq!(stray_temps(&home.aws_dir()), Vec::<String>::new());
}

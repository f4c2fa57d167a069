//! Writes that fail: a full disk (a file-size limit, `RLIMIT_FSIZE`, set with `prlimit`), a
//! folder ssofresh may not write in, a credentials file of another user (when the tests run as
//! root, ssofresh runs as `nobody` through `setpriv`, since permissions do not stop root). Each time the error names the credentials file (never a temp file) and
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
pub(crate) fn wrapped(cmd: &Command, wrapper: &[&str]) -> Command {
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
    eprintln!("the message: {}", message.trim_end());
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
    let d = Daemon::spawn(wrapped(
        &ssofresh(&home, &portal),
        &["prlimit", FSIZE, "--"],
    ));
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

/// True when the tests run as root, whom permissions do not stop: ssofresh then runs as
/// `nobody` through `setpriv`.
fn root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Makes the temp HOME reachable by `nobody` and hands it the config, the token cache and,
/// with `own_credentials`, the credentials file. Nothing to do when not root.
fn open_to_nobody(home: &TestHome, own_credentials: bool) {
    if !root() {
        return;
    }
    for dir in [home.path(), &home.aws_dir()] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let mut stack = vec![home.aws_dir().join("sso"), home.config_path()];
    if own_credentials {
        stack.push(home.credentials_path());
    }
    while let Some(p) = stack.pop() {
        chown(&p, Some(NOBODY), Some(NOBODY)).expect("chown");
        if p.is_dir() {
            stack.extend(
                fs::read_dir(&p)
                    .expect("ls")
                    .map(|e| e.expect("entry").path()),
            );
        }
    }
}

/// `ssofresh --once`, as `nobody` when the tests run as root.
fn once_unprivileged(home: &TestHome, portal: &Portal) -> Command {
    let mut cmd = ssofresh(home, portal);
    cmd.arg("--once");
    if !root() {
        return cmd;
    }
    wrapped(
        &cmd,
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

/// A folder ssofresh may not write in (root's `~/.aws`, or the user's at mode 0555; the file
/// and its lock file are the user's): the error names the credentials file (not the temp file
/// it could not create) and says it was left unchanged.
#[test]
fn read_only_folder() {
    let (home, portal) = many_profiles_home(3, Duration::from_secs(3600));
    // The lock file is there already (from an earlier run): the temp file is what fails.
    fs::write(home.aws_dir().join(".credentials.ssofresh.lock"), "").expect("lock file");
    open_to_nobody(&home, true);
    if root() {
        let lock = home.aws_dir().join(".credentials.ssofresh.lock");
        chown(lock, Some(NOBODY), Some(NOBODY)).expect("chown");
    } else {
        fs::set_permissions(home.aws_dir(), fs::Permissions::from_mode(0o555)).expect("chmod");
    }
    let out = run(once_unprivileged(&home, &portal));
    fs::set_permissions(home.aws_dir(), fs::Permissions::from_mode(0o755)).expect("chmod");
    out.assert_status(1);
    assert_names_the_file(&out.stderr, &home);
    assert!(out.stderr.contains("ermission denied"), "{}", out.stderr);
    assert_eq!(home.read_credentials(), USER_HEAD);
    assert_eq!(stray_temps(&home.aws_dir()), Vec::<String>::new());
}

/// A credentials file ssofresh may not read (root's, 0600, in a folder of its own; or, not
/// as root, the user's at mode 0000): the error names it and it is left as it was.
#[test]
fn file_of_another_user() {
    let (home, portal) = many_profiles_home(3, Duration::from_secs(3600));
    open_to_nobody(&home, false);
    let path = home.credentials_path();
    let locked = if root() {
        chown(home.aws_dir(), Some(NOBODY), Some(NOBODY)).expect("chown");
        0o600
    } else {
        0o000
    };
    fs::set_permissions(&path, fs::Permissions::from_mode(locked)).expect("chmod");
    let out = run(once_unprivileged(&home, &portal));
    out.assert_status(1);
    assert!(
        out.stderr.contains(&path.display().to_string()) && out.stderr.contains("ermission denied"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(".tmp"), "{}", out.stderr);
    assert_eq!(mode(&path), locked);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
    assert_eq!(home.read_credentials(), USER_HEAD);
    assert_eq!(stray_temps(&home.aws_dir()), Vec::<String>::new());
}

/// A credentials file that belongs to another user but is readable (root's, 0644, after
/// `sudo aws configure`; here `nobody`'s, with ssofresh as root) is not taken over: the error
/// names it, says whose it is and that it was left unchanged; owner, mode and bytes stay.
#[test]
fn readable_file_of_another_user_is_not_taken_over() {
    if !root() {
        eprintln!("skipped: needs root to give the file to another user");
        return;
    }
    let (home, portal) = many_profiles_home(3, Duration::from_secs(3600));
    let path = home.credentials_path();
    chown(&path, Some(NOBODY), Some(NOBODY)).expect("chown");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut cmd = ssofresh(&home, &portal);
    cmd.arg("--once");
    let out = run(cmd);
    out.assert_status(1);
    assert_names_the_file(&out.stderr, &home);
    assert!(
        out.stderr.contains(&format!("another user (uid {NOBODY})")),
        "{}",
        out.stderr
    );
    use std::os::unix::fs::MetadataExt;
    assert_eq!(fs::metadata(&path).expect("meta").uid(), NOBODY);
    assert_eq!(mode(&path), 0o644);
    assert_eq!(home.read_credentials(), USER_HEAD);
    assert_eq!(stray_temps(&home.aws_dir()), Vec::<String>::new());
}

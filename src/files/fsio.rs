//! The one place that writes user files: temp file in the same directory, fsync, rename.
//!
//! [`replace`] follows a symlinked file to its target (dotfile managers link `~/.aws/credentials`
//! into a repository), so the link stays a link. The result is always private (0600); when the
//! file was looser before, the caller is told so it can say so. A folder that has to be created
//! is created 0700. A crash at any point leaves either the old file or the new one, never a
//! mix, and at worst a stray `.ssofresh-*.tmp` file beside it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The mode every file ssofresh writes ends up with.
pub const PRIVATE: u32 = 0o600;

/// A file-system operation that failed, with the path it concerns.
#[derive(Debug, thiserror::Error)]
#[error("{what} {}: {error}", path.display())]
pub struct FsError {
    /// What was being done, e.g. "cannot write".
    pub what: &'static str,
    /// The path concerned.
    pub path: PathBuf,
    /// The underlying error.
    pub error: io::Error,
}

fn fs_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> FsError {
    let path = path.to_owned();
    move |error| FsError { what, path, error }
}

/// What [`replace`] did beyond writing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Written {
    /// The file actually written (the symlink's target when `path` is a link).
    pub target: PathBuf,
    /// The old mode, when it was looser than 0600 and has been tightened.
    pub tightened_from: Option<u32>,
}

/// Reads a text file; a missing file reads as empty. Anything but a regular file (after
/// symlinks) is refused: reading a FIFO would block until someone writes to it.
pub fn read_text(path: &Path) -> Result<Option<String>, FsError> {
    match fs::metadata(path) {
        Ok(meta) if !meta.is_file() => {
            return Err(FsError {
                what: "cannot read",
                path: path.to_owned(),
                error: io::Error::other("it is not a regular file (a folder, a FIFO or a device)"),
            });
        }
        _ => {}
    }
    match fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| FsError {
            what: "cannot use",
            path: path.to_owned(),
            error: io::Error::new(
                io::ErrorKind::InvalidData,
                "the file is not UTF-8 text; save it as UTF-8 and run again",
            ),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(fs_err("cannot read", path)(e)),
    }
}

/// Replaces the file at `path` with `contents`, atomically.
pub fn replace(path: &Path, contents: &[u8]) -> Result<Written, FsError> {
    replace_if(path, contents, || true).map(|written| written.unwrap_or_default())
}

/// Like [`replace`], but only if `unchanged()` still holds once the new content is safely in
/// the temp file, just before the rename: a change another program makes meanwhile can then
/// only be lost in the instant between the check and the rename, never during the write and
/// fsync. `None` when the check failed (the file is left as it is).
pub fn replace_if(
    path: &Path,
    contents: &[u8],
    unchanged: impl FnOnce() -> bool,
) -> Result<Option<Written>, FsError> {
    let target = resolve_links(path)?;
    let (dir, name) = beside(&target);
    create_private_dir(&dir)?;
    let old_mode = match fs::metadata(&target) {
        Ok(meta) => Some(meta.permissions().mode() & 0o7777),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(fs_err("cannot inspect", &target)(e)),
    };
    let tmp = dir.join(format!(
        ".{name}.ssofresh-{}-{:08x}.tmp",
        std::process::id(),
        fastrand::u32(..)
    ));
    let result = write_then_rename(&tmp, &target, &dir, contents, unchanged);
    if !matches!(result, Ok(true)) {
        let _ = fs::remove_file(&tmp);
    }
    if !result? {
        return Ok(None);
    }
    Ok(Some(Written {
        target,
        tightened_from: old_mode.filter(|m| m & 0o077 != 0),
    }))
}

/// Writes and flushes the temp file, then renames it over `target` if `unchanged()` holds.
fn write_then_rename(
    tmp: &Path,
    target: &Path,
    dir: &Path,
    contents: &[u8],
    unchanged: impl FnOnce() -> bool,
) -> Result<bool, FsError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE)
        .open(tmp)
        .map_err(fs_err("cannot create", tmp))?;
    // The umask may have narrowed the mode further; make it exactly 0600.
    file.set_permissions(fs::Permissions::from_mode(PRIVATE))
        .map_err(fs_err("cannot set permissions on", tmp))?;
    file.write_all(contents)
        .map_err(fs_err("cannot write", tmp))?;
    file.sync_all().map_err(fs_err("cannot flush", tmp))?;
    drop(file);
    if !unchanged() {
        return Ok(false);
    }
    fs::rename(tmp, target).map_err(fs_err("cannot replace", target))?;
    // Make the rename itself durable.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(true)
}

/// Runs `f` while holding an exclusive lock shared by every ssofresh process that writes the
/// file at `path`, so two of them never interleave their read-edit-write cycles. The lock is
/// a small file `.NAME.ssofresh.lock` beside `path` as given (in `~/.aws`, not in the
/// dotfiles repository a symlink may point into). Other programs do not take it.
pub fn with_write_lock<T, E: From<FsError>>(
    path: &Path,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let (dir, name) = beside(path);
    create_private_dir(&dir)?;
    let lock_path = dir.join(format!(".{name}.ssofresh.lock"));
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(PRIVATE)
        .open(&lock_path)
        .map_err(fs_err("cannot open the lock file", &lock_path))?;
    lock.lock().map_err(fs_err("cannot lock", &lock_path))?;
    let result = f();
    let _ = lock.unlock();
    result
}

/// The lock a running daemon holds for the life of the process, one per credentials file.
/// Dropped at a clean stop, it removes its file (still holding the lock, so that no other
/// daemon can have taken it meanwhile); after a crash the file stays, unlocked.
#[derive(Debug)]
pub struct InstanceLock {
    _file: File,
    path: PathBuf,
}

impl Drop for InstanceLock {
    fn drop(&mut self) {
        // A daemon waiting on this file notices it is gone (see hold_instance_lock).
        let _ = fs::remove_file(&self.path);
    }
}

/// The instance lock file of the credentials file at `path`: `.NAME.ssofresh.pid` beside it.
pub fn instance_lock_path(path: &Path) -> PathBuf {
    let (dir, name) = beside(path);
    dir.join(format!(".{name}.ssofresh.pid"))
}

/// A daemon holding the instance lock of a credentials file, as another process sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// Its process id, as it wrote it in the lock file.
    pub pid: Option<u32>,
    /// When it took the lock (the lock file's modification time).
    pub since: Option<std::time::SystemTime>,
}

/// Whether a daemon holds the instance lock of the credentials file at `path`, without
/// creating anything. Takes the lock shared for an instant: a daemon starting in that instant
/// is refused and its service manager starts it again.
pub fn instance_holder(path: &Path) -> Result<Option<Holder>, FsError> {
    let lock_path = instance_lock_path(path);
    let file = match File::open(&lock_path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fs_err("cannot open", &lock_path)(e)),
    };
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            Ok(None)
        }
        Err(fs::TryLockError::WouldBlock) => Ok(Some(Holder {
            pid: fs::read_to_string(&lock_path)
                .ok()
                .and_then(|s| s.trim().parse().ok()),
            since: file.metadata().and_then(|m| m.modified()).ok(),
        })),
        Err(fs::TryLockError::Error(e)) => Err(fs_err("cannot lock", &lock_path)(e)),
    }
}

/// Another process holds the instance lock.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    #[error(
        "another ssofresh{} is already keeping {} fresh; stop it first \
         (systemctl --user stop ssofresh, or launchctl bootout)",
        pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
        path.display()
    )]
    AlreadyRunning { path: PathBuf, pid: Option<u32> },
    #[error(transparent)]
    Fs(#[from] FsError),
}

/// Takes the instance lock for the credentials file at `path`: a file `.NAME.ssofresh.pid`
/// beside it holding the daemon's process id, locked until the process ends (the kernel
/// drops the lock even after a crash, so a stale file never blocks a new daemon).
pub fn hold_instance_lock(path: &Path) -> Result<InstanceLock, InstanceError> {
    let (dir, _) = beside(path);
    create_private_dir(&dir)?;
    let lock_path = instance_lock_path(path);
    // A daemon stopping removes the file while holding its lock: the lock taken here may be
    // on a file just removed, so it counts only if the name still leads to the locked file.
    let mut file = loop {
        let file = lock_file(&lock_path, path)?;
        let same = |a: &fs::Metadata, b: &fs::Metadata| {
            use std::os::unix::fs::MetadataExt;
            a.dev() == b.dev() && a.ino() == b.ino()
        };
        match (file.metadata(), fs::metadata(&lock_path)) {
            (Ok(held), Ok(named)) if same(&held, &named) => break file,
            (Err(e), _) => return Err(fs_err("cannot inspect", &lock_path)(e).into()),
            _ => continue,
        }
    };
    file.set_len(0)
        .and_then(|()| file.write_all(format!("{}\n", std::process::id()).as_bytes()))
        .map_err(fs_err("cannot write", &lock_path))?;
    Ok(InstanceLock {
        _file: file,
        path: lock_path,
    })
}

/// Opens (creating it if need be) and locks the instance lock file `lock_path` of the
/// credentials file `path`.
fn lock_file(lock_path: &Path, path: &Path) -> Result<File, InstanceError> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(PRIVATE)
        .open(lock_path)
        .map_err(fs_err(
            "cannot create the lock file (ssofresh must be able to write in the credentials file's folder; check its owner and permissions)",
            lock_path,
        ))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            let pid = fs::read_to_string(lock_path)
                .ok()
                .and_then(|s| s.trim().parse().ok());
            return Err(InstanceError::AlreadyRunning {
                path: path.to_owned(),
                pid,
            });
        }
        Err(fs::TryLockError::Error(e)) => return Err(fs_err("cannot lock", lock_path)(e).into()),
    }
    Ok(file)
}

/// Refuses a path that exists but is not a regular file (after symlinks): a FIFO would block
/// the read, and replacing a device such as `/dev/null` would be wrong.
pub fn ensure_regular(path: &Path) -> Result<(), FsError> {
    let target = resolve_links(path)?;
    match fs::metadata(&target) {
        Ok(meta) if !meta.is_file() => Err(FsError {
            what: "refusing to replace",
            path: target,
            error: io::Error::other("it is not a regular file"),
        }),
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(fs_err("cannot inspect", &target)(e)),
    }
}

/// The folder of `path` (`.` for a bare name) and the file's name.
fn beside(path: &Path) -> (PathBuf, String) {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (dir, name)
}

/// Makes an existing file private (0600) when others can read it; returns the old mode then.
/// The file's content is not touched.
pub fn make_private(path: &Path) -> Result<Option<u32>, FsError> {
    let target = resolve_links(path)?;
    let mode = fs::metadata(&target)
        .map_err(fs_err("cannot inspect", &target))?
        .permissions()
        .mode()
        & 0o7777;
    if mode & 0o077 == 0 {
        return Ok(None);
    }
    fs::set_permissions(&target, fs::Permissions::from_mode(PRIVATE))
        .map_err(fs_err("cannot set permissions on", &target))?;
    Ok(Some(mode))
}

/// Follows symlinks (a chain of them, relative or absolute) to the file they point at, which
/// need not exist yet.
fn resolve_links(path: &Path) -> Result<PathBuf, FsError> {
    let mut current = path.to_owned();
    for _ in 0..40 {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = fs::read_link(&current).map_err(fs_err("cannot read link", &current))?;
                current = match current.parent() {
                    Some(parent) if link.is_relative() => parent.join(link),
                    _ => link,
                };
            }
            Ok(_) => return Ok(current),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(fs_err("cannot inspect", &current)(e)),
        }
    }
    Err(FsError {
        what: "too many levels of symbolic links at",
        path: path.to_owned(),
        error: io::Error::other("symlink loop"),
    })
}

/// Creates `dir` and any missing parents with mode 0700; existing folders are left as they are.
pub fn create_private_dir(dir: &Path) -> Result<(), FsError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(fs_err("cannot create folder", dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("metadata").permissions().mode() & 0o7777
    }

    /// Regression (review 4): when the check made after the temp file is flushed fails (another
    /// program wrote the file meanwhile), nothing is replaced and no temp file is left; when it
    /// holds, the file is replaced.
    #[test]
    fn replace_if_checks_just_before_the_rename() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token.json");
        fs::write(&path, "old").expect("write");
        let written = replace_if(&path, b"ours", || {
            // The user's `aws sso login` lands while ssofresh's temp file is flushed.
            fs::write(&path, "their login").expect("write");
            fs::read(&path).is_ok_and(|now| now == b"old")
        })
        .expect("no I/O error");
        assert!(written.is_none());
        assert_eq!(fs::read_to_string(&path).expect("read"), "their login");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["token.json"], "no temp file left");
        let written = replace_if(&path, b"ours", || true).expect("no I/O error");
        assert!(written.is_some());
        assert_eq!(fs::read_to_string(&path).expect("read"), "ours");
    }

    /// A new file, in a new folder, is 0600 in a 0700 folder.
    #[test]
    fn creates_private() {
        let home = tempfile::tempdir().expect("tempdir");
        let path = home.path().join(".aws/credentials");
        let w = replace(&path, b"[a]\n").expect("write");
        assert_eq!(fs::read_to_string(&path).expect("read"), "[a]\n");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&home.path().join(".aws")), 0o700);
        assert_eq!(w.tightened_from, None);
    }

    /// A world-readable file is tightened to 0600, and the old mode is reported.
    #[test]
    fn tightens_loose_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("credentials");
        fs::write(&path, "old").expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        let w = replace(&path, b"new").expect("replace");
        assert_eq!(w.tightened_from, Some(0o644));
        assert_eq!(mode(&path), 0o600);
        assert_eq!(
            fs::read_dir(dir.path()).expect("ls").count(),
            1,
            "no temp file left"
        );
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).expect("chmod");
        assert_eq!(make_private(&path).expect("chmod"), Some(0o640));
        assert_eq!(make_private(&path).expect("chmod"), None);
        assert_eq!(fs::read_to_string(&path).expect("read"), "new");
    }

    /// A symlinked file is written through to its target and stays a link (chains too).
    #[test]
    fn follows_symlinks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dotfiles = dir.path().join("dotfiles");
        fs::create_dir(&dotfiles).expect("mkdir");
        fs::write(dotfiles.join("creds"), "old").expect("write");
        let aws = dir.path().join(".aws");
        fs::create_dir(&aws).expect("mkdir");
        symlink("../dotfiles/creds", aws.join("middle")).expect("link");
        symlink("middle", aws.join("credentials")).expect("link");
        let w = replace(&aws.join("credentials"), b"new").expect("replace");
        assert_eq!(w.target, aws.join("../dotfiles/creds"));
        assert!(
            fs::symlink_metadata(aws.join("credentials"))
                .expect("meta")
                .file_type()
                .is_symlink()
        );
        assert_eq!(
            fs::read_to_string(dotfiles.join("creds")).expect("read"),
            "new"
        );
    }

    /// Writers holding the lock never interleave: 8 threads each add 1 to a counter file
    /// 25 times with a read-modify-replace cycle, and no increment is lost.
    #[test]
    fn write_lock_excludes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("counter");
        replace(&path, b"0").expect("init");
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        with_write_lock(&path, || -> Result<(), FsError> {
                            let n: u32 = read_text(&path)?
                                .unwrap_or_default()
                                .parse()
                                .expect("number");
                            std::thread::yield_now();
                            replace(&path, (n + 1).to_string().as_bytes())?;
                            Ok(())
                        })
                        .expect("locked cycle");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread");
        }
        assert_eq!(read_text(&path).expect("read"), Some("200".to_owned()));
    }

    /// A link loop is an error naming the path, not a hang.
    #[test]
    fn symlink_loop() {
        let dir = tempfile::tempdir().expect("tempdir");
        symlink("b", dir.path().join("a")).expect("link");
        symlink("a", dir.path().join("b")).expect("link");
        let err = replace(&dir.path().join("a"), b"x").expect_err("loop");
        assert!(err.to_string().contains("symbolic links"), "{err}");
    }

    /// Non-UTF-8 files are refused, not mangled.
    #[test]
    fn refuses_binary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("credentials");
        fs::write(&path, b"[a]\n\xff\n").expect("write");
        assert!(read_text(&path).is_err());
        assert_eq!(
            read_text(&dir.path().join("none")).expect("missing is fine"),
            None
        );
    }

    /// The instance lock is seen from outside with its pid while held; a clean stop removes
    /// its file, and a new daemon takes a fresh one.
    #[test]
    fn instance_lock_seen_and_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let creds = dir.path().join("credentials");
        assert_eq!(instance_holder(&creds).expect("no file"), None);
        let lock = hold_instance_lock(&creds).expect("lock");
        let holder = instance_holder(&creds).expect("inspect").expect("held");
        assert_eq!(holder.pid, Some(std::process::id()));
        assert!(holder.since.is_some());
        assert!(matches!(
            hold_instance_lock(&creds),
            Err(InstanceError::AlreadyRunning { .. })
        ));
        drop(lock);
        assert!(
            !instance_lock_path(&creds).exists(),
            "removed at a clean stop"
        );
        assert_eq!(instance_holder(&creds).expect("inspect"), None);
        drop(hold_instance_lock(&creds).expect("a new daemon"));
    }
}

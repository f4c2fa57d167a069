//! The one place that writes user files: a temp file in the same folder (see
//! [`crate::files::scratch`]: unnamed on Linux, so a crash cannot strand it), fsync, then a
//! rename, checked against what was read so that another program's write is not undone.
//!
//! [`replace`] follows a symlinked file to its target (dotfile managers link `~/.aws/credentials`
//! into a repository), so the link stays a link. The result is always private (0600); when the
//! file was looser before, the caller is told so it can say so. A folder that has to be created
//! is created 0700. A crash at any point leaves either the old file or the new one, never a
//! mix. [`replace_if_still`] renames only over the very content that was read: the check runs
//! after the fsync, right before the rename, and on Linux and macOS the rename is an exchange
//! (`renameat2(RENAME_EXCHANGE)`, `renamex_np(RENAME_SWAP)`) whose replaced file is verified,
//! and watched a moment for late appends, and swapped back if another program wrote it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::files::scratch::{self, Scratch};

/// The mode every file ssofresh writes ends up with.
pub const PRIVATE: u32 = 0o600;

/// How long the file an exchange replaced is watched for another program's late write (one
/// that opened it before the exchange), by [`replace_if_still`].
pub const LATE_WRITES: Duration = Duration::from_millis(3);

/// The same watch when another program is known to be at work on the file: long enough for
/// a program descheduled between its `open` and its `write` on a loaded machine.
pub const LATE_WRITES_BUSY: Duration = Duration::from_millis(15);

/// The same watch when another program was seen appending to the file: appenders open it
/// afresh for each write, and one descheduled on a loaded machine writes late.
pub const LATE_WRITES_APPEND: Duration = Duration::from_millis(60);

/// A file-system operation that failed, with the path it concerns.
#[derive(Debug, thiserror::Error)]
#[error(
    "{what} {}: {error}{}",
    path.display(),
    if *left_unchanged { "; it was left unchanged" } else { "" }
)]
pub struct FsError {
    /// What was being done, e.g. "cannot write".
    pub what: &'static str,
    /// The path concerned.
    pub path: PathBuf,
    /// The underlying error.
    pub error: io::Error,
    /// A write failed and the file is as it was.
    pub left_unchanged: bool,
}

impl FsError {
    /// An error about `path`.
    pub fn new(what: &'static str, path: &Path, error: io::Error) -> FsError {
        FsError {
            what,
            path: path.to_owned(),
            error,
            left_unchanged: false,
        }
    }

    /// A failed write of `path`, which is as it was.
    pub fn unchanged(what: &'static str, path: &Path, error: io::Error) -> FsError {
        FsError {
            left_unchanged: true,
            ..FsError::new(what, path, error)
        }
    }
}

fn fs_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> FsError {
    let path = path.to_owned();
    move |error| FsError::new(what, &path, error)
}

/// A failed write of `target`, named as the file the user knows (never the temp file).
fn write_err(target: &Path) -> impl FnOnce(io::Error) -> FsError {
    let path = target.to_owned();
    move |error| FsError::unchanged("cannot write", &path, error)
}

/// What [`replace`] did beyond writing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Written {
    /// The file actually written (the symlink's target when `path` is a link).
    pub target: PathBuf,
    /// The old mode, when it was looser than 0600 and has been tightened.
    pub tightened_from: Option<u32>,
}

/// What [`replace_if_still`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replaced {
    /// The new content is in place.
    Written(Written),
    /// Another program changed the file since it was read: nothing was written; read it
    /// again and redo the edit.
    Changed,
}

/// Reads a text file; a missing file reads as empty. Anything but a regular file (after
/// symlinks) is refused: reading a FIFO would block until someone writes to it.
pub fn read_text(path: &Path) -> Result<Option<String>, FsError> {
    match fs::metadata(path) {
        Ok(meta) if !meta.is_file() => {
            return Err(FsError::new(
                "cannot read",
                path,
                io::Error::other("it is not a regular file (a folder, a FIFO or a device)"),
            ));
        }
        _ => {}
    }
    match fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| {
            FsError::new(
                "cannot use",
                path,
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the file is not UTF-8 text; save it as UTF-8 and run again",
                ),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(fs_err("cannot read", path)(e)),
    }
}

/// Replaces the file at `path` with `contents`, atomically, whatever it holds now.
pub fn replace(path: &Path, contents: &[u8]) -> Result<Written, FsError> {
    let (target, old_mode, mut scratch) = prepare(path, contents)?;
    let tmp = scratch.name().map_err(write_err(&target))?;
    fs::rename(&tmp, &target).map_err(write_err(&target))?;
    scratch.consumed();
    Ok(finish(target, old_mode))
}

/// Replaces the file at `path` with `contents` only if it still holds `expected` (`None`: only
/// if it does not exist), checked once the new content is flushed, right before the rename.
/// Where the platform can exchange two names atomically, the rename is an exchange: the file
/// replaced is compared with `expected` and watched for [`LATE_WRITES`]; if another program
/// wrote it, the exchange is undone. [`Replaced::Changed`] then, and nothing is left behind.
pub fn replace_if_still(
    path: &Path,
    contents: &[u8],
    expected: Option<&[u8]>,
) -> Result<Replaced, FsError> {
    replace_watching(path, contents, expected, LATE_WRITES)
}

/// [`replace_if_still`], watching the replaced file for `late` (e.g. [`LATE_WRITES_BUSY`]).
pub fn replace_watching(
    path: &Path,
    contents: &[u8],
    expected: Option<&[u8]>,
    late: Duration,
) -> Result<Replaced, FsError> {
    let (target, old_mode, mut scratch) = prepare(path, contents)?;
    let holds_expected = |p: &Path| match fs::read(p) {
        Ok(now) => Some(now.as_slice()) == expected,
        Err(e) if e.kind() == io::ErrorKind::NotFound => expected.is_none(),
        Err(_) => false,
    };
    if !holds_expected(&target) {
        return Ok(Replaced::Changed);
    }
    let tmp = scratch.name().map_err(write_err(&target))?;
    match swap_in(&tmp, &target, expected.is_some()) {
        Swap::Exchanged => {
            // `tmp` now names the file that was replaced: is it what was read, and does it
            // stay so while a program that opened it before could still write to it?
            let mut undone = !holds_expected(&tmp);
            if !undone {
                std::thread::sleep(late);
                undone = !holds_expected(&tmp);
            }
            if undone {
                undo_exchange(&tmp, &target, contents, scratch);
                return Ok(Replaced::Changed);
            }
            // `tmp` names the old file, secrets and all: remove it now, so that finish()'s
            // folder fsync makes its removal durable too.
            drop(scratch);
        }
        Swap::Moved => scratch.consumed(),
        Swap::Refused => return Ok(Replaced::Changed),
        Swap::Unsupported => {
            fs::rename(&tmp, &target).map_err(write_err(&target))?;
            scratch.consumed();
        }
        Swap::Failed(e) => return Err(write_err(&target)(e)),
    }
    Ok(Replaced::Written(finish(target, old_mode)))
}

/// Puts the other program's file, at `tmp` after the exchange, back at `target`, and removes
/// ours. When a program renamed a newer file over ours meanwhile, or swapping back fails,
/// `tmp` holds another program's file: it is never removed, but moved back to `target` if
/// that is gone, else kept where it is with a warning (naming the files, never the contents).
fn undo_exchange(tmp: &Path, target: &Path, contents: &[u8], mut scratch: Scratch) {
    let ours = |p: &Path| fs::read(p).is_ok_and(|now| now == contents);
    if ours(target) {
        swap_in(tmp, target, true);
    }
    if ours(tmp) {
        return; // Dropping the scratch removes it.
    }
    scratch.keep();
    if !matches!(swap_in(tmp, target, false), Swap::Moved) {
        tracing::warn!(
            "another program wrote {} while ssofresh replaced it; the copy it had written \
             before is kept at {}: compare the two and remove it",
            target.display(),
            tmp.display()
        );
    }
}

/// How an exchange went.
enum Swap {
    /// The two names were exchanged.
    Exchanged,
    /// The target was missing and the temp file took its name.
    Moved,
    /// The target appeared since it was read as missing.
    Refused,
    /// The platform or file system cannot exchange: a plain rename must do.
    Unsupported,
    /// Any other error.
    Failed(io::Error),
}

/// Exchanges `tmp` and `target` (`exists`), or moves `tmp` to a still missing `target`.
#[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
fn swap_in(tmp: &Path, target: &Path, exists: bool) -> Swap {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    use rustix::io::Errno;
    let flags = if exists {
        RenameFlags::EXCHANGE
    } else {
        RenameFlags::NOREPLACE
    };
    match renameat_with(CWD, tmp, CWD, target, flags) {
        Ok(()) if exists => Swap::Exchanged,
        Ok(()) => Swap::Moved,
        Err(Errno::EXIST) => Swap::Refused,
        Err(Errno::NOENT) if exists => Swap::Refused,
        Err(Errno::INVAL | Errno::NOSYS | Errno::NOTSUP) => Swap::Unsupported,
        Err(e) => Swap::Failed(e.into()),
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
fn swap_in(_tmp: &Path, _target: &Path, _exists: bool) -> Swap {
    Swap::Unsupported
}
/// Removes the temp files that ssofresh processes no longer running left beside the file at
/// `path` and beside its symlink's target; returns how many.
pub fn sweep_beside(path: &Path) -> usize {
    let (dir, _) = beside(path);
    let mut removed = scratch::sweep(&dir);
    if let Ok(target) = resolve_links(path) {
        let (target_dir, _) = beside(&target);
        if target_dir != dir {
            removed += scratch::sweep(&target_dir);
        }
    }
    removed
}

/// The first steps of every write: links followed, folder made, stale temp files of dead
/// ssofresh processes removed, the new content written and flushed to a temp file.
fn prepare(path: &Path, contents: &[u8]) -> Result<(PathBuf, Option<u32>, Scratch), FsError> {
    let target = resolve_links(path)?;
    let (dir, name) = beside(&target);
    create_private_dir(&dir)?;
    scratch::sweep(&dir);
    let old_mode = match fs::metadata(&target) {
        Ok(meta) if meta.uid() != rustix::process::geteuid().as_raw() => {
            // Replacing it would hand another user's file (e.g. root's after `sudo aws
            // configure`) to this one: refuse, and say how to give it back.
            return Err(write_err(&target)(io::Error::other(format!(
                "it belongs to another user (uid {}); give it back with `sudo chown {}: {}`",
                meta.uid(),
                rustix::process::geteuid().as_raw(),
                target.display()
            ))));
        }
        Ok(meta) => Some(meta.permissions().mode() & 0o7777),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(fs_err("cannot inspect", &target)(e)),
    };
    let mut scratch = Scratch::create(&dir, &name).map_err(|e| {
        write_err(&target)(io::Error::new(
            e.kind(),
            format!("{e} (creating a temporary file in its folder)"),
        ))
    })?;
    scratch.fill(contents).map_err(write_err(&target))?;
    Ok((target, old_mode, scratch))
}

/// What a write did, once the new content is in place and the rename durable.
fn finish(target: PathBuf, old_mode: Option<u32>) -> Written {
    if let Some(dir) = target.parent() {
        sync_dir(dir);
    }
    Written {
        target,
        tightened_from: old_mode.filter(|m| m & 0o077 != 0),
    }
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// How long a write waits for another ssofresh process's (itself bounded by its own
/// patience, a few seconds): past this the other one is stuck, and the write fails with a
/// message (the daemon tries again later) rather than hang.
pub const WRITE_LOCK_PATIENCE: Duration = Duration::from_secs(15);

/// Runs `f` while holding an exclusive lock shared by every ssofresh process that writes the
/// file at `path`, so two of them never interleave their read-edit-write cycles. The lock is
/// a small file `.NAME.ssofresh.lock` beside `path` as given (in `~/.aws`, not in the
/// dotfiles repository a symlink may point into). Other programs do not take it.
pub fn with_write_lock<T, E: From<FsError>>(
    path: &Path,
    f: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    with_write_lock_within(path, WRITE_LOCK_PATIENCE, f)
}

/// [`with_write_lock`], waiting at most `patience` for the lock.
fn with_write_lock_within<T, E: From<FsError>>(
    path: &Path,
    patience: Duration,
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
        .map_err(|e| {
            write_err(path)(io::Error::new(
                e.kind(),
                format!("{e} (creating its lock file {})", lock_path.display()),
            ))
        })?;
    let start = std::time::Instant::now();
    loop {
        match lock.try_lock() {
            Ok(()) => break,
            Err(fs::TryLockError::WouldBlock) if start.elapsed() < patience => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(write_err(path)(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "another ssofresh process has held its lock {} for {:.0} s; if one is \
                         stuck, stop it",
                        lock_path.display(),
                        patience.as_secs_f32()
                    ),
                ))
                .into());
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(fs_err("cannot lock", &lock_path)(e).into());
            }
        }
    }
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
/// waits for it (see `lock_file`).
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
        let same = |a: &fs::Metadata, b: &fs::Metadata| a.dev() == b.dev() && a.ino() == b.ino();
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
    // `status` takes the lock shared for an instant: a start in that instant waits it out
    // (a running daemon holds it for good, so a quarter of a second changes nothing there).
    let mut attempt = 0;
    let mut locked = file.try_lock();
    while matches!(locked, Err(fs::TryLockError::WouldBlock)) && attempt < 10 {
        attempt += 1;
        std::thread::sleep(std::time::Duration::from_millis(25));
        locked = file.try_lock();
    }
    match locked {
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
        Ok(meta) if !meta.is_file() => Err(FsError::new(
            "refusing to replace",
            &target,
            io::Error::other("it is not a regular file"),
        )),
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
    Err(FsError::new(
        "too many levels of symbolic links at",
        path,
        io::Error::other("symlink loop"),
    ))
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

    /// A write lock another ssofresh process holds and never lets go of fails the write after
    /// the patience, with a message naming the file and the lock, instead of hanging.
    #[test]
    fn a_stuck_lock_holder_fails_the_write_after_the_patience() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("credentials");
        let lock_path = dir.path().join(".credentials.ssofresh.lock");
        let holder = File::create(&lock_path).expect("lock file");
        holder.lock().expect("lock");
        let result: Result<(), FsError> =
            with_write_lock_within(&path, Duration::from_millis(200), || Ok(()));
        let message = result.expect_err("the lock is held").to_string();
        assert!(
            message.contains(&path.display().to_string())
                && message.contains("another ssofresh process has held its lock"),
            "{message}"
        );
        holder.unlock().expect("unlock");
        with_write_lock_within(&path, Duration::from_millis(200), || Ok::<_, FsError>(()))
            .expect("free again");
    }

    /// Undoing an exchange removes only ssofresh's own file: with ours at the target it swaps
    /// back and removes ours; with a newer file renamed over ours, the other program's copy
    /// at the temp name is kept; with the target gone, that copy is put back.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn undo_exchange_keeps_other_programs_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let target = dir.path().join("credentials");
        let setup = |at_target: Option<&str>| {
            let mut scratch = Scratch::create(dir.path(), "credentials").expect("create");
            scratch.fill(b"other").expect("fill");
            let tmp = scratch.name().expect("name");
            match at_target {
                Some(text) => fs::write(&target, text).expect("write"),
                None => {
                    let _ = fs::remove_file(&target);
                }
            }
            (scratch, tmp)
        };
        let names = || {
            let mut n: Vec<String> = fs::read_dir(dir.path())
                .expect("ls")
                .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect();
            n.sort();
            n
        };
        // Ours at the target: swapped back, ours removed, theirs in place.
        let (scratch, tmp) = setup(Some("ours"));
        undo_exchange(&tmp, &target, b"ours", scratch);
        assert_eq!(fs::read(&target).expect("read"), b"other");
        assert_eq!(names(), ["credentials"]);
        // A newer file renamed over ours: the older copy is kept, not removed.
        let (scratch, tmp) = setup(Some("newer"));
        undo_exchange(&tmp, &target, b"ours", scratch);
        assert_eq!(fs::read(&target).expect("read"), b"newer");
        assert_eq!(fs::read(&tmp).expect("kept"), b"other");
        fs::remove_file(&tmp).expect("rm");
        // The target gone: the copy is put back.
        let (scratch, tmp) = setup(None);
        undo_exchange(&tmp, &target, b"ours", scratch);
        assert_eq!(fs::read(&target).expect("read"), b"other");
        assert_eq!(names(), ["credentials"]);
    }
    use std::os::unix::fs::symlink;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("metadata").permissions().mode() & 0o7777
    }

    fn names(dir: &Path) -> Vec<std::ffi::OsString> {
        let mut names: Vec<_> = fs::read_dir(dir)
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        names.sort();
        names
    }

    /// Regression (review 4): a file another program changed since it was read is not
    /// replaced, and no temp file is left; one that still holds what was read is replaced; a
    /// file read as missing is not created over one that appeared meanwhile.
    #[test]
    fn replace_if_still_checks_what_was_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("token.json");
        fs::write(&path, "their login").expect("write");
        let r = replace_if_still(&path, b"ours", Some(b"old")).expect("no I/O error");
        assert_eq!(r, Replaced::Changed);
        assert_eq!(fs::read_to_string(&path).expect("read"), "their login");
        assert_eq!(names(dir.path()), ["token.json"], "no temp file left");
        let r = replace_if_still(&path, b"ours", Some(b"their login")).expect("no I/O error");
        assert!(matches!(r, Replaced::Written(_)), "{r:?}");
        assert_eq!(fs::read_to_string(&path).expect("read"), "ours");
        assert_eq!(
            names(dir.path()),
            ["token.json"],
            "the replaced file is gone"
        );
        let r = replace_if_still(&path, b"mine", None).expect("no I/O error");
        assert_eq!(r, Replaced::Changed);
        let fresh = dir.path().join("fresh");
        let r = replace_if_still(&fresh, b"mine", None).expect("no I/O error");
        assert!(matches!(r, Replaced::Written(_)), "{r:?}");
        assert_eq!(fs::read_to_string(&fresh).expect("read"), "mine");
    }

    /// A program that appends to the file just after the exchange (it opened the file before)
    /// gets its write back: the exchange is undone and the caller told to redo its edit.
    #[test]
    fn late_append_undoes_the_exchange() {
        use std::io::Write as _;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("credentials");
        fs::write(&path, "[a]\n").expect("write");
        let mut theirs = OpenOptions::new().append(true).open(&path).expect("open");
        let watched = path.clone();
        let appender = std::thread::spawn(move || {
            // Append the moment the exchange has put the new file in place.
            while fs::read(&watched).is_ok_and(|now| now == b"[a]\n") {
                std::hint::spin_loop();
            }
            theirs.write_all(b"[b]\n").expect("append");
        });
        let late = Duration::from_millis(500);
        let r = replace_watching(&path, b"[ours]\n", Some(b"[a]\n"), late).expect("no I/O error");
        appender.join().expect("appender");
        assert_eq!(r, Replaced::Changed);
        assert_eq!(fs::read_to_string(&path).expect("read"), "[a]\n[b]\n");
        assert_eq!(names(dir.path()), ["credentials"], "no temp file left");
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
        assert_eq!(names(dir.path()), ["credentials"], "no temp file left");
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

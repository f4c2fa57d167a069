//! The temporary files the writer fills before a rename, made so that a crash cannot strand a
//! copy of a secret: on Linux an unnamed `O_TMPFILE` in the target's folder, given a name only
//! just before the rename; elsewhere, or where the file system refuses `O_TMPFILE`, a named
//! file `.NAME.ssofresh-PID-XXXXXXXX.tmp`. [`sweep`] removes such named files left by ssofresh
//! processes that are no longer running, or older than 10 minutes (ours alone: by that pattern).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The mode of every temp file (and so of every file ssofresh writes).
const PRIVATE: u32 = 0o600;

/// A temp file beside a target, holding the new content. Dropped before it is consumed, it
/// leaves nothing behind (an unnamed file vanishes with its descriptor; a named one is removed).
#[derive(Debug)]
pub struct Scratch {
    file: File,
    /// The name in `dir`, once it has one.
    name: Option<PathBuf>,
    /// The name it gets when it is named: `.TARGET.ssofresh-PID-XXXXXXXX.tmp`.
    planned: PathBuf,
}

impl Scratch {
    /// A new, empty, private (0600) temp file in `dir` for the file named `target_name`.
    pub fn create(dir: &Path, target_name: &str) -> io::Result<Scratch> {
        let planned = dir.join(format!(
            ".{target_name}.ssofresh-{}-{:08x}.tmp",
            std::process::id(),
            fastrand::u32(..)
        ));
        if let Some(file) = unnamed(dir) {
            return Ok(Scratch {
                file,
                name: None,
                planned,
            });
        }
        Ok(Scratch {
            file: new_named(&planned)?,
            name: Some(planned.clone()),
            planned,
        })
    }

    /// True while the file has no name (an `O_TMPFILE`).
    pub fn is_unnamed(&self) -> bool {
        self.name.is_none()
    }

    fn private(&mut self) -> io::Result<()> {
        self.file
            .set_permissions(fs::Permissions::from_mode(PRIVATE))
    }

    /// Writes `contents` and flushes them to the disk.
    pub fn fill(&mut self, contents: &[u8]) -> io::Result<()> {
        self.private()?;
        self.file.write_all(contents)?;
        self.file.sync_all()
    }

    /// Gives the file its name (an unnamed file is linked in; a named one already has it) and
    /// returns it. Called just before the rename, so a crash can strand a named copy only in
    /// the instant between the two.
    pub fn name(&mut self) -> io::Result<PathBuf> {
        if let Some(name) = &self.name {
            return Ok(name.clone());
        }
        if link_in(&self.file, &self.planned).is_err() {
            // No /proc and no CAP_DAC_READ_SEARCH: copy the contents into a named file.
            self.file = self.named_copy()?;
        }
        self.name = Some(self.planned.clone());
        Ok(self.planned.clone())
    }

    /// A named private file at the planned name holding this file's contents, flushed.
    fn named_copy(&mut self) -> io::Result<File> {
        use std::io::{Seek, SeekFrom};
        let mut named = new_named(&self.planned)?;
        let copied = (|| {
            self.file.seek(SeekFrom::Start(0))?;
            io::copy(&mut self.file, &mut named)?;
            named.sync_all()
        })();
        if let Err(e) = copied {
            let _ = fs::remove_file(&self.planned);
            return Err(e);
        }
        Ok(named)
    }

    /// The file was renamed away (it is the target now): nothing to remove on drop.
    pub fn consumed(mut self) {
        self.name = None;
    }

    /// Its name now holds a file that is not ours (another program's): never remove it.
    pub fn keep(&mut self) {
        self.name = None;
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(name) = self.name.take() {
            let _ = fs::remove_file(name);
        }
    }
}

/// A new named file at `path`, exactly 0600 whatever the umask, open for reading and writing.
fn new_named(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(PRIVATE)
        .open(path)?;
    if let Err(e) = file.set_permissions(fs::Permissions::from_mode(PRIVATE)) {
        let _ = fs::remove_file(path);
        return Err(e);
    }
    Ok(file)
}

/// An unnamed `O_TMPFILE` in `dir`, where the kernel and file system allow it.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn unnamed(dir: &Path) -> Option<File> {
    use rustix::fs::{CWD, Mode, OFlags, openat};
    let fd = openat(
        CWD,
        dir,
        OFlags::TMPFILE | OFlags::RDWR | OFlags::CLOEXEC,
        Mode::from_raw_mode(PRIVATE),
    )
    .ok()?;
    Some(File::from(fd))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn unnamed(_dir: &Path) -> Option<File> {
    None
}

/// Links an unnamed file in at `path`: through `/proc/self/fd` (which needs no privilege),
/// else with `AT_EMPTY_PATH` (which needs `CAP_DAC_READ_SEARCH`).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn link_in(file: &File, path: &Path) -> io::Result<()> {
    use rustix::fs::{AtFlags, CWD, linkat};
    use std::os::fd::AsRawFd;
    let proc_path = format!("/proc/self/fd/{}", file.as_raw_fd());
    linkat(CWD, proc_path.as_str(), CWD, path, AtFlags::SYMLINK_FOLLOW)
        .or_else(|_| linkat(file, "", CWD, path, AtFlags::EMPTY_PATH))
        .map_err(io::Error::from)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn link_in(_file: &File, _path: &Path) -> io::Result<()> {
    Err(io::Error::other("unnamed temp files are Linux only"))
}

/// The pid in a name of the form `.NAME.ssofresh-PID-XXXXXXXX.tmp`, if it is one.
pub fn temp_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (_, tail) = rest.rsplit_once(".ssofresh-")?;
    let (pid, hex) = tail.split_once('-')?;
    let digits = |s: &str, hex: bool| {
        !s.is_empty()
            && s.bytes().all(|b| {
                if hex {
                    b.is_ascii_hexdigit()
                } else {
                    b.is_ascii_digit()
                }
            })
    };
    if hex.len() != 8 || !digits(hex, true) || !digits(pid, false) {
        return None;
    }
    pid.parse().ok()
}

/// Whether process `pid` is still running (a process of another user counts as running).
fn alive(pid: u32) -> bool {
    let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    !matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

/// A temp file older than this is stranded whatever its pid says: no write takes this long,
/// and the pid may have been reused or belong to another pid namespace.
pub const STALE_AFTER: Duration = Duration::from_secs(600);

/// Removes the temp files in `dir` that ssofresh processes left behind (named
/// `.NAME.ssofresh-PID-XXXXXXXX.tmp`): those whose PID is not this process and not alive, and
/// those older than [`STALE_AFTER`] whatever their PID. Returns how many it removed. A missing or unreadable folder has none.
pub fn sweep(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let me = std::process::id();
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(temp_owner) else {
            continue;
        };
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > STALE_AFTER));
        if !is_file || (!stale && (pid == me || alive(pid))) {
            continue;
        }
        if fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pattern is ssofresh's alone: only `.NAME.ssofresh-PID-8HEX.tmp` names a pid.
    #[test]
    fn temp_names() {
        assert_eq!(
            temp_owner(".credentials.ssofresh-1234-0badcafe.tmp"),
            Some(1234)
        );
        assert_eq!(temp_owner(".a.b.ssofresh-7-00000000.tmp"), Some(7));
        for other in [
            "credentials",
            ".credentials.ssofresh.lock",
            ".credentials.ssofresh-1234-0badcafe.tmp~",
            ".credentials.ssofresh-12x4-0badcafe.tmp",
            ".credentials.ssofresh-1234-badcafe.tmp",
            ".credentials.ssofresh--0badcafe.tmp",
            "credentials.ssofresh-1234-0badcafe.tmp",
            ".credentials.tmp",
        ] {
            assert_eq!(temp_owner(other), None, "{other}");
        }
    }

    /// A sweep removes temp files of dead processes and nothing else: not those of a live
    /// process (this one, and pid 1), not the user's files that merely look alike.
    #[test]
    fn sweep_removes_only_dead_ones() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A pid that is surely not running: a child that has been reaped.
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let dead = child.id();
        child.wait().expect("wait");
        let keep = [
            format!(".credentials.ssofresh-{}-00000001.tmp", std::process::id()),
            ".credentials.ssofresh-1-00000002.tmp".to_owned(),
            "credentials".to_owned(),
            format!(".credentials.ssofresh-{dead}-0000000.tmp"),
        ];
        let gone = format!(".credentials.ssofresh-{dead}-0000000a.tmp");
        for name in keep.iter().chain([&gone]) {
            fs::write(dir.path().join(name), "secret").expect("write");
        }
        assert_eq!(sweep(dir.path()), 1);
        for name in &keep {
            assert!(dir.path().join(name).exists(), "{name} kept");
        }
        assert!(!dir.path().join(&gone).exists());
    }

    /// A temp file of a live pid is kept while young, removed once older than STALE_AFTER
    /// (the pid was reused, or lives in another pid namespace).
    #[test]
    fn sweep_removes_old_ones_of_live_pids() {
        let dir = tempfile::tempdir().expect("tempdir");
        let young = dir.path().join(".credentials.ssofresh-1-0000000b.tmp");
        let old = dir.path().join(".credentials.ssofresh-1-0000000c.tmp");
        for p in [&young, &old] {
            fs::write(p, "secret").expect("write");
        }
        let then = std::time::SystemTime::now() - STALE_AFTER - Duration::from_secs(1);
        File::options()
            .write(true)
            .open(&old)
            .and_then(|f| f.set_modified(then))
            .expect("set mtime");
        assert_eq!(sweep(dir.path()), 1);
        assert!(young.exists() && !old.exists());
    }

    /// When linking the unnamed file in fails (no /proc, no CAP_DAC_READ_SEARCH), its
    /// contents go to a named file instead: the same bytes, 0600, removed on drop.
    #[cfg(target_os = "linux")]
    #[test]
    fn named_copy_when_link_fails() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Scratch::create(dir.path(), "credentials").expect("create");
        assert!(s.is_unnamed());
        s.fill(b"secret").expect("fill");
        s.file = s.named_copy().expect("copy");
        s.name = Some(s.planned.clone());
        assert_eq!(fs::read(&s.planned).expect("read"), b"secret");
        let mode = fs::metadata(&s.planned).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        drop(s);
        assert_eq!(fs::read_dir(dir.path()).expect("ls").count(), 0);
    }

    /// A scratch file dropped unconsumed leaves nothing, named or not; one named and consumed
    /// stays where it was renamed to.
    #[test]
    fn scratch_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let count = || fs::read_dir(dir.path()).expect("ls").count();
        let mut s = Scratch::create(dir.path(), "credentials").expect("create");
        s.fill(b"secret").expect("fill");
        drop(s);
        assert_eq!(count(), 0);
        let mut s = Scratch::create(dir.path(), "credentials").expect("create");
        s.fill(b"secret").expect("fill");
        let name = s.name().expect("name");
        assert_eq!(count(), 1);
        let mode = fs::metadata(&name).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        drop(s);
        assert_eq!(count(), 0);
        let mut s = Scratch::create(dir.path(), "credentials").expect("create");
        s.fill(b"secret").expect("fill");
        let name = s.name().expect("name");
        fs::rename(&name, dir.path().join("credentials")).expect("rename");
        s.consumed();
        assert_eq!(count(), 1);
        assert_eq!(
            fs::read(dir.path().join("credentials")).expect("read"),
            b"secret"
        );
    }

    /// On Linux the temp file has no name while it is written (where the file system allows
    /// `O_TMPFILE`; tmpfs and ext4 do).
    #[cfg(target_os = "linux")]
    #[test]
    fn unnamed_on_linux() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut s = Scratch::create(dir.path(), "credentials").expect("create");
        assert!(
            s.is_unnamed(),
            "O_TMPFILE refused in {}",
            dir.path().display()
        );
        s.fill(b"secret").expect("fill");
        assert_eq!(fs::read_dir(dir.path()).expect("ls").count(), 0);
    }
}

//! Reading a file that other programs write too, so that an edit is never built on a file
//! another program is halfway through writing: [`read_settled`] waits until the file has been
//! left alone for a moment (size, mtime and inode stable) and, when it looks cut short against
//! the last version seen (see [`credentials_suspect`]), until it has been quiet much longer.
//! The other half, the checks around the rename, is [`crate::files::fsio::replace_if_still`].

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use crate::files::fsio::{self, FsError};
use crate::files::ini::{self, Kind};

/// A file is read only once two looks at least this far apart saw it the same (inode, size,
/// mtime, ctime), unless it is exactly as this process last left it. Two looks, not mtime
/// against the clock: mtime ticks in 4-10 ms steps on some kernels and can be set by anyone.
pub const SETTLE: Duration = Duration::from_millis(20);

/// A file that looks cut short (against the last version seen, or with none: empty, no final
/// line ending, a line that is no INI line) is taken as it is only once it has stayed the same
/// this long: then it is what the user meant, not another program's write in progress.
pub const SUSPECT_QUIET: Duration = Duration::from_millis(1000);

/// How long [`read_settled`] waits for a file that keeps changing before giving up.
pub const MAX_WAIT: Duration = Duration::from_secs(3);

/// What identifies one state of a file: a write by any program changes at least one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

fn stamp(path: &Path) -> io::Result<Option<(Stamp, SystemTime)>> {
    match fs::metadata(path) {
        Ok(m) => Ok(Some((
            Stamp {
                dev: m.dev(),
                ino: m.ino(),
                size: m.size(),
                mtime: (m.mtime(), m.mtime_nsec()),
                ctime: (m.ctime(), m.ctime_nsec()),
            },
            m.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The last version of each file seen by this process (read settled, or written), and the
/// file's stamp then.
static LAST_SEEN: Mutex<Option<HashMap<PathBuf, Seen>>> = Mutex::new(None);

/// A version of a file as seen: its text and its stamp then.
type Seen = (String, Option<Stamp>);

/// The last version of `path` this process read or wrote, if any, and its stamp then.
fn last_seen(path: &Path) -> Option<Seen> {
    let memory = LAST_SEEN.lock().unwrap_or_else(|e| e.into_inner());
    memory.as_ref().and_then(|m| m.get(path).cloned())
}

/// Remembers `text` as the last version of `path` seen (call it right after writing it).
/// The file's stamp is kept only when two stats around a read agree and the read gives back
/// `text`: if another program already changed it, no stamp is kept, so that its half-written
/// file is never taken for the one ssofresh left.
pub fn remember(path: &Path, text: &str) {
    let first = stamp(path).ok().flatten().map(|(s, _)| s);
    let read = fsio::read_text(path).ok().flatten();
    let second = stamp(path).ok().flatten().map(|(s, _)| s);
    let ours = first.is_some() && first == second && read.as_deref() == Some(text);
    remember_stamped(path, text, if ours { first } else { None });
}

fn remember_stamped(path: &Path, text: &str, now: Option<Stamp>) {
    let mut memory = LAST_SEEN.lock().unwrap_or_else(|e| e.into_inner());
    memory
        .get_or_insert_with(HashMap::new)
        .insert(path.to_owned(), (text.to_owned(), now));
}

/// Reads the text file at `path` (see [`fsio::read_text`]) once it has settled: two stats
/// [`SETTLE`] apart and one after the read all agree (unless it is exactly as this process
/// last wrote or read it). When it looks cut short — `suspect(now, last)` against the last
/// version seen, or with none seen `suspect(now, "")` or empty — it must also have stayed the
/// same for [`SUSPECT_QUIET`] (by these looks, or by an mtime that long ago). Gives up after
/// [`MAX_WAIT`] of changes, leaving the file alone.
pub fn read_settled(path: &Path, suspect: impl Fn(&str, &str) -> bool) -> Result<Settled, FsError> {
    let start = Instant::now();
    let (last, last_stamp) = last_seen(path).unzip();
    let inspect = |e| FsError::new("cannot inspect", path, e);
    // The stamp seen and when it was first seen, to tell how long the file stayed the same.
    let mut steady: Option<(Option<Stamp>, Instant)> = None;
    loop {
        let looked = Instant::now();
        let before = stamp(path).map_err(inspect)?;
        let now_stamp = before.map(|(s, _)| s);
        let since = match steady {
            Some((s, at)) if s == now_stamp => at,
            _ => steady.insert((now_stamp, looked)).1,
        };
        let as_left = now_stamp.is_some() && now_stamp == last_stamp.flatten();
        if !as_left {
            std::thread::sleep(SETTLE);
            if stamp(path).map_err(inspect)? != before {
                give_up_after(start, path)?;
                continue;
            }
        }
        let text = fsio::read_text(path)?;
        if stamp(path).map_err(inspect)? != before {
            give_up_after(start, path)?;
            continue;
        }
        let by_mtime = before.map_or(Duration::MAX, |(_, mtime)| {
            SystemTime::now()
                .duration_since(mtime)
                .unwrap_or(Duration::ZERO)
        });
        let held = since.elapsed().max(by_mtime);
        let looks_cut = |now: &str| match &last {
            Some(last) => suspect(now, last),
            None => now.is_empty() || suspect(now, ""),
        };
        if let Some(now) = &text
            && !as_left
            && held < SUSPECT_QUIET
            && looks_cut(now)
        {
            // Each round sleeps SETTLE above: no busy loop.
            give_up_after(start, path)?;
            continue;
        }
        // Grew in place from the last version seen: another program appends to it.
        let appended = match (now_stamp, last_stamp.flatten(), &text, &last) {
            (Some(now), Some(then), Some(t), Some(l)) => {
                now.ino == then.ino && now.size > then.size && t.starts_with(l.as_str())
            }
            _ => false,
        };
        if let Some(text) = &text {
            remember_stamped(path, text, now_stamp);
        }
        return Ok(Settled {
            text,
            others_active: !as_left && held < SUSPECT_QUIET,
            appended,
        });
    }
}

/// A file as [`read_settled`] read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    /// Its text; `None` when it does not exist.
    pub text: Option<String>,
    /// Another program changed it in the last [`SUSPECT_QUIET`]: it may be at work still, and
    /// may write back an older copy over the write about to be made.
    pub others_active: bool,
    /// Another program appended to it (same file, grown, the last version seen its start):
    /// an appender may have opened it before the next write and write into the old file.
    pub appended: bool,
}

fn give_up_after(start: Instant, path: &Path) -> Result<(), FsError> {
    if start.elapsed() < MAX_WAIT {
        return Ok(());
    }
    Err(FsError::unchanged(
        "cannot write",
        path,
        io::Error::other(format!(
            "another program kept writing it for {} s",
            MAX_WAIT.as_secs()
        )),
    ))
}

/// True when the credentials file `now` looks like another program's write in progress
/// compared with `last`, the version seen before: it lost bytes outside ssofresh's sections
/// (`own`), a section of ssofresh's lost keys, a line reads as no INI line at all where
/// `last` had none such, or it lost its final line ending.
pub fn credentials_suspect(now: &str, last: &str, own: &[&str]) -> bool {
    let (now_lines, last_lines) = (ini::lex(now), ini::lex(last));
    let now_parts = parts(&now_lines, own);
    let last_parts = parts(&last_lines, own);
    if now_parts.user_bytes < last_parts.user_bytes {
        return true;
    }
    let cut = last_parts.own_keys.iter().any(|(section, keys)| {
        now_parts
            .own_keys
            .get(section)
            .is_some_and(|now_keys| now_keys < keys)
    });
    let ends = |t: &str| t.is_empty() || t.ends_with('\n') || t.ends_with('\r');
    cut || (now_parts.invalid > last_parts.invalid) || (ends(last) && !ends(now))
}

struct Parts {
    /// Bytes in lines outside the sections in `own`.
    user_bytes: usize,
    /// How many keys each of the sections in `own` holds.
    own_keys: HashMap<String, usize>,
    /// Lines configparser would reject.
    invalid: usize,
}

fn parts(lines: &[ini::Line<'_>], own: &[&str]) -> Parts {
    let mut out = Parts {
        user_bytes: 0,
        own_keys: HashMap::new(),
        invalid: 0,
    };
    let mut current: Option<&str> = None;
    for line in lines {
        if let Kind::Section(name) = line.kind {
            current = own.iter().copied().find(|o| *o == name);
            if let Some(section) = current {
                out.own_keys.entry(section.to_owned()).or_default();
            }
        }
        match current {
            Some(section) => {
                if matches!(line.kind, Kind::Key { .. }) {
                    *out.own_keys.entry(section.to_owned()).or_default() += 1;
                }
            }
            None => out.user_bytes += line.text.len() + line.eol.len(),
        }
        if matches!(line.kind, Kind::Invalid(_)) {
            out.invalid += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAST: &str = "# mine\n[personal]\naws_access_key_id = AKIAX\n\n[dev]\naws_access_key_id = ASIA\naws_secret_access_key = s\naws_session_token = t\n";

    /// Each way an in-place writer's half-done file differs from the last version is caught;
    /// ssofresh's own sections may change freely, and a user's addition is no suspect.
    #[test]
    fn suspects_half_written_files() {
        let own = ["dev"];
        assert!(!credentials_suspect(LAST, LAST, &own));
        // Truncated to nothing, or to the first chunk of a rewrite.
        assert!(credentials_suspect("", LAST, &own));
        assert!(credentials_suspect("# mine\n[perso", LAST, &own));
        // Own section cut short, a half line, no final newline.
        let cut = LAST.replace("aws_session_token = t\n", "");
        assert!(credentials_suspect(&cut, LAST, &own));
        let half = LAST.replace("aws_session_token = t\n", "aws_sess");
        assert!(credentials_suspect(&half, LAST, &own));
        // What ssofresh itself changes, and what a user adds, is fine.
        let renewed = LAST.replace("= t\n", "= a-longer-new-token\n");
        assert!(!credentials_suspect(&renewed, LAST, &own));
        let added = format!("{LAST}\n[new]\nregion = eu-west-1\n");
        assert!(!credentials_suspect(&added, LAST, &own));
        // A user's file without a final newline stays acceptable once it was seen so.
        let no_eol = LAST.trim_end();
        assert!(!credentials_suspect(no_eol, no_eol, &own));
    }

    /// A file modified just now is read only after it stayed the same for SETTLE; a file that
    /// looks cut short is read only after SUSPECT_QUIET; a quiet file is read at once.
    #[test]
    fn waits_for_quiet() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("credentials");
        fs::write(&path, LAST).expect("write");
        // Modified "now" however loaded the machine: a time in the future is never settled.
        let future = SystemTime::now() + Duration::from_secs(3600);
        fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(future))
            .expect("set mtime");
        let start = Instant::now();
        let seen = read_settled(&path, |n, l| credentials_suspect(n, l, &["dev"]));
        assert_eq!(seen.expect("read").text.as_deref(), Some(LAST));
        assert!(start.elapsed() >= SETTLE, "a fresh file waits for SETTLE");
        // Truncated (by a co-writer halfway through its rewrite): waits, then takes it.
        fs::write(&path, "# mine\n").expect("write");
        let start = Instant::now();
        let seen = read_settled(&path, |n, l| credentials_suspect(n, l, &["dev"]));
        assert_eq!(seen.expect("read").text.as_deref(), Some("# mine\n"));
        // Quiet is counted from the file's mtime, which the kernel stamps with a coarse clock
        // (a few ms behind the one `Instant` reads): allow that much.
        assert!(
            start.elapsed() >= SUSPECT_QUIET - SETTLE - Duration::from_millis(20),
            "{:?}",
            start.elapsed()
        );
    }

    /// With no earlier version seen (`--once`, the daemon's first write), an empty file, one
    /// without a final newline, or one with a line that is no INI line waits SUSPECT_QUIET;
    /// a whole file is read after SETTLE only.
    #[test]
    fn first_read_of_a_suspect_file_waits() {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, text, waits) in [
            ("empty", "", true),
            ("no-eol", "[a]\naws_access_key_id = AK", true),
            ("invalid", "[a]\naws_acc\n[b]\nx = 1\n", true),
            ("whole", LAST, false),
        ] {
            let path = dir.path().join(name);
            fs::write(&path, text).expect("write");
            let start = Instant::now();
            let seen = read_settled(&path, |n, l| credentials_suspect(n, l, &["dev"]));
            assert_eq!(seen.expect("read").text.as_deref(), Some(text), "{name}");
            let took = start.elapsed();
            assert!(took >= SETTLE, "{name}: {took:?}");
            // Quiet may also be read off the file's mtime, stamped by the kernel's coarse clock
            // a few ms behind `Instant`: a wait shows as SUSPECT_QUIET less up to that much.
            let waited = took >= SUSPECT_QUIET - Duration::from_millis(50);
            assert_eq!(waited, waits, "{name}: {took:?}");
        }
    }

    /// The stamp is kept only when the file still holds what ssofresh wrote: a file another
    /// program changed right after the write is never taken as "as left".
    #[test]
    fn remembers_stamp_only_of_own_text() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("credentials");
        fs::write(&path, LAST).expect("write");
        remember(&path, LAST);
        assert!(last_seen(&path).and_then(|(_, s)| s).is_some());
        fs::write(&path, "# mine\n").expect("write");
        remember(&path, LAST);
        assert_eq!(last_seen(&path), Some((LAST.to_owned(), None)));
    }
}

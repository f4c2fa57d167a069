//! The file watcher: turns file-system events about the SSO token cache, the `aws login`
//! cache, the config file and the credentials file into [`Hint`]s for the daemon's event loop.
//!
//! Events are hints and nothing more: the loop re-reads, and never trusts an event for
//! content. Watches are on folders, never on files, and never recursive (notify's "Known
//! Problems": editors and atomic writers replace a file's inode, and a deleted folder ends its
//! watch). Each target — the cache folder, the folder of the config file, the folder of the
//! credentials file, and the folder of a symlinked file's target — is watched at its nearest
//! existing folder; while a target folder is missing, its nearest existing ancestor is watched
//! for the one child that leads down to it, and [`Watcher::rearm`] moves the watch down when
//! it appears (and back up when it is deleted). One notify watch serves every target that
//! lands in the same folder.
//!
//! The notify callback runs on notify's thread and only maps an event to hints and
//! `try_send`s them; a full channel drops the hint (the loop's periodic rescan catches up).
//! The mapping is a pure function (`hints_for`), tested with tables.
//!
//! macOS (FSEvents) reports canonical paths (`/private/var/…` for `/var/…`), so every watch
//! is matched by the path it was given and by its canonical path.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs;
use std::mem;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use notify::event::{AccessKind, AccessMode, ModifyKind};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc::Sender;
use tracing::debug;

/// What changed, as a hint: the loop re-reads; events are never trusted for content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hint {
    /// Something in the SSO token cache folder (or on the way to it) changed.
    Cache,
    /// The config file (or a folder on the way to it) changed.
    Config,
    /// The credentials file (or a folder on the way to it) changed.
    Credentials,
}

impl Hint {
    /// Every hint, for events that say "something was lost, re-read everything".
    pub const ALL: [Hint; 3] = [Hint::Cache, Hint::Config, Hint::Credentials];

    fn bit(self) -> u8 {
        match self {
            Hint::Cache => 1,
            Hint::Config => 2,
            Hint::Credentials => 4,
        }
    }
}

/// What to watch, as [`crate::files::paths::Paths`] resolves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    /// `~/.aws/sso/cache`: only `*.json` names in it count.
    pub cache_dir: PathBuf,
    /// `~/.aws/login/cache` (`aws login` sessions): likewise, with the same hint.
    pub login_cache_dir: PathBuf,
    /// The config file: only its exact name counts.
    pub config: PathBuf,
    /// The credentials file: only its exact name counts.
    pub credentials: PathBuf,
}

/// Why (part of) the watching does not work. None of these is fatal: the loop logs it and its
/// periodic rescan still picks every change up, only later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WatchError {
    /// The watcher itself could not be created.
    #[error(
        "cannot watch files for changes: {reason}; changes are picked up by the periodic rescan only"
    )]
    Start {
        /// What went wrong and what to do.
        reason: String,
    },
    /// One folder could not be watched.
    #[error(
        "cannot watch {} for changes: {reason}; changes there are picked up by the periodic rescan only",
        dir.display()
    )]
    Dir {
        /// The folder.
        dir: PathBuf,
        /// What went wrong and what to do.
        reason: String,
    },
    /// The watcher reported an error while running (events may have been lost).
    #[error(
        "the file watcher failed{}: {reason}; everything is re-read now, and later changes are picked up at least by the periodic rescan",
        match path { Some(p) => format!(" on {}", p.display()), None => String::new() }
    )]
    Events {
        /// The path concerned, when notify names one.
        path: Option<PathBuf>,
        /// What went wrong and what to do.
        reason: String,
    },
}

/// Says what a notify error means and, where there is something to do, what.
fn describe(error: &notify::Error) -> String {
    use notify::ErrorKind;
    match &error.kind {
        ErrorKind::MaxFilesWatch => "the system's limit on watched folders is reached \
             (raise it, e.g. `sudo sysctl fs.inotify.max_user_watches=524288`)"
            .to_owned(),
        ErrorKind::PathNotFound => "it does not exist".to_owned(),
        ErrorKind::WatchNotFound => "it was not being watched".to_owned(),
        ErrorKind::Generic(message) => message.clone(),
        ErrorKind::InvalidConfig(_) => "notify refused its configuration".to_owned(),
        ErrorKind::Io(io) => match io.raw_os_error() {
            Some(24) => "too many inotify instances or open files (raise \
                 `fs.inotify.max_user_instances` with sysctl, or the open-file limit)"
                .to_owned(),
            Some(28) => "the system's limit on watched folders is reached \
                 (raise it, e.g. `sudo sysctl fs.inotify.max_user_watches=524288`)"
                .to_owned(),
            Some(38) => {
                "file watching is not available on this system (e.g. under emulation)".to_owned()
            }
            _ if io.kind() == std::io::ErrorKind::PermissionDenied => {
                "permission denied (check the folder's permissions)".to_owned()
            }
            _ => io.to_string(),
        },
    }
}

/// How a name inside a watched folder is judged.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Matcher {
    /// The cache folder: names ending `.json` that are not dotfiles.
    Json,
    /// A file's folder: exactly this name.
    Name(OsString),
    /// An ancestor of a missing folder: the child that leads down to it (any child when the
    /// path gives no name, e.g. it ends in `..`).
    Toward(Option<OsString>),
}

impl Matcher {
    fn matches(&self, name: &OsStr) -> bool {
        if is_ssofresh_own(name) {
            return false;
        }
        match self {
            Matcher::Json => {
                let b = name.as_bytes();
                !b.starts_with(b".") && b.ends_with(b".json")
            }
            Matcher::Name(n) | Matcher::Toward(Some(n)) => name == n,
            Matcher::Toward(None) => true,
        }
    }
}

/// ssofresh's own temp files (`.NAME.ssofresh-PID-XXXXXXXX.tmp`, see [`crate::files::fsio::replace`]),
/// write locks (`.NAME.ssofresh.lock`) and instance locks (`.NAME.ssofresh.pid`).
fn is_ssofresh_own(name: &OsStr) -> bool {
    let b = name.as_bytes();
    b.starts_with(b".")
        && (b.ends_with(b".ssofresh.lock")
            || b.ends_with(b".ssofresh.pid")
            || (b.ends_with(b".tmp") && b.windows(10).any(|w| w == b".ssofresh-")))
}

/// Where events of one watched folder go: one per target, several per folder.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Route {
    hint: Hint,
    /// The folder as given to notify (inotify reports paths under it).
    watch: PathBuf,
    /// The same folder canonicalized when it was armed (FSEvents reports paths under it).
    canonical: PathBuf,
    matcher: Matcher,
}

impl Route {
    fn is_root(&self, path: &Path) -> bool {
        path == self.watch || path == self.canonical
    }
}

/// A small set of hints.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Hints(u8);

impl Hints {
    fn add(&mut self, hint: Hint) {
        self.0 |= hint.bit();
    }

    fn iter(self) -> impl Iterator<Item = Hint> {
        Hint::ALL.into_iter().filter(move |h| self.0 & h.bit() != 0)
    }
}

/// What one event means: the hints to send, and watched folders that were themselves removed
/// or renamed (their watch is stale: [`Watcher::rearm`] re-points it).
#[derive(Debug, Default, PartialEq, Eq)]
struct Routed {
    hints: Hints,
    stale: Vec<PathBuf>,
}

/// Maps one event to hints: pure, so the filters are tested with tables.
fn hints_for(routes: &[Route], event: &Event) -> Routed {
    let mut out = Routed::default();
    if event.need_rescan() {
        // The kernel or FSEvents dropped events: re-read everything.
        Hint::ALL.into_iter().for_each(|h| out.hints.add(h));
        return out;
    }
    let gone = match &event.kind {
        // Opening, reading and closing without writing change nothing (the loop's own reads
        // come back as these). A close after writing is kept: the write is complete then.
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => false,
        EventKind::Access(_) => return out,
        EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_)) => true,
        EventKind::Create(_) | EventKind::Modify(_) | EventKind::Any | EventKind::Other => false,
    };
    for path in &event.paths {
        for route in routes {
            if route.is_root(path) {
                // The watched folder itself went away (or was moved): its watch is stale.
                if gone {
                    out.hints.add(route.hint);
                    if !out.stale.contains(&route.watch) {
                        out.stale.push(route.watch.clone());
                    }
                }
                continue;
            }
            let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
                continue;
            };
            if route.is_root(parent) && route.matcher.matches(name) {
                out.hints.add(route.hint);
            }
        }
    }
    out
}

/// What the notify callback shares with [`Watcher`]. Never held across a call into notify: its
/// thread may be waiting for this lock in the callback while notify waits for its thread.
#[derive(Debug, Default)]
struct Shared {
    routes: Vec<Route>,
    stale: Vec<PathBuf>,
    errors: Vec<WatchError>,
}

/// Errors kept for the next [`Watcher::rearm`] if the loop does not call it for a while.
const MAX_PENDING_ERRORS: usize = 16;

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The callback run on notify's thread: map, remember stale watches, `try_send`.
fn on_event(shared: &Mutex<Shared>, hints: &Sender<Hint>, result: notify::Result<Event>) {
    let send = {
        let mut shared = lock(shared);
        match result {
            Ok(event) => {
                let routed = hints_for(&shared.routes, &event);
                for dir in routed.stale {
                    if !shared.stale.contains(&dir) {
                        shared.stale.push(dir);
                    }
                }
                routed.hints
            }
            Err(error) => {
                if shared.errors.len() < MAX_PENDING_ERRORS {
                    shared.errors.push(WatchError::Events {
                        path: error.paths.first().cloned(),
                        reason: describe(&error),
                    });
                }
                // Events may have been lost; the hint also makes the loop call `rearm`, which
                // hands it the error.
                let mut all = Hints::default();
                Hint::ALL.into_iter().for_each(|h| all.add(h));
                all
            }
        }
    };
    for hint in send.iter() {
        // Full: dropped, the rescan catches up. Closed: the loop is gone.
        let _ = hints.try_send(hint);
    }
}

/// A folder's identity, to notice one deleted and re-created between two rearms.
type Id = (u64, u64);

/// A folder under a notify watch.
#[derive(Debug, Clone)]
struct Armed {
    dir: PathBuf,
    canonical: PathBuf,
    id: Id,
}

/// One thing to watch: a folder and the names in it that matter.
#[derive(Debug)]
struct Target {
    hint: Hint,
    dir: PathBuf,
    matcher: Matcher,
}

/// The nearest existing folder at or above `dir`, the child of it that leads down to `dir`
/// (`None` when `dir` itself exists), and its identity.
fn nearest_dir(dir: &Path) -> Option<(PathBuf, Option<Option<OsString>>, Id)> {
    let mut here = dir;
    let mut toward = None;
    loop {
        if let Ok(meta) = fs::metadata(here)
            && meta.is_dir()
        {
            return Some((here.to_owned(), toward, (meta.dev(), meta.ino())));
        }
        toward = Some(here.file_name().map(OsStr::to_owned));
        here = here.parent()?;
    }
}

/// Splits a file path into its folder and name.
fn folder_and_name(file: &Path) -> Option<(PathBuf, OsString)> {
    Some((file.parent()?.to_owned(), file.file_name()?.to_owned()))
}

/// Owns the notify watcher and keeps its watches pointed at the nearest existing folders.
pub struct Watcher {
    notify: RecommendedWatcher,
    watched: Watched,
    hints: Sender<Hint>,
    shared: Arc<Mutex<Shared>>,
    armed: Vec<Armed>,
    routes: Vec<Route>,
    /// Folders whose watch failed, with the reason already reported (reported once each).
    failing: HashMap<PathBuf, String>,
}

impl fmt::Debug for Watcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Watcher")
            .field("watched", &self.watched)
            .field(
                "armed",
                &self.armed.iter().map(|a| &a.dir).collect::<Vec<_>>(),
            )
            .field("failing", &self.failing.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// Rounds of planning in one rearm when a folder vanishes between looking and watching.
const MAX_ROUNDS: usize = 4;

impl Watcher {
    /// Starts watching. Hints are sent with `try_send` on a bounded tokio mpsc channel; a full
    /// channel drops the hint (the loop's periodic rescan catches up), a closed one is ignored.
    ///
    /// Fails only when no watcher can be created at all. Folders that cannot be watched are
    /// reported by the first [`rearm`](Self::rearm), which the loop calls on its first tick.
    /// Starting sends no hint: the loop scans everything first anyway (start the watcher
    /// before that first scan, so that nothing falls between them).
    pub fn start(watched: Watched, hints: Sender<Hint>) -> Result<Self, WatchError> {
        let watched = Watched {
            cache_dir: absolute(watched.cache_dir),
            login_cache_dir: absolute(watched.login_cache_dir),
            config: absolute(watched.config),
            credentials: absolute(watched.credentials),
        };
        let shared = Arc::new(Mutex::new(Shared::default()));
        let notify = {
            let shared = Arc::clone(&shared);
            let hints = hints.clone();
            notify::recommended_watcher(move |result| on_event(&shared, &hints, result))
        }
        .map_err(|e| WatchError::Start {
            reason: describe(&e),
        })?;
        let mut watcher = Self {
            notify,
            watched,
            hints,
            shared,
            armed: Vec::new(),
            routes: Vec::new(),
            failing: HashMap::new(),
        };
        let mut errors = Vec::new();
        watcher.arm(Vec::new(), &mut errors, false);
        lock(&watcher.shared).errors.extend(errors);
        Ok(watcher)
    }

    /// Re-points watches after folders appeared or vanished; the loop calls it on every hint
    /// and every tick. Cheap when nothing changed (a few `stat`s, no notify call, no hint).
    ///
    /// When a watch moves (down to a folder that appeared, up after one was deleted, or onto a
    /// folder re-created in place), the hints of the targets it serves are sent after arming:
    /// a folder that appeared with files already in it is not missed.
    ///
    /// Returns the errors that are new since the last call (each failing folder is reported
    /// once until it works again), for the loop to log; watching carries on without them.
    pub fn rearm(&mut self) -> Vec<WatchError> {
        let (stale, mut errors) = {
            let mut shared = lock(&self.shared);
            (mem::take(&mut shared.stale), mem::take(&mut shared.errors))
        };
        self.arm(stale, &mut errors, true);
        errors
    }

    /// What to watch now: the three targets, plus the folder of a symlinked config or
    /// credentials file's target (dotfile managers link them into a repository, and that is
    /// where other programs and ssofresh itself write).
    fn targets(&self) -> Vec<Target> {
        let mut targets = vec![
            Target {
                hint: Hint::Cache,
                dir: self.watched.cache_dir.clone(),
                matcher: Matcher::Json,
            },
            Target {
                hint: Hint::Cache,
                dir: self.watched.login_cache_dir.clone(),
                matcher: Matcher::Json,
            },
        ];
        for (hint, file) in [
            (Hint::Config, &self.watched.config),
            (Hint::Credentials, &self.watched.credentials),
        ] {
            if let Some((dir, name)) = folder_and_name(file) {
                targets.push(Target {
                    hint,
                    dir,
                    matcher: Matcher::Name(name),
                });
            }
            let is_link = fs::symlink_metadata(file).is_ok_and(|m| m.file_type().is_symlink());
            if let Some((dir, name)) = is_link
                .then(|| fs::canonicalize(file).ok())
                .flatten()
                .as_deref()
                .and_then(folder_and_name)
            {
                targets.push(Target {
                    hint,
                    dir,
                    matcher: Matcher::Name(name),
                });
            }
        }
        targets
    }

    fn arm(&mut self, stale: Vec<PathBuf>, errors: &mut Vec<WatchError>, send: bool) {
        let mut stale = stale;
        let mut fresh: Vec<PathBuf> = Vec::new();
        let mut changed_watches = false;
        let mut placed: Vec<(Hint, PathBuf, Matcher)> = Vec::new();
        for _ in 0..MAX_ROUNDS {
            // Plan: each target at its nearest existing folder, one watch per folder.
            let mut wanted: Vec<(PathBuf, Id)> = Vec::new();
            placed.clear();
            for target in self.targets() {
                let Some((dir, toward, id)) = nearest_dir(&target.dir) else {
                    continue;
                };
                let dir = match wanted.iter().find(|(_, i)| *i == id) {
                    Some((d, _)) => d.clone(),
                    None => {
                        wanted.push((dir.clone(), id));
                        dir
                    }
                };
                let matcher = match toward {
                    None => target.matcher,
                    Some(child) => Matcher::Toward(child),
                };
                if !placed
                    .iter()
                    .any(|(h, d, m)| *h == target.hint && *d == dir && *m == matcher)
                {
                    placed.push((target.hint, dir, matcher));
                }
            }
            self.failing
                .retain(|d, _| wanted.iter().any(|(w, _)| w == d));
            // Drop the watches no longer wanted, re-created in place, or reported stale.
            let (keep, drop): (Vec<Armed>, Vec<Armed>) =
                mem::take(&mut self.armed).into_iter().partition(|a| {
                    wanted.iter().any(|(d, i)| *d == a.dir && *i == a.id) && !stale.contains(&a.dir)
                });
            self.armed = keep;
            for old in drop {
                // A watch on a deleted folder may already be gone: nothing to undo then.
                let _ = self.notify.unwatch(&old.dir);
                changed_watches = true;
                debug!(dir = %old.dir.display(), "stopped watching");
            }
            stale.clear();
            // Add the missing ones.
            let mut raced = false;
            for (dir, id) in wanted {
                if self.armed.iter().any(|a| a.dir == dir) {
                    continue;
                }
                match self.notify.watch(&dir, RecursiveMode::NonRecursive) {
                    Ok(()) => {
                        changed_watches = true;
                        let canonical = fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
                        debug!(dir = %dir.display(), "watching");
                        self.failing.remove(&dir);
                        fresh.push(dir.clone());
                        self.armed.push(Armed { dir, canonical, id });
                    }
                    // It vanished between looking and watching: plan again.
                    Err(e) if matches!(e.kind, notify::ErrorKind::PathNotFound) => raced = true,
                    Err(e) => {
                        let reason = describe(&e);
                        if self.failing.get(&dir) != Some(&reason) {
                            errors.push(WatchError::Dir {
                                dir: dir.clone(),
                                reason: reason.clone(),
                            });
                            self.failing.insert(dir, reason);
                        }
                    }
                }
            }
            if !raced {
                break;
            }
        }
        // Route each target through its folder's watch.
        let routes: Vec<Route> = placed
            .into_iter()
            .filter_map(|(hint, dir, matcher)| {
                let armed = self.armed.iter().find(|a| a.dir == dir)?;
                Some(Route {
                    hint,
                    watch: armed.dir.clone(),
                    canonical: armed.canonical.clone(),
                    matcher,
                })
            })
            .collect();
        if routes == self.routes && !changed_watches {
            return;
        }
        lock(&self.shared).routes = routes.clone();
        let mut hints = Hints::default();
        for route in &routes {
            if fresh.contains(&route.watch) || !self.routes.contains(route) {
                hints.add(route.hint);
            }
        }
        // FSEvents restarts its one stream on every watch change: events of the watches that
        // were kept may have fallen in between.
        if cfg!(target_os = "macos") && changed_watches {
            Hint::ALL.into_iter().for_each(|h| hints.add(h));
        }
        self.routes = routes;
        if send {
            for hint in hints.iter() {
                let _ = self.hints.try_send(hint);
            }
        }
    }

    /// The folders under a notify watch now.
    #[cfg(test)]
    fn watched_dirs(&self) -> Vec<PathBuf> {
        self.armed.iter().map(|a| a.dir.clone()).collect()
    }
}

/// Makes a path absolute (without touching the file system), so every target has a folder.
fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange, Flag, RemoveKind, RenameMode};
    use std::io::Write;
    use std::time::{Duration, Instant};
    use tokio::sync::mpsc::{self, Receiver};

    // ---- the pure mapping ----

    fn route(hint: Hint, watch: &str, canonical: &str, matcher: Matcher) -> Route {
        Route {
            hint,
            watch: PathBuf::from(watch),
            canonical: PathBuf::from(canonical),
            matcher,
        }
    }

    /// The layout of a usual machine: the cache folder, and `~/.aws` for config and credentials.
    fn usual_routes() -> Vec<Route> {
        vec![
            route(
                Hint::Cache,
                "/var/h/.aws/sso/cache",
                "/private/var/h/.aws/sso/cache",
                Matcher::Json,
            ),
            route(
                Hint::Config,
                "/var/h/.aws",
                "/private/var/h/.aws",
                Matcher::Name("config".into()),
            ),
            route(
                Hint::Credentials,
                "/var/h/.aws",
                "/private/var/h/.aws",
                Matcher::Name("credentials".into()),
            ),
        ]
    }

    fn ev(kind: EventKind, paths: &[&str]) -> Event {
        paths
            .iter()
            .fold(Event::new(kind), |e, p| e.add_path(PathBuf::from(p)))
    }

    fn hints(routed: &Routed) -> Vec<Hint> {
        routed.hints.iter().collect()
    }

    const WRITE: EventKind = EventKind::Modify(ModifyKind::Data(DataChange::Any));
    const CREATE: EventKind = EventKind::Create(CreateKind::File);
    const REMOVE: EventKind = EventKind::Remove(RemoveKind::File);
    const RENAME_TO: EventKind = EventKind::Modify(ModifyKind::Name(RenameMode::To));

    /// Which names and event kinds become which hints: every filter rule, one row each.
    #[test]
    fn event_table() {
        use Hint::*;
        let cache = "/var/h/.aws/sso/cache";
        let rows: &[(EventKind, &[&str], &[Hint], &str)] = &[
            (
                WRITE,
                &["/var/h/.aws/sso/cache/ab.json"],
                &[Cache],
                "token written in place",
            ),
            (
                RENAME_TO,
                &["/var/h/.aws/sso/cache/ab.json"],
                &[Cache],
                "token renamed in",
            ),
            (
                REMOVE,
                &["/var/h/.aws/sso/cache/ab.json"],
                &[Cache],
                "logout removes it",
            ),
            (
                CREATE,
                &["/private/var/h/.aws/sso/cache/ab.json"],
                &[Cache],
                "macOS canonical path",
            ),
            (
                EventKind::Access(AccessKind::Close(AccessMode::Write)),
                &["/var/h/.aws/sso/cache/ab.json"],
                &[Cache],
                "close after writing: the write is complete",
            ),
            (
                EventKind::Access(AccessKind::Close(AccessMode::Read)),
                &["/var/h/.aws/sso/cache/ab.json"],
                &[],
                "the loop's own read",
            ),
            (
                EventKind::Access(AccessKind::Open(AccessMode::Any)),
                &["/var/h/.aws/sso/cache/ab.json"],
                &[],
                "an open",
            ),
            (
                EventKind::Access(AccessKind::Open(AccessMode::Any)),
                &[cache],
                &[],
                "the loop listing the folder",
            ),
            (
                CREATE,
                &["/var/h/.aws/sso/cache/tmpk2j3.tmp"],
                &[],
                "botocore temp",
            ),
            (
                CREATE,
                &["/var/h/.aws/sso/cache/ab.json.tmp-17000"],
                &[],
                "Go temp",
            ),
            (CREATE, &["/var/h/.aws/sso/cache/.ab.json"], &[], "dotfile"),
            (
                CREATE,
                &["/var/h/.aws/sso/cache/.ab.json.ssofresh-42-0badf00d.tmp"],
                &[],
                "ssofresh temp",
            ),
            (
                CREATE,
                &["/var/h/.aws/sso/cache/notes.txt"],
                &[],
                "not JSON",
            ),
            (
                CREATE,
                &["/var/h/.aws/sso/cache/sub/ab.json"],
                &[],
                "below the folder",
            ),
            (WRITE, &["/var/h/.aws/config"], &[Config], "config edited"),
            (
                RENAME_TO,
                &["/private/var/h/.aws/config"],
                &[Config],
                "config replaced, macOS",
            ),
            (
                WRITE,
                &["/var/h/.aws/credentials"],
                &[Credentials],
                "credentials edited",
            ),
            (
                EventKind::Modify(ModifyKind::Name(RenameMode::Both)),
                &[
                    "/var/h/.aws/.credentials.ssofresh-42-0badf00d.tmp",
                    "/var/h/.aws/credentials",
                ],
                &[Credentials],
                "ssofresh's own replace: the rename's target counts",
            ),
            (
                CREATE,
                &["/var/h/.aws/.credentials.ssofresh.lock"],
                &[],
                "write lock",
            ),
            (
                CREATE,
                &["/var/h/.aws/.credentials.ssofresh.pid"],
                &[],
                "instance lock",
            ),
            (
                CREATE,
                &["/var/h/.aws/.config.ssofresh-1-00000000.tmp"],
                &[],
                "temp of config",
            ),
            (WRITE, &["/var/h/.aws/config.bak"], &[], "another file"),
            (WRITE, &["/var/h/.aws/credentials~"], &[], "editor backup"),
            (
                CREATE,
                &["/var/h/.aws/sso"],
                &[],
                "sso is not a target here",
            ),
            (
                EventKind::Modify(ModifyKind::Metadata(notify::event::MetadataKind::Any)),
                &["/var/h/.aws"],
                &[],
                "the folder's own metadata",
            ),
        ];
        for (kind, paths, want, why) in rows {
            let got = hints(&hints_for(&usual_routes(), &ev(*kind, paths)));
            assert_eq!(&got, want, "{why}: {kind:?} {paths:?}");
        }
    }

    /// The removal of a watched folder itself marks its watch stale and hints its targets; a
    /// rescan flag (lost events) hints everything.
    #[test]
    fn folder_removal_and_rescan() {
        let routed = hints_for(
            &usual_routes(),
            &ev(
                EventKind::Remove(RemoveKind::Folder),
                &["/var/h/.aws/sso/cache"],
            ),
        );
        assert_eq!(hints(&routed), [Hint::Cache]);
        assert_eq!(routed.stale, [PathBuf::from("/var/h/.aws/sso/cache")]);

        let moved = hints_for(
            &usual_routes(),
            &ev(
                EventKind::Modify(ModifyKind::Name(RenameMode::From)),
                &["/private/var/h/.aws"],
            ),
        );
        assert_eq!(hints(&moved), [Hint::Config, Hint::Credentials]);
        assert_eq!(moved.stale, [PathBuf::from("/var/h/.aws")]);

        let lost = hints_for(
            &usual_routes(),
            &Event::new(EventKind::Other).set_flag(Flag::Rescan),
        );
        assert_eq!(hints(&lost), Hint::ALL);
        assert!(lost.stale.is_empty());
    }

    /// While a folder is missing, its ancestor's watch reacts only to the child on the way.
    #[test]
    fn ancestor_watch_reacts_to_the_way_down() {
        let routes = vec![
            route(
                Hint::Cache,
                "/h",
                "/h",
                Matcher::Toward(Some(".aws".into())),
            ),
            route(
                Hint::Config,
                "/h",
                "/h",
                Matcher::Toward(Some(".aws".into())),
            ),
        ];
        let got = hints(&hints_for(
            &routes,
            &ev(EventKind::Create(CreateKind::Folder), &["/h/.aws"]),
        ));
        assert_eq!(got, [Hint::Cache, Hint::Config]);
        let other = hints_for(&routes, &ev(WRITE, &["/h/.bash_history"]));
        assert!(hints(&other).is_empty());
        let any = vec![route(Hint::Cache, "/h", "/h", Matcher::Toward(None))];
        assert_eq!(
            hints(&hints_for(&any, &ev(CREATE, &["/h/x"]))),
            [Hint::Cache]
        );
    }

    /// Errors name the folder, say what to do, and say the rescan still works.
    #[test]
    fn errors_say_what_and_what_next() {
        let limit = WatchError::Dir {
            dir: PathBuf::from("/h/.aws/sso/cache"),
            reason: describe(&notify::Error::new(notify::ErrorKind::MaxFilesWatch)),
        }
        .to_string();
        assert!(limit.contains("/h/.aws/sso/cache"), "{limit}");
        assert!(limit.contains("fs.inotify.max_user_watches"), "{limit}");
        assert!(limit.contains("periodic rescan"), "{limit}");
        let io = notify::Error::io(std::io::Error::from_raw_os_error(24));
        let start = WatchError::Start {
            reason: describe(&io),
        }
        .to_string();
        assert!(start.contains("max_user_instances"), "{start}");
        assert!(start.contains("periodic rescan"), "{start}");
    }

    /// The loop may move the watcher into a task on another thread.
    #[test]
    fn watcher_is_send() {
        fn is_send<T: Send>() {}
        is_send::<Watcher>();
    }

    // ---- real folders ----

    /// How long a hint may take to arrive: a deadline, not a speed requirement.
    const DEADLINE: Duration = Duration::from_secs(5);
    /// How long with no hint counts as "no more hints".
    const QUIET: Duration = Duration::from_millis(400);

    /// A temporary HOME, a watcher on its `.aws`, and the receiving end of the hints.
    struct Rig {
        home: tempfile::TempDir,
        watcher: Watcher,
        rx: Receiver<Hint>,
        rt: tokio::runtime::Runtime,
    }

    impl Rig {
        /// Starts a watcher on a HOME that `setup` has prepared.
        fn new(setup: impl FnOnce(&Path)) -> Self {
            Self::reached_by(setup, |home| home.to_owned())
        }

        /// Starts a watcher on a HOME that `setup` has prepared, reached by the path `via`
        /// makes (e.g. through a symlink).
        fn reached_by(setup: impl FnOnce(&Path), via: impl FnOnce(&Path) -> PathBuf) -> Self {
            let home = tempfile::tempdir().expect("temp HOME");
            setup(home.path());
            let (tx, rx) = mpsc::channel(64);
            let aws = via(home.path()).join(".aws");
            let watcher = Watcher::start(
                Watched {
                    cache_dir: aws.join("sso").join("cache"),
                    login_cache_dir: aws.join("login").join("cache"),
                    config: aws.join("config"),
                    credentials: aws.join("credentials"),
                },
                tx,
            )
            .expect("watcher");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("runtime");
            let mut rig = Self {
                home,
                watcher,
                rx,
                rt,
            };
            assert_eq!(rig.watcher.rearm(), [], "no watch error");
            rig
        }

        fn aws(&self) -> PathBuf {
            self.home.path().join(".aws")
        }

        fn cache(&self) -> PathBuf {
            self.aws().join("sso").join("cache")
        }

        /// The next hint within `within`, without rearming.
        fn next(&mut self, within: Duration) -> Option<Hint> {
            let rx = &mut self.rx;
            self.rt
                .block_on(async { tokio::time::timeout(within, rx.recv()).await })
                .ok()
                .flatten()
        }

        /// The next hint (by the deadline); then rearms, as the loop does on every hint.
        fn first(&mut self) -> Hint {
            let hint = self.next(DEADLINE).expect("a hint by the deadline");
            assert_eq!(self.watcher.rearm(), [], "no watch error");
            hint
        }

        /// Waits for `want`, rearming after every hint as the loop does.
        fn wait_for(&mut self, want: Hint) {
            let end = Instant::now() + DEADLINE;
            loop {
                let left = end.saturating_duration_since(Instant::now());
                let hint = self.next(left);
                assert_eq!(self.watcher.rearm(), [], "no watch error");
                match hint {
                    Some(h) if h == want => return,
                    Some(_) => continue,
                    None => panic!("no {want:?} hint by the deadline"),
                }
            }
        }

        /// The hints that arrive until none has come for a while, rearming after each.
        fn settle(&mut self) -> Vec<Hint> {
            let end = Instant::now() + DEADLINE;
            let mut got = Vec::new();
            while let Some(h) = self.next(QUIET) {
                assert_eq!(self.watcher.rearm(), [], "no watch error");
                got.push(h);
                assert!(Instant::now() < end, "hints keep coming: {got:?}");
            }
            got
        }

        /// What is in the channel right now.
        fn drain(&mut self) -> Vec<Hint> {
            std::iter::from_fn(|| self.rx.try_recv().ok()).collect()
        }
    }

    fn usual_home(home: &Path) {
        let cache = home.join(".aws").join("sso").join("cache");
        fs::create_dir_all(&cache).expect("cache");
        fs::write(home.join(".aws").join("config"), "[default]\n").expect("config");
        fs::write(home.join(".aws").join("credentials"), "").expect("credentials");
    }

    fn append(path: &Path, text: &str) {
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(path)
            .expect("open to append");
        f.write_all(text.as_bytes()).expect("append");
    }

    /// A token written in place as the AWS CLI does (open, truncate, write) gives a Cache hint.
    #[test]
    fn token_written_in_place() {
        let mut rig = Rig::new(|home| {
            usual_home(home);
            fs::write(home.join(".aws/sso/cache/ab.json"), "{}").expect("old token");
        });
        let mut f = fs::OpenOptions::new()
            .write(true)
            .open(rig.cache().join("ab.json"))
            .expect("open");
        f.set_len(0).expect("truncate");
        f.write_all(b"{\"accessToken\":\"x\"}").expect("write");
        drop(f);
        assert_eq!(rig.first(), Hint::Cache);
    }

    /// botocore's atomic write: its `tmp*.tmp` gives no hint (a later config edit is the first
    /// hint), and the rename onto `*.json` gives a Cache hint.
    #[test]
    fn token_renamed_into_place() {
        let mut rig = Rig::new(usual_home);
        let tmp = rig.cache().join("tmpk2j3a9.tmp");
        fs::write(&tmp, "{\"accessToken\":\"x\"}").expect("temp");
        append(&rig.aws().join("config"), "# edit\n");
        assert_eq!(rig.first(), Hint::Config, "the temp file gave a hint");
        let rest = rig.settle();
        assert!(rest.iter().all(|h| *h == Hint::Config), "{rest:?}");

        fs::rename(&tmp, rig.cache().join("ab.json")).expect("rename");
        assert_eq!(rig.first(), Hint::Cache);
    }

    /// Temp files of other writers and of ssofresh, dotfiles and non-JSON names in the cache
    /// folder give no hint: written, renamed and removed, then a config edit is the first and
    /// only kind of hint.
    #[test]
    fn cache_temp_files_are_not_hints() {
        let mut rig = Rig::new(usual_home);
        let cache = rig.cache();
        for name in [
            "tmpk2j3a9.tmp",
            "ab.json.tmp-1700000000000",
            ".ab.json",
            ".ab.json.ssofresh-42-0badf00d.tmp",
            "notes.txt",
        ] {
            fs::write(cache.join(name), "{}").expect("write");
            fs::rename(cache.join(name), cache.join(format!("{name}.tmp"))).expect("rename");
            fs::remove_file(cache.join(format!("{name}.tmp"))).expect("remove");
        }
        append(&rig.aws().join("config"), "# edit\n");
        assert_eq!(rig.first(), Hint::Config, "an ignored file gave a hint");
        let rest = rig.settle();
        assert!(rest.iter().all(|h| *h == Hint::Config), "{rest:?}");
    }

    /// ssofresh's own lock, instance-lock and temp files beside the config and credentials,
    /// and other names there, give no hint: a token written afterwards is the first and only
    /// kind of hint.
    #[test]
    fn own_files_beside_config_and_credentials_are_not_hints() {
        let mut rig = Rig::new(usual_home);
        let aws = rig.aws();
        let credentials = aws.join("credentials");
        crate::files::fsio::with_write_lock(&credentials, || {
            Ok::<_, crate::files::fsio::FsError>(())
        })
        .expect("write lock");
        crate::files::fsio::with_write_lock(&aws.join("config"), || {
            Ok::<_, crate::files::fsio::FsError>(())
        })
        .expect("write lock");
        fs::write(aws.join(".credentials.ssofresh.pid"), "42\n").expect("pid");
        let tmp = aws.join(".credentials.ssofresh-42-0badf00d.tmp");
        fs::write(&tmp, "[p]\n").expect("temp");
        fs::remove_file(&tmp).expect("remove temp");
        fs::write(aws.join("config.bak"), "x").expect("backup");
        fs::write(aws.join("credentials~"), "x").expect("backup");
        fs::write(rig.cache().join("ab.json"), "{}").expect("token");
        assert_eq!(rig.first(), Hint::Cache, "an ignored file gave a hint");
        let rest = rig.settle();
        assert!(rest.iter().all(|h| *h == Hint::Cache), "{rest:?}");
    }

    /// With no `~/.aws` at all, creating `~/.aws/sso/cache/x.json` gives a Cache hint, and the
    /// watch then sits on the cache folder itself: a second token there is hinted too (the
    /// ancestor watches would not see it).
    #[test]
    fn cache_folder_created_later() {
        let mut rig = Rig::new(|_| {});
        assert_eq!(rig.watcher.watched_dirs(), [rig.home.path().to_owned()]);
        fs::create_dir_all(rig.cache()).expect("mkdir -p");
        fs::write(rig.cache().join("x.json"), "{}").expect("token");
        rig.wait_for(Hint::Cache);
        rig.settle();
        assert!(
            rig.watcher.watched_dirs().contains(&rig.cache()),
            "{:?}",
            rig.watcher.watched_dirs()
        );
        fs::write(rig.cache().join("y.json"), "{}").expect("token");
        rig.wait_for(Hint::Cache);
    }

    /// A folder that appears with files already in it: `rearm` itself sends the hint once the
    /// watch has moved down, and a second `rearm` with nothing changed sends none.
    #[test]
    fn rearm_hints_after_moving_down() {
        let mut rig = Rig::new(|_| {});
        // Built elsewhere, then moved into HOME in one step, token and all.
        let staging = tempfile::tempdir_in(rig.home.path()).expect("staging");
        usual_home(staging.path());
        fs::write(staging.path().join(".aws/sso/cache/x.json"), "{}").expect("token");
        fs::rename(staging.path().join(".aws"), rig.aws()).expect("move in");
        // The ancestor's hints arrive; the loop would scan now, before rearming.
        assert!(rig.next(DEADLINE).is_some(), "the ancestor saw .aws appear");
        while rig.next(QUIET).is_some() {}
        assert!(!rig.watcher.watched_dirs().contains(&rig.cache()));

        assert_eq!(rig.watcher.rearm(), []);
        let sent = rig.drain();
        assert!(sent.contains(&Hint::Cache), "{sent:?}");
        assert!(rig.watcher.watched_dirs().contains(&rig.cache()));
        assert!(rig.watcher.watched_dirs().contains(&rig.aws()));

        assert_eq!(rig.watcher.rearm(), []);
        assert_eq!(rig.drain(), [], "a rearm with nothing changed sent hints");
    }

    /// The cache folder deleted (a Cache hint), then re-created with a token (a Cache hint),
    /// and hints keep coming from the new folder.
    #[test]
    fn cache_folder_deleted_and_recreated() {
        let mut rig = Rig::new(|home| {
            usual_home(home);
            fs::write(home.join(".aws/sso/cache/ab.json"), "{}").expect("token");
        });
        fs::remove_dir_all(rig.cache()).expect("rm -r");
        rig.wait_for(Hint::Cache);
        rig.settle();
        assert!(!rig.watcher.watched_dirs().contains(&rig.cache()));

        fs::create_dir(rig.cache()).expect("mkdir");
        fs::write(rig.cache().join("cd.json"), "{}").expect("token");
        rig.wait_for(Hint::Cache);
        rig.settle();
        fs::write(rig.cache().join("ef.json"), "{}").expect("token");
        rig.wait_for(Hint::Cache);
    }

    /// The cache folder deleted and re-created at once (before any rearm, possibly with the
    /// same inode number): the watch follows to the new folder.
    #[test]
    fn cache_folder_replaced_at_once() {
        let mut rig = Rig::new(usual_home);
        fs::remove_dir(rig.cache()).expect("rmdir");
        fs::create_dir(rig.cache()).expect("mkdir");
        rig.wait_for(Hint::Cache);
        rig.settle();
        fs::write(rig.cache().join("ab.json"), "{}").expect("token");
        rig.wait_for(Hint::Cache);
    }

    /// The config replaced by renaming a new file over it (as editors do) gives a Config hint.
    #[test]
    fn config_replaced_by_rename() {
        let mut rig = Rig::new(usual_home);
        let tmp = rig.aws().join("config.new");
        fs::write(&tmp, "[profile p]\n").expect("new config");
        fs::rename(&tmp, rig.aws().join("config")).expect("rename");
        assert_eq!(rig.first(), Hint::Config);
    }

    /// The credentials file edited in place gives a Credentials hint.
    #[test]
    fn credentials_edited() {
        let mut rig = Rig::new(usual_home);
        append(&rig.aws().join("credentials"), "[p]\n");
        assert_eq!(rig.first(), Hint::Credentials);
    }

    /// A config that does not exist yet, in a folder that does not exist yet, is hinted when
    /// it appears.
    #[test]
    fn config_folder_created_later() {
        let mut rig = Rig::new(|_| {});
        fs::create_dir(rig.aws()).expect("mkdir");
        rig.settle();
        fs::write(rig.aws().join("config"), "[default]\n").expect("config");
        rig.wait_for(Hint::Config);
    }

    /// A symlinked credentials file (dotfile managers): an edit of the link's target, in
    /// another folder, gives a Credentials hint.
    #[test]
    fn symlinked_credentials_target_edited() {
        let mut rig = Rig::new(|home| {
            usual_home(home);
            let dotfiles = home.join("dotfiles");
            fs::create_dir(&dotfiles).expect("dotfiles");
            fs::write(dotfiles.join("credentials"), "").expect("target");
            let link = home.join(".aws").join("credentials");
            fs::remove_file(&link).expect("rm");
            std::os::unix::fs::symlink(dotfiles.join("credentials"), &link).expect("symlink");
        });
        append(
            &rig.home.path().join("dotfiles").join("credentials"),
            "[p]\n",
        );
        assert_eq!(rig.first(), Hint::Credentials);
    }

    /// The cache folder's ancestor, the config's folder and the credentials' folder are one
    /// folder here: it gets one watch, which serves all three.
    #[test]
    fn one_watch_per_folder() {
        let mut rig = Rig::new(|home| {
            fs::create_dir(home.join(".aws")).expect("mkdir");
        });
        assert_eq!(rig.watcher.watched_dirs(), [rig.aws()]);
        fs::write(rig.aws().join("credentials"), "").expect("credentials");
        assert_eq!(rig.first(), Hint::Credentials);
    }

    /// HOME reached through a symlink, and the credentials a symlink to a file beside it: the
    /// link's folder and its target's folder are one folder under two paths, so one watch
    /// serves both, and an edit of the target is a Credentials hint.
    #[test]
    fn one_watch_for_a_folder_under_two_paths() {
        let mut rig = Rig::reached_by(
            |home| {
                let aws = home.join(".aws");
                fs::create_dir(&aws).expect("mkdir");
                fs::write(aws.join("credentials.real"), "").expect("target");
                std::os::unix::fs::symlink("credentials.real", aws.join("credentials"))
                    .expect("symlink");
                std::os::unix::fs::symlink(home, home.join("link")).expect("link to HOME");
            },
            |home| home.join("link"),
        );
        assert_eq!(
            rig.watcher.watched_dirs().len(),
            1,
            "{:?}",
            rig.watcher.watched_dirs()
        );
        append(&rig.aws().join("credentials.real"), "[p]\n");
        assert_eq!(rig.first(), Hint::Credentials);
    }
}

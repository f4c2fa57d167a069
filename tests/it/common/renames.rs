//! [`Replacements`]: counts how often a file is replaced on disk (a new file renamed or linked
//! onto its name), as the kernel reports it through `notify` (inotify on Linux): the count of
//! writes another program watching the file would see.

use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use notify::event::{ModifyKind, RenameMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};

/// How long no new event must arrive before [`Replacements::settled`] trusts its count.
const QUIET: Duration = Duration::from_millis(500);

/// Counts the files that appear under one name in its folder from the moment it is made.
pub struct Replacements {
    _watcher: RecommendedWatcher,
    count: Arc<AtomicUsize>,
}

impl Replacements {
    /// Starts counting the files renamed, linked or created onto `path`'s name.
    #[track_caller]
    pub fn watch(path: &Path) -> Replacements {
        let dir = path.parent().expect("a file in a folder").to_owned();
        let name: OsString = path.file_name().expect("a file name").to_owned();
        let count = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&count);
        let mut watcher =
            notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
                let Ok(event) = event else { return };
                let arrives = matches!(
                    event.kind,
                    EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(RenameMode::To))
                );
                if arrives && event.paths.iter().any(|p| p.file_name() == Some(&name)) {
                    seen.fetch_add(1, Ordering::SeqCst);
                }
            })
            .expect("a file watcher");
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .unwrap_or_else(|e| panic!("watch {}: {e}", dir.display()));
        Replacements {
            _watcher: watcher,
            count,
        }
    }

    /// The count so far (events may still be on their way).
    pub fn now(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// The count once no event arrived for [`QUIET`] (at most 10 s of waiting).
    pub fn settled(&self) -> usize {
        let start = Instant::now();
        let mut last = self.now();
        loop {
            thread::sleep(QUIET);
            let now = self.now();
            if now == last || start.elapsed() > Duration::from_secs(10) {
                return now;
            }
            last = now;
        }
    }
}

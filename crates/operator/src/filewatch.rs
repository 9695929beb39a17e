//! The `dev` file watch: polls the module directories and reports edits.
//!
//! Polling a fingerprint (path, size, mtime) every 300 ms is enough for a module tree of a few
//! hundred files, needs no inotify limits and behaves the same on every filesystem (editors that
//! replace files by rename included).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::shared::{Event, Shared};

/// Path → (size, mtime) of every file below some directories.
pub type Fingerprint = BTreeMap<PathBuf, (u64, Option<SystemTime>)>;

/// Spawns the poller; it sends [`Event::FilesChanged`] after an edit settles.
pub fn spawn(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let dirs = shared.modules().set.dirs.clone();
    tokio::spawn(async move {
        let mut last = fingerprint(&dirs);
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(300)) => {}
                _ = shutdown.changed() => return,
            }
            let now = fingerprint(&dirs);
            if now != last {
                last = now;
                shared.send(Event::FilesChanged);
            }
        }
    });
}

/// The fingerprint of every file below `dirs` (missing dirs contribute nothing).
pub fn fingerprint(dirs: &[PathBuf]) -> Fingerprint {
    let mut files = Fingerprint::new();
    for dir in dirs {
        walk(dir, &mut files, 0);
    }
    files
}

fn walk(dir: &Path, files: &mut Fingerprint, depth: usize) {
    if depth > 16 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            walk(&path, files, depth + 1);
        } else {
            files.insert(path, (meta.len(), meta.modified().ok()));
        }
    }
}

//! The `dev` file watch: polls the module directories and reports edits.
//!
//! It starts before the first convergence, from a fingerprint taken before the modules were
//! loaded ([`fingerprint`] of the module directories), so an edit made while the operator
//! starts is not lost: it is reported as soon as the loop runs.
//!
//! An edit under a module's `hooks/` also ends the backoff of that module's failed hook tasks
//! at once ([`hooks::HookEngine::retry_now`]), without waiting for the loop, which may itself
//! be waiting for that hook's Synchronization.
//!
//! Polling a fingerprint (path, size, mtime) every 300 ms is enough for a module tree of a few
//! hundred files, needs no inotify limits and behaves the same on every filesystem (editors that
//! replace files by rename included).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hooks::{HookEngine, HookSet};
use tokio::sync::watch;

use crate::shared::{Event, Shared};

/// Path → (size, mtime) of every file below some directories.
pub type Fingerprint = BTreeMap<PathBuf, (u64, Option<SystemTime>)>;

/// Spawns the poller of `dirs`, comparing with `baseline` first; it sends
/// [`Event::FilesChanged`] after each edit.
pub fn spawn(
    shared: Arc<Shared>,
    hooks: Arc<HookEngine>,
    dirs: Vec<PathBuf>,
    baseline: Fingerprint,
    mut shutdown: watch::Receiver<bool>,
) {
    tokio::spawn(async move {
        let mut last = baseline;
        loop {
            let now = fingerprint(&dirs);
            if now != last {
                retry_edited_hooks(&shared, &hooks, &last, &now);
                last = now;
                shared.send(Event::FilesChanged);
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(300)) => {}
                _ = shutdown.changed() => return,
            }
        }
    });
}

/// Ends the backoff of the failed hook tasks of every module with a file changed between
/// `before` and `after` under its `hooks/`.
fn retry_edited_hooks(
    shared: &Shared,
    hooks: &HookEngine,
    before: &Fingerprint,
    after: &Fingerprint,
) {
    let changed: Vec<&PathBuf> = before
        .iter()
        .filter(|(path, meta)| after.get(*path) != Some(*meta))
        .map(|(path, _)| path)
        .chain(after.keys().filter(|path| !before.contains_key(*path)))
        .collect();
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let edited: Vec<String> = shared
        .modules()
        .set
        .modules()
        .iter()
        .filter(|m| {
            m.hooks_dir.as_deref().is_some_and(|dir| {
                let dir = absolute(dir);
                changed.iter().any(|path| absolute(path).starts_with(&dir))
            })
        })
        .map(|m| m.name.clone())
        .collect();
    for name in edited {
        tracing::info!(module = %name, "module hooks edited: their failed runs are retried now");
        hooks.retry_now(&HookSet::Module(name));
    }
}

/// Every module's `hooks/` directory, absolute (hooks run in their own directory, so they are
/// started by absolute path).
pub fn module_hook_dirs(shared: &Shared) -> Vec<(String, PathBuf)> {
    let modules = shared.modules();
    modules
        .set
        .modules()
        .iter()
        .filter_map(|m| {
            m.hooks_dir
                .as_deref()
                .map(|d| (m.name.clone(), crate::runner::absolute(d)))
        })
        .collect()
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

//! Helpers the crate's process tests share: hook scripts and process states.

use std::path::{Path, PathBuf};

/// An executable bash script `hook.sh` in `dir` running `body`.
pub(crate) fn script(dir: &Path, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join("hook.sh");
    std::fs::write(&p, format!("#!/bin/bash\n{body}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// A hook in `dir` that leaves a background `sleep` in its group and sleeps itself, writing
/// both pids (the background one first) to the returned file: the script and that file.
pub(crate) fn sleeper_script(dir: &Path) -> (PathBuf, PathBuf) {
    let pids = dir.join("pids");
    let hook = script(
        dir,
        &format!(
            "sleep 300 & echo $! >> {0}; echo $$ >> {0}; sleep 300",
            pids.display()
        ),
    );
    (hook, pids)
}

/// Process `pid` exists and is not a zombie.
pub(crate) fn running(pid: &str) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty() && !stat.split(") ").nth(1).is_some_and(|s| s.starts_with('Z'))
}

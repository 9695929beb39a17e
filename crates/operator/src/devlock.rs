//! One `addon-operator dev` per directory: `dev.json` beside its debug socket (by default
//! `.addon-operator/dev.json`) names the running one (pid, API server, HTTP endpoint, debug
//! socket), so a second `dev` or `dev --once` says which process holds the directory instead of
//! overwriting its kubeconfig and sharing its state file.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// What `dev.json` says about the running `dev`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DevInfo {
    /// Process id.
    pub pid: u32,
    /// URL of the embedded API server (empty while it starts).
    #[serde(default)]
    pub api_server: String,
    /// The kubeconfig written for it.
    #[serde(default)]
    pub kubeconfig: String,
    /// `http://address:port` of `/metrics`, `/healthz` and `/readyz` (empty for `--once`).
    #[serde(default)]
    pub http: String,
    /// The debug socket the client commands ask (empty for `--once`).
    #[serde(default)]
    pub debug_socket: String,
}

/// The held `dev.json`; removed when dropped.
#[derive(Debug)]
pub struct DevLock {
    path: PathBuf,
    info: DevInfo,
}

impl DevLock {
    /// Creates `path` for this process. A file left by a process that is gone is replaced.
    ///
    /// # Errors
    /// Another live `addon-operator` process holds `path` (the message names it), or the file
    /// cannot be written.
    pub fn acquire(path: &Path) -> anyhow::Result<DevLock> {
        let info = DevInfo {
            pid: std::process::id(),
            ..DevInfo::default()
        };
        for _ in 0..3 {
            match OpenOptions::new().write(true).create_new(true).open(path) {
                Ok(mut file) => {
                    let text = serde_json::to_string_pretty(&info)?;
                    file.write_all(text.as_bytes())
                        .with_context(|| format!("writing {}", path.display()))?;
                    return Ok(DevLock {
                        path: path.to_path_buf(),
                        info,
                    });
                }
                Err(err) if err.kind() == ErrorKind::AlreadyExists => {
                    if let Some(holder) = running_dev(path) {
                        bail!("{}", describe_holder(path, &holder));
                    }
                    // Left by a process that is gone (or half written): take it over.
                    match std::fs::remove_file(path) {
                        Ok(()) => {}
                        Err(err) if err.kind() == ErrorKind::NotFound => {}
                        Err(err) => {
                            return Err(err)
                                .with_context(|| format!("removing the stale {}", path.display()));
                        }
                    }
                }
                Err(err) => {
                    return Err(err).with_context(|| format!("creating {}", path.display()));
                }
            }
        }
        bail!(
            "{} keeps reappearing: another addon-operator dev is starting in this directory",
            path.display()
        )
    }

    /// Records what the client commands and a second `dev` should know.
    ///
    /// # Errors
    /// The file cannot be written.
    pub fn update(&mut self, change: impl FnOnce(&mut DevInfo)) -> anyhow::Result<()> {
        change(&mut self.info);
        let text = serde_json::to_string_pretty(&self.info)?;
        std::fs::write(&self.path, text).with_context(|| format!("writing {}", self.path.display()))
    }
}

impl Drop for DevLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// What `path` says about the `dev` that holds it, if that process still runs.
pub fn running_dev(path: &Path) -> Option<DevInfo> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str::<DevInfo>(&text)
        .ok()
        .filter(|holder| is_running_operator(holder.pid))
}

/// The error a second `dev` prints: who holds the directory, where it serves, what to do.
fn describe_holder(path: &Path, holder: &DevInfo) -> String {
    let mut parts = vec![format!("pid {}", holder.pid)];
    if !holder.api_server.is_empty() {
        parts.push(format!("API server {}", holder.api_server));
    }
    if !holder.http.is_empty() {
        parts.push(format!("{}/metrics", holder.http));
    }
    if !holder.debug_socket.is_empty() {
        parts.push(format!("debug socket {}", holder.debug_socket));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let kubectl = if holder.kubeconfig.is_empty() {
        String::new()
    } else {
        format!(
            "; `export KUBECONFIG={}` points kubectl at it",
            holder.kubeconfig
        )
    };
    format!(
        "another addon-operator dev is using {}/ ({}): use that one (`addon-operator module \
         list` in this directory asks it{kubectl}), stop it first, or start this one in another \
         directory",
        dir.display(),
        parts.join(", "),
    )
}

/// Whether `pid` is a live `addon-operator` process (not a recycled pid of something else).
fn is_running_operator(pid: u32) -> bool {
    if pid == std::process::id() {
        return false;
    }
    let proc = Path::new("/proc");
    if !proc.is_dir() {
        // No procfs: trust the file, the message says how to remove it.
        return true;
    }
    let Ok(exe) = std::fs::read_link(proc.join(pid.to_string()).join("exe")) else {
        return false;
    };
    exe.file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with("addon-operator"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_left_by_a_process_that_is_gone_is_taken_over_and_removed_on_drop() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("dev.json");
        // pid 0 is never a user process.
        std::fs::write(&path, r#"{"pid":0,"apiServer":"https://127.0.0.1:1"}"#).expect("write");
        let lock = DevLock::acquire(&path).expect("a stale lock is taken over");
        let info: DevInfo =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("json");
        assert_eq!(info.pid, std::process::id());
        drop(lock);
        assert!(!path.exists(), "dropping the lock removes dev.json");
    }

    #[test]
    fn the_holder_is_described_with_its_pid_and_addresses() {
        let holder = DevInfo {
            pid: 42,
            api_server: "https://127.0.0.1:40000".into(),
            kubeconfig: ".addon-operator/kubeconfig".into(),
            http: "http://127.0.0.1:40001".into(),
            debug_socket: ".addon-operator/debug.socket".into(),
        };
        let text = describe_holder(Path::new(".addon-operator/dev.json"), &holder);
        for part in [
            "pid 42",
            "API server https://127.0.0.1:40000",
            "http://127.0.0.1:40001/metrics",
            "export KUBECONFIG=.addon-operator/kubeconfig",
        ] {
            assert!(text.contains(part), "{part:?} missing from: {text}");
        }
    }
}

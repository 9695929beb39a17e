//! Running hook processes: process groups, timeouts, line-by-line logging, resource usage.
//!
//! # Guarantees
//! - The process runs in its own process group; on timeout the whole group gets `SIGKILL`, and
//!   after a normal exit any process the hook left running in its group is killed too, so no hook
//!   outlives its run. A run whose future is dropped (engine shutdown) kills the group as well.
//!   The group is signalled only before the leader is reaped, so a recycled pid is never hit.
//! - stdout and stderr are read concurrently, line by line, so a noisy hook cannot deadlock on a
//!   full pipe; each line is logged with the hook, binding and queue: the head and tail of
//!   each stream at `info`, the rest at `debug` ([`crate::output_log`]).
//! - A run needs no thread of its own: the pipes and the hook's exit (a pidfd) are awaited on
//!   the runtime; only kernels without pidfd (before Linux 5.3) get a thread blocked in
//!   `waitid` per running hook.
//! - CPU time and max RSS come from `wait4(2)` on the hook process (children it waited for are
//!   included, as in `getrusage(RUSAGE_CHILDREN)`). Started through the launcher
//!   ([`crate::launcher`], [`LaunchVia`]), the figures are the hook's own; started directly,
//!   max RSS is at least the operator's (what the child inherited before `exec`).
//! - Hooks are spawned without a `pre_exec` closure (the group is set with
//!   `CommandExt::process_group`), so std uses `posix_spawn`: no copy of the operator's
//!   address space is made for each hook.

mod supervise;

use crate::launcher::{self, Report};
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::Pid;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use supervise::{ExitWatch, Stream, Supervised, supervise};
use wait4::Wait4;

/// Lines of stderr kept for the error message of a failed run.
const STDERR_TAIL_LINES: usize = 20;
/// Bytes of one stderr line kept for the error message (its start).
const STDERR_LINE_BYTES: usize = 1024;

/// Errors starting or waiting for a hook process.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The executable could not be started.
    #[error("hook {hook}: cannot start {}", .path.display())]
    Spawn {
        /// Hook name.
        hook: String,
        /// Executable.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for the process failed.
    #[error("hook {hook}: cannot wait for the process")]
    Wait {
        /// Hook name.
        hook: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The process exited non-zero (or by a signal).
    #[error("hook {hook} failed: {status}{}", tail(.stderr_tail))]
    Failed {
        /// Hook name.
        hook: String,
        /// Exit status.
        status: ExitStatus,
        /// The last lines the hook wrote to stderr.
        stderr_tail: Vec<String>,
    },
    /// The run exceeded its timeout and its process group was killed.
    #[error("hook {hook} timed out after {timeout:?}; its process group was killed{}", tail(.stderr_tail))]
    Timeout {
        /// Hook name.
        hook: String,
        /// The timeout.
        timeout: Duration,
        /// The last lines the hook wrote to stderr.
        stderr_tail: Vec<String>,
    },
}

fn tail(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!("; stderr:\n{}", lines.join("\n"))
    }
}

/// Resources one run used.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// Wall-clock time from spawn to exit.
    pub wall: Duration,
    /// User CPU time.
    pub user_cpu: Duration,
    /// System CPU time.
    pub sys_cpu: Duration,
    /// Maximum resident set size in bytes.
    pub max_rss_bytes: u64,
}

/// Run the process through the launcher `launcher` (a binary that answers
/// [`launcher::LAUNCH_ARG`]), its report file in `report_dir`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LaunchVia<'a> {
    pub launcher: &'a Path,
    pub report_dir: &'a Path,
}

/// What to run.
#[derive(Debug)]
pub(crate) struct ProcessSpec<'a> {
    pub program: &'a Path,
    pub args: &'a [&'a str],
    pub env: Vec<(&'static str, OsString)>,
    pub cwd: &'a Path,
    pub timeout: Duration,
    /// The hook's name, for errors (its output is logged in the caller's span).
    pub hook: &'a str,
    /// Capture stdout instead of logging it (`--config`).
    pub capture_stdout: bool,
    /// Start it through the launcher, for its own resource usage.
    pub launch: Option<LaunchVia<'a>>,
}

/// A finished process.
#[derive(Debug)]
pub(crate) struct ProcessOutcome {
    pub stdout: String,
    pub usage: Usage,
    /// When the process was spawned (for dispatch-latency measurements).
    pub spawned_at: Instant,
}

/// Runs a process to completion; non-zero exit and timeout are errors carrying the stderr tail.
pub(crate) async fn run_process(spec: ProcessSpec<'_>) -> Result<ProcessOutcome, ExecError> {
    let hook = spec.hook.to_string();
    // The launcher's report; without a writable report file the hook starts directly.
    let report = spec.launch.and_then(|via| {
        tempfile::Builder::new()
            .prefix(".hook-usage-")
            .tempfile_in(via.report_dir)
            .map_err(|e| tracing::debug!(error = %e, "no launcher report file; starting the hook directly"))
            .ok()
            .map(|file| (via.launcher, file))
    });
    let mut cmd = match &report {
        Some((via, file)) => launcher::command(via, file.path(), spec.program),
        None => std::process::Command::new(spec.program),
    };
    cmd.args(spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(spec.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let spawned_at = Instant::now();
    let mut child = spawn(&mut cmd).await.map_err(|source| ExecError::Spawn {
        hook: hook.clone(),
        path: spec.program.to_path_buf(),
        source,
    })?;
    let leader = Arc::new(Leader {
        pgid: Pid::from_raw(child.id() as i32),
        reaped: Mutex::new(false),
    });
    // Dropping this future (engine shutdown) kills the group too.
    let _guard = KillOnDrop(leader.clone());
    let out = child
        .stdout
        .take()
        .and_then(|out| Stream::new(out, "stdout", spec.capture_stdout));
    let err = child
        .stderr
        .take()
        .and_then(|err| Stream::new(err, "stderr", false));
    let exit = ExitWatch::new(&leader);
    let (supervised, timed_out) = supervise(&leader, child, exit, [out, err], spec.timeout).await;
    let wall = spawned_at.elapsed();
    let Supervised {
        waited,
        stdout,
        stderr_tail,
    } = supervised;
    let res = waited.map_err(|source| ExecError::Wait {
        hook: hook.clone(),
        source,
    })?;
    let (status, usage) = match report
        .as_ref()
        .and_then(|(_, file)| launcher::read_report(file.path()))
    {
        Some(Report::SpawnFailed(source)) if !timed_out => {
            return Err(ExecError::Spawn {
                hook,
                path: spec.program.to_path_buf(),
                source,
            });
        }
        Some(Report::Exited {
            status,
            user_cpu,
            sys_cpu,
            max_rss_bytes,
        }) => (
            status,
            Usage {
                wall,
                user_cpu,
                sys_cpu,
                max_rss_bytes,
            },
        ),
        _ => (
            res.status,
            Usage {
                wall,
                user_cpu: res.rusage.utime,
                sys_cpu: res.rusage.stime,
                max_rss_bytes: res.rusage.maxrss,
            },
        ),
    };
    if timed_out {
        return Err(ExecError::Timeout {
            hook,
            timeout: spec.timeout,
            stderr_tail,
        });
    }
    if !status.success() {
        return Err(ExecError::Failed {
            hook,
            status,
            stderr_tail,
        });
    }
    Ok(ProcessOutcome {
        stdout,
        usage,
        spawned_at,
    })
}

/// The hook process, leader of its own process group.
///
/// The group is only signalled while the leader is not reaped: an exited but unreaped leader
/// (a zombie) keeps its pid — and so the group id — reserved, so `killpg` can never hit an
/// unrelated group that reused the number.
struct Leader {
    pgid: Pid,
    reaped: Mutex<bool>,
}

impl Leader {
    /// Blocking: returns once the leader has exited (it is not reaped: its pid stays
    /// reserved).
    fn wait_exit(&self) {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT;
        while let Err(nix::errno::Errno::EINTR) = waitid(Id::Pid(self.pgid), flags) {}
    }

    /// `SIGKILL` to the whole group, unless the leader was already reaped.
    fn kill_group(&self) {
        let reaped = lock(&self.reaped);
        if !*reaped {
            let _ = killpg(self.pgid, Signal::SIGKILL);
        }
    }

    /// Blocking: waits for the leader to exit, kills whatever it left running in its group
    /// (which also releases our pipes), then reaps it with `wait4` for its resource usage.
    fn wait(&self, child: &mut std::process::Child) -> std::io::Result<wait4::ResUse> {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT;
        loop {
            match waitid(Id::Pid(self.pgid), flags) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(std::io::Error::from(e)),
                Ok(_) => break,
            }
        }
        let mut reaped = lock(&self.reaped);
        let _ = killpg(self.pgid, Signal::SIGKILL);
        let res = child.wait4();
        *reaped = true;
        res
    }
}

/// Kills the process group when a run is abandoned (its future dropped).
struct KillOnDrop(Arc<Leader>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.kill_group();
    }
}

/// Spawns, retrying briefly on `ETXTBSY`: a script written just before (a freshly installed
/// hook) can still be open for writing in a child forked concurrently by another thread.
async fn spawn(cmd: &mut std::process::Command) -> std::io::Result<std::process::Child> {
    let mut attempt = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(nix::libc::ETXTBSY) && attempt < 10 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(10 * attempt)).await;
            }
            other => return other,
        }
    }
}

/// Poisoning only happens if a reader panicked mid-push; the data is still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, body: &str) -> PathBuf {
        let p = dir.join("hook.sh");
        std::fs::write(&p, format!("#!/bin/bash\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    fn spec<'a>(p: &'a Path, dir: &'a Path, timeout: Duration) -> ProcessSpec<'a> {
        ProcessSpec {
            program: p,
            args: &[],
            env: vec![("X", "42".into())],
            cwd: dir,
            timeout,
            hook: "hook.sh",
            capture_stdout: true,
            launch: None,
        }
    }

    #[tokio::test]
    async fn stdout_env_and_working_dir_reach_the_hook() {
        let dir = tempfile::tempdir().unwrap();
        let p = script(
            dir.path(),
            "echo $X; pwd; head -c 2000000 /dev/zero | tail -c 1 >/dev/null",
        );
        let out = run_process(spec(&p, dir.path(), Duration::from_secs(10)))
            .await
            .unwrap();
        let canon = dir.path().canonicalize().unwrap();
        assert_eq!(out.stdout, format!("42\n{}\n", canon.display()));
        assert!(out.usage.max_rss_bytes > 0);
    }

    fn running(pid: &str) -> bool {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        !stat.is_empty() && !stat.split(") ").nth(1).is_some_and(|s| s.starts_with('Z'))
    }

    #[tokio::test]
    async fn an_abandoned_run_kills_its_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let p = script(
            dir.path(),
            &format!(
                "sleep 300 & echo $! >> {0}; echo $$ >> {0}; sleep 300",
                pids.display()
            ),
        );
        let run = run_process(spec(&p, dir.path(), Duration::from_secs(60)));
        let both_started = async {
            while std::fs::read_to_string(&pids).map_or(0, |s| s.lines().count()) < 2 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        // The run is dropped (abandoned) as soon as the hook and its child are running.
        tokio::select! {
            _ = run => panic!("the run ended by itself"),
            () = both_started => {}
            () = tokio::time::sleep(Duration::from_secs(30)) => panic!("the hook did not start"),
        }
        let pids = std::fs::read_to_string(&pids).unwrap();
        let pids: Vec<&str> = pids.lines().collect();
        assert_eq!(pids.len(), 2);
        for _ in 0..1500 {
            if pids.iter().all(|p| !running(p)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("hook processes {pids:?} still running after 30 s");
    }

    #[tokio::test]
    async fn invalid_utf8_output_is_logged_lossily_and_does_not_block_the_hook() {
        let dir = tempfile::tempdir().unwrap();
        // 1 MiB of invalid UTF-8 (more than a pipe buffer) followed by a marker line.
        let p = script(
            dir.path(),
            "head -c 1048576 /dev/zero | tr '\\0' '\\377'; echo; echo done",
        );
        let out = run_process(spec(&p, dir.path(), Duration::from_secs(20)))
            .await
            .unwrap();
        assert!(
            out.stdout.ends_with("\ndone\n"),
            "{}",
            &out.stdout[out.stdout.len() - 20..]
        );
    }

    #[tokio::test]
    async fn failures_carry_the_stderr_tail() {
        let dir = tempfile::tempdir().unwrap();
        let p = script(
            dir.path(),
            "for i in $(seq 1 30); do echo line$i >&2; done; exit 3",
        );
        let err = run_process(spec(&p, dir.path(), Duration::from_secs(10)))
            .await
            .unwrap_err();
        let ExecError::Failed {
            stderr_tail,
            status,
            ..
        } = &err
        else {
            panic!("{err}")
        };
        assert_eq!(status.code(), Some(3));
        assert_eq!(stderr_tail.len(), STDERR_TAIL_LINES);
        assert_eq!(stderr_tail.last().map(String::as_str), Some("line30"));
        assert!(err.to_string().contains("line30"));
    }
}

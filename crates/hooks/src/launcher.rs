//! The hook launcher: a fresh, small process that starts the hook and reports what the hook
//! alone used, so `…_hook_run_max_rss_bytes` is the hook's own.
//!
//! # Why
//! Linux records, when a process calls `execve`, the peak RSS of the address space it leaves
//! in the `ru_maxrss` that `wait4` later reports, and a child starts in a copy of its
//! parent's address space (`fork`), or in the parent's itself (`vfork`, `posix_spawn`). So a
//! hook started by the operator reports at least the operator's own RSS: a trivial bash hook
//! showed ~33 MB. Spawning without a `pre_exec` closure does not help (`posix_spawn` is a
//! `vfork`: the child execs from the parent's own address space). The launcher is a small
//! binary (the operator ships `addon-operator-hook-launcher`, whose `main` is
//! [`launch_if_asked`]) executed afresh for each run: it holds ~3 MB when it starts the hook,
//! waits for it with `wait4`, writes the hook's exit status and resource usage to a report
//! file and exits. The engine reads the report.
//!
//! # Guarantees
//! - The launcher is in the hook's process group (it inherits the group the engine created),
//!   so a timeout's `killpg` stops both; stdin, stdout, stderr, the environment and the working
//!   directory pass to the hook unchanged.
//! - Without a report (the launcher was killed), the engine falls back to `wait4` on the
//!   launcher, whose figures include the hook's.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, ExitCode, ExitStatus};
use std::time::Duration;
use wait4::Wait4;

/// The first argument that makes a binary calling [`launch_if_asked`] act as the launcher:
/// `<binary> __hook-launch <report file> <program> [args...]`.
pub const LAUNCH_ARG: &str = "__hook-launch";

/// Runs the launcher when the process was started as one (its first argument is
/// [`LAUNCH_ARG`]) and returns its exit code; `None` otherwise. What the process holds when it
/// starts the hook counts in the hook's figure: call it first thing in a small binary's `main`.
pub fn launch_if_asked() -> Option<ExitCode> {
    let mut args = std::env::args_os().skip(1);
    if args.next()? != LAUNCH_ARG {
        return None;
    }
    Some(launch(args.collect()))
}

/// The launcher binary `name` in the directory of the running executable, if it is there
/// (the operator image ships `addon-operator-hook-launcher` next to `addon-operator`).
pub fn launcher_beside_current_exe(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::current_exe().ok()?.with_file_name(name);
    path.is_file().then_some(path)
}

/// What the hook did, as the launcher saw it.
#[derive(Debug)]
pub(crate) enum Report {
    /// It ran: its exit status and resource usage.
    Exited {
        status: ExitStatus,
        user_cpu: Duration,
        sys_cpu: Duration,
        max_rss_bytes: u64,
    },
    /// It could not be started: the OS error.
    SpawnFailed(std::io::Error),
}

/// The exit code of a launcher whose hook could not start (as a shell's "command not found").
const SPAWN_FAILED: u8 = 127;

fn launch(args: Vec<OsString>) -> ExitCode {
    let [report, program, rest @ ..] = args.as_slice() else {
        eprintln!("usage: {LAUNCH_ARG} REPORT PROGRAM [ARGS...]");
        return ExitCode::from(2);
    };
    let ran = spawn(program, rest).and_then(|mut child| child.wait4());
    let (text, code) = match &ran {
        Ok(r) => {
            let code = match (r.status.code(), r.status.signal()) {
                (Some(c), _) => c,
                (None, Some(s)) => 128 + s,
                (None, None) => 1,
            };
            (
                format!(
                    "exited {} {} {} {}\n",
                    r.status.into_raw(),
                    r.rusage.utime.as_micros(),
                    r.rusage.stime.as_micros(),
                    r.rusage.maxrss
                ),
                u8::try_from(code).unwrap_or(1),
            )
        }
        Err(e) => (
            format!("spawn-failed {}\n", e.raw_os_error().unwrap_or(0)),
            SPAWN_FAILED,
        ),
    };
    // Without a report the engine falls back to the launcher's own figures.
    let _ = std::fs::write(report, text);
    ExitCode::from(code)
}

/// Starts `program`, retrying briefly on `ETXTBSY` (a hook written just before can still be
/// open for writing in a child another thread of the operator forked).
fn spawn(program: &OsString, args: &[OsString]) -> std::io::Result<std::process::Child> {
    let mut attempt = 0;
    loop {
        match Command::new(program).args(args).spawn() {
            Err(e) if e.raw_os_error() == Some(nix::libc::ETXTBSY) && attempt < 10 => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(10 * attempt));
            }
            other => return other,
        }
    }
}

/// The command that runs `program` through `launcher`, reporting to `report`.
pub(crate) fn command(launcher: &Path, report: &Path, program: &Path) -> Command {
    let mut cmd = Command::new(launcher);
    cmd.arg(LAUNCH_ARG).arg(report).arg(program);
    cmd
}

/// The launcher's report, `None` when it wrote none or an unreadable one.
pub(crate) fn read_report(path: &Path) -> Option<Report> {
    let text = std::fs::read_to_string(path).ok()?;
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        ["exited", status, user, sys, rss] => Some(Report::Exited {
            status: ExitStatus::from_raw(status.parse().ok()?),
            user_cpu: Duration::from_micros(user.parse().ok()?),
            sys_cpu: Duration::from_micros(sys.parse().ok()?),
            max_rss_bytes: rss.parse().ok()?,
        }),
        ["spawn-failed", errno] => Some(Report::SpawnFailed(std::io::Error::from_raw_os_error(
            errno.parse().ok()?,
        ))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_parse_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r");
        std::fs::write(&path, "exited 768 1500 250 4096\n").unwrap();
        let Some(Report::Exited {
            status,
            user_cpu,
            sys_cpu,
            max_rss_bytes,
        }) = read_report(&path)
        else {
            panic!("an exit report")
        };
        assert_eq!(status.code(), Some(3));
        assert_eq!(user_cpu, Duration::from_micros(1500));
        assert_eq!(sys_cpu, Duration::from_micros(250));
        assert_eq!(max_rss_bytes, 4096);
        std::fs::write(&path, "spawn-failed 2\n").unwrap();
        let Some(Report::SpawnFailed(e)) = read_report(&path) else {
            panic!("a spawn failure")
        };
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
        std::fs::write(&path, "garbage").unwrap();
        assert!(read_report(&path).is_none());
    }
}

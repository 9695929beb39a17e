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
//!   included, as in `getrusage(RUSAGE_CHILDREN)`). Started by the spawner
//!   ([`crate::spawner`]), the figures are the hook's own; started directly, max RSS is at
//!   least the operator's (what the child inherited before `exec`).
//! - Hooks are spawned without a `pre_exec` closure (the group is set with
//!   `CommandExt::process_group`), so std uses `posix_spawn`: no copy of the spawning
//!   process's address space is made for each hook.

mod supervise;

use crate::group_leader::Leader;
use crate::spawner::{SpawnError, SpawnerSlot};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use supervise::{ExitWatch, Running, Stream, Supervised, supervise};

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
    /// Start it through the spawner, for its own resource usage (`None`, or a slot without
    /// a launcher: directly).
    pub spawner: Option<&'a SpawnerSlot>,
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
    let spawned_at = Instant::now();
    // Dropping this future (engine shutdown) drops `running`, which kills the group.
    let (mut running, streams) = start(&spec).await?;
    let (supervised, timed_out) = supervise(&mut running, streams, spec.timeout).await;
    let wall = spawned_at.elapsed();
    let Supervised {
        reaped,
        stdout,
        stderr_tail,
    } = supervised;
    let hook = spec.hook.to_string();
    let reaped = reaped.map_err(|source| ExecError::Wait {
        hook: hook.clone(),
        source,
    })?;
    if timed_out {
        return Err(ExecError::Timeout {
            hook,
            timeout: spec.timeout,
            stderr_tail,
        });
    }
    if !reaped.status.success() {
        return Err(ExecError::Failed {
            hook,
            status: reaped.status,
            stderr_tail,
        });
    }
    Ok(ProcessOutcome {
        stdout,
        usage: Usage {
            wall,
            user_cpu: reaped.user_cpu,
            sys_cpu: reaped.sys_cpu,
            max_rss_bytes: reaped.max_rss_bytes,
        },
        spawned_at,
    })
}

/// Starts the process, through the spawner when there is one, and opens its output streams.
async fn start(spec: &ProcessSpec<'_>) -> Result<(Running, [Option<Stream>; 2]), ExecError> {
    let spawn_error = |source| ExecError::Spawn {
        hook: spec.hook.to_string(),
        path: spec.program.to_path_buf(),
        source,
    };
    if let Some(spawner) = spec.spawner.and_then(SpawnerSlot::get) {
        let (out, out_w) = std::io::pipe().map_err(spawn_error)?;
        let (err, err_w) = std::io::pipe().map_err(spawn_error)?;
        let outputs = [out_w.into(), err_w.into()];
        match spawner
            .spawn(spec.program, spec.args, &spec.env, spec.cwd, outputs)
            .await
        {
            Ok(run) => return Ok((Running::Spawned(run), streams(spec, out, err))),
            Err(SpawnError::Refused(source)) => return Err(spawn_error(source)),
            Err(SpawnError::Lost) => {
                return Err(ExecError::Wait {
                    hook: spec.hook.to_string(),
                    source: std::io::Error::other("the hook spawner exited while starting it"),
                });
            }
            Err(SpawnError::Unavailable(e)) => {
                tracing::warn!(error = %e, "the hook spawner is gone; starting the hook directly");
            }
        }
    }
    let mut cmd = std::process::Command::new(spec.program);
    cmd.args(spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(spec.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = spawn(&mut cmd).await.map_err(spawn_error)?;
    let leader = Arc::new(Leader::new(child.id()));
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let exit = ExitWatch::new(&leader);
    let running = Running::Direct {
        child,
        leader,
        exit,
    };
    let streams = [
        out.and_then(|o| Stream::new(o, "stdout", spec.capture_stdout)),
        err.and_then(|e| Stream::new(e, "stderr", false)),
    ];
    Ok((running, streams))
}

/// The two output streams of a spawned process, from the read ends of its pipes.
fn streams(
    spec: &ProcessSpec<'_>,
    out: std::io::PipeReader,
    err: std::io::PipeReader,
) -> [Option<Stream>; 2] {
    [
        Stream::new(out, "stdout", spec.capture_stdout),
        Stream::new(err, "stderr", false),
    ]
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{running, script, sleeper_script};

    fn spec<'a>(p: &'a Path, dir: &'a Path, timeout: Duration) -> ProcessSpec<'a> {
        ProcessSpec {
            program: p,
            args: &[],
            env: vec![("X", "42".into())],
            cwd: dir,
            timeout,
            hook: "hook.sh",
            capture_stdout: true,
            spawner: None,
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

    #[tokio::test]
    async fn an_abandoned_run_kills_its_process_group() {
        let dir = tempfile::tempdir().unwrap();
        let (p, pids) = sleeper_script(dir.path());
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
    async fn through_the_spawner_a_hook_runs_as_directly_and_a_huge_environment_starts_it_directly()
    {
        let dir = tempfile::tempdir().unwrap();
        let p = script(dir.path(), "echo \"$X\" \"${#HUGE3}\"; echo $PPID; exit 0");
        let (spawner, _server) = crate::spawner::connected();
        let slot = SpawnerSlot::with(spawner);
        let run = |env: Vec<(&'static str, OsString)>| {
            let spec = ProcessSpec {
                env,
                spawner: Some(&slot),
                ..spec(&p, dir.path(), Duration::from_secs(10))
            };
            run_process(spec)
        };
        // Served on a thread of this process: the hook's parent is this process either way,
        // so the output tells the paths apart only by what reached the hook.
        let out = run(vec![("X", "42".into())]).await.unwrap();
        assert_eq!(out.stdout, format!("42 0\n{}\n", std::process::id()));
        assert!(out.usage.max_rss_bytes > 0);
        // 300 KiB: more than one socket message holds, less than `execve` takes.
        let huge = || OsString::from("h".repeat(100 << 10));
        let env = vec![
            ("X", "big".into()),
            ("HUGE1", huge()),
            ("HUGE2", huge()),
            ("HUGE3", huge()),
        ];
        let out = run(env).await.unwrap();
        assert!(
            out.stdout.starts_with(&format!("big {}\n", 100 << 10)),
            "{}",
            out.stdout
        );
        // A hook that cannot start is an error naming it, as when started directly.
        let missing = dir.path().join("missing.sh");
        let err = run_process(ProcessSpec {
            spawner: Some(&slot),
            ..spec(&missing, dir.path(), Duration::from_secs(10))
        })
        .await
        .unwrap_err();
        assert!(matches!(err, ExecError::Spawn { .. }), "{err}");
    }

    #[tokio::test]
    async fn a_launcher_that_is_no_spawner_costs_no_run_and_is_given_up() {
        let dir = tempfile::tempdir().unwrap();
        let p = script(dir.path(), "echo ran");
        // Exits at once, as a launcher of another version that does not know the argument.
        let slot = SpawnerSlot::new(Some(PathBuf::from("/bin/true")));
        for _ in 0..3 {
            let out = run_process(ProcessSpec {
                spawner: Some(&slot),
                ..spec(&p, dir.path(), Duration::from_secs(10))
            })
            .await
            .unwrap();
            assert_eq!(out.stdout, "ran\n");
        }
        assert!(slot.get().is_none(), "the slot gave the launcher up");
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

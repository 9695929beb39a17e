//! Supervising a running hook: its two output streams, read line by line, and its exit,
//! awaited on the runtime (see [`supervise`]).

use super::{STDERR_LINE_BYTES, STDERR_TAIL_LINES};
use crate::group_leader::{Leader, Reaped};
use crate::output_log::{Emit, OutputLog};
use crate::spawner::SpawnedRun;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

/// How long pipes are read after the hook exited and its group was killed (a process that
/// left the group may still hold them); then they are abandoned.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(5);

/// One output stream of the hook, read line by line.
pub(super) struct Stream {
    pipe: Option<tokio::net::unix::pipe::Receiver>,
    name: &'static str,
    /// Bytes of the line not yet ended by a newline.
    partial: Vec<u8>,
    /// `Some`: lines are captured (stdout of `--config`), not logged.
    capture: Option<String>,
    /// The last lines of stderr, for the error of a failed run.
    tail: Option<VecDeque<String>>,
    log: OutputLog,
}

impl Stream {
    /// `None` if the pipe cannot be read without blocking (then it is not read at all).
    pub(super) fn new(
        pipe: impl Into<std::os::fd::OwnedFd>,
        name: &'static str,
        capture: bool,
    ) -> Option<Self> {
        let pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(pipe.into()).ok()?;
        Some(Stream {
            pipe: Some(pipe),
            name,
            partial: Vec::new(),
            capture: capture.then(String::new),
            tail: (name == "stderr").then(VecDeque::new),
            log: OutputLog::new(),
        })
    }

    fn is_open(stream: &Option<Stream>) -> bool {
        stream.as_ref().is_some_and(|s| s.pipe.is_some())
    }

    /// Takes what one read gave: bytes, or the end of the stream.
    fn took(&mut self, read: std::io::Result<usize>, buf: &[u8]) {
        match read {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Ok(0) | Err(_) => self.close(),
            Ok(n) => {
                self.partial.extend_from_slice(&buf[..n]);
                while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = self.partial.drain(..=end).collect();
                    self.line(&line);
                }
            }
        }
    }

    /// The stream ended (or is abandoned): its unfinished last line counts as a line.
    fn close(&mut self) {
        self.pipe = None;
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(&line);
        }
    }

    /// One line, decoded lossily: a hook printing invalid UTF-8 must not stop the reading
    /// (a full pipe would block the hook until its timeout).
    fn line(&mut self, raw: &[u8]) {
        let line = String::from_utf8_lossy(raw)
            .trim_end_matches(['\n', '\r'])
            .to_string();
        if let Some(c) = &mut self.capture {
            c.push_str(&line);
            c.push('\n');
            return;
        }
        if let Some(t) = &mut self.tail {
            if t.len() == STDERR_TAIL_LINES {
                t.pop_front();
            }
            t.push_back(truncate(&line, STDERR_LINE_BYTES));
        }
        let stream = self.name;
        self.log.line(line, &mut |e| emit(stream, e));
    }

    fn finish(mut self) -> (Option<String>, Option<VecDeque<String>>) {
        self.close();
        if self.capture.is_none() {
            let stream = self.name;
            self.log.finish(&mut |e| emit(stream, e));
        }
        (self.capture, self.tail)
    }
}

/// Reads once from `stream`'s pipe (pending forever once it is closed).
async fn read_from(stream: &mut Option<Stream>, buf: &mut [u8]) -> std::io::Result<usize> {
    use tokio::io::AsyncReadExt;
    match stream.as_mut().and_then(|s| s.pipe.as_mut()) {
        Some(pipe) => pipe.read(buf).await,
        None => std::future::pending().await,
    }
}

/// Logs one output event of `stream` (in the run's span).
fn emit(stream: &'static str, e: Emit<'_>) {
    match e {
        Emit::Info(line) => tracing::info!(output = stream, "{line}"),
        Emit::Debug(line) => tracing::debug!(output = stream, "{line}"),
        Emit::Cut { lines, bytes } => tracing::info!(
            output = stream,
            cut_lines = lines,
            cut_bytes = bytes,
            "{stream}: {lines} lines ({bytes} bytes) not shown at info level; debug level shows them"
        ),
    }
}

/// Resolves once the hook process (the group leader) has exited, without reaping it: a pidfd
/// the runtime polls, or, where the kernel has none (before Linux 5.3), a thread blocked in
/// `waitid`.
pub(super) enum ExitWatch {
    Pidfd(tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>),
    Thread(tokio::task::JoinHandle<()>),
}

impl ExitWatch {
    pub(super) fn new(leader: &Arc<Leader>) -> Self {
        let pidfd = rustix::process::Pid::from_raw(leader.pid())
            .ok_or_else(|| std::io::Error::other("no pid"))
            .and_then(|pid| {
                rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::NONBLOCK)
                    .map_err(std::io::Error::from)
            })
            .and_then(register_owned);
        match pidfd {
            Ok(fd) => ExitWatch::Pidfd(fd),
            Err(_) => {
                let leader = leader.clone();
                ExitWatch::Thread(tokio::task::spawn_blocking(move || leader.wait_exit()))
            }
        }
    }

    async fn exited(&mut self) {
        match self {
            ExitWatch::Pidfd(fd) => {
                let _ = fd.readable().await;
            }
            ExitWatch::Thread(handle) => {
                let _ = handle.await;
            }
        }
    }
}

/// Registers a pidfd with the runtime. `AsyncFd::new` is deprecated because the caller could
/// close the fd behind the runtime's back (tokio#8587); here the `AsyncFd` owns the `OwnedFd`
/// and nothing else can reach it, which is the soundness condition of its successor
/// `AsyncFd::register` (an `unsafe fn` the workspace's `forbid(unsafe_code)` rules out).
#[allow(deprecated)]
fn register_owned(
    fd: std::os::fd::OwnedFd,
) -> std::io::Result<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>> {
    tokio::io::unix::AsyncFd::new(fd)
}

/// A running hook process: started by the engine itself, or by the spawner.
pub(super) enum Running {
    /// Our child: its exit is watched here, it is reaped here.
    Direct {
        child: std::process::Child,
        leader: Arc<Leader>,
        exit: ExitWatch,
    },
    /// The spawner's child: the spawner reports its exit and reaps it.
    Spawned(SpawnedRun),
}

impl Running {
    /// Resolves once the process has exited (the spawner's: and been reaped).
    async fn exited(&mut self) {
        match self {
            Running::Direct { exit, .. } => exit.exited().await,
            Running::Spawned(run) => run.exited().await,
        }
    }

    /// `SIGKILL` to the process group, unless the leader was already reaped.
    fn kill_group(&self) {
        match self {
            Running::Direct { leader, .. } => leader.kill_group(),
            Running::Spawned(run) => run.kill_group(),
        }
    }

    /// How it ended, once it has exited: reaps our own child at once.
    async fn reap(&mut self) -> std::io::Result<Reaped> {
        match self {
            Running::Direct { child, leader, .. } => leader.wait(child),
            Running::Spawned(run) => run.reap().await,
        }
    }
}

impl Drop for Running {
    /// A run abandoned before its process was reaped (engine shutdown) kills the group.
    fn drop(&mut self) {
        self.kill_group();
    }
}

/// What [`supervise`] saw.
pub(super) struct Supervised {
    pub reaped: std::io::Result<Reaped>,
    pub stdout: String,
    pub stderr_tail: Vec<String>,
}

/// Reads the hook's pipes until they end and waits for it to exit, on the runtime (no thread
/// per run, as `Command::output` would need). After the hook exits, whatever it left running
/// in its group is killed, which ends pipes those processes held; a process that left the
/// group gets [`DRAIN_AFTER_EXIT`], then its pipes are abandoned. After `timeout` the whole
/// group is killed. Returns what was read and whether the timeout struck.
pub(super) async fn supervise(
    running: &mut Running,
    streams: [Option<Stream>; 2],
    timeout: Duration,
) -> (Supervised, bool) {
    let [mut out, mut err] = streams;
    let (mut out_buf, mut err_buf) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut timed_out = false;
    let mut drain_until: Option<tokio::time::Instant> = None;
    loop {
        let open = Stream::is_open(&out) || Stream::is_open(&err);
        if !open && drain_until.is_some() {
            break;
        }
        tokio::select! {
            read = read_from(&mut out, &mut out_buf), if Stream::is_open(&out) => {
                if let Some(s) = out.as_mut() { s.took(read, &out_buf) }
            }
            read = read_from(&mut err, &mut err_buf), if Stream::is_open(&err) => {
                if let Some(s) = err.as_mut() { s.took(read, &err_buf) }
            }
            () = running.exited(), if drain_until.is_none() => {
                running.kill_group();
                drain_until = Some(tokio::time::Instant::now() + DRAIN_AFTER_EXIT);
            }
            () = tokio::time::sleep_until(deadline), if !timed_out && drain_until.is_none() => {
                running.kill_group();
                timed_out = true;
            }
            () = sleep_until_opt(drain_until), if open => {
                break;
            }
        }
    }
    // The leader has exited: this reaps it at once.
    let reaped = running.reap().await;
    let mut stdout = String::new();
    let mut stderr_tail = Vec::new();
    for stream in [out, err].into_iter().flatten() {
        let (captured, tail) = stream.finish();
        stdout.push_str(&captured.unwrap_or_default());
        stderr_tail.extend(tail.unwrap_or_default());
    }
    let supervised = Supervised {
        reaped,
        stdout,
        stderr_tail,
    };
    (supervised, timed_out)
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The start of `line`, at most `max` bytes, marked when shortened.
fn truncate(line: &str, max: usize) -> String {
    if line.len() <= max {
        return line.to_string();
    }
    let mut end = max;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes cut)", &line[..end], line.len() - end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    /// A `bash -c` process in its own group with piped output, its leader and its streams.
    fn start(body: &str) -> (std::process::Child, Arc<Leader>, [Option<Stream>; 2]) {
        let mut child = Command::new("bash")
            .args(["-c", body])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        let leader = Arc::new(Leader::new(child.id()));
        let streams = [
            child
                .stdout
                .take()
                .and_then(|o| Stream::new(o, "stdout", true)),
            child
                .stderr
                .take()
                .and_then(|e| Stream::new(e, "stderr", false)),
        ];
        (child, leader, streams)
    }

    #[tokio::test]
    async fn without_a_pidfd_a_waitid_thread_sees_the_exit_and_the_output_is_complete() {
        // What kernels before Linux 5.3 get; the pidfd path is what every other test uses.
        let (child, leader, streams) = start("echo out; echo err >&2; echo -n last");
        let waiter = leader.clone();
        let exit = ExitWatch::Thread(tokio::task::spawn_blocking(move || waiter.wait_exit()));
        let mut running = Running::Direct {
            child,
            leader,
            exit,
        };
        let (seen, timed_out) = supervise(&mut running, streams, Duration::from_secs(30)).await;
        assert!(!timed_out);
        assert!(seen.reaped.unwrap().status.success());
        assert_eq!(
            seen.stdout, "out\nlast\n",
            "lines, the unfinished last one too"
        );
        assert_eq!(seen.stderr_tail, ["err"]);
    }

    #[tokio::test]
    async fn a_process_left_holding_the_pipes_is_killed_when_the_hook_exits() {
        // The hook exits at once; its background child would keep stdout open for 10 min.
        let (child, leader, streams) = start("sleep 600 & echo $!");
        let exit = ExitWatch::new(&leader);
        let mut running = Running::Direct {
            child,
            leader,
            exit,
        };
        let run = supervise(&mut running, streams, Duration::from_secs(900));
        let (seen, timed_out) = tokio::time::timeout(Duration::from_secs(30), run)
            .await
            .expect("the run ended");
        assert!(!timed_out);
        let sleeper = seen.stdout.trim();
        // Gone, or a zombie waiting for its new parent to reap it: not running (a killed
        // process closes its files before it turns into a zombie, so wait a little).
        let state = || {
            std::fs::read_to_string(format!("/proc/{sleeper}/stat"))
                .ok()
                .and_then(|s| s.rsplit_once(')').map(|(_, r)| r.trim().to_string()))
                .unwrap_or_default()
        };
        let mut last = state();
        for _ in 0..100 {
            if last.is_empty() || last.starts_with('Z') {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            last = state();
        }
        panic!("the background process {sleeper} still runs: state {last:?}");
    }
}

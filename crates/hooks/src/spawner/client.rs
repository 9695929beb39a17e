//! The engine's side: starts the spawner process, sends it runs, routes its replies to them.

use super::SPAWNER_ARG;
use super::wire::{Reply, Request, SpawnCommand};
use crate::group_leader::Reaped;
use crate::sync::lock;
use rustix::net::{
    AddressFamily, SendAncillaryBuffer, SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};
use std::collections::HashMap;
use std::ffi::OsString;
use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::Interest;
use tokio::net::UnixDatagram;
use tokio::sync::oneshot;

/// The error of a run whose spawner exited before reporting it.
fn spawner_lost() -> std::io::Error {
    std::io::Error::other("the hook spawner exited before the hook's exit was reported")
}

/// Where a run's replies go.
#[derive(Debug)]
struct Pending {
    started: Option<oneshot::Sender<std::io::Result<i32>>>,
    exited: Option<oneshot::Sender<std::io::Result<Reaped>>>,
    pid: Option<i32>,
}

type PendingRuns = Arc<Mutex<HashMap<u64, Pending>>>;

/// A running spawner process and the engine's end of its socket.
#[derive(Debug)]
pub(crate) struct Spawner {
    /// A connected `SOCK_SEQPACKET` socket. tokio has no seqpacket type; its `UnixDatagram`
    /// is `send`/`recv` on a connected socket, which keeps a seqpacket's message boundaries.
    socket: Arc<UnixDatagram>,
    pending: PendingRuns,
    next_id: AtomicU64,
    alive: Arc<AtomicBool>,
    /// It answered at least once: it is a spawner (a binary that is not exits unheard).
    answered: Arc<AtomicBool>,
}

impl Spawner {
    /// Starts `launcher` as a spawner (in its own process group, so a terminal's Ctrl-C does
    /// not stop it before the engine) and the task reading its replies. Needs a tokio runtime.
    pub(crate) fn start(launcher: &Path) -> std::io::Result<Arc<Self>> {
        let (ours, theirs) = rustix::net::socketpair(
            AddressFamily::UNIX,
            SocketType::SEQPACKET,
            SocketFlags::CLOEXEC,
            None,
        )?;
        let process = Command::new(launcher)
            .arg(SPAWNER_ARG)
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .process_group(0)
            .spawn()?;
        Self::connect(ours, Some(process))
    }

    /// The engine's side of a spawner serving the other end of `ours`; `process` is reaped
    /// when the socket ends.
    pub(super) fn connect(
        ours: OwnedFd,
        process: Option<std::process::Child>,
    ) -> std::io::Result<Arc<Self>> {
        let ours = std::os::unix::net::UnixDatagram::from(ours);
        ours.set_nonblocking(true)?;
        let socket = Arc::new(UnixDatagram::from_std(ours)?);
        let spawner = Arc::new(Spawner {
            socket: socket.clone(),
            pending: Arc::default(),
            next_id: AtomicU64::new(1),
            alive: Arc::new(AtomicBool::new(true)),
            answered: Arc::new(AtomicBool::new(false)),
        });
        tokio::spawn(read_replies(
            socket,
            spawner.pending.clone(),
            Flags {
                alive: spawner.alive.clone(),
                answered: spawner.answered.clone(),
            },
            process,
        ));
        Ok(spawner)
    }

    /// Whether the spawner still answers (a dead one is replaced by the next run).
    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    /// Whether it ever answered: one that died unheard is not a spawner at all (say, a
    /// launcher of another version), and another one would not be either.
    fn ever_answered(&self) -> bool {
        self.answered.load(Ordering::Acquire)
    }

    /// Starts a hook in its own process group with `stdout` and `stderr` (write ends of
    /// pipes) as its output; returns once it runs, or with the OS error that kept it from
    /// starting.
    pub(crate) async fn spawn(
        self: &Arc<Self>,
        program: &Path,
        args: &[&str],
        env: &[(&'static str, OsString)],
        cwd: &Path,
        outputs: [OwnedFd; 2],
    ) -> Result<SpawnedRun, SpawnError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let request = Request::Spawn {
            id,
            command: SpawnCommand {
                program: program.to_path_buf(),
                args: args.iter().map(OsString::from).collect(),
                env: env
                    .iter()
                    .map(|(k, v)| (OsString::from(k), v.clone()))
                    .collect(),
                cwd: PathBuf::from(cwd),
            },
        };
        let bytes = request.encode().map_err(SpawnError::Refused)?;
        let (started_tx, started) = oneshot::channel();
        let (exited_tx, exited) = oneshot::channel();
        lock(&self.pending).insert(
            id,
            Pending {
                started: Some(started_tx),
                exited: Some(exited_tx),
                pid: None,
            },
        );
        // Built before anything is awaited: a run dropped meanwhile (engine shutdown) still
        // forgets its entry and kills its group.
        let mut run = SpawnedRun {
            id,
            spawner: self.clone(),
            exited,
            outcome: None,
            done: false,
        };
        let sent = self.send_with_fds(&bytes, &outputs).await;
        // The spawner holds its own copies now; ours must close so the pipes end with the hook.
        drop(outputs);
        if let Err(e) = sent {
            run.done = true;
            if is_gone(&e) {
                self.alive.store(false, Ordering::Release);
            }
            return Err(SpawnError::Unavailable(e));
        }
        match started.await {
            Ok(Ok(_pid)) => Ok(run),
            // The spawner could not take a request that large whole: nothing started.
            Ok(Err(e)) if e.raw_os_error() == Some(nix::libc::EMSGSIZE) => {
                run.done = true;
                Err(SpawnError::Unavailable(e))
            }
            Ok(Err(e)) => {
                run.done = true;
                Err(SpawnError::Refused(e))
            }
            // Gone without a word ever: it started nothing.
            Err(_) if !self.ever_answered() => {
                run.done = true;
                Err(SpawnError::Unavailable(spawner_lost()))
            }
            Err(_) => {
                run.done = true;
                Err(SpawnError::Lost)
            }
        }
    }

    async fn send_with_fds(&self, bytes: &[u8], fds: &[OwnedFd; 2]) -> std::io::Result<()> {
        let borrowed = [fds[0].as_fd(), fds[1].as_fd()];
        self.socket
            .async_io(Interest::WRITABLE, || {
                let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
                let mut control = SendAncillaryBuffer::new(&mut space);
                control.push(SendAncillaryMessage::ScmRights(&borrowed));
                rustix::net::sendmsg(
                    &*self.socket,
                    &[IoSlice::new(bytes)],
                    &mut control,
                    SendFlags::DONTWAIT | SendFlags::NOSIGNAL,
                )
                .map_err(std::io::Error::from)
            })
            .await
            .map(|_| ())
    }

    /// Asks the spawner to kill run `id`'s process group (it does so unless the hook was
    /// already reaped). Never blocks: it is called from `Drop`.
    fn kill(&self, id: u64) {
        let sent = Request::Kill { id }.encode().and_then(|bytes| {
            rustix::net::send(
                &*self.socket,
                &bytes,
                SendFlags::DONTWAIT | SendFlags::NOSIGNAL,
            )
            .map_err(std::io::Error::from)
        });
        if let Err(e) = sent {
            tracing::warn!(error = %e, "cannot ask the hook spawner to kill a hook's process group");
        }
    }
}

impl Spawner {
    /// Ends the socket, as dropping the last reference does.
    #[cfg(test)]
    pub(super) fn close(&self) {
        let _ = rustix::net::shutdown(&*self.socket, rustix::net::Shutdown::Both);
    }
}

impl Drop for Spawner {
    /// Ends the socket: the spawner kills the hooks still running and exits, and the reply
    /// task ends.
    fn drop(&mut self) {
        let _ = rustix::net::shutdown(&*self.socket, rustix::net::Shutdown::Both);
    }
}

/// Why a hook could not be started through the spawner.
#[derive(Debug)]
pub(crate) enum SpawnError {
    /// The request did not reach the spawner (it is gone, its socket broke, or the request
    /// is too large for one message): start the hook some other way.
    Unavailable(std::io::Error),
    /// The spawner exited after the request reached it: the hook may have started, so the
    /// run fails rather than starting it twice.
    Lost,
    /// The hook itself could not start (the OS error of its `execve`, or a NUL in its
    /// command line).
    Refused(std::io::Error),
}

/// A hook the spawner started.
pub(crate) struct SpawnedRun {
    id: u64,
    spawner: Arc<Spawner>,
    exited: oneshot::Receiver<std::io::Result<Reaped>>,
    /// The reported exit, until [`SpawnedRun::reap`] takes it.
    outcome: Option<std::io::Result<Reaped>>,
    /// The exit was reported (or the run never started): nothing is left to kill.
    done: bool,
}

impl SpawnedRun {
    /// Resolves once the hook has exited, been reaped and its group killed (or the spawner
    /// is gone).
    pub(crate) async fn exited(&mut self) {
        if !self.done {
            let got = (&mut self.exited).await;
            self.outcome = Some(got.unwrap_or_else(|_| Err(spawner_lost())));
            self.done = true;
        }
    }

    /// Kills the hook's process group unless its exit was already reported.
    pub(crate) fn kill_group(&self) {
        if !self.done {
            self.spawner.kill(self.id);
        }
    }

    /// How the hook ended; waits for it if need be.
    pub(crate) async fn reap(&mut self) -> std::io::Result<Reaped> {
        self.exited().await;
        self.outcome.take().unwrap_or_else(|| Err(spawner_lost()))
    }
}

impl Drop for SpawnedRun {
    /// An abandoned run (engine shutdown) kills its hook's group.
    fn drop(&mut self) {
        self.kill_group();
        lock(&self.spawner.pending).remove(&self.id);
    }
}

/// A send error that means the spawner is gone (not, say, a request too large to send).
fn is_gone(e: &std::io::Error) -> bool {
    use rustix::io::Errno;
    let gone = [Errno::PIPE, Errno::CONNRESET, Errno::NOTCONN, Errno::BADF];
    e.raw_os_error()
        .is_some_and(|code| gone.iter().any(|g| g.raw_os_error() == code))
}

/// Routes the spawner's replies to the runs until its socket ends; then fails the runs still
/// waiting, kills their groups (their parent is gone, so nothing else will), and reaps the
/// spawner process.
/// What the reply task tells the engine about the spawner.
struct Flags {
    alive: Arc<AtomicBool>,
    answered: Arc<AtomicBool>,
}

async fn read_replies(
    socket: Arc<UnixDatagram>,
    pending: PendingRuns,
    flags: Flags,
    process: Option<std::process::Child>,
) {
    let mut buf = vec![0u8; 512];
    loop {
        let n = match socket.recv(&mut buf).await {
            Ok(n) if n > 0 => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            _ => break,
        };
        match Reply::decode(&buf[..n]) {
            Ok(reply) => {
                flags.answered.store(true, Ordering::Release);
                route(&pending, reply);
            }
            Err(e) => tracing::warn!(error = %e, "ignoring a hook spawner reply"),
        }
    }
    flags.alive.store(false, Ordering::Release);
    let left: Vec<Pending> = lock(&pending).drain().map(|(_, p)| p).collect();
    for p in left {
        if let Some(pid) = p.pid {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        // A run still waiting to hear that its hook started learns the spawner is gone from
        // its dropped sender (`SpawnError::Lost`, or `Unavailable` if it never answered).
        drop(p.started);
        if let Some(tx) = p.exited {
            let _ = tx.send(Err(spawner_lost()));
        }
    }
    if let Some(mut process) = process {
        let _ = tokio::task::spawn_blocking(move || process.wait()).await;
    }
}

/// Hands one reply to its run.
fn route(pending: &PendingRuns, reply: Reply) {
    let mut runs = lock(pending);
    let id = reply.id();
    let Some(run) = runs.get_mut(&id) else {
        return;
    };
    match reply {
        Reply::Spawned { pid, .. } => {
            run.pid = Some(pid);
            if let Some(tx) = run.started.take() {
                let _ = tx.send(Ok(pid));
            }
        }
        Reply::Exited {
            status,
            user_cpu,
            sys_cpu,
            max_rss_bytes,
            ..
        } => {
            if let Some(tx) = runs.remove(&id).and_then(|mut r| r.exited.take()) {
                let _ = tx.send(Ok(Reaped {
                    status: ExitStatus::from_raw(status),
                    user_cpu,
                    sys_cpu,
                    max_rss_bytes,
                }));
            }
        }
        Reply::Failed { errno, .. } => {
            let error = std::io::Error::from_raw_os_error(errno);
            let Some(mut run) = runs.remove(&id) else {
                return;
            };
            match run.started.take() {
                // It never started.
                Some(tx) => {
                    let _ = tx.send(Err(error));
                }
                // It started, but waiting for it failed.
                None => {
                    if let Some(tx) = run.exited.take() {
                        let _ = tx.send(Err(error));
                    }
                }
            }
        }
    }
}

/// The engine's spawner: started on the first run from the launcher binary, replaced when it
/// dies; without a launcher (or when it cannot start) hooks are started directly.
#[derive(Debug)]
pub(crate) struct SpawnerSlot {
    launcher: Option<PathBuf>,
    live: Mutex<Option<Arc<Spawner>>>,
    /// Starting failed once: not tried again (logged once).
    failed: AtomicBool,
}

impl SpawnerSlot {
    /// A slot for `launcher` (`None`: hooks start directly).
    pub(crate) fn new(launcher: Option<PathBuf>) -> Self {
        SpawnerSlot {
            launcher,
            live: Mutex::new(None),
            failed: AtomicBool::new(false),
        }
    }

    /// A slot holding `spawner`, already running (tests serve one on a thread).
    #[cfg(test)]
    pub(crate) fn with(spawner: Arc<Spawner>) -> Self {
        SpawnerSlot {
            launcher: Some(PathBuf::from("/nonexistent/launcher")),
            live: Mutex::new(Some(spawner)),
            failed: AtomicBool::new(false),
        }
    }

    /// The running spawner, started if need be; `None` when hooks start directly.
    pub(crate) fn get(&self) -> Option<Arc<Spawner>> {
        let launcher = self.launcher.as_ref()?;
        if self.failed.load(Ordering::Relaxed) {
            return None;
        }
        let mut live = lock(&self.live);
        match live.as_ref() {
            Some(spawner) if spawner.is_alive() => return Some(spawner.clone()),
            Some(spawner) if !spawner.ever_answered() => {
                self.failed.store(true, Ordering::Relaxed);
                tracing::warn!(
                    launcher = %launcher.display(),
                    "the hook launcher exited without serving as the hook spawner (is it of another version?); hooks start directly (their max RSS includes the operator's)"
                );
                *live = None;
                return None;
            }
            _ => {}
        }
        match Spawner::start(launcher) {
            Ok(spawner) => {
                *live = Some(spawner.clone());
                Some(spawner)
            }
            Err(e) => {
                self.failed.store(true, Ordering::Relaxed);
                tracing::warn!(
                    launcher = %launcher.display(),
                    error = %e,
                    "cannot start the hook spawner; hooks start directly (their max RSS includes the operator's)"
                );
                None
            }
        }
    }
}

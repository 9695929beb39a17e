//! The spawner process's side: reads requests from its socket, starts each hook in its own
//! process group with the pipes the engine sent, and reports each hook's exit and usage.

use super::wire::{Reply, Request, SpawnCommand};
use crate::group_leader::Leader;
use crate::sync::lock;
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendFlags};
use std::collections::HashMap;
use std::io::IoSliceMut;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The largest request read (a hook's program, arguments and environment).
const MAX_REQUEST: usize = 1 << 20;

/// The running hooks, by run id.
type Runs = Arc<Mutex<HashMap<u64, Arc<Leader>>>>;

/// Serves the engine on `socket` until the engine closes it (or exits), then kills the process
/// group of every hook still running.
pub(crate) fn serve(socket: OwnedFd) {
    let socket = Arc::new(socket);
    let runs: Runs = Arc::default();
    let mut buf = vec![0u8; MAX_REQUEST];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
    loop {
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let got = rustix::net::recvmsg(
            &*socket,
            &mut [IoSliceMut::new(&mut buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        );
        let msg = match got {
            Err(rustix::io::Errno::INTR) => continue,
            Ok(msg) if msg.bytes > 0 => msg,
            // End of stream (the engine is gone) or a broken socket.
            _ => break,
        };
        let fds: Vec<OwnedFd> = control
            .drain()
            .flat_map(|m| match m {
                RecvAncillaryMessage::ScmRights(fds) => fds.collect(),
                _ => Vec::new(),
            })
            .collect();
        if msg.flags.contains(ReturnFlags::TRUNC) {
            // The engine waits for an answer: refuse the run if its id survived the cut.
            match super::wire::request_id(&buf) {
                Some(id) => reply(
                    &socket,
                    &Reply::Failed {
                        id,
                        errno: nix::libc::EMSGSIZE,
                    },
                ),
                None => eprintln!(
                    "addon-operator hook spawner: a request over {MAX_REQUEST} bytes was dropped"
                ),
            }
            continue;
        }
        match Request::decode(&buf[..msg.bytes]) {
            Ok(Request::Spawn { id, command }) => start(&socket, &runs, id, command, fds),
            Ok(Request::Kill { id }) => {
                let leader = lock(&runs).get(&id).cloned();
                if let Some(leader) = leader {
                    leader.kill_group();
                }
            }
            Err(e) => eprintln!("addon-operator hook spawner: {e}"),
        }
    }
    for leader in lock(&runs).values() {
        leader.kill_group();
    }
}

/// Starts one hook with `fds` as its stdout and stderr; a thread waits for it and reports.
fn start(socket: &Arc<OwnedFd>, runs: &Runs, id: u64, what: SpawnCommand, fds: Vec<OwnedFd>) {
    let Ok([stdout, stderr]) = <[OwnedFd; 2]>::try_from(fds) else {
        reply(
            socket,
            &Reply::Failed {
                id,
                errno: nix::libc::EBADF,
            },
        );
        return;
    };
    let mut cmd = Command::new(&what.program);
    cmd.args(&what.args)
        .envs(what.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&what.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr))
        .process_group(0);
    let spawned = spawn(&mut cmd);
    // Our copies of the pipes close here, so they end when the hook's group is gone.
    drop(cmd);
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let errno = e.raw_os_error().unwrap_or(nix::libc::EIO);
            reply(socket, &Reply::Failed { id, errno });
            return;
        }
    };
    let leader = Arc::new(Leader::new(child.id()));
    lock(runs).insert(id, leader.clone());
    reply(
        socket,
        &Reply::Spawned {
            id,
            pid: leader.pid(),
        },
    );
    let (socket, runs) = (socket.clone(), runs.clone());
    let wait = move || {
        let waited = leader.wait(&mut child);
        lock(&runs).remove(&id);
        let answer = match waited {
            Ok(r) => Reply::Exited {
                id,
                status: std::os::unix::process::ExitStatusExt::into_raw(r.status),
                user_cpu: r.user_cpu,
                sys_cpu: r.sys_cpu,
                max_rss_bytes: r.max_rss_bytes,
            },
            Err(e) => Reply::Failed {
                id,
                errno: e.raw_os_error().unwrap_or(nix::libc::EIO),
            },
        };
        reply(&socket, &answer);
    };
    // Without a thread (the system is out of them) the wait happens here, holding up the next
    // request rather than losing this one.
    let slot: Arc<Mutex<Option<Waiter>>> = Arc::new(Mutex::new(Some(Box::new(wait))));
    let theirs = slot.clone();
    let thread = std::thread::Builder::new()
        .name(format!("hook-{id}"))
        .stack_size(64 * 1024)
        .spawn(move || run_once(&theirs));
    if thread.is_err() {
        run_once(&slot);
    }
}

/// The wait for one hook and its report.
type Waiter = Box<dyn FnOnce() + Send>;

/// Runs the closure in `slot` unless it already ran.
fn run_once(slot: &Mutex<Option<Waiter>>) {
    let f = lock(slot).take();
    if let Some(f) = f {
        f();
    }
}

/// Starts `cmd`, retrying briefly on `ETXTBSY` (a hook written just before can still be open
/// for writing in a child another process forked).
fn spawn(cmd: &mut Command) -> std::io::Result<std::process::Child> {
    let mut attempt = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(nix::libc::ETXTBSY) && attempt < 10 => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(10 * attempt));
            }
            other => return other,
        }
    }
}

/// Sends one reply; an engine that is gone needs none.
fn reply(socket: &OwnedFd, reply: &Reply) {
    let bytes = reply.encode();
    loop {
        match rustix::net::send(socket, &bytes, SendFlags::NOSIGNAL) {
            Err(rustix::io::Errno::INTR) => continue,
            _ => return,
        }
    }
}

//! The hook process as the leader of its own process group: waiting for it, killing its group,
//! reaping it. Used by the engine for hooks it starts itself ([`crate::exec`]) and by the
//! spawner process ([`crate::spawner`]) for the hooks it starts for the engine.

use crate::sync::lock;
use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{Id, WaitPidFlag, waitid};
use nix::unistd::Pid;
use std::process::ExitStatus;
use std::sync::Mutex;
use std::time::Duration;
use wait4::Wait4;

/// How a reaped hook process ended and what it used (`wait4(2)`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reaped {
    pub status: ExitStatus,
    pub user_cpu: Duration,
    pub sys_cpu: Duration,
    pub max_rss_bytes: u64,
}

/// The hook process, leader of its own process group.
///
/// The group is only signalled while the leader is not reaped: an exited but unreaped leader
/// (a zombie) keeps its pid — and so the group id — reserved, so `killpg` can never hit an
/// unrelated group that reused the number.
#[derive(Debug)]
pub(crate) struct Leader {
    pgid: Pid,
    reaped: Mutex<bool>,
}

impl Leader {
    /// The leader of the group a process spawned with `process_group(0)` created.
    pub(crate) fn new(pid: u32) -> Self {
        Leader {
            pgid: Pid::from_raw(pid as i32),
            reaped: Mutex::new(false),
        }
    }

    /// The process (and group) id.
    pub(crate) fn pid(&self) -> i32 {
        self.pgid.as_raw()
    }

    /// Blocking: returns once the leader has exited (it is not reaped: its pid stays
    /// reserved).
    pub(crate) fn wait_exit(&self) {
        let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOWAIT;
        while let Err(nix::errno::Errno::EINTR) = waitid(Id::Pid(self.pgid), flags) {}
    }

    /// `SIGKILL` to the whole group, unless the leader was already reaped.
    pub(crate) fn kill_group(&self) {
        let reaped = lock(&self.reaped);
        if !*reaped {
            let _ = killpg(self.pgid, Signal::SIGKILL);
        }
    }

    /// Blocking: waits for the leader to exit, kills whatever it left running in its group
    /// (which also releases the pipes it shared), then reaps it with `wait4` for its resource
    /// usage.
    pub(crate) fn wait(&self, child: &mut std::process::Child) -> std::io::Result<Reaped> {
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
        res.map(|r| Reaped {
            status: r.status,
            user_cpu: r.rusage.utime,
            sys_cpu: r.rusage.stime,
            max_rss_bytes: r.rusage.maxrss,
        })
    }
}

//! The hook spawner: one small, long-lived process that starts every hook for the engine, so a
//! hook's max RSS is its own and no process is executed besides the hook.
//!
//! # Why
//! Linux records, when a process calls `execve`, the peak RSS of the address space it leaves
//! in the `ru_maxrss` that `wait4` later reports, and a child starts in a copy of its
//! parent's address space (`fork`), or in the parent's itself (`vfork`, `posix_spawn`). So a
//! hook the operator started itself would report at least the operator's RSS (a trivial bash
//! hook showed ~33 MB). The spawner is a small binary (the operator ships
//! `addon-operator-hook-launcher`, whose `main` calls [`serve_if_asked`]) holding ~2 MB: hooks
//! it starts report their own peak. It is started once, on the first run, not per run: an
//! `execve` of a launcher for every run doubled the cost of a trivial hook
//! (docs/benchmarks.md).
//!
//! # Protocol
//! A `SOCK_SEQPACKET` socket pair, the spawner's end as its stdin ([`wire`]): the engine sends
//! a spawn request (program, arguments, added environment, working directory) with the write
//! ends of the hook's stdout and stderr pipes attached (`SCM_RIGHTS`); the spawner answers that
//! the hook started (or the OS error that kept it from starting), and later that it exited,
//! with its exit status and `wait4` usage. A kill request kills a run's process group.
//!
//! # Guarantees
//! - Each hook runs in its own process group, with the spawner's environment (the operator's,
//!   inherited when the spawner started) plus the run's variables, and stdin `/dev/null`.
//! - After a hook exits, the spawner kills whatever it left running in its group before it
//!   reaps the hook, as the engine does for hooks it starts itself ([`crate::exec`]).
//! - When the engine goes (its end of the socket closes, also when the operator is killed),
//!   the spawner kills the group of every hook still running and exits. The spawner runs in a
//!   process group of its own, so a terminal's Ctrl-C reaches the operator, not it.
//! - When the spawner dies, the runs waiting on it fail and their groups are killed; the next
//!   run starts a new spawner. A run whose request never reached it starts the hook directly.

mod client;
mod server;
mod wire;

pub(crate) use client::{SpawnError, SpawnedRun, SpawnerSlot};
#[cfg(test)]
pub(crate) use tests::connected;

use std::process::ExitCode;

/// The first argument that makes a binary calling [`serve_if_asked`] act as the spawner.
pub const SPAWNER_ARG: &str = "__hook-spawner";

/// Serves as the engine's hook spawner when the process was started as one (its first
/// argument is [`SPAWNER_ARG`], its stdin the engine's socket) and returns the exit code once
/// the engine is gone; `None` otherwise. What the process holds counts in every hook's max
/// RSS: call it first thing in a small binary's `main`.
pub fn serve_if_asked() -> Option<ExitCode> {
    if std::env::args_os().nth(1)? != SPAWNER_ARG {
        return None;
    }
    use std::os::fd::AsFd;
    match std::io::stdin().as_fd().try_clone_to_owned() {
        Ok(socket) => {
            server::serve(socket);
            Some(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("addon-operator hook spawner: no socket on stdin: {e}");
            Some(ExitCode::from(2))
        }
    }
}

/// The launcher binary `name` in the directory of the running executable, if it is there
/// (the operator image ships `addon-operator-hook-launcher` next to `addon-operator`).
pub fn launcher_beside_current_exe(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::current_exe().ok()?.with_file_name(name);
    path.is_file().then_some(path)
}

#[cfg(test)]
mod tests;

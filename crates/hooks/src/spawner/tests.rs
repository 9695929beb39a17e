//! The spawner served on a thread of the test process, driven through the engine's client.

use super::client::SpawnedRun;
use super::client::{SpawnError, Spawner};
use super::server::serve;
use crate::test_support::{running, script, sleeper_script};
use rustix::net::{AddressFamily, SocketFlags, SocketType};
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// A spawner served on a thread of this process, and that thread.
pub(crate) fn connected() -> (Arc<Spawner>, std::thread::JoinHandle<()>) {
    let (ours, theirs) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    let server = std::thread::spawn(move || serve(theirs));
    (Spawner::connect(ours, None).unwrap(), server)
}

/// Two pipes: the read ends, and the write ends for the hook.
fn pipes() -> ([std::io::PipeReader; 2], [OwnedFd; 2]) {
    let (out, out_w) = std::io::pipe().unwrap();
    let (err, err_w) = std::io::pipe().unwrap();
    ([out, err], [out_w.into(), err_w.into()])
}

/// Reads a pipe to its end on a blocking thread.
fn read_to_end(mut pipe: std::io::PipeReader) -> tokio::task::JoinHandle<String> {
    tokio::task::spawn_blocking(move || {
        let mut text = String::new();
        pipe.read_to_string(&mut text).unwrap();
        text
    })
}

async fn wait_for_lines(path: &Path, n: usize) -> Vec<String> {
    for _ in 0..1500 {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= n {
            return text.lines().map(str::to_string).collect();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{} did not get {n} lines", path.display());
}

async fn gone(pids: &[String]) {
    for _ in 0..1500 {
        if pids.iter().all(|p| !running(p)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("processes {pids:?} still run after 30 s");
}

/// A hook started through a fresh spawner that leaves a background `sleep` in its group and
/// sleeps itself: its directory, the spawner and its thread, the run, and both pids.
async fn sleeper() -> (
    tempfile::TempDir,
    Arc<Spawner>,
    std::thread::JoinHandle<()>,
    SpawnedRun,
    Vec<String>,
) {
    let dir = tempfile::tempdir().unwrap();
    let (hook, pids) = sleeper_script(dir.path());
    let (spawner, server) = connected();
    let (_, outputs) = pipes();
    let run = spawner
        .spawn(&hook, &[], &[], dir.path(), outputs)
        .await
        .unwrap();
    let pids = wait_for_lines(&pids, 2).await;
    (dir, spawner, server, run, pids)
}

#[tokio::test]
async fn a_hook_gets_its_pipes_environment_and_directory_and_its_exit_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let hook = script(
        dir.path(),
        "echo \"$X\"; pwd; echo \"$PPID\"; echo oops >&2; exit 3",
    );
    let (spawner, server) = connected();
    let ([out, err], outputs) = pipes();
    let env = [("X", "42 = forty-two".into())];
    let mut run = spawner
        .spawn(&hook, &[], &env, dir.path(), outputs)
        .await
        .unwrap();
    let (out, err) = (read_to_end(out), read_to_end(err));
    let reaped = run.reap().await.unwrap();
    assert_eq!(reaped.status.code(), Some(3));
    assert!(reaped.max_rss_bytes > 0);
    let canon = dir.path().canonicalize().unwrap();
    let out = out.await.unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["42 = forty-two", &canon.display().to_string()]);
    // The server thread started it: its parent is this process.
    assert_eq!(lines[2], std::process::id().to_string());
    assert_eq!(err.await.unwrap(), "oops\n");
    drop((run, spawner));
    server.join().unwrap();
}

#[tokio::test]
async fn a_program_that_cannot_start_is_refused_with_its_os_error() {
    let dir = tempfile::tempdir().unwrap();
    let (spawner, _server) = connected();
    let (_, outputs) = pipes();
    let missing = dir.path().join("missing.sh");
    match spawner.spawn(&missing, &[], &[], dir.path(), outputs).await {
        Err(SpawnError::Refused(e)) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound),
        Err(e) => panic!("{e:?}"),
        Ok(_) => panic!("a missing program started"),
    }
    assert!(
        spawner.is_alive(),
        "one refused hook does not end the spawner"
    );
}

#[tokio::test]
async fn a_killed_run_takes_its_whole_group_and_is_reported_killed() {
    let (_dir, _spawner, _server, mut run, pids) = sleeper().await;
    run.kill_group();
    let reaped = tokio::time::timeout(Duration::from_secs(30), run.reap())
        .await
        .expect("the exit is reported")
        .unwrap();
    assert_eq!(reaped.status.signal(), Some(9));
    gone(&pids).await;
}

#[tokio::test]
async fn when_the_engine_goes_the_spawner_kills_running_hooks_and_stops() {
    let (_dir, spawner, server, mut run, pids) = sleeper().await;
    spawner.close();
    server.join().unwrap();
    gone(&pids).await;
    // The run that was waiting learns that nobody will report its exit.
    let lost = tokio::time::timeout(Duration::from_secs(30), run.reap())
        .await
        .expect("the run ends");
    assert!(lost.is_err(), "{lost:?}");
    assert!(!spawner.is_alive());
}

#[tokio::test]
async fn a_request_too_large_for_one_message_is_not_sent_and_the_spawner_stays() {
    let dir = tempfile::tempdir().unwrap();
    let hook = script(dir.path(), "exit 0");
    let (spawner, _server) = connected();
    let (_, outputs) = pipes();
    let env = [("HUGE", "x".repeat(4 << 20).into())];
    match spawner.spawn(&hook, &[], &env, dir.path(), outputs).await {
        Err(SpawnError::Unavailable(_)) => {}
        Err(e) => panic!("{e:?}"),
        Ok(_) => panic!("a 4 MiB request went through"),
    }
    assert!(spawner.is_alive());
    let (_, outputs) = pipes();
    let mut run = spawner
        .spawn(&hook, &[], &[], dir.path(), outputs)
        .await
        .unwrap();
    assert!(run.reap().await.unwrap().status.success());
}

//! The watch's timing under paused tokio time, fed by scripted watcher events.

use super::*;
use futures::stream;
use kube::core::Status;
use std::sync::{Arc, Mutex};

type Script = Vec<Result<Event<u32>, watcher::Error>>;
type Scripted = stream::BoxStream<'static, Result<Event<u32>, watcher::Error>>;

fn gone() -> watcher::Error {
    watcher::Error::WatchError(
        Status::failure("too old resource version", "Expired")
            .with_code(410)
            .boxed(),
    )
}

fn failing(code: u16) -> watcher::Error {
    watcher::Error::WatchStartFailed(kube::Error::Api(
        Status::failure("injected", "InternalError")
            .with_code(code)
            .boxed(),
    ))
}

/// `Init`, `InitApply` of each object, `InitDone`.
fn listing(objects: &[u32]) -> Script {
    let mut s = vec![Ok(Event::Init)];
    s.extend(objects.iter().map(|o| Ok(Event::InitApply(*o))));
    s.push(Ok(Event::InitDone));
    s
}

fn scripted(script: Script) -> Scripted {
    stream::iter(script).chain(stream::pending()).boxed()
}

/// Deterministic delays: 1 s doubling to 8 s.
const POLICY: BackoffPolicy = BackoffPolicy {
    initial: Duration::from_secs(1),
    max: Duration::from_secs(8),
    jitter: Duration::ZERO,
};

/// Runs `script` through the watch named `what` (restarts get the further `restarts`, in
/// order) and returns each item with the paused clock's time since the start.
async fn run(
    what: &str,
    policy: BackoffPolicy,
    script: Script,
    restarts: Vec<Script>,
    items: usize,
) -> (Vec<(Duration, Result<Update<u32>, String>)>, usize) {
    let scripts = Arc::new(Mutex::new(
        std::iter::once(script)
            .chain(restarts)
            .collect::<std::collections::VecDeque<_>>(),
    ));
    let started = Arc::new(Mutex::new(0));
    let (s, n) = (scripts.clone(), started.clone());
    let start = move || {
        *n.lock().unwrap() += 1;
        scripted(s.lock().unwrap().pop_front().unwrap_or_default())
    };
    let t0 = Instant::now();
    let updates = ListWatch::new(what)
        .backoff(policy)
        .stream_from(start, Some);
    let got = tokio::time::timeout(
        Duration::from_secs(3600),
        updates
            .take(items)
            .map(|i| (t0.elapsed(), i.map_err(|e| e.to_string())))
            .collect::<Vec<_>>(),
    )
    .await
    .expect("every scripted item arrives (likely deadlocked)");
    let started = *started.lock().unwrap();
    (got, started)
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Runs `script` and asserts that its items arrive at `seconds` after the start.
async fn run_timed<const N: usize>(
    policy: BackoffPolicy,
    script: Script,
    seconds: [u64; N],
) -> Vec<(Duration, Result<Update<u32>, String>)> {
    let (got, _) = run("test", policy, script, vec![], N).await;
    let times: Vec<Duration> = got.iter().map(|(t, _)| *t).collect();
    assert_eq!(times, seconds.map(secs), "{got:?}");
    got
}

#[tokio::test(start_paused = true)]
async fn a_410_relists_at_once_and_other_errors_back_off() {
    let mut script = listing(&[1]);
    script.push(Err(gone()));
    script.extend(listing(&[2]));
    script.push(Err(failing(500)));
    script.extend(listing(&[3]));
    let got = run_timed(POLICY, script, [0, 0, 0, 0, 1]).await;
    assert_eq!(got[0].1, Ok(Update::Listed(vec![1])));
    assert_eq!(got[2].1, Ok(Update::Listed(vec![2])));
    assert_eq!(got[4].1, Ok(Update::Listed(vec![3])));
}

#[tokio::test(start_paused = true)]
async fn the_watch_backoff_never_waits_more_than_the_cap_and_resets_after_success() {
    let policy = BackoffPolicy::WATCH;
    let mut script: Script = (0..12).map(|_| Err(failing(500))).collect();
    script.extend(listing(&[1]));
    script.push(Err(failing(503)));
    script.push(Ok(Event::Apply(2)));
    let (got, _) = run("test", policy, script, vec![], 15).await;
    let times: Vec<Duration> = got.iter().map(|(t, _)| *t).collect();
    for attempt in 1..=12u32 {
        let i = attempt as usize;
        let waited = times[i] - times[i - 1];
        assert!(
            waited >= policy.delay(attempt, 0.0) && waited <= policy.delay(attempt, 1.0),
            "retry {attempt} waited {waited:?}: {times:?}"
        );
        assert!(waited <= policy.longest(), "capped: {times:?}");
    }
    assert_eq!(got[12].1, Ok(Update::Listed(vec![1])));
    // The listing reset the backoff: the error after it waits the first delay again.
    let waited = times[14] - times[13];
    assert!(
        waited >= policy.initial && waited <= policy.delay(1, 1.0),
        "reset after success: waited {waited:?}"
    );
    assert_eq!(got[14].1, Ok(Update::Applied(2)));
}

#[tokio::test(start_paused = true)]
async fn a_410_right_after_a_quick_relist_waits_like_any_error() {
    let mut script = listing(&[]);
    for _ in 0..2 {
        script.push(Err(gone()));
        script.extend(listing(&[]));
    }
    run_timed(POLICY, script, [0, 0, 0, 0, 1]).await;
}

#[tokio::test(start_paused = true)]
async fn a_410_answer_to_the_watch_request_starts_a_fresh_watcher() {
    let mut first = listing(&[1]);
    first.push(Err(watcher::Error::WatchStartFailed(kube::Error::Api(
        Status::failure("too old", "Expired").with_code(410).boxed(),
    ))));
    // What the stale watcher would say next, had it been kept.
    first.push(Ok(Event::Apply(99)));
    let (got, started) = run("test", POLICY, first, vec![listing(&[5])], 3).await;
    assert_eq!(started, 2, "a fresh watcher");
    assert_eq!(got[2], (secs(0), Ok(Update::Listed(vec![5]))));
}

#[tokio::test(start_paused = true)]
async fn listings_hold_only_projected_objects_and_unselected_events_are_dropped() {
    let mut script = listing(&[1, 2, 3, 4]);
    script.extend([
        Ok(Event::Apply(5)),
        Ok(Event::Delete(6)),
        Ok(Event::Apply(7)),
    ]);
    let start = move || scripted(std::mem::take(&mut script));
    let mut updates = ListWatch::new("test").stream_from(start, |n: u32| {
        (n.is_multiple_of(2) || n == 7).then_some(n * 10)
    });
    assert_eq!(
        updates.next().await.unwrap().unwrap(),
        Update::Listed(vec![20, 40])
    );
    assert_eq!(updates.next().await.unwrap().unwrap(), Update::Deleted(60));
    assert_eq!(updates.next().await.unwrap().unwrap(), Update::Applied(70));
}

/// The file every log line of this test binary goes to. A global subscriber, because
/// thread-local ones race with tracing's per-callsite interest cache when tests run in
/// parallel; tests tell their lines apart by the watch's name.
fn log_file() -> &'static std::path::Path {
    static LOG: std::sync::OnceLock<tempfile::NamedTempFile> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let file = tempfile::NamedTempFile::new().unwrap();
        // `&File` writes, so `Arc<File>` is a tracing writer.
        let subscriber = tracing_subscriber::fmt()
            .with_writer(Arc::new(file.reopen().unwrap()))
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        file
    })
    .path()
}

#[tokio::test(start_paused = true)]
async fn an_outage_logs_one_line_per_interval_and_one_on_recovery() {
    log_file();
    let mut script: Script = (0..200).map(|_| Err(failing(500))).collect();
    script.extend(listing(&[1]));
    let what = "outage-logging";
    let (got, _) = run(what, BackoffPolicy::WATCH, script, vec![], 201).await;
    let outage = got[200].0;
    let text = std::fs::read_to_string(log_file()).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(&format!("watch={what}")))
        .collect();
    let failed = lines
        .iter()
        .filter(|l| l.contains("watch failed; retrying"))
        .count();
    let recovered = lines
        .iter()
        .filter(|l| l.contains("watch recovered"))
        .count();
    // 200 failures over ~10 minutes of (virtual) outage: the first, then one per 30 s.
    let bound = 1 + (outage.as_secs() / LOG_INTERVAL.as_secs()) as usize;
    assert!(
        failed >= 2 && failed <= bound,
        "{failed} lines over {outage:?}: {lines:#?}"
    );
    assert_eq!(recovered, 1, "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains("repeated=")),
        "lines carry the count of held-back errors: {lines:#?}"
    );
}

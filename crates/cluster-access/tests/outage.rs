//! A watch against the kube emulator through an injected API outage (issue 8 §3): its
//! requests and log lines stay bounded by the backoff policy and the log throttle, and once the
//! API is back a `410 Gone` relists at once.

#![allow(clippy::unwrap_used)]

use cluster_access::{BackoffPolicy, ListWatch, Update, UpdateStream};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use kube::runtime::watcher;
use kube_emulator::{Config, Emulator};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Short delays so the outage takes seconds; the real numbers are proven under paused time in
/// the unit tests.
const POLICY: BackoffPolicy = BackoffPolicy {
    initial: Duration::from_millis(20),
    max: Duration::from_millis(100),
    jitter: Duration::ZERO,
};
const LOG_EVERY: Duration = Duration::from_millis(500);

fn client(emu: &Emulator) -> kube::Client {
    kube::Client::try_from(kube::Config::new(emu.url().parse().unwrap())).unwrap()
}

/// The lines of the `cluster_access` log about the watch named `what`. All tests log into one
/// file through a global subscriber: thread-local ones race with tracing's per-callsite
/// interest cache when tests run in parallel.
fn log_lines(what: &str, text: &str) -> usize {
    static LOG: OnceLock<tempfile::NamedTempFile> = OnceLock::new();
    let file = LOG.get_or_init(|| {
        let file = tempfile::NamedTempFile::new().unwrap();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("cluster_access=info")
            .with_writer(Arc::new(file.reopen().unwrap()))
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        file
    });
    let log = std::fs::read_to_string(file.path()).unwrap();
    let watch = format!("watch={what} ");
    log.lines()
        .filter(|l| l.contains(&watch) && l.contains(text))
        .count()
}

/// The next update, failing the test after a generous timeout.
async fn next(updates: &mut UpdateStream<String>) -> Result<Update<String>, watcher::Error> {
    tokio::time::timeout(Duration::from_secs(30), updates.next())
        .await
        .expect("an update within 30 s")
        .expect("the watch never ends")
}

/// The next listing, skipping the errors before it.
async fn next_listing(updates: &mut UpdateStream<String>) -> Vec<String> {
    loop {
        if let Ok(Update::Listed(mut names)) = next(updates).await {
            names.sort();
            return names;
        }
    }
}

fn names_watch(what: &str, cms: &Api<ConfigMap>) -> UpdateStream<String> {
    log_lines(what, ""); // the log is set up before the watch logs
    ListWatch::new(what)
        .backoff(POLICY)
        .log_every(LOG_EVERY)
        .stream(cms.clone(), watcher::Config::default(), |cm: ConfigMap| {
            cm.metadata.name
        })
}

async fn create(cms: &Api<ConfigMap>, name: &str) {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.into());
    cms.create(&PostParams::default(), &cm).await.unwrap();
}

#[tokio::test]
async fn an_outage_costs_requests_and_log_lines_bounded_by_the_policy() {
    let what = "outage";
    let emu = Emulator::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client(&emu), "default");
    create(&cms, "before").await;
    let mut updates = names_watch(what, &cms);
    assert_eq!(next_listing(&mut updates).await, ["before"]);

    let controls = emu.controls();
    controls.fail_percent(100, None, None, 500);
    controls.close_watches();
    let started = Instant::now();
    // Let the outage last until the watch failed 30 times, observed by the emulator.
    let mut errors = 0;
    while controls.injected() < 30 {
        if next(&mut updates).await.is_err() {
            errors += 1;
        }
    }
    let outage = started.elapsed();
    let requests = controls.injected();
    // After the first doublings (20, 40, 80 ms) every retry waits the 100 ms cap.
    let by_policy = 4 + (outage.as_millis() / POLICY.max.as_millis()) as u64;
    assert!(
        requests <= by_policy,
        "{requests} requests in {outage:?} (policy allows {by_policy})"
    );
    let logged = log_lines(what, "watch failed; retrying");
    let by_throttle = 1 + (outage.as_millis() / LOG_EVERY.as_millis()) as usize;
    assert!(
        logged >= 1 && logged <= by_throttle,
        "{logged} log lines for {errors} errors in {outage:?} (throttle allows {by_throttle})"
    );

    controls.clear_faults();
    create(&cms, "after").await;
    loop {
        if let Ok(update) = next(&mut updates).await {
            assert_eq!(
                update,
                Update::Applied("after".into()),
                "resumed, not relisted"
            );
            break;
        }
    }
    assert_eq!(log_lines(what, "watch recovered"), 1);
}

#[tokio::test]
async fn after_an_outage_that_outlived_the_watch_history_a_410_relists_at_once() {
    let what = "history";
    let emu = Emulator::start_with(Config {
        watch_history: 3,
        ..Config::default()
    })
    .await
    .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client(&emu), "default");
    let mut updates = names_watch(what, &cms);
    assert!(next_listing(&mut updates).await.is_empty());

    // Reads fail while writes go on: the watch's resourceVersion falls out of the history.
    let controls = emu.controls();
    controls.fail_next(u32::MAX, Some("watch"), None, 500);
    controls.fail_next(u32::MAX, Some("list"), None, 500);
    controls.close_watches();
    let before = controls.injected();
    for i in 0..10 {
        create(&cms, &format!("cm-{i}")).await;
    }
    while controls.injected() < before + 3 {
        let _ = next(&mut updates).await;
    }
    controls.clear_faults();
    let expected: Vec<String> = (0..10).map(|i| format!("cm-{i}")).collect();
    assert_eq!(next_listing(&mut updates).await, expected);
    assert_eq!(
        log_lines(what, "relisting at once"),
        1,
        "the resumed watch got 410 Gone and relisted without waiting"
    );
}

//! Fault injection: each fault happens, is counted, and a kube-rs watcher recovers from it.
#![allow(clippy::unwrap_used)]

mod common;

use common::{error_code, eventually, reflect, start_with_configmaps, store_matches_server};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{reflector, watcher};
use kube_emulator::Emulator;
use serde_json::json;
use std::time::{Duration, Instant};

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}})).unwrap()
}

fn code(e: kube::Error) -> u16 {
    error_code(e).0
}

/// Clears the faults and waits until the reflector holds what the server has.
async fn converges(emu: &Emulator, cms: &Api<ConfigMap>, reader: &reflector::Store<ConfigMap>) {
    emu.controls().clear_faults();
    let what = "reflector converges after the fault";
    store_matches_server(what, cms, reader, &ListParams::default()).await;
}

#[tokio::test]
async fn fail_next_should_fail_matching_requests_and_the_watcher_should_recover() {
    let (emu, cms) = start_with_configmaps().await;
    emu.controls()
        .fail_next(2, Some("get"), Some("configmaps"), 500);
    assert_eq!(code(cms.get("x").await.unwrap_err()), 500);
    assert_eq!(code(cms.get("x").await.unwrap_err()), 500);
    assert_eq!(
        code(cms.get("x").await.unwrap_err()),
        404,
        "only two failures were injected"
    );

    emu.controls().fail_next(2, Some("list"), None, 429);
    let (reader, task) = reflect(&cms, watcher::Config::default());
    cms.create(&PostParams::default(), &cm("a")).await.unwrap();
    let controls = emu.controls();
    eventually("both list failures were injected", || {
        let n = controls.injected();
        async move { n == 4 }
    })
    .await;
    converges(&emu, &cms, &reader).await;
    task.abort();
    emu.shutdown().await;
}

#[tokio::test]
async fn fail_percent_should_fail_that_share_and_the_watcher_should_recover() {
    let (emu, cms) = start_with_configmaps().await;
    emu.controls()
        .fail_percent(50, Some("create"), Some("configmaps"), 500);
    let mut failures = 0;
    for i in 0..10 {
        if cms
            .create(&PostParams::default(), &cm(&format!("c{i}")))
            .await
            .is_err()
        {
            failures += 1;
        }
    }
    assert_eq!(failures, 5);
    emu.controls().fail_percent(50, Some("watch"), None, 500);
    let (reader, task) = reflect(&cms, watcher::Config::default());
    for i in 0..3 {
        emu.controls().close_watches();
        cms.create(&PostParams::default(), &cm(&format!("w{i}")))
            .await
            .unwrap();
    }
    converges(&emu, &cms, &reader).await;
    task.abort();
    emu.shutdown().await;
}

#[tokio::test]
async fn conflict_next_write_should_reject_exactly_one_write() {
    let (emu, cms) = start_with_configmaps().await;
    emu.controls().conflict_next_write();
    cms.list(&ListParams::default()).await.unwrap();
    assert_eq!(
        code(
            cms.create(&PostParams::default(), &cm("a"))
                .await
                .unwrap_err()
        ),
        409
    );
    cms.create(&PostParams::default(), &cm("a")).await.unwrap();
    assert_eq!(emu.controls().writes(), 2);
    emu.shutdown().await;
}

#[tokio::test]
async fn latency_should_delay_requests() {
    let (emu, cms) = start_with_configmaps().await;
    emu.controls().set_latency(Duration::from_millis(150));
    let t = Instant::now();
    cms.list(&ListParams::default()).await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(150));
    emu.controls().set_latency(Duration::ZERO);
    emu.shutdown().await;
}

#[tokio::test]
async fn periodic_watch_closing_should_reconnect_watchers_without_losing_objects() {
    let (emu, cms) = start_with_configmaps().await;
    let (reader, task) = reflect(&cms, watcher::Config::default());
    reader.wait_until_ready().await.unwrap();
    emu.controls()
        .close_watches_every(Duration::from_millis(50));
    // Keep writing while the watches are cut, until they were re-opened three times.
    let controls = emu.controls();
    let created = std::sync::atomic::AtomicUsize::new(0);
    eventually("watches closed and re-opened at least 3 times", || {
        let i = created.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (cms, watches) = (cms.clone(), controls.count("watch", "configmaps"));
        async move {
            cms.create(&PostParams::default(), &cm(&format!("p{i}")))
                .await
                .unwrap();
            watches >= 4
        }
    })
    .await;
    converges(&emu, &cms, &reader).await;
    task.abort();
    emu.shutdown().await;
}

#[tokio::test]
async fn counters_should_show_no_writes_in_steady_state() {
    let (emu, cms) = start_with_configmaps().await;
    cms.create(&PostParams::default(), &cm("a")).await.unwrap();
    emu.controls().reset_counts();
    cms.get("a").await.unwrap();
    cms.list(&ListParams::default()).await.unwrap();
    assert_eq!(emu.controls().writes(), 0);
    let counts = emu.controls().counts();
    assert_eq!(
        counts.get(&("get".to_string(), "configmaps".to_string())),
        Some(&1)
    );
    assert_eq!(
        counts.get(&("list".to_string(), "configmaps".to_string())),
        Some(&1)
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn counters_should_count_dry_runs_apart_from_writes() {
    let (emu, cms) = start_with_configmaps().await;
    cms.create(&PostParams::default(), &cm("a")).await.unwrap();
    emu.controls().reset_counts();
    emu.controls().conflict_next_write();
    let dry = PatchParams::apply("test").dry_run();
    let patch = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}});
    cms.patch("a", &dry, &Patch::Apply(&patch)).await.unwrap();
    let c = emu.controls();
    assert_eq!(c.count("patch?dryRun", "configmaps"), 1);
    assert_eq!(c.count("patch", "configmaps"), 0);
    assert_eq!((c.writes(), c.dry_runs()), (0, 1));
    // The dry-run did not take the injected conflict: the next real write does.
    let real = PatchParams::apply("test");
    let err = cms
        .patch("a", &real, &Patch::Apply(&patch))
        .await
        .unwrap_err();
    assert_eq!(code(err), 409);
    assert_eq!(c.writes(), 1);
    emu.shutdown().await;
}

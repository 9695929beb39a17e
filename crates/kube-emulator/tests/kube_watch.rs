//! kube-rs watches against the emulator: raw watch semantics, and kube-runtime's
//! watcher/reflector through forced reconnects and 410 Gone.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    client, error_code, eventually, reflect, server_names, start_with_configmaps,
    store_matches_server, store_names, within,
};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube_emulator::{Config, Emulator};
use serde_json::json;
use std::time::Duration;

fn cm(name: &str, app: &str) -> ConfigMap {
    serde_json::from_value(
        json!({"metadata": {"name": name, "labels": {"app": app}}, "data": {"k": "v"}}),
    )
    .unwrap()
}

async fn next_event(
    stream: &mut (impl futures::Stream<Item = kube::Result<WatchEvent<ConfigMap>>> + Unpin),
) -> WatchEvent<ConfigMap> {
    within("watch event", stream.next())
        .await
        .expect("stream still open")
        .expect("event decodes")
}

fn describe(e: &WatchEvent<ConfigMap>) -> String {
    match e {
        WatchEvent::Added(o) => format!("ADDED {}", o.metadata.name.clone().unwrap_or_default()),
        WatchEvent::Modified(o) => {
            format!("MODIFIED {}", o.metadata.name.clone().unwrap_or_default())
        }
        WatchEvent::Deleted(o) => {
            format!("DELETED {}", o.metadata.name.clone().unwrap_or_default())
        }
        WatchEvent::Bookmark(_) => "BOOKMARK".into(),
        WatchEvent::Error(e) => format!("ERROR {}", e.code),
    }
}

#[tokio::test]
async fn watch_from_a_resource_version_should_replay_later_events_in_order() {
    let (emu, cms) = start_with_configmaps().await;
    let pp = PostParams::default();
    cms.create(&pp, &cm("before", "x")).await.unwrap();
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    cms.create(&pp, &cm("a", "x")).await.unwrap();
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "2"}})),
    )
    .await
    .unwrap();
    cms.delete("a", &DeleteParams::default()).await.unwrap();
    let mut stream = cms
        .watch(&WatchParams::default().disable_bookmarks(), &rv)
        .await
        .unwrap()
        .boxed();
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(describe(&next_event(&mut stream).await));
    }
    assert_eq!(seen, vec!["ADDED a", "MODIFIED a", "DELETED a"]);
    cms.create(&pp, &cm("live", "x")).await.unwrap();
    assert_eq!(describe(&next_event(&mut stream).await), "ADDED live");
    emu.shutdown().await;
}

#[tokio::test]
async fn label_selector_watch_should_send_deleted_when_an_object_stops_matching() {
    let (emu, cms) = start_with_configmaps().await;
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = cms
        .watch(
            &WatchParams::default().labels("app=web").disable_bookmarks(),
            &rv,
        )
        .await
        .unwrap()
        .boxed();
    cms.create(&PostParams::default(), &cm("other", "db"))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &cm("w", "web"))
        .await
        .unwrap();
    assert_eq!(describe(&next_event(&mut stream).await), "ADDED w");
    let relabel = |app: &str| Patch::Merge(json!({"metadata": {"labels": {"app": app}}}));
    cms.patch("w", &PatchParams::default(), &relabel("db"))
        .await
        .unwrap();
    assert_eq!(describe(&next_event(&mut stream).await), "DELETED w");
    cms.patch("other", &PatchParams::default(), &relabel("web"))
        .await
        .unwrap();
    assert_eq!(describe(&next_event(&mut stream).await), "ADDED other");
    emu.shutdown().await;
}

#[tokio::test]
async fn a_too_old_resource_version_should_yield_a_410_error_event() {
    let config = Config {
        watch_history: 3,
        ..Config::default()
    };
    let emu = Emulator::start_with(config).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client(&emu), "default");
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    for i in 0..10 {
        cms.create(&PostParams::default(), &cm(&format!("c{i}"), "x"))
            .await
            .unwrap();
    }
    let mut stream = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    match next_event(&mut stream).await {
        WatchEvent::Error(e) => assert_eq!((e.code, e.reason.as_str()), (410, "Expired")),
        other => panic!("expected 410, got {}", describe(&other)),
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn bookmarks_and_timeouts_should_be_honoured() {
    let config = Config {
        bookmark_interval: Duration::from_millis(50),
        ..Config::default()
    };
    let emu = Emulator::start_with(config).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client(&emu), "default");
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let started = tokio::time::Instant::now();
    let mut stream = cms
        .watch(&WatchParams::default().timeout(1), &rv)
        .await
        .unwrap()
        .boxed();
    assert_eq!(describe(&next_event(&mut stream).await), "BOOKMARK");
    let mut bookmarks = 1;
    // The server ends the stream at its timeoutSeconds; without it the stream stays open and
    // `within` fails.
    while let Some(ev) = within("the end of the watch at its timeout", stream.next()).await {
        assert_eq!(describe(&ev.unwrap()), "BOOKMARK");
        bookmarks += 1;
    }
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the watch lasted its timeoutSeconds"
    );
    assert!(
        bookmarks >= 2,
        "bookmarks keep coming every 50 ms: {bookmarks}"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn reflector_should_stay_complete_through_forced_reconnects() {
    let (emu, cms) = start_with_configmaps().await;
    for i in 0..20 {
        cms.create(&PostParams::default(), &cm(&format!("pre-{i}"), "x"))
            .await
            .unwrap();
    }
    let (reader, task) = reflect(&cms, watcher::Config::default());
    reader.wait_until_ready().await.unwrap();
    for round in 0..5 {
        emu.controls().close_watches();
        cms.create(&PostParams::default(), &cm(&format!("during-{round}"), "x"))
            .await
            .unwrap();
        cms.delete(&format!("pre-{round}"), &DeleteParams::default())
            .await
            .unwrap();
    }
    let all = ListParams::default();
    store_matches_server("reflector matches the server", &cms, &reader, &all).await;
    assert!(
        emu.controls().count("watch", "configmaps") >= 2,
        "the watch was re-established"
    );
    task.abort();
    emu.shutdown().await;
}

#[tokio::test]
async fn watcher_should_relist_after_410_and_converge() {
    let config = Config {
        watch_history: 5,
        ..Config::default()
    };
    let emu = Emulator::start_with(config).await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client(&emu), "default");
    cms.create(&PostParams::default(), &cm("first", "x"))
        .await
        .unwrap();
    let (reader, writer) = reflector::store();
    let mut stream = reflector(
        writer,
        watcher(cms.clone(), watcher::Config::default()).default_backoff(),
    )
    .boxed();
    // Drive the watcher until the initial list is in the store.
    while store_names(&reader).is_empty() {
        within("initial list", stream.try_next()).await.unwrap();
    }
    // Pause the watcher, end its watch, and let the history move past its resourceVersion.
    emu.controls().close_watches();
    for i in 0..20 {
        cms.create(&PostParams::default(), &cm(&format!("n{i}"), "x"))
            .await
            .unwrap();
    }
    cms.delete("first", &DeleteParams::default()).await.unwrap();
    let lists_before = emu.controls().count("list", "configmaps");
    let want = server_names(&cms, &ListParams::default()).await;
    let lists_after_check = emu.controls().count("list", "configmaps");
    let drive = async {
        while store_names(&reader) != want {
            // The 410 surfaces as an error item; the watcher relists on the next poll.
            if let Err(e) = stream.try_next().await {
                assert!(
                    e.to_string().contains("410") || e.to_string().contains("Expired"),
                    "{e}"
                );
            }
        }
    };
    within("recovery from 410 Gone", drive).await;
    assert!(
        emu.controls().count("list", "configmaps") > lists_after_check,
        "the watcher relisted ({lists_before} lists before)"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn streaming_list_watcher_should_receive_initial_events_then_changes() {
    let (emu, cms) = start_with_configmaps().await;
    for i in 0..3 {
        cms.create(&PostParams::default(), &cm(&format!("s{i}"), "x"))
            .await
            .unwrap();
    }
    let (reader, task) = reflect(&cms, watcher::Config::default().streaming_lists());
    reader.wait_until_ready().await.unwrap();
    assert_eq!(store_names(&reader).len(), 3);
    assert_eq!(
        emu.controls().count("list", "configmaps"),
        0,
        "streaming lists do not LIST"
    );
    cms.create(&PostParams::default(), &cm("s3", "x"))
        .await
        .unwrap();
    eventually("the new object arrives", || {
        let reader = reader.clone();
        async move { store_names(&reader).len() == 4 }
    })
    .await;
    task.abort();
    emu.shutdown().await;
}

#[tokio::test]
async fn deleting_a_crd_should_delete_its_objects_and_end_watches_on_it() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::DynamicObject;
    use kube::core::{ApiResource, GroupVersionKind};
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    common::create_widget_crd(&c).await;
    let crds: Api<CustomResourceDefinition> = Api::all(c.clone());
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    );
    let widgets: Api<DynamicObject> = Api::namespaced_with(c, "default", &ar);
    let w: DynamicObject = serde_json::from_value(
        json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}}),
    )
    .unwrap();
    widgets.create(&PostParams::default(), &w).await.unwrap();
    let rv = widgets
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = widgets
        .watch(&WatchParams::default().disable_bookmarks(), &rv)
        .await
        .unwrap()
        .boxed();
    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    let first = within("first event", stream.next()).await.unwrap().unwrap();
    assert!(
        matches!(first, WatchEvent::Deleted(ref o) if o.metadata.name.as_deref() == Some("w1"))
    );
    let end = within("the end of the watch with its resource", stream.next()).await;
    assert!(end.is_none());
    emu.shutdown().await;
}

#[tokio::test]
async fn metadata_watcher_and_metadata_reads_should_get_partial_object_metadata() {
    use kube::core::PartialObjectMeta;
    let (emu, cms) = start_with_configmaps().await;
    cms.create(&PostParams::default(), &cm("m1", "x"))
        .await
        .unwrap();
    let meta = cms.get_metadata("m1").await.unwrap();
    assert_eq!(meta.types.unwrap().kind, "PartialObjectMetadata");
    let listed = cms.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 1);
    let metas: Api<PartialObjectMeta<ConfigMap>> = Api::namespaced(client(&emu), "default");
    let mut stream = watcher(metas, watcher::Config::default())
        .applied_objects()
        .boxed();
    let first = within("first event", stream.next()).await.unwrap().unwrap();
    assert_eq!(first.metadata.name.as_deref(), Some("m1"));
    cms.create(&PostParams::default(), &cm("m2", "x"))
        .await
        .unwrap();
    let second = within("second event", stream.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.metadata.name.as_deref(), Some("m2"));
    emu.shutdown().await;
}

#[tokio::test]
async fn watch_on_a_named_path_should_see_only_that_object() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let path =
        format!("/api/v1/namespaces/default/configmaps/mine?watch=true&resourceVersion={rv}");
    let req = http::Request::get(path).body(Vec::new()).unwrap();
    let mut stream = c.request_events::<ConfigMap>(req).await.unwrap().boxed();
    cms.create(&PostParams::default(), &cm("other", "x"))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &cm("mine", "x"))
        .await
        .unwrap();
    assert_eq!(describe(&next_event(&mut stream).await), "ADDED mine");
    emu.shutdown().await;
}

/// xorshift64: deterministic pseudo-random numbers without a dependency.
fn next_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[tokio::test]
async fn selector_reflector_should_match_the_server_after_random_changes_and_reconnects() {
    let (emu, cms) = start_with_configmaps().await;
    let (reader, task) = reflect(&cms, watcher::Config::default().labels("app=web"));
    reader.wait_until_ready().await.unwrap();
    let mut rng = 0x2545_F491_4F6C_DD1D_u64;
    // What the server must hold: name -> app label. Every write's outcome is checked
    // against it, so a write the server wrongly refuses (or wrongly accepts) fails here.
    let mut model: std::collections::BTreeMap<String, &str> = Default::default();
    for _ in 0..150 {
        let name = format!("r{}", next_random(&mut rng) % 12);
        let app = if next_random(&mut rng).is_multiple_of(2) {
            "web"
        } else {
            "db"
        };
        let exists = model.contains_key(&name);
        match next_random(&mut rng) % 5 {
            0 | 1 => match cms.create(&PostParams::default(), &cm(&name, app)).await {
                Ok(_) => assert!(model.insert(name, app).is_none(), "created twice"),
                Err(e) => assert_eq!((exists, error_code(e).0), (true, 409)),
            },
            2 => {
                let relabel = Patch::Merge(json!({"metadata": {"labels": {"app": app}}}));
                match cms.patch(&name, &PatchParams::default(), &relabel).await {
                    Ok(_) => assert!(
                        model.insert(name, app).is_some(),
                        "patched a missing object"
                    ),
                    Err(e) => assert_eq!((exists, error_code(e).0), (false, 404)),
                }
            }
            3 => match cms.delete(&name, &DeleteParams::default()).await {
                Ok(_) => assert!(model.remove(&name).is_some(), "deleted a missing object"),
                Err(e) => assert_eq!((exists, error_code(e).0), (false, 404)),
            },
            _ => emu.controls().close_watches(),
        }
    }
    let web_names: std::collections::BTreeSet<String> = model
        .iter()
        .filter(|(_, app)| **app == "web")
        .map(|(name, _)| name.clone())
        .collect();
    assert!(
        !web_names.is_empty(),
        "the sequence leaves some app=web objects"
    );
    let web = ListParams::default().labels("app=web");
    assert_eq!(
        server_names(&cms, &web).await,
        web_names,
        "the server holds the model"
    );
    let what = "the selector reflector matches the server";
    store_matches_server(what, &cms, &reader, &web).await;
    task.abort();
    emu.shutdown().await;
}

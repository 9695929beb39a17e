//! Shared helpers for the integration tests.
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube_emulator::Emulator;
use std::collections::BTreeSet;
use std::future::Future;
use std::time::Duration;

/// How long a test waits for something it expects (an event, a convergence): generous, so a
/// loaded 2-core CI machine never trips it; reaching it means a hang, not slowness.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Awaits `fut`, failing the test after [`PATIENCE`] with `what`.
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, fut).await {
        Ok(v) => v,
        Err(_) => panic!("no {what} within {PATIENCE:?}: likely deadlocked"),
    }
}

/// A kube-rs client for an emulator.
pub fn client(emu: &Emulator) -> kube::Client {
    let url = emu.url().parse().expect("emulator url is a valid URI");
    kube::Client::try_from(kube::Config::new(url)).expect("kube client builds for http urls")
}

/// An emulator on an ephemeral port and a client for the ConfigMaps of its `default` namespace.
pub async fn start_with_configmaps() -> (Emulator, Api<ConfigMap>) {
    let emu = Emulator::start().await.expect("the emulator starts");
    let cms = Api::namespaced(client(&emu), "default");
    (emu, cms)
}

/// The status code and reason of an API error.
pub fn error_code(e: kube::Error) -> (u16, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason),
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Names of the ConfigMaps the server lists with `params`.
pub async fn server_names(cms: &Api<ConfigMap>, params: &ListParams) -> BTreeSet<String> {
    cms.list(params)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect()
}

/// Names of the ConfigMaps in a reflector's store.
pub fn store_names(reader: &reflector::Store<ConfigMap>) -> BTreeSet<String> {
    reader
        .state()
        .iter()
        .filter_map(|c| c.metadata.name.clone())
        .collect()
}

/// Starts a reflector (with the default backoff) on `cms`; returns its reader and the task
/// driving it (abort it to stop).
pub fn reflect(
    cms: &Api<ConfigMap>,
    config: watcher::Config,
) -> (reflector::Store<ConfigMap>, tokio::task::JoinHandle<()>) {
    let (reader, writer) = reflector::store();
    let stream = reflector(writer, watcher(cms.clone(), config).default_backoff());
    (
        reader,
        tokio::spawn(stream.applied_objects().for_each(|_| async {})),
    )
}

/// Waits (up to [`PATIENCE`]) until the reflector's store holds exactly what the server lists
/// with `params`.
pub async fn store_matches_server(
    what: &str,
    cms: &Api<ConfigMap>,
    reader: &reflector::Store<ConfigMap>,
    params: &ListParams,
) {
    let want = server_names(cms, params).await;
    eventually(what, || {
        let got = store_names(reader);
        let want = want.clone();
        async move { got == want }
    })
    .await;
}

/// Creates the [`widget_crd`] through `client`.
pub async fn create_widget_crd(client: &kube::Client) -> CustomResourceDefinition {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let crd = serde_json::from_value(widget_crd()).unwrap();
    crds.create(&PostParams::default(), &crd).await.unwrap()
}

/// The container names of a Deployment's pod template, in order.
pub fn container_names(deployment: k8s_openapi::api::apps::v1::Deployment) -> Vec<String> {
    deployment
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers
        .into_iter()
        .map(|c| c.name)
        .collect()
}

/// Polls the observable condition `check` every 20 ms until it returns true, failing after
/// [`PATIENCE`].
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out after {PATIENCE:?} waiting for: {what}");
}

/// A CRD for `widgets.example.com` (namespaced, v1 with status, v2 served too).
pub fn widget_crd() -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [
                {"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                {"name": "v2", "served": true, "storage": false,
                 "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}
            ]
        }
    })
}

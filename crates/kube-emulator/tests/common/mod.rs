//! Shared helpers for the integration tests.
#![allow(clippy::unwrap_used)]
#![allow(dead_code)]

use kube_emulator::Emulator;
use std::future::Future;
use std::time::Duration;

/// A kube-rs client for an emulator.
pub fn client(emu: &Emulator) -> kube::Client {
    let url = emu.url().parse().expect("emulator url is a valid URI");
    kube::Client::try_from(kube::Config::new(url)).expect("kube client builds for http urls")
}

/// Polls `check` every 20 ms until it returns true, failing after `secs` seconds.
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out after {secs}s waiting for: {what}");
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

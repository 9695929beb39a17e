//! Shared setup: an emulator on an ephemeral port, a kube client, a reconciler, object builders.

#![allow(dead_code, clippy::unwrap_used)]

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, PostParams};
use kube_emulator::{Config, Emulator};
use reconciler::{ApplyOptions, Reconciler};
use serde_json::{Value, json};
use std::time::Duration;

/// The operator namespace used by every test.
pub const OPERATOR_NS: &str = "addon-operator";

/// A running emulator plus a client and a reconciler pointed at it.
pub struct Harness {
    pub emu: Emulator,
    pub client: kube::Client,
    pub reconciler: Reconciler,
}

impl Harness {
    /// Starts the emulator and creates the operator namespace.
    pub async fn start() -> Harness {
        Harness::start_with(Config::default()).await
    }

    /// Starts the emulator with `config` and creates the operator namespace.
    pub async fn start_with(config: Config) -> Harness {
        let emu = Emulator::start_with(config)
            .await
            .expect("failed to start the kube emulator");
        let config = kube::Config::new(emu.url().parse().unwrap());
        let client = kube::Client::try_from(config).unwrap();
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let ns: Namespace =
            serde_json::from_value(json!({"metadata": {"name": OPERATOR_NS}})).unwrap();
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
        let reconciler = Reconciler::new(client.clone(), OPERATOR_NS)
            .with_ready_timeout(Duration::from_secs(10));
        Harness {
            emu,
            client,
            reconciler,
        }
    }

    /// Object writes (create/update/patch/delete) the emulator served since the last reset.
    pub fn writes(&self) -> u64 {
        self.emu.controls().writes()
    }

    /// Requests of one verb on one resource since the last reset.
    pub fn count(&self, verb: &str, resource: &str) -> u64 {
        self.emu.controls().count(verb, resource)
    }

    /// Every request since the last reset.
    pub fn requests(&self) -> u64 {
        self.emu.controls().counts().values().sum()
    }

    pub fn reset(&self) {
        self.emu.controls().reset_counts();
    }

    /// A ConfigMap in the operator namespace, if it exists.
    pub async fn config_map(&self, name: &str) -> Option<ConfigMap> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), OPERATOR_NS);
        api.get_opt(name).await.unwrap()
    }

    pub async fn apply(&self, module: &str, objects: Vec<Value>) -> reconciler::ApplyReport {
        self.reconciler
            .apply_module(module, objects, &opts())
            .await
            .unwrap_or_else(|e| panic!("apply of {module} failed: {e}"))
    }
}

pub fn opts() -> ApplyOptions {
    ApplyOptions {
        checksum: "c1".into(),
        ..ApplyOptions::default()
    }
}

/// A ConfigMap without a namespace (the reconciler defaults it to the operator namespace).
pub fn cm(name: &str, value: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"k": value}})
}

/// A Deployment `d` whose selector and pod labels are `app: <app>`.
pub fn deployment(app: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": {"app": app}},
          "template": {"metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
}

/// `n` ConfigMaps `prefix-0..n`.
pub fn cms(prefix: &str, n: usize) -> Vec<Value> {
    (0..n).map(|i| cm(&format!("{prefix}-{i}"), "v1")).collect()
}

pub fn names(refs: &[reconciler::ObjectRef]) -> Vec<String> {
    let mut names: Vec<String> = refs.iter().map(|r| r.name.clone()).collect();
    names.sort();
    names
}

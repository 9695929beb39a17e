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

/// The first request of one method whose path contains a fragment, held until the test opens
/// the gate: lets a test put another writer between two requests of an apply without timing.
pub struct Gate {
    state: std::sync::Arc<GateState>,
}

struct GateState {
    method: String,
    fragment: String,
    used: std::sync::atomic::AtomicBool,
    arrived: tokio::sync::Notify,
    open: tokio::sync::Notify,
}

impl Gate {
    /// Waits until the gated request has arrived (and is held).
    pub async fn arrived(&self) {
        tokio::time::timeout(Duration::from_secs(30), self.state.arrived.notified())
            .await
            .expect("the gated request never came");
    }

    /// Lets the held request through.
    pub fn open(&self) {
        self.state.open.notify_one();
    }
}

impl Harness {
    /// A client of this emulator whose first `method` request with `fragment` in its path waits
    /// at the returned gate.
    pub fn gated_client(&self, method: &str, fragment: &str) -> (kube::Client, Gate) {
        let config = kube::Config::new(self.emu.url().parse().unwrap());
        let inner = kube::Client::try_from(config).unwrap();
        let state = std::sync::Arc::new(GateState {
            method: method.to_string(),
            fragment: fragment.to_string(),
            used: std::sync::atomic::AtomicBool::new(false),
            arrived: tokio::sync::Notify::new(),
            open: tokio::sync::Notify::new(),
        });
        let held = state.clone();
        let service = tower::service_fn(move |request: http::Request<kube::client::Body>| {
            let inner = inner.clone();
            let held = held.clone();
            async move {
                let matches = request.method().as_str() == held.method
                    && request.uri().path().contains(&held.fragment);
                if matches && !held.used.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    held.arrived.notify_one();
                    held.open.notified().await;
                }
                inner.send(request).await
            }
        });
        (kube::Client::new(service, "default"), Gate { state })
    }

    /// A reconciler of this emulator (another replica, say) whose client is gated.
    pub fn gated_reconciler(&self, method: &str, fragment: &str) -> (Reconciler, Gate) {
        let (client, gate) = self.gated_client(method, fragment);
        (Reconciler::new(client, OPERATOR_NS), gate)
    }

    /// Creates a ConfigMap in the operator namespace as a user would (no labels of ours).
    pub async fn create_user_config_map(&self, name: &str, annotations: Value) {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), OPERATOR_NS);
        let object: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": name, "annotations": annotations},
            "data": {"user": "data"},
        }))
        .unwrap();
        api.create(&PostParams::default(), &object).await.unwrap();
    }

    /// The `addon-operator.io/module` label of a ConfigMap in the operator namespace.
    pub async fn module_label(&self, name: &str) -> Option<String> {
        let cm = self.config_map(name).await?;
        cm.metadata.labels?.get(reconciler::MODULE_LABEL).cloned()
    }
}

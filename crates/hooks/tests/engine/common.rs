//! Test harness: an emulator, a kube client, a recording values host and hook-script helpers.

use futures::future::BoxFuture;
use hooks::{
    BindingContext, EngineOptions, Hook, HookEngine, HookHost, HookSet, PatchFile,
    ValuesPatchError, ValuesPatches,
};
use kube_emulator::Emulator;
use serde_json::{Value, json};
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Values host that applies patches to an in-memory tree and records them; can be told to reject.
#[derive(Default)]
pub struct TestHost {
    pub values: Mutex<Value>,
    pub applied: Mutex<Vec<(String, String, Value, Value)>>,
    pub reject: AtomicBool,
}

impl HookHost for TestHost {
    fn values(&self, _hook: &Hook) -> Value {
        self.values.lock().unwrap().clone()
    }
    fn config_values(&self, _hook: &Hook) -> Value {
        json!({"global": {}})
    }
    fn apply_values_patches<'a>(
        &'a self,
        hook: &'a Hook,
        contexts: &'a [BindingContext],
        p: &'a ValuesPatches,
    ) -> BoxFuture<'a, Result<(), ValuesPatchError>> {
        let refused = |file, source| ValuesPatchError::Refused { file, source };
        Box::pin(async move {
            if self.reject.load(Ordering::SeqCst) {
                let reason = "global.bad: not allowed by the test host".into();
                return Err(refused(PatchFile::ConfigValues, reason));
            }
            json_patch::patch(&mut self.values.lock().unwrap(), &p.values)
                .map_err(|e| refused(PatchFile::Values, e.into()))?;
            self.applied.lock().unwrap().push((
                hook.name.clone(),
                contexts[0].binding.clone(),
                serde_json::to_value(&p.values).unwrap(),
                serde_json::to_value(&p.config_values).unwrap(),
            ));
            Ok(())
        })
    }
}

pub struct Env {
    pub emu: Emulator,
    pub client: kube::Client,
    pub dir: tempfile::TempDir,
    pub host: Arc<TestHost>,
}

/// Fails with an install hint unless `jq` is on `PATH` (looked up, not run: no child process
/// to wait for).
pub fn require_jq() {
    let path = std::env::var_os("PATH").unwrap_or_default();
    assert!(
        std::env::split_paths(&path).any(|dir| dir.join("jq").is_file()),
        "these tests run bash + jq hooks: install jq (apt-get install jq)"
    );
}

pub async fn env() -> Env {
    env_on(Emulator::start().await.expect("emulator starts"))
}

pub fn env_on(emu: Emulator) -> Env {
    require_jq();
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into());
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter(filter)
        .try_init();
    let client = kube::Client::try_from(kube::Config::new(emu.url().parse().unwrap())).unwrap();
    let host = Arc::new(TestHost {
        values: Mutex::new(json!({"global": {}})),
        ..Default::default()
    });
    Env {
        emu,
        client,
        dir: tempfile::tempdir().unwrap(),
        host,
    }
}

pub fn opts() -> EngineOptions {
    EngineOptions {
        timeout: Duration::from_secs(20),
        retry_initial: Duration::from_millis(50),
        retry_max: Duration::from_millis(400),
        // Deterministic retry timing; the jitter itself is unit-tested in `queue.rs`.
        retry_jitter: Duration::ZERO,
        ..Default::default()
    }
}

impl Env {
    pub fn engine(&self) -> HookEngine {
        self.engine_with(opts())
    }
    pub fn engine_with(&self, opts: EngineOptions) -> HookEngine {
        HookEngine::new(self.host.clone(), Some(self.client.clone()), opts)
    }
    /// An engine with the test options and the global hooks directory loaded.
    pub async fn loaded_engine(&self) -> HookEngine {
        let engine = self.engine();
        engine
            .load(HookSet::Global, &self.hooks_dir())
            .await
            .unwrap();
        engine
    }
    /// [`Env::loaded_engine`] with the global kubernetes bindings enabled (Synchronization done).
    pub async fn watching_engine(&self) -> HookEngine {
        let engine = self.loaded_engine().await;
        engine.enable_kubernetes(&HookSet::Global).await.unwrap();
        engine
    }
    pub fn hooks_dir(&self) -> PathBuf {
        self.dir.path().join("global-hooks")
    }
    pub fn out(&self) -> PathBuf {
        let p = self.dir.path().join("out");
        std::fs::create_dir_all(&p).unwrap();
        p
    }
    pub async fn apply(&self, obj: Value) {
        apply(&self.client, obj).await
    }
}

/// Writes an executable bash hook printing `config` for `--config` and running `body` otherwise.
pub fn write_hook(dir: &Path, rel: &str, config: &str, body: &str) -> PathBuf {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let script = format!(
        "#!/bin/bash\nset -euo pipefail\nif [[ \"${{1:-}}\" == \"--config\" ]]; then\ncat <<'CONFIG'\n{config}\nCONFIG\nexit 0\nfi\n{body}\n"
    );
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Polls `f` every 20 ms until it returns `Some`, failing after `secs` seconds with `what`.
pub async fn eventually<T, F, Fut>(what: &str, secs: u64, f: F) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the file at `path` has at least `n` lines and returns them.
pub async fn wait_lines(path: &Path, n: usize, what: &str, secs: u64) -> Vec<String> {
    eventually(what, secs, || async {
        let l = lines(path);
        (l.len() >= n).then_some(l)
    })
    .await
}

/// Creates or replaces an object through the dynamic API (server-side apply, forced).
pub async fn apply(client: &kube::Client, obj: Value) {
    let (api, name) = api_for(client, &obj);
    let pp = kube::api::PatchParams::apply("test").force();
    api.patch(&name, &pp, &kube::api::Patch::Apply(&obj))
        .await
        .unwrap_or_else(|e| panic!("apply {obj}: {e}"));
}

pub async fn delete(client: &kube::Client, obj: Value) {
    let (api, name) = api_for(client, &obj);
    api.delete(&name, &Default::default())
        .await
        .unwrap_or_else(|e| panic!("delete {obj}: {e}"));
}

pub async fn get(
    client: &kube::Client,
    api_version: &str,
    kind: &str,
    ns: Option<&str>,
    name: &str,
) -> Option<Value> {
    let mut obj = json!({"apiVersion": api_version, "kind": kind, "metadata": {"name": name}});
    if let Some(ns) = ns {
        obj["metadata"]["namespace"] = json!(ns);
    }
    let (api, name) = api_for(client, &obj);
    api.get_opt(&name)
        .await
        .unwrap()
        .map(|o| serde_json::to_value(o).unwrap())
}

fn api_for(client: &kube::Client, obj: &Value) -> (kube::Api<kube::api::DynamicObject>, String) {
    let av = obj["apiVersion"].as_str().unwrap();
    let kind = obj["kind"].as_str().unwrap();
    let (group, version) = av.rsplit_once('/').unwrap_or(("", av));
    let plural = match kind {
        "NetworkPolicy" => "networkpolicies".to_string(),
        "CustomResourceDefinition" => "customresourcedefinitions".to_string(),
        k => format!("{}s", k.to_lowercase()),
    };
    let gvk = kube::api::GroupVersionKind::gvk(group, version, kind);
    let ar = kube::api::ApiResource::from_gvk_with_plural(&gvk, &plural);
    let name = obj["metadata"]["name"].as_str().unwrap().to_string();
    let api = match obj["metadata"]["namespace"].as_str() {
        Some(ns) => kube::Api::namespaced_with(client.clone(), ns, &ar),
        None => kube::Api::all_with(client.clone(), &ar),
    };
    (api, name)
}

pub fn namespace(name: &str, labels: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
}

pub fn configmap(ns: &str, name: &str, labels: Value, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns, "labels": labels}, "data": data})
}

/// A `tracing` writer collecting JSON log lines in memory.
#[derive(Clone, Default)]
pub struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogBuffer {
    /// The log events so far, as JSON objects (`fields.message`, `fields.<name>`). The fields
    /// of the spans an event was logged in (`spans`: a run's `hook`, `binding`, `queue`,
    /// `run_id`) are copied into `fields`, as a reader of the line sees them.
    pub fn lines(&self) -> Vec<Value> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .map(with_span_fields)
            .collect()
    }
}

fn with_span_fields(mut line: Value) -> Value {
    let spans = line["spans"].as_array().cloned().unwrap_or_default();
    for span in spans {
        for (k, v) in span.as_object().into_iter().flatten() {
            if k != "name" && line["fields"].get(k).is_none() {
                line["fields"][k] = v.clone();
            }
        }
    }
    line
}

/// Captures the log events `filter` lets through (an `EnvFilter` directive) while the guard
/// lives. Tokio tests run every task on the test's thread, so a thread-local subscriber sees the
/// engine's and the in-process emulator's events.
pub fn capture_logs(filter: &str) -> (LogBuffer, tracing::subscriber::DefaultGuard) {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(move || writer.clone())
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}

/// Lines of a file (empty when it does not exist yet).
pub fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|s| s.lines().map(String::from).collect())
        .unwrap_or_default()
}

/// An error and its causes, `error: cause: cause`, as the engine prints it.
pub use hooks::with_causes as chain;

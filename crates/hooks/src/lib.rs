//! Hook engine compatible with shell-operator / addon-operator hooks.
//!
//! Existing hooks (bash + jq, or any executable) run unchanged: a hook prints its bindings for
//! `--config`, and each run gets fresh temp files named by `BINDING_CONTEXT_PATH`, `VALUES_PATH`,
//! `CONFIG_VALUES_PATH`, `VALUES_JSON_PATCH_PATH`, `CONFIG_VALUES_JSON_PATCH_PATH`,
//! `KUBERNETES_PATCH_PATH`, `METRICS_PATH`, and the webhook response files
//! `VALIDATING_RESPONSE_PATH` (= `ADMISSION_RESPONSE_PATH`) and `CONVERSION_RESPONSE_PATH` (see
//! `docs/hooks.md` for the protocol as implemented and where it differs from shell-operator).
//!
//! What it does: discovery ([`load_hooks`]), config validation ([`HookConfig::parse`], two
//! stages: declared shape, then compiled jq filters/crontabs/selectors), execution in process
//! groups with timeouts and resource usage, binding contexts in shell-operator's v1/v0 JSON
//! ([`BindingContext`]), kubernetes bindings on kube-rs watchers with snapshots, schedule
//! bindings, queues with combining and retries, object patches through kube-rs, hook metrics
//! ([`MetricsStorage`]), `enabled` scripts ([`run_enabled_script`]) and native Rust hooks
//! ([`NativeHook`], [`run_native`]), and admission and conversion webhooks ([`Webhooks`]:
//! an AdmissionReview or ConversionReview in, its response out, through a queue per binding).
//!
//! What it does not do: it knows nothing about values layering, schemas or charts. Values go in
//! and patches come out through the [`HookHost`] trait the operator implements; the host may
//! reject a patch, which fails the run before any object patch or metric is applied. It does
//! not decide *when* lifecycle bindings run either: the operator calls
//! [`HookEngine::run_order`], [`HookEngine::enable_kubernetes`] and
//! [`HookEngine::enable_schedules`] in its startup and converge sequence.
//!
//! Principal types: [`HookEngine`] (hook sets, bindings, queues), [`Hook`] (executable +
//! [`HookConfig`]), [`HookHost`] (values in/out), [`RunReport`]/[`RunEvent`] (outcomes),
//! [`HookOutputs`] (parsed outputs). A run is four steps with one error type each
//! ([`PrepareError`], [`ExecError`], [`OutputError`], [`ApplyError`], together [`RunError`]).
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use futures::future::BoxFuture;
//! use hooks::{BindingContext, EngineOptions, Hook, HookEngine, HookHost, HookSet, OrderBinding};
//! use hooks::{PatchFile, ValuesPatchError, ValuesPatches};
//! use serde_json::{Value, json};
//! use std::os::unix::fs::PermissionsExt;
//! use std::sync::{Arc, Mutex};
//!
//! /// Keeps values in memory and applies every patch.
//! struct Host(Mutex<Value>);
//! impl HookHost for Host {
//!     fn values(&self, _: &Hook) -> Value { self.0.lock().unwrap().clone() }
//!     fn config_values(&self, _: &Hook) -> Value { json!({}) }
//!     fn apply_values_patches<'a>(&'a self, _: &'a Hook, _: &'a [BindingContext], p: &'a ValuesPatches)
//!         -> BoxFuture<'a, Result<(), ValuesPatchError>> {
//!         Box::pin(async move {
//!             json_patch::patch(&mut self.0.lock().unwrap(), &p.values)
//!                 .map_err(|e| ValuesPatchError::Refused { file: PatchFile::Values, source: e.into() })
//!         })
//!     }
//! }
//!
//! let dir = tempfile::tempdir().unwrap();
//! let hook = dir.path().join("count.sh");
//! std::fs::write(&hook, r#"#!/bin/sh
//! if [ "$1" = --config ]; then echo '{"configVersion":"v1","onStartup":1}'; exit 0; fi
//! echo '[{"op":"replace","path":"/global/runs","value":1}]' > "$VALUES_JSON_PATCH_PATH"
//! "#).unwrap();
//! std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
//!
//! let host = Arc::new(Host(Mutex::new(json!({"global": {"runs": 0}}))));
//! let engine = HookEngine::new(host.clone(), None, EngineOptions::default());
//! engine.load(HookSet::Global, dir.path()).await.unwrap();
//! let reports = engine.run_order(&HookSet::Global, OrderBinding::OnStartup).await.unwrap();
//! assert_eq!(reports[0].hook, "count.sh");
//! assert_eq!(*host.0.lock().unwrap(), json!({"global": {"runs": 1}}));
//! # });
//! ```
#![cfg_attr(test, allow(clippy::unwrap_used))]
mod binding_context;
mod config;
mod crontab;
mod discovery;
mod enabled;
mod engine;
mod errtext;
mod exec;
mod exposition;
mod group_leader;
mod hook;
mod host;
mod jq;
mod metrics;
mod monitor;
mod native;
mod output_log;
mod outputs;
mod patcher;
mod queue;
mod resources;
mod run;
mod schedule;
mod spawner;
mod sync;
#[cfg(test)]
mod test_support;
mod webhook;

pub use binding_context::*;
pub use config::*;
pub use crontab::CrontabError;
pub use discovery::{DiscoveryError, LoadError, find_hook_files, load_config, load_hooks};
pub use enabled::{EnabledError, EnabledResult, run_enabled_script};
pub use engine::{EngineError, HookEngine, HookSet, SyncFailure};
pub use errtext::with_causes;
pub use exec::{ExecError, Usage};
pub use exposition::{InvalidMetric, MetricRefusal};
pub use hook::Hook;
pub use host::{HookHost, PatchFile, ValuesPatchError, ValuesPatches};
pub use jq::{JqError, JqFilter};
pub use metrics::{HOOK_METRIC_HELP, MetricDef, MetricType, MetricsStorage, engine_metrics};
pub use native::{NativeError, NativeHook, NativeHookError, NativeInput, NativeOutput, run_native};
pub use outputs::*;
pub use patcher::{InvalidPatch, PatchError, PatchErrors};
pub use resources::{ResolvedResource, ResourceError};
pub use run::{ApplyError, EngineOptions, PrepareError, RunError, RunEvent, RunReport};
pub use spawner::{SPAWNER_ARG, launcher_beside_current_exe, serve_if_asked};
pub use webhook::{ResponseError, ServedAdmission, ServedConversion, WebhookError, Webhooks};

//! hooks: work in progress.
#![cfg_attr(test, allow(clippy::unwrap_used))]
mod binding_context;
mod config;
mod crontab;
mod discovery;
mod enabled;
mod engine;
mod exec;
mod hook;
mod jq;
mod metrics;
mod monitor;
mod native;
mod outputs;
mod patcher;
mod queue;
mod resources;
mod run;
mod schedule;

pub use binding_context::*;
pub use config::*;
pub use discovery::{DiscoveryError, LoadError, find_hook_files, load_config, load_hooks};
pub use enabled::{EnabledError, EnabledResult, run_enabled_script};
pub use engine::{EngineError, HookEngine, HookSet};
pub use exec::{ExecError, LogFields, Usage};
pub use hook::Hook;
pub use jq::{JqError, JqFilter};
pub use metrics::MetricsStorage;
pub use native::{NativeError, NativeHook, NativeInput, NativeOutput, run_native};
pub use outputs::*;
pub use patcher::PatchError;
pub use resources::{ResolvedResource, ResourceError};
pub use run::{EngineOptions, HookHost, RunError, RunEvent, RunReport, ValuesPatches};

//! The seam to the operator: values go into a run, values patches come out of it.

use crate::binding_context::BindingContext;
use crate::hook::Hook;
use futures::future::BoxFuture;
use serde_json::Value;
use std::fmt;

/// Values patches of one run, handed to the [`HookHost`].
#[derive(Debug, Default)]
pub struct ValuesPatches {
    /// Patch of the in-memory values (`$VALUES_JSON_PATCH_PATH`).
    pub values: json_patch::Patch,
    /// Patch of the config values (`$CONFIG_VALUES_JSON_PATCH_PATH`).
    pub config_values: json_patch::Patch,
}

/// Which of a run's two values patch files an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchFile {
    /// `$VALUES_JSON_PATCH_PATH`.
    Values,
    /// `$CONFIG_VALUES_JSON_PATCH_PATH`.
    ConfigValues,
}

impl fmt::Display for PatchFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PatchFile::Values => "VALUES_JSON_PATCH_PATH",
            PatchFile::ConfigValues => "CONFIG_VALUES_JSON_PATCH_PATH",
        })
    }
}

/// Why a [`HookHost`] refused a run's values patches.
#[derive(Debug, thiserror::Error)]
pub enum ValuesPatchError {
    /// The hook belongs to a module the host does not know (it went away while the hook ran).
    #[error("module {module} is not loaded")]
    UnknownModule {
        /// The hook's module.
        module: String,
    },
    /// The values rules (permissions, schema) refused the patch of one file; neither patch
    /// was kept.
    #[error("{file} refused")]
    Refused {
        /// The refused file.
        file: PatchFile,
        /// The host's reason (names paths and constraints, never values).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// What the engine needs from the operator: values in, values patches out.
///
/// The engine never interprets values; the host applies the values rules (permissions, schema)
/// and may reject a patch, which fails the run before any object patch or metric is applied.
pub trait HookHost: Send + Sync + 'static {
    /// Values the hook sees in `$VALUES_PATH` (global hooks: the whole tree; module hooks:
    /// `global` plus the module's key).
    fn values(&self, hook: &Hook) -> Value;
    /// Config values the hook sees in `$CONFIG_VALUES_PATH`.
    fn config_values(&self, hook: &Hook) -> Value;
    /// Validates and applies the run's values patches (called only when one is non-empty).
    /// `contexts` are the run's binding contexts (binding names and kinds: addon-operator
    /// re-runs a module after `afterHelm`/schedule/kubernetes patches but not after
    /// `onStartup`, `beforeHelm` or `Synchronization`).
    ///
    /// # Errors
    /// [`ValuesPatchError`] rejects both patches and fails the run.
    fn apply_values_patches<'a>(
        &'a self,
        hook: &'a Hook,
        contexts: &'a [BindingContext],
        patches: &'a ValuesPatches,
    ) -> BoxFuture<'a, Result<(), ValuesPatchError>>;
}

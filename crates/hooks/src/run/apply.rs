//! Step 4 of a run: outputs applied in order — values through the host, then object patches,
//! then metrics.

use super::Runner;
use crate::binding_context::BindingContext;
use crate::exposition::MetricRefusal;
use crate::hook::Hook;
use crate::host::{ValuesPatchError, ValuesPatches};
use crate::outputs::{HookOutputs, ObjectPatch, parse_object_patches};
use crate::patcher::{PatchErrors, Patcher};
use std::path::Path;

/// The outputs of a successful process could not all be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The host rejected the values patches; nothing else was applied.
    #[error("hook {hook}: values patch rejected")]
    ValuesRejected {
        /// Hook name.
        hook: String,
        /// The host's reason.
        #[source]
        source: ValuesPatchError,
    },
    /// Object patches failed (the values patches and the other operations were applied;
    /// metrics were not).
    #[error("hook {hook}: object patches failed")]
    Patch {
        /// Hook name.
        hook: String,
        /// Every failed operation.
        #[source]
        source: Box<PatchErrors>,
    },
    /// The hook wrote object patches but the engine has no Kubernetes client.
    #[error("hook {hook}: object patches need a Kubernetes client")]
    NoClient {
        /// Hook name.
        hook: String,
    },
}

impl Runner {
    fn patcher(&self) -> Option<Patcher<'_>> {
        Some(Patcher {
            client: self.client.as_ref()?,
            catalog: self.catalog.as_ref()?,
            field_manager: &self.opts.field_manager,
        })
    }

    /// Applies the validated outputs of a successful run and returns the metric operations
    /// that were refused (the others are applied).
    ///
    /// # Errors
    /// [`ApplyError`]; a rejected values patch stops everything after it.
    pub(super) async fn apply(
        &self,
        hook: &Hook,
        contexts: &[BindingContext],
        outputs: HookOutputs,
    ) -> Result<Vec<MetricRefusal>, ApplyError> {
        if !outputs.values_patch.0.is_empty() || !outputs.config_values_patch.0.is_empty() {
            let patches = ValuesPatches {
                values: outputs.values_patch,
                config_values: outputs.config_values_patch,
            };
            self.host
                .apply_values_patches(hook, contexts, &patches)
                .await
                .map_err(|source| ApplyError::ValuesRejected {
                    hook: hook.name.clone(),
                    source,
                })?;
        }
        if !outputs.object_patches.is_empty() {
            let patcher = self.patcher().ok_or_else(|| ApplyError::NoClient {
                hook: hook.name.clone(),
            })?;
            patcher
                .apply_all(&outputs.object_patches)
                .await
                .map_err(|source| ApplyError::Patch {
                    hook: hook.name.clone(),
                    source: Box::new(source),
                })?;
        }
        let refused = self.metrics.apply_hook_ops(&hook.name, &outputs.metrics);
        for r in &refused {
            tracing::warn!(line = r.line, error = %r.reason, "hook metric refused: METRICS_PATH line {}", r.line);
        }
        Ok(refused)
    }

    /// shell-operator applies `status` patches marked `ignoreHookError` even when the hook
    /// failed (a hook reporting its failure in a custom resource's status). Problems are
    /// logged; the run's own error is what the caller sees.
    pub(super) async fn apply_on_hook_error(&self, kubernetes_patch: &Path) {
        let text = std::fs::read_to_string(kubernetes_patch).unwrap_or_default();
        let ops: Vec<ObjectPatch> = match parse_object_patches(&text) {
            Ok(ops) => ops
                .into_iter()
                .filter(ObjectPatch::applies_on_hook_error)
                .collect(),
            Err(e) => {
                tracing::warn!(error = %crate::errtext::with_causes(&e), "failed hook: object patches unreadable, none applied");
                return;
            }
        };
        let (false, Some(patcher)) = (ops.is_empty(), self.patcher()) else {
            return;
        };
        if let Err(e) = patcher.apply_all(&ops).await {
            tracing::warn!(error = %crate::errtext::with_causes(&e), "failed hook: ignoreHookError status patch failed");
        }
    }
}

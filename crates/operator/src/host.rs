//! The hook engine's view of the values store: what hooks read in `$VALUES_PATH` and
//! `$CONFIG_VALUES_PATH`, and where their values patches go.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use hooks::{
    BindingContext, Hook, HookHost, HookScope, PatchFile, ValuesPatchError, ValuesPatches,
};
use serde_json::{Value, json};
use values::{PatchSource, PatchTarget};

use crate::shared::{Event, Shared};

/// Implements [`HookHost`] over the shared values store.
pub struct Host(pub Arc<Shared>);

impl Host {
    /// The values key of a module hook's module. Takes the modules lock: never call it while
    /// holding that lock.
    fn module_key(&self, hook: &Hook) -> Option<String> {
        let name = hook.module.as_deref()?;
        self.0.modules().set.get(name).map(|m| m.key.clone())
    }

    fn source(&self, hook: &Hook) -> Result<PatchSource, ValuesPatchError> {
        match hook.scope {
            HookScope::Global => Ok(PatchSource::GlobalHook {
                hook: hook.name.clone(),
            }),
            HookScope::Module => {
                let key = self
                    .module_key(hook)
                    .ok_or_else(|| ValuesPatchError::UnknownModule {
                        module: hook.module.clone().unwrap_or_default(),
                    })?;
                Ok(PatchSource::ModuleHook {
                    hook: hook.name.clone(),
                    key,
                })
            }
        }
    }
}

impl HookHost for Host {
    fn values(&self, hook: &Hook) -> Value {
        let key = self.module_key(hook);
        let modules = self.0.modules();
        match key {
            Some(key) => modules
                .store
                .module_values(&key)
                .unwrap_or_else(|_| json!({})),
            None => modules.store.global_values(),
        }
    }

    fn config_values(&self, hook: &Hook) -> Value {
        let key = self.module_key(hook);
        let modules = self.0.modules();
        match key {
            Some(key) => modules
                .store
                .module_config_values(&key)
                .unwrap_or_else(|_| json!({})),
            None => modules.store.global_config_values(),
        }
    }

    fn apply_values_patches<'a>(
        &'a self,
        hook: &'a Hook,
        contexts: &'a [BindingContext],
        patches: &'a ValuesPatches,
    ) -> BoxFuture<'a, Result<(), ValuesPatchError>> {
        let refused = |file, e: values::Errors| ValuesPatchError::Refused {
            file,
            source: Box::new(e),
        };
        async move {
            let source = self.source(hook)?;
            let mut config_changed = false;
            let mut changed = false;
            {
                let mut modules = self.0.modules();
                // Validate both patches before keeping either: a rejected config patch must not
                // leave the values patch applied.
                let before_config = modules.store.config_values().clone();
                if !patches.config_values.0.is_empty() {
                    let change = modules
                        .store
                        .apply_patch(&source, PatchTarget::ConfigValues, &patches.config_values)
                        .map_err(|e| refused(PatchFile::ConfigValues, e))?;
                    config_changed = change.config;
                    changed |= !change.is_empty();
                }
                if !patches.values.0.is_empty() {
                    match modules
                        .store
                        .apply_patch(&source, PatchTarget::Values, &patches.values)
                    {
                        Ok(change) => changed |= !change.is_empty(),
                        Err(err) => {
                            if config_changed {
                                // Roll the config patch back; the whole run is rejected.
                                let _ = modules.store.apply_config(before_config);
                            }
                            return Err(refused(PatchFile::Values, err));
                        }
                    }
                }
            }
            let binding = contexts.first().map_or("", |c| c.binding.as_str());
            tracing::debug!(hook = %hook.name, binding, changed, "values patches applied");
            if changed {
                self.0.send(Event::ValuesChanged {
                    config: config_changed,
                });
            }
            Ok(())
        }
        .boxed()
    }
}

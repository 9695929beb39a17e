//! The `dev` file watch's effect: re-read the module set, reload edited module hooks, and re-run
//! what changed.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use hooks::HookSet;

use super::Operator;
use crate::filewatch::{self, Fingerprint, module_hook_dirs};
use crate::moduleset::LoadedModules;
use crate::record;

/// The fingerprint of each module's `hooks/` as last loaded, so only edited hooks reload.
#[derive(Debug, Default)]
pub(super) struct HookFiles(BTreeMap<String, Fingerprint>);

impl HookFiles {
    /// Module `name`'s hooks were loaded from `dir`.
    pub(super) fn loaded(&mut self, name: &str, dir: &Path) {
        self.0.insert(
            name.to_string(),
            filewatch::fingerprint(&[dir.to_path_buf()]),
        );
    }

    /// Whether module `name`'s hooks under `dir` changed since they were loaded; remembers
    /// their new state.
    fn changed(&mut self, name: &str, dir: &Path) -> bool {
        let now = filewatch::fingerprint(&[dir.to_path_buf()]);
        if self.0.get(name) == Some(&now) {
            return false;
        }
        self.0.insert(name.to_string(), now);
        true
    }
}

impl Operator {
    /// Re-reads the module set from disk keeping config values and what hooks set, reloads the
    /// hooks of modules whose `hooks/` changed (their bindings restart and `onStartup` runs
    /// again), then re-runs the modules whose checksum changed. A broken edit is reported (log,
    /// `module list`) and the last good set stays in use.
    pub(super) async fn reload_files(&mut self) {
        let source = self.shared.modules().source.clone();
        let reloaded = LoadedModules::load(&source).and_then(|mut fresh| {
            let current = self.shared.modules();
            fresh
                .store
                .apply_config(current.store.config_values().clone())
                .context("config values do not fit the edited modules")?;
            fresh
                .store
                .adopt_hook_state(&current.store)
                .context("values set by hooks do not fit the edited modules")?;
            Ok(fresh)
        });
        match reloaded {
            Ok(fresh) => {
                *self.shared.modules() = fresh;
                self.shared.status().files_error = None;
                tracing::info!("module files changed; re-rendering what changed");
                self.reload_changed_hooks().await;
                self.converge(false).await;
            }
            Err(err) => {
                let message = format!("{err:#}");
                tracing::error!(error = %message, "module files changed but cannot be loaded; keeping the last good set");
                self.shared.status().files_error = Some(message);
            }
        }
    }

    /// Reloads every module hook set whose files changed. A module whose new hooks cannot be
    /// loaded (e.g. a broken `--config`) is marked failed and does not run until its hooks are
    /// edited again or its inputs change: running it with its old hooks would hide the error.
    async fn reload_changed_hooks(&mut self) {
        for (name, dir) in module_hook_dirs(&self.shared) {
            if !self.hook_files.changed(&name, &dir) {
                continue;
            }
            let set = HookSet::Module(name.clone());
            self.hooks.disable(&set);
            let Some(key) = self.shared.modules().set.get(&name).map(|m| m.key.clone()) else {
                continue;
            };
            match self.hooks.load(set, &dir).await {
                Ok(hooks) => {
                    self.scheduler.hooks_reloaded(&key);
                    record::hooks_loaded(&self.shared, &key);
                    tracing::info!(module = %name, count = hooks.len(), "module hooks reloaded");
                }
                Err(err) => {
                    let current = self.runner.checksum(&key).ok();
                    self.scheduler.hooks_broken(&key, current);
                    record::hooks_broken(&self.shared, &key, &name, &err);
                }
            }
        }
    }
}

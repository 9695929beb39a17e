//! The `dev` file watch's effect: re-read the module set, reload edited module hooks, and re-run
//! what changed.

use anyhow::Context;
use hooks::HookSet;

use crate::filewatch;
use crate::moduleset::LoadedModules;
use crate::operator::Operator;

impl Operator {
    /// Re-reads the module set from disk keeping config values and what hooks set, reloads the
    /// hooks of modules
    /// whose `hooks/` changed (their bindings restart and `onStartup` runs again), then re-runs
    /// the modules whose checksum changed. A broken edit is reported and the last good set
    /// stays in use.
    pub(crate) async fn reload_files(&mut self) {
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
                tracing::info!("module files changed; re-rendering what changed");
                self.reload_changed_hooks().await;
                self.converge(false).await;
            }
            Err(err) => {
                tracing::error!(error = %format!("{err:#}"), "module files changed but cannot be loaded; keeping the last good set")
            }
        }
    }

    /// Reloads every module hook set whose files changed. A module whose new hooks cannot be
    /// loaded (e.g. a broken `--config`) is marked failed and does not run until its hooks are
    /// edited again: running it with its old hooks would hide the error.
    async fn reload_changed_hooks(&mut self) {
        for (name, dir) in self.module_hook_dirs() {
            let now = filewatch::fingerprint(std::slice::from_ref(&dir));
            if self.hook_fingerprints.get(&name) == Some(&now) {
                continue;
            }
            self.hook_fingerprints.insert(name.clone(), now);
            let set = HookSet::Module(name.clone());
            self.hooks.disable(&set);
            let Some(key) = self.shared.modules().set.get(&name).map(|m| m.key.clone()) else {
                continue;
            };
            let loaded = self.hooks.load(set, &dir).await;
            let current = self.current_checksum(&key).ok();
            let run = self.runs.entry(key.clone()).or_default();
            // With new hooks, onStartup runs again and bindings restart on the next run.
            run.started = false;
            run.checksum = None;
            match loaded {
                Ok(hooks) => {
                    run.retry_at = None;
                    tracing::info!(module = %name, count = hooks.len(), "module hooks reloaded");
                }
                Err(err) => {
                    let message = format!("module hooks cannot be loaded: {err}");
                    tracing::error!(module = %name, error = %message);
                    run.retry_at = Some(
                        tokio::time::Instant::now() + std::time::Duration::from_secs(86_400 * 365),
                    );
                    // Blocked until its hooks load or its values/chart change.
                    run.attempted = current;
                    self.set_status(&key, |s| {
                        s.state = crate::status::ModuleState::Failed;
                        s.error = Some(message);
                    });
                }
            }
        }
    }
}

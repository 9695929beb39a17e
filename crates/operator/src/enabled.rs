//! Enabled-state resolution: flags, then `enabled` scripts, with the rule that a module whose
//! state cannot be computed is never disabled.

use std::time::Duration;

use tokio::time::Instant;

use crate::converge::module_backoff;
use crate::operator::Operator;

impl Operator {
    /// Enabled state of every module, in order: flags, then the `enabled` script of modules still
    /// enabled (which sees `global.enabledModules` = modules enabled so far). `None`: the state
    /// cannot be computed (a failing `enabled` script) and nothing is known that says the
    /// module was enabled; such a module is left exactly as it is.
    pub(crate) async fn resolve_enabled(&mut self) -> Vec<(String, Option<bool>)> {
        let candidates: Vec<(String, String, bool, String, Option<std::path::PathBuf>)> = {
            let modules = self.shared.modules();
            modules
                .store
                .enabled_states()
                .into_iter()
                .filter_map(|(key, state)| {
                    let module = modules.set.by_key(&key)?;
                    let source = format!("{:?}", state.source);
                    Some((
                        key,
                        module.name.clone(),
                        state.enabled,
                        source,
                        module.enabled_script.clone(),
                    ))
                })
                .collect()
        };
        let mut enabled_names: Vec<String> = Vec::new();
        let mut result = Vec::new();
        for (key, name, on, mut source, script) in candidates {
            let mut on = Some(on);
            self.runs.entry(key.clone()).or_default().script_retry_at = None;
            if let (Some(true), Some(script)) = (on, script) {
                match self
                    .run_enabled_script(&key, &name, &script, &enabled_names)
                    .await
                {
                    Ok((verdict, reason)) => {
                        let run = self.runs.entry(key.clone()).or_default();
                        if std::mem::take(&mut run.script_failures) > 0 {
                            self.set_status(&key, |s| s.error = None);
                        }
                        on = Some(verdict);
                        source = match reason {
                            Some(reason) => format!("EnabledScript: {reason}"),
                            None => "EnabledScript".into(),
                        };
                    }
                    Err(err) => {
                        on = self.enabled_script_failed(&key, &name, err).await;
                        source = match on {
                            Some(_) => "EnabledScript (failed; kept enabled)".into(),
                            None => "EnabledScript (failed; left as it is)".into(),
                        };
                    }
                }
            }
            let shown = on.unwrap_or(false);
            if shown {
                enabled_names.push(name.clone());
            }
            self.shared
                .metrics
                .module_enabled
                .with_label_values(&[name.as_str()])
                .set(i64::from(shown));
            self.set_status(&key, |s| {
                s.enabled = shown;
                s.enabled_source = source.clone();
            });
            result.push((key, on));
        }
        self.shared
            .modules()
            .store
            .set_enabled_modules(Some(enabled_names));
        result
    }

    /// A module's `enabled` script failed: its state is what it was before (`Some(true)`) or
    /// unknown (`None`), never "disabled", so nothing is deleted because of the failure. Before
    /// the first run of this process, "before" is what the cluster says: an inventory means the
    /// module was enabled. The script is retried with the module's backoff.
    async fn enabled_script_failed(
        &mut self,
        key: &str,
        name: &str,
        err: anyhow::Error,
    ) -> Option<bool> {
        let known = self.runs.get(key).and_then(|r| r.enabled);
        let previous = match known {
            Some(enabled) => Some(enabled),
            None => match self.reconciler.inventory(name).await {
                Ok(inventory) => Some(inventory.is_some()),
                Err(err) => {
                    tracing::error!(module = %name, error = %err, "cannot read the inventory");
                    None
                }
            },
        };
        let run = self.runs.entry(key.to_string()).or_default();
        run.script_failures += 1;
        let delay = module_backoff(&self.settings)
            .delay(run.script_failures, cluster_access::random_fraction());
        run.script_retry_at = Some(Instant::now() + delay);
        let message = format!("enabled script failed: {err:#}");
        let kept = if previous == Some(true) {
            "enabled"
        } else {
            "as it is"
        };
        tracing::error!(module = %name, error = %message, kept, retry_in_ms = delay.as_millis() as u64, "enabled script failed; the module keeps its previous state");
        self.set_status(key, |s| s.error = Some(message));
        previous.filter(|enabled| *enabled)
    }

    async fn run_enabled_script(
        &self,
        key: &str,
        name: &str,
        script: &std::path::Path,
        enabled_so_far: &[String],
    ) -> anyhow::Result<(bool, Option<String>)> {
        let (values, config) = {
            let mut modules = self.shared.modules();
            modules
                .store
                .set_enabled_modules(Some(enabled_so_far.to_vec()));
            (
                modules.store.module_values(key)?,
                modules.store.module_config_values(key)?,
            )
        };
        // The script runs in its own directory: a path relative to ours would not resolve.
        let script = crate::operator::absolute(script);
        let result =
            hooks::run_enabled_script(&script, name, &values, &config, Duration::from_secs(60))
                .await?;
        Ok((result.enabled, result.reason))
    }
}

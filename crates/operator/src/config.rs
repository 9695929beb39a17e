//! The operator's side of its ConfigMap: reading it at startup, applying changes, the
//! "deleted" error state, and writing hook config values back.
//!
//! # Guarantees
//! - A missing ConfigMap never disables or deletes anything:
//!   - at the first start (no ConfigMap and no module inventory in the namespace) the operator
//!     creates it empty, which is an empty config, as addon-operator treats a missing one;
//!   - at a later start (inventories exist, no ConfigMap) it waits for the ConfigMap and
//!     converges nothing meanwhile;
//!   - deleted while running, the last good values stay until it is recreated.
//! - An existing but empty ConfigMap is an empty config.
//! - Each error state is logged, shown by `module list` and counted in a metric.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use values::ConfigDecoder;

use crate::configmap;
use crate::control::{Control, changed_or_never};
use crate::shared::Shared;

/// The operator's ConfigMap: its last good data and whether it is missing.
pub struct ConfigSource {
    api: Api<ConfigMap>,
    client: Client,
    shared: Arc<Shared>,
    /// Name and namespace of the ConfigMap; whether startup waits for a missing one.
    name: String,
    namespace: String,
    wait_for_missing: bool,
    /// The ConfigMap data as last accepted or written; parses only the keys an edit changed.
    decoder: ConfigDecoder,
    /// The ConfigMap was deleted: the last good values stay until it is recreated.
    missing: bool,
}

impl ConfigSource {
    /// The ConfigMap `namespace/name`, read through `client`, applied to `shared`'s values;
    /// `wait_for_missing`: startup waits for it while modules are installed (else that fails).
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        wait_for_missing: bool,
        shared: Arc<Shared>,
    ) -> Self {
        ConfigSource {
            api: Api::namespaced(client.clone(), namespace),
            client,
            shared,
            name: name.to_string(),
            namespace: namespace.to_string(),
            wait_for_missing,
            decoder: ConfigDecoder::default(),
            missing: false,
        }
    }

    /// The ConfigMap's data whenever it changes (`None`: deleted); see [`configmap::watch`].
    pub fn watch(&self) -> impl futures::Stream<Item = configmap::ConfigData> + Send + 'static {
        configmap::watch(self.api.clone(), &self.name)
    }

    /// `namespace/name` of the ConfigMap, for messages.
    fn config_map_ref(&self) -> String {
        format!("ConfigMap {}/{}", self.namespace, self.name)
    }

    /// The ConfigMap's data at startup; `None` if the operator was stopped while waiting for a
    /// missing ConfigMap.
    ///
    /// # Errors
    /// The API cannot be read, leadership was lost while waiting, or (with
    /// `Settings::wait_for_config_map` off) the ConfigMap is missing while modules are
    /// installed.
    pub async fn startup(
        &mut self,
        control: &Control,
    ) -> anyhow::Result<Option<BTreeMap<String, String>>> {
        let name = self.config_map_ref();
        if let Some(cm) = self
            .api
            .get_opt(&self.name)
            .await
            .with_context(|| format!("reading {name}"))?
        {
            return Ok(Some(cm.data.unwrap_or_default()));
        }
        let installed = self.installed_modules().await?;
        if installed.is_empty() {
            tracing::info!(configmap = %name, "no ConfigMap and no module installed yet: creating it empty (empty config)");
            self.create_empty_config_map().await?;
            return Ok(Some(BTreeMap::new()));
        }
        let message = format!(
            "{name} not found, but modules are installed ({}): waiting for it; nothing is converged or deleted until it exists (an empty ConfigMap means an empty config)",
            installed.join(", ")
        );
        if !self.wait_for_missing {
            anyhow::bail!(message);
        }
        tracing::error!(configmap = %name, modules = ?installed, "ConfigMap missing while modules are installed; waiting for it");
        self.shared.status().config_error = Some(message);
        self.shared.metrics.config_map_missing.set(1);
        self.wait_for_config_map(control).await
    }

    /// Waits until the ConfigMap exists; `None` on shutdown.
    async fn wait_for_config_map(
        &mut self,
        control: &Control,
    ) -> anyhow::Result<Option<BTreeMap<String, String>>> {
        let stream = self.watch();
        futures::pin_mut!(stream);
        let mut shutdown = control.shutdown.clone();
        let mut leading = control.leading.clone();
        loop {
            if *shutdown.borrow() {
                return Ok(None);
            }
            if !*leading.borrow() {
                anyhow::bail!("lost the leader lease while waiting for the ConfigMap");
            }
            tokio::select! {
                state = stream.next() => match state {
                    Some(Some(data)) => {
                        tracing::info!(configmap = %self.config_map_ref(), "ConfigMap created; starting");
                        return Ok(Some(data));
                    }
                    Some(None) => {}
                    None => anyhow::bail!("the ConfigMap watch ended"),
                },
                _ = changed_or_never(&mut shutdown) => {}
                _ = changed_or_never(&mut leading) => {}
            }
        }
    }

    /// Modules that have an inventory in the operator namespace.
    pub async fn installed_modules(&self) -> anyhow::Result<Vec<String>> {
        let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
            kube::Api::namespaced(self.client.clone(), &self.namespace);
        let list = secrets
            .list_metadata(&kube::api::ListParams::default().labels(reconciler::INVENTORY_LABEL))
            .await
            .context("listing module inventories")?;
        Ok(list
            .items
            .into_iter()
            .filter_map(|s| s.metadata.labels?.get(reconciler::INVENTORY_LABEL).cloned())
            .collect())
    }

    async fn create_empty_config_map(&self) -> anyhow::Result<()> {
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                ..ObjectMeta::default()
            },
            ..ConfigMap::default()
        };
        match self.api.create(&PostParams::default(), &cm).await {
            Ok(_) => Ok(()),
            // Someone created it meanwhile: the watch delivers its data.
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
            Err(err) => Err(err).with_context(|| format!("creating {}", self.config_map_ref())),
        }
    }

    /// The ConfigMap watch saw it deleted: keep the last good values and say why.
    pub fn deleted(&mut self) {
        if self.missing {
            return;
        }
        self.missing = true;
        let message = format!(
            "{} was deleted: the last good config values stay and nothing is disabled or deleted until it is recreated (an empty ConfigMap means an empty config)",
            self.config_map_ref()
        );
        tracing::error!(configmap = %self.config_map_ref(), "ConfigMap deleted; keeping the last good values until it is recreated");
        self.shared.metrics.config_map_missing.set(1);
        self.shared.status().config_error = Some(message);
    }

    /// Decodes and applies ConfigMap data. Returns what changed: the operator converges every
    /// module when `global` or an enabled flag changed, else runs the changed modules.
    ///
    /// # Errors
    /// The data is invalid as a whole (every problem listed); the last good values stay.
    pub fn apply(
        &mut self,
        data: BTreeMap<String, String>,
        startup: bool,
    ) -> anyhow::Result<values::ConfigChange> {
        self.missing = false;
        self.shared.metrics.config_map_missing.set(0);
        let result = self.decoder.apply(&mut self.shared.modules().store, data);
        match result {
            Ok(change) => {
                self.shared.status().config_error = None;
                if !change.is_empty() {
                    tracing::info!(global = change.global, modules = ?change.modules, enabled = ?change.enabled, "config values changed");
                }
                Ok(change)
            }
            Err(errors) => {
                let message = format!("{} is invalid: {errors}", self.config_map_ref());
                if !startup {
                    self.shared.metrics.config_values_errors.inc();
                }
                self.shared.status().config_error = Some(message.clone());
                Err(anyhow::anyhow!(message))
            }
        }
    }

    /// Writes config values changed by hooks back to the ConfigMap. While the ConfigMap is
    /// deleted they stay in memory: recreating it is the user's decision.
    pub async fn persist(&mut self) {
        if self.missing {
            tracing::warn!(configmap = %self.config_map_ref(), "config values changed by a hook are kept in memory: the ConfigMap is deleted");
            return;
        }
        let (encoded, generation) = {
            let modules = self.shared.modules();
            let store = &modules.store;
            (store.config_values().encode(), store.config_generation())
        };
        let encoded = match encoded {
            Ok(data) => data,
            Err(err) => {
                tracing::error!(error = %err, "cannot encode config values");
                return;
            }
        };
        match configmap::persist(&self.api, &self.name, self.decoder.data(), &encoded).await {
            Ok(()) => self.decoder.written(generation, encoded),
            Err(err) => {
                tracing::error!(error = %format!("{err:#}"), "cannot persist config values")
            }
        }
    }
}

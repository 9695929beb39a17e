//! Reading and writing inventory Secrets in the operator namespace, with an in-memory copy
//! validated by resourceVersion.
//!
//! Every inventory this process reads or writes is kept in memory with the Secret's
//! resourceVersion. The drift watch watches the inventory Secrets (they carry the managed-by
//! label), so the tracker knows their live resourceVersions; a read is answered from memory only
//! when the watch has Secrets synced and reports the very resourceVersion we hold — i.e. nobody
//! (another replica, a person) has written the Secret since. Otherwise it is read from the server.

use crate::error::ApplyError;
use crate::inventory::{INVENTORY_LABEL, INVENTORY_SECRET_TYPE, Inventory, secret_name};
use crate::objref::ObjectKey;
use crate::prepare::{MANAGED_BY_LABEL, MANAGER};
use crate::tracker::Tracker;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, ApiResource, DeleteParams, GroupVersionKind, ObjectMeta, Patch, PatchParams};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Where inventories live: one Secret per module in the operator namespace.
#[derive(Clone)]
pub struct InventoryStore {
    api: Api<Secret>,
    namespace: String,
    tracker: Arc<Tracker>,
    /// module → (inventory, Secret resourceVersion) as last read or written by us.
    cache: Arc<Mutex<HashMap<String, (Inventory, String)>>>,
}

/// The resource of inventory Secrets, for the drift watch.
pub fn secrets_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("", "v1", "Secret"), "secrets")
}

impl InventoryStore {
    /// A store for the given namespace; registers Secrets with the tracker so the drift watch
    /// keeps their resourceVersions.
    pub fn new(client: Client, namespace: &str, tracker: Arc<Tracker>) -> Self {
        tracker.watch_resource(&secrets_resource());
        InventoryStore {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
            tracker,
            cache: Arc::default(),
        }
    }

    fn io_error(&self, module: &str, action: &'static str, source: kube::Error) -> ApplyError {
        ApplyError::Inventory {
            module: module.to_string(),
            namespace: self.namespace.clone(),
            name: secret_name(module),
            action,
            source,
        }
    }

    fn key(&self, module: &str) -> ObjectKey {
        (
            String::new(),
            "Secret".to_string(),
            self.namespace.clone(),
            secret_name(module),
        )
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Inventory, String)>> {
        // Single inserts and removes only: a poisoned lock still holds consistent data.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached inventory, if the drift watch confirms the Secret is still at the cached rv.
    fn cached(&self, module: &str) -> Option<Inventory> {
        let (inventory, rv) = self.cache().get(module).cloned()?;
        let key = self.key(module);
        let live = self
            .tracker
            .live_of("", "Secret", std::slice::from_ref(&key))?;
        (live.get(&key) == Some(&rv)).then_some(inventory)
    }

    /// The module's inventory, `None` if it has none.
    ///
    /// # Errors
    /// [`ApplyError::Inventory`] when the read fails, [`ApplyError::CorruptInventory`] when the
    /// Secret cannot be decoded (then nothing may be pruned: the caller stops).
    pub async fn read(&self, module: &str) -> Result<Option<Inventory>, ApplyError> {
        if let Some(inventory) = self.cached(module) {
            return Ok(Some(inventory));
        }
        let secret = self
            .api
            .get_opt(&secret_name(module))
            .await
            .map_err(|e| self.io_error(module, "read", e))?;
        let Some(secret) = secret else {
            self.cache().remove(module);
            return Ok(None);
        };
        let rv = secret.metadata.resource_version.clone().unwrap_or_default();
        let data: BTreeMap<String, Vec<u8>> = secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        let inventory =
            Inventory::decode(&data).map_err(|source| ApplyError::CorruptInventory {
                module: module.to_string(),
                namespace: self.namespace.clone(),
                name: secret_name(module),
                source,
            })?;
        self.cache()
            .insert(module.to_string(), (inventory.clone(), rv));
        Ok(Some(inventory))
    }

    /// Writes (creates or replaces) the module's inventory with one server-side apply.
    ///
    /// # Errors
    /// [`ApplyError::Inventory`] when the write fails.
    pub async fn write(&self, inventory: &Inventory) -> Result<(), ApplyError> {
        let module = &inventory.module;
        let labels = BTreeMap::from([
            (INVENTORY_LABEL.to_string(), module.clone()),
            (MANAGED_BY_LABEL.to_string(), MANAGER.to_string()),
        ]);
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(secret_name(module)),
                namespace: Some(self.namespace.clone()),
                labels: Some(labels),
                ..ObjectMeta::default()
            },
            type_: Some(INVENTORY_SECRET_TYPE.to_string()),
            data: Some(
                inventory
                    .encode()
                    .into_iter()
                    .map(|(k, v)| (k, ByteString(v)))
                    .collect(),
            ),
            ..Secret::default()
        };
        let mut body = serde_json::to_value(&secret).unwrap_or_default();
        body["apiVersion"] = "v1".into();
        body["kind"] = "Secret".into();
        let params = PatchParams::apply(MANAGER).force();
        let written = self
            .api
            .patch(&secret_name(module), &params, &Patch::Apply(&body))
            .await;
        match written {
            Ok(written) => {
                let rv = written.metadata.resource_version.unwrap_or_default();
                self.cache().insert(module.clone(), (inventory.clone(), rv));
                Ok(())
            }
            Err(err) => {
                self.cache().remove(module);
                Err(self.io_error(module, "write", err))
            }
        }
    }

    /// Deletes the module's inventory Secret (absent is fine).
    ///
    /// # Errors
    /// [`ApplyError::Inventory`] when the delete fails.
    pub async fn delete(&self, module: &str) -> Result<(), ApplyError> {
        self.cache().remove(module);
        match self
            .api
            .delete(&secret_name(module), &DeleteParams::default())
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if crate::cluster::is_not_found(&err) => Ok(()),
            Err(err) => Err(self.io_error(module, "delete", err)),
        }
    }
}

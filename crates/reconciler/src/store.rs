//! Reading and writing inventory Secrets in the operator namespace, with an in-memory copy
//! validated by resourceVersion.
//!
//! Every inventory this process reads or writes is kept in memory with the Secret's
//! resourceVersion. The drift watch watches the inventory Secrets (they carry the managed-by
//! label), so the tracker knows their live resourceVersions; a read is answered from memory only
//! when the watch has Secrets synced and reports the very resourceVersion we hold — i.e. nobody
//! (another replica, a person) has written the Secret since. Otherwise it is read from the server.
//!
//! Writes are fenced: every write names the resourceVersion of the Secret it was computed from
//! (an update with `metadata.resourceVersion`, a create when there was none, a delete with a
//! resourceVersion precondition), so a writer whose read is stale — a paused former leader —
//! gets a 409 instead of overwriting what another writer stored.

use crate::error::ApplyError;
use crate::inventory::{INVENTORY_LABEL, INVENTORY_SECRET_TYPE, Inventory, secret_name};
use crate::objref::ObjectKey;
use crate::prepare::{MANAGED_BY_LABEL, MANAGER};
use crate::tracker::Tracker;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{
    Api, ApiResource, DeleteParams, GroupVersionKind, ObjectMeta, PostParams, Preconditions,
};
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

/// An inventory as stored, with the resourceVersion of its Secret (the base of the next write).
#[derive(Debug, Clone)]
pub struct Stored {
    /// The inventory.
    pub inventory: Inventory,
    /// `metadata.resourceVersion` of the Secret it was read from or written to.
    pub resource_version: String,
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
        let name = secret_name(module);
        let module = module.to_string();
        match &source {
            kube::Error::Api(status) if status.code == 409 => ApplyError::InventoryConflict {
                module,
                secret: format!("{}/{name}", self.namespace),
                action,
                source,
            },
            _ => ApplyError::Inventory {
                module,
                namespace: self.namespace.clone(),
                name,
                action,
                source,
            },
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
    fn cached(&self, module: &str) -> Option<Stored> {
        let (inventory, rv) = self.cache().get(module).cloned()?;
        let key = self.key(module);
        let live = self
            .tracker
            .live_of("", "Secret", std::slice::from_ref(&key))?;
        (live.get(&key) == Some(&rv)).then_some(Stored {
            inventory,
            resource_version: rv,
        })
    }

    /// The module's inventory with its Secret's resourceVersion, `None` if it has none.
    ///
    /// # Errors
    /// [`ApplyError::Inventory`] when the read fails, [`ApplyError::CorruptInventory`] when the
    /// Secret cannot be decoded (then nothing may be pruned: the caller stops).
    pub async fn read(&self, module: &str) -> Result<Option<Stored>, ApplyError> {
        if let Some(stored) = self.cached(module) {
            return Ok(Some(stored));
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
            .insert(module.to_string(), (inventory.clone(), rv.clone()));
        Ok(Some(Stored {
            inventory,
            resource_version: rv,
        }))
    }

    /// Writes the module's inventory over the Secret at resourceVersion `base` (an update
    /// carrying it as a precondition), or creates the Secret when `base` is `None`; returns the
    /// new resourceVersion.
    ///
    /// # Errors
    /// [`ApplyError::InventoryConflict`] when the Secret is no longer at `base` (or exists
    /// although `base` is `None`): nothing was overwritten. [`ApplyError::Inventory`] when the
    /// write fails otherwise.
    pub async fn write(
        &self,
        inventory: &Inventory,
        base: Option<&str>,
    ) -> Result<String, ApplyError> {
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
                resource_version: base.map(str::to_string),
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
        let params = PostParams {
            field_manager: Some(MANAGER.to_string()),
            ..PostParams::default()
        };
        let written = match base {
            Some(_) => {
                self.api
                    .replace(&secret_name(module), &params, &secret)
                    .await
            }
            None => self.api.create(&params, &secret).await,
        };
        match written {
            Ok(written) => {
                let rv = written.metadata.resource_version.unwrap_or_default();
                self.cache()
                    .insert(module.clone(), (inventory.clone(), rv.clone()));
                Ok(rv)
            }
            Err(err) => {
                self.cache().remove(module);
                Err(self.io_error(module, "write", err))
            }
        }
    }

    /// Deletes the module's inventory Secret if it is still at resourceVersion `base` (absent
    /// is fine).
    ///
    /// # Errors
    /// [`ApplyError::InventoryConflict`] when someone wrote the Secret since `base`: it is not
    /// deleted. [`ApplyError::Inventory`] when the delete fails otherwise.
    pub async fn delete(&self, module: &str, base: &str) -> Result<(), ApplyError> {
        self.cache().remove(module);
        let params = DeleteParams::default().preconditions(Preconditions {
            resource_version: Some(base.to_string()),
            uid: None,
        });
        match self.api.delete(&secret_name(module), &params).await {
            Ok(_) => Ok(()),
            Err(err) if crate::cluster::is_not_found(&err) => Ok(()),
            Err(err) => Err(self.io_error(module, "delete", err)),
        }
    }
}

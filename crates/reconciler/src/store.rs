//! Reading and writing inventory Secrets in the operator namespace.

use crate::error::ApplyError;
use crate::inventory::{INVENTORY_LABEL, INVENTORY_SECRET_TYPE, Inventory, secret_name};
use crate::prepare::MANAGER;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams};
use std::collections::BTreeMap;

/// Where inventories live: one Secret per module in the operator namespace.
#[derive(Clone)]
pub struct InventoryStore {
    api: Api<Secret>,
    namespace: String,
}

impl InventoryStore {
    /// A store for the given namespace.
    pub fn new(client: Client, namespace: &str) -> Self {
        InventoryStore {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_string(),
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

    /// The module's inventory, `None` if it has none.
    ///
    /// # Errors
    /// [`ApplyError::Inventory`] when the read fails, [`ApplyError::CorruptInventory`] when the
    /// Secret cannot be decoded (then nothing may be pruned: the caller stops).
    pub async fn read(&self, module: &str) -> Result<Option<Inventory>, ApplyError> {
        let secret = self
            .api
            .get_opt(&secret_name(module))
            .await
            .map_err(|e| self.io_error(module, "read", e))?;
        let Some(secret) = secret else {
            return Ok(None);
        };
        let data: BTreeMap<String, Vec<u8>> = secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect();
        Inventory::decode(&data)
            .map(Some)
            .map_err(|source| ApplyError::CorruptInventory {
                module: module.to_string(),
                namespace: self.namespace.clone(),
                name: secret_name(module),
                source,
            })
    }

    /// Writes (creates or replaces) the module's inventory with one server-side apply.
    ///
    /// # Errors
    /// [`ApplyError::Inventory`] when the write fails.
    pub async fn write(&self, inventory: &Inventory) -> Result<(), ApplyError> {
        let module = &inventory.module;
        let secret = Secret {
            metadata: ObjectMeta {
                name: Some(secret_name(module)),
                namespace: Some(self.namespace.clone()),
                labels: Some(BTreeMap::from([(
                    INVENTORY_LABEL.to_string(),
                    module.clone(),
                )])),
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
        self.api
            .patch(
                &secret_name(module),
                &PatchParams::apply(MANAGER).force(),
                &Patch::Apply(&body),
            )
            .await
            .map(|_| ())
            .map_err(|e| self.io_error(module, "write", e))
    }

    /// Deletes the module's inventory Secret (absent is fine).
    ///
    /// # Errors
    /// [`ApplyError::Inventory`] when the delete fails.
    pub async fn delete(&self, module: &str) -> Result<(), ApplyError> {
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

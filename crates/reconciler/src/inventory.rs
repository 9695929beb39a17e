//! The per-module inventory: what the reconciler applied, stored in one Secret per module.
//!
//! The inventory is the only source of truth for pruning and deletion: an object is deleted
//! only if it is listed here (and still carries the module's label, see `prune`). This module
//! holds the data type and its Secret encoding; reading and writing it is in `store`.

use crate::objref::{ObjectKey, ObjectRef};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};

/// Label on inventory Secrets; its value is the module name.
pub const INVENTORY_LABEL: &str = "addon-operator.io/inventory";
/// `type` of inventory Secrets, so they are recognisable in `kubectl get secrets`.
pub const INVENTORY_SECRET_TYPE: &str = "addon-operator.io/inventory";
/// The Secret data key holding the JSON-encoded [`Inventory`].
pub const INVENTORY_DATA_KEY: &str = "inventory.json";

/// The name of a module's inventory Secret.
pub fn secret_name(module: &str) -> String {
    format!("addon-operator-inventory-{module}")
}

/// Whether the inventory describes a finished apply or one in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Phase {
    /// Written before applying: the union of the previous objects and the objects about to be
    /// created. If the process dies mid-apply, this is what the next run prunes from.
    Pending,
    /// Written after a successful apply and prune: exactly the objects the module renders.
    Applied,
}

/// One applied object and what the reconciler knows about its last apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InventoryEntry {
    /// The object.
    #[serde(flatten)]
    pub object: ObjectRef,
    /// Hash of the object as last applied (labels included); `None` if it may not have been
    /// applied yet (pending entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// `resourceVersion` the cluster returned for that apply (or observed unchanged since).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

impl InventoryEntry {
    /// An entry for an object not applied yet.
    pub fn pending(object: ObjectRef) -> Self {
        InventoryEntry {
            object,
            hash: None,
            resource_version: None,
        }
    }
}

/// What a module has applied: object references, checksum, revision and time of the write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inventory {
    /// Module name.
    pub module: String,
    /// Incremented on every apply that changed the cluster or the inventory.
    pub revision: u64,
    /// Finished or in progress.
    pub phase: Phase,
    /// The caller's checksum of the module inputs (values + chart) of this revision.
    #[serde(default)]
    pub checksum: String,
    /// RFC 3339 time of the write.
    pub updated_at: String,
    /// The objects, in apply order.
    pub objects: Vec<InventoryEntry>,
}

/// Why an inventory Secret could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The Secret has no `inventory.json` key.
    #[error("secret has no data key {INVENTORY_DATA_KEY:?}")]
    MissingKey,
    /// The key does not hold a valid inventory document.
    #[error("data key {INVENTORY_DATA_KEY:?} is not a valid inventory")]
    Json(#[source] serde_json::Error),
}

impl Inventory {
    /// Refs of every object in the inventory.
    pub fn refs(&self) -> impl Iterator<Item = &ObjectRef> {
        self.objects.iter().map(|e| &e.object)
    }

    /// The entry for an object, by identity.
    pub fn entries_by_key(&self) -> BTreeMap<ObjectKey, &InventoryEntry> {
        self.objects.iter().map(|e| (e.object.key(), e)).collect()
    }

    /// The Secret `data` map holding this inventory (raw bytes; the caller base64-encodes).
    pub fn encode(&self) -> BTreeMap<String, Vec<u8>> {
        // Serializing plain structs of strings and integers cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        BTreeMap::from([(INVENTORY_DATA_KEY.to_string(), json)])
    }

    /// Decodes the Secret `data` map written by [`Inventory::encode`].
    ///
    /// # Errors
    /// [`DecodeError`] when the key is missing or is not an inventory document.
    pub fn decode(data: &BTreeMap<String, Vec<u8>>) -> Result<Inventory, DecodeError> {
        let raw = data
            .get(INVENTORY_DATA_KEY)
            .ok_or(DecodeError::MissingKey)?;
        serde_json::from_slice(raw).map_err(DecodeError::Json)
    }

    /// Whether two inventories record the same objects, hashes and checksum (resourceVersions,
    /// time, revision and phase aside): if so, and no object was written, rewriting is pointless.
    pub fn same_content(&self, other: &Inventory) -> bool {
        let strip = |i: &Inventory| -> Vec<(ObjectRef, Option<String>)> {
            i.objects
                .iter()
                .map(|e| (e.object.clone(), e.hash.clone()))
                .collect()
        };
        self.checksum == other.checksum && strip(self) == strip(other)
    }
}

/// The pending inventory: every entry of `old` plus a pending entry for each object of `new`
/// that `old` does not list; `None` if `old` already lists every object of `new` (then no
/// object can be created that the persisted inventory does not cover, and nothing is written).
pub fn pending_union(
    module: &str,
    old: Option<&Inventory>,
    new: &[ObjectRef],
    now: String,
) -> Option<Inventory> {
    let known: HashSet<ObjectKey> = old
        .map(|i| i.refs().map(ObjectRef::key).collect())
        .unwrap_or_default();
    let added: Vec<InventoryEntry> = new
        .iter()
        .filter(|r| !known.contains(&r.key()))
        .cloned()
        .map(InventoryEntry::pending)
        .collect();
    if added.is_empty() {
        return None;
    }
    let mut objects = old.map(|i| i.objects.clone()).unwrap_or_default();
    objects.extend(added);
    Some(Inventory {
        module: module.to_string(),
        revision: old.map_or(0, |i| i.revision),
        phase: Phase::Pending,
        checksum: old.map(|i| i.checksum.clone()).unwrap_or_default(),
        updated_at: now,
        objects,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(kind: &str, name: &str) -> ObjectRef {
        ObjectRef {
            api_version: "v1".into(),
            kind: kind.into(),
            namespace: Some("ns".into()),
            name: name.into(),
        }
    }

    fn inv(objects: Vec<InventoryEntry>) -> Inventory {
        Inventory {
            module: "m".into(),
            revision: 3,
            phase: Phase::Applied,
            checksum: "c".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
            objects,
        }
    }

    #[test]
    fn inventory_should_round_trip_through_secret_data() {
        let mut entry = InventoryEntry::pending(r("ConfigMap", "a"));
        entry.hash = Some("h".into());
        entry.resource_version = Some("7".into());
        let original = inv(vec![entry, InventoryEntry::pending(r("Secret", "b"))]);
        let decoded = Inventory::decode(&original.encode()).unwrap();
        assert_eq!(decoded, original);
        let json: serde_json::Value =
            serde_json::from_slice(&original.encode()[INVENTORY_DATA_KEY]).unwrap();
        assert_eq!(json["objects"][0]["kind"], "ConfigMap");
        assert_eq!(json["objects"][0]["resourceVersion"], "7");
        assert_eq!(json["phase"], "Applied");
    }

    #[test]
    fn decode_should_name_what_is_wrong() {
        assert!(matches!(
            Inventory::decode(&BTreeMap::new()),
            Err(DecodeError::MissingKey)
        ));
        let bad = BTreeMap::from([(INVENTORY_DATA_KEY.to_string(), b"{".to_vec())]);
        let err = Inventory::decode(&bad).unwrap_err();
        assert!(err.to_string().contains("inventory.json"), "{err}");
    }

    #[test]
    fn pending_union_should_add_only_new_objects_and_keep_old_ones() {
        let old = inv(vec![InventoryEntry::pending(r("ConfigMap", "a"))]);
        let pending = pending_union("m", Some(&old), &[r("ConfigMap", "b")], "now".into()).unwrap();
        let names: Vec<_> = pending.refs().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(pending.phase, Phase::Pending);
        assert_eq!(pending.revision, 3);
    }

    #[test]
    fn pending_union_should_be_none_when_nothing_new_would_be_created() {
        let old = inv(vec![
            InventoryEntry::pending(r("ConfigMap", "a")),
            InventoryEntry::pending(r("ConfigMap", "b")),
        ]);
        assert!(pending_union("m", Some(&old), &[r("ConfigMap", "a")], "now".into()).is_none());
        assert!(pending_union("m", None, &[], "now".into()).is_none());
        assert!(pending_union("m", None, &[r("ConfigMap", "a")], "now".into()).is_some());
    }
}

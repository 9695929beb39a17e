//! Kind → resource resolution through API discovery, cached per group-version.
//!
//! One discovery request per group-version (`/api/v1`, `/apis/apps/v1`, ...) answers every kind
//! in it, so a module set touching a handful of group-versions costs a handful of requests for
//! the life of the process. A kind missing from a cached group-version triggers one refresh of
//! that group-version (a CRD may have been installed since).

use crate::prepare::Resolved;
use kube::Client;
use kube::api::GroupVersionKind;
use kube::core::GroupVersion;
use kube::discovery::{self, Scope};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

type Kinds = Arc<HashMap<String, Resolved>>;

/// A discovery cache shared by all modules of one reconciler.
#[derive(Debug, Default)]
pub struct DiscoveryCache {
    versions: Mutex<HashMap<(String, String), Kinds>>,
}

impl DiscoveryCache {
    /// Resolves a kind, asking the server on a miss; `Ok(None)` when the server does not serve
    /// the group-version or the kind.
    ///
    /// # Errors
    /// The client error when the discovery request itself fails (other than 404).
    pub async fn resolve(
        &self,
        client: &Client,
        gvk: &GroupVersionKind,
    ) -> Result<Option<Resolved>, kube::Error> {
        if let Some(found) = self.cached(gvk) {
            return Ok(Some(found));
        }
        let key = (gvk.group.clone(), gvk.version.clone());
        let gv = GroupVersion::gv(&gvk.group, &gvk.version);
        let group = match discovery::pinned_group(client, &gv).await {
            Ok(group) => group,
            Err(kube::Error::Api(status)) if status.code == 404 => return Ok(None),
            Err(err) => return Err(err),
        };
        let kinds: HashMap<String, Resolved> = group
            .versioned_resources(&gvk.version)
            .into_iter()
            .map(|(resource, caps)| {
                let namespaced = caps.scope == Scope::Namespaced;
                (
                    resource.kind.clone(),
                    Resolved {
                        resource,
                        namespaced,
                    },
                )
            })
            .collect();
        let found = kinds.get(&gvk.kind).cloned();
        self.lock().insert(key, Arc::new(kinds));
        Ok(found)
    }

    fn cached(&self, gvk: &GroupVersionKind) -> Option<Resolved> {
        let versions = self.lock();
        versions
            .get(&(gvk.group.clone(), gvk.version.clone()))
            .and_then(|kinds| kinds.get(&gvk.kind).cloned())
    }

    /// Forgets a group-version (after a 404 on one of its resources).
    pub fn invalidate(&self, group: &str, version: &str) {
        self.lock()
            .remove(&(group.to_string(), version.to_string()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Kinds>> {
        // A panic while holding this lock cannot leave the map half-updated (single inserts),
        // so a poisoned lock is still safe to use.
        self.versions.lock().unwrap_or_else(|p| p.into_inner())
    }
}

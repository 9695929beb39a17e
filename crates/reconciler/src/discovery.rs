//! Kind → resource resolution for rendered objects, through the workspace's one discovery
//! cache ([`cluster_access::DiscoveryCache`]): one request per group-version for the life of the
//! process, refreshed when a kind is missing (a CRD may have been installed since).

use crate::prepare::Resolved;
use kube::Client;
use kube::api::GroupVersionKind;

/// The reconciler's view of the shared discovery cache: answers in [`Resolved`] terms.
#[derive(Debug, Default)]
pub struct DiscoveryCache {
    cache: cluster_access::DiscoveryCache,
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
        let served = self.cache.resolve_gvk(client, gvk).await?;
        Ok(served.map(|s| Resolved {
            resource: s.api_resource,
            namespaced: s.namespaced,
        }))
    }

    /// Forgets a group-version (after a 404 on one of its resources).
    pub fn invalidate(&self, group: &str, version: &str) {
        self.cache.invalidate(group, version);
    }
}

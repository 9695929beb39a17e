//! API resource discovery: resolves a binding's or patch's `kind` (kind, plural or short name,
//! case-insensitive, optionally pinned by `apiVersion`) to a served resource, through the
//! workspace's one discovery cache ([`cluster_access::DiscoveryCache`]).
//!
//! The cache refreshes when a kind is not found, so CRDs created after startup are picked up by
//! the next lookup.

use cluster_access::DiscoveryCache;
use kube::Client;

/// A served resource: `api_resource` for kube's dynamic API, and whether it is namespaced.
pub use cluster_access::ServedResource as ResolvedResource;

/// Errors resolving a kind: `UnknownKind` (after re-discovery) or `Request` (discovery failed).
pub use cluster_access::DiscoveryError as ResourceError;

/// The engine's client and its discovery cache.
pub(crate) struct ResourceCatalog {
    client: Client,
    cache: DiscoveryCache,
}

impl ResourceCatalog {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            cache: DiscoveryCache::default(),
        }
    }

    /// Resolves `kind`, re-running discovery once if it is unknown.
    pub(crate) async fn resolve(
        &self,
        api_version: Option<&str>,
        kind: &str,
    ) -> Result<ResolvedResource, ResourceError> {
        self.cache
            .resolve_name(&self.client, api_version, kind)
            .await
    }
}

//! API resource discovery: resolves a binding's or patch's `kind` (kind, plural or short name,
//! case-insensitive, optionally pinned by `apiVersion`) to a kube `ApiResource`.
//!
//! Discovery is cached and refreshed when a kind is not found, so CRDs created after startup are
//! picked up by the next lookup.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
use kube::Client;
use kube::discovery::ApiResource;
use tokio::sync::Mutex;

/// Errors resolving a kind.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// No served resource has this kind, plural or short name (after re-discovery).
    #[error("unknown kind {kind:?}{}: no served resource has this kind, plural or short name", api_version_suffix(.api_version))]
    UnknownKind {
        /// The kind as written.
        kind: String,
        /// The apiVersion as written, if any.
        api_version: Option<String>,
    },
    /// The discovery requests failed.
    #[error("API discovery failed: {0}")]
    Discovery(#[source] kube::Error),
}

fn api_version_suffix(v: &Option<String>) -> String {
    v.as_ref().map(|v| format!(" in {v}")).unwrap_or_default()
}

/// A served resource.
#[derive(Debug, Clone)]
pub struct ResolvedResource {
    /// Group, version, kind and plural for kube's dynamic API.
    pub api_resource: ApiResource,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    short_names: Vec<String>,
    singular: String,
    /// From the group's preferred version (wins when no apiVersion is given).
    preferred: bool,
}

impl ResolvedResource {
    fn matches(&self, kind: &str) -> bool {
        let ar = &self.api_resource;
        ar.kind.eq_ignore_ascii_case(kind)
            || ar.plural.eq_ignore_ascii_case(kind)
            || self.singular.eq_ignore_ascii_case(kind)
            || self
                .short_names
                .iter()
                .any(|s| s.eq_ignore_ascii_case(kind))
    }
}

/// Cached discovery of every served resource.
pub(crate) struct ResourceCatalog {
    client: Client,
    entries: Mutex<Option<Vec<ResolvedResource>>>,
}

impl ResourceCatalog {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            entries: Mutex::new(None),
        }
    }

    /// Resolves `kind`, re-running discovery once if it is unknown.
    pub(crate) async fn resolve(
        &self,
        api_version: Option<&str>,
        kind: &str,
    ) -> Result<ResolvedResource, ResourceError> {
        let mut entries = self.entries.lock().await;
        if let Some(found) = entries.as_deref().and_then(|e| find(e, api_version, kind)) {
            return Ok(found);
        }
        let fresh = discover(&self.client)
            .await
            .map_err(ResourceError::Discovery)?;
        let found = find(&fresh, api_version, kind);
        *entries = Some(fresh);
        found.ok_or_else(|| ResourceError::UnknownKind {
            kind: kind.into(),
            api_version: api_version.map(Into::into),
        })
    }
}

fn find(
    entries: &[ResolvedResource],
    api_version: Option<&str>,
    kind: &str,
) -> Option<ResolvedResource> {
    let mut candidates = entries
        .iter()
        .filter(|e| e.matches(kind))
        .filter(|e| match api_version {
            Some(v) => e.api_resource.api_version == v || e.api_resource.group == v,
            None => true,
        });
    let first = candidates.next()?;
    if first.preferred || api_version.is_some() {
        return Some(first.clone());
    }
    Some(candidates.find(|c| c.preferred).unwrap_or(first).clone())
}

async fn discover(client: &Client) -> Result<Vec<ResolvedResource>, kube::Error> {
    let mut out = Vec::new();
    let core = client.list_core_api_versions().await?;
    for v in &core.versions {
        let list = client.list_core_api_resources(v).await?;
        push_list(&mut out, "", v, &list, true);
    }
    let groups = client.list_api_groups().await?;
    for g in &groups.groups {
        let preferred = g.preferred_version.as_ref().map(|p| p.version.clone());
        for v in &g.versions {
            let list = client.list_api_group_resources(&v.group_version).await?;
            let is_pref = preferred.as_deref().is_none_or(|p| p == v.version);
            push_list(&mut out, &g.name, &v.version, &list, is_pref);
        }
    }
    Ok(out)
}

fn push_list(
    out: &mut Vec<ResolvedResource>,
    group: &str,
    version: &str,
    list: &APIResourceList,
    preferred: bool,
) {
    for r in &list.resources {
        if r.name.contains('/') {
            continue; // subresource
        }
        let api_version = if group.is_empty() {
            version.to_string()
        } else {
            format!("{group}/{version}")
        };
        out.push(ResolvedResource {
            api_resource: ApiResource {
                group: group.into(),
                version: version.into(),
                api_version,
                kind: r.kind.clone(),
                plural: r.name.clone(),
            },
            namespaced: r.namespaced,
            short_names: r.short_names.clone().unwrap_or_default(),
            singular: r.singular_name.clone(),
            preferred,
        });
    }
}

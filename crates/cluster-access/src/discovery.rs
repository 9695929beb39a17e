//! API discovery with one cache for both ways the workspace names a resource.
//!
//! The reconciler knows exact group/version/kinds from rendered objects; hook bindings and
//! object patches write what a user types into kubectl (`kind: deploy`, `kind: Pods`, maybe no
//! `apiVersion`). Both are answered from one [`DiscoveryCache`] of group-versions, so the two
//! never disagree about what the server serves and a group-version is fetched once for both.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
use kube::Client;
use kube::api::{ApiResource, GroupVersionKind};
use std::sync::{Arc, Mutex, MutexGuard};

/// Errors resolving a kind by name.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// No served resource has this kind, plural, singular or short name (after re-discovery).
    #[error("unknown kind {kind:?}{}: no served resource has this kind, plural or short name", api_version_suffix(.api_version))]
    UnknownKind {
        /// The kind as written.
        kind: String,
        /// The apiVersion as written, if any.
        api_version: Option<String>,
    },
    /// A discovery request failed.
    #[error("API discovery failed")]
    Request(#[source] kube::Error),
}

fn api_version_suffix(v: &Option<String>) -> String {
    v.as_ref().map(|v| format!(" in {v}")).unwrap_or_default()
}

/// A resource the API server serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServedResource {
    /// Group, version, kind and plural, for kube's dynamic API.
    pub api_resource: ApiResource,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// kubectl short names (`deploy`, `cm`).
    pub short_names: Vec<String>,
    /// The singular name (`deployment`).
    pub singular: String,
}

impl ServedResource {
    /// Whether `name` is this resource's kind, plural, singular or a short name, ignoring case.
    pub fn is_named(&self, name: &str) -> bool {
        let ar = &self.api_resource;
        ar.kind.eq_ignore_ascii_case(name)
            || ar.plural.eq_ignore_ascii_case(name)
            || self.singular.eq_ignore_ascii_case(name)
            || self
                .short_names
                .iter()
                .any(|s| s.eq_ignore_ascii_case(name))
    }
}

/// The resources of one group-version, as one discovery request returned them.
#[derive(Debug)]
struct GroupVersion {
    group: String,
    version: String,
    /// The group's preferred version (from the group list; `true` when not known yet).
    preferred: bool,
    resources: Arc<Vec<ServedResource>>,
}

#[derive(Debug, Default)]
struct Catalog {
    /// In server order (core first, then groups as `/apis` lists them): the first match of an
    /// ambiguous name wins, as in kubectl.
    versions: Vec<GroupVersion>,
    /// Whether `versions` holds every served group-version (a full discovery ran since the
    /// last invalidation), so a name lookup may trust a miss.
    complete: bool,
}

/// The one discovery cache of the workspace: resolves exact group/version/kinds
/// ([`DiscoveryCache::resolve_gvk`], the reconciler) and kubectl-style names
/// ([`DiscoveryCache::resolve_name`], hook bindings and object patches).
///
/// One type serves both because both ask the same thing: which resource serves this kind, and
/// is it namespaced. Before it, each crate kept its own cache and discovered the same
/// group-versions again.
///
/// # Guarantees
/// - A group-version is fetched once and kept for the life of the cache; a miss refreshes (a
///   CRD may have been installed since), so new kinds are found without a restart.
/// - [`DiscoveryCache::invalidate`] forgets a group-version after a 404 on one of its
///   resources (a CRD was removed).
///
/// # Caveats
/// Concurrent misses may send the same discovery request twice; the later answer wins. The
/// cache holds no client: callers pass theirs, so one cache can outlive a client swap.
#[derive(Debug, Default)]
pub struct DiscoveryCache {
    catalog: Mutex<Catalog>,
}

impl DiscoveryCache {
    /// A resource by exact group, version and kind; `Ok(None)` when the server does not serve
    /// the group-version or the kind. Asks the server (one request for the group-version) on a
    /// miss.
    ///
    /// # Errors
    /// The client error when the discovery request fails (other than 404).
    pub async fn resolve_gvk(
        &self,
        client: &Client,
        gvk: &GroupVersionKind,
    ) -> Result<Option<ServedResource>, kube::Error> {
        let find = |c: &Catalog| {
            c.versions
                .iter()
                .find(|gv| gv.group == gvk.group && gv.version == gvk.version)
                .and_then(|gv| {
                    gv.resources
                        .iter()
                        .find(|r| r.api_resource.kind == gvk.kind)
                })
                .cloned()
        };
        if let Some(found) = find(&self.lock()) {
            return Ok(Some(found));
        }
        let list = if gvk.group.is_empty() {
            client.list_core_api_resources(&gvk.version).await
        } else {
            let gv = format!("{}/{}", gvk.group, gvk.version);
            client.list_api_group_resources(&gv).await
        };
        let list = match list {
            Ok(list) => list,
            Err(kube::Error::Api(status)) if status.code == 404 => {
                self.invalidate(&gvk.group, &gvk.version);
                return Ok(None);
            }
            Err(err) => return Err(err),
        };
        let mut catalog = self.lock();
        let preferred = catalog
            .versions
            .iter()
            .find(|gv| gv.group == gvk.group && gv.version == gvk.version)
            .is_none_or(|gv| gv.preferred);
        let fresh = group_version(&gvk.group, &gvk.version, preferred, &list);
        match catalog
            .versions
            .iter_mut()
            .find(|gv| gv.group == gvk.group && gv.version == gvk.version)
        {
            Some(slot) => *slot = fresh,
            None => {
                catalog.versions.push(fresh);
                // A group-version unknown to the last full discovery: its preferred flag is
                // a guess, so the next name lookup must not trust the catalog.
                catalog.complete = false;
            }
        }
        Ok(find(&catalog))
    }

    /// A resource by a kubectl-style name: kind, plural, singular or short name, any case.
    /// `api_version` (`group/version`, `v1`, or just a group) narrows the search; without it
    /// the group's preferred version wins. Runs a full discovery when the name is unknown.
    ///
    /// # Errors
    /// [`DiscoveryError::UnknownKind`] when nothing matches after a fresh discovery;
    /// [`DiscoveryError::Request`] when a discovery request fails.
    pub async fn resolve_name(
        &self,
        client: &Client,
        api_version: Option<&str>,
        name: &str,
    ) -> Result<ServedResource, DiscoveryError> {
        {
            let catalog = self.lock();
            if catalog.complete
                && let Some(found) = find_by_name(&catalog.versions, api_version, name)
            {
                return Ok(found);
            }
        }
        let versions = discover(client).await.map_err(DiscoveryError::Request)?;
        let found = find_by_name(&versions, api_version, name);
        *self.lock() = Catalog {
            versions,
            complete: true,
        };
        found.ok_or_else(|| DiscoveryError::UnknownKind {
            kind: name.into(),
            api_version: api_version.map(Into::into),
        })
    }

    /// Forgets a group-version (after a 404 on one of its resources): the next lookup asks the
    /// server again.
    pub fn invalidate(&self, group: &str, version: &str) {
        let mut catalog = self.lock();
        let before = catalog.versions.len();
        catalog
            .versions
            .retain(|gv| gv.group != group || gv.version != version);
        if catalog.versions.len() != before {
            catalog.complete = false;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Catalog> {
        // Every update replaces whole entries, so a panic elsewhere cannot leave the catalog
        // half-written: a poisoned lock is still safe to use.
        self.catalog.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The first resource named `name` (narrowed by `api_version`) in a preferred version of its
/// group, else the first one at all.
fn find_by_name(
    versions: &[GroupVersion],
    api_version: Option<&str>,
    name: &str,
) -> Option<ServedResource> {
    let candidates: Vec<(bool, &ServedResource)> = versions
        .iter()
        .filter(|gv| match api_version {
            Some(v) => {
                gv.group == v
                    || (gv.group.is_empty() && gv.version == v)
                    || v.split_once('/') == Some((gv.group.as_str(), gv.version.as_str()))
            }
            None => true,
        })
        .flat_map(|gv| {
            gv.resources
                .iter()
                .filter(|r| r.is_named(name))
                .map(move |r| (gv.preferred, r))
        })
        .collect();
    let preferred = candidates.iter().find(|(p, _)| *p);
    preferred.or(candidates.first()).map(|(_, r)| (*r).clone())
}

/// Every served group-version, in server order.
async fn discover(client: &Client) -> Result<Vec<GroupVersion>, kube::Error> {
    let mut out = Vec::new();
    let core = client.list_core_api_versions().await?;
    for v in &core.versions {
        let list = client.list_core_api_resources(v).await?;
        out.push(group_version("", v, true, &list));
    }
    let groups = client.list_api_groups().await?;
    for g in &groups.groups {
        let preferred = g.preferred_version.as_ref().map(|p| p.version.as_str());
        for v in &g.versions {
            let list = client.list_api_group_resources(&v.group_version).await?;
            let is_preferred = preferred.is_none_or(|p| p == v.version);
            out.push(group_version(&g.name, &v.version, is_preferred, &list));
        }
    }
    Ok(out)
}

fn group_version(
    group: &str,
    version: &str,
    preferred: bool,
    list: &APIResourceList,
) -> GroupVersion {
    let api_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let resources = list
        .resources
        .iter()
        .filter(|r| !r.name.contains('/')) // subresources
        .map(|r| ServedResource {
            api_resource: ApiResource {
                group: group.into(),
                version: version.into(),
                api_version: api_version.clone(),
                kind: r.kind.clone(),
                plural: r.name.clone(),
            },
            namespaced: r.namespaced,
            short_names: r.short_names.clone().unwrap_or_default(),
            singular: r.singular_name.clone(),
        })
        .collect();
    GroupVersion {
        group: group.into(),
        version: version.into(),
        preferred,
        resources: Arc::new(resources),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResource;

    fn gv(
        group: &str,
        version: &str,
        preferred: bool,
        kinds: &[(&str, &str, &[&str])],
    ) -> GroupVersion {
        let list = APIResourceList {
            resources: kinds
                .iter()
                .map(|(kind, plural, short)| APIResource {
                    kind: kind.to_string(),
                    name: plural.to_string(),
                    namespaced: true,
                    short_names: Some(short.iter().map(|s| s.to_string()).collect()),
                    singular_name: kind.to_lowercase(),
                    ..APIResource::default()
                })
                .collect(),
            ..APIResourceList::default()
        };
        group_version(group, version, preferred, &list)
    }

    fn catalog() -> Vec<GroupVersion> {
        vec![
            gv(
                "",
                "v1",
                true,
                &[
                    ("ConfigMap", "configmaps", &["cm"]),
                    ("Event", "events", &["ev"]),
                ],
            ),
            gv(
                "example.com",
                "v1beta1",
                false,
                &[("Widget", "widgets", &["wdg"])],
            ),
            gv(
                "example.com",
                "v1",
                true,
                &[("Widget", "widgets", &["wdg"])],
            ),
            gv("events.k8s.io", "v1", true, &[("Event", "events", &["ev"])]),
        ]
    }

    fn found(api_version: Option<&str>, name: &str) -> Option<String> {
        find_by_name(&catalog(), api_version, name).map(|r| r.api_resource.api_version)
    }

    #[test]
    fn names_match_kind_plural_singular_and_short_names_in_any_case() {
        for name in ["ConfigMap", "configmaps", "configmap", "CM", "cm"] {
            assert_eq!(found(None, name).as_deref(), Some("v1"), "{name}");
        }
        assert_eq!(found(None, "config"), None);
    }

    #[test]
    fn without_an_api_version_the_preferred_version_wins() {
        assert_eq!(found(None, "wdg").as_deref(), Some("example.com/v1"));
        assert_eq!(
            found(None, "Event").as_deref(),
            Some("v1"),
            "core comes first"
        );
    }

    #[test]
    fn an_api_version_or_a_group_narrows_the_search() {
        assert_eq!(
            found(Some("example.com/v1beta1"), "Widget").as_deref(),
            Some("example.com/v1beta1")
        );
        assert_eq!(
            found(Some("events.k8s.io"), "Event").as_deref(),
            Some("events.k8s.io/v1")
        );
        assert_eq!(
            found(Some("example.com"), "wdg").as_deref(),
            Some("example.com/v1")
        );
        assert_eq!(found(Some("v1"), "cm").as_deref(), Some("v1"));
        assert_eq!(found(Some("apps/v1"), "cm"), None);
    }
}

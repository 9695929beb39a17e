//! References to applied objects, as stored in the inventory and reported to callers.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Which object: enough to find it again (`apiVersion`, `kind`, namespace, name).
///
/// Identity ([`ObjectRef::key`]) ignores the version, so a chart that moves an Ingress from
/// `extensions/v1beta1` to `networking.k8s.io/v1` keeps the same object and does not prune it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    /// `apiVersion` the object was applied with, e.g. `apps/v1`.
    pub api_version: String,
    /// `kind`, e.g. `Deployment`.
    pub kind: String,
    /// Namespace; `None` for cluster-scoped objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// `metadata.name`.
    pub name: String,
}

/// The identity of an object: (group, kind, namespace, name), version-independent.
pub type ObjectKey = (String, String, String, String);

impl ObjectRef {
    /// The version-independent identity of the object.
    pub fn key(&self) -> ObjectKey {
        (
            crate::order::group_of(&self.api_version).to_string(),
            self.kind.clone(),
            self.namespace.clone().unwrap_or_default(),
            self.name.clone(),
        )
    }

    /// The apply rank of the object's kind (see [`crate::kind_rank`]).
    pub fn rank(&self) -> u32 {
        crate::order::kind_rank(&self.api_version, &self.kind)
    }
}

impl fmt::Display for ObjectRef {
    /// `Kind/namespace/name` (or `Kind/name` when cluster-scoped), as used in every error.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{}/{}", self.kind, ns, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(api_version: &str, kind: &str, ns: Option<&str>, name: &str) -> ObjectRef {
        ObjectRef {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: ns.map(Into::into),
            name: name.into(),
        }
    }

    #[test]
    fn identity_ignores_the_version_but_not_the_group() {
        let old = r("extensions/v1beta1", "Ingress", Some("a"), "web");
        let new = r("networking.k8s.io/v1beta1", "Ingress", Some("a"), "web");
        let newer = r("networking.k8s.io/v1", "Ingress", Some("a"), "web");
        assert_ne!(old.key(), new.key());
        assert_eq!(new.key(), newer.key());
    }

    #[test]
    fn display_names_kind_namespace_and_name() {
        assert_eq!(
            r("v1", "ConfigMap", Some("ns"), "c").to_string(),
            "ConfigMap/ns/c"
        );
        assert_eq!(r("v1", "Namespace", None, "ns").to_string(), "Namespace/ns");
    }
}

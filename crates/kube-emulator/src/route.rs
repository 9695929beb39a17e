//! Parsing resource paths (`/api/v1/namespaces/ns/pods/name/status`) and naming the
//! request's Kubernetes audit verb.

use http::Method;

/// A request aimed at a resource (collection, object or subresource).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// API group (`""` for core).
    pub group: String,
    /// API version.
    pub version: String,
    /// Namespace from the path, when the path is namespaced.
    pub namespace: Option<String>,
    /// Plural resource name.
    pub plural: String,
    /// Object name, for object requests.
    pub name: Option<String>,
    /// Subresource (`status`, `scale`, ...).
    pub subresource: Option<String>,
}

/// Where a request under `/api` or `/apis` goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `/api`, `/apis`, `/api/v1`, `/apis/<group>` or `/apis/<group>/<version>`.
    Discovery {
        /// Group (None for the `/api` or `/apis` roots).
        group: Option<String>,
        /// Version, for group-version documents.
        version: Option<String>,
        /// Whether under the legacy `/api` root.
        legacy: bool,
    },
    /// A resource request.
    Resource(Target),
}

/// Parses a path; `None` when it is neither discovery nor a resource path.
pub fn parse(path: &str) -> Option<Route> {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, rest, legacy) = match segs.as_slice() {
        ["api"] => {
            return Some(Route::Discovery {
                group: None,
                version: None,
                legacy: true,
            });
        }
        ["apis"] => {
            return Some(Route::Discovery {
                group: None,
                version: None,
                legacy: false,
            });
        }
        ["apis", g] => {
            return Some(Route::Discovery {
                group: Some(g.to_string()),
                version: None,
                legacy: false,
            });
        }
        ["api", v, rest @ ..] => ("", *v, rest, true),
        ["apis", g, v, rest @ ..] => (*g, *v, rest, false),
        _ => return None,
    };
    if rest.is_empty() {
        return Some(Route::Discovery {
            group: Some(group.to_string()),
            version: Some(version.to_string()),
            legacy,
        });
    }
    let namespace_sub = legacy && rest.len() == 3 && matches!(rest[2], "status" | "finalize");
    let (namespace, rest) = if rest[0] == "namespaces" && rest.len() >= 3 && !namespace_sub {
        (Some(rest[1].to_string()), &rest[2..])
    } else {
        (None, rest)
    };
    if rest.len() > 3 {
        return None;
    }
    Some(Route::Resource(Target {
        group: group.to_string(),
        version: version.to_string(),
        namespace,
        plural: rest[0].to_string(),
        name: rest.get(1).map(|s| s.to_string()),
        subresource: rest.get(2).map(|s| s.to_string()),
    }))
}

/// The audit verb of a request on `target`.
pub fn verb(method: &Method, target: &Target, watch: bool) -> &'static str {
    let named = target.name.is_some();
    match *method {
        Method::GET if watch => "watch",
        Method::GET if named => "get",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => "unknown",
    }
}

/// The counter name of a target's resource: `plural` or `plural/subresource`.
pub fn resource_name(target: &Target) -> String {
    match &target.subresource {
        Some(sub) => format!("{}/{sub}", target.plural),
        None => target.plural.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(path: &str) -> Target {
        match parse(path) {
            Some(Route::Resource(t)) => t,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn paths_should_parse_into_targets() {
        let t = target("/api/v1/namespaces/default/pods/web/status");
        assert_eq!(
            (
                t.namespace.as_deref(),
                t.plural.as_str(),
                t.name.as_deref(),
                t.subresource.as_deref()
            ),
            (Some("default"), "pods", Some("web"), Some("status"))
        );
        let t = target("/api/v1/namespaces/kube-system");
        assert_eq!(
            (t.namespace, t.plural.as_str(), t.name.as_deref()),
            (None, "namespaces", Some("kube-system"))
        );
        let t = target("/api/v1/namespaces/x/finalize");
        assert_eq!(
            (t.plural.as_str(), t.subresource.as_deref()),
            ("namespaces", Some("finalize"))
        );
        let t = target("/apis/apps/v1/deployments");
        assert_eq!(
            (t.group.as_str(), t.namespace, t.name),
            ("apps", None, None)
        );
        assert_eq!(
            parse("/apis/apps"),
            Some(Route::Discovery {
                group: Some("apps".into()),
                version: None,
                legacy: false
            })
        );
        assert!(parse("/metrics").is_none());
    }

    #[test]
    fn verbs_should_follow_audit_names() {
        let coll = target("/api/v1/namespaces/d/configmaps");
        let obj = target("/api/v1/namespaces/d/configmaps/c");
        assert_eq!(verb(&Method::GET, &coll, true), "watch");
        assert_eq!(verb(&Method::GET, &coll, false), "list");
        assert_eq!(verb(&Method::GET, &obj, false), "get");
        assert_eq!(verb(&Method::DELETE, &coll, false), "deletecollection");
    }
}

//! Discovery (`/api`, `/apis`, group and group-version documents, legacy and aggregated
//! `apidiscovery.k8s.io/v2` formats), `/version`, health endpoints and OpenAPI stubs.

use crate::resources::{Registry, ResourceInfo};
use crate::state::AppState;
use crate::status::{ApiError, json_response};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

/// The Kubernetes version the emulator reports.
pub const KUBERNETES_VERSION: &str = "v1.33.1";

const AGGREGATED_CT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// `GET /version`.
pub async fn version() -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "major": "1", "minor": "33", "gitVersion": KUBERNETES_VERSION,
            "gitCommit": "kube-emulator", "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z",
            "goVersion": "go1.24", "compiler": "gc", "platform": "linux/amd64",
        }),
    )
}

/// `GET /healthz`, `/readyz`, `/livez`.
pub async fn healthy() -> Response {
    (
        StatusCode::OK,
        [(http::header::CONTENT_TYPE, "text/plain")],
        "ok",
    )
        .into_response()
}

/// `GET /openapi/v2`: an empty but valid Swagger document (no schemas: clients fall back
/// to their compiled-in types, and nothing is validated client-side).
pub async fn openapi_v2() -> Response {
    ApiError::no_resource().into_response()
}

/// `GET /openapi/v3`: the root listing one document per served group/version.
pub async fn openapi_v3(State(st): State<AppState>) -> Response {
    let registry = st.store().registry.clone();
    let mut paths = serde_json::Map::new();
    for (group, versions) in registry.groups() {
        for v in versions {
            let gv = if group.is_empty() {
                format!("api/{v}")
            } else {
                format!("apis/{group}/{v}")
            };
            let url = format!("/openapi/v3/{gv}?hash={}", st.store().current_rv());
            paths.insert(gv, json!({"serverRelativeURL": url}));
        }
    }
    json_response(StatusCode::OK, &json!({"paths": paths}))
}

/// `GET /openapi/v3/<api|apis/group>/<version>`: a schema-less OpenAPI 3 document whose
/// PATCH operations declare the `fieldValidation` parameter. kubectl reads exactly that to
/// choose server-side validation (which the emulator accepts and does not enforce) over
/// client-side validation against schemas.
pub async fn openapi_v3_group(State(st): State<AppState>, Path(gv): Path<String>) -> Response {
    let (group, version) = match gv.split('/').collect::<Vec<_>>().as_slice() {
        ["api", v] => (String::new(), v.to_string()),
        ["apis", g, v] => (g.to_string(), v.to_string()),
        _ => return ApiError::no_resource().into_response(),
    };
    let registry = st.store().registry.clone();
    if !registry.has_group_version(&group, &version) {
        return ApiError::no_resource().into_response();
    }
    let mut paths = serde_json::Map::new();
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    for r in registry
        .all()
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        let path = if r.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", r.plural)
        } else {
            format!("{prefix}/{}/{{name}}", r.plural)
        };
        let op = json!({
            "operationId": format!("patch{}", r.kind),
            "x-kubernetes-group-version-kind": {"group": r.group, "version": r.version, "kind": r.kind},
            "x-kubernetes-action": "patch",
            "parameters": [
                {"name": "dryRun", "in": "query", "schema": {"type": "string"}},
                {"name": "fieldManager", "in": "query", "schema": {"type": "string"}},
                {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}},
                {"name": "force", "in": "query", "schema": {"type": "boolean"}},
            ],
            "responses": {"200": {"description": "OK"}},
        });
        paths.insert(path, json!({"patch": op}));
    }
    json_response(
        StatusCode::OK,
        &json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": KUBERNETES_VERSION}, "paths": paths, "components": {"schemas": {}}}),
    )
}

fn wants_aggregated(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| {
            a.split(',').any(|part| {
                part.contains("as=APIGroupDiscoveryList")
                    && part.contains("v=v2")
                    && !part.contains("v=v2beta1")
            })
        })
}

/// Serves a discovery document.
pub fn serve(
    st: &AppState,
    group: Option<&str>,
    version: Option<&str>,
    legacy: bool,
    headers: &HeaderMap,
) -> Response {
    let registry = st.store().registry.clone();
    match (group, version) {
        (None, _) if wants_aggregated(headers) => {
            let body = aggregated(&registry, legacy);
            (
                StatusCode::OK,
                [(http::header::CONTENT_TYPE, AGGREGATED_CT)],
                serde_json::to_vec(&body).unwrap_or_default(),
            )
                .into_response()
        }
        (None, _) if legacy => json_response(
            StatusCode::OK,
            &json!({"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": format!("127.0.0.1:{}", st.port())}]}),
        ),
        (None, _) => {
            let groups: Vec<Value> = registry
                .groups()
                .iter()
                .filter(|(g, _)| !g.is_empty())
                .map(|(g, vs)| api_group(g, vs))
                .collect();
            json_response(
                StatusCode::OK,
                &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
            )
        }
        (Some(g), None) => match registry.groups().iter().find(|(name, _)| name == g) {
            Some((name, vs)) => json_response(StatusCode::OK, &api_group(name, vs)),
            None => ApiError::no_resource().into_response(),
        },
        (Some(g), Some(v)) => {
            if !registry.has_group_version(g, v) {
                return ApiError::no_resource().into_response();
            }
            json_response(StatusCode::OK, &resource_list(&registry, g, v))
        }
    }
}

fn api_group(name: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{name}/{v}"), "version": v}))
        .collect();
    json!({"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": vs.clone(), "preferredVersion": vs.first()})
}

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// The legacy `APIResourceList` of one group/version.
fn resource_list(registry: &Registry, group: &str, version: &str) -> Value {
    let mut resources = Vec::new();
    for r in registry
        .all()
        .iter()
        .filter(|r| r.group == group && r.version == version)
    {
        resources.push(json!({
            "name": r.plural, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
            "verbs": r.verbs(), "shortNames": r.short_names, "categories": r.categories,
        }));
        for sub in r.subresources() {
            let (kind, group, version) = sub_kind(r, sub);
            resources.push(json!({
                "name": format!("{}/{sub}", r.plural), "singularName": "", "namespaced": r.namespaced,
                "kind": kind, "group": group, "version": version, "verbs": ["get", "patch", "update"],
            }));
        }
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version(group, version), "resources": resources})
}

fn sub_kind<'a>(r: &'a ResourceInfo, sub: &str) -> (&'a str, &'a str, &'a str) {
    if sub == "scale" {
        ("Scale", "autoscaling", "v1")
    } else {
        (&r.kind, &r.group, &r.version)
    }
}

/// The aggregated `APIGroupDiscoveryList` for `/api` (core only) or `/apis` (all others).
fn aggregated(registry: &Registry, legacy: bool) -> Value {
    let items: Vec<Value> = registry
        .groups()
        .iter()
        .filter(|(g, _)| g.is_empty() == legacy)
        .map(|(g, versions)| {
            let vs: Vec<Value> = versions
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = registry
                        .all()
                        .iter()
                        .filter(|r| &r.group == g && &r.version == v)
                        .map(aggregated_resource)
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            json!({"metadata": {"name": g, "creationTimestamp": null}, "versions": vs})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items})
}

fn aggregated_resource(r: &ResourceInfo) -> Value {
    let subs: Vec<Value> = r
        .subresources()
        .iter()
        .map(|sub| {
            let (kind, group, version) = sub_kind(r, sub);
            json!({"subresource": sub, "responseKind": {"group": group, "version": version, "kind": kind}, "verbs": ["get", "patch", "update"]})
        })
        .collect();
    json!({
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": r.verbs(),
        "shortNames": r.short_names,
        "categories": r.categories,
        "subresources": subs,
    })
}

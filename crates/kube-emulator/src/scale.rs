//! The `/scale` subresource: an `autoscaling/v1` Scale view of an object's `spec.replicas`
//! (get, update, patch).

use crate::objects::{self, WriteOpts};
use crate::patch::PatchType;
use crate::resources::ResourceInfo;
use crate::state::AppState;
use crate::status::{ApiError, ApiResult, json_response};
use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

/// GET of `/scale`.
pub fn get(st: &AppState, info: &ResourceInfo, ns: &str, name: &str) -> ApiResult<Response> {
    let obj = current(st, info, ns, name)?;
    Ok(json_response(StatusCode::OK, &obj))
}

/// The Scale of the stored object, or 404.
fn current(st: &AppState, info: &ResourceInfo, ns: &str, name: &str) -> ApiResult<Value> {
    let scoped = if info.namespaced { ns } else { "" };
    st.store()
        .get(&info.key(), scoped, name)
        .map(scale_of)
        .ok_or_else(|| ApiError::not_found(&info.group, &info.plural, name))
}

/// The `autoscaling/v1` Scale of an object with `spec.replicas`.
fn scale_of(obj: &Value) -> Value {
    let m = &obj["metadata"];
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
                     "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"]},
        "spec": {"replicas": obj["spec"]["replicas"].as_i64().unwrap_or(1)},
        "status": {"replicas": obj["status"]["replicas"].as_i64().unwrap_or(0)},
    })
}

/// PUT of `/scale`: sets `spec.replicas`.
pub fn update(
    st: &AppState,
    info: &ResourceInfo,
    ns: &str,
    name: &str,
    body: Value,
    o: &WriteOpts,
) -> ApiResult<Response> {
    let replicas = body["spec"]["replicas"].clone();
    let patch = json!({"spec": {"replicas": replicas}, "metadata": {"resourceVersion": body["metadata"]["resourceVersion"]}});
    let main = WriteOpts {
        subresource: String::new(),
        ..o.clone()
    };
    let (obj, _) = objects::patch(
        &mut st.store(),
        info,
        ns,
        name,
        PatchType::Merge,
        patch,
        &main,
    )?;
    Ok(json_response(StatusCode::OK, &scale_of(&obj)))
}

/// PATCH of `/scale`: the patch applies to the Scale object, whose `spec.replicas` is stored.
pub fn patch(
    st: &AppState,
    info: &ResourceInfo,
    ns: &str,
    name: &str,
    ptype: PatchType,
    body: Value,
    o: &WriteOpts,
) -> ApiResult<Response> {
    let current = current(st, info, ns, name)?;
    let scaled = match ptype {
        PatchType::Json => crate::patch::json_patch(&current, &body)?,
        _ => crate::patch::merge_patch(&current, &body)?,
    };
    update(st, info, ns, name, scaled, o)
}

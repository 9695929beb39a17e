//! Requests that go through webhooks: writes seen by admission webhooks, and reads and writes
//! of a CRD-defined resource in a version other than its storage version when the CRD has a
//! conversion webhook. Requests with neither take the plain handlers of [`crate::write`] and
//! [`crate::read`].
//!
//! A write runs as kube-apiserver runs it: the request is applied to the current object as a
//! dry run (in the request's version, converted from storage when needed), mutating webhooks
//! patch the result, validating webhooks see it, and only then is it converted to the storage
//! version and stored, on condition that the object did not change meanwhile. A patch or apply
//! that lost that race is tried again, as kube-apiserver retries it; an update that named a
//! resourceVersion gets the 409.

use crate::admission::{self, Attributes};
use crate::conversion::{self, Webhook};
use crate::meta;
use crate::objects::{self, WriteOpts};
use crate::patch::PatchType;
use crate::read;
use crate::request::Req;
use crate::resources::ResourceInfo;
use crate::state::AppState;
use crate::status::{ApiError, ApiResult, ErrorKind, json_response};
use crate::store::Store;
use crate::table::Shape;
use crate::write;
use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

/// How often a write that lost a race to another writer is tried again.
const ATTEMPTS: usize = 5;

/// Whether a request on `info` must go through this module.
pub(crate) fn needed(st: &AppState, info: &ResourceInfo, write: bool) -> bool {
    if info.review {
        return false;
    }
    let converts =
        conversion::webhook(&st.store(), info).is_some_and(|w| w.storage != info.api_version());
    converts || (write && admission::configured(st, info))
}

/// The conversion webhook `info` reads and writes through, if its version is not stored.
fn converter(st: &AppState, info: &ResourceInfo) -> Option<Webhook> {
    conversion::webhook(&st.store(), info).filter(|w| w.storage != info.api_version())
}

/// GET of one object, converted.
pub(crate) async fn get(
    st: &AppState,
    info: &ResourceInfo,
    ns: &str,
    name: &str,
    shape: Shape,
) -> ApiResult<Response> {
    let obj = read::get_object(st, info, ns, name)?;
    let obj = conversion::present(st, info, vec![obj]).await?.remove(0);
    Ok(json_response(StatusCode::OK, &shape.one(info, obj)))
}

/// LIST, converted in one ConversionReview.
pub(crate) async fn list(
    st: &AppState,
    info: &ResourceInfo,
    ns: Option<&str>,
    params: &crate::params::Params,
    shape: Shape,
) -> ApiResult<Response> {
    let (items, metadata) = read::list_items(st, info, ns, params)?;
    let items = conversion::present(st, info, items).await?;
    Ok(json_response(
        StatusCode::OK,
        &shape.list(info, items, metadata),
    ))
}

/// Adds kube-apiserver's `Warning` headers for webhook warnings.
fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let text = format!("299 - \"{}\"", w.replace('"', "'"));
        if let Ok(value) = http::HeaderValue::from_str(&text) {
            response.headers_mut().append(http::header::WARNING, value);
        }
    }
    response
}

/// A store holding only `old` and its namespace, for a dry run in a version that is not stored.
fn scratch(store: &Store, info: &ResourceInfo, ns: &str, old: Option<Value>) -> Store {
    let mut s = Store::new(1);
    s.registry = store.registry.clone();
    let ns_key = (String::new(), "namespaces".to_string());
    if let Some(n) = store.get(&ns_key, "", ns) {
        s.load(&ns_key, n.clone());
    }
    if let Some(o) = old {
        s.load(&info.key(), o);
    }
    s
}

/// The resource as stored: `info` in the storage version of a converting CRD.
fn storage_info(
    st: &AppState,
    info: &ResourceInfo,
    conv: Option<&Webhook>,
) -> ApiResult<ResourceInfo> {
    let Some(w) = conv else {
        return Ok(info.clone());
    };
    let version = w.storage.rsplit('/').next().unwrap_or_default();
    st.store()
        .registry
        .find(&info.group, version, &info.plural)
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                ErrorKind::InternalError,
                format!(
                    "storage version {} of {} is not served",
                    w.storage, info.plural
                ),
            )
        })
}

/// POST, PUT or PATCH through admission and conversion webhooks.
pub(crate) async fn upsert(
    req: &Req,
    info: &ResourceInfo,
    verb: &str,
    ns: &str,
    name: &str,
) -> ApiResult<Response> {
    let st = &req.st;
    let o = req.write_opts()?;
    let ptype = match verb {
        "patch" => Some(write::patch_type(req)?),
        _ => None,
    };
    let body = req.body_value(ptype == Some(PatchType::Apply))?;
    let precondition = !meta::meta_str(&body, "resourceVersion").is_empty();
    let scoped = if info.namespaced { ns } else { "" };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let conv = converter(st, info);
        let stored_old = match verb {
            "create" => None,
            _ => st.store().get(&info.key(), scoped, name).cloned(),
        };
        let old = match (&conv, &stored_old) {
            (Some(w), Some(o)) => Some(
                conversion::convert(st, w, &info.kind, vec![o.clone()], &info.api_version())
                    .await?
                    .remove(0),
            ),
            _ => stored_old.clone(),
        };
        let dry = WriteOpts {
            dry_run: true,
            ..o.clone()
        };
        let (new, created) = {
            let mut guard = st.store();
            let mut own;
            let store: &mut Store = match &conv {
                Some(_) => {
                    own = scratch(&guard, info, ns, old.clone());
                    drop(guard);
                    &mut own
                }
                None => &mut guard,
            };
            match (verb, ptype) {
                ("create", _) => (objects::create(store, info, ns, body.clone(), &dry)?, true),
                ("update", _) => objects::update(store, info, ns, name, body.clone(), &dry)?,
                (_, Some(t)) => objects::patch(store, info, ns, name, t, body.clone(), &dry)?,
                _ => return Err(ApiError::bad_request("unsupported write")),
            }
        };
        let old = if created {
            None
        } else {
            old.map(|o| info.present(o))
        };
        let mut new = info.present(new);
        let obj_name = meta::meta_str(&new, "name").to_string();
        let options = json!({"apiVersion": "meta.k8s.io/v1",
            "kind": if created { "CreateOptions" } else { "UpdateOptions" },
            "fieldManager": o.manager});
        let attrs = Attributes {
            info,
            operation: if created { "CREATE" } else { "UPDATE" },
            subresource: &o.subresource,
            namespace: scoped,
            name: &obj_name,
            dry_run: o.dry_run,
            options,
        };
        let mut warnings = Vec::new();
        admission::mutate(st, &attrs, old.as_ref(), Some(&mut new), &mut warnings).await?;
        admission::validate(st, &attrs, old.as_ref(), Some(&new), &mut warnings).await?;
        let code = if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        if o.dry_run {
            return Ok(with_warnings(write::respond(code, info, new), &warnings));
        }
        let target = storage_info(st, info, conv.as_ref())?;
        let to_store = match &conv {
            Some(w) => conversion::convert(st, w, &info.kind, vec![new], &w.storage)
                .await?
                .remove(0),
            None => new,
        };
        let committed = objects::commit(
            &mut st.store(),
            &target,
            ns,
            stored_old.as_ref(),
            target.present(to_store),
        );
        match committed {
            Ok(obj) => {
                let obj = conversion::present(st, info, vec![obj]).await?.remove(0);
                return Ok(with_warnings(write::respond(code, info, obj), &warnings));
            }
            Err(e) if e.kind == ErrorKind::Conflict && !precondition && attempt < ATTEMPTS => {
                tracing::debug!(resource = %info.plural, name, attempt, "write lost a race; trying again");
            }
            Err(e) => return Err(e),
        }
    }
}

/// The DELETE admission of one object.
async fn admit_delete(
    req: &Req,
    info: &ResourceInfo,
    ns: &str,
    name: &str,
    dry_run: bool,
) -> ApiResult<Vec<String>> {
    let st = &req.st;
    let obj = read::get_object(st, info, ns, name)?;
    let old = conversion::present(st, info, vec![obj]).await?.remove(0);
    let attrs = Attributes {
        info,
        operation: "DELETE",
        subresource: "",
        namespace: if info.namespaced { ns } else { "" },
        name,
        dry_run,
        options: json!({"apiVersion": "meta.k8s.io/v1", "kind": "DeleteOptions"}),
    };
    let mut warnings = Vec::new();
    admission::mutate(st, &attrs, Some(&old), None, &mut warnings).await?;
    admission::validate(st, &attrs, Some(&old), None, &mut warnings).await?;
    Ok(warnings)
}

/// DELETE of one object after its admission.
pub(crate) async fn delete(
    req: &Req,
    info: &ResourceInfo,
    ns: &str,
    name: &str,
) -> ApiResult<Response> {
    let dry_run = req.delete_opts()?.dry_run;
    let warnings = admit_delete(req, info, ns, name, dry_run).await?;
    Ok(with_warnings(
        write::delete(req, info, ns, name)?,
        &warnings,
    ))
}

/// DELETE of a collection, each object admitted first; the first refusal stops it.
pub(crate) async fn delete_collection(
    req: &Req,
    info: &ResourceInfo,
    ns: Option<&str>,
) -> ApiResult<Response> {
    let dry_run = req.delete_opts()?.dry_run;
    let names = write::collection_names(req, info, ns)?;
    let mut warnings = Vec::new();
    for (ons, oname) in &names {
        match admit_delete(req, info, ons, oname, dry_run).await {
            Ok(w) => warnings.extend(w),
            Err(e) if e.kind == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(with_warnings(
        write::delete_named(req, info, names)?,
        &warnings,
    ))
}

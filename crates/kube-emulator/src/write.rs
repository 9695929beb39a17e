//! Writes: create (and access reviews), update, patch, delete and deletecollection of
//! objects; the `/scale` subresource is [`crate::scale`]'s.

use crate::lifecycle;
use crate::meta;
use crate::objects;
use crate::params;
use crate::patch::PatchType;
use crate::rbac;
use crate::request::Req;
use crate::resources::ResourceInfo;
use crate::status::{ApiError, ApiResult, ErrorKind, json_response};
use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

/// An object in `info`'s version with `code`.
pub fn respond(code: StatusCode, info: &ResourceInfo, obj: Value) -> Response {
    json_response(code, &info.present(obj))
}

/// The answer to a PUT or PATCH: 201 when it created the object, 200 otherwise.
fn respond_written(info: &ResourceInfo, obj: Value, created: bool) -> Response {
    let code = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    respond(code, info, obj)
}

/// POST of a new object (or of an access review, answered and not stored).
pub fn create(req: &Req, info: &ResourceInfo, ns: &str) -> ApiResult<Response> {
    if req.target.name.is_some() {
        return Err(ApiError::new(
            ErrorKind::MethodNotAllowed,
            "POST is not allowed on a named object",
        ));
    }
    let mut body = req.body_value(false)?;
    if info.review {
        let Some(review) = body.as_object_mut() else {
            return Err(ApiError::bad_request(
                "the request body must be a JSON or YAML object",
            ));
        };
        let status = if req.st.config().authorization {
            let requester = req.requester.as_ref().map(|r| r.0.as_ref());
            rbac::review(&req.st.store(), &info.plural, requester, review)
        } else {
            // No authorization happens, so every access is allowed.
            json!({"allowed": true, "reason": "kube-emulator does not authorize requests"})
        };
        review.insert("status".into(), status);
        return Ok(respond(StatusCode::CREATED, info, body));
    }
    let o = req.write_opts()?;
    let obj = objects::create(&mut req.st.store(), info, ns, body, &o)?;
    Ok(respond(StatusCode::CREATED, info, obj))
}

/// PUT of an object.
pub fn update(req: &Req, info: &ResourceInfo, ns: &str, name: &str) -> ApiResult<Response> {
    let body = req.body_value(false)?;
    let o = req.write_opts()?;
    let (obj, created) = objects::update(&mut req.st.store(), info, ns, name, body, &o)?;
    Ok(respond_written(info, obj, created))
}

/// The patch type of a PATCH request's content type.
///
/// # Errors
/// 415 for a content type that is no patch type.
pub fn patch_type(req: &Req) -> ApiResult<PatchType> {
    let ct = req.header("content-type");
    PatchType::from_content_type(ct).ok_or_else(|| {
        ApiError::new(
            ErrorKind::UnsupportedMediaType,
            format!("the body of the request was in an unknown format ({ct}) - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json"),
        )
    })
}

/// PATCH of an object (JSON, merge, strategic merge or server-side apply).
pub fn patch(req: &Req, info: &ResourceInfo, ns: &str, name: &str) -> ApiResult<Response> {
    let ptype = patch_type(req)?;
    let body = req.body_value(ptype == PatchType::Apply)?;
    let o = req.write_opts()?;
    let (obj, created) = objects::patch(&mut req.st.store(), info, ns, name, ptype, body, &o)?;
    Ok(respond_written(info, obj, created))
}

/// DELETE of an object: 200 with the deleted object, or 202 while finalizers hold it.
pub fn delete(req: &Req, info: &ResourceInfo, ns: &str, name: &str) -> ApiResult<Response> {
    if req.target.subresource.is_some() {
        return Err(ApiError::new(
            ErrorKind::MethodNotAllowed,
            "DELETE is not allowed on a subresource",
        ));
    }
    let o = req.delete_opts()?;
    let (obj, pending) = lifecycle::delete(&mut req.st.store(), info, ns, name, &o)?;
    let code = if pending {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok(respond(code, info, obj))
}

/// The (namespace, name) of every object a DELETE of a collection removes.
///
/// # Errors
/// 400 for invalid selectors.
pub fn collection_names(
    req: &Req,
    info: &ResourceInfo,
    ns: Option<&str>,
) -> ApiResult<Vec<(String, String)>> {
    let selectors = params::selectors(&req.params)?;
    let store = req.st.store();
    Ok(store
        .list(&info.key(), ns)
        .filter(|obj| selectors.matches(obj))
        .map(|obj| {
            (
                meta::meta_str(obj, "namespace").to_string(),
                meta::meta_str(obj, "name").to_string(),
            )
        })
        .collect())
}

/// DELETE of a collection: every object matching the selectors, listed in the answer.
pub fn delete_collection(req: &Req, info: &ResourceInfo, ns: Option<&str>) -> ApiResult<Response> {
    let names = collection_names(req, info, ns)?;
    delete_named(req, info, names)
}

/// Deletes the named objects of a collection and lists them in the answer.
///
/// # Errors
/// 400 for bad delete options; the first failure other than NotFound.
pub fn delete_named(
    req: &Req,
    info: &ResourceInfo,
    names: Vec<(String, String)>,
) -> ApiResult<Response> {
    let o = req.delete_opts()?;
    let mut store = req.st.store();
    let mut items = Vec::new();
    for (ons, oname) in names {
        match lifecycle::delete(&mut store, info, &ons, &oname, &o) {
            Ok((obj, _)) => items.push(info.present(obj)),
            Err(e) if e.kind == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let rv = store.current_rv();
    drop(store);
    Ok(json_response(
        StatusCode::OK,
        &json!({"kind": format!("{}List", info.kind), "apiVersion": info.api_version(), "metadata": {"resourceVersion": rv.to_string()}, "items": items}),
    ))
}

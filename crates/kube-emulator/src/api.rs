//! The resource request handler: routing by path, test-control admission, body and query
//! decoding, and dispatch to reads, watches and writes.

use crate::lifecycle::{self, DeleteOpts, Propagation};
use crate::objects::{self, WriteOpts};
use crate::patch::PatchType;
use crate::resources::ResourceInfo;
use crate::route::{self, Route, Target};
use crate::server::AppState;
use crate::status::{ApiError, ApiResult, ErrorKind, json_response};
use crate::table::Shape;
use crate::{discovery, read, watch};
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;

/// Query parameters of one request.
pub type Params = HashMap<String, String>;

/// Largest accepted request body (kube-apiserver's limit is 3 MiB per object; lists are larger).
const BODY_LIMIT: usize = 64 * 1024 * 1024;

/// Handles every path under `/api` and `/apis` (and answers 404 elsewhere).
pub async fn handle(State(st): State<AppState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    match route::parse(parts.uri.path()) {
        None => ApiError::no_resource().into_response(),
        Some(Route::Discovery {
            group,
            version,
            legacy,
        }) => discovery::serve(
            &st,
            group.as_deref(),
            version.as_deref(),
            legacy,
            &parts.headers,
        ),
        Some(Route::Resource(target)) => {
            let params = match Query::<Params>::try_from_uri(&parts.uri) {
                Ok(Query(p)) => p,
                Err(e) => {
                    return ApiError::bad_request(format!("invalid query string: {e}"))
                        .into_response();
                }
            };
            let bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
                Ok(b) => b,
                Err(e) => {
                    return ApiError::bad_request(format!("failed to read the request body: {e}"))
                        .into_response();
                }
            };
            let method = parts.method.clone();
            let req = Req {
                st,
                target,
                method: parts.method,
                headers: parts.headers,
                params,
                body: bytes.to_vec(),
            };
            let response = match resource(req).await {
                Ok(resp) => resp,
                Err(e) => {
                    tracing::debug!(%method, uri = %parts.uri, code = e.kind.code(), message = %e.message, "kube-emulator request failed");
                    return e.into_response();
                }
            };
            tracing::debug!(%method, uri = %parts.uri, code = response.status().as_u16(), "kube-emulator request");
            response
        }
    }
}

/// One decoded resource request.
struct Req {
    st: AppState,
    target: Target,
    method: Method,
    headers: HeaderMap,
    params: Params,
    body: Vec<u8>,
}

impl Req {
    fn param(&self, k: &str) -> Option<&str> {
        self.params
            .get(k)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn header(&self, k: &str) -> &str {
        self.headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn dry_run(&self) -> ApiResult<bool> {
        match self.param("dryRun") {
            None => Ok(false),
            Some("All") => Ok(true),
            Some(other) => Err(ApiError::bad_request(format!(
                "invalid dryRun value {other:?}: only \"All\" is supported"
            ))),
        }
    }

    fn write_opts(&self) -> ApiResult<WriteOpts> {
        let given = self.param("fieldManager").map(str::to_string);
        let manager = given.clone().unwrap_or_else(|| {
            let ua = self.header("user-agent");
            ua.split('/').next().unwrap_or_default().to_string()
        });
        let force = matches!(self.param("force"), Some("true" | "1"));
        Ok(WriteOpts {
            dry_run: self.dry_run()?,
            manager,
            manager_given: given.is_some(),
            force,
            subresource: self.target.subresource.clone().unwrap_or_default(),
        })
    }

    /// Decodes the body as JSON, or YAML when the content type says so.
    fn body_value(&self, yaml: bool) -> ApiResult<Value> {
        let ct = self.header("content-type");
        if ct.contains("protobuf") {
            return crate::protobuf::decode(&self.body);
        }
        if yaml || ct.contains("yaml") {
            serde_yaml::from_slice(&self.body).map_err(|e| {
                ApiError::bad_request(format!("failed to decode the request body as YAML: {e}"))
            })
        } else {
            serde_json::from_slice(&self.body).map_err(|e| {
                ApiError::bad_request(format!("failed to decode the request body as JSON: {e}"))
            })
        }
    }
}

async fn resource(req: Req) -> ApiResult<Response> {
    let t = &req.target;
    let watch = matches!(req.param("watch"), Some("true" | "1"));
    let verb = route::verb(&req.method, t, watch);
    let name = t.name.clone().unwrap_or_default();
    // Counted as a dry-run whatever its value; an invalid one is rejected below, like any.
    let dry_run = req.param("dryRun").is_some();
    let (latency, fault) = req.st.controls().admit(
        verb,
        dry_run,
        &route::resource_name(t),
        (&t.group, &t.plural, &name),
    );
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(err) = fault {
        return Err(err);
    }
    let info = resolve(&req)?;
    if matches!(verb, "update" | "patch") && req.target.name.is_none() {
        return Err(ApiError::new(
            ErrorKind::MethodNotAllowed,
            format!(
                "the server does not allow this method on the requested resource ({} on a collection of {})",
                req.method, info.plural
            ),
        ));
    }
    if info.review && verb != "create" {
        return Err(ApiError::new(
            ErrorKind::MethodNotAllowed,
            format!("{} only supports create", info.plural),
        ));
    }
    let ns = namespace_for(&info, &req, verb)?;
    let response = match verb {
        "get" => read::get(&req.st, &info, &ns, &name, &req.target, accept(&req)),
        "list" => read::list(
            &req.st,
            &info,
            opt_ns(&info, &req),
            &req.params,
            accept(&req),
        ),
        "watch" => watch::serve(
            &req.st,
            &info,
            opt_ns(&info, &req),
            &named_watch_params(&req),
            accept(&req),
        ),
        "create" => create(&req, &info, &ns),
        "update" => update(&req, &info, &ns, &name),
        "patch" => patch(&req, &info, &ns, &name),
        "delete" => delete(&req, &info, &ns, &name),
        "deletecollection" => delete_collection(&req, &info, opt_ns(&info, &req)),
        _ => Err(ApiError::new(
            ErrorKind::MethodNotAllowed,
            format!(
                "the server does not allow the method {} on {}",
                req.method, info.plural
            ),
        )),
    }?;
    if crate::controls::WRITE_VERBS.contains(&verb) {
        req.st.inner.changed.notify_one();
    }
    Ok(response)
}

/// The response shape the client asked for (kubectl get: Table; kube-rs metadata calls:
/// PartialObjectMetadata).
fn accept(req: &Req) -> Shape {
    Shape::from_accept(req.header("accept"))
}

/// A watch on a named object (`.../configmaps/x?watch=true`) watches that name only.
fn named_watch_params(req: &Req) -> Params {
    let mut params = req.params.clone();
    if let Some(name) = &req.target.name {
        let by_name = format!("metadata.name={name}");
        let fields = match params.get("fieldSelector").filter(|f| !f.is_empty()) {
            Some(f) => format!("{f},{by_name}"),
            None => by_name,
        };
        params.insert("fieldSelector".into(), fields);
    }
    params
}

fn resolve(req: &Req) -> ApiResult<ResourceInfo> {
    let t = &req.target;
    let store = req.st.store();
    let info = store
        .registry
        .find(&t.group, &t.version, &t.plural)
        .cloned()
        .ok_or_else(ApiError::no_resource)?;
    if let Some(sub) = &t.subresource {
        let served = match sub.as_str() {
            "status" => info.status,
            "scale" => info.scale,
            _ => false,
        };
        if !served || t.name.is_none() {
            return Err(ApiError::no_resource());
        }
    }
    if !info.namespaced && t.namespace.is_some() {
        return Err(ApiError::no_resource());
    }
    Ok(info)
}

fn namespace_for(info: &ResourceInfo, req: &Req, verb: &str) -> ApiResult<String> {
    let ns = req.target.namespace.clone().unwrap_or_default();
    let needs_ns = info.namespaced && !matches!(verb, "list" | "watch" | "deletecollection");
    if needs_ns && ns.is_empty() {
        return Err(ApiError::no_resource());
    }
    Ok(ns)
}

fn opt_ns<'a>(info: &ResourceInfo, req: &'a Req) -> Option<&'a str> {
    if info.namespaced {
        req.target.namespace.as_deref()
    } else {
        None
    }
}

/// Serialises an object as the client's requested version.
pub fn present(info: &ResourceInfo, mut obj: Value) -> Value {
    if let Some(m) = obj.as_object_mut() {
        m.insert("apiVersion".into(), json!(info.api_version()));
        m.insert("kind".into(), json!(info.kind));
    }
    obj
}

fn respond(code: StatusCode, info: &ResourceInfo, obj: Value) -> Response {
    json_response(code, &present(info, obj))
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

fn create(req: &Req, info: &ResourceInfo, ns: &str) -> ApiResult<Response> {
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
        // No authorization happens, so every access is allowed.
        review.insert(
            "status".into(),
            json!({"allowed": true, "reason": "kube-emulator does not authorize requests"}),
        );
        return Ok(respond(StatusCode::CREATED, info, body));
    }
    let o = req.write_opts()?;
    let obj = objects::create(&mut req.st.store(), info, ns, body, &o)?;
    Ok(respond(StatusCode::CREATED, info, obj))
}

fn update(req: &Req, info: &ResourceInfo, ns: &str, name: &str) -> ApiResult<Response> {
    if req.target.subresource.as_deref() == Some("scale") {
        return crate::read::update_scale(
            &req.st,
            info,
            ns,
            name,
            req.body_value(false)?,
            &req.write_opts()?,
        );
    }
    let body = req.body_value(false)?;
    let o = req.write_opts()?;
    let (obj, created) = objects::update(&mut req.st.store(), info, ns, name, body, &o)?;
    Ok(respond_written(info, obj, created))
}

fn patch(req: &Req, info: &ResourceInfo, ns: &str, name: &str) -> ApiResult<Response> {
    let ct = req.header("content-type");
    let ptype = PatchType::from_content_type(ct).ok_or_else(|| {
        ApiError::new(
            ErrorKind::UnsupportedMediaType,
            format!("the body of the request was in an unknown format ({ct}) - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json"),
        )
    })?;
    let body = req.body_value(ptype == PatchType::Apply)?;
    let o = req.write_opts()?;
    if req.target.subresource.as_deref() == Some("scale") {
        return crate::read::patch_scale(&req.st, info, ns, name, ptype, body, &o);
    }
    let (obj, created) = objects::patch(&mut req.st.store(), info, ns, name, ptype, body, &o)?;
    Ok(respond_written(info, obj, created))
}

fn delete_opts(req: &Req) -> ApiResult<DeleteOpts> {
    let body = if req.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        req.body_value(false)?
    };
    let policy = req
        .param("propagationPolicy")
        .map(str::to_string)
        .or_else(|| body["propagationPolicy"].as_str().map(str::to_string));
    let propagation = match policy {
        Some(p) => Propagation::parse(&p)?,
        None if body["orphanDependents"].as_bool() == Some(true) => Propagation::Orphan,
        None => Propagation::Background,
    };
    let dry_body = body["dryRun"]
        .as_array()
        .is_some_and(|a| a.iter().any(|v| v == "All"));
    Ok(DeleteOpts {
        dry_run: req.dry_run()? || dry_body,
        propagation,
        uid: body["preconditions"]["uid"].as_str().map(str::to_string),
        resource_version: body["preconditions"]["resourceVersion"]
            .as_str()
            .map(str::to_string),
    })
}

fn delete(req: &Req, info: &ResourceInfo, ns: &str, name: &str) -> ApiResult<Response> {
    if req.target.subresource.is_some() {
        return Err(ApiError::new(
            ErrorKind::MethodNotAllowed,
            "DELETE is not allowed on a subresource",
        ));
    }
    let o = delete_opts(req)?;
    let (obj, pending) = lifecycle::delete(&mut req.st.store(), info, ns, name, &o)?;
    Ok(respond(
        if pending {
            StatusCode::ACCEPTED
        } else {
            StatusCode::OK
        },
        info,
        obj,
    ))
}

fn delete_collection(req: &Req, info: &ResourceInfo, ns: Option<&str>) -> ApiResult<Response> {
    let o = delete_opts(req)?;
    let selectors = read::selectors(&req.params)?;
    let mut store = req.st.store();
    let names: Vec<(String, String)> = store
        .list(&info.key(), ns)
        .filter(|obj| selectors.matches(obj))
        .map(|obj| {
            (
                crate::meta::meta_str(obj, "namespace").to_string(),
                crate::meta::meta_str(obj, "name").to_string(),
            )
        })
        .collect();
    let mut items = Vec::new();
    for (ons, oname) in names {
        match lifecycle::delete(&mut store, info, &ons, &oname, &o) {
            Ok((obj, _)) => items.push(present(info, obj)),
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

/// Response body for a streamed watch.
pub fn stream_response(body: Body) -> Response {
    (
        StatusCode::OK,
        [
            (http::header::CONTENT_TYPE, "application/json"),
            (http::header::CACHE_CONTROL, "no-cache, private"),
        ],
        body,
    )
        .into_response()
}

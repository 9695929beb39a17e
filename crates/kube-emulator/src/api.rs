//! The handler of every path under `/api` and `/apis`: routing by path, test-control
//! admission, resolving the resource, and dispatch to the discovery, read, watch, write and
//! scale handlers (which do not know each other).

use crate::controls::WRITE_VERBS;
use crate::params::{self, Params};
use crate::patch::PatchType;
use crate::rbac::Requester;
use crate::request::Req;
use crate::resources::ResourceInfo;
use crate::route::{self, Route};
use crate::state::AppState;
use crate::status::{ApiError, ApiResult, ErrorKind};
use crate::table::Shape;
use crate::{authz, discovery, hooked, read, scale, watch, write};
use axum::extract::{Query, Request, State};
use axum::response::{IntoResponse, Response};

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
            let controls = st.controls();
            let requester = parts.extensions.get::<Requester>().cloned();
            let req = Req {
                st,
                target,
                method: parts.method,
                headers: parts.headers,
                params,
                body: bytes.to_vec(),
                requester,
            };
            let response = match resource(req).await {
                Ok(resp) => resp,
                Err(e) => {
                    if e.kind == ErrorKind::Forbidden {
                        controls.record_denial(&e.message);
                    }
                    tracing::debug!(%method, uri = %parts.uri, code = e.code(), message = %e.message, "kube-emulator request failed");
                    return e.into_response();
                }
            };
            tracing::debug!(%method, uri = %parts.uri, code = response.status().as_u16(), "kube-emulator request");
            response
        }
    }
}

async fn resource(req: Req) -> ApiResult<Response> {
    let t = &req.target;
    let watch = params::flag(&req.params, "watch");
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
    if is_token_request(&req) {
        return authz::issue_token(&req);
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
    let shape = Shape::from_accept(req.header("accept"));
    let on_scale = req.target.subresource.as_deref() == Some("scale");
    let writes = WRITE_VERBS.contains(&verb);
    if !on_scale && verb != "watch" && hooked::needed(&req.st, &info, writes) {
        if verb == "create" && req.target.name.is_some() {
            return Err(ApiError::new(
                ErrorKind::MethodNotAllowed,
                "POST is not allowed on a named object",
            ));
        }
        let response = match verb {
            "get" => hooked::get(&req.st, &info, &ns, &name, shape).await,
            "list" => hooked::list(&req.st, &info, opt_ns(&info, &req), &req.params, shape).await,
            "create" | "update" | "patch" => hooked::upsert(&req, &info, verb, &ns, &name).await,
            "delete" => hooked::delete(&req, &info, &ns, &name).await,
            _ => hooked::delete_collection(&req, &info, opt_ns(&info, &req)).await,
        }?;
        if writes {
            req.st.notify_changed();
        }
        return Ok(response);
    }
    let response = match verb {
        "get" if on_scale => scale::get(&req.st, &info, &ns, &name),
        "get" => read::get(&req.st, &info, &ns, &name, shape),
        "list" => read::list(&req.st, &info, opt_ns(&info, &req), &req.params, shape),
        "watch" => watch::serve(
            &req.st,
            &info,
            opt_ns(&info, &req),
            &named_watch_params(&req),
            shape,
        ),
        "create" => write::create(&req, &info, &ns),
        "update" if on_scale => scale::update(
            &req.st,
            &info,
            &ns,
            &name,
            req.body_value(false)?,
            &req.write_opts()?,
        ),
        "update" => write::update(&req, &info, &ns, &name),
        "patch" if on_scale => {
            let ptype = write::patch_type(&req)?;
            let body = req.body_value(ptype == PatchType::Apply)?;
            scale::patch(&req.st, &info, &ns, &name, ptype, body, &req.write_opts()?)
        }
        "patch" => write::patch(&req, &info, &ns, &name),
        "delete" => write::delete(&req, &info, &ns, &name),
        "deletecollection" => write::delete_collection(&req, &info, opt_ns(&info, &req)),
        _ => Err(ApiError::new(
            ErrorKind::MethodNotAllowed,
            format!(
                "the server does not allow the method {} on {}",
                req.method, info.plural
            ),
        )),
    }?;
    if writes {
        req.st.notify_changed();
    }
    Ok(response)
}

/// `POST .../serviceaccounts/<name>/token` (the TokenRequest API).
fn is_token_request(req: &Req) -> bool {
    let t = &req.target;
    req.method == http::Method::POST
        && t.group.is_empty()
        && t.plural == "serviceaccounts"
        && t.name.is_some()
        && t.subresource.as_deref() == Some("token")
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

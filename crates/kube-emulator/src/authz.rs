//! The authorization mode ([`crate::Config::authorization`]): every request is
//! authenticated by its bearer token and authorized with RBAC before any handler sees it, as
//! kube-apiserver does; off by default, when every request is allowed.
//!
//! - A token from the TokenRequest API ([`issue_token`], what `kubectl create token` calls)
//!   is its ServiceAccount; any other token gets 401 Unauthorized. A request without a token
//!   is `system:unsecured` in `system:masters`, as on kube-apiserver's former insecure port:
//!   the emulator serves plain HTTP, over which kubectl (client-go) never sends a bearer
//!   token, so the administrator's kubectl needs no credentials (kube-rs does send tokens over
//!   HTTP, so an operator run with a ServiceAccount's token is authorized as that account).
//! - The request's attributes (verb, group, resource, subresource, namespace, name, or the
//!   path of a non-resource request) are derived as kube-apiserver's `RequestInfoFactory`
//!   derives them and checked with [`rbac::allows`]; a denial is kube-apiserver's 403 `Status`.
//! - Handlers find the [`Requester`] in the request's extensions, for the checks that need
//!   the object (escalation prevention, a patch that creates).
//!
//! `/_emulator/` (the test controls) is never authenticated.

use crate::meta;
use crate::params::{self, Params};
use crate::rbac::{self, Attributes, Identity, Requester};
use crate::request::Req;
use crate::route::{self, Route};
use crate::state::AppState;
use crate::status::{ApiError, ApiResult, ErrorKind, json_response};
use crate::tokens::BoundAccount;
use axum::extract::{Query, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;

/// The middleware: authenticates and authorizes each request when authorization is on.
pub async fn guard(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    if !st.config().authorization || req.uri().path().starts_with("/_emulator") {
        return next.run(req).await;
    }
    let identity = match authenticate(&st, req.headers()) {
        Ok(identity) => identity,
        Err(e) => return e.into_response(),
    };
    let params = Query::<Params>::try_from_uri(req.uri())
        .map(|Query(p)| p)
        .unwrap_or_default();
    let attrs = attributes(req.method(), req.uri().path(), &params);
    let decision = rbac::allows(&st.store(), &identity, &attrs);
    if let Err(denied) = decision {
        st.controls().record_denial(&denied.message);
        tracing::debug!(message = %denied.message, "kube-emulator request forbidden");
        return denied.into_response();
    }
    req.extensions_mut().insert(Requester(Arc::new(identity)));
    next.run(req).await
}

/// The identity behind the request's `Authorization: Bearer` header.
fn authenticate(st: &AppState, headers: &HeaderMap) -> ApiResult<Identity> {
    let header = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let Some(token) = header.strip_prefix("Bearer ").map(str::trim) else {
        return Ok(Identity::unsecured());
    };
    let unauthorized = || ApiError::new(ErrorKind::Unauthorized, "Unauthorized");
    let account = st.tokens().get(token).ok_or_else(unauthorized)?;
    let store = st.store();
    let live = store.get(
        &(String::new(), "serviceaccounts".into()),
        &account.namespace,
        &account.name,
    );
    // A bound token dies with its ServiceAccount object.
    match live {
        Some(sa) if meta::meta_str(sa, "uid") == account.uid => {
            Ok(Identity::service_account(&account.namespace, &account.name))
        }
        _ => Err(unauthorized()),
    }
}

/// The authorizer attributes of a request, as kube-apiserver's `RequestInfoFactory` derives
/// them: discovery and everything outside `/api` and `/apis` are non-resource requests; a
/// Namespace object is also its own namespace; a list or watch of one name (`fieldSelector`
/// `metadata.name=x`) carries that name.
pub fn attributes(method: &http::Method, path: &str, params: &Params) -> Attributes {
    let target = match route::parse(path) {
        Some(Route::Resource(t)) => t,
        _ => {
            return Attributes {
                verb: method.as_str().to_lowercase(),
                path: path.to_string(),
                ..Attributes::default()
            };
        }
    };
    let verb = route::verb(method, &target, params::flag(params, "watch"));
    let mut name = target.name.clone().unwrap_or_default();
    if matches!(verb, "list" | "watch")
        && let Some(selected) = params::get(params, "fieldSelector")
            .and_then(|f| f.strip_prefix("metadata.name="))
            .filter(|n| !n.contains(','))
    {
        name = selected.to_string();
    }
    let mut namespace = target.namespace.clone().unwrap_or_default();
    if target.group.is_empty() && target.plural == "namespaces" && !name.is_empty() {
        namespace = name.clone();
    }
    Attributes {
        verb: verb.to_string(),
        resource_request: true,
        group: target.group.clone(),
        resource: target.plural.clone(),
        subresource: target.subresource.clone().unwrap_or_default(),
        namespace,
        name,
        path: path.to_string(),
    }
}

/// Lifetime of an issued token when the request asks for none (kube-apiserver's default).
const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;

/// `POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token`: issues a bearer token for
/// the ServiceAccount and answers the TokenRequest with it in `status.token`.
///
/// # Errors
/// 404 when the ServiceAccount does not exist; 400 for a body that does not decode.
pub fn issue_token(req: &Req) -> ApiResult<Response> {
    let t = &req.target;
    let (ns, name) = (
        t.namespace.clone().unwrap_or_default(),
        t.name.clone().unwrap_or_default(),
    );
    let body = if req.body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        req.body_value(false)?
    };
    let uid = {
        let store = req.st.store();
        let sa = store
            .get(&(String::new(), "serviceaccounts".into()), &ns, &name)
            .ok_or_else(|| ApiError::not_found("", "serviceaccounts", &name))?;
        meta::meta_str(sa, "uid").to_string()
    };
    let token = format!("kube-emulator-sa.{}", meta::new_uid());
    req.st.tokens().insert(
        token.clone(),
        BoundAccount {
            namespace: ns.clone(),
            name: name.clone(),
            uid,
        },
    );
    let seconds = body["spec"]["expirationSeconds"]
        .as_i64()
        .unwrap_or(DEFAULT_EXPIRATION_SECONDS);
    let mut spec = body["spec"].clone();
    if !spec.is_object() {
        spec = json!({});
    }
    spec["expirationSeconds"] = json!(seconds);
    if spec["audiences"].as_array().is_none_or(Vec::is_empty) {
        spec["audiences"] = json!(["https://kubernetes.default.svc.cluster.local"]);
    }
    let answer = json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": ns, "creationTimestamp": Value::Null},
        "spec": spec,
        "status": {
            "token": token,
            "expirationTimestamp": meta::format_rfc3339(meta::now_secs() + seconds),
        },
    });
    Ok(json_response(StatusCode::CREATED, &answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: &str, path: &str, query: &[(&str, &str)]) -> Attributes {
        let params: Params = query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        attributes(&method.parse().unwrap(), path, &params)
    }

    #[test]
    fn attributes_should_follow_kube_apiserver_request_info() {
        let a = attrs("PATCH", "/apis/apps/v1/namespaces/x/deployments/web", &[]);
        assert_eq!(
            (
                a.verb.as_str(),
                a.group.as_str(),
                a.resource.as_str(),
                a.namespace.as_str(),
                a.name.as_str()
            ),
            ("patch", "apps", "deployments", "x", "web")
        );
        let a = attrs("GET", "/api/v1/secrets", &[("watch", "true")]);
        assert_eq!((a.verb.as_str(), a.namespace.as_str()), ("watch", ""));
        let a = attrs(
            "GET",
            "/api/v1/namespaces/x/configmaps",
            &[("fieldSelector", "metadata.name=cm")],
        );
        assert_eq!((a.verb.as_str(), a.name.as_str()), ("list", "cm"));
        let a = attrs("GET", "/api/v1/namespaces/kube-system", &[]);
        assert_eq!(
            (a.resource.as_str(), a.namespace.as_str(), a.name.as_str()),
            ("namespaces", "kube-system", "kube-system")
        );
        let a = attrs("POST", "/api/v1/namespaces/x/serviceaccounts/sa/token", &[]);
        assert_eq!(
            (a.verb.as_str(), a.subresource.as_str()),
            ("create", "token")
        );
        let a = attrs("GET", "/apis/apps/v1", &[]);
        assert!(!a.resource_request);
        assert_eq!((a.verb.as_str(), a.path.as_str()), ("get", "/apis/apps/v1"));
    }
}

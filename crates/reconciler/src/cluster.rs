//! Requests about single objects: list what a module owns, apply, dry-run, delete, wait.
//!
//! Thin wrappers over `kube::Api<DynamicObject>` that speak `serde_json::Value`, so the
//! decisions around them (in `plan`) stay pure.

use crate::objref::ObjectRef;
use crate::prepare::{MANAGER, MODULE_LABEL, Resolved};
use kube::Client;
use kube::Resource;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, Preconditions};
use kube::core::Status;
use serde_json::Value;
use std::time::Duration;

/// The API for one object's resource, in its namespace if it has one.
pub fn api_for(
    client: &Client,
    resolved: &Resolved,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    match namespace {
        Some(ns) if resolved.namespaced => {
            Api::namespaced_with(client.clone(), ns, &resolved.resource)
        }
        _ => Api::all_with(client.clone(), &resolved.resource),
    }
}

/// Whether a client error is a 404.
pub fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 404)
}

/// The server's message if the error is an immutable-field rejection (422 mentioning
/// "immutable" in its message or causes).
pub fn immutable_message(err: &kube::Error) -> Option<String> {
    let kube::Error::Api(status) = err else {
        return None;
    };
    if status.code != 422 {
        return None;
    }
    let causes = status.details.iter().flat_map(|d| d.causes.iter());
    let mentioned = status.message.to_lowercase().contains("immutable")
        || causes
            .clone()
            .any(|c| c.message.to_lowercase().contains("immutable"));
    mentioned.then(|| status.message.clone())
}

/// Every object of a resource (all namespaces) labelled as applied by `module`; empty if the
/// resource is not served (yet), e.g. a CRD of the same apply that is not installed.
///
/// # Errors
/// The client error of the list request (other than 404).
pub async fn list_owned(
    client: &Client,
    resolved: &Resolved,
    module: &str,
) -> Result<Vec<Value>, kube::Error> {
    let api: Api<DynamicObject> = Api::all_with(client.clone(), &resolved.resource);
    let params = ListParams::default().labels(&format!("{MODULE_LABEL}={module}"));
    match api.list(&params).await {
        Ok(list) => Ok(list.items.iter().map(to_value).collect()),
        Err(err) if is_not_found(&err) => Ok(Vec::new()),
        Err(err) => Err(err),
    }
}

/// Converts a `DynamicObject` to JSON (it always serializes).
pub fn to_value(object: &DynamicObject) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}

/// The server's answer to an apply: the object, and whether the request created it.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The object as the server returned it.
    pub object: Value,
    /// The server answered 201 Created: no object of that name existed when the request arrived.
    pub created: bool,
}

/// Server-side apply with field manager `addon-operator`, forcing conflicts (we own what we
/// render, like Flux); `dry_run` asks the server to compute the result without persisting it.
///
/// Sent through [`Client::send`] rather than `Api::patch` because the status code matters: a
/// 201 says the apply created the object, a 200 that it existed (the ownership check relies on
/// it, see `stages`).
///
/// # Errors
/// The client error of the patch request (a non-2xx answer becomes `kube::Error::Api`).
pub async fn apply(
    client: &Client,
    resolved: &Resolved,
    object_ref: &ObjectRef,
    body: &Value,
    dry_run: bool,
) -> Result<Applied, kube::Error> {
    let namespace = object_ref
        .namespace
        .as_deref()
        .filter(|_| resolved.namespaced);
    let url = DynamicObject::url_path(&resolved.resource, namespace);
    let mut params = PatchParams::apply(MANAGER).force();
    if dry_run {
        params = params.dry_run();
    }
    let request = kube::core::Request::new(url)
        .patch(&object_ref.name, &params, &Patch::Apply(body))
        .map_err(kube::Error::BuildRequest)?;
    let response = client.send(request.map(kube::client::Body::from)).await?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect_bytes().await?;
    if status >= 400 {
        return Err(status_error(status, &bytes));
    }
    let object = serde_json::from_slice(&bytes).map_err(kube::Error::SerdeError)?;
    Ok(Applied {
        object,
        created: status == 201,
    })
}

/// The `kube::Error::Api` of a failed request, as kube-client builds it: the `Status` the server
/// sent, or one made from the body when it is not a `Status`.
fn status_error(code: u16, body: &[u8]) -> kube::Error {
    let status = serde_json::from_slice::<Status>(body).unwrap_or_else(|_| {
        let text = String::from_utf8_lossy(body);
        Status::failure(text.trim(), "Failed to parse error data").with_code(code)
    });
    kube::Error::Api(status.boxed())
}

/// Removes the `addon-operator.io/module` label from an object we wrote but must not own, with
/// a resourceVersion precondition so that nothing written since is overwritten.
///
/// # Errors
/// The client error of the patch request (409 if the object changed since `resource_version`).
pub async fn release(
    client: &Client,
    resolved: &Resolved,
    object_ref: &ObjectRef,
    resource_version: &str,
) -> Result<(), kube::Error> {
    let api = api_for(client, resolved, object_ref.namespace.as_deref());
    let patch = serde_json::json!({"metadata": {
        "resourceVersion": resource_version,
        "labels": {MODULE_LABEL: null},
    }});
    let params = PatchParams {
        field_manager: Some(MANAGER.to_string()),
        ..PatchParams::default()
    };
    api.patch(&object_ref.name, &params, &Patch::Merge(&patch))
        .await?;
    Ok(())
}

/// The live object, `None` if absent.
///
/// # Errors
/// The client error of the get request.
pub async fn get(
    client: &Client,
    resolved: &Resolved,
    object_ref: &ObjectRef,
) -> Result<Option<Value>, kube::Error> {
    let api = api_for(client, resolved, object_ref.namespace.as_deref());
    Ok(api.get_opt(&object_ref.name).await?.map(|o| to_value(&o)))
}

/// What a guarded delete found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// Deleted (background propagation).
    Deleted,
    /// Already gone.
    Absent,
    /// Exists but no longer carries `addon-operator.io/module=<module>`: left alone.
    NotOurs,
}

/// Deletes an object only if it still carries the module's label, with a uid precondition so
/// that an object recreated by someone else in between is not deleted either.
///
/// # Errors
/// The client error of the get or delete request (404 counts as [`DeleteOutcome::Absent`]).
pub async fn delete_owned(
    client: &Client,
    resolved: &Resolved,
    object_ref: &ObjectRef,
    module: &str,
) -> Result<DeleteOutcome, kube::Error> {
    let api = api_for(client, resolved, object_ref.namespace.as_deref());
    let Some(live) = api.get_opt(&object_ref.name).await? else {
        return Ok(DeleteOutcome::Absent);
    };
    let ours = live
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(MODULE_LABEL))
        == Some(&module.to_string());
    if !ours {
        return Ok(DeleteOutcome::NotOurs);
    }
    let params = DeleteParams::background().preconditions(Preconditions {
        uid: live.metadata.uid.clone(),
        resource_version: None,
    });
    match api.delete(&object_ref.name, &params).await {
        Ok(_) => Ok(DeleteOutcome::Deleted),
        Err(err) if is_not_found(&err) => Ok(DeleteOutcome::Absent),
        Err(err) => Err(err),
    }
}

/// Whether a CRD is `Established` or a Namespace `Active`; other kinds are ready at once.
pub fn is_ready(object: &Value) -> bool {
    match object.get("kind").and_then(Value::as_str) {
        Some("CustomResourceDefinition") => object["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == "Established" && c["status"] == "True"),
        Some("Namespace") => object["status"]["phase"] == "Active",
        _ => true,
    }
}

/// The condition [`is_ready`] waits for, for messages.
pub fn readiness_condition(kind: &str) -> &'static str {
    if kind == "Namespace" {
        "Active"
    } else {
        "Established"
    }
}

/// Polls an object until `done(live)` holds (`None` = absent), backing off from 20 ms to
/// 500 ms; returns false on timeout.
///
/// # Errors
/// The client error of a get request.
pub async fn poll_until(
    client: &Client,
    resolved: &Resolved,
    object_ref: &ObjectRef,
    timeout: Duration,
    done: impl Fn(Option<&Value>) -> bool,
) -> Result<bool, kube::Error> {
    let api = api_for(client, resolved, object_ref.namespace.as_deref());
    let deadline = tokio::time::Instant::now() + timeout;
    let mut delay = Duration::from_millis(20);
    loop {
        let live = api.get_opt(&object_ref.name).await?.map(|o| to_value(&o));
        if done(live.as_ref()) {
            return Ok(true);
        }
        if tokio::time::Instant::now() + delay > deadline {
            return Ok(false);
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(500));
    }
}

/// The object's `metadata.resourceVersion`.
pub fn resource_version(object: &Value) -> Option<String> {
    object["metadata"]["resourceVersion"]
        .as_str()
        .map(str::to_string)
}

/// The object's `metadata.name` and `metadata.namespace` (empty when cluster-scoped).
pub fn name_and_namespace(object: &Value) -> (String, String) {
    let field = |f: &str| object["metadata"][f].as_str().unwrap_or("").to_string();
    (field("name"), field("namespace"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn api_error(code: u16, message: &str) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            message: message.into(),
            reason: "Invalid".into(),
            ..Default::default()
        }))
    }

    #[test]
    fn immutable_rejections_are_recognised_by_code_and_message() {
        let err = api_error(
            422,
            "Deployment.apps \"d\" is invalid: spec.selector: Invalid value: field is immutable",
        );
        assert!(immutable_message(&err).unwrap().contains("spec.selector"));
        assert!(immutable_message(&api_error(422, "metadata.name: Required value")).is_none());
        assert!(immutable_message(&api_error(409, "field is immutable")).is_none());
    }

    #[test]
    fn a_failed_request_becomes_the_api_error_kube_client_would_build() {
        let status = br#"{"kind":"Status","code":409,"reason":"Conflict","message":"the object has been modified"}"#;
        let kube::Error::Api(parsed) = status_error(409, status) else {
            panic!("not an API error");
        };
        assert_eq!((parsed.code, parsed.reason.as_str()), (409, "Conflict"));
        let kube::Error::Api(plain) = status_error(502, b" bad gateway\n") else {
            panic!("not an API error");
        };
        assert_eq!((plain.code, plain.message.as_str()), (502, "bad gateway"));
    }

    #[test]
    fn readiness_follows_crd_conditions_and_namespace_phase() {
        let crd = |status: &str| {
            json!({"kind": "CustomResourceDefinition",
            "status": {"conditions": [{"type": "Established", "status": status}]}})
        };
        assert!(is_ready(&crd("True")));
        assert!(!is_ready(&crd("False")));
        assert!(is_ready(
            &json!({"kind": "Namespace", "status": {"phase": "Active"}})
        ));
        assert!(!is_ready(
            &json!({"kind": "Namespace", "status": {"phase": "Terminating"}})
        ));
        assert!(is_ready(&json!({"kind": "ConfigMap"})));
    }
}

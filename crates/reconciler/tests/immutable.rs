//! Immutable-field rejections: reported clearly, or delete-and-recreate when the object opts in.
//!
//! The kube emulator does not enforce immutable fields, so these tests put a client in front of
//! it that answers the first real (non-dry-run) PATCH of one object with the exact 422 `Status`
//! kube-apiserver sends for a changed Deployment selector. Everything else (the delete, the wait,
//! the re-apply) goes to the emulator.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Harness, OPERATOR_NS, opts};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use reconciler::{ApplyError, Reconciler};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const PATH: &str = "/apis/apps/v1/namespaces/addon-operator/deployments/d";

fn deployment(app: &str, recreate: bool) -> Value {
    let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
        "spec": {"selector": {"matchLabels": {"app": app}},
          "template": {"metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}});
    if recreate {
        d["metadata"]["annotations"] = json!({"addon-operator.io/recreate-on-immutable": "true"});
    }
    d
}

/// A reconciler whose client rejects the first real PATCH of [`PATH`] as an immutable change.
fn rejecting_reconciler(real: kube::Client) -> (Reconciler, Arc<AtomicUsize>) {
    let rejected = Arc::new(AtomicUsize::new(0));
    let counter = rejected.clone();
    let service = tower::service_fn(move |req: http::Request<kube::client::Body>| {
        let real = real.clone();
        let counter = counter.clone();
        async move {
            let dry_run = req.uri().query().unwrap_or("").contains("dryRun");
            if req.method() == http::Method::PATCH
                && req.uri().path() == PATH
                && !dry_run
                && counter.fetch_add(1, Ordering::SeqCst) == 0
            {
                let status = json!({"kind": "Status", "apiVersion": "v1", "metadata": {},
                    "status": "Failure", "reason": "Invalid", "code": 422,
                    "message": "Deployment.apps \"d\" is invalid: spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"new\"}}: field is immutable",
                    "details": {"name": "d", "group": "apps", "kind": "Deployment",
                      "causes": [{"reason": "FieldValueInvalid", "field": "spec.selector",
                        "message": "Invalid value: field is immutable"}]}});
                let body = kube::client::Body::from(serde_json::to_vec(&status).unwrap());
                let response = http::Response::builder()
                    .status(422)
                    .header("content-type", "application/json")
                    .body(body)
                    .unwrap();
                return Ok::<_, kube::Error>(response);
            }
            real.send(req).await
        }
    });
    let client = kube::Client::new(service, "default");
    (Reconciler::new(client, OPERATOR_NS), rejected)
}

#[tokio::test]
async fn an_immutable_field_rejection_is_reported_with_module_and_object() {
    let h = Harness::start().await;
    h.apply("mod-a", vec![deployment("old", false)]).await;
    let (reconciler, rejected) = rejecting_reconciler(h.client.clone());
    let err = reconciler
        .apply_module("mod-a", vec![deployment("new", false)], &opts())
        .await
        .unwrap_err();
    assert_eq!(rejected.load(Ordering::SeqCst), 1);
    let ApplyError::Immutable {
        module,
        object,
        message,
    } = &err
    else {
        panic!("expected an immutable-field error, got {err}");
    };
    assert_eq!(module, "mod-a");
    assert_eq!(object.to_string(), "Deployment/addon-operator/d");
    assert!(message.contains("spec.selector"), "{message}");
    let text = err.to_string();
    assert!(
        text.contains("immutable") && text.contains("recreate-on-immutable"),
        "{text}"
    );
    // Not recreated: the old object is still there.
    let api: Api<Deployment> = Api::namespaced(h.client.clone(), OPERATOR_NS);
    let live = api.get("d").await.unwrap();
    assert_eq!(
        live.spec.unwrap().selector.match_labels.unwrap()["app"],
        "old"
    );
}

#[tokio::test]
async fn an_object_that_opts_in_is_deleted_and_recreated_on_an_immutable_rejection() {
    let h = Harness::start().await;
    h.apply("mod-a", vec![deployment("old", true)]).await;
    let api: Api<Deployment> = Api::namespaced(h.client.clone(), OPERATOR_NS);
    let old_uid = api.get("d").await.unwrap().metadata.uid;
    let (reconciler, rejected) = rejecting_reconciler(h.client.clone());
    let report = reconciler
        .apply_module("mod-a", vec![deployment("new", true)], &opts())
        .await
        .unwrap();
    assert_eq!(
        rejected.load(Ordering::SeqCst),
        2,
        "one rejected apply, one re-apply"
    );
    assert_eq!(report.recreated.len(), 1);
    let live = api.get("d").await.unwrap();
    assert_ne!(live.metadata.uid, old_uid, "the object was not recreated");
    assert_eq!(
        live.spec.unwrap().selector.match_labels.unwrap()["app"],
        "new"
    );
    let inventory = reconciler.inventory("mod-a").await.unwrap().unwrap();
    assert_eq!(
        inventory.objects[0].resource_version,
        live.metadata.resource_version
    );
}

//! Immutable-field rejections: reported clearly, or delete-and-recreate when the object opts in.
//!
//! The kube emulator rejects a changed Deployment selector with the 422 `Invalid` Status
//! kube-apiserver sends ("field is immutable"), so these tests run against it unchanged.

#![allow(clippy::unwrap_used)]

mod common;

use common::{Harness, OPERATOR_NS, opts};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;
use reconciler::ApplyError;
use serde_json::{Value, json};

fn deployment(app: &str, recreate: bool) -> Value {
    let mut d = common::deployment(app);
    if recreate {
        d["metadata"]["annotations"] = json!({"addon-operator.io/recreate-on-immutable": "true"});
    }
    d
}

#[tokio::test]
async fn an_immutable_field_rejection_is_reported_with_module_and_object() {
    let h = Harness::start().await;
    h.apply("mod-a", vec![deployment("old", false)]).await;
    h.reset();
    let err = h
        .reconciler
        .apply_module("mod-a", vec![deployment("new", false)], &opts())
        .await
        .unwrap_err();
    assert_eq!(h.count("patch", "deployments"), 1, "one rejected apply");
    assert_eq!(h.count("delete", "deployments"), 0);
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
    h.reset();
    let report = h.apply("mod-a", vec![deployment("new", true)]).await;
    assert_eq!(
        h.count("patch", "deployments"),
        2,
        "one rejected apply, one re-apply"
    );
    assert_eq!(h.count("delete", "deployments"), 1);
    assert_eq!(report.recreated.len(), 1);
    let live = api.get("d").await.unwrap();
    assert_ne!(live.metadata.uid, old_uid, "the object was not recreated");
    assert_eq!(
        live.spec.unwrap().selector.match_labels.unwrap()["app"],
        "new"
    );
    let inventory = h.reconciler.inventory("mod-a").await.unwrap().unwrap();
    assert_eq!(
        inventory.objects[0].resource_version,
        live.metadata.resource_version
    );
}

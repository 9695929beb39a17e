//! Server-side apply through kube-rs: creation, field ownership, conflicts, force, and
//! removal of fields a manager stops applying.
#![allow(clippy::unwrap_used)]

mod common;

use common::{client, container_names, start_with_configmaps};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use kube_emulator::Emulator;
use serde_json::{Value, json};

fn cm(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": data})
}

fn managers(obj: &ConfigMap) -> Vec<(String, String)> {
    obj.metadata
        .managed_fields
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            (
                m.manager.unwrap_or_default(),
                m.operation.unwrap_or_default(),
            )
        })
        .collect()
}

#[tokio::test]
async fn apply_should_conflict_with_another_manager_unless_forced() {
    let (emu, cms) = start_with_configmaps().await;
    let a = PatchParams::apply("alpha");
    let created = cms
        .patch(
            "cfg",
            &a,
            &Patch::Apply(cm(json!({"k": "1", "shared": "s"}))),
        )
        .await
        .unwrap();
    assert_eq!(
        managers(&created),
        vec![("alpha".to_string(), "Apply".to_string())]
    );
    let fields = created.metadata.managed_fields.unwrap()[0]
        .fields_v1
        .clone()
        .unwrap()
        .0;
    assert_eq!(fields["f:data"]["f:k"], json!({}));

    let b = PatchParams::apply("beta");
    match cms
        .patch("cfg", &b, &Patch::Apply(cm(json!({"k": "2"}))))
        .await
        .unwrap_err()
    {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (409, "Conflict"));
            assert!(
                s.message.contains("conflict with \"alpha\"") && s.message.contains(".data.k"),
                "{}",
                s.message
            );
        }
        other => panic!("{other:?}"),
    }
    // Same value: shared ownership, no conflict.
    cms.patch("cfg", &b, &Patch::Apply(cm(json!({"shared": "s"}))))
        .await
        .unwrap();

    let forced = cms
        .patch(
            "cfg",
            &b.clone().force(),
            &Patch::Apply(cm(json!({"k": "2", "shared": "s"}))),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.as_ref().unwrap()["k"], "2");

    // alpha no longer owns k; dropping everything removes only what alpha alone owned.
    let after = cms
        .patch("cfg", &a, &Patch::Apply(cm(json!({}))))
        .await
        .unwrap();
    let data = after.data.unwrap();
    assert_eq!(data.get("k").map(String::as_str), Some("2"), "beta owns k");
    assert_eq!(
        data.get("shared").map(String::as_str),
        Some("s"),
        "beta co-owns shared"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn fields_dropped_from_an_apply_should_be_removed() {
    let (emu, cms) = start_with_configmaps().await;
    let a = PatchParams::apply("alpha");
    cms.patch(
        "cfg",
        &a,
        &Patch::Apply(cm(json!({"keep": "1", "drop": "2"}))),
    )
    .await
    .unwrap();
    let rv_before = cms.get("cfg").await.unwrap().metadata.resource_version;
    let same = cms
        .patch(
            "cfg",
            &a,
            &Patch::Apply(cm(json!({"keep": "1", "drop": "2"}))),
        )
        .await
        .unwrap();
    assert_eq!(
        same.metadata.resource_version, rv_before,
        "an identical apply is a no-op"
    );
    let out = cms
        .patch("cfg", &a, &Patch::Apply(cm(json!({"keep": "1"}))))
        .await
        .unwrap();
    assert_eq!(
        out.data.unwrap().keys().cloned().collect::<Vec<_>>(),
        vec!["keep".to_string()]
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn apply_without_field_manager_should_be_a_bad_request() {
    let (emu, cms) = start_with_configmaps().await;
    let pp = PatchParams {
        field_manager: None,
        ..PatchParams::default()
    };
    match cms
        .patch("cfg", &pp, &Patch::Apply(cm(json!({}))))
        .await
        .unwrap_err()
    {
        kube::Error::Api(s) => assert_eq!(s.code, 400),
        other => panic!("{other:?}"),
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn update_managers_should_take_ownership_and_cause_apply_conflicts() {
    let (emu, cms) = start_with_configmaps().await;
    cms.patch(
        "cfg",
        &PatchParams::apply("alpha"),
        &Patch::Apply(cm(json!({"k": "1"}))),
    )
    .await
    .unwrap();
    let editor = PatchParams {
        field_manager: Some("editor".into()),
        ..PatchParams::default()
    };
    let edited = cms
        .patch(
            "cfg",
            &editor,
            &Patch::Merge(json!({"data": {"k": "edited"}})),
        )
        .await
        .unwrap();
    assert!(managers(&edited).contains(&("editor".to_string(), "Update".to_string())));
    let err = cms
        .patch(
            "cfg",
            &PatchParams::apply("alpha"),
            &Patch::Apply(cm(json!({"k": "1"}))),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 409 && s.message.contains("editor")));
    emu.shutdown().await;
}

#[tokio::test]
async fn apply_should_merge_containers_by_name_across_managers() {
    let emu = Emulator::start().await.unwrap();
    let deps: Api<Deployment> = Api::namespaced(client(&emu), "default");
    let dep = |containers: Value| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
               "spec": {"selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}}})
    };
    deps.patch(
        "web",
        &PatchParams::apply("alpha"),
        &Patch::Apply(dep(json!([{"name": "app", "image": "a:1"}]))),
    )
    .await
    .unwrap();
    let side = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                      "spec": {"template": {"spec": {"containers": [{"name": "side", "image": "s:1"}]}}}});
    let both = deps
        .patch("web", &PatchParams::apply("beta"), &Patch::Apply(side))
        .await
        .unwrap();
    let names = container_names(both);
    assert_eq!(names, vec!["app", "side"]);
    let updated = deps
        .patch(
            "web",
            &PatchParams::apply("alpha"),
            &Patch::Apply(dep(json!([{"name": "app", "image": "a:2"}]))),
        )
        .await
        .unwrap();
    assert_eq!(
        updated.metadata.generation,
        Some(3),
        "create, beta's container, alpha's image"
    );
    let c = updated.spec.unwrap().template.spec.unwrap().containers;
    assert_eq!((c.len(), c[0].image.as_deref()), (2, Some("a:2")));
    emu.shutdown().await;
}

#[tokio::test]
async fn apply_with_a_stale_resource_version_should_conflict() {
    let (emu, cms) = start_with_configmaps().await;
    let first = cms
        .patch(
            "cfg",
            &PatchParams::apply("alpha"),
            &Patch::Apply(cm(json!({"k": "1"}))),
        )
        .await
        .unwrap();
    cms.patch(
        "cfg",
        &PatchParams::apply("alpha"),
        &Patch::Apply(cm(json!({"k": "2"}))),
    )
    .await
    .unwrap();
    let mut stale = cm(json!({"k": "3"}));
    stale["metadata"]["resourceVersion"] = json!(first.metadata.resource_version.unwrap());
    let err = cms
        .patch("cfg", &PatchParams::apply("alpha"), &Patch::Apply(stale))
        .await
        .unwrap_err();
    assert!(matches!(err, kube::Error::Api(s) if s.code == 409));
    emu.shutdown().await;
}

#[tokio::test]
async fn status_apply_should_own_only_status_and_survive_main_applies() {
    let emu = Emulator::start().await.unwrap();
    let deps: Api<Deployment> = Api::namespaced(client(&emu), "default");
    let spec = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "a"}]}}}});
    deps.patch(
        "web",
        &PatchParams::apply("owner"),
        &Patch::Apply(spec.clone()),
    )
    .await
    .unwrap();
    let status = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "status": {"replicas": 2}});
    let st = deps
        .patch_status(
            "web",
            &PatchParams::apply("controller"),
            &Patch::Apply(status),
        )
        .await
        .unwrap();
    assert_eq!(st.status.unwrap().replicas, Some(2));
    let entry = st
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .find(|m| m.manager.as_deref() == Some("controller"))
        .unwrap();
    assert_eq!(entry.subresource.as_deref(), Some("status"));
    let again = deps
        .patch("web", &PatchParams::apply("owner"), &Patch::Apply(spec))
        .await
        .unwrap();
    assert_eq!(
        again.status.unwrap().replicas,
        Some(2),
        "a main-resource apply leaves status alone"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn secrets_should_fold_string_data_on_every_write() {
    use k8s_openapi::api::core::v1::Secret;
    let emu = Emulator::start().await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(client(&emu), "default");
    let s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"}, "stringData": {"user": "admin"}});
    let out = secrets
        .patch("creds", &PatchParams::apply("alpha"), &Patch::Apply(s))
        .await
        .unwrap();
    assert_eq!(out.data.unwrap()["user"].0, b"admin".to_vec());
    assert!(out.string_data.is_none());
    assert_eq!(out.type_.as_deref(), Some("Opaque"));
    emu.shutdown().await;
}

#[tokio::test]
async fn custom_resource_lists_should_follow_the_crd_list_type_annotations() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{DynamicObject, PostParams};
    use kube::core::{ApiResource, GroupVersionKind};
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    let mut crd = common::widget_crd();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = json!({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {
            "rules": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"],
                      "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
            "tags": {"type": "array", "items": {"type": "string"}}}}}});
    let crds: Api<CustomResourceDefinition> = Api::all(c.clone());
    crds.create(
        &PostParams::default(),
        &serde_json::from_value(crd).unwrap(),
    )
    .await
    .unwrap();
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    );
    let widgets: Api<DynamicObject> = Api::namespaced_with(c, "default", &ar);
    let w = |spec: Value| json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": spec});
    let a = PatchParams::apply("alpha");
    let b = PatchParams::apply("beta");
    widgets
        .patch(
            "w",
            &a,
            &Patch::Apply(w(json!({"rules": [{"id": 1, "v": "a"}], "tags": ["x"]}))),
        )
        .await
        .unwrap();
    let both = widgets
        .patch(
            "w",
            &b,
            &Patch::Apply(w(json!({"rules": [{"id": 2, "v": "b"}]}))),
        )
        .await
        .unwrap();
    assert_eq!(
        both.data["spec"]["rules"].as_array().unwrap().len(),
        2,
        "map lists merge by key"
    );
    let err = widgets
        .patch("w", &b, &Patch::Apply(w(json!({"tags": ["y"]}))))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(s) if s.code == 409),
        "unannotated lists are atomic and conflict"
    );
    let dropped = widgets
        .patch("w", &a, &Patch::Apply(w(json!({"tags": ["x"]}))))
        .await
        .unwrap();
    assert_eq!(dropped.data["spec"]["rules"], json!([{"id": 2, "v": "b"}]));
    emu.shutdown().await;
}

//! kube-rs against the emulator: typed and dynamic CRUD, patches, CRDs, errors.
#![allow(clippy::unwrap_used)]

mod common;

use common::{
    client, container_names, error_code, server_names, start_with_configmaps, widget_crd,
};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, PostParams, WatchEvent,
    WatchParams,
};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::Discovery;
use kube_emulator::Emulator;
use serde_json::json;
use std::collections::BTreeSet;

#[tokio::test]
async fn typed_configmap_crud_should_round_trip_with_metadata() {
    let (emu, cms) = start_with_configmaps().await;
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "a", "labels": {"app": "x"}}, "data": {"k": "1"}}),
    )
    .unwrap();
    let created = cms.create(&PostParams::default(), &cm).await.unwrap();
    let meta = &created.metadata;
    assert!(meta.uid.is_some() && meta.creation_timestamp.is_some());
    let rv1: u64 = meta.resource_version.clone().unwrap().parse().unwrap();

    let err = cms.create(&PostParams::default(), &cm).await.unwrap_err();
    assert_eq!(error_code(err), (409, "AlreadyExists".into()));

    let mut got = cms.get("a").await.unwrap();
    got.data.as_mut().unwrap().insert("k".into(), "2".into());
    let replaced = cms
        .replace("a", &PostParams::default(), &got)
        .await
        .unwrap();
    let rv2: u64 = replaced
        .metadata
        .resource_version
        .clone()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv1);

    // The stale copy must now conflict.
    let err = cms
        .replace("a", &PostParams::default(), &got)
        .await
        .unwrap_err();
    assert_eq!(error_code(err), (409, "Conflict".into()));

    let listed = cms
        .list(&ListParams::default().labels("app=x"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(
        cms.list(&ListParams::default().labels("app!=x"))
            .await
            .unwrap()
            .items
            .is_empty()
    );

    cms.delete("a", &DeleteParams::default()).await.unwrap();
    assert_eq!(
        error_code(cms.get("a").await.unwrap_err()),
        (404, "NotFound".into())
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn create_in_a_missing_namespace_should_be_not_found_and_generate_name_should_work() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    let missing: Api<ConfigMap> = Api::namespaced(c.clone(), "nope");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "a"}})).unwrap();
    assert_eq!(
        error_code(
            missing
                .create(&PostParams::default(), &cm)
                .await
                .unwrap_err()
        )
        .0,
        404
    );

    let cms: Api<ConfigMap> = Api::namespaced(c, "default");
    let generated: ConfigMap =
        serde_json::from_value(json!({"metadata": {"generateName": "cm-"}})).unwrap();
    let a = cms
        .create(&PostParams::default(), &generated)
        .await
        .unwrap();
    let b = cms
        .create(&PostParams::default(), &generated)
        .await
        .unwrap();
    let (an, bn) = (a.metadata.name.unwrap(), b.metadata.name.unwrap());
    assert!(
        an.starts_with("cm-") && an.len() == 8 && an != bn,
        "{an} {bn}"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn invalid_objects_should_be_rejected_with_every_cause() {
    let (emu, cms) = start_with_configmaps().await;
    let cm: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "Bad_Name", "labels": {"a": "not valid!"}}}),
    )
    .unwrap();
    match cms.create(&PostParams::default(), &cm).await.unwrap_err() {
        kube::Error::Api(s) => {
            assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"));
            assert!(
                s.message.contains("metadata.name") && s.message.contains("metadata.labels.a"),
                "{}",
                s.message
            );
        }
        other => panic!("{other:?}"),
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn deployment_generation_should_follow_spec_changes_and_status_should_need_the_subresource() {
    let emu = Emulator::start().await.unwrap();
    let deps: Api<Deployment> = Api::namespaced(client(&emu), "default");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": "nginx:1"}]}}},
        "status": {"replicas": 7}
    }))
    .unwrap();
    let created = deps.create(&PostParams::default(), &d).await.unwrap();
    assert_eq!(created.metadata.generation, Some(1));
    assert!(created.status.is_none(), "status is dropped on create");

    let pp = PatchParams::default();
    let labelled = deps
        .patch(
            "web",
            &pp,
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}, "status": {"replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(
        labelled.metadata.generation,
        Some(1),
        "metadata changes keep the generation"
    );
    assert!(
        labelled.status.is_none(),
        "main resource writes ignore status"
    );

    let scaled = deps
        .patch("web", &pp, &Patch::Merge(json!({"spec": {"replicas": 3}})))
        .await
        .unwrap();
    assert_eq!(scaled.metadata.generation, Some(2));

    let st = deps
        .patch_status(
            "web",
            &pp,
            &Patch::Merge(json!({"status": {"replicas": 3}, "spec": {"replicas": 9}})),
        )
        .await
        .unwrap();
    assert_eq!(st.status.unwrap().replicas, Some(3));
    assert_eq!(
        st.spec.unwrap().replicas,
        Some(3),
        "status writes ignore spec"
    );

    let strategic = json!({"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "busybox"}]}}}});
    let merged = deps
        .patch("web", &pp, &Patch::Strategic(strategic))
        .await
        .unwrap();
    let names = container_names(merged);
    assert_eq!(names, vec!["app", "side"]);

    let jp: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/spec/replicas", "value": 5}]))
            .unwrap();
    let patched = deps
        .patch("web", &pp, &Patch::<()>::Json(jp))
        .await
        .unwrap();
    assert_eq!(patched.spec.unwrap().replicas, Some(5));
    emu.shutdown().await;
}

#[tokio::test]
async fn dry_run_should_validate_and_return_without_storing() {
    let (emu, cms) = start_with_configmaps().await;
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "d"}, "data": {"k": "1"}})).unwrap();
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let out = cms.create(&dry, &cm).await.unwrap();
    assert_eq!(out.metadata.name.as_deref(), Some("d"));
    assert_eq!(error_code(cms.get("d").await.unwrap_err()).0, 404);
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let pp = PatchParams {
        dry_run: true,
        ..Default::default()
    };
    let p = cms
        .patch("d", &pp, &Patch::Merge(json!({"data": {"k": "2"}})))
        .await
        .unwrap();
    assert_eq!(p.data.unwrap()["k"], "2");
    assert_eq!(cms.get("d").await.unwrap().data.unwrap()["k"], "1");
    let dp = DeleteParams {
        dry_run: true,
        ..Default::default()
    };
    cms.delete("d", &dp).await.unwrap();
    assert!(cms.get("d").await.is_ok());
    let mut stored = cms.get("d").await.unwrap();
    stored.data = Some([("k".to_string(), "4".to_string())].into());
    let replaced = cms.replace("d", &dry, &stored).await.unwrap();
    assert_eq!(replaced.data.unwrap()["k"], "4");
    assert_eq!(cms.get("d").await.unwrap().data.unwrap()["k"], "1");
    // Invalid input is still rejected on a dry-run.
    let mut invalid = stored.clone();
    invalid.metadata.labels = Some([("bad key!".to_string(), "v".to_string())].into());
    let err = cms.replace("d", &dry, &invalid).await.unwrap_err();
    assert_eq!(error_code(err).0, 422);
    // Dry-runs are counted apart from writes.
    assert_eq!(emu.controls().count("patch?dryRun", "configmaps"), 1);
    assert_eq!(emu.controls().count("patch", "configmaps"), 0);
    // No dry-run produced a watch event: the first event after the object's creation is the
    // real patch below.
    let rv = stored.metadata.resource_version.clone().unwrap();
    let mut events = cms
        .watch(&WatchParams::default().disable_bookmarks(), &rv)
        .await
        .unwrap()
        .boxed();
    cms.patch(
        "d",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "3"}})),
    )
    .await
    .unwrap();
    let first = common::within("the patch's watch event", events.next())
        .await
        .unwrap()
        .unwrap();
    let WatchEvent::Modified(cm) = first else {
        panic!("expected the real patch first, got {first:?}");
    };
    assert_eq!(cm.data.unwrap()["k"], "3");
    emu.shutdown().await;
}

#[tokio::test]
async fn crd_should_serve_its_resource_for_every_version_until_deleted() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    let crds: Api<CustomResourceDefinition> = Api::all(c.clone());
    let crd: CustomResourceDefinition = serde_json::from_value(widget_crd()).unwrap();
    let created = crds.create(&PostParams::default(), &crd).await.unwrap();
    let conds = created.status.unwrap().conditions.unwrap();
    assert!(
        conds
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );

    let discovery = Discovery::new(c.clone()).run().await.unwrap();
    let (ar, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget"))
        .unwrap();
    assert_eq!(ar.plural, "widgets");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);

    let v1: Api<DynamicObject> = Api::namespaced_with(c.clone(), "default", &ar);
    let w: DynamicObject = serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 3}})).unwrap();
    v1.create(&PostParams::default(), &w).await.unwrap();
    let v2_ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v2", "Widget"),
        "widgets",
    );
    let v2: Api<DynamicObject> = Api::namespaced_with(c.clone(), "default", &v2_ar);
    let via_v2 = v2.get("w1").await.unwrap();
    assert_eq!(via_v2.types.unwrap().api_version, "example.com/v2");
    assert_eq!(via_v2.data["spec"]["size"], 3);

    let err = v1
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Strategic(json!({"spec": {"size": 4}})),
        )
        .await
        .unwrap_err();
    assert_eq!(
        error_code(err).0,
        415,
        "strategic merge patch is not supported on custom resources"
    );

    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .unwrap();
    assert_eq!(error_code(v1.get("w1").await.unwrap_err()).0, 404);
    let discovery = Discovery::new(c).run().await.unwrap();
    assert!(
        discovery
            .resolve_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget"))
            .is_none()
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn aggregated_discovery_should_describe_builtins_and_crds() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    common::create_widget_crd(&c).await;
    let discovery = Discovery::new(c).run_aggregated().await.unwrap();
    let (ar, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
        .unwrap();
    assert_eq!(ar.plural, "deployments");
    assert!(
        caps.subresources
            .iter()
            .any(|(s, _)| s.plural == "deployments/status" || s.plural == "status"),
        "{:?}",
        caps.subresources
    );
    assert!(
        discovery
            .resolve_gvk(&GroupVersionKind::gvk("", "v1", "Namespace"))
            .is_some()
    );
    assert!(
        discovery
            .resolve_gvk(&GroupVersionKind::gvk("example.com", "v2", "Widget"))
            .is_some()
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn namespace_deletion_should_delete_its_objects_and_finalizers_should_hold_deletion() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    let nss: Api<Namespace> = Api::all(c.clone());
    nss.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "tmp"}})).unwrap(),
    )
    .await
    .unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "tmp");
    let held: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}),
    )
    .unwrap();
    cms.create(&PostParams::default(), &held).await.unwrap();
    cms.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "free"}})).unwrap(),
    )
    .await
    .unwrap();

    nss.delete("tmp", &DeleteParams::default()).await.unwrap();
    assert_eq!(error_code(cms.get("free").await.unwrap_err()).0, 404);
    let pending = cms.get("held").await.unwrap();
    assert!(pending.metadata.deletion_timestamp.is_some());
    assert_eq!(
        nss.get("tmp")
            .await
            .unwrap()
            .status
            .unwrap()
            .phase
            .as_deref(),
        Some("Terminating")
    );
    let late: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "late"}})).unwrap();
    assert_eq!(
        error_code(cms.create(&PostParams::default(), &late).await.unwrap_err()),
        (403, "Forbidden".into()),
        "no new content in a terminating namespace"
    );

    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(error_code(cms.get("held").await.unwrap_err()).0, 404);
    assert_eq!(
        error_code(nss.get("tmp").await.unwrap_err()).0,
        404,
        "the empty namespace finishes terminating"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn owner_references_should_cascade_in_background_and_orphan_on_request() {
    let (emu, cms) = start_with_configmaps().await;
    let mk = |name: &str, owner: Option<(&str, &str)>| -> ConfigMap {
        let mut meta = json!({"name": name});
        if let Some((oname, uid)) = owner {
            meta["ownerReferences"] =
                json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": oname, "uid": uid}]);
        }
        serde_json::from_value(json!({"metadata": meta})).unwrap()
    };
    let owner = cms
        .create(&PostParams::default(), &mk("owner", None))
        .await
        .unwrap();
    let uid = owner.metadata.uid.unwrap();
    cms.create(&PostParams::default(), &mk("child", Some(("owner", &uid))))
        .await
        .unwrap();
    let child_uid = cms.get("child").await.unwrap().metadata.uid.unwrap();
    cms.create(
        &PostParams::default(),
        &mk("grandchild", Some(("child", &child_uid))),
    )
    .await
    .unwrap();
    cms.delete("owner", &DeleteParams::background())
        .await
        .unwrap();
    assert_eq!(error_code(cms.get("child").await.unwrap_err()).0, 404);
    assert_eq!(error_code(cms.get("grandchild").await.unwrap_err()).0, 404);

    let owner = cms
        .create(&PostParams::default(), &mk("owner2", None))
        .await
        .unwrap();
    let uid = owner.metadata.uid.unwrap();
    cms.create(&PostParams::default(), &mk("kept", Some(("owner2", &uid))))
        .await
        .unwrap();
    cms.delete("owner2", &DeleteParams::orphan()).await.unwrap();
    let kept = cms.get("kept").await.unwrap();
    assert!(
        kept.metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn pagination_should_walk_every_object_once() {
    let (emu, cms) = start_with_configmaps().await;
    for i in 0..25 {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("cm-{i:02}")}})).unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut lp = ListParams::default().limit(10);
    loop {
        let page = cms.list(&lp).await.unwrap();
        seen.extend(page.items.into_iter().map(|c| c.metadata.name.unwrap()));
        match page.metadata.continue_ {
            Some(tok) if !tok.is_empty() => lp = lp.continue_token(&tok),
            _ => break,
        }
    }
    assert_eq!(seen.len(), 25);
    let by_name = cms
        .list(&ListParams::default().fields("metadata.name=cm-07"))
        .await
        .unwrap();
    assert_eq!(by_name.items.len(), 1);
    emu.shutdown().await;
}

/// Walks `api` page by page; returns the names and each page's `remainingItemCount`.
async fn walk_pages(api: &Api<ConfigMap>, mut lp: ListParams) -> (Vec<String>, Vec<Option<i64>>) {
    let (mut names, mut counts) = (Vec::new(), Vec::new());
    loop {
        let page = api.list(&lp).await.unwrap();
        names.extend(page.items.into_iter().map(|c| {
            format!(
                "{}/{}",
                c.metadata.namespace.unwrap(),
                c.metadata.name.unwrap()
            )
        }));
        counts.push(page.metadata.remaining_item_count);
        match page.metadata.continue_ {
            Some(tok) if !tok.is_empty() => lp = lp.continue_token(&tok),
            _ => return (names, counts),
        }
    }
}

#[tokio::test]
async fn paged_lists_should_stay_in_their_namespace_and_count_the_rest_only_without_a_selector() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    for ns in ["a", "b", "c"] {
        let namespace: Namespace =
            serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
        Api::<Namespace>::all(c.clone())
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap();
        let cms: Api<ConfigMap> = Api::namespaced(c.clone(), ns);
        for i in 0..7 {
            let cm: ConfigMap = serde_json::from_value(json!({"metadata": {
                "name": format!("cm-{i}"), "labels": {"paged": "yes", "half": (i % 2).to_string()}}}))
            .unwrap();
            cms.create(&PostParams::default(), &cm).await.unwrap();
        }
    }
    let b: Api<ConfigMap> = Api::namespaced(c.clone(), "b");
    let b_names =
        |ids: &[usize]| -> Vec<String> { ids.iter().map(|i| format!("b/cm-{i}")).collect() };

    let (names, counts) = walk_pages(&b, ListParams::default().limit(3)).await;
    assert_eq!(names, b_names(&[0, 1, 2, 3, 4, 5, 6]));
    assert_eq!(counts, [Some(4), Some(1), None]);

    let (names, counts) = walk_pages(&b, ListParams::default().labels("half=0").limit(2)).await;
    assert_eq!(names, b_names(&[0, 2, 4, 6]));
    assert_eq!(
        counts,
        [None, None],
        "no count with a selector, as kube-apiserver"
    );

    let all: Api<ConfigMap> = Api::all(c.clone());
    let (names, counts) =
        walk_pages(&all, ListParams::default().labels("paged=yes").limit(5)).await;
    let expected: Vec<String> = ["a", "b", "c"]
        .iter()
        .flat_map(|ns| (0..7).map(move |i| format!("{ns}/cm-{i}")))
        .collect();
    assert_eq!(
        names, expected,
        "every object once, in (namespace, name) order"
    );
    assert_eq!(counts.len(), 5);
    emu.shutdown().await;
}

/// Sends a raw request and returns (HTTP code, Status reason).
async fn raw(
    c: &kube::Client,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, String) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", content_type)
        .body(body.as_bytes().to_vec())
        .unwrap();
    let resp = c.send(req.map(kube::client::Body::from)).await.unwrap();
    let code = resp.status().as_u16();
    let bytes = axum::body::to_bytes(axum::body::Body::new(resp.into_body()), usize::MAX)
        .await
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(status["kind"], "Status", "{status}");
    assert_eq!(status["code"], code);
    (
        code,
        status["reason"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn status_errors_should_carry_code_and_reason() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    let cms = "/api/v1/namespaces/default/configmaps";
    assert_eq!(
        raw(&c, "GET", "/apis/nope.io/v1/things", "application/json", "").await,
        (404, "NotFound".into())
    );
    assert_eq!(
        raw(&c, "POST", cms, "application/json", "{not json").await,
        (400, "BadRequest".into())
    );
    assert_eq!(
        raw(&c, "PUT", cms, "application/json", "{}").await,
        (405, "MethodNotAllowed".into())
    );
    raw_ok(&c, cms, r#"{"metadata":{"name":"a"}}"#).await;
    let patch = format!("{cms}/a");
    assert_eq!(
        raw(&c, "PATCH", &patch, "text/plain", "{}").await,
        (415, "UnsupportedMediaType".into())
    );
    assert_eq!(
        raw(
            &c,
            "POST",
            cms,
            "application/json",
            r#"{"metadata":{"name":"a"}}"#
        )
        .await,
        (409, "AlreadyExists".into())
    );
    assert_eq!(
        raw(
            &c,
            "POST",
            cms,
            "application/json",
            r#"{"metadata":{"name":"A"}}"#
        )
        .await,
        (422, "Invalid".into())
    );
    let stale = r#"{"metadata":{"name":"a","resourceVersion":"1"}}"#;
    assert_eq!(
        raw(&c, "PUT", &patch, "application/json", stale).await,
        (409, "Conflict".into())
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn yaml_bodies_should_read_non_string_keys_as_kubectl_does() {
    let (emu, cms) = start_with_configmaps().await;
    let c = client(&emu);
    let path = "/api/v1/namespaces/default/configmaps";
    let yaml = "metadata:\n  name: numbers\ndata:\n  1: a\n  true: b\n";
    let req = http::Request::post(path)
        .header("content-type", "application/yaml")
        .body(yaml.as_bytes().to_vec())
        .unwrap();
    let created: ConfigMap = c.request(req).await.unwrap();
    let data = created.data.unwrap();
    assert_eq!((data["1"].as_str(), data["true"].as_str()), ("a", "b"));
    let apply = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: numbers\ndata:\n  2: c\n";
    let req = http::Request::patch(format!("{path}/numbers?fieldManager=yaml-test"))
        .header("content-type", "application/apply-patch+yaml")
        .body(apply.as_bytes().to_vec())
        .unwrap();
    let applied: ConfigMap = c.request(req).await.unwrap();
    assert_eq!(applied.data.unwrap()["2"], "c");
    assert_eq!(cms.get("numbers").await.unwrap().data.unwrap()["1"], "a");
    emu.shutdown().await;
}

async fn raw_ok(c: &kube::Client, path: &str, body: &str) {
    let req = http::Request::post(path)
        .header("content-type", "application/json")
        .body(body.as_bytes().to_vec())
        .unwrap();
    let _: ConfigMap = c.request(req).await.unwrap();
}

#[tokio::test]
async fn delete_collection_should_delete_only_matching_objects() {
    let (emu, cms) = start_with_configmaps().await;
    for (name, app) in [("a", "x"), ("b", "x"), ("c", "y")] {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": name, "labels": {"app": app}}}))
                .unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    cms.delete_collection(
        &DeleteParams::default(),
        &ListParams::default().labels("app=x"),
    )
    .await
    .unwrap();
    let left = server_names(&cms, &ListParams::default()).await;
    assert_eq!(left, BTreeSet::from(["c".to_string()]));
    assert_eq!(emu.controls().count("deletecollection", "configmaps"), 1);
    emu.shutdown().await;
}

#[tokio::test]
async fn simulated_workloads_should_report_ready_status_per_generation() {
    let config = kube_emulator::Config {
        simulate_workloads: true,
        ..Default::default()
    };
    let emu = Emulator::start_with(config).await.unwrap();
    let deps: Api<Deployment> = Api::namespaced(client(&emu), "default");
    let d: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": "nginx"}]}}}
    }))
    .unwrap();
    deps.create(&PostParams::default(), &d).await.unwrap();
    let status = deps.get("web").await.unwrap().status.unwrap();
    assert_eq!(
        (status.ready_replicas, status.observed_generation),
        (Some(2), Some(1))
    );
    deps.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 4}})),
    )
    .await
    .unwrap();
    let status = deps.get("web").await.unwrap().status.unwrap();
    assert_eq!(
        (status.available_replicas, status.observed_generation),
        (Some(4), Some(2))
    );

    let plain = Emulator::start().await.unwrap();
    let deps: Api<Deployment> = Api::namespaced(client(&plain), "default");
    deps.create(&PostParams::default(), &d).await.unwrap();
    assert!(
        deps.get("web").await.unwrap().status.is_none(),
        "off by default"
    );
    emu.shutdown().await;
    plain.shutdown().await;
}

#[tokio::test]
async fn strategic_merge_should_merge_ports_env_volumes_and_mounts_by_key() {
    let emu = Emulator::start().await.unwrap();
    let deps: Api<Deployment> = Api::namespaced(client(&emu), "default");
    let d = json!({"metadata": {"name": "web"}, "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
            "volumes": [{"name": "data", "emptyDir": {}}],
            "containers": [{"name": "app", "image": "nginx",
                "ports": [{"containerPort": 80}],
                "env": [{"name": "A", "value": "1"}],
                "volumeMounts": [{"name": "data", "mountPath": "/data"}]}]}}}});
    deps.create(&PostParams::default(), &serde_json::from_value(d).unwrap())
        .await
        .unwrap();
    let patch = json!({"spec": {"template": {"spec": {
        "volumes": [{"name": "cache", "emptyDir": {}}],
        "containers": [{"name": "app",
            "ports": [{"containerPort": 443}],
            "env": [{"name": "A", "value": "2"}, {"name": "B", "value": "3"}],
            "volumeMounts": [{"name": "cache", "mountPath": "/cache"}]}]}}}});
    let merged = deps
        .patch("web", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .unwrap();
    let pod = serde_json::to_value(merged.spec.unwrap().template.spec.unwrap()).unwrap();
    let keys = |list: &serde_json::Value, key: &str| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|i| i[key].to_string().trim_matches('"').to_string())
            .collect()
    };
    let app = &pod["containers"][0];
    // Merged by key, new items appended after the existing ones (as kube-apiserver does).
    assert_eq!(keys(&pod["volumes"], "name"), ["data", "cache"]);
    assert_eq!(keys(&app["ports"], "containerPort"), ["80", "443"]);
    assert_eq!(keys(&app["env"], "value"), ["2", "3"]);
    assert_eq!(keys(&app["env"], "name"), ["A", "B"]);
    assert_eq!(keys(&app["volumeMounts"], "mountPath"), ["/data", "/cache"]);
    assert_eq!(app["image"], "nginx", "fields outside the patch are kept");
    emu.shutdown().await;
}

//! Protobuf request bodies as client-go sends them: the `k8s\0` magic and a `runtime.Unknown`
//! envelope around a message encoded with prost from k8s-pb's types (built from the same
//! generated.proto files as client-go's), for every built-in kind and for `DeleteOptions`.
#![allow(clippy::unwrap_used)]

mod common;

use common::client;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apiextensions_apiserver::pkg::apis::apiextensions::v1 as ext;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{RawExtension, TypeMeta, Unknown};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use kube::Api;
use kube::api::ListParams;
use kube::discovery::Discovery;
use kube_emulator::Emulator;
use prost::Message;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// What client-go puts on the wire: `k8s\0` + `runtime.Unknown{typeMeta, raw}`.
fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    [b"k8s\0".to_vec(), unknown.encode_to_vec()].concat()
}

/// Sends a protobuf body with client-go's headers; returns the status code and the JSON
/// answer (client-go accepts JSON answers to protobuf requests).
async fn send(c: &kube::Client, method: &str, path: &str, body: Vec<u8>) -> (u16, Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", PROTOBUF)
        .header("accept", format!("{PROTOBUF}, application/json"))
        .body(body)
        .unwrap();
    let resp = c.send(req.map(kube::client::Body::from)).await.unwrap();
    let code = resp.status().as_u16();
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert_eq!(content_type, "application/json", "answers stay JSON");
    let bytes = axum::body::to_bytes(axum::body::Body::new(resp.into_body()), usize::MAX)
        .await
        .unwrap();
    (code, serde_json::from_slice(&bytes).unwrap())
}

/// POSTs `raw` (a `kind` message) to the collection at `path`; asserts 201 Created.
async fn create(
    c: &kube::Client,
    path: &str,
    api_version: &str,
    kind: &str,
    raw: Vec<u8>,
) -> Value {
    let (code, body) = send(c, "POST", path, envelope(api_version, kind, raw)).await;
    assert_eq!(code, 201, "{api_version} {kind}: {body}");
    body
}

async fn get_json(c: &kube::Client, path: &str) -> Value {
    let req = http::Request::get(path).body(Vec::new()).unwrap();
    serde_json::from_str(&c.request_text(req).await.unwrap()).unwrap()
}

fn object_meta(name: &str) -> meta::ObjectMeta {
    meta::ObjectMeta {
        name: Some(name.into()),
        ..Default::default()
    }
}

fn quantity(q: &str) -> Quantity {
    Quantity {
        string: Some(q.into()),
    }
}

#[tokio::test]
async fn every_builtin_kind_should_be_created_from_a_protobuf_body() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    let discovery = Discovery::new(c.clone()).run().await.unwrap();
    let mut created = Vec::new();
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            // A CRD needs a valid spec: a_protobuf_crd_should_keep_its_schema... sends one.
            if ar.plural.contains('/') || ar.plural == "customresourcedefinitions" {
                continue;
            }
            let name = format!("pb-{}", ar.kind.to_lowercase());
            // Every Kubernetes object message has its ObjectMeta at field 1.
            let raw = meta_only(&name);
            let namespaced = caps.scope == kube::discovery::Scope::Namespaced;
            let collection = collection_path(&ar, namespaced);
            let body = create(&c, &collection, &ar.api_version, &ar.kind, raw).await;
            if ar.plural.ends_with("accessreviews") {
                assert_eq!(body["status"]["allowed"], true, "{body}");
            } else {
                let stored = get_json(&c, &format!("{collection}/{name}")).await;
                assert_eq!(stored["metadata"]["name"], name.as_str());
                assert_eq!(stored["kind"], ar.kind.as_str());
            }
            created.push(ar.kind.clone());
        }
    }
    for kind in ["Namespace", "Deployment", "Lease", "SubjectAccessReview"] {
        assert!(
            created.iter().any(|k| k == kind),
            "{kind} not among {created:?}"
        );
    }
    assert!(
        created.len() >= 38,
        "only {} kinds: {created:?}",
        created.len()
    );
    emu.shutdown().await;
}

fn meta_only(name: &str) -> Vec<u8> {
    let mut meta = Vec::new();
    object_meta(name)
        .encode_length_delimited(&mut meta)
        .unwrap();
    [vec![0x0a], meta].concat()
}

fn collection_path(ar: &kube::discovery::ApiResource, namespaced: bool) -> String {
    let root = if ar.group.is_empty() {
        format!("/api/{}", ar.version)
    } else {
        format!("/apis/{}/{}", ar.group, ar.version)
    };
    if namespaced {
        format!("{root}/namespaces/default/{}", ar.plural)
    } else {
        format!("{root}/{}", ar.plural)
    }
}

fn deployment() -> apps::Deployment {
    let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
    let container = core::Container {
        name: Some("app".into()),
        image: Some("nginx:1.27".into()),
        // Go writes non-pointer fields even when empty or zero.
        termination_message_path: Some(String::new()),
        stdin: Some(false),
        ports: vec![core::ContainerPort {
            container_port: Some(80),
            host_port: Some(0),
            ..Default::default()
        }],
        resources: Some(core::ResourceRequirements {
            limits: BTreeMap::from([("cpu".to_string(), quantity("500m"))]),
            requests: BTreeMap::from([("memory".to_string(), quantity("64Mi"))]),
            ..Default::default()
        }),
        readiness_probe: Some(core::Probe {
            handler: Some(core::ProbeHandler {
                http_get: Some(core::HttpGetAction {
                    path: Some("/healthz".into()),
                    port: Some(IntOrString {
                        r#type: Some(1),
                        int_val: Some(0),
                        str_val: Some("http".into()),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            period_seconds: Some(5),
            ..Default::default()
        }),
        ..Default::default()
    };
    let volume = core::Volume {
        name: Some("config".into()),
        volume_source: Some(core::VolumeSource {
            config_map: Some(core::ConfigMapVolumeSource {
                local_object_reference: Some(core::LocalObjectReference {
                    name: Some("settings".into()),
                }),
                ..Default::default()
            }),
            ..Default::default()
        }),
    };
    apps::Deployment {
        metadata: Some(meta::ObjectMeta {
            name: Some("web".into()),
            namespace: Some(String::new()),
            generation: Some(0),
            labels: labels.clone(),
            creation_timestamp: Some(meta::Time::default()),
            ..Default::default()
        }),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(0),
            selector: Some(meta::LabelSelector {
                match_labels: labels.clone(),
                ..Default::default()
            }),
            template: Some(core::PodTemplateSpec {
                metadata: Some(meta::ObjectMeta {
                    labels,
                    ..Default::default()
                }),
                spec: Some(core::PodSpec {
                    containers: vec![container],
                    volumes: vec![volume],
                    ..Default::default()
                }),
            }),
            strategy: Some(apps::DeploymentStrategy {
                r#type: Some("RollingUpdate".into()),
                rolling_update: Some(apps::RollingUpdateDeployment {
                    max_surge: Some(IntOrString {
                        r#type: Some(1),
                        int_val: Some(0),
                        str_val: Some("25%".into()),
                    }),
                    max_unavailable: Some(IntOrString {
                        r#type: Some(0),
                        int_val: Some(1),
                        str_val: Some(String::new()),
                    }),
                }),
            }),
            ..Default::default()
        }),
        status: None,
    }
}

#[tokio::test]
async fn a_protobuf_deployment_should_read_back_as_the_json_kubernetes_serves() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    let path = "/apis/apps/v1/namespaces/default/deployments";
    create(
        &c,
        path,
        "apps/v1",
        "Deployment",
        deployment().encode_to_vec(),
    )
    .await;
    let got = get_json(&c, &format!("{path}/web")).await;
    let spec = &got["spec"];
    assert_eq!(spec["replicas"], 0, "a pointer's zero survives: {spec}");
    assert_eq!(
        spec["strategy"]["rollingUpdate"],
        json!({"maxSurge": "25%", "maxUnavailable": 1})
    );
    let pod = &spec["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(
        container["resources"],
        json!({"limits": {"cpu": "500m"}, "requests": {"memory": "64Mi"}})
    );
    assert_eq!(
        container["ports"],
        json!([{"containerPort": 80, "hostPort": 0}])
    );
    assert_eq!(
        container["readinessProbe"],
        json!({"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5}),
        "the embedded ProbeHandler is inlined"
    );
    assert!(
        container.get("terminationMessagePath").is_none(),
        "{container}"
    );
    assert_eq!(
        pod["volumes"],
        json!([{"name": "config", "configMap": {"name": "settings"}}])
    );
    let metadata = &got["metadata"];
    assert_eq!(metadata["namespace"], "default");
    assert_eq!(
        metadata["generation"], 1,
        "the server's generation, not the zero sent"
    );
    assert!(
        metadata["creationTimestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z'),
        "{metadata}"
    );
    emu.shutdown().await;
}

#[tokio::test]
async fn protobuf_bytes_raw_extensions_and_micro_times_should_take_their_json_forms() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    let secret = core::Secret {
        metadata: Some(object_meta("s")),
        data: BTreeMap::from([("k".to_string(), vec![0u8, 1, 255])]),
        r#type: Some("Opaque".into()),
        ..Default::default()
    };
    let path = "/api/v1/namespaces/default/secrets";
    create(&c, path, "v1", "Secret", secret.encode_to_vec()).await;
    let secrets: Api<Secret> = Api::namespaced(c.clone(), "default");
    let got = secrets.get("s").await.unwrap();
    assert_eq!(got.data.unwrap()["k"].0, vec![0u8, 1, 255]);

    let revision = apps::ControllerRevision {
        metadata: Some(object_meta("rev")),
        data: Some(RawExtension {
            raw: Some(br#"{"spec":{"a":[1,2]}}"#.to_vec()),
        }),
        revision: Some(3),
    };
    let path = "/apis/apps/v1/namespaces/default/controllerrevisions";
    let raw = revision.encode_to_vec();
    create(&c, path, "apps/v1", "ControllerRevision", raw).await;
    let got = get_json(&c, &format!("{path}/rev")).await;
    assert_eq!(got["data"], json!({"spec": {"a": [1, 2]}}));
    assert_eq!(got["revision"], 3);

    let event = core::Event {
        metadata: Some(object_meta("ev")),
        involved_object: Some(core::ObjectReference {
            kind: Some("Pod".into()),
            name: Some("p".into()),
            ..Default::default()
        }),
        reason: Some("Started".into()),
        event_time: Some(meta::MicroTime {
            seconds: Some(1_700_000_000),
            nanos: Some(123_456_000),
        }),
        first_timestamp: Some(meta::Time {
            seconds: Some(1_700_000_000),
            nanos: Some(0),
        }),
        ..Default::default()
    };
    let path = "/api/v1/namespaces/default/events";
    create(&c, path, "v1", "Event", event.encode_to_vec()).await;
    let got = get_json(&c, &format!("{path}/ev")).await;
    assert_eq!(got["eventTime"], "2023-11-14T22:13:20.123456Z");
    assert_eq!(got["firstTimestamp"], "2023-11-14T22:13:20Z");
    assert_eq!(got["involvedObject"], json!({"kind": "Pod", "name": "p"}));
    emu.shutdown().await;
}

fn props(kind: &str) -> ext::JsonSchemaProps {
    ext::JsonSchemaProps {
        r#type: Some(kind.into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn a_protobuf_crd_should_keep_its_schema_and_serve_its_resource() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    let spec_schema = ext::JsonSchemaProps {
        r#type: Some("object".into()),
        properties: BTreeMap::from([
            (
                "size".to_string(),
                ext::JsonSchemaProps {
                    default: Some(ext::Json {
                        raw: Some(b"3".to_vec()),
                    }),
                    ..props("integer")
                },
            ),
            (
                "tags".to_string(),
                ext::JsonSchemaProps {
                    items: Some(Box::new(ext::JsonSchemaPropsOrArray {
                        schema: Some(Box::new(props("string"))),
                        j_son_schemas: Vec::new(),
                    })),
                    x_kubernetes_list_type: Some("set".into()),
                    ..props("array")
                },
            ),
            (
                "labels".to_string(),
                ext::JsonSchemaProps {
                    additional_properties: Some(Box::new(ext::JsonSchemaPropsOrBool {
                        allows: Some(true),
                        schema: Some(Box::new(props("string"))),
                    })),
                    ..props("object")
                },
            ),
            (
                "free".to_string(),
                ext::JsonSchemaProps {
                    x_kubernetes_preserve_unknown_fields: Some(true),
                    ..props("object")
                },
            ),
        ]),
        ..Default::default()
    };
    let root = ext::JsonSchemaProps {
        properties: BTreeMap::from([("spec".to_string(), spec_schema)]),
        ..props("object")
    };
    let crd = ext::CustomResourceDefinition {
        metadata: Some(object_meta("gadgets.example.io")),
        spec: Some(ext::CustomResourceDefinitionSpec {
            group: Some("example.io".into()),
            names: Some(ext::CustomResourceDefinitionNames {
                plural: Some("gadgets".into()),
                singular: Some("gadget".into()),
                kind: Some("Gadget".into()),
                ..Default::default()
            }),
            scope: Some("Namespaced".into()),
            versions: vec![ext::CustomResourceDefinitionVersion {
                name: Some("v1".into()),
                served: Some(true),
                storage: Some(true),
                schema: Some(ext::CustomResourceValidation {
                    open_apiv3_schema: Some(root),
                }),
                subresources: Some(ext::CustomResourceSubresources {
                    status: Some(ext::CustomResourceSubresourceStatus {}),
                    scale: None,
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: None,
    };
    let path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
    let (api_version, kind) = ("apiextensions.k8s.io/v1", "CustomResourceDefinition");
    create(&c, path, api_version, kind, crd.encode_to_vec()).await;
    let got = get_json(&c, &format!("{path}/gadgets.example.io")).await;
    let version = &got["spec"]["versions"][0];
    assert_eq!(version["subresources"], json!({"status": {}}));
    let spec = &version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"];
    assert_eq!(spec["size"], json!({"type": "integer", "default": 3}));
    assert_eq!(
        spec["tags"],
        json!({"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"})
    );
    assert_eq!(
        spec["labels"],
        json!({"type": "object", "additionalProperties": {"type": "string"}})
    );
    assert_eq!(
        spec["free"],
        json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
    );
    let gadgets = "/apis/example.io/v1/namespaces/default/gadgets";
    let gadget =
        json!({"apiVersion": "example.io/v1", "kind": "Gadget", "metadata": {"name": "g"}});
    let req = http::Request::post(gadgets)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&gadget).unwrap())
        .unwrap();
    c.request_text(req).await.unwrap();
    assert_eq!(
        get_json(&c, &format!("{gadgets}/g")).await["metadata"]["name"],
        "g"
    );
    emu.shutdown().await;
}

fn delete_options(f: impl FnOnce(&mut meta::DeleteOptions)) -> Vec<u8> {
    let mut o = meta::DeleteOptions::default();
    f(&mut o);
    envelope("v1", "DeleteOptions", o.encode_to_vec())
}

#[tokio::test]
async fn protobuf_delete_options_should_be_honoured() {
    let emu = Emulator::start().await.unwrap();
    let c = client(&emu);
    let secrets = "/api/v1/namespaces/default/secrets";
    let secret = core::Secret {
        metadata: Some(object_meta("s")),
        ..Default::default()
    };
    create(&c, secrets, "v1", "Secret", secret.encode_to_vec()).await;
    let wrong_uid = delete_options(|o| {
        o.preconditions = Some(meta::Preconditions {
            uid: Some("not-its-uid".into()),
            resource_version: None,
        })
    });
    let (code, status) = send(&c, "DELETE", &format!("{secrets}/s"), wrong_uid).await;
    assert_eq!(code, 409, "the uid precondition was read: {status}");
    let dry = delete_options(|o| o.dry_run = vec!["All".into()]);
    assert_eq!(
        send(&c, "DELETE", &format!("{secrets}/s"), dry).await.0,
        200
    );
    let api: Api<Secret> = Api::namespaced(c.clone(), "default");
    assert!(
        api.get_opt("s").await.unwrap().is_some(),
        "a dry-run delete keeps the object"
    );
    let plain = delete_options(|o| o.grace_period_seconds = Some(0));
    assert_eq!(
        send(&c, "DELETE", &format!("{secrets}/s"), plain).await.0,
        200
    );
    assert!(api.get_opt("s").await.unwrap().is_none());

    // Orphan propagation keeps the dependent; the default (Background) would delete it.
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let owner: ConfigMap = cms
        .create(
            &Default::default(),
            &serde_json::from_value(json!({"metadata": {"name": "owner"}})).unwrap(),
        )
        .await
        .unwrap();
    let uid = owner.metadata.uid.unwrap();
    let dependent = json!({"metadata": {"name": "dependent", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": uid}]}});
    cms.create(
        &Default::default(),
        &serde_json::from_value(dependent).unwrap(),
    )
    .await
    .unwrap();
    let orphan = delete_options(|o| o.propagation_policy = Some("Orphan".into()));
    let path = "/api/v1/namespaces/default/configmaps/owner";
    assert_eq!(send(&c, "DELETE", path, orphan).await.0, 200);
    let left: Vec<String> = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|cm| cm.metadata.name)
        .collect();
    assert_eq!(left, vec!["dependent".to_string()]);
    emu.shutdown().await;
}

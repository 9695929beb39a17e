//! Renders the shipped `modules/` and `examples/` with hand-built values (the module's
//! `values.yaml` section plus `global` from the set's `values.yaml`, layered by the values
//! crate but without schema defaults or config) and
//! checks that every object is a valid Kubernetes object: built-in kinds must survive a
//! round trip through k8s-openapi's typed structs unchanged (a misspelled or misplaced field
//! would be dropped and fail the comparison).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use charts::{ChartRenderer, ModuleSet, RenderedObject, discover};
use k8s_openapi::api::{apps, core, networking, rbac};
use pretty_assertions::assert_eq;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use values::{
    ConfigValues, Errors, GlobalSpec, ModuleSpec, Patch, PatchSource, PatchTarget, ValuesFile,
    ValuesStore, merge_into,
};

fn workspace_dir(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn load(rel: &str) -> ModuleSet {
    discover(&[workspace_dir(rel)]).unwrap_or_else(|e| panic!("{e}"))
}

/// The set's common values files, as the values crate takes them.
fn common_files(set: &ModuleSet) -> Vec<ValuesFile> {
    set.common_values
        .iter()
        .map(|f| ValuesFile {
            path: f.path.display().to_string(),
            document: f.document.clone(),
        })
        .collect()
}

/// The set's one common `values.yaml` document (the shipped sets have one modules dir).
fn common_document(set: &ModuleSet) -> &Value {
    &set.common_values[0].document
}

/// A module's static inputs as the operator builds them, with its schemas.
fn module_spec(set: &ModuleSet, key: &str) -> ModuleSpec {
    let m = set.by_key(key).unwrap();
    let own = ValuesFile {
        path: m.path.join("values.yaml").display().to_string(),
        document: m.static_values.clone(),
    };
    ModuleSpec {
        config_schema: m.openapi.config_values.clone(),
        values_schema: m.openapi.values.clone(),
        ..ModuleSpec::from_files(&m.key, &m.name, &common_files(set), Some(&own)).unwrap()
    }
}

/// `{ global, <key>: <static module values> }` with `overrides` merged on top of the
/// module section (objects merge, anything else replaces).
fn values(set: &ModuleSet, key: &str, overrides: Value) -> Value {
    let spec = module_spec(set, key);
    let mut section = json!({});
    let layers = [&spec.common_values, &spec.module_values, &overrides];
    for layer in layers.into_iter().filter(|l| !l.is_null()) {
        merge_into(&mut section, layer);
    }
    let global = GlobalSpec::from_files(&common_files(set)).unwrap();
    json!({ "global": global.static_values, key: section })
}

fn render(set: &ModuleSet, name: &str, overrides: Value) -> Vec<RenderedObject> {
    let module = set.get(name).unwrap();
    let renderer = ChartRenderer::new(module).unwrap_or_else(|e| panic!("{e}"));
    renderer
        .render(
            &values(set, &module.key, overrides),
            "d8-system",
            &set.resource_scopes(),
        )
        .unwrap_or_else(|e| panic!("{e}"))
}

fn round_trips<T: DeserializeOwned + Serialize>(obj: &Value) {
    let typed: T = serde_json::from_value(obj.clone())
        .unwrap_or_else(|e| panic!("{} is not valid: {e}\n{obj:#}", obj["kind"]));
    assert_eq!(&serde_json::to_value(&typed).unwrap(), obj);
}

/// Checks a built-in object against its k8s-openapi type; `false` for kinds it does not know.
fn check_builtin(obj: &Value) -> bool {
    match obj["kind"].as_str().unwrap() {
        "ServiceAccount" => round_trips::<core::v1::ServiceAccount>(obj),
        "ConfigMap" => round_trips::<core::v1::ConfigMap>(obj),
        "Service" => round_trips::<core::v1::Service>(obj),
        "Deployment" => round_trips::<apps::v1::Deployment>(obj),
        "ClusterRole" => round_trips::<rbac::v1::ClusterRole>(obj),
        "ClusterRoleBinding" => round_trips::<rbac::v1::ClusterRoleBinding>(obj),
        "Role" => round_trips::<rbac::v1::Role>(obj),
        "RoleBinding" => round_trips::<rbac::v1::RoleBinding>(obj),
        "IngressClass" => round_trips::<networking::v1::IngressClass>(obj),
        _ => return false,
    }
    true
}

fn kinds(objs: &[RenderedObject]) -> Vec<String> {
    objs.iter()
        .map(|o| {
            format!(
                "{}/{}",
                o.object["kind"].as_str().unwrap(),
                o.object["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn shipped_module_set_enables_every_module_in_order() {
    let set = load("modules");
    let names: Vec<_> = set
        .modules()
        .iter()
        .map(|m| (m.order, m.name.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![
            (10, "ingress-nginx"),
            (20, "echo-server"),
            (30, "prometheus")
        ]
    );
    assert_eq!(common_document(&set)["ingressNginxEnabled"], true);
    assert_eq!(common_document(&set)["echoServerEnabled"], true);
    assert_eq!(common_document(&set)["prometheusEnabled"], true);
    assert!(common_document(&set)["global"]["clusterName"].is_string());
}

#[test]
fn ingress_nginx_renders_a_complete_valid_controller() {
    let set = load("modules");
    let objs = render(&set, "ingress-nginx", json!({}));
    assert_eq!(
        kinds(&objs),
        vec![
            "ClusterRole/ingress-nginx",
            "ClusterRoleBinding/ingress-nginx",
            "ConfigMap/ingress-nginx-controller",
            "Deployment/ingress-nginx-controller",
            "IngressClass/nginx",
            "Role/ingress-nginx",
            "RoleBinding/ingress-nginx",
            "Service/ingress-nginx-controller",
            "ServiceAccount/ingress-nginx",
        ]
    );
    for o in &objs {
        assert!(
            check_builtin(&o.object),
            "unchecked kind {}",
            o.object["kind"]
        );
    }
    let deploy = &objs[3].object;
    assert_eq!(deploy["metadata"]["namespace"], "d8-system");
    assert_eq!(deploy["spec"]["replicas"], 2);
    let pod = &deploy["spec"]["template"]["spec"];
    assert_eq!(
        pod["containers"][0]["image"],
        "registry.k8s.io/ingress-nginx/controller:v1.11.3"
    );
    assert_eq!(pod["containers"][0]["resources"]["requests"]["cpu"], "100m");
    assert_eq!(pod["nodeSelector"], json!({"kubernetes.io/os": "linux"}));
    assert!(pod.get("tolerations").is_none());
    assert_eq!(
        deploy["spec"]["selector"]["matchLabels"],
        json!({"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/instance": "ingress-nginx", "app.kubernetes.io/component": "controller"})
    );
    assert!(
        objs[4].object["metadata"].get("namespace").is_none(),
        "IngressClass is cluster-scoped"
    );
    assert_eq!(objs[7].object["spec"]["type"], "LoadBalancer");
}

#[test]
fn ingress_nginx_values_drive_replicas_image_scheduling_and_service() {
    let set = load("modules");
    let objs = render(
        &set,
        "ingress-nginx",
        json!({
            "replicas": 3,
            "image": {"tag": "v1.12.0"},
            "nodeSelector": {"node-role.kubernetes.io/frontend": ""},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "frontend", "effect": "NoSchedule"}],
            "service": {"type": "ClusterIP"},
            "isDefaultClass": true,
            "ingressClass": "public",
            "config": {"use-forwarded-headers": "true"}
        }),
    );
    objs.iter().for_each(|o| assert!(check_builtin(&o.object)));
    let find = |kind: &str| {
        &objs
            .iter()
            .find(|o| o.object["kind"] == kind)
            .unwrap()
            .object
    };
    let deploy = find("Deployment");
    let pod = &deploy["spec"]["template"]["spec"];
    assert_eq!(deploy["spec"]["replicas"], 3);
    assert_eq!(
        pod["containers"][0]["image"],
        "registry.k8s.io/ingress-nginx/controller:v1.12.0"
    );
    assert_eq!(pod["tolerations"][0]["key"], "dedicated");
    assert_eq!(
        pod["nodeSelector"]["kubernetes.io/os"], "linux",
        "maps merge with the default"
    );
    assert_eq!(pod["containers"][0]["args"][4], "--ingress-class=public");
    let svc = find("Service");
    assert_eq!(svc["spec"]["type"], "ClusterIP");
    assert!(svc["spec"].get("externalTrafficPolicy").is_none());
    let class = find("IngressClass");
    assert_eq!(class["metadata"]["name"], "public");
    assert_eq!(
        class["metadata"]["annotations"]["ingressclass.kubernetes.io/is-default-class"],
        "true"
    );
    assert_eq!(find("ConfigMap")["data"]["use-forwarded-headers"], "true");
}

/// A values store built the way the operator builds it (common and module static values,
/// both schemas), with `config` (a ConfigMap's data: key → YAML) applied.
fn store_with_config(set: &ModuleSet, config: &[(&str, &str)]) -> Result<ValuesStore, Errors> {
    let specs = set
        .modules()
        .iter()
        .map(|m| module_spec(set, &m.key))
        .collect();
    let global = GlobalSpec::from_files(&common_files(set))?;
    let mut store = ValuesStore::new(global, specs)?;
    let data = config
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    store.apply_config(ConfigValues::decode(&data, store.known_keys())?)?;
    Ok(store)
}

#[test]
fn ingress_nginx_scheduling_and_resources_set_in_the_configmap_render_valid_pods() {
    let set = load("modules");
    let config = "nodeSelector: {node-role.kubernetes.io/frontend: \"\"}\n\
        tolerations: [{key: dedicated, operator: Equal, value: frontend, effect: NoSchedule}, {operator: Exists}]\n\
        resources: {requests: {cpu: 250m, memory: 256Mi}, limits: {cpu: 1, memory: 1Gi}}\n";
    let store = store_with_config(&set, &[("ingressNginx", config)]).unwrap();
    store.validate_for_render("ingressNginx").unwrap();
    let module = set.get("ingress-nginx").unwrap();
    let objs = ChartRenderer::new(module)
        .unwrap()
        .render(
            &store.module_values("ingressNginx").unwrap(),
            "d8-system",
            &set.resource_scopes(),
        )
        .unwrap();
    objs.iter().for_each(|o| assert!(check_builtin(&o.object)));
    let deploy = objs
        .iter()
        .find(|o| o.object["kind"] == "Deployment")
        .unwrap();
    let pod = &deploy.object["spec"]["template"]["spec"];
    assert_eq!(
        pod["nodeSelector"],
        json!({"kubernetes.io/os": "linux", "node-role.kubernetes.io/frontend": ""}),
        "maps merge with the schema default"
    );
    assert_eq!(
        pod["tolerations"],
        json!([{"key": "dedicated", "operator": "Equal", "value": "frontend", "effect": "NoSchedule"}, {"operator": "Exists"}])
    );
    assert_eq!(
        pod["containers"][0]["resources"],
        json!({"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}),
        "a number survives as a quantity"
    );
}

#[test]
fn ingress_nginx_rejects_misspelled_scheduling_values_naming_the_path() {
    let set = load("modules");
    let config = "tolerations: [{key: a, efect: NoSchedule}, {operator: Sometimes}]\n\
        nodeSelector: {zone: 1}\nresources: {requests: {cpu: [1]}}\n";
    let errors: Vec<String> = store_with_config(&set, &[("ingressNginx", config)])
        .err()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    for path in [
        "/tolerations/0",
        "/tolerations/1/operator",
        "/nodeSelector/zone",
        "/resources/requests/cpu",
    ] {
        let prefix = format!("ingressNginx: {path}: ");
        assert!(
            errors.iter().any(|e| e.starts_with(&prefix)),
            "{prefix}: {errors:#?}"
        );
    }
}

#[test]
fn ingress_nginx_config_change_changes_the_pod_checksum() {
    let set = load("modules");
    let checksum = |cfg: Value| {
        let objs = render(&set, "ingress-nginx", json!({"config": cfg}));
        let d = objs
            .iter()
            .find(|o| o.object["kind"] == "Deployment")
            .unwrap();
        d.object["spec"]["template"]["metadata"]["annotations"]["checksum/config"].clone()
    };
    assert_ne!(checksum(json!({"a": "1"})), checksum(json!({"a": "2"})));
}

#[test]
fn echo_server_renders_with_replicas_from_values() {
    let set = load("modules");
    let objs = render(&set, "echo-server", json!({"replicas": 4}));
    assert_eq!(
        kinds(&objs),
        vec![
            "ConfigMap/echo-server",
            "Deployment/echo-server",
            "Service/echo-server"
        ]
    );
    objs.iter().for_each(|o| assert!(check_builtin(&o.object)));
    assert_eq!(objs[1].object["spec"]["replicas"], 4);
    assert_eq!(
        objs[0].object["data"]["cluster"],
        common_document(&set)["global"]["clusterName"]
    );
    assert_eq!(objs[0].source, "echo-server/templates/configmap.yaml");
}

/// Defaults a JSON schema declares: `default` of each object, completed by its
/// properties' defaults.
fn schema_defaults(schema: &Value) -> Option<Value> {
    let mut out = schema.get("default").cloned();
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        let mut obj = out.take().unwrap_or(json!({}));
        for (k, sub) in props {
            if let Some(d) = schema_defaults(sub)
                && obj.get(k).is_none()
            {
                obj[k] = d;
            }
        }
        out = Some(obj);
    }
    out
}

#[test]
fn module_values_yaml_matches_config_values_schema_defaults() {
    let examples = std::fs::read_dir(workspace_dir("examples"))
        .unwrap()
        .map(|e| e.unwrap().path().join("modules"))
        .filter(|p| p.is_dir());
    for dir in std::iter::once(workspace_dir("modules")).chain(examples) {
        let set = discover(&[dir]).unwrap_or_else(|e| panic!("{e}"));
        for m in set.modules() {
            let Some(schema) = &m.openapi.config_values else {
                continue;
            };
            assert_eq!(
                schema_defaults(schema),
                m.static_values.get(&m.key).cloned(),
                "{}: values.yaml and openapi/config-values.yaml defaults differ",
                m.name
            );
        }
    }
}

#[test]
fn basic_example_renders_with_partials_and_a_cluster_scoped_custom_kind() {
    let set = load("examples/basic/modules");
    assert_eq!(common_document(&set)["helloEnabled"], true);
    let hello = render(&set, "hello", json!({"extraLabels": {"team": "a"}}));
    assert_eq!(kinds(&hello), vec!["ConfigMap/hello", "Deployment/hello"]);
    hello.iter().for_each(|o| assert!(check_builtin(&o.object)));
    assert_eq!(hello[0].object["data"]["greeting"], "Hello, example");
    assert_eq!(
        hello[1].object["spec"]["template"]["metadata"]["labels"],
        json!({"app.kubernetes.io/name": "hello", "app.kubernetes.io/instance": "hello", "team": "a"})
    );
    let widgets = set.get("widgets").unwrap();
    assert_eq!(widgets.crds.len(), 1);
    let objs = render(&set, "widgets", json!({}));
    assert_eq!(
        objs[0].object,
        json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "example-widget"}, "spec": {"size": "small"}})
    );
}

/// Runs `hook` (in its own directory, as the hook engine does) with `args` and `env`; fails
/// with an install hint when bash or jq is missing.
fn run_hook(hook: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let out = Command::new(hook)
        .args(args)
        .current_dir(hook.parent().unwrap())
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (the example hooks need bash)", hook.display()));
    assert!(
        out.status.success(),
        "{} failed (the example hooks need bash and jq: apt-get install jq): {}",
        hook.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn namespaces_of(objs: &[RenderedObject]) -> Vec<(&str, &str)> {
    objs.iter()
        .map(|o| {
            let meta = &o.object["metadata"];
            (
                o.object["kind"].as_str().unwrap(),
                meta["namespace"].as_str().unwrap(),
            )
        })
        .collect()
}

#[test]
fn crd_and_hooks_example_hook_output_drives_the_render() {
    let set = load("examples/crd-and-hooks/modules");
    let module = set.get("backups").unwrap();
    assert_eq!(module.crds.len(), 1);
    let mut store = store_with_config(&set, &[("backups", "retentionDays: 30\n")]).unwrap();
    let renderer = ChartRenderer::new(module).unwrap();
    let render_store = |store: &ValuesStore| {
        renderer
            .render(
                &store.module_values("backups").unwrap(),
                "d8-system",
                &set.resource_scopes(),
            )
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let objs = render_store(&store);
    assert_eq!(namespaces_of(&objs), vec![("BackupSchedule", "d8-system")]);
    assert_eq!(
        objs[0].object["spec"],
        json!({"schedule": "0 3 * * *", "retentionDays": 30})
    );

    let hook = module.path.join("hooks/discover-namespaces");
    let config: Value = yaml_json::from_slice(&run_hook(&hook, &["--config"], &[]).stdout).unwrap();
    assert_eq!(config["configVersion"], "v1");
    assert_eq!(config["kubernetes"][0]["kind"], "Namespace");

    let tmp = tempfile::tempdir().unwrap();
    let (context, patch_file) = (tmp.path().join("context.json"), tmp.path().join("patch"));
    let snapshot = json!([{"binding": "namespaces", "type": "Group", "snapshots": {"namespaces": [
        {"filterResult": "team-b"}, {"filterResult": "team-a"}]}}]);
    std::fs::write(&context, snapshot.to_string()).unwrap();
    std::fs::write(&patch_file, "").unwrap();
    run_hook(
        &hook,
        &[],
        &[
            ("BINDING_CONTEXT_PATH", &context),
            ("VALUES_JSON_PATCH_PATH", &patch_file),
        ],
    );
    let operations: Vec<Value> = std::fs::read_to_string(&patch_file)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let patch: Patch = serde_json::from_value(Value::Array(operations)).unwrap();
    let source = PatchSource::ModuleHook {
        hook: "backups/hooks/discover-namespaces".into(),
        key: "backups".into(),
    };
    store
        .apply_patch(&source, PatchTarget::Values, &patch)
        .unwrap();
    assert_eq!(
        namespaces_of(&render_store(&store)),
        vec![
            ("BackupSchedule", "d8-system"),
            ("BackupSchedule", "team-a"),
            ("BackupSchedule", "team-b")
        ]
    );
    let internal = "internal: {namespaces: [x]}\n";
    let errors = store_with_config(&set, &[("backups", internal)])
        .err()
        .unwrap();
    assert!(errors.to_string().contains("backups: (root): "), "{errors}");
}

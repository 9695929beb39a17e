//! The values store: layering, atomic config changes, hook patches, enabled flags, checksums.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use values::{
    ConfigValues, EnabledSource, Error, GlobalSpec, ModuleSpec, Patch, PatchSource, PatchTarget,
    ValuesStore,
};

fn echo_server() -> ModuleSpec {
    ModuleSpec {
        key: "echoServer".into(),
        name: "echo-server".into(),
        common_values: json!({"image": {"repo": "common", "tag": "1"}, "ports": [80, 443]}),
        module_values: json!({"image": {"repo": "mine"}, "ports": [8080]}),
        common_enabled: Some(true),
        module_enabled: None,
        config_schema: Some(json!({
            "type": "object",
            "properties": {
                "replicas": {"type": "integer", "minimum": 1, "default": 1},
                "resources": {"type": "object", "default": {}, "properties": {
                    "cpu": {"type": "string", "default": "100m"}
                }}
            }
        })),
        values_schema: Some(json!({
            "x-extend": {"schema": "config-values.yaml"},
            "type": "object",
            "properties": {
                "image": {"type": "object", "properties": {"repo": {"type": "string"}, "tag": {"type": "string"}}},
                "ports": {"type": "array", "items": {"type": "integer"}},
                "internal": {"type": "object", "default": {}, "properties": {
                    "token": {"type": "string", "default": "t"},
                    "seen": {"type": "integer"}
                }}
            }
        })),
    }
}

fn other() -> ModuleSpec {
    ModuleSpec {
        key: "other".into(),
        name: "other".into(),
        module_enabled: Some(true),
        ..Default::default()
    }
}

fn global_spec() -> GlobalSpec {
    GlobalSpec {
        static_values: json!({"clusterName": "static", "modules": {"https": false}}),
        config_schema: Some(json!({
            "type": "object",
            "properties": {
                "clusterName": {"type": "string"},
                "modules": {"type": "object", "properties": {"https": {"type": "boolean"}, "domain": {"type": "string", "default": "example.com"}}}
            }
        })),
        values_schema: Some(json!({
            "x-extend": {"schema": "config-values.yaml"},
            "type": "object",
            "properties": {"discovery": {"type": "object", "default": {"ready": false}}}
        })),
    }
}

fn store() -> ValuesStore {
    ValuesStore::new(global_spec(), vec![echo_server(), other()]).unwrap()
}

fn config(yaml: &str, store: &ValuesStore) -> ConfigValues {
    ConfigValues::from_yaml_str(yaml, store.known_keys()).unwrap()
}

fn patch(ops: Value) -> Patch {
    serde_json::from_value(ops).unwrap()
}

fn module_hook() -> PatchSource {
    PatchSource::ModuleHook {
        hook: "echo-server/hooks/a.sh".into(),
        key: "echoServer".into(),
    }
}

fn global_hook() -> PatchSource {
    PatchSource::GlobalHook {
        hook: "global-hooks/g.sh".into(),
    }
}

#[test]
fn layers_apply_in_addon_operator_order_for_modules_and_global() {
    let mut store = store();
    assert_eq!(
        store.module_values("echoServer").unwrap()["echoServer"],
        json!({
            "image": {"repo": "mine", "tag": "1"},
            "ports": [8080],
            "replicas": 1,
            "resources": {"cpu": "100m"},
            "internal": {"token": "t"}
        }),
        "static (common then module; arrays replace) + config defaults + values defaults"
    );
    store
        .apply_config(config(
            "echoServer: {replicas: 3, resources: {cpu: \"1\"}}\nglobal: {clusterName: prod}\n",
            &store,
        ))
        .unwrap();
    store
        .apply_patch(
            &module_hook(),
            PatchTarget::Values,
            &patch(json!([{"op": "add", "path": "/echoServer/internal/seen", "value": 1}])),
        )
        .unwrap();
    let values = store.module_values("echoServer").unwrap();
    assert_eq!(values["echoServer"]["replicas"], 3);
    assert_eq!(values["echoServer"]["resources"], json!({"cpu": "1"}));
    assert_eq!(
        values["echoServer"]["internal"],
        json!({"token": "t", "seen": 1})
    );
    assert_eq!(
        values["global"],
        json!({"clusterName": "prod", "modules": {"https": false, "domain": "example.com"}, "discovery": {"ready": false}})
    );
    assert_eq!(
        store.global_values(),
        json!({"global": values["global"].clone()})
    );
    assert_eq!(
        values.as_object().unwrap().len(),
        2,
        "module hooks see only global and their key"
    );
}

#[test]
fn a_rejected_config_lists_every_problem_and_keeps_the_last_good_values() {
    let mut store = store();
    store
        .apply_config(config("echoServer: {replicas: 2}\n", &store))
        .unwrap();
    let before = store.module_values("echoServer").unwrap();
    let bad = ConfigValues {
        global: Some(json!({"clusterName": 5, "typo": true})),
        modules: BTreeMap::from([
            (
                "echoServer".to_string(),
                json!({"replicas": 0, "internal": {}}),
            ),
            ("ghost".to_string(), json!({})),
        ]),
        ..Default::default()
    };
    let errors = store.apply_config(bad).unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    for expected in [
        "unknown module values key \"ghost\"",
        "global: /clusterName: ",
        "global: (root): ",
        "echoServer: /replicas: ",
        "echoServer: (root): ",
    ] {
        assert!(
            text.iter().any(|t| t.starts_with(expected)),
            "{expected} not in {text:#?}"
        );
    }
    assert_eq!(store.module_values("echoServer").unwrap(), before);
    assert_eq!(
        store.config_values().modules["echoServer"],
        json!({"replicas": 2})
    );
}

#[test]
fn apply_config_reports_exactly_what_changed() {
    let mut store = store();
    let change = store
        .apply_config(config("echoServer: {replicas: 2}\n", &store))
        .unwrap();
    assert!(change.config && !change.global);
    assert_eq!(change.modules, BTreeSet::from(["echoServer".to_string()]));
    assert!(change.enabled.is_empty());

    let same = store.apply_config(store.config_values().clone()).unwrap();
    assert!(same.is_empty(), "{same:?}");

    let change = store
        .apply_config(config("echoServer: {replicas: 2}\nglobal: {clusterName: x}\notherEnabled: false\notherMaintenance: NoResourceReconciliation\n", &store))
        .unwrap();
    assert!(change.global);
    assert!(
        change.modules.is_empty(),
        "module sections themselves did not change: {change:?}"
    );
    assert_eq!(change.enabled, BTreeSet::from(["other".to_string()]));
    assert_eq!(change.maintenance, BTreeSet::from(["other".to_string()]));

    // A config value equal to the default leaves effective values unchanged.
    let change = store
        .apply_config(config("echoServer: {replicas: 2, resources: {cpu: 100m}}\nglobal: {clusterName: x}\notherEnabled: false\notherMaintenance: NoResourceReconciliation\n", &store))
        .unwrap();
    assert!(
        change.config && change.modules.is_empty() && !change.global,
        "{change:?}"
    );
}

#[test]
fn module_hook_patches_stay_in_memory_and_survive_config_changes() {
    let mut store = store();
    let change = store
        .apply_patch(
            &module_hook(),
            PatchTarget::Values,
            &patch(json!([
                {"op": "add", "path": "/echoServer/internal/seen", "value": 5},
                {"op": "replace", "path": "/echoServer/replicas", "value": 4}
            ])),
        )
        .unwrap();
    assert!(!change.config);
    assert_eq!(change.modules, BTreeSet::from(["echoServer".to_string()]));
    assert_eq!(store.config_values(), &ConfigValues::default());
    store
        .apply_config(config("echoServer: {replicas: 2}\n", &store))
        .unwrap();
    let values = store.module_values("echoServer").unwrap();
    assert_eq!(values["echoServer"]["internal"]["seen"], 5);
    assert_eq!(
        values["echoServer"]["replicas"], 4,
        "patches are the top layer"
    );
}

#[test]
fn forbidden_or_failing_or_invalid_patches_change_nothing() {
    let mut store = store();
    let before = store.module_values("echoServer").unwrap();
    let cases = [
        (
            module_hook(),
            json!([{"op": "add", "path": "/global/x", "value": 1}]),
            "hook echo-server/hooks/a.sh: patch path \"/global/x\" is not allowed",
        ),
        (
            module_hook(),
            json!([{"op": "add", "path": "/other/x", "value": 1}]),
            "\"/other/x\" is not allowed",
        ),
        (
            global_hook(),
            json!([{"op": "add", "path": "/echoServer/replicas", "value": 1}]),
            "hook global-hooks/g.sh: patch path \"/echoServer/replicas\"",
        ),
        (
            module_hook(),
            json!([
                {"op": "add", "path": "/echoServer/internal/seen", "value": 1},
                {"op": "remove", "path": "/echoServer/missing"}
            ]),
            "cannot apply json patch",
        ),
        (
            module_hook(),
            json!([{"op": "add", "path": "/echoServer/replicas", "value": "two"}]),
            "echoServer: /replicas: ",
        ),
        (
            module_hook(),
            json!([{"op": "remove", "path": "/echoServer"}]),
            "expected a map",
        ),
        (
            global_hook(),
            json!([{"op": "add", "path": "/ghostEnabled", "value": true}]),
            "unknown module values key \"ghost\"",
        ),
    ];
    for (source, ops, expected) in cases {
        let errors = store
            .apply_patch(&source, PatchTarget::Values, &patch(ops.clone()))
            .unwrap_err();
        assert!(errors.to_string().contains(expected), "{ops}: {errors}");
        assert_eq!(store.module_values("echoServer").unwrap(), before, "{ops}");
    }
    let errors = store
        .apply_patch(
            &PatchSource::ModuleHook {
                hook: "h".into(),
                key: "ghost".into(),
            },
            PatchTarget::Values,
            &patch(json!([])),
        )
        .unwrap_err();
    assert!(matches!(errors.0[0], Error::UnknownModule { .. }));
}

#[test]
fn config_values_patches_change_the_config_that_is_persisted() {
    let mut store = store();
    let change = store
        .apply_patch(
            &module_hook(),
            PatchTarget::ConfigValues,
            &patch(json!([{"op": "add", "path": "/echoServer/replicas", "value": 6}])),
        )
        .unwrap();
    assert!(change.config);
    assert_eq!(
        store.config_values().modules["echoServer"],
        json!({"replicas": 6})
    );
    assert_eq!(
        store.module_values("echoServer").unwrap()["echoServer"]["replicas"],
        6
    );
    assert_eq!(
        store.module_config_values("echoServer").unwrap(),
        json!({"global": {}, "echoServer": {"replicas": 6}})
    );

    let change = store
        .apply_patch(
            &global_hook(),
            PatchTarget::ConfigValues,
            &patch(json!([
                {"op": "add", "path": "/global/clusterName", "value": "c"},
                {"op": "add", "path": "/otherEnabled", "value": false}
            ])),
        )
        .unwrap();
    assert!(change.global && change.config);
    assert_eq!(change.enabled, BTreeSet::from(["other".to_string()]));
    assert_eq!(store.config_values().enabled.get("other"), Some(&false));
    assert_eq!(
        store.global_config_values(),
        json!({"global": {"clusterName": "c"}})
    );
    let data = store.config_values().encode().unwrap();
    assert_eq!(data["otherEnabled"], "false");

    // Schema violations through config patches are rejected against config-values.yaml.
    let errors = store
        .apply_patch(
            &module_hook(),
            PatchTarget::ConfigValues,
            &patch(json!([{"op": "add", "path": "/echoServer/internal", "value": {}}])),
        )
        .unwrap_err();
    assert!(
        errors.to_string().contains("echoServer: (root): "),
        "{errors}"
    );
    assert_eq!(
        store.config_values().modules["echoServer"],
        json!({"replicas": 6})
    );

    // Removing the last key removes the section from the ConfigMap.
    store
        .apply_patch(
            &module_hook(),
            PatchTarget::ConfigValues,
            &patch(json!([{"op": "remove", "path": "/echoServer/replicas"}])),
        )
        .unwrap();
    assert!(!store.config_values().modules.contains_key("echoServer"));
}

#[test]
fn enabled_state_follows_static_then_global_hook_then_configmap() {
    let mut store = ValuesStore::new(
        GlobalSpec::default(),
        vec![
            echo_server(),
            ModuleSpec {
                module_enabled: Some(false),
                common_enabled: Some(true),
                ..other()
            },
            ModuleSpec {
                key: "quiet".into(),
                name: "quiet".into(),
                ..Default::default()
            },
        ],
    )
    .unwrap();
    let states = |s: &ValuesStore| -> Vec<(String, bool, EnabledSource)> {
        s.enabled_states()
            .into_iter()
            .map(|(k, st)| (k, st.enabled, st.source))
            .collect()
    };
    assert_eq!(
        states(&store),
        [
            ("echoServer".into(), true, EnabledSource::CommonValues),
            ("other".into(), false, EnabledSource::ModuleValues),
            ("quiet".into(), false, EnabledSource::Default),
        ]
    );
    let change = store
        .apply_patch(
            &global_hook(),
            PatchTarget::Values,
            &patch(json!([
                {"op": "add", "path": "/otherEnabled", "value": true},
                {"op": "add", "path": "/global/x", "value": 1}
            ])),
        )
        .unwrap();
    assert_eq!(change.enabled, BTreeSet::from(["other".to_string()]));
    assert!(change.global);
    assert_eq!(
        store.enabled_layers("other").unwrap().global_hook,
        Some(true)
    );
    assert_eq!(
        states(&store)[1],
        ("other".into(), true, EnabledSource::GlobalHook)
    );

    store
        .apply_config(config("otherEnabled: false\nquietEnabled: true\n", &store))
        .unwrap();
    assert_eq!(
        states(&store)[1],
        ("other".into(), false, EnabledSource::ConfigMap)
    );
    assert_eq!(
        states(&store)[2],
        ("quiet".into(), true, EnabledSource::ConfigMap)
    );

    store
        .apply_patch(
            &global_hook(),
            PatchTarget::Values,
            &patch(json!([{"op": "remove", "path": "/otherEnabled"}])),
        )
        .unwrap();
    assert_eq!(store.enabled_layers("other").unwrap().global_hook, None);

    store.set_enabled_modules(Some(vec!["echoServer".into(), "quiet".into()]));
    assert_eq!(
        store.module_values("quiet").unwrap()["global"]["enabledModules"],
        json!(["echoServer", "quiet"])
    );
    assert_eq!(
        store.global_values()["global"]["enabledModules"],
        json!(["echoServer", "quiet"])
    );
}

#[test]
fn construction_reports_every_static_problem() {
    let errors = ValuesStore::new(
        GlobalSpec {
            static_values: json!([1]),
            ..Default::default()
        },
        vec![
            ModuleSpec {
                module_values: json!({"replicas": "x"}),
                ..echo_server()
            },
            ModuleSpec {
                common_values: json!("str"),
                ..other()
            },
            other(),
        ],
    )
    .unwrap_err();
    let text = errors.to_string();
    assert_eq!(errors.len(), 4, "{text}");
    for expected in [
        "global: static values: expected a map, got an array",
        "other: static values: expected a map, got a string",
        "module \"other\": duplicate values key \"other\"",
        "echoServer: /replicas: ",
    ] {
        assert!(text.contains(expected), "{expected} not in {text}");
    }
}

#[test]
fn module_checksum_tracks_values_and_files_but_not_key_order() {
    let mut store = store();
    let files = values::files_digest(&BTreeMap::from([(
        "templates/d.yaml".to_string(),
        b"kind: X".to_vec(),
    )]));
    let initial = store.module_checksum("echoServer", &files).unwrap();
    let other_initial = store.module_checksum("other", &files).unwrap();
    store
        .apply_config(config("echoServer: {replicas: 2}\n", &store))
        .unwrap();
    let changed = store.module_checksum("echoServer", &files).unwrap();
    assert_ne!(initial, changed);
    assert_eq!(
        other_initial,
        store.module_checksum("other", &files).unwrap(),
        "other module unaffected"
    );
    store
        .apply_config(config("echoServer: {replicas: 1}\n", &store))
        .unwrap();
    assert_eq!(
        initial,
        store.module_checksum("echoServer", &files).unwrap(),
        "same values, same checksum"
    );
    store
        .apply_config(config("global: {clusterName: g}\n", &store))
        .unwrap();
    assert_ne!(
        other_initial,
        store.module_checksum("other", &files).unwrap(),
        "global is part of every module's values"
    );
    let before_enabled = store.module_checksum("other", &files).unwrap();
    store.set_enabled_modules(Some(vec!["echoServer".to_string()]));
    assert_ne!(
        before_enabled,
        store.module_checksum("other", &files).unwrap(),
        "global.enabledModules is part of every module's values"
    );
    assert!(matches!(
        store.module_checksum("ghost", &files),
        Err(Error::UnknownModule { .. })
    ));
}

#[test]
fn store_and_errors_can_cross_threads_and_convert_to_anyhow_style_errors() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<ValuesStore>();
    assert_send_sync::<values::Errors>();
    let boxed: Box<dyn std::error::Error + Send + Sync> =
        Box::new(store().module_values("ghost").unwrap_err());
    assert_eq!(boxed.to_string(), "unknown module values key \"ghost\"");
}

#[test]
fn a_rebuilt_store_adopts_the_hook_state_of_the_previous_one() {
    let mut old = store();
    old.apply_patch(
        &module_hook(),
        PatchTarget::Values,
        &patch(json!([{"op": "replace", "path": "/echoServer/replicas", "value": 4}])),
    )
    .unwrap();
    old.apply_patch(
        &global_hook(),
        PatchTarget::Values,
        &patch(json!([
            {"op": "add", "path": "/global/discovery/ready", "value": true},
            {"op": "add", "path": "/otherEnabled", "value": true}
        ])),
    )
    .unwrap();
    old.set_enabled_modules(Some(vec!["echo-server".into()]));

    let mut fresh = store();
    let change = fresh.adopt_hook_state(&old).unwrap();
    assert_eq!(change.modules, BTreeSet::from(["echoServer".to_string()]));
    assert!(change.global);
    assert_eq!(
        fresh.module_values("echoServer").unwrap(),
        old.module_values("echoServer").unwrap()
    );
    assert_eq!(fresh.global_values(), old.global_values());
    assert_eq!(fresh.enabled_states(), old.enabled_states());

    // New files whose schema no longer accepts the patched value: nothing is adopted.
    let mut strict = echo_server();
    strict.config_schema = Some(json!({
        "type": "object",
        "properties": {"replicas": {"type": "integer", "maximum": 2, "default": 1}, "resources": {"type": "object", "default": {}}}
    }));
    let mut rebuilt = ValuesStore::new(global_spec(), vec![strict, other()]).unwrap();
    let before = rebuilt.module_values("echoServer").unwrap();
    let errors = rebuilt.adopt_hook_state(&old).unwrap_err();
    assert!(
        errors.to_string().contains("echoServer: /replicas"),
        "{errors}"
    );
    assert_eq!(
        rebuilt.module_values("echoServer").unwrap(),
        before,
        "a failed adoption changes nothing"
    );
}

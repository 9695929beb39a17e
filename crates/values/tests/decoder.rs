//! The ConfigMap decoder: successive versions applied as edits leave the store exactly as
//! decoding and applying each whole version would.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use pretty_assertions::assert_eq;
use serde_json::json;
use values::{
    ConfigChange, ConfigDecoder, ConfigValues, ModuleSpec, PatchSource, PatchTarget, ValuesStore,
};

fn module(key: &str) -> ModuleSpec {
    ModuleSpec {
        key: key.into(),
        name: key.into(),
        common_enabled: Some(true),
        config_schema: Some(json!({
            "type": "object",
            "properties": {"replicas": {"type": "integer", "minimum": 1, "default": 1}}
        })),
        ..Default::default()
    }
}

fn store(keys: &[&str]) -> ValuesStore {
    ValuesStore::new(Default::default(), keys.iter().map(|k| module(k)).collect()).unwrap()
}

fn modules() -> ValuesStore {
    store(&["echoServer", "certManager", "ingressNginx"])
}

fn data(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// What a whole decode and apply of `data` does to `store`.
fn full_apply(
    store: &mut ValuesStore,
    data: &BTreeMap<String, String>,
) -> Result<ConfigChange, String> {
    ConfigValues::decode(data, store.known_keys())
        .and_then(|config| store.apply_config(config))
        .map_err(|e| e.to_string())
}

/// Everything the operator reads from a store.
fn seen(store: &ValuesStore) -> (ConfigValues, Vec<serde_json::Value>, String) {
    let values = ["echoServer", "certManager", "ingressNginx"]
        .iter()
        .map(|k| store.module_values(k).unwrap())
        .collect();
    (
        store.config_values().clone(),
        values,
        format!("{:?}", store.enabled_states()),
    )
}

#[test]
fn every_version_applied_as_an_edit_ends_as_a_whole_apply() {
    let versions = [
        data(&[
            ("global", "clusterName: prod\n"),
            ("echoServer", "replicas: 3\n"),
            ("echoServerEnabled", "false"),
            ("certManagerMaintenance", "NoResourceReconciliation"),
        ]),
        // Nothing changed.
        data(&[
            ("global", "clusterName: prod\n"),
            ("echoServer", "replicas: 3\n"),
            ("echoServerEnabled", "false"),
            ("certManagerMaintenance", "NoResourceReconciliation"),
        ]),
        // One section edited, one flag flipped, one key removed, one added.
        data(&[
            ("global", "clusterName: prod\n"),
            ("echoServer", "replicas: 4\n"),
            ("echoServerEnabled", "true"),
            ("ingressNginx", "replicas: 1\n"),
        ]),
        // Not a map: rejected as decode rejects it.
        data(&[("global", "clusterName: prod\n"), ("echoServer", "[1, 2]")]),
        // Violates the schema: rejected as apply_config rejects it.
        data(&[
            ("global", "clusterName: prod\n"),
            ("echoServer", "replicas: 0\n"),
        ]),
        // An unknown key and a bad flag: both listed.
        data(&[("nginx", "a: 1\n"), ("certManagerEnabled", "yes")]),
        // Same text, formatted otherwise; a section emptied; the global removed.
        data(&[
            ("echoServer", "{replicas: 4}"),
            ("echoServerEnabled", "true"),
            ("ingressNginx", ""),
        ]),
        data(&[
            ("global", "clusterName: test\n"),
            ("certManager", "replicas: 2\n"),
            ("certManagerEnabled", "false"),
        ]),
    ];
    let mut decoder = ConfigDecoder::default();
    let mut edited = modules();
    let mut whole = modules();
    for (i, version) in versions.iter().enumerate() {
        let got = decoder
            .apply(&mut edited, version.clone())
            .map_err(|e| e.to_string());
        assert_eq!(got, full_apply(&mut whole, version), "version {i}");
        assert_eq!(seen(&edited), seen(&whole), "version {i}");
        let kept = if got.is_ok() { version } else { decoder.data() };
        assert_eq!(
            decoder.data(),
            kept,
            "version {i}: the last good data is kept"
        );
    }
}

/// A module hook of echoServer patches its config values: `replicas` = `n`.
fn hook_sets_replicas(store: &mut ValuesStore, n: u64) {
    let hook = PatchSource::ModuleHook {
        hook: "echoServer/hooks/scale".into(),
        key: "echoServer".into(),
    };
    let patch = serde_json::from_value(json!([
        {"op": "add", "path": "/echoServer/replicas", "value": n}
    ]))
    .unwrap();
    store
        .apply_patch(&hook, PatchTarget::ConfigValues, &patch)
        .unwrap();
}

#[test]
fn a_hook_that_changed_the_config_values_makes_the_next_version_apply_whole() {
    let text = data(&[("echoServer", "replicas: 3\n")]);
    let mut decoder = ConfigDecoder::default();
    let mut store = modules();
    decoder.apply(&mut store, text.clone()).unwrap();
    hook_sets_replicas(&mut store, 5);
    // The same text again: the ConfigMap says 3, whatever the hook set in memory.
    let change = decoder.apply(&mut store, text).unwrap();
    assert!(change.modules.contains("echoServer"), "{change:?}");
    assert_eq!(
        store.config_values().modules.get("echoServer"),
        Some(&json!({"replicas": 3}))
    );
}

#[test]
fn data_written_from_the_store_is_the_base_of_the_next_edit() {
    let mut decoder = ConfigDecoder::default();
    let mut store = modules();
    decoder
        .apply(&mut store, data(&[("echoServer", "replicas: 3\n")]))
        .unwrap();
    hook_sets_replicas(&mut store, 5);
    let encoded = store.config_values().encode().unwrap();
    decoder.written(store.config_generation(), encoded.clone());
    // The watch brings the written data back: nothing changes.
    let echo = decoder.apply(&mut store, encoded.clone()).unwrap();
    assert_eq!(echo, ConfigChange::default());
    // A user's edit of another module keeps the hook's value.
    let mut edit = encoded;
    edit.insert("certManager".into(), "replicas: 2\n".into());
    let change = decoder.apply(&mut store, edit.clone()).unwrap();
    assert_eq!(
        change.modules.iter().collect::<Vec<_>>(),
        vec!["certManager"]
    );
    let mut whole = modules();
    full_apply(&mut whole, &edit).unwrap();
    assert_eq!(store.config_values(), whole.config_values());
}

#[test]
fn a_new_module_set_reads_every_key_again() {
    // `fooEnabled` is a module's section first; in the next module set it is the enabled flag
    // of module `foo`, and its text is no flag: the earlier reading must not stand in for it.
    let text = data(&[("fooEnabled", "replicas: 1\n")]);
    let mut decoder = ConfigDecoder::default();
    let mut first = store(&["fooEnabled"]);
    decoder.apply(&mut first, text.clone()).unwrap();
    let mut second = store(&["foo"]);
    let got = decoder
        .apply(&mut second, text.clone())
        .map_err(|e| e.to_string());
    assert!(got.is_err(), "{got:?}");
    assert_eq!(got, full_apply(&mut store(&["foo"]), &text));
}

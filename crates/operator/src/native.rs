//! Hooks compiled into the binary, run through the hook protocol by
//! `addon-operator hook run <name>` (a two-line script in `global-hooks/` calls it; the older
//! form `addon-operator hook <name>` still works).

use std::io::Write;

use hooks::{NativeHook, NativeHookError, NativeInput, NativeOutput};
use serde_json::{Value, json};

/// Every native hook, by name.
pub fn registry() -> Vec<Box<dyn NativeHook>> {
    vec![
        Box::new(DiscoverClusterUuid),
        Box::new(crate::selfupdate_hook::SelfUpdate),
    ]
}

/// `addon-operator hook run <name> [--config]`: runs one native hook with the protocol's
/// environment; without a name (`hook list`) the native hooks are listed.
pub fn run(name: Option<&str>, args: &[String]) -> anyhow::Result<()> {
    let hooks = registry();
    let Some(name) = name else {
        let mut out = std::io::stdout().lock();
        for hook in &hooks {
            writeln!(out, "{}", hook.name())?;
        }
        return Ok(());
    };
    let Some(hook) = hooks.iter().find(|h| h.name() == name) else {
        let names: Vec<&str> = hooks.iter().map(|h| h.name()).collect();
        anyhow::bail!(
            "no native hook named {name:?} (native hooks: {})",
            names.join(", ")
        );
    };
    let mut out = std::io::stdout().lock();
    hooks::run_native(hook.as_ref(), args, &|var| std::env::var_os(var), &mut out)?;
    Ok(())
}

/// Puts the cluster's identity, the UID of the `kube-system` Namespace, into
/// `global.discovery.clusterUUID`, as Deckhouse does; modules use it as a stable cluster id
/// (and the self-update hook for canary waves).
pub struct DiscoverClusterUuid;

impl NativeHook for DiscoverClusterUuid {
    fn name(&self) -> &str {
        "discover-cluster-uuid"
    }

    fn config(&self) -> String {
        json!({
            "configVersion": "v1",
            "kubernetes": [{
                "name": "kube_system",
                "apiVersion": "v1",
                "kind": "Namespace",
                "nameSelector": {"matchNames": ["kube-system"]},
                "jqFilter": ".metadata.uid",
            }],
        })
        .to_string()
    }

    fn run(&self, input: NativeInput) -> Result<NativeOutput, NativeHookError> {
        let Some(uid) = last_filter_result(&input.binding_context) else {
            return Ok(NativeOutput::default());
        };
        let discovery = input.values.pointer("/global/discovery");
        if discovery.and_then(|d| d.get("clusterUUID")) == Some(&uid) {
            return Ok(NativeOutput::default());
        }
        let op = match discovery {
            Some(Value::Object(_)) => {
                json!({"op": "add", "path": "/global/discovery/clusterUUID", "value": uid})
            }
            _ => json!({"op": "add", "path": "/global/discovery", "value": {"clusterUUID": uid}}),
        };
        Ok(NativeOutput {
            values_patch: vec![op],
            ..NativeOutput::default()
        })
    }
}

/// The newest non-null filter result in a binding-context array (Synchronization objects or
/// Event), or from the hook's snapshots.
fn last_filter_result(contexts: &Value) -> Option<Value> {
    let mut found = None;
    for ctx in contexts.as_array().into_iter().flatten() {
        let candidates = ctx
            .get("objects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|o| o.get("filterResult"))
            .chain(ctx.get("filterResult"))
            .chain(
                ctx.pointer("/snapshots/kube_system")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|o| o.get("filterResult")),
            );
        for result in candidates {
            if result.is_string() {
                found = Some(result.clone());
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(values: Value, contexts: Value) -> NativeOutput {
        DiscoverClusterUuid
            .run(NativeInput {
                binding_context: contexts,
                values,
                config_values: json!({}),
            })
            .expect("runs")
    }

    #[test]
    fn synchronization_sets_the_uuid_creating_the_discovery_map() {
        let ctx = json!([{"binding": "kube_system", "type": "Synchronization",
            "objects": [{"filterResult": "uid-1"}]}]);
        let out = run(json!({"global": {}}), ctx);
        assert_eq!(
            out.values_patch,
            vec![
                json!({"op": "add", "path": "/global/discovery", "value": {"clusterUUID": "uid-1"}})
            ]
        );
    }

    #[test]
    fn an_unchanged_uuid_patches_nothing_and_a_new_one_replaces_it() {
        let ctx = json!([{"binding": "kube_system", "type": "Event", "watchEvent": "Modified", "filterResult": "uid-2"}]);
        assert!(
            run(
                json!({"global": {"discovery": {"clusterUUID": "uid-2"}}}),
                ctx.clone()
            )
            .values_patch
            .is_empty()
        );
        let out = run(
            json!({"global": {"discovery": {"clusterUUID": "old"}}}),
            ctx,
        );
        assert_eq!(
            out.values_patch,
            vec![json!({"op": "add", "path": "/global/discovery/clusterUUID", "value": "uid-2"})]
        );
    }

    #[test]
    fn no_namespace_means_no_patch() {
        let ctx = json!([{"binding": "kube_system", "type": "Synchronization", "objects": []}]);
        assert!(run(json!({"global": {}}), ctx).values_patch.is_empty());
    }
}

//! The `self-update` native global hook: follows the release-channel tag and rolls the
//! operator's own Deployment (see `docs/self-update.md`). The work is in the `selfupdate`
//! crate; this file speaks the hook protocol.
//!
//! Bindings, and why:
//! - `onStartup`: marks a new operator process (fresh counters; the next Synchronization
//!   checks at once). It does no network I/O, so a slow registry never delays startup.
//! - `kubernetes` `deployment`: the operator's Deployment (name from `--deployment` /
//!   `ADDON_OPERATOR_DEPLOYMENT`, namespace from `ADDON_OPERATOR_NAMESPACE`, both passed to
//!   every hook by the operator), reduced by a jq filter to containers and annotations. Its
//!   Synchronization is the first check; its events (an approval annotation, our own patch)
//!   re-decide at once.
//! - `kubernetes` `credentials`: `kubernetes.io/dockerconfigjson` Secrets of the namespace,
//!   snapshot only (they never trigger a run); the one named in
//!   `global.update.credentialsSecret` is used.
//! - `schedule` `tick`, every second: a registry check when `interval` has passed since the
//!   last one or `global.update` changed (remembered in the hook's state file in the
//!   operator's temp directory), otherwise a re-decision on the last answer (wave time
//!   reached, window opened). So a tag move is applied within `interval` + 1 s and a channel
//!   switch in the ConfigMap takes effect within a second.
//!
//! Every binding uses the `self-update` queue, so registry I/O never holds up the `main`
//! queue, and runs of the hook never overlap.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine;
use hooks::{NativeHook, NativeInput, NativeOutput};
use selfupdate::{DeploymentView, PollInput, State};
use serde_json::{Value, json};

/// See the module documentation.
pub struct SelfUpdate;

const DEPLOYMENT_BINDING: &str = "deployment";
const CREDENTIALS_BINDING: &str = "credentials";
const QUEUE: &str = "self-update";

fn env_or(var: &str, default: &str) -> String {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_string())
}

fn namespace() -> String {
    env_or("ADDON_OPERATOR_NAMESPACE", "addon-operator")
}

fn deployment_name() -> String {
    env_or("ADDON_OPERATOR_DEPLOYMENT", "addon-operator")
}

impl NativeHook for SelfUpdate {
    fn name(&self) -> &str {
        "self-update"
    }

    fn config(&self) -> String {
        let snapshots = json!([DEPLOYMENT_BINDING, CREDENTIALS_BINDING]);
        json!({
            "configVersion": "v1",
            "onStartup": 1,
            "schedule": [{
                "name": "tick",
                "crontab": "* * * * * *",
                "queue": QUEUE,
                "includeSnapshotsFrom": snapshots,
            }],
            "kubernetes": [
                {
                    "name": DEPLOYMENT_BINDING,
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "namespace": {"nameSelector": {"matchNames": [namespace()]}},
                    "nameSelector": {"matchNames": [deployment_name()]},
                    "jqFilter": selfupdate::JQ_FILTER,
                    "keepFullObjectsInMemory": false,
                    "waitForSynchronization": false,
                    "queue": QUEUE,
                    "includeSnapshotsFrom": snapshots,
                },
                {
                    "name": CREDENTIALS_BINDING,
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "namespace": {"nameSelector": {"matchNames": [namespace()]}},
                    "fieldSelector": {"matchExpressions": [
                        {"field": "type", "operator": "Equals", "value": "kubernetes.io/dockerconfigjson"},
                    ]},
                    "jqFilter": "{name: .metadata.name, config: .data[\".dockerconfigjson\"]}",
                    "keepFullObjectsInMemory": false,
                    "executeHookOnEvent": [],
                    "executeHookOnSynchronization": false,
                    "waitForSynchronization": false,
                    "queue": QUEUE,
                },
            ],
        })
        .to_string()
    }

    fn run(&self, input: NativeInput) -> Result<NativeOutput, hooks::NativeHookError> {
        let dir = std::env::var_os("ADDON_OPERATOR_TMP_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let path = selfupdate::state_path(&dir);
        let mut state = State::load(&path);
        let contexts = input
            .binding_context
            .as_array()
            .cloned()
            .unwrap_or_default();
        let poll_input = PollInput {
            values: input.values,
            deployment: deployment(&contexts),
            deployment_ref: format!("{}/{}", namespace(), deployment_name()),
            docker_configs: docker_configs(&contexts),
            startup: contexts.iter().any(|c| c["binding"] == "onStartup"),
            synchronization: contexts
                .iter()
                .any(|c| c["binding"] == DEPLOYMENT_BINDING && c["type"] == "Synchronization"),
            now: chrono::Utc::now(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
        let out = runtime.block_on(selfupdate::poll(&mut state, poll_input));
        state
            .save(&path)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        for line in &out.logs {
            eprintln!("{line}");
        }
        Ok(NativeOutput {
            object_patches: out.object_patches,
            metrics: out.metrics,
            ..NativeOutput::default()
        })
    }
}

/// The filter results of a binding's snapshot in the newest context that has it, or of the
/// Deployment binding's own Synchronization/Event.
fn latest_objects(contexts: &[Value], binding: &str) -> Option<Vec<Value>> {
    let mut found = None;
    for ctx in contexts {
        if let Some(items) = ctx
            .pointer(&format!("/snapshots/{binding}"))
            .and_then(Value::as_array)
        {
            found = Some(items.iter().map(|o| o["filterResult"].clone()).collect());
        } else if ctx["binding"] == binding {
            match ctx["type"].as_str() {
                Some("Synchronization") => {
                    let items = ctx["objects"].as_array().cloned().unwrap_or_default();
                    found = Some(items.iter().map(|o| o["filterResult"].clone()).collect());
                }
                Some("Event") if ctx["watchEvent"] == "Deleted" => found = Some(Vec::new()),
                Some("Event") => found = Some(vec![ctx["filterResult"].clone()]),
                _ => {}
            }
        }
    }
    found
}

fn deployment(contexts: &[Value]) -> Option<DeploymentView> {
    latest_objects(contexts, DEPLOYMENT_BINDING)?
        .iter()
        .find_map(DeploymentView::from_filter_result)
}

fn docker_configs(contexts: &[Value]) -> BTreeMap<String, Vec<u8>> {
    latest_objects(contexts, CREDENTIALS_BINDING)
        .unwrap_or_default()
        .iter()
        .filter_map(|secret| {
            let name = secret["name"].as_str()?;
            let config = base64::engine::general_purpose::STANDARD
                .decode(secret["config"].as_str()?)
                .ok()?;
            Some((name.to_string(), config))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_is_valid_and_names_the_deployment_of_the_environment() {
        let config = SelfUpdate.config();
        let parsed = hooks::HookConfig::parse(&config, "self-update", hooks::HookScope::Global)
            .expect("valid config");
        assert_eq!(parsed.schedules[0].include_snapshots_from.len(), 2);
        assert_eq!(parsed.kubernetes[0].names, [deployment_name()]);
        assert!(parsed.kubernetes[1].execute_hook_on_event.is_empty());
    }

    #[test]
    fn snapshots_win_and_deleted_events_empty_the_deployment() {
        let view = json!({"name": "addon-operator", "containers": [{"name": "addon-operator", "image": "r/op:stable"}]});
        let ctx = json!([
            {"binding": "deployment", "type": "Synchronization", "objects": [{"filterResult": view}]},
            {"binding": "tick", "type": "Schedule", "snapshots": {"deployment": [{"filterResult": view}],
                "credentials": [{"filterResult": {"name": "pull", "config": "e30="}}]}},
        ]);
        let contexts = ctx.as_array().expect("array");
        assert_eq!(deployment(contexts).expect("found").image, "r/op:stable");
        assert_eq!(docker_configs(contexts)["pull"], b"{}");
        let deleted = json!([{"binding": "deployment", "type": "Event", "watchEvent": "Deleted", "filterResult": view}]);
        assert!(deployment(deleted.as_array().expect("array")).is_none());
    }
}

//! The `addon-operator` ConfigMap: the control panel. Read once, watched, written back when a
//! hook patches config values.

use std::collections::BTreeMap;

use anyhow::Context;
use cluster_access::{ListWatch, Update};
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::watcher;
use serde_json::{Map, Value, json};

/// The ConfigMap's `data`, or `None` when it does not exist (treated as empty config).
pub type ConfigData = Option<BTreeMap<String, String>>;

/// Watches one ConfigMap and yields its data on every event (including the first state), and
/// `None` once when it is deleted. Repeated data is not filtered here: the consumer's
/// [`values::ConfigDecoder`] finds an unchanged version by comparing the texts, which costs
/// less than keeping a copy of a 500-key ConfigMap to compare against.
///
/// The watch is a [`ListWatch`]: watch errors are retried with the shared capped backoff (a
/// `410 Gone` relists at once) and logged once per interval with a count, so an API outage
/// neither floods the log nor delays recovery.
pub fn watch(api: Api<ConfigMap>, name: &str) -> impl Stream<Item = ConfigData> + Send + 'static {
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut deleted = false;
    ListWatch::new(format!("ConfigMap {name}"))
        .stream(api, config, |cm: ConfigMap| {
            Some(cm.data.unwrap_or_default())
        })
        .filter_map(move |update| {
            let state = match update {
                // The field selector lists at most this one ConfigMap.
                Ok(Update::Listed(mut found)) => Some(found.pop()),
                Ok(Update::Applied(data)) => Some(Some(data)),
                Ok(Update::Deleted(_)) => Some(None),
                Err(_) => None,
            };
            let out = match state {
                Some(None) if deleted => None,
                Some(data) => {
                    deleted = data.is_none();
                    Some(data)
                }
                None => None,
            };
            futures::future::ready(out)
        })
}

/// Writes `data` into the ConfigMap, creating it when absent. Only keys that differ are sent
/// (a JSON merge patch with `null` for removed keys), so keys someone else added meanwhile
/// are never lost.
pub async fn persist(
    api: &Api<ConfigMap>,
    name: &str,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let mut changes = Map::new();
    for (key, value) in new {
        if old.get(key) != Some(value) {
            changes.insert(key.clone(), Value::String(value.clone()));
        }
    }
    for key in old.keys().filter(|k| !new.contains_key(*k)) {
        changes.insert(key.clone(), Value::Null);
    }
    if changes.is_empty() {
        return Ok(());
    }
    let patch = json!({ "data": changes });
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => {
            let cm = ConfigMap {
                metadata: kube::api::ObjectMeta {
                    name: Some(name.into()),
                    ..Default::default()
                },
                data: Some(new.clone()),
                ..ConfigMap::default()
            };
            api.create(&PostParams::default(), &cm)
                .await
                .with_context(|| format!("creating ConfigMap {name}"))?;
            Ok(())
        }
        Err(err) => Err(err).with_context(|| format!("writing config values to ConfigMap {name}")),
    }
}

//! The optional state file: every object and the resourceVersion counter as JSON,
//! loaded at start and rewritten atomically (the debounced writer is
//! [`crate::AppState`]'s, which owns the change signal).

use crate::error::Error;
use crate::store::Store;
use serde_json::{Value, json};
use std::path::Path;

/// Loads `path` into `store` when the file exists (a missing file is an empty cluster).
pub fn load(path: &Path, store: &mut Store) -> Result<(), Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::ReadState {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    let state: Value = serde_json::from_str(&text).map_err(|source| Error::LoadState {
        path: path.to_path_buf(),
        source,
    })?;
    let objects = state["objects"].as_array().cloned().unwrap_or_default();
    // CRDs first, so their resources are served before their objects load.
    let (crds, rest): (Vec<Value>, Vec<Value>) = objects
        .into_iter()
        .partition(|o| o["group"] == "apiextensions.k8s.io");
    for entry in crds.into_iter().chain(rest) {
        let key = (
            entry["group"].as_str().unwrap_or_default().to_string(),
            entry["resource"].as_str().unwrap_or_default().to_string(),
        );
        if key.0 == "apiextensions.k8s.io" && key.1 == "customresourcedefinitions" {
            store.registry.add_crd(&entry["object"]);
        }
        store.load(&key, entry["object"].clone());
    }
    let rv = state["resourceVersion"].as_u64().unwrap_or(1);
    store.set_rv(rv);
    Ok(())
}

/// The state file's JSON for the current store.
fn snapshot(store: &Store) -> Value {
    let objects: Vec<Value> = store
        .all()
        .map(
            |((group, resource), obj)| json!({"group": group, "resource": resource, "object": obj}),
        )
        .collect();
    json!({"resourceVersion": store.current_rv(), "objects": objects})
}

/// The state file's bytes for the current store (pretty JSON).
pub fn snapshot_text(store: &Store) -> Vec<u8> {
    serde_json::to_vec_pretty(&snapshot(store)).unwrap_or_default()
}

/// Writes `text` to `path` via a temp file and rename, so readers never see half a file.
///
/// # Errors
/// [`Error::SaveState`] when the directory, the temp file or the rename fails.
pub fn write_atomically(path: &Path, text: &[u8]) -> Result<(), Error> {
    let tmp = path.with_extension("tmp");
    let write = |p: &Path| -> std::io::Result<()> {
        if let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(p, text)
    };
    write(&tmp)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|source| Error::SaveState {
            path: path.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_state_file_is_an_empty_cluster_and_a_corrupt_one_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::new(10);
        load(&dir.path().join("absent.json"), &mut store).unwrap();
        assert_eq!(store.all().count(), 0);
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{not json").unwrap();
        let err = load(&bad, &mut store).unwrap_err();
        assert!(err.to_string().contains("bad.json"), "{err}");
    }

    #[test]
    fn snapshots_should_restore_objects_crds_and_the_counter() {
        let mut store = Store::new(10);
        let crd = serde_json::json!({"metadata": {"name": "widgets.example.com"}, "spec": {"group": "example.com",
            "scope": "Namespaced", "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true}]}});
        store.put(
            &(
                "apiextensions.k8s.io".into(),
                "customresourcedefinitions".into(),
            ),
            crd,
        );
        store.put(
            &("example.com".into(), "widgets".into()),
            serde_json::json!({"metadata": {"name": "w", "namespace": "d"}}),
        );
        let text = serde_json::to_string(&snapshot(&store)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, text).unwrap();
        let mut restored = Store::new(10);
        load(&path, &mut restored).unwrap();
        assert!(
            restored
                .registry
                .find("example.com", "v1", "widgets")
                .is_some()
        );
        assert!(
            restored
                .get(&("example.com".into(), "widgets".into()), "d", "w")
                .is_some()
        );
        assert_eq!(restored.current_rv(), store.current_rv());
    }
}

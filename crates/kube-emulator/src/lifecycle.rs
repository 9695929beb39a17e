//! Object lifecycles beyond a single write: deletion with finalizers and preconditions,
//! ownerReference garbage collection, namespace termination, and CRDs turning into served
//! resources.
//!
//! # Caveats
//! - Garbage collection runs synchronously inside the delete request. `Background` and
//!   `Foreground` differ only in order (dependents after or before the owner); no
//!   `foregroundDeletion` finalizer is set.
//! - Dependents whose owner never existed are not collected.

use crate::meta;
use crate::resources::{ResKey, ResourceInfo};
use crate::status::{ApiError, ApiResult, ErrorKind};
use crate::store::Store;
use serde_json::{Value, json};

/// `propagationPolicy` of a delete.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Propagation {
    /// Delete the owner now, dependents right after (the default).
    #[default]
    Background,
    /// Delete dependents first, then the owner.
    Foreground,
    /// Delete the owner and strip its ownerReferences from dependents.
    Orphan,
}

impl Propagation {
    /// Parses the wire name.
    pub fn parse(s: &str) -> ApiResult<Propagation> {
        match s {
            "Background" => Ok(Propagation::Background),
            "Foreground" => Ok(Propagation::Foreground),
            "Orphan" => Ok(Propagation::Orphan),
            other => Err(ApiError::bad_request(format!(
                "invalid propagationPolicy {other:?}: expected Background, Foreground or Orphan"
            ))),
        }
    }
}

/// Options of one delete.
#[derive(Debug, Clone, Default)]
pub struct DeleteOpts {
    /// `dryRun=All`.
    pub dry_run: bool,
    /// Dependents policy.
    pub propagation: Propagation,
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub resource_version: Option<String>,
}

/// Defaults and status the server sets on create (namespaces are Active, CRDs
/// Established, Secrets default to type Opaque).
pub fn initial_status(info: &ResourceInfo, obj: &mut Value) {
    match (info.group.as_str(), info.plural.as_str()) {
        ("", "namespaces") => obj["status"] = json!({"phase": "Active"}),
        ("", "secrets")
            if obj
                .get("type")
                .is_none_or(|t| t.as_str().is_none_or(str::is_empty)) =>
        {
            obj["type"] = json!("Opaque");
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            let now = meta::now_rfc3339();
            let cond = |t: &str, reason: &str, msg: &str| json!({"type": t, "status": "True", "lastTransitionTime": now, "reason": reason, "message": msg});
            let storage: Vec<Value> = obj["spec"]["versions"]
                .as_array()
                .map(|vs| {
                    vs.iter()
                        .filter(|v| v["storage"].as_bool() == Some(true))
                        .map(|v| v["name"].clone())
                        .collect()
                })
                .unwrap_or_default();
            obj["status"] = json!({
                "conditions": [
                    cond("NamesAccepted", "NoConflicts", "no conflicts found"),
                    cond("Established", "InitialNamesAccepted", "the initial names have been accepted"),
                ],
                "acceptedNames": obj["spec"]["names"].clone(),
                "storedVersions": storage,
            });
        }
        _ => {}
    }
}

fn is_crd(info: &ResourceInfo) -> bool {
    info.group == "apiextensions.k8s.io" && info.plural == "customresourcedefinitions"
}

fn is_namespace(info: &ResourceInfo) -> bool {
    info.group.is_empty() && info.plural == "namespaces"
}

/// Side effects of a stored write: a CRD (re)defines its served resource; with workload
/// simulation on, a workload whose spec changed gets the status its controller would set.
pub fn after_write(store: &mut Store, info: &ResourceInfo, obj: &Value) {
    if is_crd(info) && meta::meta_str(obj, "deletionTimestamp").is_empty() {
        store.registry.add_crd(obj);
    }
    if store.simulate_workloads
        && let Some(status) = crate::simulate::status_for(info, obj)
    {
        let mut updated = obj.clone();
        updated["status"] = status;
        store.put(&info.key(), updated);
    }
}

/// The registry entry (any version) of a storage key.
fn info_for(store: &Store, key: &ResKey) -> Option<ResourceInfo> {
    store
        .registry
        .all()
        .iter()
        .find(|r| &r.key() == key)
        .cloned()
}

/// Deletes an object; returns it and whether deletion is pending on finalizers.
pub fn delete(
    store: &mut Store,
    info: &ResourceInfo,
    ns: &str,
    name: &str,
    o: &DeleteOpts,
) -> ApiResult<(Value, bool)> {
    let scoped_ns = if info.namespaced { ns } else { "" };
    let Some(old) = store.get(&info.key(), scoped_ns, name).cloned() else {
        return Err(ApiError::not_found(&info.group, &info.plural, name));
    };
    if let Some(uid) = &o.uid
        && uid != meta::meta_str(&old, "uid")
    {
        return Err(ApiError::new(
            ErrorKind::Conflict,
            format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta::meta_str(&old, "uid")
            ),
        ));
    }
    if let Some(rv) = &o.resource_version
        && rv != meta::meta_str(&old, "resourceVersion")
    {
        return Err(ApiError::conflict(&info.group, &info.plural, name));
    }
    if o.dry_run {
        return Ok((old, false));
    }
    let uid = meta::meta_str(&old, "uid").to_string();
    match o.propagation {
        Propagation::Orphan => orphan_dependents(store, &uid),
        Propagation::Foreground => delete_dependents(store, &uid, Propagation::Foreground),
        Propagation::Background => {}
    }
    if is_namespace(info) {
        return Ok(terminate_namespace(store, old));
    }
    if !meta::finalizers(&old).is_empty() {
        if !meta::meta_str(&old, "deletionTimestamp").is_empty() {
            return Ok((old, true));
        }
        let mut marked = old;
        let m = meta::metadata_mut(&mut marked);
        m.insert("deletionTimestamp".into(), json!(meta::now_rfc3339()));
        m.insert("deletionGracePeriodSeconds".into(), json!(0));
        return Ok((store.put(&info.key(), marked), true));
    }
    let removed = remove_now(store, info, scoped_ns, name).unwrap_or(old);
    Ok((removed, false))
}

/// Removes an object now and runs what follows: a CRD's objects and resource go away,
/// dependents are collected, a terminating namespace may finish.
pub fn remove_now(store: &mut Store, info: &ResourceInfo, ns: &str, name: &str) -> Option<Value> {
    let removed = store.remove(&info.key(), ns, name)?;
    if is_crd(info) {
        let key: ResKey = (
            removed["spec"]["group"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            removed["spec"]["names"]["plural"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        let names: Vec<(String, String)> = store
            .list(&key, None)
            .map(|o| {
                (
                    meta::meta_str(o, "namespace").to_string(),
                    meta::meta_str(o, "name").to_string(),
                )
            })
            .collect();
        for (ons, oname) in names {
            store.remove(&key, &ons, &oname);
        }
        store.drop_resource(&key);
        store.registry.remove(&key);
    }
    delete_dependents(
        store,
        meta::meta_str(&removed, "uid"),
        Propagation::Background,
    );
    if info.namespaced {
        finish_namespace(store, ns);
    }
    Some(removed)
}

fn delete_dependents(store: &mut Store, uid: &str, propagation: Propagation) {
    for (key, ns, name) in store.dependents(uid) {
        if let Some(info) = info_for(store, &key) {
            let opts = DeleteOpts {
                propagation,
                ..DeleteOpts::default()
            };
            // A dependent that vanished meanwhile is already collected.
            let _ = delete(store, &info, &ns, &name, &opts);
        }
    }
}

fn orphan_dependents(store: &mut Store, uid: &str) {
    for (key, ns, name) in store.dependents(uid) {
        if let Some(mut obj) = store.get(&key, &ns, &name).cloned() {
            if let Some(refs) = obj["metadata"]["ownerReferences"].as_array_mut() {
                refs.retain(|r| r["uid"].as_str() != Some(uid));
            }
            store.put(&key, obj);
        }
    }
}

/// Marks a namespace Terminating, deletes its contents, and removes it when empty.
fn terminate_namespace(store: &mut Store, mut ns_obj: Value) -> (Value, bool) {
    let ns = meta::meta_str(&ns_obj, "name").to_string();
    if meta::meta_str(&ns_obj, "deletionTimestamp").is_empty() {
        meta::metadata_mut(&mut ns_obj)
            .insert("deletionTimestamp".into(), json!(meta::now_rfc3339()));
        ns_obj["status"] = json!({"phase": "Terminating"});
        ns_obj = store.put(&(String::new(), "namespaces".into()), ns_obj);
    }
    let contents: Vec<(ResKey, String)> = store
        .all()
        .filter(|(_, o)| meta::meta_str(o, "namespace") == ns)
        .map(|(k, o)| (k.clone(), meta::meta_str(o, "name").to_string()))
        .collect();
    for (key, name) in contents {
        if let Some(info) = info_for(store, &key) {
            // Already-gone objects are fine: the namespace is emptying either way.
            let _ = delete(store, &info, &ns, &name, &DeleteOpts::default());
        }
    }
    match finish_namespace(store, &ns) {
        Some(removed) => (removed, false),
        None => (
            store
                .get(&(String::new(), "namespaces".into()), "", &ns)
                .cloned()
                .unwrap_or(ns_obj),
            true,
        ),
    }
}

/// Removes a terminating namespace once it holds nothing and has no finalizers.
fn finish_namespace(store: &mut Store, ns: &str) -> Option<Value> {
    let key: ResKey = (String::new(), "namespaces".into());
    let ns_obj = store.get(&key, "", ns)?;
    if meta::meta_str(ns_obj, "deletionTimestamp").is_empty()
        || !meta::finalizers(ns_obj).is_empty()
    {
        return None;
    }
    if store.namespace_len(ns) > 0 {
        return None;
    }
    store.remove(&key, "", ns)
}

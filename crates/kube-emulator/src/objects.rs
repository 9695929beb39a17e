//! Write semantics on the store: create, update, patch and the metadata rules they share
//! (uid, timestamps, generation, optimistic concurrency, status subresource, managedFields,
//! finalizers, dry-run).
//!
//! Deletion, garbage collection, namespaces and CRD lifecycles live in [`crate::lifecycle`].

use crate::defaults;
use crate::lifecycle;
use crate::meta;
use crate::patch::apply::{self, Writer};
use crate::patch::fieldset::Scope;
use crate::patch::{self, Lists, PatchType, strategic};
use crate::rbac::{self, Requester};
use crate::resources::ResourceInfo;
use crate::status::{ApiError, ApiResult, ErrorKind};
use crate::store::Store;
use crate::validation;
use serde_json::{Value, json};

/// Options shared by every write.
#[derive(Debug, Clone, Default)]
pub struct WriteOpts {
    /// `dryRun=All`: validate and return the result, store nothing.
    pub dry_run: bool,
    /// Field manager (query `fieldManager`, else derived from the user agent).
    pub manager: String,
    /// Whether the request named a field manager explicitly.
    pub manager_given: bool,
    /// Server-side apply `force`.
    pub force: bool,
    /// Subresource (`status`, `scale`) or empty.
    pub subresource: String,
    /// Who writes, when authorization is on: roles and bindings are checked against what
    /// they hold (escalation prevention).
    pub requester: Option<Requester>,
}

/// Resources kube-apiserver lets PUT create when the object is missing.
fn allow_create_on_update(info: &ResourceInfo) -> bool {
    matches!(
        (info.group.as_str(), info.plural.as_str()),
        ("", "endpoints") | ("", "events") | ("coordination.k8s.io", "leases")
    )
}

fn writer<'a>(info: &'a ResourceInfo, o: &'a WriteOpts, api_version: &'a str) -> Writer<'a> {
    let scope = match (info.status, o.subresource.as_str()) {
        (true, "status") => Scope::StatusOnly,
        (true, _) => Scope::NoStatus,
        (false, _) => Scope::All,
    };
    Writer {
        manager: &o.manager,
        api_version,
        subresource: &o.subresource,
        scope,
        lists: if info.builtin {
            Lists::Builtin
        } else {
            Lists::Custom(&info.list_types)
        },
    }
}

/// Checks `apiVersion`/`kind` of a body against the resource and fills them in.
fn check_type(info: &ResourceInfo, body: &mut Value) -> ApiResult<()> {
    let Some(map) = body.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the request body must be a JSON or YAML object",
        ));
    };
    let api_version = info.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        Some(v) if v != api_version => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({api_version})"
            )));
        }
        _ => {}
    }
    match map.get("kind").and_then(Value::as_str) {
        Some(k) if k != info.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                info.kind
            )));
        }
        _ => {}
    }
    map.insert("apiVersion".into(), json!(api_version));
    map.insert("kind".into(), json!(info.kind));
    Ok(())
}

/// Checks and sets `metadata.namespace` for the URL's namespace.
fn check_namespace(info: &ResourceInfo, ns: &str, body: &mut Value) -> ApiResult<()> {
    let given = meta::meta_str(body, "namespace").to_string();
    let m = meta::metadata_mut(body);
    if info.namespaced {
        if !given.is_empty() && given != ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        m.insert("namespace".into(), json!(ns));
    } else {
        m.remove("namespace");
    }
    Ok(())
}

/// Creates an object (POST), or validates it only under dry-run.
pub fn create(
    store: &mut Store,
    info: &ResourceInfo,
    ns: &str,
    mut body: Value,
    o: &WriteOpts,
) -> ApiResult<Value> {
    check_type(info, &mut body)?;
    check_namespace(info, ns, &mut body)?;
    if meta::meta_str(&body, "name").is_empty() {
        let prefix = meta::meta_str(&body, "generateName").to_string();
        if !prefix.is_empty() {
            let name = loop {
                let candidate = format!("{prefix}{}", meta::random_suffix());
                if store.get(&info.key(), ns, &candidate).is_none() {
                    break candidate;
                }
            };
            meta::metadata_mut(&mut body).insert("name".into(), json!(name));
        }
    }
    let name = meta::meta_str(&body, "name").to_string();
    defaults::normalize(info, &mut body)?;
    validation::validate(info, &body)?;
    check_grants(store, info, ns, &body, o)?;
    check_creatable(store, info, ns, &name)?;
    let m = meta::metadata_mut(&mut body);
    for k in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
    ] {
        m.remove(k);
    }
    m.insert("uid".into(), json!(meta::new_uid()));
    m.insert("creationTimestamp".into(), json!(meta::now_rfc3339()));
    if info.generation {
        m.insert("generation".into(), json!(1));
    } else {
        m.remove("generation");
    }
    if info.status
        && let Some(map) = body.as_object_mut()
    {
        map.remove("status");
    }
    lifecycle::initial_status(info, &mut body);
    let api_version = info.api_version();
    if !o.manager.is_empty() {
        apply::record_update(None, &mut body, &writer(info, o, &api_version));
    }
    if o.dry_run {
        return Ok(body);
    }
    let stored = store.put(&info.key(), body);
    lifecycle::after_write(store, info, &stored);
    Ok(stored)
}

/// Replaces an object (PUT); returns the object and whether it was created.
pub fn update(
    store: &mut Store,
    info: &ResourceInfo,
    ns: &str,
    name: &str,
    mut body: Value,
    o: &WriteOpts,
) -> ApiResult<(Value, bool)> {
    check_type(info, &mut body)?;
    check_namespace(info, ns, &mut body)?;
    let body_name = meta::meta_str(&body, "name");
    if body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let scoped_ns = if info.namespaced { ns } else { "" };
    let Some(old) = store.get(&info.key(), scoped_ns, name).cloned() else {
        if allow_create_on_update(info) && o.subresource.is_empty() {
            check_create_allowed(store, info, ns, name, o)?;
            return create(store, info, ns, body, o).map(|v| (v, true));
        }
        return Err(ApiError::not_found(&info.group, &info.plural, name));
    };
    check_precondition(info, &old, &body)?;
    let api_version = info.api_version();
    let out = finish_write(store, info, &old, body, o, |old, new| {
        apply::record_update(Some(old), new, &writer(info, o, &api_version))
    })?;
    Ok((out, false))
}

/// Patches an object; server-side apply may create it. Returns the object and whether it was created.
pub fn patch(
    store: &mut Store,
    info: &ResourceInfo,
    ns: &str,
    name: &str,
    ptype: PatchType,
    body: Value,
    o: &WriteOpts,
) -> ApiResult<(Value, bool)> {
    let scoped_ns = if info.namespaced { ns } else { "" };
    let old = store.get(&info.key(), scoped_ns, name).cloned();
    let api_version = info.api_version();
    if ptype == PatchType::Apply {
        return apply_patch(store, info, ns, name, old, body, o);
    }
    let Some(mut old) = old else {
        return Err(ApiError::not_found(&info.group, &info.plural, name));
    };
    old["apiVersion"] = json!(api_version);
    let new = match ptype {
        PatchType::Json => patch::json_patch(&old, &body)?,
        PatchType::Merge => patch::merge_patch(&old, &body)?,
        PatchType::Strategic if info.builtin => strategic::strategic_patch(&old, &body)?,
        _ => return Err(unsupported_patch()),
    };
    check_precondition(info, &old, &new)?;
    let mut new = new;
    check_type(info, &mut new)?;
    let out = finish_write(store, info, &old, new, o, |old, new| {
        apply::record_update(Some(old), new, &writer(info, o, &api_version))
    })?;
    Ok((out, false))
}

fn unsupported_patch() -> ApiError {
    ApiError::new(
        ErrorKind::UnsupportedMediaType,
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
    )
}

fn apply_patch(
    store: &mut Store,
    info: &ResourceInfo,
    ns: &str,
    name: &str,
    old: Option<Value>,
    mut body: Value,
    o: &WriteOpts,
) -> ApiResult<(Value, bool)> {
    if !o.manager_given {
        return Err(ApiError::bad_request(
            "PATCH, application/apply-patch+yaml: fieldManager is required for apply requests (query parameter fieldManager)",
        ));
    }
    check_type(info, &mut body)?;
    check_namespace(info, ns, &mut body)?;
    let body_name = meta::meta_str(&body, "name");
    if body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let api_version = info.api_version();
    let w = writer(info, o, &api_version);
    match old {
        None => {
            if !o.subresource.is_empty() {
                return Err(ApiError::not_found(&info.group, &info.plural, name));
            }
            check_create_allowed(store, info, ns, name, o)?;
            let mut created = apply::apply(None, &body, &w, o.force)?;
            let managed = created["metadata"]["managedFields"].take();
            // Validate and fill server metadata exactly as a create would, without storing.
            let check = WriteOpts {
                dry_run: true,
                manager: String::new(),
                manager_given: false,
                ..o.clone()
            };
            created = create(store, info, ns, created, &check)?;
            created["metadata"]["managedFields"] = managed;
            if o.dry_run {
                return Ok((created, true));
            }
            let stored = store.put(&info.key(), created);
            lifecycle::after_write(store, info, &stored);
            Ok((stored, true))
        }
        Some(mut old) => {
            old["apiVersion"] = json!(api_version);
            check_precondition(info, &old, &body)?;
            let mut new = apply::apply(Some(&old), &body, &w, o.force)?;
            if let Some(m) = new["metadata"].as_object_mut() {
                m.insert(
                    "resourceVersion".into(),
                    old["metadata"]["resourceVersion"].clone(),
                );
            }
            let out = finish_write(store, info, &old, new, o, |_, _| {})?;
            Ok((out, false))
        }
    }
}

/// Escalation prevention: a role or binding written by an authorized requester may grant only
/// what the requester holds (see [`rbac::check_escalation`]).
fn check_grants(
    store: &Store,
    info: &ResourceInfo,
    ns: &str,
    obj: &Value,
    o: &WriteOpts,
) -> ApiResult<()> {
    match &o.requester {
        Some(Requester(identity)) if info.group == rbac::GROUP => {
            rbac::check_escalation(store, identity, &info.plural, ns, obj)
        }
        _ => Ok(()),
    }
}

/// A patch or update that creates its object needs `create` as well, as in kube-apiserver.
fn check_create_allowed(
    store: &Store,
    info: &ResourceInfo,
    ns: &str,
    name: &str,
    o: &WriteOpts,
) -> ApiResult<()> {
    let Some(Requester(identity)) = &o.requester else {
        return Ok(());
    };
    let a = rbac::Attributes {
        verb: "create".into(),
        resource_request: true,
        group: info.group.clone(),
        resource: info.plural.clone(),
        namespace: if info.namespaced {
            ns.to_string()
        } else {
            String::new()
        },
        name: name.to_string(),
        ..rbac::Attributes::default()
    };
    rbac::allows(store, identity, &a)
}

/// 409 when the body names a resourceVersion other than the stored one.
fn check_precondition(info: &ResourceInfo, old: &Value, new: &Value) -> ApiResult<()> {
    let given = meta::meta_str(new, "resourceVersion");
    if !given.is_empty() && given != meta::meta_str(old, "resourceVersion") {
        return Err(ApiError::conflict(
            &info.group,
            &info.plural,
            meta::meta_str(old, "name"),
        ));
    }
    Ok(())
}

/// The shared tail of update and patch: immutable metadata, status subresource rules,
/// generation, managedFields (`record`), finalizer completion, no-op detection, storing.
fn finish_write(
    store: &mut Store,
    info: &ResourceInfo,
    old: &Value,
    mut new: Value,
    o: &WriteOpts,
    record: impl FnOnce(&Value, &mut Value),
) -> ApiResult<Value> {
    if o.subresource == "status" {
        let status = new.get("status").cloned();
        // Server-side apply computed the managers of this write; keep them.
        let managed = new["metadata"].get("managedFields").cloned();
        new = old.clone();
        if let Some(mf) = managed {
            meta::metadata_mut(&mut new).insert("managedFields".into(), mf);
        }
        match status {
            Some(s) => new["status"] = s,
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    } else if info.status {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
    keep_server_fields(info, old, &mut new);
    check_labels(info, &new)?;
    defaults::normalize(info, &mut new)?;
    validation::validate(info, &new)?;
    validation::validate_update(info, old, &new)?;
    check_grants(store, info, meta::meta_str(old, "namespace"), &new, o)?;
    record(old, &mut new);
    if same_ignoring_times(old, &new) {
        return Ok(old.clone());
    }
    if o.dry_run {
        return Ok(new);
    }
    if !meta::meta_str(&new, "deletionTimestamp").is_empty() && meta::finalizers(&new).is_empty() {
        store.put(&info.key(), new);
        let ns = meta::meta_str(old, "namespace").to_string();
        let name = meta::meta_str(old, "name").to_string();
        let removed = lifecycle::remove_now(store, info, &ns, &name);
        return Ok(removed.unwrap_or_default());
    }
    let stored = store.put(&info.key(), new);
    lifecycle::after_write(store, info, &stored);
    Ok(stored)
}

/// Equality ignoring `managedFields[].time` (Kubernetes skips no-op writes).
fn same_ignoring_times(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(list) = v["metadata"]["managedFields"].as_array_mut() {
            for e in list {
                if let Some(m) = e.as_object_mut() {
                    m.remove("time");
                }
            }
        }
        v
    };
    strip(a) == strip(b)
}

/// Stores `new`, the outcome of a dry-run write of the same request (a create when `old` is
/// `None`) that admission webhooks may have changed since; kube-apiserver stores the object
/// its webhooks admitted.
///
/// # Guarantees
/// - The write happens only if the stored object is still `old` (same resourceVersion) or, for
///   a create, still absent; otherwise 409 Conflict or AlreadyExists, and nothing changes.
/// - Server-owned metadata (uid, creationTimestamp, name, namespace, deletion fields) stays as
///   the store has it; `generation` follows the spec; the object is validated again.
///
/// # Errors
/// Conflict, AlreadyExists, NotFound, or what validation finds.
pub fn commit(
    store: &mut Store,
    info: &ResourceInfo,
    ns: &str,
    old: Option<&Value>,
    mut new: Value,
) -> ApiResult<Value> {
    let scoped_ns = if info.namespaced { ns } else { "" };
    let Some(old) = old else {
        let name = meta::meta_str(&new, "name").to_string();
        check_creatable(store, info, ns, &name)?;
        check_labels(info, &new)?;
        defaults::normalize(info, &mut new)?;
        validation::validate(info, &new)?;
        let stored = store.put(&info.key(), new);
        lifecycle::after_write(store, info, &stored);
        return Ok(stored);
    };
    let name = meta::meta_str(old, "name").to_string();
    let Some(current) = store.get(&info.key(), scoped_ns, &name) else {
        return Err(ApiError::not_found(&info.group, &info.plural, &name));
    };
    if meta::meta_str(current, "resourceVersion") != meta::meta_str(old, "resourceVersion") {
        return Err(ApiError::conflict(&info.group, &info.plural, &name));
    }
    let old = current.clone();
    if same_ignoring_times(&old, &new) {
        return Ok(old);
    }
    keep_server_fields(info, &old, &mut new);
    check_labels(info, &new)?;
    defaults::normalize(info, &mut new)?;
    validation::validate(info, &new)?;
    validation::validate_update(info, &old, &new)?;
    if !meta::meta_str(&new, "deletionTimestamp").is_empty() && meta::finalizers(&new).is_empty() {
        store.put(&info.key(), new);
        return Ok(lifecycle::remove_now(store, info, scoped_ns, &name).unwrap_or_default());
    }
    let stored = store.put(&info.key(), new);
    lifecycle::after_write(store, info, &stored);
    Ok(stored)
}

/// Keeps in `new` what the server owns of `old` (uid, creation and deletion fields, namespace,
/// name, resourceVersion) and sets `generation`: bumped when the spec changed, absent for
/// resources without one.
fn keep_server_fields(info: &ResourceInfo, old: &Value, new: &mut Value) {
    let generation = old["metadata"]["generation"].as_i64().unwrap_or(1)
        + i64::from(meta::spec_part(old) != meta::spec_part(new));
    let m = meta::metadata_mut(new);
    for k in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "namespace",
        "name",
        "resourceVersion",
    ] {
        match old["metadata"].get(k) {
            Some(v) => m.insert(k.to_string(), v.clone()),
            None => m.remove(k),
        };
    }
    if info.generation {
        m.insert("generation".into(), json!(generation));
    } else {
        m.remove("generation");
    }
}

/// A new object may be stored: its namespace exists and is not terminating, and the name is
/// free.
fn check_creatable(store: &Store, info: &ResourceInfo, ns: &str, name: &str) -> ApiResult<()> {
    if info.namespaced {
        let Some(namespace) = store.get(&(String::new(), "namespaces".into()), "", ns) else {
            return Err(ApiError::not_found("", "namespaces", ns));
        };
        if !meta::meta_str(namespace, "deletionTimestamp").is_empty() {
            return Err(ApiError::new(
                ErrorKind::Forbidden,
                format!(
                    "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                    info.plural
                ),
            ));
        }
    }
    if store
        .get(&info.key(), if info.namespaced { ns } else { "" }, name)
        .is_some()
    {
        return Err(ApiError::already_exists(&info.group, &info.plural, name));
    }
    Ok(())
}

fn check_labels(info: &ResourceInfo, obj: &Value) -> ApiResult<()> {
    let causes = meta::validate_labels(obj);
    if causes.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid(
        &info.kind,
        &info.group,
        meta::meta_str(obj, "name"),
        causes,
    ))
}

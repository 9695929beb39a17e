//! Server-side apply and field ownership (`metadata.managedFields`).
//!
//! # Guarantees
//! - A field owned by another manager with a different value than the applied one is a
//!   conflict unless `force`; forcing moves ownership to the applier.
//! - Fields the applier applied before and omits now are removed from the object, unless
//!   another manager still owns (or owns something inside) them.
//! - Writes that are not applies (create, update, patch) give their manager the fields they
//!   changed and take those fields away from every other manager.
//!
//! # Caveats
//! - Associative lists are recognised by field name: for built-ins by
//!   [`super::merge_key`]'s table, for custom resources by their CRD schema's
//!   `x-kubernetes-list-type` annotations (ports by number and protocol).
//! - No defaulting or schema: a field is "changed" when its JSON value differs.

use super::fieldset::{FieldSet, Scope, remove_at, value_at};
use super::{Lists, same_item};
use crate::meta;
use crate::status::{ApiError, Cause, ErrorKind};
use serde_json::{Map, Value, json};

/// One parsed `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    time: String,
    subresource: String,
    fields: FieldSet,
}

impl Entry {
    fn parse(v: &Value) -> Entry {
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        Entry {
            manager: s("manager"),
            operation: s("operation"),
            api_version: s("apiVersion"),
            time: s("time"),
            subresource: s("subresource"),
            fields: FieldSet::from_json(&v["fieldsV1"]),
        }
    }

    fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("manager".into(), json!(self.manager));
        m.insert("operation".into(), json!(self.operation));
        m.insert("apiVersion".into(), json!(self.api_version));
        m.insert("time".into(), json!(self.time));
        m.insert("fieldsType".into(), json!("FieldsV1"));
        m.insert("fieldsV1".into(), self.fields.to_json());
        if !self.subresource.is_empty() {
            m.insert("subresource".into(), json!(self.subresource));
        }
        Value::Object(m)
    }

    fn same_owner(&self, manager: &str, operation: &str, subresource: &str) -> bool {
        self.manager == manager && self.operation == operation && self.subresource == subresource
    }
}

fn entries_of(obj: &Value) -> Vec<Entry> {
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|a| a.iter().map(Entry::parse).collect())
        .unwrap_or_default()
}

fn store_entries(obj: &mut Value, entries: Vec<Entry>) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(Entry::to_json)
        .collect();
    let meta = meta::metadata_mut(obj);
    if list.is_empty() {
        meta.remove("managedFields");
    } else {
        meta.insert("managedFields".into(), Value::Array(list));
    }
}

/// Who writes, and how the object's fields are scoped.
#[derive(Debug, Clone)]
pub struct Writer<'a> {
    /// Field manager name.
    pub manager: &'a str,
    /// `apiVersion` the request used.
    pub api_version: &'a str,
    /// `"status"` for status subresource writes, else `""`.
    pub subresource: &'a str,
    /// Which part of the object the write covers.
    pub scope: Scope,
    /// How the resource's lists merge.
    pub lists: Lists<'a>,
}

/// Renders a field-set path as Kubernetes prints it in conflicts (`.spec.containers[name="a"].image`).
pub fn path_string(path: &[String]) -> String {
    let mut out = String::new();
    for p in path {
        if let Some(f) = p.strip_prefix("f:") {
            out.push('.');
            out.push_str(f);
        } else if let Some(k) = p.strip_prefix("k:") {
            let keys: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
            let inner: Vec<String> = keys.iter().map(|(a, b)| format!("{a}={b}")).collect();
            out.push_str(&format!("[{}]", inner.join(",")));
        } else if let Some(v) = p.strip_prefix("v:") {
            out.push_str(&format!("[={v}]"));
        }
    }
    out
}

/// Server-side applies `config` onto `live` (None: create), returning the new object with
/// updated `managedFields`, or a 409 Conflict listing every conflicting field.
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    w: &Writer,
    force: bool,
) -> Result<Value, ApiError> {
    let base = live.cloned().unwrap_or_else(|| json!({}));
    let mut entries = entries_of(&base);
    let new_set = FieldSet::from_object(config, w.scope, w.lists);
    let mut conflicts: Vec<(String, Vec<String>)> = Vec::new();
    for leaf in new_set.leaves() {
        // List items and (empty) maps merge; only scalars and atomic lists conflict.
        let merges = leaf.last().is_some_and(|p| p.starts_with("k:"))
            || value_at(config, &leaf).is_some_and(Value::is_object);
        if merges {
            continue;
        }
        for e in &entries {
            if e.same_owner(w.manager, "Apply", w.subresource) || !e.fields.has_leaf(&leaf) {
                continue;
            }
            if value_at(&base, &leaf) != value_at(config, &leaf) {
                conflicts.push((e.manager.clone(), leaf.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflict_error(&conflicts, &entries));
    }
    for (_, leaf) in &conflicts {
        for e in entries.iter_mut() {
            if !e.same_owner(w.manager, "Apply", w.subresource) {
                e.fields.remove(leaf);
            }
        }
    }
    let mut out = base.clone();
    merge_apply(&mut out, config, "", w.lists);
    let previous = entries
        .iter()
        .find(|e| e.same_owner(w.manager, "Apply", w.subresource))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    for leaf in previous.leaves() {
        let others = entries
            .iter()
            .filter(|e| !e.same_owner(w.manager, "Apply", w.subresource))
            .any(|e| e.fields.touches(&leaf));
        if !new_set.touches(&leaf) && !others {
            remove_at(&mut out, &leaf);
        }
    }
    let entry = Entry {
        manager: w.manager.to_string(),
        operation: "Apply".into(),
        api_version: w.api_version.to_string(),
        time: meta::now_rfc3339(),
        subresource: w.subresource.to_string(),
        fields: new_set,
    };
    match entries
        .iter_mut()
        .find(|e| e.same_owner(w.manager, "Apply", w.subresource))
    {
        Some(e) => {
            if e.fields != entry.fields || e.api_version != entry.api_version {
                *e = entry;
            }
        }
        None => entries.push(entry),
    }
    store_entries(&mut out, entries);
    Ok(out)
}

fn conflict_error(conflicts: &[(String, Vec<String>)], entries: &[Entry]) -> ApiError {
    let causes: Vec<Cause> = conflicts
        .iter()
        .map(|(manager, leaf)| {
            let version = entries
                .iter()
                .find(|e| &e.manager == manager)
                .map(|e| e.api_version.clone())
                .unwrap_or_default();
            Cause::new(
                "FieldManagerConflict",
                &path_string(leaf),
                format!("conflict with \"{manager}\" using {version}"),
            )
        })
        .collect();
    let lines: Vec<String> = causes
        .iter()
        .map(|c| format!("- {}: {}", c.message, c.field))
        .collect();
    let mut err = ApiError::new(
        ErrorKind::Conflict,
        format!(
            "Apply failed with {} conflict{}: {}",
            causes.len(),
            if causes.len() == 1 { "" } else { "s" },
            lines.join("\n")
        ),
    );
    err.causes = causes;
    err
}

/// Merges an applied configuration into an object: maps recursively, keyed lists by key,
/// set lists as unions, everything else replaced.
fn merge_apply(live: &mut Value, cfg: &Value, field: &str, lists: Lists) {
    match (live, cfg) {
        (Value::Object(l), Value::Object(c)) => {
            for (k, v) in c {
                if v.is_null() {
                    l.remove(k);
                    continue;
                }
                match l.get_mut(k) {
                    Some(existing) => merge_apply(existing, v, k, lists),
                    None => {
                        l.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(l), Value::Array(c)) if lists.is_set(field) => {
            for item in c {
                if !l.contains(item) {
                    l.push(item.clone());
                }
            }
        }
        (Value::Array(l), Value::Array(c)) => {
            let all: Vec<Value> = l.iter().chain(c).cloned().collect();
            match lists.keys(field, &all) {
                Some(keys) => {
                    for item in c {
                        match l.iter_mut().find(|x| same_item(x, item, &keys)) {
                            Some(existing) => merge_apply(existing, item, "", lists),
                            None => l.push(item.clone()),
                        }
                    }
                }
                None => *l = c.clone(),
            }
        }
        (live, cfg) => *live = cfg.clone(),
    }
}

/// Records a non-apply write by `w.manager`: it gains the fields it changed, which every
/// other manager loses; fields that disappeared are dropped from every manager.
pub fn record_update(old: Option<&Value>, new: &mut Value, w: &Writer) {
    let empty = json!({});
    let old = old.unwrap_or(&empty);
    let mut entries = entries_of(old);
    let new_set = FieldSet::from_object(new, w.scope, w.lists);
    let old_set = FieldSet::from_object(old, w.scope, w.lists);
    let changed: Vec<Vec<String>> = new_set
        .leaves()
        .into_iter()
        .filter(|leaf| value_at(old, leaf) != value_at(new, leaf))
        .collect();
    let gone: Vec<Vec<String>> = old_set
        .leaves()
        .into_iter()
        .filter(|leaf| !new_set.touches(leaf))
        .collect();
    if changed.is_empty() && gone.is_empty() {
        store_entries(new, entries);
        return;
    }
    for e in entries.iter_mut() {
        for leaf in gone.iter().chain(changed.iter()) {
            e.fields.remove(leaf);
        }
    }
    let pos = entries
        .iter()
        .position(|e| e.same_owner(w.manager, "Update", w.subresource));
    let mut entry = match pos {
        Some(i) => entries.remove(i),
        None => Entry {
            manager: w.manager.to_string(),
            operation: "Update".into(),
            api_version: w.api_version.to_string(),
            time: String::new(),
            subresource: w.subresource.to_string(),
            fields: FieldSet::default(),
        },
    };
    for leaf in &changed {
        entry.fields.insert(leaf);
    }
    entry.time = meta::now_rfc3339();
    entry.api_version = w.api_version.to_string();
    entries.push(entry);
    store_entries(new, entries);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(manager: &str) -> Writer<'_> {
        Writer {
            manager,
            api_version: "v1",
            subresource: "",
            scope: Scope::All,
            lists: Lists::Builtin,
        }
    }

    fn cm(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data})
    }

    #[test]
    fn apply_by_another_manager_should_conflict_unless_forced() {
        let a = apply(None, &cm(json!({"k": "1"})), &writer("a"), false).unwrap();
        let err = apply(Some(&a), &cm(json!({"k": "2"})), &writer("b"), false).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Conflict);
        assert_eq!(err.causes[0].field, ".data.k");
        assert!(
            err.message.contains("conflict with \"a\""),
            "{}",
            err.message
        );
        let forced = apply(Some(&a), &cm(json!({"k": "2"})), &writer("b"), true).unwrap();
        assert_eq!(forced["data"]["k"], "2");
        let managers: Vec<_> = forced["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["manager"].clone())
            .collect();
        assert_eq!(managers, vec![json!("b")]);
    }

    #[test]
    fn same_value_should_be_shared_without_conflict() {
        let a = apply(None, &cm(json!({"k": "1"})), &writer("a"), false).unwrap();
        let b = apply(Some(&a), &cm(json!({"k": "1"})), &writer("b"), false).unwrap();
        assert_eq!(b["metadata"]["managedFields"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn fields_dropped_from_a_later_apply_should_be_removed_unless_owned_by_others() {
        let a = apply(
            None,
            &cm(json!({"k": "1", "j": "2", "s": "3"})),
            &writer("a"),
            false,
        )
        .unwrap();
        let b = apply(Some(&a), &cm(json!({"s": "3"})), &writer("b"), false).unwrap();
        let a2 = apply(Some(&b), &cm(json!({"k": "1"})), &writer("a"), false).unwrap();
        assert_eq!(a2["data"], json!({"k": "1", "s": "3"}));
    }

    #[test]
    fn containers_should_merge_by_name_across_managers() {
        let dep = |c: Value| json!({"metadata": {"name": "d"}, "spec": {"template": {"spec": {"containers": c}}}});
        let a = apply(
            None,
            &dep(json!([{"name": "app", "image": "a"}])),
            &writer("a"),
            false,
        )
        .unwrap();
        let b = apply(
            Some(&a),
            &dep(json!([{"name": "side", "image": "s"}])),
            &writer("b"),
            false,
        )
        .unwrap();
        assert_eq!(
            b["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let a2 = apply(Some(&b), &dep(json!([])), &writer("a"), false).unwrap();
        let names: Vec<_> = a2["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].clone())
            .collect();
        assert_eq!(names, vec![json!("side")]);
    }

    /// xorshift64: a deterministic pseudo-random sequence without a dependency.
    fn next(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn random_apply_sequences_should_keep_ownership_and_data_consistent() {
        let managers = ["a", "b", "c"];
        let keys = ["k0", "k1", "k2", "k3"];
        for seed in 1..200u64 {
            let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut obj: Option<Value> = None;
            for _ in 0..12 {
                let manager = managers[(next(&mut rng) % 3) as usize];
                let mut data = serde_json::Map::new();
                for k in keys {
                    if next(&mut rng).is_multiple_of(2) {
                        data.insert(k.into(), json!(format!("v{}", next(&mut rng) % 2)));
                    }
                }
                let force = next(&mut rng).is_multiple_of(3);
                let config = cm(Value::Object(data.clone()));
                // Expected conflicts: keys another manager owns with a different live value.
                let live = obj.clone().unwrap_or_else(|| json!({}));
                let mut expected: Vec<String> = Vec::new();
                for e in entries_of(&live) {
                    if e.manager == manager {
                        continue;
                    }
                    for (k, v) in &data {
                        let path = vec!["f:data".to_string(), format!("f:{k}")];
                        if e.fields.has_leaf(&path) && live["data"].get(k) != Some(v) {
                            expected.push(format!(".data.{k}"));
                        }
                    }
                }
                match apply(obj.as_ref(), &config, &writer(manager), force) {
                    Ok(out) => {
                        assert!(
                            force || expected.is_empty(),
                            "seed {seed}: missed conflicts {expected:?}"
                        );
                        for (k, v) in &data {
                            assert_eq!(
                                out["data"].get(k),
                                Some(v),
                                "seed {seed}: applied value wins"
                            );
                        }
                        let owned: Vec<Entry> = entries_of(&out);
                        if let Some(present) = out["data"].as_object() {
                            for k in present.keys() {
                                let path = vec!["f:data".to_string(), format!("f:{k}")];
                                assert!(
                                    owned.iter().any(|e| e.fields.has_leaf(&path)),
                                    "seed {seed}: {k} has no owner"
                                );
                            }
                        }
                        obj = Some(out);
                    }
                    Err(err) => {
                        let mut got: Vec<String> =
                            err.causes.iter().map(|c| c.field.clone()).collect();
                        got.sort();
                        got.dedup();
                        expected.sort();
                        expected.dedup();
                        assert!(!force, "seed {seed}: forced applies never conflict");
                        assert_eq!(got, expected, "seed {seed}");
                    }
                }
            }
        }
    }

    #[test]
    fn service_ports_with_one_number_and_two_protocols_should_stay_apart() {
        let svc = |ports: Value| json!({"metadata": {"name": "dns"}, "spec": {"ports": ports}});
        let ports = json!([{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]);
        let a = apply(None, &svc(ports.clone()), &writer("a"), false).unwrap();
        let again = apply(Some(&a), &svc(ports.clone()), &writer("a"), false).unwrap();
        assert_eq!(again["spec"]["ports"], ports);
        let fields = &again["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]["f:ports"];
        assert!(
            fields.get("k:{\"port\":53,\"protocol\":\"UDP\"}").is_some(),
            "{fields}"
        );
        let only_udp = apply(
            Some(&again),
            &svc(json!([{"name": "dns", "port": 53, "protocol": "UDP"}])),
            &writer("a"),
            false,
        )
        .unwrap();
        assert_eq!(
            only_udp["spec"]["ports"],
            json!([{"name": "dns", "port": 53, "protocol": "UDP"}])
        );
    }

    #[test]
    fn updates_should_take_ownership_of_changed_fields() {
        let a = apply(None, &cm(json!({"k": "1"})), &writer("a"), false).unwrap();
        let mut edited = a.clone();
        edited["data"]["k"] = json!("9");
        record_update(Some(&a), &mut edited, &writer("kubectl-edit"));
        let err = apply(Some(&edited), &cm(json!({"k": "1"})), &writer("a"), false).unwrap_err();
        assert!(err.message.contains("kubectl-edit"), "{}", err.message);
    }
}

//! Field sets in the `fieldsV1` shape of `metadata.managedFields`.
//!
//! A path element is `f:<field>` (map field), `k:<json>` (list item identified by its merge
//! key), or `v:<json>` (set-list value); a `.` entry marks a list item owned as a whole.
//! Atomic lists and scalars are leaves.

use super::{Lists, key_value, same_item};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// A set of owned field paths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    children: BTreeMap<String, FieldSet>,
    itself: bool,
}

/// Metadata fields the server owns; never part of a field set.
const SERVER_META: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
];

/// Which part of an object a field set covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything but status (resources with a status subresource).
    NoStatus,
    /// Only `status` (writes to the status subresource).
    StatusOnly,
    /// Everything (resources without a status subresource).
    All,
}

impl FieldSet {
    /// The fields present in `obj` (an applied configuration or a live object).
    pub fn from_object(obj: &Value, scope: Scope, lists: Lists) -> FieldSet {
        let mut set = FieldSet::default();
        let Some(map) = obj.as_object() else {
            return set;
        };
        for (k, v) in map {
            let keep = match k.as_str() {
                "apiVersion" | "kind" => false,
                "status" => scope != Scope::NoStatus,
                _ => scope != Scope::StatusOnly,
            };
            if !keep {
                continue;
            }
            let child = if k == "metadata" {
                let meta: Map<String, Value> = v
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .filter(|(mk, _)| !SERVER_META.contains(&mk.as_str()))
                            .map(|(a, b)| (a.clone(), b.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                if meta.is_empty() {
                    continue;
                }
                value_set(&Value::Object(meta), k, lists)
            } else {
                value_set(v, k, lists)
            };
            set.children.insert(format!("f:{k}"), child);
        }
        set
    }

    /// Parses a `fieldsV1` JSON value.
    pub fn from_json(v: &Value) -> FieldSet {
        let mut set = FieldSet::default();
        if let Some(map) = v.as_object() {
            for (k, child) in map {
                if k == "." {
                    set.itself = true;
                } else {
                    set.children.insert(k.clone(), FieldSet::from_json(child));
                }
            }
        }
        set
    }

    /// Renders the set as `fieldsV1` JSON.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        if self.itself {
            map.insert(".".into(), json!({}));
        }
        for (k, c) in &self.children {
            map.insert(k.clone(), c.to_json());
        }
        Value::Object(map)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.children.is_empty() && !self.itself
    }

    /// Every leaf path (field leaves and owned list items).
    pub fn leaves(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        if self.itself || (self.children.is_empty() && !prefix.is_empty()) {
            out.push(prefix.clone());
        }
        for (k, c) in &self.children {
            prefix.push(k.clone());
            c.collect(prefix, out);
            prefix.pop();
        }
    }

    /// Whether `path` is a leaf (or owned item) of this set.
    pub fn has_leaf(&self, path: &[String]) -> bool {
        match self.node(path) {
            Some(n) => n.itself || n.children.is_empty(),
            None => false,
        }
    }

    /// Whether `path` is in this set at all (as a leaf, an item or an intermediate node).
    pub fn touches(&self, path: &[String]) -> bool {
        self.node(path).is_some()
    }

    fn node(&self, path: &[String]) -> Option<&FieldSet> {
        let mut cur = self;
        for p in path {
            cur = cur.children.get(p)?;
        }
        Some(cur)
    }

    /// Adds a leaf path.
    pub fn insert(&mut self, path: &[String]) {
        let mut cur = self;
        for p in path {
            cur = cur.children.entry(p.clone()).or_default();
        }
        if path.last().is_some_and(|p| p.starts_with("k:")) {
            cur.itself = true;
        }
    }

    /// Removes a leaf path and any now-empty parents.
    pub fn remove(&mut self, path: &[String]) {
        let Some((first, rest)) = path.split_first() else {
            self.itself = false;
            self.children.clear();
            return;
        };
        if let Some(child) = self.children.get_mut(first) {
            if rest.is_empty() {
                if child.children.is_empty() {
                    self.children.remove(first);
                } else {
                    child.itself = false;
                }
            } else {
                child.remove(rest);
                if child.is_empty() {
                    self.children.remove(first);
                }
            }
        }
    }
}

fn value_set(v: &Value, field: &str, lists: Lists) -> FieldSet {
    let mut set = FieldSet::default();
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, c) in m {
                set.children
                    .insert(format!("f:{k}"), value_set(c, k, lists));
            }
        }
        Value::Array(items) if lists.is_set(field) => {
            for item in items {
                set.children
                    .insert(format!("v:{item}"), FieldSet::default());
            }
        }
        Value::Array(items) => {
            if let Some(keys) = lists.keys(field, items) {
                for item in items {
                    let mut child = value_set(item, "", lists);
                    child.itself = true;
                    set.children.insert(item_key(&keys, item), child);
                }
            }
        }
        _ => {}
    }
    set
}

/// The `k:` path element of a keyed list item (`k:{"port":53,"protocol":"UDP"}`).
pub fn item_key(keys: &[&str], item: &Value) -> String {
    let m: Map<String, Value> = keys
        .iter()
        .map(|k| (k.to_string(), key_value(item, k)))
        .collect();
    format!("k:{}", Value::Object(m))
}

/// The value at a field-set path in `obj`, if present.
pub fn value_at<'a>(obj: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = obj;
    for p in path {
        cur = step(cur, p)?;
    }
    Some(cur)
}

fn find_index(items: &[Value], p: &str) -> Option<usize> {
    if let Some(k) = p.strip_prefix("k:") {
        let keys: Map<String, Value> = serde_json::from_str(k).ok()?;
        let names: Vec<&str> = keys.keys().map(String::as_str).collect();
        let wanted = Value::Object(keys.clone());
        return items.iter().position(|i| same_item(i, &wanted, &names));
    }
    let want: Value = serde_json::from_str(p.strip_prefix("v:")?).ok()?;
    items.iter().position(|i| *i == want)
}

fn step<'a>(cur: &'a Value, p: &str) -> Option<&'a Value> {
    if let Some(f) = p.strip_prefix("f:") {
        return cur.get(f);
    }
    let items = cur.as_array()?;
    items.get(find_index(items, p)?)
}

fn step_mut<'a>(cur: &'a mut Value, p: &str) -> Option<&'a mut Value> {
    if let Some(f) = p.strip_prefix("f:") {
        return cur.get_mut(f);
    }
    let i = find_index(cur.as_array()?, p)?;
    cur.as_array_mut()?.get_mut(i)
}

fn parent_mut<'a>(obj: &'a mut Value, parents: &[String]) -> Option<&'a mut Value> {
    let mut cur = obj;
    for p in parents {
        cur = step_mut(cur, p)?;
    }
    Some(cur)
}

/// Removes the value at a field-set path from `obj`, then prunes maps left empty.
pub fn remove_at(obj: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    remove_child(obj, parents, last);
    for depth in (1..=parents.len()).rev() {
        let path = &parents[..depth];
        let empty = value_at(obj, path).is_some_and(|v| v.as_object().is_some_and(Map::is_empty));
        if !(empty && path[depth - 1].starts_with("f:")) {
            break;
        }
        remove_child(obj, &path[..depth - 1], &path[depth - 1]);
    }
}

fn remove_child(obj: &mut Value, parents: &[String], last: &str) {
    let Some(parent) = parent_mut(obj, parents) else {
        return;
    };
    if let Some(f) = last.strip_prefix("f:") {
        if let Some(m) = parent.as_object_mut() {
            m.remove(f);
        }
    } else if let Some(arr) = parent.as_array_mut()
        && let Some(i) = find_index(arr, last)
    {
        arr.remove(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn field_sets_should_key_containers_and_skip_server_metadata() {
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "x", "labels": {"a": "1"}},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "i"}]}}},
            "status": {"replicas": 1}});
        let set = FieldSet::from_object(&obj, Scope::NoStatus, Lists::Builtin);
        let j = set.to_json();
        assert_eq!(j["f:metadata"], json!({"f:labels": {"f:a": {}}}));
        let c = &j["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"app\"}"];
        assert_eq!(c, &json!({".": {}, "f:image": {}, "f:name": {}}));
        assert!(j.get("f:status").is_none());
        assert_eq!(FieldSet::from_json(&j), set);
    }

    #[test]
    fn values_should_be_found_and_removed_by_path() {
        let mut obj = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b"}]},
                             "metadata": {"labels": {"only": "1"}}});
        let path = p(&["f:spec", "f:containers", "k:{\"name\":\"a\"}", "f:image"]);
        assert_eq!(value_at(&obj, &path), Some(&json!("x")));
        remove_at(&mut obj, &path);
        assert_eq!(obj["spec"]["containers"][0], json!({"name": "a"}));
        remove_at(
            &mut obj,
            &p(&["f:spec", "f:containers", "k:{\"name\":\"b\"}"]),
        );
        assert_eq!(obj["spec"]["containers"].as_array().unwrap().len(), 1);
        remove_at(&mut obj, &p(&["f:metadata", "f:labels", "f:only"]));
        assert!(obj.get("metadata").is_none());
    }
}

//! Strategic merge patch for built-in objects.
//!
//! Supported: merge keys from [`super::merge_key`]; `null` deletes a field; list items with
//! `$patch: delete` are removed by key; `$patch: replace` on a map or as a list element
//! replaces it; `$deleteFromPrimitiveList/<field>`; `$retainKeys`; primitive set lists
//! (`finalizers`) are merged as sets. `$setElementOrder/<field>` is accepted and ignored
//! (order of merged items is: existing items, then new ones). Lists without a merge key
//! are replaced, as Kubernetes does for lists without a patch strategy.

use super::{is_set_list, merge_key};
use crate::status::{ApiError, ApiResult};
use serde_json::{Map, Value};

/// Applies a strategic merge patch to a copy of `obj`.
pub fn strategic_patch(obj: &Value, patch: &Value) -> ApiResult<Value> {
    let Some(patch) = patch.as_object() else {
        return Err(ApiError::bad_request(
            "invalid strategic merge patch: the body must be a JSON object",
        ));
    };
    let mut out = obj.clone();
    match out.as_object_mut() {
        Some(map) => merge_map(map, patch),
        None => return Ok(strip(&Value::Object(patch.clone()))),
    }
    Ok(out)
}

fn merge_map(orig: &mut Map<String, Value>, patch: &Map<String, Value>) {
    if patch.get("$patch").and_then(Value::as_str) == Some("replace") {
        if let Value::Object(m) = strip(&Value::Object(patch.clone())) {
            *orig = m;
        }
        return;
    }
    for (k, pv) in patch {
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(del)) = (orig.get_mut(field), pv.as_array()) {
                list.retain(|x| !del.contains(x));
            }
            continue;
        }
        if k.starts_with('$') {
            continue;
        }
        match (orig.get_mut(k), pv) {
            (_, Value::Null) => {
                orig.remove(k);
            }
            (Some(Value::Object(_)), Value::Object(p))
                if p.get("$patch").and_then(Value::as_str) == Some("delete") =>
            {
                orig.remove(k);
            }
            (Some(Value::Object(o)), Value::Object(p)) => merge_map(o, p),
            (Some(Value::Array(o)), Value::Array(p)) => merge_list(k, o, p),
            (_, other) => {
                orig.insert(k.clone(), strip(other));
            }
        }
    }
    if let Some(Value::Array(keep)) = patch.get("$retainKeys") {
        orig.retain(|k, _| keep.iter().any(|x| x.as_str() == Some(k)));
    }
}

fn merge_list(field: &str, orig: &mut Vec<Value>, patch: &[Value]) {
    let replace = patch
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"));
    if replace {
        *orig = patch
            .iter()
            .filter(|i| i.get("$patch").is_none())
            .map(strip)
            .collect();
        return;
    }
    if is_set_list(field) {
        for item in patch {
            if !orig.contains(item) {
                orig.push(item.clone());
            }
        }
        return;
    }
    let sample: Vec<Value> = orig
        .iter()
        .chain(patch)
        .filter(|i| i.get("$patch").is_none())
        .cloned()
        .collect();
    let Some(key) = merge_key(field, &sample) else {
        *orig = patch.iter().map(strip).collect();
        return;
    };
    for item in patch {
        let id = item.get(key);
        let pos = orig.iter().position(|o| o.get(key) == id);
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, item.as_object()) {
            (Some(i), _) if delete => {
                orig.remove(i);
            }
            (_, _) if delete => {}
            (Some(i), Some(p)) => {
                if let Value::Object(o) = &mut orig[i] {
                    merge_map(o, p);
                }
            }
            (None, _) => orig.push(strip(item)),
            (Some(i), None) => orig[i] = item.clone(),
        }
    }
}

/// Removes `$`-directives from a value being inserted.
fn strip(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "a:1", "env": [{"name": "A", "value": "1"}],
             "ports": [{"containerPort": 80}]},
            {"name": "side", "image": "s:1"}
        ]}}}, "metadata": {"finalizers": ["x"]}})
    }

    #[test]
    fn containers_should_merge_by_name_and_env_by_name() {
        let p = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "app", "image": "a:2", "env": [{"name": "B", "value": "2"}]}
        ]}}}});
        let out = strategic_patch(&deployment(), &p).unwrap();
        let c = &out["spec"]["template"]["spec"]["containers"];
        assert_eq!(c.as_array().unwrap().len(), 2);
        assert_eq!(c[0]["image"], "a:2");
        assert_eq!(c[0]["env"].as_array().unwrap().len(), 2);
        assert_eq!(c[0]["ports"][0]["containerPort"], 80);
    }

    #[test]
    fn patch_directives_should_delete_and_replace() {
        let p = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "side", "$patch": "delete"}
        ]}}}, "metadata": {"finalizers": ["y"]}});
        let out = strategic_patch(&deployment(), &p).unwrap();
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["x", "y"]));
        let p = json!({"spec": {"template": {"spec": {"$patch": "replace", "containers": []}}}});
        let out = strategic_patch(&deployment(), &p).unwrap();
        assert_eq!(out["spec"]["template"]["spec"], json!({"containers": []}));
        let p = json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]}});
        assert_eq!(
            strategic_patch(&deployment(), &p).unwrap()["metadata"]["finalizers"],
            json!([])
        );
    }

    #[test]
    fn lists_without_merge_keys_should_be_replaced() {
        let obj = json!({"spec": {"args": ["a", "b"]}});
        let out = strategic_patch(&obj, &json!({"spec": {"args": ["c"]}})).unwrap();
        assert_eq!(out["spec"]["args"], json!(["c"]));
    }
}

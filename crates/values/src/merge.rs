//! Deep merge of values layers: maps merge key by key, arrays and scalars replace.
//!
//! This is the workspace's one layering implementation: static values files
//! ([`crate::ValuesFile`]), schema defaults, config values and the store's sections all merge
//! through [`merge_into`], so every layer follows the same rule.

use serde_json::Value;

/// Merges `overlay` into `base`: maps merge recursively, anything else in `overlay` replaces.
///
/// This is addon-operator's layering rule. A `null` in the overlay replaces too (it is a value,
/// not a deletion), which matches Helm's values merge for non-map targets.
pub fn merge_into(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(base_map), Value::Object(overlay_map)) => {
            for (key, value) in overlay_map {
                match base_map.get_mut(key) {
                    Some(existing) => merge_into(existing, value),
                    None => {
                        base_map.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, overlay) => *base = overlay.clone(),
    }
}

/// Merges layers in order (later wins) into a new value, starting from an empty map.
pub fn merge_layers<'a>(layers: impl IntoIterator<Item = &'a Value>) -> Value {
    let mut result = Value::Object(serde_json::Map::new());
    for layer in layers {
        merge_into(&mut result, layer);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn maps_merge_deeply_and_later_layers_win() {
        let merged = merge_layers([
            &json!({"a": {"b": 1, "c": 2}, "x": 1}),
            &json!({"a": {"c": 3, "d": 4}}),
        ]);
        assert_eq!(merged, json!({"a": {"b": 1, "c": 3, "d": 4}, "x": 1}));
    }

    #[test]
    fn arrays_and_scalars_replace_instead_of_merging() {
        let merged = merge_layers([
            &json!({"list": [1, 2, 3], "s": "a", "m": {"k": 1}}),
            &json!({"list": [9], "s": {"now": "map"}, "m": 5}),
        ]);
        assert_eq!(merged, json!({"list": [9], "s": {"now": "map"}, "m": 5}));
    }

    #[test]
    fn null_in_overlay_replaces_the_value() {
        let merged = merge_layers([&json!({"a": {"b": 1}}), &json!({"a": null})]);
        assert_eq!(merged, json!({"a": null}));
    }
}

//! Label and field selectors from the hook config, turned into the API's query-string form so
//! the server does the filtering.

use super::raw::{RawFieldSelector, RawLabelSelector};

/// `matchLabels` + `matchExpressions` → `a=b,c in (d,e),!f`; `None` when the selector is empty.
pub(crate) fn label_selector(
    sel: &RawLabelSelector,
    path: &str,
    errors: &mut Vec<String>,
) -> Option<String> {
    let mut parts: Vec<String> = sel
        .match_labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for (i, e) in sel.match_expressions.iter().enumerate() {
        let at = format!("{path}.matchExpressions[{i}]");
        let values = e.values.join(",");
        match (e.operator.as_str(), e.values.is_empty()) {
            ("In", false) => parts.push(format!("{} in ({values})", e.key)),
            ("NotIn", false) => parts.push(format!("{} notin ({values})", e.key)),
            ("In" | "NotIn", true) => errors.push(format!("{at}.values: required for operator {}", e.operator)),
            ("Exists", true) => parts.push(e.key.clone()),
            ("DoesNotExist", true) => parts.push(format!("!{}", e.key)),
            ("Exists" | "DoesNotExist", false) => {
                errors.push(format!("{at}.values: must be empty for operator {}", e.operator))
            }
            (other, _) => errors.push(format!(
                "{at}.operator: unknown operator {other:?} (expected In, NotIn, Exists or DoesNotExist)"
            )),
        }
    }
    (!parts.is_empty()).then(|| parts.join(","))
}

/// `matchExpressions` of `{field, operator, value}` → `field=value,field!=value` (ANDed).
pub(crate) fn field_selector(
    sel: &RawFieldSelector,
    path: &str,
    errors: &mut Vec<String>,
) -> Vec<String> {
    let mut parts = Vec::new();
    for (i, e) in sel.match_expressions.iter().enumerate() {
        match e.operator.as_str() {
            "=" | "==" | "Equals" => parts.push(format!("{}={}", e.field, e.value)),
            "!=" | "NotEquals" => parts.push(format!("{}!={}", e.field, e.value)),
            other => errors.push(format!(
                "{path}.matchExpressions[{i}].operator: unknown operator {other:?} (expected =, ==, Equals, != or NotEquals)"
            )),
        }
    }
    parts
}

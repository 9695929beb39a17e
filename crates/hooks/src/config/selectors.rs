//! Label and field selectors from the hook config, turned into the API's query-string form so
//! the server does the filtering.

use super::raw::{RawFieldSelector, RawLabelSelector};
use super::{FieldError, FieldProblem};

/// `matchLabels` + `matchExpressions` → `a=b,c in (d,e),!f`; `None` when the selector is empty.
pub(crate) fn label_selector(
    sel: &RawLabelSelector,
    path: &str,
    errors: &mut Vec<FieldError>,
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
            ("In" | "NotIn", true) => errors.push(FieldError::new(
                format!("{at}.values"),
                FieldProblem::RequiredFor(e.operator.clone()),
            )),
            ("Exists", true) => parts.push(e.key.clone()),
            ("DoesNotExist", true) => parts.push(format!("!{}", e.key)),
            ("Exists" | "DoesNotExist", false) => errors.push(FieldError::new(
                format!("{at}.values"),
                FieldProblem::EmptyFor(e.operator.clone()),
            )),
            (other, _) => errors.push(FieldError::new(
                format!("{at}.operator"),
                FieldProblem::Unknown {
                    found: other.into(),
                    expected: "In, NotIn, Exists or DoesNotExist",
                },
            )),
        }
    }
    (!parts.is_empty()).then(|| parts.join(","))
}

/// `matchExpressions` of `{field, operator, value}` → `field=value,field!=value` (ANDed).
pub(crate) fn field_selector(
    sel: &RawFieldSelector,
    path: &str,
    errors: &mut Vec<FieldError>,
) -> Vec<String> {
    let mut parts = Vec::new();
    for (i, e) in sel.match_expressions.iter().enumerate() {
        match e.operator.as_str() {
            "=" | "==" | "Equals" => parts.push(format!("{}={}", e.field, e.value)),
            "!=" | "NotEquals" => parts.push(format!("{}!={}", e.field, e.value)),
            other => errors.push(FieldError::new(
                format!("{path}.matchExpressions[{i}].operator"),
                FieldProblem::Unknown {
                    found: other.into(),
                    expected: "=, ==, Equals, != or NotEquals",
                },
            )),
        }
    }
    parts
}

//! Strings in values that templates pass to `tpl`: Go templates in Helm, so handlebars in the
//! module.

use serde_json::Value;

use crate::emit::{EmitContext, Unconverted, emit};
use crate::parse::parse;

/// Converts every string containing `{{` under each of `paths` in `values` (in place) from a
/// Go template to handlebars; problems are returned with the dotted key.
pub(crate) fn convert_tpl_strings(
    values: &mut Value,
    paths: &[Vec<String>],
    cx: &EmitContext,
    problems: &mut Vec<(String, Unconverted)>,
) {
    for path in paths {
        let pointer: String = path
            .iter()
            .map(|k| format!("/{}", k.replace('~', "~0").replace('/', "~1")))
            .collect();
        if let Some(node) = values.pointer_mut(&pointer) {
            convert_strings(node, &path.join("."), cx, problems);
        }
    }
}

fn convert_strings(
    v: &mut Value,
    key: &str,
    cx: &EmitContext,
    problems: &mut Vec<(String, Unconverted)>,
) {
    match v {
        Value::String(s) if s.contains("{{") => match template_string(s, cx) {
            Ok(converted) => *s = converted,
            Err(found) => problems.extend(found.into_iter().map(|u| (key.to_owned(), u))),
        },
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                convert_strings(item, &format!("{key}[{i}]"), cx, problems);
            }
        }
        // Keys are never templates; only the values under them.
        Value::Object(map) => {
            for (k, item) in map.iter_mut() {
                let key = if key.is_empty() {
                    k.clone()
                } else {
                    format!("{key}.{k}")
                };
                convert_strings(item, &key, cx, problems);
            }
        }
        _ => {}
    }
}

/// Converts every string containing `{{` in `values` (in place) from a Go template to
/// handlebars, as values that reach `tpl` must be in a converted module (e.g. a chart's CI
/// values file, or config values written for the Helm chart). Returns the problems with the
/// dotted key of each string that does not convert (never the string itself).
pub fn values_to_handlebars(values: &mut Value, cx: &EmitContext) -> Vec<(String, Unconverted)> {
    let mut problems = Vec::new();
    convert_strings(values, "", cx, &mut problems);
    problems
}

/// Converts one Go template string (no `define`s) to handlebars.
///
/// # Errors
/// Every construct that does not convert (a syntax error is one problem).
pub fn template_string(src: &str, cx: &EmitContext) -> Result<String, Vec<Unconverted>> {
    let parsed = parse(src).map_err(|e| {
        vec![Unconverted {
            pos: e.pos,
            construct: "Go template syntax".into(),
            reason: e.message,
        }]
    })?;
    let out = emit(&parsed.body, cx);
    if out.problems.is_empty() {
        Ok(out.text)
    } else {
        Err(out.problems)
    }
}

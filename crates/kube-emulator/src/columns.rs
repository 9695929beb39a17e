//! Table columns: a few per-kind columns for the built-ins people look at most, and a
//! CRD's `additionalPrinterColumns`, evaluated with a small JSONPath subset.
//!
//! Supported JSONPath: `.a.b`, `.a[0]`, `.a[*].b` (first match), and
//! `.a[?(@.k=="v")].b` — what printer columns use in practice.

use crate::meta;
use serde_json::{Value, json};

/// How a column's cell is computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cell {
    /// The value at a JSONPath.
    Path(String),
    /// The number of entries of the map or list at a JSONPath.
    Count(String),
    /// `a/b` of two numbers at JSONPaths (missing = 0).
    Ratio(String, String),
    /// A timestamp at a JSONPath shown as an age (`5m`).
    Age(String),
}

/// One Table column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// Header, e.g. `Ready`.
    pub name: String,
    /// OpenAPI type name of the cells (`string`, `integer`, `date`, ...).
    pub kind: String,
    /// How the cell is computed.
    pub cell: Cell,
}

impl Column {
    /// A column named `name` with cells of OpenAPI type `kind`.
    pub fn new(name: &str, kind: &str, cell: Cell) -> Column {
        Column {
            name: name.into(),
            kind: kind.into(),
            cell,
        }
    }
}

/// The printer columns a CRD version declares.
pub fn printer_columns(version: &Value) -> Vec<Column> {
    version["additionalPrinterColumns"]
        .as_array()
        .map(|cols| {
            cols.iter()
                .filter(|c| c["priority"].as_i64().unwrap_or(0) == 0)
                .map(|c| {
                    let p = c["jsonPath"].as_str().unwrap_or_default().to_string();
                    let kind = c["type"].as_str().unwrap_or("string").to_string();
                    let cell = if kind == "date" {
                        Cell::Age(p)
                    } else {
                        Cell::Path(p)
                    };
                    Column {
                        name: c["name"].as_str().unwrap_or_default().to_string(),
                        kind,
                        cell,
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The cell of `column` for `obj`, at time `now` (Unix seconds).
pub fn cell(column: &Column, obj: &Value, now: i64) -> Value {
    match &column.cell {
        Cell::Path(p) => eval(obj, p).cloned().unwrap_or(Value::Null),
        Cell::Count(p) => {
            let n = match eval(obj, p) {
                Some(Value::Object(m)) => m.len(),
                Some(Value::Array(a)) => a.len(),
                _ => 0,
            };
            json!(n)
        }
        Cell::Ratio(a, b) => {
            let num = |p: &str| eval(obj, p).and_then(Value::as_i64).unwrap_or(0);
            json!(format!("{}/{}", num(a), num(b)))
        }
        Cell::Age(p) => match eval(obj, p)
            .and_then(Value::as_str)
            .and_then(meta::parse_rfc3339)
        {
            Some(t) => json!(age(now - t)),
            None => Value::Null,
        },
    }
}

/// Kubernetes' short human duration (`45s`, `3m12s`, `5h`, `2d`).
pub fn age(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=119 => format!("{s}s"),
        120..=599 => format!("{}m{}s", s / 60, s % 60),
        600..=10_799 => format!("{}m", s / 60),
        10_800..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// Evaluates the JSONPath subset against `obj`, returning the first match.
pub fn eval<'a>(obj: &'a Value, jsonpath: &str) -> Option<&'a Value> {
    let mut cur = vec![obj];
    for step in steps(jsonpath.trim().trim_start_matches('$'))? {
        cur = cur.into_iter().flat_map(|v| apply(v, &step)).collect();
    }
    cur.into_iter().next()
}

#[derive(Debug, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    All,
    Filter(String, String),
}

fn steps(p: &str) -> Option<Vec<Step>> {
    let mut out = Vec::new();
    let mut rest = p;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end > 0 {
                out.push(Step::Field(r[..end].to_string()));
            }
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = &r[..end];
            out.push(bracket(inner)?);
            rest = &r[end + 1..];
        } else {
            return None;
        }
    }
    Some(out)
}

fn bracket(inner: &str) -> Option<Step> {
    if inner == "*" {
        return Some(Step::All);
    }
    if let Ok(i) = inner.parse() {
        return Some(Step::Index(i));
    }
    let cond = inner.strip_prefix("?(@.")?.strip_suffix(')')?;
    let (k, v) = cond.split_once("==")?;
    let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
    Some(Step::Filter(k.trim().to_string(), v.to_string()))
}

fn apply<'a>(v: &'a Value, step: &Step) -> Vec<&'a Value> {
    match step {
        Step::Field(f) => v.get(f).into_iter().collect(),
        Step::Index(i) => v.get(*i).into_iter().collect(),
        Step::All => v.as_array().map(|a| a.iter().collect()).unwrap_or_default(),
        Step::Filter(k, want) => v
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|item| match item.get(k) {
                        Some(Value::String(s)) => s == want,
                        Some(other) => {
                            serde_json::from_str::<Value>(want).ok().as_ref() == Some(other)
                        }
                        None => false,
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonpath_subset_should_cover_printer_column_forms() {
        let obj = json!({"spec": {"size": 3, "items": [{"n": "a"}, {"n": "b"}]},
            "status": {"conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}]}});
        assert_eq!(eval(&obj, ".spec.size"), Some(&json!(3)));
        assert_eq!(eval(&obj, ".spec.items[1].n"), Some(&json!("b")));
        assert_eq!(eval(&obj, ".spec.items[*].n"), Some(&json!("a")));
        assert_eq!(
            eval(&obj, ".status.conditions[?(@.type==\"Ready\")].status"),
            Some(&json!("True"))
        );
        assert_eq!(eval(&obj, ".spec.missing"), None);
        assert_eq!(eval(&obj, "spec"), None, "paths start with a dot");
    }

    #[test]
    fn crd_printer_columns_should_be_read_from_the_version() {
        let version = json!({"additionalPrinterColumns": [
            {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
            {"name": "Hidden", "type": "string", "jsonPath": ".spec.x", "priority": 1},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]});
        let cols = printer_columns(&version);
        assert_eq!(
            cols.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            vec!["Size", "Age"]
        );
        assert_eq!(
            cols[1].cell,
            Cell::Age(".metadata.creationTimestamp".into())
        );
    }

    #[test]
    fn ages_should_read_like_kubectl() {
        assert_eq!(age(5), "5s");
        assert_eq!(age(200), "3m20s");
        assert_eq!(age(4000), "66m");
        assert_eq!(age(90_000), "25h");
        assert_eq!(age(400_000), "4d");
    }
}

//! In-process jq filters (the jaq crates): `jqFilter` of kubernetes bindings and `JQPatch` operations.
//!
//! shell-operator runs the `jq` program (or libjq); we compile the filter once with jaq when the
//! hook config is compiled and evaluate it per object, so no process is spawned per event.

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars, data, unwrap_valr};
use jaq_json::Val;
use serde::Deserialize;
use serde_json::Value;
use std::fmt;

/// Errors from compiling or running a jq filter.
#[derive(Debug, thiserror::Error)]
pub enum JqError {
    /// The filter text does not parse or refers to an unknown function.
    #[error("invalid jq filter {filter:?}: {reason}")]
    Compile {
        /// The filter text.
        filter: String,
        /// What the parser or compiler reported.
        reason: String,
    },
    /// The filter raised an error on an input.
    #[error("jq filter {filter:?} failed: {reason}")]
    Run {
        /// The filter text.
        filter: String,
        /// The jq error value.
        reason: String,
    },
}

/// A compiled jq filter, cheap to run many times and shareable between tasks.
pub struct JqFilter {
    source: String,
    filter: jaq_core::Filter<data::JustLut<Val>>,
}

impl fmt::Debug for JqFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JqFilter").field(&self.source).finish()
    }
}

impl JqFilter {
    /// Parses and compiles `source` with jq's standard library (jaq-std + jaq-json definitions).
    pub fn compile(source: &str) -> Result<Self, JqError> {
        let compile_err = |reason: String| JqError::Compile {
            filter: source.to_string(),
            reason,
        };
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs());
        let loader = Loader::new(defs);
        let arena = Arena::default();
        let program = File {
            code: source,
            path: (),
        };
        let modules = loader.load(&arena, program).map_err(|errs| {
            let reasons: Vec<String> = errs
                .into_iter()
                .flat_map(|(_, e)| load_error_reasons(source, e))
                .collect();
            compile_err(reasons.join("; "))
        })?;
        let filter = Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errs| {
                let names: Vec<String> = errs
                    .into_iter()
                    .flat_map(|(_, es)| {
                        es.into_iter().map(|(name, undef)| {
                            format!("{}undefined {} {name}", at(source, name), undef.as_str())
                        })
                    })
                    .collect();
                compile_err(names.join("; "))
            })?;
        Ok(Self {
            source: source.to_string(),
            filter,
        })
    }

    /// The filter text as the hook declared it.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Runs the filter on `input` and returns every output value.
    pub fn run_all(&self, input: &Value) -> Result<Vec<Value>, JqError> {
        let run_err = |reason: String| JqError::Run {
            filter: self.source.clone(),
            reason,
        };
        // Deserializing from `&Value` builds the jaq value without cloning the input first.
        let val = Val::deserialize(input).map_err(|e| run_err(e.to_string()))?;
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.filter.lut, Vars::new([]));
        let mut out = Vec::new();
        for item in self.filter.id.run((ctx, val)).map(unwrap_valr) {
            let item = item.map_err(|e| run_err(e.to_string()))?;
            out.push(val_to_json(&item).map_err(|e| run_err(format!("output is not JSON: {e}")))?);
        }
        Ok(out)
    }

    /// Runs the filter and returns its result the way shell-operator stores `filterResult`:
    /// one output is that value, no output is `null`, several outputs form an array.
    pub fn run(&self, input: &Value) -> Result<Value, JqError> {
        let mut all = self.run_all(input)?;
        Ok(match all.len() {
            0 => Value::Null,
            1 => all.remove(0),
            _ => Value::Array(all),
        })
    }
}

/// What the parser or lexer reported, one reason per problem, each with its position in the
/// filter and what was expected there.
fn load_error_reasons(source: &str, err: jaq_core::load::Error<&str>) -> Vec<String> {
    use jaq_core::load::Error;
    match err {
        Error::Io(errs) => errs.into_iter().map(|(_, e)| e).collect(),
        Error::Lex(errs) => errs
            .into_iter()
            .map(|(expected, rest)| {
                let found = rest.chars().next().map_or_else(
                    || "the end of the filter".to_string(),
                    |c| format!("{c:?}"),
                );
                format!("{}expected {}, found {found}", at(source, rest), expected.as_str())
            })
            .collect(),
        Error::Parse(errs) => errs
            .into_iter()
            .map(|(expected, found)| {
                let position = at(source, found);
                let found = if found.is_empty() {
                    "the end of the filter".to_string()
                } else {
                    format!("{found:?}")
                };
                let expected = match expected.as_str() {
                    "term" => "a term (a value such as 1 or \"x\", a path such as .metadata.name, or a function call)",
                    other => other,
                };
                format!("{position}expected {expected}, found {found}")
            })
            .collect(),
    }
}

/// `line L, column C: ` of `part`, a slice of `source` the parser pointed at (columns count
/// characters, 1-based); empty when `part` is not inside `source`.
fn at(source: &str, part: &str) -> String {
    let offset = (part.as_ptr() as usize).wrapping_sub(source.as_ptr() as usize);
    if offset > source.len() || !source.is_char_boundary(offset) {
        return String::new();
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    if line == 1 {
        format!("column {column}: ")
    } else {
        format!("line {line}, column {column}: ")
    }
}

/// jaq prints values as JSON text; parsing that text back keeps numbers and strings exact.
/// jaq values JSON cannot hold (NaN, infinities) fail here.
fn val_to_json(val: &Val) -> Result<Value, serde_json::Error> {
    serde_json::from_str(&val.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filter_extracts_fields_like_jq() {
        let f =
            JqFilter::compile(r#"{name: .metadata.name, labels: (.metadata.labels // {} | keys)}"#)
                .unwrap();
        let out = f
            .run(&json!({"metadata": {"name": "a", "labels": {"x": "1", "b": "2"}}}))
            .unwrap();
        assert_eq!(out, json!({"name": "a", "labels": ["b", "x"]}));
    }

    #[test]
    fn several_outputs_become_an_array_and_none_becomes_null() {
        let f = JqFilter::compile(".[]").unwrap();
        assert_eq!(f.run(&json!([1, 2])).unwrap(), json!([1, 2]));
        assert_eq!(f.run(&json!([])).unwrap(), Value::Null);
    }

    #[test]
    fn compile_errors_name_the_filter() {
        let err = JqFilter::compile(".a | nosuchfn").unwrap_err().to_string();
        assert!(err.contains("nosuchfn"), "{err}");
        let err = JqFilter::compile(".a | (").unwrap_err().to_string();
        assert!(err.contains("invalid jq filter"), "{err}");
    }

    #[test]
    fn parse_errors_give_the_column_and_what_was_expected() {
        let err = JqFilter::compile(".metadata | ").unwrap_err().to_string();
        assert!(
            err.starts_with("invalid jq filter \".metadata | \": column 13: expected a term")
                && err.ends_with("found the end of the filter"),
            "{err}"
        );
        assert!(!err.contains("Parse("), "no debug output: {err}");
        let err = JqFilter::compile(".a | nosuchfn").unwrap_err().to_string();
        assert!(
            err.ends_with(": column 6: undefined filter nosuchfn"),
            "{err}"
        );
        let err = JqFilter::compile(".a\n| (.b").unwrap_err().to_string();
        assert!(
            err.ends_with(
                "line 2, column 6: expected closing parenthesis, found the end of the filter"
            ),
            "{err}"
        );
    }

    #[test]
    fn run_errors_are_reported() {
        let f = JqFilter::compile(r#"error("boom")"#).unwrap();
        assert!(f.run(&json!(1)).unwrap_err().to_string().contains("boom"));
    }
}

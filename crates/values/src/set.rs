//! `--set key.path=value` arguments (like `helm --set`) applied onto [`ConfigValues`].
//!
//! `echoServer.replicas=3` sets an integer, `true`/`false` booleans, `null` null, quoted text
//! (`"3"` or `'3'`) and anything else strings; `a.list[0]=x` indexes arrays (padding with
//! null); `\.` and `\,` escape; one argument may hold several assignments separated by commas.
//! The first path segment is a ConfigMap key, so the result is what the ConfigMap would produce.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::configmap::ConfigValues;
use crate::error::{Error, Errors, SetProblem};

/// One step of a `--set` path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetSegment {
    /// A map key.
    Key(String),
    /// An array index.
    Index(usize),
}

/// One parsed assignment `path=value`.
#[derive(Debug, Clone, PartialEq)]
pub struct SetAssignment {
    /// The ConfigMap key (first path segment).
    pub key: String,
    /// The path below the key.
    pub path: Vec<SetSegment>,
    /// The typed value.
    pub value: Value,
}

/// One assignment of a `--set` argument before parsing: its path as written and its value.
type RawAssignment = (String, String);

impl SetAssignment {
    /// The path as `helm --set` spells it (`echoServer.list[0].name`), for errors.
    pub fn written_path(&self) -> String {
        let mut out = self.key.clone();
        for segment in &self.path {
            match segment {
                SetSegment::Key(key) => {
                    out.push('.');
                    out.push_str(&key.replace('.', "\\."));
                }
                SetSegment::Index(index) => out.push_str(&format!("[{index}]")),
            }
        }
        out
    }
}

/// Parses one `--set` argument into its assignments; `position` is its 1-based position among
/// the `--set` arguments, used to name it in errors.
///
/// # Errors
/// [`Error::Set`] for a missing `=`, an empty path segment or a malformed `[index]`, naming
/// the argument's position and path but never its value.
pub fn parse_set(arg: &str, position: usize) -> Result<Vec<SetAssignment>, Error> {
    raw_assignments(arg, position)?
        .into_iter()
        .map(|(path, raw)| {
            let fail = |problem| Error::Set {
                arg: position,
                path: Some(path.clone()),
                problem,
            };
            let mut segments = parse_path(&path).map_err(fail)?;
            let Some(SetSegment::Key(key)) = (!segments.is_empty()).then(|| segments.remove(0))
            else {
                return Err(fail(SetProblem::NoLeadingKey));
            };
            Ok(SetAssignment {
                key,
                path: segments,
                value: typed_value(&raw),
            })
        })
        .collect()
}

/// Splits an argument into `(path, value)` pairs. A part without `=` is an error that names
/// only the argument's position: its text may be a mistyped value.
fn raw_assignments(arg: &str, position: usize) -> Result<Vec<RawAssignment>, Error> {
    split_unescaped(arg, ',')
        .into_iter()
        .map(|part| {
            part.split_once('=')
                .map(|(path, raw)| (path.to_owned(), raw.to_owned()))
                .ok_or(Error::Set {
                    arg: position,
                    path: None,
                    problem: SetProblem::MissingEquals,
                })
        })
        .collect()
}

/// Splits on `separator` outside quotes and not preceded by `\` (the escape is kept for
/// `\.` and dropped for the separator itself).
fn split_unescaped(text: &str, separator: char) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let current = parts.last_mut().map(|s| s as &mut String);
        let Some(current) = current else { break };
        match c {
            '\\' if chars.peek() == Some(&separator) => {
                current.push(separator);
                chars.next();
            }
            '"' | '\'' if quote.is_none() => {
                quote = Some(c);
                current.push(c);
            }
            c if Some(c) == quote => {
                quote = None;
                current.push(c);
            }
            c if c == separator && quote.is_none() => parts.push(String::new()),
            c => current.push(c),
        }
    }
    parts
}

fn parse_path(path: &str) -> Result<Vec<SetSegment>, SetProblem> {
    let mut segments = Vec::new();
    for dotted in split_unescaped(path, '.') {
        let (name, indexes) = match dotted.find('[') {
            Some(at) => dotted.split_at(at),
            None => (dotted.as_str(), ""),
        };
        if name.is_empty() {
            return Err(SetProblem::EmptySegment);
        }
        segments.push(SetSegment::Key(name.to_owned()));
        let mut rest = indexes;
        while let Some(inner) = rest.strip_prefix('[') {
            let (number, after) = inner.split_once(']').ok_or(SetProblem::UnclosedIndex)?;
            let index = number.parse().map_err(|_| SetProblem::BadIndex)?;
            segments.push(SetSegment::Index(index));
            rest = after;
        }
        if !rest.is_empty() {
            return Err(SetProblem::TextAfterIndex);
        }
    }
    Ok(segments)
}

/// Types a raw value the way `helm --set` does.
fn typed_value(raw: &str) -> Value {
    let unquoted = [('"', '"'), ('\'', '\'')].iter().find_map(|(open, close)| {
        raw.strip_prefix(*open)
            .and_then(|r| r.strip_suffix(*close))
            .filter(|_| raw.len() >= 2)
    });
    if let Some(text) = unquoted {
        return Value::String(text.to_owned());
    }
    match raw {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        // Leading zeros stay strings, as in Helm ("007" is not 7).
        _ if raw.len() > 1 && raw.starts_with('0') => Value::String(raw.to_owned()),
        _ => raw
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(raw.to_owned())),
    }
}

/// Sets `value` at `path` below `target`, creating maps and padding arrays as needed.
fn set_at(target: &mut Value, path: &[SetSegment], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        *target = value;
        return;
    };
    let child = match first {
        SetSegment::Key(key) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let Value::Object(map) = target else { return };
            map.entry(key.clone()).or_insert(Value::Null)
        }
        SetSegment::Index(index) => {
            if !target.is_array() {
                *target = Value::Array(Vec::new());
            }
            let Value::Array(items) = target else { return };
            if items.len() <= *index {
                items.resize(index + 1, Value::Null);
            }
            &mut items[*index]
        }
    };
    set_at(child, rest, value);
}

impl ConfigValues {
    /// Applies `--set` arguments in order; later arguments win.
    ///
    /// # Errors
    /// Every malformed argument and every unknown key or ill-typed value (e.g.
    /// `echoServerEnabled=maybe`), with the argument named; on error `self` is unchanged.
    pub fn apply_set_args<S: AsRef<str>>(
        &mut self,
        args: &[S],
        known: &BTreeSet<String>,
    ) -> Result<(), Errors> {
        let mut next = self.clone();
        let mut errors = Errors::default();
        for (index, arg) in args.iter().enumerate() {
            let position = index + 1;
            let assignments = match parse_set(arg.as_ref(), position) {
                Ok(assignments) => assignments,
                Err(error) => {
                    errors.push(error);
                    continue;
                }
            };
            for assignment in assignments {
                let path = assignment.written_path();
                if let Err(error) = next.apply_assignment(assignment, known) {
                    errors.push(Error::Set {
                        arg: position,
                        path: Some(path),
                        problem: SetProblem::Rejected(Box::new(error)),
                    });
                }
            }
        }
        errors.into_result(())?;
        *self = next;
        Ok(())
    }

    fn apply_assignment(
        &mut self,
        assignment: SetAssignment,
        known: &BTreeSet<String>,
    ) -> Result<(), Error> {
        let SetAssignment { key, path, value } = assignment;
        if path.is_empty() {
            return self.set_entry(&key, value, known);
        }
        let mut section = self
            .section(&key)
            .cloned()
            .unwrap_or(Value::Object(Map::new()));
        set_at(&mut section, &path, value);
        self.set_entry(&key, section, known)
    }

    fn section(&self, key: &str) -> Option<&Value> {
        if key == crate::configmap::GLOBAL_KEY {
            self.global.as_ref()
        } else {
            self.modules.get(key)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_typed_like_helm_set() {
        let typed = |raw| typed_value(raw);
        assert_eq!(typed("3"), json!(3));
        assert_eq!(typed("-4"), json!(-4));
        assert_eq!(typed("true"), json!(true));
        assert_eq!(typed("null"), Value::Null);
        assert_eq!(typed("\"3\""), json!("3"));
        assert_eq!(typed("'true'"), json!("true"));
        assert_eq!(typed("007"), json!("007"));
        assert_eq!(typed("1.5"), json!("1.5"));
        assert_eq!(typed(""), json!(""));
        assert_eq!(typed("\""), json!("\""));
    }

    #[test]
    fn paths_support_escapes_indexes_and_several_assignments() {
        let parsed = parse_set(r"a.b\.c[1][0]=x,d=2", 1).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].key, "a");
        assert_eq!(
            parsed[0].path,
            [
                SetSegment::Key("b.c".into()),
                SetSegment::Index(1),
                SetSegment::Index(0)
            ]
        );
        assert_eq!(parsed[1].value, json!(2));
        assert_eq!(parsed[0].written_path(), r"a.b\.c[1][0]");
        assert_eq!(parse_set(r#"a.b="x,y""#, 1).unwrap()[0].value, json!("x,y"));
        let cases = [
            ("a.b", "--set #3: missing `=`"),
            ("a..b=1", "--set #3 a..b: empty path segment"),
            ("a[x]=1", "--set #3 a[x]: array index is not a number"),
            ("a[1=1", "--set #3 a[1: unclosed `[`"),
            ("=1", "--set #3 : empty path segment"),
            ("a[1]x=1", "--set #3 a[1]x: unexpected text after an index"),
        ];
        for (bad, expected) in cases {
            let error = parse_set(bad, 3).unwrap_err().to_string();
            assert!(
                error.starts_with(expected) && error.contains("(expected key"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn errors_name_the_argument_and_path_but_never_the_value() {
        let known = BTreeSet::from(["echoServer".to_owned()]);
        let errors = ConfigValues::default()
            .apply_set_args(
                &[
                    "echoServer=SECRET-MARKER",
                    "echoServerEnabled=SECRET-MARKER",
                    "SECRET-MARKER",
                    "echoServer.a=1,SECRET-MARKER",
                ],
                &known,
            )
            .unwrap_err();
        let text = errors.to_string();
        assert_eq!(errors.len(), 4, "{text}");
        assert!(!text.contains("SECRET-MARKER"), "{text}");
        for expected in [
            "--set #1 echoServer: configmap key \"echoServer\": expected a yaml map, got a string",
            "--set #2 echoServerEnabled: configmap key \"echoServerEnabled\": expected \"true\"",
            "--set #3: missing `=`",
            "--set #4: missing `=`",
        ] {
            assert!(text.contains(expected), "{expected} not in {text}");
        }
    }

    #[test]
    fn set_at_creates_maps_and_pads_arrays() {
        let mut target = json!({"keep": 1});
        set_at(
            &mut target,
            &parse_set("x.l[2].k=v", 1).unwrap()[0].path,
            json!("v"),
        );
        assert_eq!(target, json!({"keep": 1, "l": [null, null, {"k": "v"}]}));
    }
}

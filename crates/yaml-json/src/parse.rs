//! YAML parsing into `serde_json::Value`: one document or a `---`-separated stream.
//!
//! serde_yaml cannot deserialize straight into `serde_json::Value` when a mapping has
//! non-string keys (`1: a`, `true: b`), which Kubernetes YAML sometimes has in labels or
//! data; we go through `serde_yaml::Value` and stringify scalar keys the way `kubectl` does.

use serde::Deserialize;
use serde_json::{Map, Number, Value};

/// Why a YAML document could not become JSON.
#[derive(Debug, thiserror::Error)]
pub enum YamlError {
    /// The text is not valid YAML: the parser's message, which carries line and column
    /// (transparent, so it is printed once whether shown alone or in a chain).
    #[error(transparent)]
    Syntax(serde_yaml::Error),
    /// The YAML holds something JSON cannot (a mapping used as a key, NaN, infinity).
    #[error("YAML value cannot be represented as JSON: {0}")]
    NotJson(String),
}

impl YamlError {
    /// One-based (line, column) of a syntax error, when the parser knows it.
    pub fn location(&self) -> Option<(usize, usize)> {
        match self {
            YamlError::Syntax(e) => e.location().map(|l| (l.line(), l.column())),
            YamlError::NotJson(_) => None,
        }
    }
}

/// Parses one YAML document; an empty document is `Value::Null`.
///
/// # Errors
/// [`YamlError`] when the text is not YAML or not representable as JSON.
pub fn parse_one(text: &str) -> Result<Value, YamlError> {
    if let Some(v) = fast_one(text) {
        return Ok(v);
    }
    let v: serde_yaml::Value = serde_yaml::from_str(text).map_err(YamlError::Syntax)?;
    to_json(v)
}

/// Parses one YAML document from bytes (request bodies, files read whole); an empty document
/// is `Value::Null`.
///
/// # Errors
/// [`YamlError`] when the bytes are not YAML or not representable as JSON.
pub fn from_slice(bytes: &[u8]) -> Result<Value, YamlError> {
    if let Some(v) = std::str::from_utf8(bytes).ok().and_then(fast_one) {
        return Ok(v);
    }
    let v: serde_yaml::Value = serde_yaml::from_slice(bytes).map_err(YamlError::Syntax)?;
    to_json(v)
}

/// Parses one YAML document from a reader (a file or stdin).
///
/// # Errors
/// [`YamlError`] when the input is not YAML (including I/O errors, which serde_yaml reports as
/// syntax errors) or not representable as JSON.
pub fn from_reader(reader: impl std::io::Read) -> Result<Value, YamlError> {
    let v: serde_yaml::Value = serde_yaml::from_reader(reader).map_err(YamlError::Syntax)?;
    to_json(v)
}

/// Parses a multi-document YAML stream; element `i` is document `i` (empty documents are
/// `Value::Null`, kept so that indices match the file). Parsing stops at the first broken
/// document, whose error is returned with its zero-based index.
pub fn parse_stream(text: &str) -> (Vec<Value>, Option<(usize, YamlError)>) {
    match crate::fast::parse_stream(text) {
        Some(docs) => (docs, None),
        None => serde_stream(text),
    }
}

/// [`parse_stream`] by serde_yaml alone: the authority the fast reader is tested against.
pub(crate) fn serde_stream(text: &str) -> (Vec<Value>, Option<(usize, YamlError)>) {
    let mut docs = Vec::new();
    for (i, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        match serde_yaml::Value::deserialize(de)
            .map_err(YamlError::Syntax)
            .and_then(to_json)
        {
            Ok(v) => docs.push(v),
            Err(e) => return (docs, Some((i, e))),
        }
    }
    (docs, None)
}

/// The fast reader's answer for a text of exactly one document.
fn fast_one(text: &str) -> Option<Value> {
    let mut docs = crate::fast::parse_stream(text)?;
    (docs.len() == 1).then(|| docs.pop()).flatten()
}

/// Converts a YAML value to JSON, stringifying scalar mapping keys and dropping tags.
///
/// # Errors
/// [`YamlError::NotJson`] for mapping/sequence keys and non-finite floats.
pub fn to_json(v: serde_yaml::Value) -> Result<Value, YamlError> {
    Ok(match v {
        serde_yaml::Value::Null => Value::Null,
        serde_yaml::Value::Bool(b) => Value::Bool(b),
        serde_yaml::Value::Number(n) => number(&n)?,
        serde_yaml::Value::String(s) => Value::String(s),
        serde_yaml::Value::Sequence(seq) => {
            Value::Array(seq.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        serde_yaml::Value::Mapping(m) => {
            let mut out = Map::with_capacity(m.len());
            for (k, v) in m {
                out.insert(key(k)?, to_json(v)?);
            }
            Value::Object(out)
        }
        serde_yaml::Value::Tagged(t) => to_json(t.value)?,
    })
}

fn number(n: &serde_yaml::Number) -> Result<Value, YamlError> {
    if let Some(i) = n.as_i64() {
        Ok(Value::from(i))
    } else if let Some(u) = n.as_u64() {
        Ok(Value::from(u))
    } else {
        let f = n.as_f64().unwrap_or(f64::NAN);
        Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| YamlError::NotJson(format!("non-finite number {n}")))
    }
}

fn key(k: serde_yaml::Value) -> Result<String, YamlError> {
    match k {
        serde_yaml::Value::String(s) => Ok(s),
        serde_yaml::Value::Bool(b) => Ok(b.to_string()),
        serde_yaml::Value::Number(n) => Ok(n.to_string()),
        serde_yaml::Value::Null => Ok("null".to_owned()),
        serde_yaml::Value::Tagged(t) => key(t.value),
        other => Err(YamlError::NotJson(format!(
            "mapping key {other:?} is not a scalar"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stream_keeps_empty_documents_so_indices_match_the_file() {
        let (docs, err) = parse_stream("a: 1\n---\n---\n# only a comment\n---\nb: [x]\n");
        assert!(err.is_none());
        assert_eq!(
            docs,
            vec![
                json!({"a": 1}),
                Value::Null,
                Value::Null,
                json!({"b": ["x"]})
            ]
        );
    }

    #[test]
    fn stream_reports_the_index_of_the_broken_document() {
        let (docs, err) = parse_stream("a: 1\n---\nb: [\n");
        assert_eq!(docs.len(), 1);
        let (idx, e) = err.unwrap();
        assert_eq!(idx, 1);
        assert!(e.to_string().contains("at line 4 column 1"), "{e}");
        assert!(
            std::error::Error::source(&e).is_none(),
            "the parser's message is the error's text, not also its source: {e}"
        );
    }

    #[test]
    fn scalar_keys_are_stringified_and_tags_dropped() {
        let v = parse_one("1: a\ntrue: b\nc: !foo 3\nd: 1.5\n").unwrap();
        assert_eq!(v, json!({"1": "a", "true": "b", "c": 3, "d": 1.5}));
    }

    #[test]
    fn bytes_and_readers_parse_like_text() {
        let text = "1: a\nlist: [1, 2]\n";
        let expected = json!({"1": "a", "list": [1, 2]});
        assert_eq!(from_slice(text.as_bytes()).unwrap(), expected);
        assert_eq!(from_reader(text.as_bytes()).unwrap(), expected);
        assert_eq!(from_slice(b"").unwrap(), Value::Null);
    }

    #[test]
    fn syntax_errors_carry_their_position() {
        let err = parse_one("a: 1\nb: [\n").unwrap_err();
        let (line, _column) = err.location().unwrap();
        assert_eq!(line, 3, "{err}");
    }

    #[test]
    fn mapping_keys_and_nan_are_rejected() {
        assert!(matches!(
            parse_one("? {a: 1}\n: x\n"),
            Err(YamlError::NotJson(_))
        ));
        assert!(matches!(parse_one("x: .nan\n"), Err(YamlError::NotJson(_))));
    }
}

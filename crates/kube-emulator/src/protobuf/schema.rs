//! The field table of every built-in kind (`schema.txt`, generated from k8s-pb and
//! k8s-openapi by `scripts/protobuf-schema.py`), parsed once into indexed messages.

use std::collections::HashMap;
use std::sync::OnceLock;

/// The generated table, compiled in.
const TEXT: &str = include_str!("schema.txt");

/// How often a field occurs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// At most once.
    One,
    /// Repeated: a JSON array.
    Many,
    /// `map<string, T>`: a JSON object.
    Map,
    /// An embedded Go struct whose fields appear in the parent's JSON object.
    Inline,
}

/// A field's (or map value's) type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// `string`.
    String,
    /// `int32`.
    Int32,
    /// `int64`.
    Int64,
    /// `bool`.
    Bool,
    /// `bytes`: base64 in JSON.
    Bytes,
    /// `double`.
    Double,
    /// A message, by index into [`Schema::messages`].
    Message(usize),
}

/// One field of a message.
#[derive(Debug, Clone)]
pub struct Field {
    /// Field number.
    pub tag: u32,
    /// The JSON key.
    pub json: String,
    /// How often it occurs.
    pub label: Label,
    /// Its type.
    pub ty: Type,
}

/// One message type.
#[derive(Debug, Clone)]
pub struct Message {
    /// Its name, e.g. `api.apps.v1.Deployment` (k8s-pb's module path and type).
    pub name: String,
    /// Its fields.
    pub fields: Vec<Field>,
}

impl Message {
    /// The field numbered `tag`.
    pub fn field(&self, tag: u32) -> Option<&Field> {
        self.fields.iter().find(|f| f.tag == tag)
    }
}

/// Every message of the table and the kinds that start from them.
#[derive(Debug, Default)]
pub struct Schema {
    /// All messages.
    pub messages: Vec<Message>,
    /// (apiVersion or `*`, kind) -> message index.
    kinds: HashMap<(String, String), usize>,
}

/// Why the compiled-in table does not parse (a bug of the generator or of a hand edit).
#[derive(Debug, Clone, thiserror::Error)]
#[error("protobuf schema line {line}: {what}")]
pub struct SchemaError {
    /// One-based line of `schema.txt`.
    pub line: usize,
    /// What is wrong there.
    pub what: String,
}

impl Schema {
    /// The message a body of `kind` in `api_version` holds: that exact pair, else a kind
    /// accepted under every apiVersion (`DeleteOptions`).
    pub fn kind(&self, api_version: &str, kind: &str) -> Option<usize> {
        self.kinds
            .get(&(api_version.to_string(), kind.to_string()))
            .or_else(|| self.kinds.get(&("*".to_string(), kind.to_string())))
            .copied()
    }

    /// Parses the table text.
    ///
    /// # Errors
    /// [`SchemaError`] naming the first line that does not parse.
    pub fn parse(text: &str) -> Result<Schema, SchemaError> {
        let mut schema = Schema::default();
        let mut index: HashMap<&str, usize> = HashMap::new();
        // Message references are resolved after every message is known.
        let mut pending: Vec<(usize, usize, &str, usize)> = Vec::new();
        let mut kinds: Vec<(String, String, &str, usize)> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let lineno = i + 1;
            let err = |what: &str| SchemaError {
                line: lineno,
                what: what.to_string(),
            };
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [] => {}
                [first, ..] if first.starts_with('#') => {}
                ["kind", api_version, kind, message] => {
                    kinds.push((api_version.to_string(), kind.to_string(), message, lineno));
                }
                ["message", name] => {
                    index.insert(name, schema.messages.len());
                    schema.messages.push(Message {
                        name: name.to_string(),
                        fields: Vec::new(),
                    });
                }
                [tag, json, label, ty] => {
                    let m = schema
                        .messages
                        .len()
                        .checked_sub(1)
                        .ok_or_else(|| err("a field before any message"))?;
                    let tag: u32 = tag
                        .parse()
                        .map_err(|_| err("the field number is not a number"))?;
                    let label = match *label {
                        "one" => Label::One,
                        "many" => Label::Many,
                        "map" => Label::Map,
                        "inline" => Label::Inline,
                        _ => return Err(err("unknown label")),
                    };
                    let ty = match *ty {
                        "string" => Type::String,
                        "int32" => Type::Int32,
                        "int64" => Type::Int64,
                        "bool" => Type::Bool,
                        "bytes" => Type::Bytes,
                        "double" => Type::Double,
                        other => match other.strip_prefix("message:") {
                            Some(target) => {
                                let f = schema.messages[m].fields.len();
                                pending.push((m, f, target, lineno));
                                Type::Message(usize::MAX)
                            }
                            None => return Err(err("unknown type")),
                        },
                    };
                    schema.messages[m].fields.push(Field {
                        tag,
                        json: json.to_string(),
                        label,
                        ty,
                    });
                }
                _ => return Err(err("not a kind, message or field line")),
            }
        }
        for (m, f, target, line) in pending {
            let to = *index.get(target).ok_or_else(|| SchemaError {
                line,
                what: format!("unknown message {target}"),
            })?;
            schema.messages[m].fields[f].ty = Type::Message(to);
        }
        for (api_version, kind, message, line) in kinds {
            let to = *index.get(message).ok_or_else(|| SchemaError {
                line,
                what: format!("unknown message {message}"),
            })?;
            schema.kinds.insert((api_version, kind), to);
        }
        Ok(schema)
    }
}

/// The compiled-in table, parsed on first use.
///
/// # Errors
/// The [`SchemaError`] of a broken table (a unit test keeps it from shipping).
pub fn get() -> Result<&'static Schema, &'static SchemaError> {
    static SCHEMA: OnceLock<Result<Schema, SchemaError>> = OnceLock::new();
    SCHEMA.get_or_init(|| Schema::parse(TEXT)).as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::Registry;

    #[test]
    fn the_compiled_in_table_should_parse_and_cover_every_builtin_kind() {
        let schema = get().unwrap();
        for info in Registry::builtin().all() {
            assert!(
                schema.kind(&info.api_version(), &info.kind).is_some(),
                "no protobuf schema for {} {}: rerun scripts/protobuf-schema.py",
                info.api_version(),
                info.kind
            );
        }
        assert!(schema.kind("apps/v1", "DeleteOptions").is_some());
        assert!(schema.kind("example.com/v1", "Widget").is_none());
    }

    #[test]
    fn broken_tables_should_name_the_line() {
        let err = Schema::parse("message a.B\n1 x one message:a.C\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.to_string().contains("unknown message a.C"), "{err}");
        assert_eq!(Schema::parse("1 x one string\n").unwrap_err().line, 1);
    }
}

//! JSON → YAML text that Kubernetes tools read back as the same JSON.
//!
//! `kubectl` and the API server read YAML with YAML 1.1 rules, where `off`, `on`, `yes`, `no`,
//! `y` and `n` are booleans. serde_yaml follows YAML 1.2 and writes those strings bare, so a
//! ConfigMap value `"off"` would come back as `false` and be rejected. yaml-rust2's emitter
//! quotes every string a YAML 1.1 reader would take for something else.

use serde_json::Value;
use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlEmitter};

/// Why a value could not be written as YAML.
#[derive(Debug, thiserror::Error)]
#[error("cannot write YAML: {0}")]
pub struct EmitError(String);

/// Writes `value` as one block-style YAML document (no `---` header, trailing newline).
/// Strings that YAML 1.1 or 1.2 would read as anything but that string are double-quoted;
/// multi-line strings become literal blocks (`|`) when every one of them reads back unchanged
/// that way (see [`literal_blocks_are_exact`]); otherwise all strings are double-quoted. Key
/// order is kept.
///
/// # Errors
/// [`EmitError`] only if the emitter fails, which a JSON value cannot make it do.
pub fn to_string(value: &Value) -> Result<String, EmitError> {
    let mut out = String::new();
    let mut emitter = YamlEmitter::new(&mut out);
    emitter.multiline_strings(!value.is_string() && literal_blocks_are_exact(value));
    emitter
        .dump(&to_yaml(value))
        .map_err(|e| EmitError(format!("{e:?}")))?;
    let body = out
        .strip_prefix("---\n")
        .or_else(|| out.strip_prefix("---"))
        .unwrap_or(&out)
        .trim_start_matches(' ');
    let mut body = body.to_string();
    if !body.ends_with('\n') {
        body.push('\n');
    }
    Ok(body)
}

/// True if yaml-rust2 can write every multi-line string of `value` as a literal block that
/// reads back as the same string. Its emitter writes a block line by line and relies on
/// indentation detection and the default chomping, so it would corrupt: a key (a block cannot
/// be a key), a carriage return (dropped by `lines()`), a first non-empty line that starts
/// with a space or tab (taken as indentation), and a string without a non-empty line or with
/// more than one final newline (clipped to one).
fn literal_blocks_are_exact(value: &Value) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .all(|(k, v)| !k.contains('\n') && literal_blocks_are_exact(v)),
        Value::Array(items) => items.iter().all(literal_blocks_are_exact),
        Value::String(s) if s.contains('\n') => {
            let first = s.lines().find(|line| !line.is_empty());
            !s.contains('\r')
                && !s.ends_with("\n\n")
                && first.is_some_and(|line| !line.starts_with([' ', '\t']))
        }
        _ => true,
    }
}

fn to_yaml(value: &Value) -> Yaml {
    match value {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Integer(i),
            None => Yaml::Real(n.to_string()),
        },
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(items) => Yaml::Array(items.iter().map(to_yaml).collect()),
        Value::Object(map) => {
            let mut hash = Hash::new();
            for (k, v) in map {
                hash.insert(Yaml::String(k.clone()), to_yaml(v));
            }
            Yaml::Hash(hash)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn yaml_1_1_booleans_and_lookalikes_are_quoted() {
        let v = json!({"proxy-buffering": "off", "use-gzip": "yes", "y": "n", "on": "ON",
            "octal": "0777", "hex": "0x1F", "null": "~", "float": "1e3", "merge": "<<",
            "time": "1:20", "empty": "", "comment": "#x", "colon": "a: b", "lead": " x"});
        let text = to_string(&v).unwrap();
        for line in [
            "proxy-buffering: \"off\"",
            "use-gzip: \"yes\"",
            "\"y\": \"n\"",
            "\"on\": \"ON\"",
            "octal: \"0777\"",
            "merge: \"<<\"",
            "time: \"1:20\"",
        ] {
            assert!(text.contains(line), "missing {line:?} in:\n{text}");
        }
        let back: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn documents_round_trip_with_order_kept() {
        let v = json!({"z": 1, "a": [{"x": 1.5, "y": [true, null]}], "m": {}, "l": [],
            "text": "multi\nline\n", "big": u64::MAX, "neg": -3});
        let text = to_string(&v).unwrap();
        assert!(text.starts_with("z: 1\n"), "{text}");
        assert!(text.contains("text: |\n"), "{text}");
        let back = crate::parse_one(&text).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn strings_a_literal_block_would_change_are_quoted_instead() {
        for tricky in [
            "\n \n0x1",
            "  indented\nsecond\n",
            "two final newlines\n\n",
            "\n",
            "\n\n",
            "crlf\r\nline\r\n",
            "\tTab first\nline",
        ] {
            let v = json!({"ok": "plain\nblock\n", "s": tricky, "l": [tricky]});
            let text = to_string(&v).unwrap();
            assert_eq!(crate::parse_one(&text).unwrap(), v, "{tricky:?}:\n{text}");
        }
        let text = to_string(&json!("top\nlevel\n")).unwrap();
        assert_eq!(
            crate::parse_one(&text).unwrap(),
            json!("top\nlevel\n"),
            "{text}"
        );
    }

    #[test]
    fn keys_that_span_lines_are_quoted_not_written_as_blocks() {
        let v = json!({"a\nb": {"c": "two\nlines\n"}, "list": [{"x\ny": 1}]});
        let text = to_string(&v).unwrap();
        assert!(text.starts_with("\"a\\nb\":"), "{text}");
        assert_eq!(crate::parse_one(&text).unwrap(), v, "{text}");
    }

    #[test]
    fn scalars_and_empty_collections_are_one_line() {
        assert_eq!(to_string(&json!({})).unwrap(), "{}\n");
        assert_eq!(to_string(&json!("off")).unwrap(), "\"off\"\n");
        assert_eq!(to_string(&json!(3)).unwrap(), "3\n");
    }
}

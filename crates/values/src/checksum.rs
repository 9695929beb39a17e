//! Stable checksums of a module's inputs, used to skip modules whose inputs did not change.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Returns `value` with every map's keys sorted, recursively.
///
/// The workspace enables serde_json's `preserve_order`, so two equal values can serialize
/// differently; sorting gives one canonical form for checksums and stable YAML.
pub fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), canonical(v)))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// SHA-256 (lower-case hex) of a module's effective values and its chart files.
///
/// # Guarantees
/// Independent of map key order; any change to a value, a file path or a file's bytes changes
/// the result (paths and contents are length-prefixed, so boundaries cannot shift).
pub fn checksum(values: &Value, files: &BTreeMap<String, Vec<u8>>) -> String {
    let mut hasher = Sha256::new();
    let values_json = canonical(values).to_string();
    write_framed(&mut hasher, b"values", values_json.as_bytes());
    for (path, bytes) in files {
        write_framed(&mut hasher, b"path", path.as_bytes());
        write_framed(&mut hasher, b"file", bytes);
    }
    hex::encode(hasher.finalize())
}

/// SHA-256 of `value` in canonical form (map keys sorted).
pub(crate) fn value_digest(value: &Value) -> [u8; 32] {
    Sha256::digest(canonical(value).to_string().as_bytes()).into()
}

/// The SHA-256 of a module's chart files, computed once when the module is loaded so that a
/// convergence, which checks every module's checksum, does not hash every file again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilesDigest([u8; 32]);

/// The digest of `files` (paths and bytes, length-prefixed, in path order).
pub fn files_digest(files: &BTreeMap<String, Vec<u8>>) -> FilesDigest {
    let mut hasher = Sha256::new();
    for (path, bytes) in files {
        write_framed(&mut hasher, b"path", path.as_bytes());
        write_framed(&mut hasher, b"file", bytes);
    }
    FilesDigest(hasher.finalize().into())
}

/// SHA-256 (lower-case hex) of a module's inputs given as digests: of the global values
/// (`enabledModules` included), of the module's own section, and of its chart files. What
/// [`crate::ValuesStore::module_checksum`] returns: computing it costs a few hashes of 32
/// bytes, neither the module's files nor the size of the module set.
pub(crate) fn module_digest(
    global: &[u8; 32],
    key: &str,
    section: &[u8; 32],
    files: &FilesDigest,
) -> String {
    let mut hasher = Sha256::new();
    write_framed(&mut hasher, b"global", global);
    write_framed(&mut hasher, b"module", key.as_bytes());
    write_framed(&mut hasher, b"values", section);
    write_framed(&mut hasher, b"files", &files.0);
    hex::encode(hasher.finalize())
}

fn write_framed(hasher: &mut Sha256, tag: &[u8], bytes: &[u8]) {
    hasher.update(tag);
    hasher.update((bytes.len() as u64).to_be_bytes());
    hasher.update(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn files(entries: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        entries
            .iter()
            .map(|(p, c)| (p.to_string(), c.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn checksum_is_independent_of_map_key_order() {
        let a: Value = serde_json::from_str(r#"{"a":1,"b":{"x":1,"y":2}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"b":{"y":2,"x":1},"a":1}"#).unwrap();
        assert_ne!(
            a.to_string(),
            b.to_string(),
            "preserve_order keeps insertion order"
        );
        assert_eq!(
            checksum(&a, &BTreeMap::new()),
            checksum(&b, &BTreeMap::new())
        );
    }

    #[test]
    fn checksum_changes_with_values_paths_and_file_bytes() {
        let sum =
            |r: i32, path: &str, text: &str| checksum(&json!({"r": r}), &files(&[(path, text)]));
        let base = sum(1, "templates/a.yaml", "x");
        assert_eq!(base.len(), 64);
        assert_ne!(base, sum(2, "templates/a.yaml", "x"));
        assert_ne!(base, sum(1, "templates/b.yaml", "x"));
        assert_ne!(base, sum(1, "templates/a.yaml", "y"));
        assert_eq!(base, sum(1, "templates/a.yaml", "x"));
    }

    #[test]
    fn file_boundaries_cannot_shift_between_path_and_content() {
        let one = checksum(&json!({}), &files(&[("ab", "c")]));
        let two = checksum(&json!({}), &files(&[("a", "bc")]));
        assert_ne!(one, two);
    }
}

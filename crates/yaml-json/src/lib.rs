//! YAML ⇄ JSON, the way Kubernetes tools read YAML. Every crate of the workspace converts
//! through here, so a file, a ConfigMap value, a hook's output and a request body all mean the
//! same thing wherever they are read.
//!
//! - Reading ([`parse_one`], [`parse_stream`], [`from_slice`], [`from_reader`], [`to_json`]):
//!   YAML becomes `serde_json::Value`. Scalar mapping keys (`1: a`, `true: b`) are stringified as
//!   `kubectl` does, which a direct serde_yaml → serde_json deserialization refuses; tags are
//!   dropped; a mapping used as a key or a non-finite number is an error.
//! - Writing ([`to_string`]): JSON becomes block YAML in which every string that a YAML 1.1
//!   reader (kubectl, the API server) would take for a boolean, number or null is quoted.
//!
//! Reading goes through a fast reader for the plain block YAML that templates and tools write,
//! which hands anything else (anchors, tags, folded blocks, exotic numbers, errors) to
//! serde_yaml: the result is serde_yaml's either way, only faster.
//!
//! It deliberately holds no schema knowledge and no file-system access beyond a reader.
//!
//! ```
//! use serde_json::json;
//! let value = yaml_json::parse_one("1: a\nuse-gzip: \"yes\"\n").unwrap();
//! assert_eq!(value, json!({"1": "a", "use-gzip": "yes"}));
//! let text = yaml_json::to_string(&value).unwrap();
//! assert_eq!(text, "\"1\": a\nuse-gzip: \"yes\"\n");
//! assert_eq!(yaml_json::parse_one(&text).unwrap(), value);
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod emit;
mod fast;
#[cfg(test)]
mod fast_tests;
mod parse;

pub use emit::{EmitError, to_string};
pub use parse::{YamlError, from_reader, from_slice, parse_one, parse_stream, to_json};

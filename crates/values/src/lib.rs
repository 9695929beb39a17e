//! Values of an addon-operator module set: layering, hook JSON patches, OpenAPI validation,
//! the `addon-operator` ConfigMap codec, `--set` arguments, enabled flags and checksums.
//!
//! This crate is pure, like `kube-core`: functions over [`serde_json::Value`] and strings. It
//! does not talk to Kubernetes, run hooks, read module directories or render charts; the
//! operator feeds it what discovery, the ConfigMap watch and hooks produce.
//!
//! # Overview
//! - [`GlobalSpec::from_files`] and [`ModuleSpec::from_files`] take the module set's static
//!   [`ValuesFile`]s as discovery read them (raw documents) and pick and layer their sections
//!   and `<key>Enabled` flags; this crate is the only place values are layered.
//! - [`ValuesStore`] is built from a [`GlobalSpec`] and [`ModuleSpec`]s (static values, static
//!   enabled flags, schemas). It layers each section as DESIGN.md says — static → defaults of
//!   `config-values.yaml` → config values → defaults of `values.yaml` → hook patches — with maps
//!   merged and arrays/scalars replaced ([`merge_into`]), and validates every layer change.
//! - [`ConfigValues`] is the decoded ConfigMap ([`ConfigValues::decode`] / [`ConfigValues::encode`],
//!   also `--config-values` documents and `--set` arguments via [`ConfigValues::apply_set_args`]).
//!   [`ValuesStore::apply_config`] swaps it in atomically and returns a [`ConfigChange`].
//! - [`ValuesStore::apply_patch`] applies a hook's RFC 6902 patch ([`PatchSource`],
//!   [`PatchTarget`]) under the permission rule: global hooks touch `/global/...` and
//!   `/<key>Enabled`, module hooks only `/<key>/...`.
//! - [`EnabledLayers`] resolves a module's enabled flag before its `enabled` script.
//! - [`checksum`] hashes a module's values and chart files, independent of map key order.
//!
//! Schemas: OpenAPI as addon-operator reads it (implied `additionalProperties: false`,
//! `default`, `nullable`, `x-extend`, `x-required-for-helm`). CEL `x-deckhouse-validations`
//! and `$ref`s to other files are not supported and make the schema fail to load, naming the
//! file and JSON pointer; `default`s inside `anyOf`/`oneOf` branches are not applied. A
//! section without a schema file is not validated (as in addon-operator without
//! `STRICT_CHECK_VALUES_MODE_ENABLED`).
//!
//! Every fallible operation reports all problems at once ([`Errors`]), each naming the section
//! or ConfigMap key and the JSON path. No message quotes a value: schema violations name the
//! constraint (`/password: does not match "^[A-Za-z0-9]{20,}$"`), config errors the key and the
//! expected form, because values hold passwords and tokens.
//!
//! # Example
//! ```
//! use std::collections::BTreeMap;
//! use serde_json::json;
//! use values::{ConfigValues, GlobalSpec, ModuleSpec, ValuesStore};
//!
//! let module = ModuleSpec {
//!     key: "echoServer".into(),
//!     name: "echo-server".into(),
//!     module_values: json!({"image": "echo:1"}),
//!     module_enabled: Some(true),
//!     config_schema: Some(json!({
//!         "type": "object",
//!         "properties": {"replicas": {"type": "integer", "default": 1}}
//!     })),
//!     values_schema: Some(json!({
//!         "x-extend": {"schema": "config-values.yaml"},
//!         "type": "object",
//!         "properties": {"image": {"type": "string"}}
//!     })),
//!     ..Default::default()
//! };
//! let mut store = ValuesStore::new(GlobalSpec::default(), vec![module]).unwrap();
//! assert_eq!(store.module_values("echoServer").unwrap()["echoServer"]["replicas"], 1);
//!
//! // The ConfigMap's data, decoded and applied atomically.
//! let data = BTreeMap::from([("echoServer".to_string(), "replicas: 3\n".to_string())]);
//! let config = ConfigValues::decode(&data, store.known_keys()).unwrap();
//! let change = store.apply_config(config).unwrap();
//! assert!(change.modules.contains("echoServer"));
//! assert_eq!(
//!     store.module_values("echoServer").unwrap(),
//!     json!({"global": {}, "echoServer": {"image": "echo:1", "replicas": 3}})
//! );
//!
//! // A schema violation rejects the change and keeps the last good values.
//! let bad = BTreeMap::from([("echoServer".to_string(), "replicas: many\n".to_string())]);
//! let errors = store
//!     .apply_config(ConfigValues::decode(&bad, store.known_keys()).unwrap())
//!     .unwrap_err();
//! assert!(errors.to_string().contains("echoServer: /replicas:"));
//! assert_eq!(store.module_values("echoServer").unwrap()["echoServer"]["replicas"], 3);
//! ```

mod checksum;
mod configmap;
mod decoder;
mod enabled;
mod error;
mod files;
mod merge;
mod patch;
mod schema;
mod section;
mod set;
mod store;
mod violation;

pub use checksum::{FilesDigest, canonical, checksum, files_digest};
pub use configmap::{ConfigEdit, ConfigValues, Maintenance, is_camel_key};
pub use decoder::ConfigDecoder;
pub use enabled::{EnabledLayers, EnabledSource, EnabledState};
pub use error::{Error, Errors, KeyProblem, PatchProblem, SetProblem};
pub use files::ValuesFile;
pub use json_patch::Patch;
pub use merge::{merge_into, merge_layers};
pub use patch::{PatchSource, PatchTarget};
pub use schema::{apply_defaults, extend_values_schema, prepare as prepare_schema};
pub use set::{SetAssignment, SetSegment, parse_set};
pub use store::{ConfigChange, GlobalSpec, ModuleSpec, ValuesStore};

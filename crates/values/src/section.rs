//! One values section (`global` or a module): its static values, schemas, patch log and
//! cached effective values, with the layering of DESIGN.md.

use json_patch::PatchOperation;
use serde_json::{Map, Value};

use crate::error::{Error, type_name};
use crate::merge::merge_into;
use crate::patch::reapply;
use crate::schema::{SectionSchemas, apply_defaults};

/// A section's inputs and its current effective values.
#[derive(Debug)]
pub(crate) struct Section {
    /// `global` or the module values key; also the patch path prefix and the error label.
    pub name: String,
    /// Static values: common `modules/values.yaml` section merged with the module's own.
    pub static_values: Value,
    /// Compiled schemas.
    pub schemas: SectionSchemas,
    /// In-memory values patches (`$VALUES_JSON_PATCH_PATH`), compacted.
    pub patches: Vec<PatchOperation>,
    /// Cached result of [`Section::layer`] for the current config.
    pub effective: Value,
    /// SHA-256 of `effective` in canonical form, kept with it for module checksums.
    pub digest: [u8; 32],
}

impl Section {
    /// Replaces the effective values (and their digest).
    pub fn set_effective(&mut self, effective: Value) {
        self.digest = crate::checksum::value_digest(&effective);
        self.effective = effective;
    }
}

/// Returns `value` as a map section: `null` becomes `{}`, a non-map is an error.
pub(crate) fn as_map(section: &str, origin: &str, value: &Value) -> Result<Value, Error> {
    match value {
        Value::Null => Ok(Value::Object(Map::new())),
        Value::Object(_) => Ok(value.clone()),
        other => Err(Error::NotAMap {
            section: section.to_owned(),
            origin: origin.to_owned(),
            found: type_name(other),
        }),
    }
}

impl Section {
    /// Computes effective values: static → config-values defaults → config → values defaults →
    /// patches.
    pub fn layer(&self, config: Option<&Value>, patches: &[PatchOperation]) -> Value {
        let mut values = self.static_values.clone();
        if let Some(schema) = self.schemas.config() {
            apply_defaults(schema.source(), &mut values);
        }
        if let Some(config) = config {
            merge_into(&mut values, config);
        }
        if let Some(schema) = self.schemas.values() {
            apply_defaults(schema.source(), &mut values);
        }
        reapply(&self.name, values, patches)
    }

    /// Validates a config section (with config-values defaults applied, so required fields with
    /// defaults pass) against `config-values.yaml`.
    pub fn validate_config(&self, config: &Value) -> Vec<Error> {
        let mut values = config.clone();
        if let Some(schema) = self.schemas.config() {
            apply_defaults(schema.source(), &mut values);
        }
        self.schemas.validate_config(&self.name, &values)
    }

    /// Validates effective values against `values.yaml`; a non-map result (e.g. a patch that
    /// removed the whole section) is an error too.
    pub fn validate_effective(&self, effective: &Value, origin: &str) -> Vec<Error> {
        if !effective.is_object() {
            return vec![Error::NotAMap {
                section: self.name.clone(),
                origin: origin.to_owned(),
                found: type_name(effective),
            }];
        }
        self.schemas.validate_values(&self.name, effective)
    }
}

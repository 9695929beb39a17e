//! The `addon-operator` ConfigMap codec: data keys ⇄ [`ConfigValues`].
//!
//! Keys: `global` (YAML map), `<key>` (YAML map with the module's config values),
//! `<key>Enabled` (`"true"`/`"false"` exactly), `<key>Maintenance` (`NoResourceReconciliation` or
//! empty). A decode collects every problem and rejects the whole ConfigMap. YAML is read and
//! written through `yaml_json`, like everywhere else in the workspace. Errors name the key and
//! the expected form, never the value.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use serde_json::Value;

use crate::checksum::canonical;
use crate::error::{Error, Errors, KeyProblem, type_name};

/// ConfigMap key of the global section.
pub const GLOBAL_KEY: &str = "global";
/// Suffix of a module's enabled flag key.
pub const ENABLED_SUFFIX: &str = "Enabled";
/// Suffix of a module's maintenance key.
pub const MAINTENANCE_SUFFIX: &str = "Maintenance";

/// A module's maintenance mode from `<key>Maintenance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Maintenance {
    /// `NoResourceReconciliation`: render and hooks run, but nothing is applied to the cluster.
    NoResourceReconciliation,
}

impl Maintenance {
    /// The ConfigMap spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Maintenance::NoResourceReconciliation => "NoResourceReconciliation",
        }
    }
}

/// Config values: what the user set in the ConfigMap (or `--config-values`/`--set`).
///
/// # Invariants
/// Sections (`global`, `modules`) are JSON maps; an empty ConfigMap value means "not set" and is
/// absent here, so `decode(encode(x)) == x`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigValues {
    /// The `global` section, if set.
    pub global: Option<Value>,
    /// Module sections by values key.
    pub modules: BTreeMap<String, Value>,
    /// `<key>Enabled` flags by values key.
    pub enabled: BTreeMap<String, bool>,
    /// `<key>Maintenance` modes by values key.
    pub maintenance: BTreeMap<String, Maintenance>,
}

/// Stands for the whole `--config-values` document in errors.
const DOCUMENT: &str = "(document)";

fn document_yaml_error(source: yaml_json::YamlError) -> Errors {
    Error::ConfigMapYaml {
        key: DOCUMENT.to_owned(),
        source,
    }
    .into()
}

/// The `data` of a ConfigMap manifest (`kind: ConfigMap`), or the document itself.
fn configmap_data(document: Value) -> Value {
    let is_manifest = document.get("kind").and_then(Value::as_str) == Some("ConfigMap")
        && document.get("apiVersion").is_some();
    match document {
        Value::Object(mut manifest) if is_manifest => {
            manifest.remove("data").unwrap_or(Value::Null)
        }
        other => other,
    }
}

/// True if `key` is lowerCamel: an ASCII lower-case letter, then ASCII letters and digits.
pub fn is_camel_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase()) && chars.all(|c| c.is_ascii_alphanumeric())
}

/// Which data key a name is, given the known module keys.
#[derive(Debug, Clone, Copy)]
pub(crate) enum KeyKind<'a> {
    Global,
    Section(&'a str),
    Enabled(&'a str),
    Maintenance(&'a str),
}

/// What `key` names, or an error naming the key when it is not camelCase or names no module.
pub(crate) fn classify<'a>(key: &'a str, known: &BTreeSet<String>) -> Result<KeyKind<'a>, Error> {
    classify_key(key, known).map_err(|problem| key_error(key, problem))
}

fn key_error(key: &str, problem: KeyProblem) -> Error {
    Error::ConfigMapKey {
        key: key.to_owned(),
        problem,
    }
}

fn classify_key<'a>(key: &'a str, known: &BTreeSet<String>) -> Result<KeyKind<'a>, KeyProblem> {
    if key == GLOBAL_KEY {
        return Ok(KeyKind::Global);
    }
    if !is_camel_key(key) {
        return Err(KeyProblem::NotCamel);
    }
    if known.contains(key) {
        return Ok(KeyKind::Section(key));
    }
    if let Some(module) = key
        .strip_suffix(ENABLED_SUFFIX)
        .filter(|m| known.contains(*m))
    {
        return Ok(KeyKind::Enabled(module));
    }
    if let Some(module) = key
        .strip_suffix(MAINTENANCE_SUFFIX)
        .filter(|m| known.contains(*m))
    {
        return Ok(KeyKind::Maintenance(module));
    }
    Err(KeyProblem::Unknown)
}

/// Parses a YAML section; empty or `null` means "not set".
pub(crate) fn parse_section(key: &str, yaml: &str) -> Result<Option<Value>, Error> {
    let value = yaml_json::parse_one(yaml).map_err(|source| Error::ConfigMapYaml {
        key: key.to_owned(),
        source,
    })?;
    section_value(key, value)
}

fn section_value(key: &str, value: Value) -> Result<Option<Value>, Error> {
    match value {
        Value::Null => Ok(None),
        Value::Object(_) => Ok(Some(value)),
        other => Err(key_error(
            key,
            KeyProblem::NotAMap {
                found: type_name(&other),
            },
        )),
    }
}

fn parse_flag(key: &str, raw: &str) -> Result<bool, Error> {
    match raw {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(key_error(key, KeyProblem::NotAFlag)),
    }
}

fn parse_maintenance(key: &str, raw: &str) -> Result<Option<Maintenance>, Error> {
    match raw.trim() {
        "" => Ok(None),
        "NoResourceReconciliation" => Ok(Some(Maintenance::NoResourceReconciliation)),
        _ => Err(key_error(key, KeyProblem::NotAMaintenanceMode)),
    }
}

impl ConfigValues {
    /// Decodes ConfigMap `data`; `known` is the set of module values keys.
    ///
    /// # Errors
    /// Every unknown or non-camelCase key, bad YAML, non-map section, malformed flag or
    /// maintenance value; the whole ConfigMap is rejected.
    pub fn decode(
        data: &BTreeMap<String, String>,
        known: &BTreeSet<String>,
    ) -> Result<Self, Errors> {
        let mut config = ConfigValues::default();
        let mut errors = Errors::default();
        for (key, raw) in data {
            if let Err(error) = config.decode_entry(key, raw, known) {
                errors.push(error);
            }
        }
        errors.into_result(config)
    }

    fn decode_entry(
        &mut self,
        key: &str,
        raw: &str,
        known: &BTreeSet<String>,
    ) -> Result<(), Error> {
        let kind = classify(key, known)?;
        self.decode_kind(kind, key, raw)
    }

    pub(crate) fn decode_kind(
        &mut self,
        kind: KeyKind<'_>,
        key: &str,
        raw: &str,
    ) -> Result<(), Error> {
        match kind {
            KeyKind::Global => self.global = parse_section(key, raw)?,
            KeyKind::Section(module) => {
                if let Some(section) = parse_section(key, raw)? {
                    self.modules.insert(module.to_owned(), section);
                }
            }
            KeyKind::Enabled(module) => {
                self.enabled
                    .insert(module.to_owned(), parse_flag(key, raw)?);
            }
            KeyKind::Maintenance(module) => {
                if let Some(mode) = parse_maintenance(key, raw)? {
                    self.maintenance.insert(module.to_owned(), mode);
                }
            }
        }
        Ok(())
    }

    /// Encodes to ConfigMap `data`: sections as YAML with sorted keys, so equal values always
    /// produce byte-identical data (no spurious ConfigMap writes).
    ///
    /// # Errors
    /// Only if a value cannot be represented in YAML.
    pub fn encode(&self) -> Result<BTreeMap<String, String>, Error> {
        let mut data = BTreeMap::new();
        let to_yaml = |key: &str, value: &Value| {
            yaml_json::to_string(&canonical(value)).map_err(|source| Error::Encode {
                key: key.to_owned(),
                source,
            })
        };
        if let Some(global) = &self.global {
            data.insert(GLOBAL_KEY.to_owned(), to_yaml(GLOBAL_KEY, global)?);
        }
        for (key, section) in &self.modules {
            data.insert(key.clone(), to_yaml(key, section)?);
        }
        for (key, enabled) in &self.enabled {
            data.insert(format!("{key}{ENABLED_SUFFIX}"), enabled.to_string());
        }
        for (key, mode) in &self.maintenance {
            data.insert(
                format!("{key}{MAINTENANCE_SUFFIX}"),
                mode.as_str().to_owned(),
            );
        }
        Ok(data)
    }

    /// Parses a `--config-values` YAML document. Each key may be written in either shape:
    /// - the ConfigMap's `data`, as `kubectl get configmap -o yaml` shows it: sections as YAML
    ///   strings and flags as strings (`echoServer: "replicas: 2\n"`,
    ///   `echoServerEnabled: "false"`); a whole ConfigMap manifest (`kind: ConfigMap` with
    ///   `data:`) is read through its `data`;
    /// - the decoded shape: sections as nested maps and flags as booleans
    ///   (`echoServer: {replicas: 2}`, `echoServerEnabled: false`).
    ///
    /// # Errors
    /// The same rules as [`ConfigValues::decode`], every problem collected.
    pub fn from_yaml_str(yaml: &str, known: &BTreeSet<String>) -> Result<Self, Errors> {
        let document = yaml_json::parse_one(yaml).map_err(document_yaml_error)?;
        Self::from_document(document, known)
    }

    /// Reads [`ConfigValues::from_yaml_str`] input from a reader (a thin I/O shell).
    ///
    /// # Errors
    /// A read failure is reported as bad YAML of the document; otherwise as `from_yaml_str`.
    pub fn from_yaml_reader(reader: impl Read, known: &BTreeSet<String>) -> Result<Self, Errors> {
        let document = yaml_json::from_reader(reader).map_err(document_yaml_error)?;
        Self::from_document(document, known)
    }

    fn from_document(document: Value, known: &BTreeSet<String>) -> Result<Self, Errors> {
        let entries = match configmap_data(document) {
            Value::Null => return Ok(Self::default()),
            Value::Object(entries) => entries,
            other => {
                let problem = KeyProblem::NotAMap {
                    found: type_name(&other),
                };
                return Err(key_error(DOCUMENT, problem).into());
            }
        };
        let mut config = ConfigValues::default();
        let mut errors = Errors::default();
        for (key, value) in entries {
            if let Err(error) = config.set_document_entry(&key, value, known) {
                errors.push(error);
            }
        }
        errors.into_result(config)
    }

    /// One entry of a `--config-values` document: a section written as a YAML string (the
    /// ConfigMap's `data` shape) is parsed first, anything else is set as it is.
    fn set_document_entry(
        &mut self,
        key: &str,
        value: Value,
        known: &BTreeSet<String>,
    ) -> Result<(), Error> {
        let value = match (classify(key, known)?, value) {
            (KeyKind::Global | KeyKind::Section(_), Value::String(yaml)) => {
                parse_section(key, &yaml)?.unwrap_or(Value::Null)
            }
            (_, value) => value,
        };
        self.set_entry(key, value, known)
    }

    /// Sets one decoded entry (`global`, `<key>`, `<key>Enabled`, `<key>Maintenance`) from a
    /// JSON value; used by `--config-values` and `--set`.
    pub(crate) fn set_entry(
        &mut self,
        key: &str,
        value: Value,
        known: &BTreeSet<String>,
    ) -> Result<(), Error> {
        let kind = classify(key, known)?;
        match (kind, value) {
            (KeyKind::Global, value) => self.global = section_value(key, value)?,
            (KeyKind::Section(module), value) => match section_value(key, value)? {
                Some(section) => {
                    self.modules.insert(module.to_owned(), section);
                }
                None => {
                    self.modules.remove(module);
                }
            },
            (KeyKind::Enabled(module), Value::Bool(flag)) => {
                self.enabled.insert(module.to_owned(), flag);
            }
            (KeyKind::Enabled(module), Value::String(raw)) => {
                self.enabled
                    .insert(module.to_owned(), parse_flag(key, &raw)?);
            }
            (KeyKind::Maintenance(module), Value::String(raw)) => {
                match parse_maintenance(key, &raw)? {
                    Some(mode) => self.maintenance.insert(module.to_owned(), mode),
                    None => self.maintenance.remove(module),
                };
            }
            (KeyKind::Enabled(module), Value::Null) => {
                self.enabled.remove(module);
            }
            (KeyKind::Maintenance(module), Value::Null) => {
                self.maintenance.remove(module);
            }
            (_, other) => {
                let problem = KeyProblem::NotAScalar {
                    found: type_name(&other),
                };
                return Err(key_error(key, problem));
            }
        }
        Ok(())
    }
}

/// The entries of the ConfigMap keys whose text changed between two versions, decoded
/// (`None`: the key was removed or is empty, i.e. not set).
///
/// What [`ValuesStore::apply_config_edit`] applies; built by [`ConfigDecoder`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigEdit {
    /// The `global` section, if its key changed.
    pub global: Option<Option<Value>>,
    /// Module sections by values key.
    pub modules: BTreeMap<String, Option<Value>>,
    /// `<key>Enabled` flags by values key.
    pub enabled: BTreeMap<String, Option<bool>>,
    /// `<key>Maintenance` modes by values key.
    pub maintenance: BTreeMap<String, Option<Maintenance>>,
}

impl ConfigEdit {
    /// Records the entry of `key` (of kind `kind`) with its new text, `None` if removed.
    pub(crate) fn record(
        &mut self,
        kind: KeyKind<'_>,
        key: &str,
        raw: Option<&str>,
    ) -> Result<(), Error> {
        let mut decoded = ConfigValues::default();
        if let Some(raw) = raw {
            decoded.decode_kind(kind, key, raw)?;
        }
        match kind {
            KeyKind::Global => self.global = Some(decoded.global),
            KeyKind::Section(m) => {
                self.modules.insert(m.to_owned(), decoded.modules.remove(m));
            }
            KeyKind::Enabled(m) => {
                self.enabled.insert(m.to_owned(), decoded.enabled.remove(m));
            }
            KeyKind::Maintenance(m) => {
                self.maintenance
                    .insert(m.to_owned(), decoded.maintenance.remove(m));
            }
        }
        Ok(())
    }

    /// Applies the edit to `config`.
    pub fn apply_to(&self, config: &mut ConfigValues) {
        if let Some(global) = &self.global {
            config.global.clone_from(global);
        }
        set_entries(&mut config.modules, &self.modules);
        set_entries(&mut config.enabled, &self.enabled);
        set_entries(&mut config.maintenance, &self.maintenance);
    }
}

fn set_entries<V: Clone>(map: &mut BTreeMap<String, V>, edit: &BTreeMap<String, Option<V>>) {
    for (key, value) in edit {
        match value {
            Some(value) => map.insert(key.clone(), value.clone()),
            None => map.remove(key),
        };
    }
}

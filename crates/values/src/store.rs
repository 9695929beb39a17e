//! [`ValuesStore`]: every section's layers, the config values and the hook patches, with
//! atomic updates that report exactly what changed.

use std::collections::{BTreeMap, BTreeSet};

use json_patch::{Patch, PatchOperation};
use serde_json::{Map, Value};

use crate::checksum::module_digest;
use crate::configmap::{ConfigEdit, ConfigValues, GLOBAL_KEY};
use crate::enabled::{EnabledLayers, EnabledState};
use crate::error::{Error, Errors};
use crate::merge::merge_into;
use crate::patch::{
    PatchSource, PatchTarget, SplitPatch, append_compacted, apply_to_section, split,
};
use crate::schema::SectionSchemas;
use crate::section::{Section, as_map};

/// The global section's static inputs.
#[derive(Debug, Clone, Default)]
pub struct GlobalSpec {
    /// The `global:` section of `modules/values.yaml` (`null` = none).
    pub static_values: Value,
    /// `global-hooks/openapi/config-values.yaml`, parsed.
    pub config_schema: Option<Value>,
    /// `global-hooks/openapi/values.yaml`, parsed.
    pub values_schema: Option<Value>,
}

/// One module's static inputs, as discovery found them.
#[derive(Debug, Clone, Default)]
pub struct ModuleSpec {
    /// Values key (lowerCamel of the name), e.g. `echoServer`.
    pub key: String,
    /// Module name, e.g. `echo-server`.
    pub name: String,
    /// The key's section of the common `modules/values.yaml` (`null` = none).
    pub common_values: Value,
    /// The key's section of the module's own `values.yaml` (`null` = none).
    pub module_values: Value,
    /// `<key>Enabled` in `modules/values.yaml`.
    pub common_enabled: Option<bool>,
    /// `<key>Enabled` in the module's `values.yaml`.
    pub module_enabled: Option<bool>,
    /// `openapi/config-values.yaml`, parsed.
    pub config_schema: Option<Value>,
    /// `openapi/values.yaml`, parsed.
    pub values_schema: Option<Value>,
}

/// What an accepted change changed; the operator re-runs exactly these.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigChange {
    /// Config values differ: the operator persists [`ValuesStore::config_values`] to the ConfigMap.
    pub config: bool,
    /// Effective global values changed.
    pub global: bool,
    /// Module keys whose effective values changed.
    pub modules: BTreeSet<String>,
    /// Module keys whose enabled state (before the `enabled` script) changed.
    pub enabled: BTreeSet<String>,
    /// Module keys whose maintenance mode changed.
    pub maintenance: BTreeSet<String>,
}

impl ConfigChange {
    /// True if nothing changed.
    pub fn is_empty(&self) -> bool {
        *self == ConfigChange::default()
    }
}

#[derive(Debug)]
struct ModuleEntry {
    name: String,
    section: Section,
    common_enabled: Option<bool>,
    module_enabled: Option<bool>,
}

/// The values of a module set: layers, config values, hook patches and enabled flags.
///
/// # Guarantees
/// Every update (`apply_config`, `apply_patch`) is atomic: on error nothing changes and every
/// problem is returned. Schemas are compiled once, at construction.
#[derive(Debug)]
pub struct ValuesStore {
    global: Section,
    /// Digest of [`ValuesStore::global_effective`] (`enabledModules` included), refreshed
    /// whenever it changes, so module checksums do not re-hash the global values each time.
    global_digest: [u8; 32],
    modules: BTreeMap<String, ModuleEntry>,
    order: Vec<String>,
    /// The keys of `order` as a set, built once: every ConfigMap change is decoded against it.
    known: BTreeSet<String>,
    config: ConfigValues,
    /// Changes whenever `config` does, unique across stores (see [`Self::config_generation`]).
    config_generation: u64,
    enabled_patches: BTreeMap<String, bool>,
    /// `global.enabledModules`, kept as the JSON array every render and hook run copies.
    enabled_modules: Option<Value>,
}

/// A config generation no store has had yet.
fn next_generation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// New effective values (section name → values) of the sections a change touches, computed
/// and validated before anything is committed.
type Candidate = BTreeMap<String, Value>;

impl ValuesStore {
    /// Builds the store from static inputs and validates static values plus defaults.
    ///
    /// # Errors
    /// Every duplicate key, non-map static section, schema that does not compile and static
    /// value that violates its schema.
    pub fn new(global: GlobalSpec, modules: Vec<ModuleSpec>) -> Result<Self, Errors> {
        let mut errors = Errors::default();
        let global = build_section(
            GLOBAL_KEY,
            &[&global.static_values],
            global.config_schema.as_ref(),
            global.values_schema.as_ref(),
            &mut errors,
        );
        let mut entries = BTreeMap::new();
        let mut order = Vec::new();
        for spec in modules {
            if entries.contains_key(&spec.key) || spec.key == GLOBAL_KEY {
                errors.push(Error::DuplicateModule {
                    key: spec.key,
                    name: spec.name,
                });
                continue;
            }
            let section = build_section(
                &spec.key,
                &[&spec.common_values, &spec.module_values],
                spec.config_schema.as_ref(),
                spec.values_schema.as_ref(),
                &mut errors,
            );
            order.push(spec.key.clone());
            entries.insert(
                spec.key,
                ModuleEntry {
                    name: spec.name,
                    section,
                    common_enabled: spec.common_enabled,
                    module_enabled: spec.module_enabled,
                },
            );
        }
        let mut store = ValuesStore {
            global,
            global_digest: [0; 32],
            modules: entries,
            known: order.iter().cloned().collect(),
            order,
            config: ConfigValues::default(),
            config_generation: next_generation(),
            enabled_patches: BTreeMap::new(),
            enabled_modules: None,
        };
        // Static values are validated even if other inputs failed, so one run lists everything.
        match store.candidate(&store.config, None, None) {
            Ok(candidate) => store.commit(candidate, &mut ConfigChange::default()),
            Err(more) => errors.extend(more.0),
        }
        errors.into_result(store)
    }

    /// Module values keys in discovery order.
    pub fn module_keys(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(String::as_str)
    }

    /// The set of module values keys, as [`ConfigValues::decode`] wants it.
    pub fn known_keys(&self) -> &BTreeSet<String> {
        &self.known
    }

    /// The module name for a values key.
    pub fn module_name(&self, key: &str) -> Option<&str> {
        self.modules.get(key).map(|m| m.name.as_str())
    }

    /// Replaces the config values (a ConfigMap change, `--config-values`, `--set`).
    ///
    /// # Errors
    /// Every unknown module key, config section violating `config-values.yaml` and effective
    /// section violating `values.yaml`; the store is unchanged.
    pub fn apply_config(&mut self, config: ConfigValues) -> Result<ConfigChange, Errors> {
        // Only sections whose config changed can change (their other inputs stay), so an edit
        // of one module's config re-layers and re-validates that module alone.
        let changed: BTreeSet<&str> = std::iter::once(GLOBAL_KEY)
            .filter(|_| config.global != self.config.global)
            .chain(
                self.order
                    .iter()
                    .map(String::as_str)
                    .filter(|k| config.modules.get(*k) != self.config.modules.get(*k)),
            )
            .collect();
        let candidate = self.candidate(&config, None, Some(&changed))?;
        let enabled_before = self.enabled_flags();
        let mut change = ConfigChange {
            config: self.config != config,
            maintenance: self
                .keys_where(|k| self.config.maintenance.get(k) != config.maintenance.get(k)),
            ..ConfigChange::default()
        };
        self.config = config;
        self.config_generation = next_generation();
        self.commit(candidate, &mut change);
        change.enabled = self.enabled_changes(&enabled_before);
        Ok(change)
    }

    /// Applies an edit of the config values: what [`Self::apply_config`] does with the config
    /// values edited, touching only the sections, flags and modes the edit names.
    ///
    /// # Errors
    /// As [`Self::apply_config`], for the edited entries; the store is unchanged.
    pub fn apply_config_edit(&mut self, edit: &ConfigEdit) -> Result<ConfigChange, Errors> {
        let edited = edit.modules.keys().chain(edit.enabled.keys());
        let unknown: Vec<Error> = edited
            .chain(edit.maintenance.keys())
            .filter(|key| !self.modules.contains_key(*key))
            .map(|key| Error::UnknownModule { key: key.clone() })
            .collect();
        if !unknown.is_empty() {
            return Err(Errors(unknown));
        }
        let only: BTreeSet<&str> = edit
            .global
            .iter()
            .map(|_| GLOBAL_KEY)
            .chain(edit.modules.keys().map(String::as_str))
            .collect();
        let view = ConfigValues {
            global: match &edit.global {
                Some(global) => global.clone(),
                None => self.config.global.clone(),
            },
            modules: edit
                .modules
                .iter()
                .filter_map(|(key, section)| Some((key.clone(), section.clone()?)))
                .collect(),
            ..ConfigValues::default()
        };
        let candidate = self.candidate(&view, None, Some(&only))?;
        let enabled_before: Vec<bool> = edit.enabled.keys().map(|k| self.flags_enable(k)).collect();
        let mut change = ConfigChange {
            config: self.edit_changes_config(edit),
            maintenance: edit
                .maintenance
                .iter()
                .filter(|(key, mode)| self.config.maintenance.get(*key) != mode.as_ref())
                .map(|(key, _)| key.clone())
                .collect(),
            ..ConfigChange::default()
        };
        edit.apply_to(&mut self.config);
        self.config_generation = next_generation();
        self.commit(candidate, &mut change);
        change.enabled = edit
            .enabled
            .keys()
            .zip(enabled_before)
            .filter(|(key, before)| self.flags_enable(key) != *before)
            .map(|(key, _)| key.clone())
            .collect();
        Ok(change)
    }

    /// Whether applying `edit` would change the config values.
    fn edit_changes_config(&self, edit: &ConfigEdit) -> bool {
        let config = &self.config;
        edit.global.as_ref().is_some_and(|g| *g != config.global)
            || edit
                .modules
                .iter()
                .any(|(k, v)| config.modules.get(k) != v.as_ref())
            || edit
                .enabled
                .iter()
                .any(|(k, v)| config.enabled.get(k) != v.as_ref())
            || edit
                .maintenance
                .iter()
                .any(|(k, v)| config.maintenance.get(k) != v.as_ref())
    }

    /// Identifies the config values' state: equal generations mean the same store with the same
    /// config values, so a [`ConfigDecoder`](crate::ConfigDecoder) can tell whether the data it
    /// last applied still describes them.
    pub fn config_generation(&self) -> u64 {
        self.config_generation
    }

    /// Applies a hook's JSON patch to the in-memory values or to the config values.
    ///
    /// # Errors
    /// Forbidden paths (naming hook and path), an unknown module, a patch that does not apply,
    /// or a result that violates the schemas; the store is unchanged.
    pub fn apply_patch(
        &mut self,
        source: &PatchSource,
        target: PatchTarget,
        patch: &Patch,
    ) -> Result<ConfigChange, Errors> {
        let parts = split(source, patch).map_err(Errors)?;
        let section_name = match source {
            PatchSource::GlobalHook { .. } => GLOBAL_KEY,
            PatchSource::ModuleHook { key, .. } => key.as_str(),
        };
        self.check_known(section_name, &parts)?;
        match target {
            PatchTarget::Values => self.patch_values(source.hook(), section_name, parts),
            PatchTarget::ConfigValues => self.patch_config(source.hook(), section_name, parts),
        }
    }

    fn check_known(&self, section: &str, parts: &SplitPatch) -> Result<(), Errors> {
        let mut errors = Errors::default();
        let unknown = std::iter::once(section)
            .filter(|s| *s != GLOBAL_KEY)
            .chain(parts.enabled.iter().map(|(k, _)| k.as_str()))
            .filter(|key| !self.modules.contains_key(*key));
        for key in unknown {
            errors.push(Error::UnknownModule {
                key: key.to_owned(),
            });
        }
        errors.into_result(())
    }

    fn patch_values(
        &mut self,
        hook: &str,
        name: &str,
        parts: SplitPatch,
    ) -> Result<ConfigChange, Errors> {
        let section = self.section(name)?;
        apply_to_section(hook, name, &section.effective, &parts.section)?;
        let mut log = section.patches.clone();
        append_compacted(&mut log, &parts.section);
        let candidate = self.candidate(&self.config, Some((name, &log)), None)?;
        let enabled_before = self.enabled_flags();
        for (key, flag) in parts.enabled {
            match flag {
                Some(flag) => self.enabled_patches.insert(key, flag),
                None => self.enabled_patches.remove(&key),
            };
        }
        self.section_mut(name)?.patches = log;
        let mut change = ConfigChange::default();
        self.commit(candidate, &mut change);
        change.enabled = self.enabled_changes(&enabled_before);
        Ok(change)
    }

    fn patch_config(
        &mut self,
        hook: &str,
        name: &str,
        parts: SplitPatch,
    ) -> Result<ConfigChange, Errors> {
        let mut config = self.config.clone();
        let current = match name {
            GLOBAL_KEY => config.global.clone(),
            key => config.modules.get(key).cloned(),
        }
        .unwrap_or_else(|| Value::Object(Map::new()));
        let patched = apply_to_section(hook, name, &current, &parts.section)?;
        let patched = as_map(name, "config values after patch", &patched)?;
        let empty = patched.as_object().is_some_and(Map::is_empty);
        match name {
            GLOBAL_KEY => config.global = (!empty).then_some(patched),
            key if empty => {
                config.modules.remove(key);
            }
            key => {
                config.modules.insert(key.to_owned(), patched);
            }
        }
        for (key, flag) in parts.enabled {
            match flag {
                Some(flag) => config.enabled.insert(key, flag),
                None => config.enabled.remove(&key),
            };
        }
        self.apply_config(config)
    }

    /// Computes and validates effective values for `config`: every section (or those named in
    /// `only`), or with `patched` only that section, with its replacement patch log (other
    /// sections cannot change).
    fn candidate(
        &self,
        config: &ConfigValues,
        patched: Option<(&str, &[PatchOperation])>,
        only: Option<&BTreeSet<&str>>,
    ) -> Result<Candidate, Errors> {
        let mut errors = Errors::default();
        if patched.is_none() {
            let keys = config.modules.keys().chain(config.enabled.keys());
            for key in keys.chain(config.maintenance.keys()) {
                if !self.modules.contains_key(key) {
                    errors.push(Error::UnknownModule { key: key.clone() });
                }
            }
        }
        let sections = std::iter::once(&self.global)
            .chain(self.modules.values().map(|m| &m.section))
            .filter(|s| patched.is_none_or(|(name, _)| name == s.name))
            .filter(|s| only.is_none_or(|names| names.contains(s.name.as_str())));
        let mut candidate = Candidate::new();
        for section in sections {
            let patches = match patched {
                Some((_, log)) => log,
                None => section.patches.as_slice(),
            };
            let config_section = match section.name.as_str() {
                GLOBAL_KEY => config.global.as_ref(),
                key => config.modules.get(key),
            };
            let mut section_errors = config_section
                .map(|c| section.validate_config(c))
                .unwrap_or_default();
            let effective = section.layer(config_section, patches);
            // A bad config value usually fails both schemas; report it once.
            for error in section.validate_effective(&effective, "effective values") {
                let text = error.to_string();
                if !section_errors.iter().any(|e| e.to_string() == text) {
                    section_errors.push(error);
                }
            }
            errors.extend(section_errors);
            candidate.insert(section.name.clone(), effective);
        }
        errors.into_result(candidate)
    }

    /// Stores the candidate's values, recording in `change` which sections really changed.
    fn commit(&mut self, candidate: Candidate, change: &mut ConfigChange) {
        for (name, effective) in candidate {
            let Ok(section) = self.section_mut(&name) else {
                continue;
            };
            if section.effective != effective {
                section.set_effective(effective);
                if name == GLOBAL_KEY {
                    change.global = true;
                } else {
                    change.modules.insert(name);
                }
            }
        }
        if change.global || self.global_digest == [0; 32] {
            self.refresh_global_digest();
        }
    }

    fn refresh_global_digest(&mut self) {
        self.global_digest = crate::checksum::value_digest(&self.global_effective());
    }

    fn keys_where(&self, changed: impl Fn(&str) -> bool) -> BTreeSet<String> {
        self.order.iter().filter(|k| changed(k)).cloned().collect()
    }

    /// Every module's enabled flag before its `enabled` script, in discovery order (what
    /// [`Self::enabled_changes`] compares; no key is copied, as this runs on every change).
    fn enabled_flags(&self) -> Vec<bool> {
        self.order
            .iter()
            .map(|key| self.flags_enable(key))
            .collect()
    }

    /// Whether module `key`'s enabled flags (before its `enabled` script) enable it.
    fn flags_enable(&self, key: &str) -> bool {
        self.enabled_layers(key)
            .is_some_and(|l| l.resolve().enabled)
    }

    fn enabled_changes(&self, before: &[bool]) -> BTreeSet<String> {
        self.order
            .iter()
            .zip(before)
            .filter(|(key, old)| self.flags_enable(key) != **old)
            .map(|(key, _)| key.clone())
            .collect()
    }

    fn section(&self, name: &str) -> Result<&Section, Error> {
        match name {
            GLOBAL_KEY => Ok(&self.global),
            key => self
                .modules
                .get(key)
                .map(|m| &m.section)
                .ok_or_else(|| Error::UnknownModule {
                    key: key.to_owned(),
                }),
        }
    }

    fn section_mut(&mut self, name: &str) -> Result<&mut Section, Error> {
        match name {
            GLOBAL_KEY => Ok(&mut self.global),
            key => self
                .modules
                .get_mut(key)
                .map(|m| &mut m.section)
                .ok_or_else(|| Error::UnknownModule {
                    key: key.to_owned(),
                }),
        }
    }

    /// Carries the hooks' in-memory state of `previous` (values patch logs, enabled-flag
    /// patches and `global.enabledModules`) into this store, which was built from edited module
    /// files (`addon-operator dev`), so an edit does not silently drop what hooks computed.
    /// Sections that no longer exist are skipped.
    ///
    /// # Errors
    /// The old patches no longer fit the new schemas (every problem is listed); this store is
    /// unchanged then.
    pub fn adopt_hook_state(&mut self, previous: &ValuesStore) -> Result<ConfigChange, Errors> {
        let logs: Vec<(String, Vec<PatchOperation>)> = std::iter::once(&previous.global)
            .chain(previous.modules.values().map(|m| &m.section))
            .filter(|s| self.section(&s.name).is_ok())
            .map(|s| (s.name.clone(), s.patches.clone()))
            .collect();
        let saved = self.swap_patch_logs(logs);
        match self.candidate(&self.config, None, None) {
            Ok(candidate) => {
                let enabled_before = self.enabled_flags();
                self.enabled_patches = previous
                    .enabled_patches
                    .iter()
                    .filter(|(key, _)| self.modules.contains_key(*key))
                    .map(|(key, flag)| (key.clone(), *flag))
                    .collect();
                self.enabled_modules = previous.enabled_modules.clone();
                let mut change = ConfigChange::default();
                self.commit(candidate, &mut change);
                self.refresh_global_digest();
                change.enabled = self.enabled_changes(&enabled_before);
                Ok(change)
            }
            Err(errors) => {
                self.swap_patch_logs(saved);
                Err(errors)
            }
        }
    }

    /// Replaces the patch logs of the named sections, returning the replaced ones.
    fn swap_patch_logs(
        &mut self,
        logs: Vec<(String, Vec<PatchOperation>)>,
    ) -> Vec<(String, Vec<PatchOperation>)> {
        let mut replaced = Vec::new();
        for (name, log) in logs {
            if let Ok(section) = self.section_mut(&name) {
                replaced.push((name, std::mem::replace(&mut section.patches, log)));
            }
        }
        replaced
    }

    /// Sets the list published as `global.enabledModules` (the operator computes it after the
    /// `enabled` scripts); `None` removes it.
    pub fn set_enabled_modules(&mut self, modules: Option<Vec<String>>) {
        let modules = modules.map(Value::from);
        if self.enabled_modules != modules {
            self.enabled_modules = modules;
            self.refresh_global_digest();
        }
    }

    fn global_effective(&self) -> Value {
        let mut global = self.global.effective.clone();
        if let (Some(list), Value::Object(map)) = (&self.enabled_modules, &mut global) {
            map.insert("enabledModules".into(), list.clone());
        }
        global
    }

    /// `{"global": <effective global>}`: what global hooks see in `$VALUES_PATH`.
    pub fn global_values(&self) -> Value {
        wrap_pair(GLOBAL_KEY, self.global_effective(), None)
    }

    /// `{"global": <effective global>, "<key>": <effective module>}`: what the module's
    /// templates (`Values`) and hooks (`$VALUES_PATH`) see.
    ///
    /// # Errors
    /// [`Error::UnknownModule`].
    pub fn module_values(&self, key: &str) -> Result<Value, Error> {
        let section = self.section_of_module(key)?;
        Ok(wrap_pair(
            GLOBAL_KEY,
            self.global_effective(),
            Some((key, section.effective.clone())),
        ))
    }

    /// `{"global": <config global>, "<key>": <config module>}` (`{}` when unset): what module
    /// hooks see in `$CONFIG_VALUES_PATH`.
    ///
    /// # Errors
    /// [`Error::UnknownModule`].
    pub fn module_config_values(&self, key: &str) -> Result<Value, Error> {
        self.section_of_module(key)?;
        let section = self
            .config
            .modules
            .get(key)
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new()));
        Ok(wrap_pair(
            GLOBAL_KEY,
            self.config_global(),
            Some((key, section)),
        ))
    }

    /// `{"global": <config global>}`: what global hooks see in `$CONFIG_VALUES_PATH`.
    pub fn global_config_values(&self) -> Value {
        wrap_pair(GLOBAL_KEY, self.config_global(), None)
    }

    fn config_global(&self) -> Value {
        self.config
            .global
            .clone()
            .unwrap_or_else(|| Value::Object(Map::new()))
    }

    /// The current config values, to persist back to the ConfigMap with [`ConfigValues::encode`].
    pub fn config_values(&self) -> &ConfigValues {
        &self.config
    }

    /// Validates the module's (and global) effective values for rendering: `values.yaml` with
    /// `x-required-for-helm` fields required.
    ///
    /// # Errors
    /// Every violation, each naming section and JSON path.
    pub fn validate_for_render(&self, key: &str) -> Result<(), Errors> {
        let section = self.section_of_module(key)?;
        let mut errors = Errors::default();
        errors.extend(
            self.global
                .schemas
                .validate_render(GLOBAL_KEY, &self.global.effective),
        );
        errors.extend(section.schemas.validate_render(key, &section.effective));
        errors.into_result(())
    }

    /// Checksum of the module's values (as [`ValuesStore::module_values`]) and chart files.
    ///
    /// # Guarantees
    /// Independent of map key order; changes with any value the module's templates see
    /// (global ones and `enabledModules` included), a file path or a file's bytes. Its cost is
    /// the module's files, not the size of the module set: the values' digests are kept with
    /// them.
    ///
    /// # Errors
    /// [`Error::UnknownModule`].
    pub fn module_checksum(&self, key: &str, files: &crate::FilesDigest) -> Result<String, Error> {
        let section = self.section_of_module(key)?;
        Ok(module_digest(
            &self.global_digest,
            key,
            &section.digest,
            files,
        ))
    }

    /// Every module's enabled state before its `enabled` script, in discovery order.
    pub fn enabled_states(&self) -> Vec<(String, EnabledState)> {
        self.order
            .iter()
            .filter_map(|key| self.enabled_layers(key).map(|l| (key.clone(), l.resolve())))
            .collect()
    }

    /// The enabled-flag layers of one module (static flags, global hook patch, ConfigMap).
    pub fn enabled_layers(&self, key: &str) -> Option<EnabledLayers> {
        let entry = self.modules.get(key)?;
        Some(EnabledLayers {
            common_values: entry.common_enabled,
            module_values: entry.module_enabled,
            global_hook: self.enabled_patches.get(key).copied(),
            config_map: self.config.enabled.get(key).copied(),
        })
    }

    fn section_of_module(&self, key: &str) -> Result<&Section, Error> {
        self.modules
            .get(key)
            .map(|m| &m.section)
            .ok_or_else(|| Error::UnknownModule {
                key: key.to_owned(),
            })
    }
}

fn wrap_pair(first: &str, first_value: Value, second: Option<(&str, Value)>) -> Value {
    let mut map = Map::new();
    map.insert(first.to_owned(), first_value);
    if let Some((key, value)) = second {
        map.insert(key.to_owned(), value);
    }
    Value::Object(map)
}

fn build_section(
    name: &str,
    layers: &[&Value],
    config_schema: Option<&Value>,
    values_schema: Option<&Value>,
    errors: &mut Errors,
) -> Section {
    let mut static_values = Value::Object(Map::new());
    for layer in layers {
        match as_map(name, "static values", layer) {
            Ok(map) => merge_into(&mut static_values, &map),
            Err(error) => errors.push(error),
        }
    }
    let schemas = SectionSchemas::compile(name, config_schema, values_schema).unwrap_or_else(|e| {
        errors.extend(e);
        SectionSchemas::default()
    });
    Section {
        name: name.to_owned(),
        static_values,
        schemas,
        patches: Vec::new(),
        effective: Value::Null,
        digest: [0; 32],
    }
}

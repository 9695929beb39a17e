//! Successive versions of the operator's ConfigMap, applied as edits: an edit of one module
//! in a ConfigMap of 500 parses, validates and compares that module alone.

use std::collections::{BTreeMap, BTreeSet};

use crate::configmap::{ConfigEdit, classify};
use crate::{ConfigChange, ConfigValues, Errors, ValuesStore};

/// The operator's ConfigMap as last accepted, and what turns its next version into a change of
/// a [`ValuesStore`].
///
/// Applying a version parses only the keys whose text differs from the last accepted one,
/// provided the store's config values are still what that version decoded to (nothing else
/// changed them, e.g. a hook's patch, and it is the same store); otherwise the whole version is
/// decoded and applied. Either way the store ends as [`ValuesStore::apply_config`] of
/// [`ConfigValues::decode`] of the version would leave it, with the same [`ConfigChange`].
#[derive(Debug, Default)]
pub struct ConfigDecoder {
    /// The last accepted data.
    data: BTreeMap<String, String>,
    /// The store's config generation that `data` decodes to, if known.
    generation: Option<u64>,
}

impl ConfigDecoder {
    /// The ConfigMap data as last accepted or written (empty before the first).
    pub fn data(&self) -> &BTreeMap<String, String> {
        &self.data
    }

    /// Decodes `data` and applies it to `store`; remembers it if the store accepted it.
    ///
    /// # Errors
    /// As [`ConfigValues::decode`] and [`ValuesStore::apply_config`]; the store is unchanged and
    /// the last accepted data stays.
    pub fn apply(
        &mut self,
        store: &mut ValuesStore,
        data: BTreeMap<String, String>,
    ) -> Result<ConfigChange, Errors> {
        let change = if self.generation == Some(store.config_generation()) {
            let edit = self.edit(&data, store.known_keys())?;
            store.apply_config_edit(&edit)?
        } else {
            store.apply_config(ConfigValues::decode(&data, store.known_keys())?)?
        };
        self.data = data;
        self.generation = Some(store.config_generation());
        Ok(change)
    }

    /// `data` was written to the ConfigMap as the encoding of the config values of a store
    /// at `generation` ([`ValuesStore::config_generation`]).
    pub fn written(&mut self, generation: u64, data: BTreeMap<String, String>) {
        self.data = data;
        self.generation = Some(generation);
    }

    /// The entries of the keys whose text differs from the last accepted data.
    fn edit(
        &self,
        data: &BTreeMap<String, String>,
        known: &BTreeSet<String>,
    ) -> Result<ConfigEdit, Errors> {
        let mut edit = ConfigEdit::default();
        let mut errors = Errors::default();
        let changed = data
            .iter()
            .filter(|(key, raw)| self.data.get(*key) != Some(*raw))
            .map(|(key, raw)| (key.as_str(), Some(raw.as_str())));
        let removed = self
            .data
            .keys()
            .filter(|key| !data.contains_key(*key))
            .map(|key| (key.as_str(), None));
        for (key, raw) in changed.chain(removed) {
            let entry = classify(key, known).and_then(|kind| edit.record(kind, key, raw));
            if let Err(error) = entry {
                errors.push(error);
            }
        }
        errors.into_result(edit)
    }
}

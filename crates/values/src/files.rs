//! Static values files → [`GlobalSpec`] and [`ModuleSpec`]: where the `values.yaml` files of a
//! module set are layered. Discovery (the `charts` crate) only reads them and hands the raw
//! documents over; which section of which file counts, and in what order, is decided here, so
//! that layering has one implementation ([`merge_into`]).

use serde_json::{Map, Value};

use crate::configmap::{ENABLED_SUFFIX, GLOBAL_KEY};
use crate::error::{Error, Errors, type_name};
use crate::merge::merge_into;
use crate::store::{GlobalSpec, ModuleSpec};

/// One static values file as discovery read it, not yet layered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ValuesFile {
    /// Where the file is, for errors (`modules/values.yaml`).
    pub path: String,
    /// The whole YAML document (`Value::Null` for an empty file).
    pub document: Value,
}

impl GlobalSpec {
    /// The global section's static values from the common values files (`<dir>/values.yaml`
    /// of each modules dir, in dir order): their `global:` sections, later files winning
    /// (maps merge, arrays and scalars replace). Schemas are left unset.
    ///
    /// # Errors
    /// Every file whose `global:` is not a map, naming the file.
    pub fn from_files(common: &[ValuesFile]) -> Result<Self, Errors> {
        Ok(GlobalSpec {
            static_values: layered_section(common.iter(), GLOBAL_KEY)?,
            ..GlobalSpec::default()
        })
    }
}

impl ModuleSpec {
    /// A module's static inputs from the common values files (in dir order) and its own
    /// `values.yaml`: the `<key>` section of each (layered, later wins; the module's own file
    /// last) and `<key>Enabled` of each. Any other key of the module's own file is ignored, as
    /// in addon-operator. Schemas are left unset.
    ///
    /// # Errors
    /// Every `<key>` section that is not a map and every `<key>Enabled` that is not a boolean,
    /// each naming its file.
    pub fn from_files(
        key: &str,
        name: &str,
        common: &[ValuesFile],
        own: Option<&ValuesFile>,
    ) -> Result<Self, Errors> {
        let flag = format!("{key}{ENABLED_SUFFIX}");
        let mut errors = Errors::default();
        let spec = ModuleSpec {
            key: key.to_owned(),
            name: name.to_owned(),
            common_values: collect(layered_section(common.iter(), key), &mut errors),
            module_values: collect(layered_section(own.into_iter(), key), &mut errors),
            common_enabled: collect(last_flag(common.iter(), &flag), &mut errors),
            module_enabled: collect(last_flag(own.into_iter(), &flag), &mut errors),
            ..ModuleSpec::default()
        };
        errors.into_result(spec)
    }
}

/// The value, or its default with the problems moved into `errors`.
fn collect<T: Default>(result: Result<T, Errors>, errors: &mut Errors) -> T {
    result.unwrap_or_else(|e| {
        errors.extend(e.0);
        T::default()
    })
}

/// The `section` of every file layered in order; `Value::Null` when no file has it.
fn layered_section<'a>(
    files: impl Iterator<Item = &'a ValuesFile>,
    section: &str,
) -> Result<Value, Errors> {
    let mut layered: Option<Value> = None;
    let mut errors = Errors::default();
    for file in files {
        match file.document.get(section) {
            None | Some(Value::Null) => {}
            Some(found @ Value::Object(_)) => {
                merge_into(
                    layered.get_or_insert_with(|| Value::Object(Map::new())),
                    found,
                );
            }
            Some(other) => errors.push(Error::NotAMap {
                section: section.to_owned(),
                origin: file.path.clone(),
                found: type_name(other),
            }),
        }
    }
    errors.into_result(layered.unwrap_or(Value::Null))
}

/// The last file's `<key>Enabled`; a non-boolean is an error naming its file.
fn last_flag<'a>(
    files: impl Iterator<Item = &'a ValuesFile>,
    flag: &str,
) -> Result<Option<bool>, Errors> {
    let mut last = None;
    let mut errors = Errors::default();
    for file in files {
        match file.document.get(flag) {
            None | Some(Value::Null) => {}
            Some(Value::Bool(enabled)) => last = Some(*enabled),
            Some(other) => errors.push(Error::StaticFlag {
                file: file.path.clone(),
                flag: flag.to_owned(),
                found: type_name(other),
            }),
        }
    }
    errors.into_result(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn file(path: &str, document: Value) -> ValuesFile {
        ValuesFile {
            path: path.to_owned(),
            document,
        }
    }

    #[test]
    fn common_files_layer_in_dir_order_and_the_module_file_comes_last() {
        let common = [
            file(
                "a/values.yaml",
                json!({"global": {"x": 1, "l": [1]}, "demo": {"a": 1, "b": 1}, "demoEnabled": true}),
            ),
            file(
                "b/values.yaml",
                json!({"global": {"l": [2]}, "demo": {"b": 2}, "demoEnabled": false}),
            ),
        ];
        let own = file(
            "b/010-demo/values.yaml",
            json!({"demo": {"c": 3}, "demoEnabled": true, "global": {"sneaky": 1}}),
        );
        let global = GlobalSpec::from_files(&common).unwrap();
        assert_eq!(global.static_values, json!({"x": 1, "l": [2]}));
        let spec = ModuleSpec::from_files("demo", "demo", &common, Some(&own)).unwrap();
        assert_eq!(spec.common_values, json!({"a": 1, "b": 2}));
        assert_eq!(spec.module_values, json!({"c": 3}));
        assert_eq!(
            (spec.common_enabled, spec.module_enabled),
            (Some(false), Some(true))
        );
    }

    #[test]
    fn files_without_the_section_leave_it_unset() {
        let spec =
            ModuleSpec::from_files("demo", "demo", &[file("v.yaml", Value::Null)], None).unwrap();
        assert_eq!(
            (spec.common_values, spec.common_enabled),
            (Value::Null, None)
        );
    }

    #[test]
    fn every_bad_section_and_flag_is_reported_with_its_file() {
        let common = [
            file("a/values.yaml", json!({"demo": [1], "demoEnabled": "yes"})),
            file("b/values.yaml", json!({"global": "x"})),
        ];
        let own = file("a/010-demo/values.yaml", json!({"demo": 3}));
        let text = ModuleSpec::from_files("demo", "demo", &common, Some(&own))
            .unwrap_err()
            .to_string();
        for expected in [
            "demo: a/values.yaml: expected a map, got an array",
            "demo: a/010-demo/values.yaml: expected a map, got a number",
            "a/values.yaml: demoEnabled: expected true or false, got a string",
        ] {
            assert!(text.contains(expected), "{expected} not in {text}");
        }
        let text = GlobalSpec::from_files(&common).unwrap_err().to_string();
        assert!(
            text.contains("global: b/values.yaml: expected a map, got a string"),
            "{text}"
        );
    }
}

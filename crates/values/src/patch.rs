//! RFC 6902 JSON patches from hooks: the permission rule, enabled-flag patches, and the
//! in-memory patch log re-applied on top of the layered values.

use json_patch::{Patch, PatchOperation};
use serde_json::{Map, Value};

use crate::configmap::{ENABLED_SUFFIX, GLOBAL_KEY};
use crate::error::{Error, PatchProblem, type_name};

/// Who produced a patch; decides which paths it may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatchSource {
    /// A global hook: may patch `/global/...` and `/<key>Enabled`.
    GlobalHook {
        /// Hook path or name, for errors.
        hook: String,
    },
    /// A module hook: may patch `/<key>/...` of its own module only.
    ModuleHook {
        /// Hook path or name, for errors.
        hook: String,
        /// The hook's module values key.
        key: String,
    },
}

impl PatchSource {
    /// The hook name, for errors.
    pub fn hook(&self) -> &str {
        match self {
            PatchSource::GlobalHook { hook } | PatchSource::ModuleHook { hook, .. } => hook,
        }
    }

    fn allowed(&self) -> String {
        match self {
            PatchSource::GlobalHook { .. } => {
                "a global hook may patch only /global/... and /<moduleKey>Enabled".to_owned()
            }
            PatchSource::ModuleHook { key, .. } => {
                format!("a module hook may patch only its own section /{key}/...")
            }
        }
    }
}

/// Which values a patch changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchTarget {
    /// `$VALUES_JSON_PATCH_PATH`: kept in memory on top of the layers.
    Values,
    /// `$CONFIG_VALUES_JSON_PATCH_PATH`: changes config values (persisted to the ConfigMap).
    ConfigValues,
}

/// What one allowed operation path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Addressed {
    /// `/global` or below.
    Global,
    /// `/<key>` or below, for a module hook's own key.
    Module,
    /// `/<key>Enabled` with the module key.
    Enabled(String),
}

/// Decodes a JSON pointer into its reference tokens (`~1` → `/`, `~0` → `~`).
pub(crate) fn pointer_tokens(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// Checks one path against the permission rule.
fn classify_path(source: &PatchSource, pointer: &str) -> Result<Addressed, Error> {
    let tokens = pointer_tokens(pointer);
    let first = tokens.first().map(String::as_str);
    let addressed = match source {
        PatchSource::GlobalHook { .. } => match first {
            Some(GLOBAL_KEY) => Some(Addressed::Global),
            Some(flag) if tokens.len() == 1 => flag
                .strip_suffix(ENABLED_SUFFIX)
                .filter(|key| !key.is_empty())
                .map(|key| Addressed::Enabled(key.to_owned())),
            _ => None,
        },
        PatchSource::ModuleHook { key, .. } => {
            (first == Some(key.as_str())).then_some(Addressed::Module)
        }
    };
    addressed.ok_or_else(|| Error::PatchForbidden {
        hook: source.hook().to_owned(),
        path: pointer.to_owned(),
        allowed: source.allowed(),
    })
}

/// The paths an operation reads or writes (`from` of move/copy included).
fn op_paths(op: &PatchOperation) -> Vec<&str> {
    let mut paths = vec![op.path().as_str()];
    match op {
        PatchOperation::Move(m) => paths.push(m.from.as_str()),
        PatchOperation::Copy(c) => paths.push(c.from.as_str()),
        _ => {}
    }
    paths
}

/// A permitted patch split by what it addresses.
#[derive(Debug, Default)]
pub(crate) struct SplitPatch {
    /// Operations on `/global/...` or on the module's own section.
    pub section: Vec<PatchOperation>,
    /// `(key, Some(flag))` to set or `(key, None)` to remove an enabled flag, in order.
    pub enabled: Vec<(String, Option<bool>)>,
}

/// Checks every operation against the permission rule and splits the patch.
///
/// # Errors
/// Every forbidden path, and every `*Enabled` operation that is not add/replace/remove of a
/// boolean (or that mixes with section paths in a move/copy).
pub(crate) fn split(source: &PatchSource, patch: &Patch) -> Result<SplitPatch, Vec<Error>> {
    let mut split = SplitPatch::default();
    let mut errors = Vec::new();
    for op in &patch.0 {
        let classified: Result<Vec<Addressed>, Error> = op_paths(op)
            .into_iter()
            .map(|p| classify_path(source, p))
            .collect();
        match classified {
            Err(error) => errors.push(error),
            Ok(addressed) => match addressed.as_slice() {
                [Addressed::Enabled(key)] => match enabled_flag(op) {
                    Ok(flag) => split.enabled.push((key.clone(), flag)),
                    Err(problem) => errors.push(Error::PatchInvalid {
                        hook: source.hook().to_owned(),
                        path: op.path().to_string(),
                        problem,
                    }),
                },
                all if all.iter().all(|a| !matches!(a, Addressed::Enabled(_))) => {
                    split.section.push(op.clone());
                }
                _ => errors.push(Error::PatchInvalid {
                    hook: source.hook().to_owned(),
                    path: op.path().to_string(),
                    problem: PatchProblem::FlagAndValues,
                }),
            },
        }
    }
    if errors.is_empty() {
        Ok(split)
    } else {
        Err(errors)
    }
}

fn enabled_flag(op: &PatchOperation) -> Result<Option<bool>, PatchProblem> {
    let value = match op {
        PatchOperation::Add(add) => &add.value,
        PatchOperation::Replace(replace) => &replace.value,
        PatchOperation::Remove(_) => return Ok(None),
        _ => return Err(PatchProblem::FlagOperation),
    };
    value
        .as_bool()
        .map(Some)
        .ok_or(PatchProblem::FlagNotBoolean {
            found: type_name(value),
        })
}

/// Applies `ops` to `section` (addressed as `/<name>/...`) atomically: on error `section` is
/// unchanged.
pub(crate) fn apply_to_section(
    hook: &str,
    name: &str,
    section: &Value,
    ops: &[PatchOperation],
) -> Result<Value, Error> {
    let mut doc = wrap(name, section.clone());
    json_patch::patch(&mut doc, ops).map_err(|source| Error::PatchApply {
        hook: hook.to_owned(),
        source,
    })?;
    Ok(unwrap(name, doc))
}

/// Re-applies the stored patch log onto freshly layered values. Operations that no longer
/// apply (e.g. removing a key a new ConfigMap dropped) are skipped, as addon-operator does.
pub(crate) fn reapply(name: &str, section: Value, ops: &[PatchOperation]) -> Value {
    let mut doc = wrap(name, section);
    for op in ops {
        // json_patch::patch is atomic per call; one op per call skips exactly the failing op.
        let _skipped_if_stale = json_patch::patch(&mut doc, std::slice::from_ref(op));
    }
    unwrap(name, doc)
}

fn wrap(name: &str, section: Value) -> Value {
    let mut map = Map::new();
    map.insert(name.to_owned(), section);
    Value::Object(map)
}

fn unwrap(name: &str, mut doc: Value) -> Value {
    doc.get_mut(name).map(Value::take).unwrap_or(Value::Null)
}

/// Appends `new` to the patch log, dropping earlier operations that `new` fully overwrites.
///
/// Without compaction a hook that patches every run would grow the log without bound. An
/// earlier add/replace/remove at or below path P is dead once a later add/replace/remove targets
/// P, provided P has no array index (indices shift) and no move/copy runs in between. `test`
/// operations were checked when the patch was applied and are not kept. A `replace` on such a
/// path is stored as `add`.
pub(crate) fn append_compacted(log: &mut Vec<PatchOperation>, new: &[PatchOperation]) {
    for op in new {
        if matches!(op, PatchOperation::Test(_)) {
            continue;
        }
        if is_overwrite(op) && !has_index_token(op.path().as_str()) {
            drop_overwritten(log, op.path().as_str());
            // The dropped `add` may have created the path a `replace` needs; on a map key an
            // `add` is a replace that also works when the key is missing.
            if let PatchOperation::Replace(replace) = op {
                log.push(PatchOperation::Add(json_patch::AddOperation {
                    path: replace.path.clone(),
                    value: replace.value.clone(),
                }));
                continue;
            }
        }
        log.push(op.clone());
    }
}

fn is_overwrite(op: &PatchOperation) -> bool {
    matches!(
        op,
        PatchOperation::Add(_) | PatchOperation::Replace(_) | PatchOperation::Remove(_)
    )
}

fn has_index_token(pointer: &str) -> bool {
    pointer_tokens(pointer)
        .iter()
        .any(|t| t == "-" || (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())))
}

fn drop_overwritten(log: &mut Vec<PatchOperation>, path: &str) {
    // Only operations after the last move/copy may be dropped.
    let start = log
        .iter()
        .rposition(|op| !is_overwrite(op))
        .map_or(0, |i| i + 1);
    let prefix = format!("{path}/");
    let mut index = 0;
    log.retain(|op| {
        let keep = index < start || {
            let p = op.path().as_str();
            p != path && !p.starts_with(&prefix)
        };
        index += 1;
        keep
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(ops: Value) -> Patch {
        serde_json::from_value(ops).unwrap()
    }

    fn global() -> PatchSource {
        PatchSource::GlobalHook {
            hook: "global-hooks/a.sh".into(),
        }
    }

    fn module(key: &str) -> PatchSource {
        PatchSource::ModuleHook {
            hook: "hooks/b.sh".into(),
            key: key.into(),
        }
    }

    #[test]
    fn global_hook_may_patch_global_and_enabled_flags_only() {
        let ok = patch(json!([
            {"op": "add", "path": "/global/a", "value": 1},
            {"op": "add", "path": "/echoServerEnabled", "value": false},
            {"op": "remove", "path": "/fooEnabled"}
        ]));
        let parts = split(&global(), &ok).unwrap();
        assert_eq!(parts.section.len(), 1);
        assert_eq!(
            parts.enabled,
            vec![("echoServer".into(), Some(false)), ("foo".into(), None)]
        );

        let bad = patch(json!([
            {"op": "add", "path": "/echoServer/replicas", "value": 1},
            {"op": "add", "path": "/echoServerEnabled/x", "value": 1},
            {"op": "copy", "from": "/other/x", "path": "/global/x"}
        ]));
        let errors = split(&global(), &bad).unwrap_err();
        assert_eq!(errors.len(), 3);
        let text = errors[0].to_string();
        assert!(
            text.contains("global-hooks/a.sh") && text.contains("/echoServer/replicas"),
            "{text}"
        );
    }

    #[test]
    fn module_hook_may_patch_only_its_own_key() {
        let ok = patch(json!([{"op": "replace", "path": "/echoServer/replicas", "value": 2}]));
        assert!(split(&module("echoServer"), &ok).is_ok());
        for path in [
            "/global/x",
            "/other/x",
            "/echoServerEnabled",
            "/echoServerX/a",
        ] {
            let bad = patch(json!([{"op": "add", "path": path, "value": true}]));
            let errors = split(&module("echoServer"), &bad).unwrap_err();
            assert!(
                errors[0].to_string().contains("own section /echoServer/"),
                "{path}"
            );
        }
    }

    #[test]
    fn enabled_flags_must_be_booleans() {
        let bad = patch(json!([{"op": "add", "path": "/aEnabled", "value": "yes"}]));
        let errors = split(&global(), &bad).unwrap_err();
        assert!(errors[0].to_string().contains("must be true or false"));
    }

    #[test]
    fn failed_patch_changes_nothing() {
        let section = json!({"a": 1});
        let ops = patch(json!([
            {"op": "add", "path": "/m/b", "value": 2},
            {"op": "remove", "path": "/m/missing"}
        ]));
        let error = apply_to_section("h", "m", &section, &ops.0).unwrap_err();
        assert!(matches!(error, Error::PatchApply { .. }));
        assert_eq!(section, json!({"a": 1}));
    }

    #[test]
    fn compaction_drops_overwritten_operations_but_keeps_array_ops() {
        let mut log = Vec::new();
        let first = patch(json!([
            {"op": "add", "path": "/m/a", "value": {"x": 1}},
            {"op": "add", "path": "/m/a/y", "value": 2},
            {"op": "add", "path": "/m/list/0", "value": 1}
        ]));
        append_compacted(&mut log, &first.0);
        let second = patch(json!([
            {"op": "test", "path": "/m/a/y", "value": 2},
            {"op": "replace", "path": "/m/a", "value": 3},
            {"op": "add", "path": "/m/list/0", "value": 2}
        ]));
        append_compacted(&mut log, &second.0);
        let paths: Vec<_> = log.iter().map(|o| o.path().to_string()).collect();
        assert_eq!(paths, ["/m/list/0", "/m/a", "/m/list/0"]);
        let value = reapply("m", json!({"list": []}), &log);
        assert_eq!(value, json!({"list": [2, 1], "a": 3}));
    }

    #[test]
    fn stale_operations_are_skipped_on_reapply() {
        let ops = patch(json!([
            {"op": "remove", "path": "/m/gone"},
            {"op": "add", "path": "/m/b", "value": 1}
        ]));
        assert_eq!(reapply("m", json!({}), &ops.0), json!({"b": 1}));
    }
}

//! Binding contexts: what a hook reads from `$BINDING_CONTEXT_PATH`, in shell-operator's format.
//!
//! The serializer follows shell-operator's `BindingContext.MapV1` (and `MapV0` for legacy hooks)
//! key for key, so a hook written for shell-operator sees the same JSON here.

use crate::config::{AdmissionKind, ConfigVersion, OrderBinding, WatchEvent};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A watched object as kept in a snapshot: its compact JSON text, LZ4-compressed.
///
/// A decoded `serde_json::Value` of a ConfigMap costs several times its text (a map and a
/// string allocation per key), and the text is all a hook ever gets, so the snapshot keeps the
/// text. It is compressed because snapshots of big bindings are most of the operator's memory
/// (issue 14: 10,000 watched objects in ≤ 35 MiB): Kubernetes JSON repeats its keys, so LZ4
/// usually halves it, at about a microsecond per object to unpack when a binding context is
/// written. Text that LZ4 does not shrink is kept as it is.
#[derive(Clone)]
pub struct ObjectJson(Packed);

/// How [`ObjectJson`] holds its text.
#[derive(Clone)]
enum Packed {
    /// The text itself (short or incompressible objects).
    Plain(Box<str>),
    /// `lz4_flex`'s block format with the text's length in front.
    Lz4(Box<[u8]>),
}

impl ObjectJson {
    /// The JSON text of `value`.
    pub fn from_value(value: &Value) -> Self {
        Self::from_json(value.to_string())
    }

    /// Keeps `json`, which must be the serialization of a JSON value (as `serde_json` writes
    /// it); text that is not valid JSON is kept as `null`.
    pub(crate) fn from_json(json: String) -> Self {
        if serde_json::from_str::<serde::de::IgnoredAny>(&json).is_err() {
            return Self(Packed::Plain("null".into()));
        }
        let packed = lz4_flex::block::compress_prepend_size(json.as_bytes());
        Self(if packed.len() < json.len() {
            Packed::Lz4(packed.into_boxed_slice())
        } else {
            Packed::Plain(json.into_boxed_str())
        })
    }

    /// The JSON text.
    pub fn text(&self) -> Cow<'_, str> {
        match &self.0 {
            Packed::Plain(text) => Cow::Borrowed(text),
            // Only `from_json` builds `Lz4`, from valid UTF-8 JSON: unpacking cannot fail but
            // for memory corruption, which `null` makes visible instead of a panic.
            Packed::Lz4(bytes) => lz4_flex::block::decompress_size_prepended(bytes)
                .ok()
                .and_then(|raw| String::from_utf8(raw).ok())
                .map_or(Cow::Borrowed("null"), Cow::Owned),
        }
    }

    /// The object decoded.
    pub fn to_value(&self) -> Value {
        serde_json::from_str(&self.text()).unwrap_or(Value::Null)
    }
}

impl std::fmt::Debug for ObjectJson {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("ObjectJson").field(&self.text()).finish()
    }
}

impl PartialEq for ObjectJson {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text()
    }
}

impl Serialize for ObjectJson {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The text was checked to be JSON when it was kept, so it goes out verbatim.
        let text = self.text();
        let raw: &RawValue = serde_json::from_str(&text).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

/// An object with its jq filter result, as kept in snapshots and passed in contexts.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectAndFilterResult {
    /// The full object; `None` when `keepFullObjectsInMemory: false` (the `object` key is omitted).
    pub object: Option<Arc<ObjectJson>>,
    /// The jq filter result; `None` when the binding has no `jqFilter` (the key is omitted).
    pub filter_result: Option<Arc<Value>>,
}

impl Serialize for ObjectAndFilterResult {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        if let Some(o) = &self.object {
            map.serialize_entry("object", o.as_ref())?;
        }
        if let Some(f) = &self.filter_result {
            map.serialize_entry("filterResult", f.as_ref())?;
        }
        map.end()
    }
}

/// Snapshots of kubernetes bindings by binding name, objects sorted by namespace and name.
pub type Snapshots = BTreeMap<String, Vec<ObjectAndFilterResult>>;

/// What happened: the variant decides `type` and the extra keys.
#[derive(Debug, Clone)]
pub enum ContextKind {
    /// A lifecycle binding (`onStartup`, `beforeHelm`, ...).
    Order(OrderBinding),
    /// A cron tick.
    Schedule,
    /// The initial list of a kubernetes binding.
    Synchronization {
        /// Every object the binding selected, sorted by namespace and name.
        objects: Vec<ObjectAndFilterResult>,
    },
    /// One watch event of a kubernetes binding.
    Event {
        /// Added, Modified or Deleted.
        watch_event: WatchEvent,
        /// The object as it was at event time.
        object: ObjectAndFilterResult,
    },
    /// An admission request of a `kubernetesValidating` or `kubernetesMutating` binding.
    Admission {
        /// Validating or mutating (the context's `type`).
        kind: AdmissionKind,
        /// The AdmissionReview as kube-apiserver sent it (`review.request`).
        review: Arc<Value>,
    },
    /// One step of a `kubernetesCustomResourceConversion` binding.
    Conversion {
        /// The rule's `fromVersion`.
        from_version: String,
        /// The rule's `toVersion`.
        to_version: String,
        /// The ConversionReview (`review.request.objects` are the objects to convert).
        review: Arc<Value>,
    },
}

/// One element of the binding-context array.
#[derive(Debug, Clone)]
pub struct BindingContext {
    /// Binding name (`name:` of the binding, or the lifecycle binding's name).
    pub binding: String,
    /// What happened.
    pub kind: ContextKind,
    /// The binding's `group`: serialized as a `Group` context that keeps `binding` and adds
    /// `groupName`, as shell-operator's `MapV1` does.
    pub group: Option<String>,
    /// Snapshots to include (`Some` for `includeSnapshotsFrom`, groups and lifecycle bindings);
    /// filled right before the run so they show the state at run time.
    pub snapshots: Option<Snapshots>,
    /// Hook config version: v0 hooks get the legacy format.
    pub version: ConfigVersion,
}

impl BindingContext {
    /// Names of the bindings whose snapshots this context wants, if any.
    pub fn wants_snapshots(&self) -> bool {
        self.snapshots.is_some()
    }
}

impl Serialize for BindingContext {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.version == ConfigVersion::V0 {
            return self.serialize_v0(s);
        }
        let mut map = s.serialize_map(None)?;
        if let ContextKind::Order(OrderBinding::OnStartup) = self.kind {
            map.serialize_entry("binding", &self.binding)?;
            return map.end();
        }
        map.serialize_entry("binding", &self.binding)?;
        // As shell-operator's `MapV1`: webhook contexts keep their type even in a group.
        match &self.kind {
            ContextKind::Admission { kind, review } => {
                map.serialize_entry("type", kind.as_str())?;
                map.serialize_entry("review", review.as_ref())?;
                self.serialize_snapshots(&mut map)?;
                return map.end();
            }
            ContextKind::Conversion {
                from_version,
                to_version,
                review,
            } => {
                map.serialize_entry("type", "Conversion")?;
                map.serialize_entry("fromVersion", from_version)?;
                map.serialize_entry("toVersion", to_version)?;
                map.serialize_entry("review", review.as_ref())?;
                self.serialize_snapshots(&mut map)?;
                return map.end();
            }
            _ => {}
        }
        if let Some(group) = &self.group {
            // shell-operator's shell framework reads `.groupName` to dispatch grouped runs.
            map.serialize_entry("type", "Group")?;
            map.serialize_entry("groupName", group)?;
            self.serialize_snapshots(&mut map)?;
            return map.end();
        }
        match &self.kind {
            ContextKind::Order(_)
            | ContextKind::Admission { .. }
            | ContextKind::Conversion { .. } => {}
            ContextKind::Schedule => map.serialize_entry("type", "Schedule")?,
            ContextKind::Synchronization { objects } => {
                map.serialize_entry("type", "Synchronization")?;
                map.serialize_entry("objects", objects)?;
            }
            ContextKind::Event {
                watch_event,
                object,
            } => {
                map.serialize_entry("type", "Event")?;
                map.serialize_entry("watchEvent", watch_event.as_str())?;
                if let Some(o) = &object.object {
                    map.serialize_entry("object", o.as_ref())?;
                }
                if let Some(f) = &object.filter_result {
                    map.serialize_entry("filterResult", f.as_ref())?;
                }
            }
        }
        self.serialize_snapshots(&mut map)?;
        map.end()
    }
}

impl BindingContext {
    fn serialize_snapshots<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        match &self.snapshots {
            Some(s) => map.serialize_entry("snapshots", s),
            None => Ok(()),
        }
    }

    /// shell-operator's v0 format: `resourceEvent` add/update/delete plus the object's coordinates.
    fn serialize_v0<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("binding", &self.binding)?;
        if let ContextKind::Event {
            watch_event,
            object,
        } = &self.kind
        {
            let event = match watch_event {
                WatchEvent::Added => "add",
                WatchEvent::Modified => "update",
                WatchEvent::Deleted => "delete",
            };
            map.serialize_entry("resourceEvent", event)?;
            if let Some(o) = &object.object {
                let o = o.to_value();
                let field = |p: &str| {
                    o.pointer(p)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                };
                map.serialize_entry("resourceNamespace", &field("/metadata/namespace"))?;
                map.serialize_entry("resourceKind", &field("/kind"))?;
                map.serialize_entry("resourceName", &field("/metadata/name"))?;
            }
        }
        map.end()
    }
}

/// Serializes a list of contexts as the indented JSON array written to `$BINDING_CONTEXT_PATH`.
pub fn to_json(contexts: &[BindingContext]) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec_pretty(contexts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(kind: ContextKind) -> BindingContext {
        BindingContext {
            binding: "b".into(),
            kind,
            group: None,
            snapshots: None,
            version: ConfigVersion::V1,
        }
    }

    /// A ConfigMap like the ones of issue 14's snapshot benchmark.
    fn config_map(name: &str) -> Value {
        let data: serde_json::Map<String, Value> = (0..8)
            .map(|k| (format!("key-{k}"), json!(format!("value {k} ").repeat(12))))
            .collect();
        json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "bench", "labels": {"app": "x"}},
            "data": data})
    }

    #[test]
    fn a_kept_object_is_compressed_and_written_back_byte_for_byte() {
        let value = config_map("w1");
        let text = value.to_string();
        let kept = ObjectJson::from_json(text.clone());
        match &kept.0 {
            Packed::Lz4(bytes) => assert!(bytes.len() < text.len() / 2, "{} bytes", bytes.len()),
            Packed::Plain(_) => panic!("a ConfigMap's JSON was not compressed"),
        }
        assert_eq!(kept.text(), text);
        assert_eq!(serde_json::to_string(&kept).unwrap(), text);
        assert_eq!(kept.to_value(), value);
    }

    #[test]
    fn text_that_lz4_cannot_shrink_is_kept_as_it_is() {
        let kept = ObjectJson::from_json(r#"{"a":1}"#.to_string());
        assert!(matches!(&kept.0, Packed::Plain(t) if &**t == r#"{"a":1}"#));
        assert_eq!(serde_json::to_string(&kept).unwrap(), r#"{"a":1}"#);
    }

    #[test]
    fn text_that_is_not_json_is_kept_as_null() {
        let kept = ObjectJson::from_json("{not json".to_string());
        assert_eq!(serde_json::to_string(&kept).unwrap(), "null");
    }

    #[test]
    fn on_startup_is_only_the_binding_name() {
        let mut c = ctx(ContextKind::Order(OrderBinding::OnStartup));
        c.binding = "onStartup".into();
        c.snapshots = Some(Snapshots::new());
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({"binding": "onStartup"})
        );
    }

    #[test]
    fn a_group_context_keeps_the_binding_name_and_names_the_group() {
        let mut c = ctx(ContextKind::Schedule);
        c.group = Some("pair".into());
        c.snapshots = Some(Snapshots::new());
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({"binding": "b", "type": "Group", "groupName": "pair", "snapshots": {}})
        );
    }

    #[test]
    fn dropped_objects_and_missing_filters_omit_their_keys() {
        let o = ObjectAndFilterResult {
            object: None,
            filter_result: Some(Arc::new(json!({"a": 1}))),
        };
        let c = ctx(ContextKind::Event {
            watch_event: WatchEvent::Modified,
            object: o,
        });
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({"binding": "b", "type": "Event", "watchEvent": "Modified", "filterResult": {"a": 1}})
        );
    }

    #[test]
    fn webhook_contexts_carry_the_review_and_keep_their_type_in_a_group() {
        let review = Arc::new(json!({"request": {"uid": "u"}}));
        let mut c = ctx(ContextKind::Admission {
            kind: AdmissionKind::Mutating,
            review: review.clone(),
        });
        c.group = Some("g".into());
        c.snapshots = Some(Snapshots::new());
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({"binding": "b", "type": "Mutating", "review": {"request": {"uid": "u"}}, "snapshots": {}})
        );
        let c = ctx(ContextKind::Conversion {
            from_version: "a/v1".into(),
            to_version: "a/v2".into(),
            review,
        });
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({"binding": "b", "type": "Conversion", "fromVersion": "a/v1", "toVersion": "a/v2", "review": {"request": {"uid": "u"}}})
        );
    }

    #[test]
    fn v0_events_name_the_object() {
        let o = ObjectAndFilterResult {
            object: Some(Arc::new(ObjectJson::from_value(
                &json!({"kind": "Pod", "metadata": {"name": "p", "namespace": "n"}}),
            ))),
            filter_result: None,
        };
        let mut c = ctx(ContextKind::Event {
            watch_event: WatchEvent::Deleted,
            object: o,
        });
        c.version = ConfigVersion::V0;
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            json!({"binding": "b", "resourceEvent": "delete", "resourceNamespace": "n", "resourceKind": "Pod", "resourceName": "p"})
        );
    }
}

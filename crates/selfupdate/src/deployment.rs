//! The operator's own Deployment as the hook sees it (a jq projection of the object), and the
//! JSON patches that change it: one patch per change, with `test` operations so the API
//! server applies all of it or nothing.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

use crate::image::ImageRef;
use crate::settings::Channel;

/// Annotation: the channel of the last applied update.
pub const ANNOTATION_CHANNEL: &str = "addon-operator.io/update-channel";
/// Annotation: the digest of the last applied update.
pub const ANNOTATION_DIGEST: &str = "addon-operator.io/update-digest";
/// Annotation: when the last update was applied (RFC 3339, UTC).
pub const ANNOTATION_TIME: &str = "addon-operator.io/update-time";
/// Annotation: the digest the channel offers and that is not applied yet.
pub const ANNOTATION_AVAILABLE: &str = "addon-operator.io/update-available";
/// Annotation: when this cluster first saw the available digest (RFC 3339, UTC); the wave
/// delay counts from it, so it survives hook runs and operator restarts.
pub const ANNOTATION_FIRST_SEEN: &str = "addon-operator.io/update-first-seen";
/// Annotation set by an administrator in `Manual` mode: the digest approved for applying.
pub const ANNOTATION_APPROVED: &str = "addon-operator.io/approved-digest";

/// The container the operator runs in, when its Deployment has several.
pub const CONTAINER_NAME: &str = "addon-operator";

/// The jq filter of the hook's Deployment binding: only the fields the hook reads, so status
/// changes of the rollout do not wake the hook.
pub const JQ_FILTER: &str = "{name: .metadata.name, namespace: .metadata.namespace, \
     annotations: (.metadata.annotations // {}), \
     containers: [(.spec.template.spec.containers // [])[] | {name: .name, image: .image}]}";

/// The Deployment, reduced to what the update needs.
#[derive(Debug, Clone, PartialEq)]
pub struct DeploymentView {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Annotations.
    pub annotations: Map<String, Value>,
    /// Index of the operator's container (named `addon-operator`, else the first).
    pub container_index: usize,
    /// Its name.
    pub container_name: String,
    /// Its image, as written.
    pub image: String,
}

impl DeploymentView {
    /// Reads the projection [`JQ_FILTER`] produces; `None` without a container.
    pub fn from_filter_result(value: &Value) -> Option<DeploymentView> {
        let containers = value.get("containers")?.as_array()?;
        let index = containers
            .iter()
            .position(|c| c.get("name").and_then(Value::as_str) == Some(CONTAINER_NAME))
            .unwrap_or(0);
        let container = containers.get(index)?;
        let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(String::from);
        Some(DeploymentView {
            namespace: text(value, "namespace").unwrap_or_default(),
            name: text(value, "name")?,
            annotations: value
                .get("annotations")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            container_index: index,
            container_name: text(container, "name").unwrap_or_default(),
            image: text(container, "image")?,
        })
    }

    /// An annotation's value.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.get(key).and_then(Value::as_str)
    }

    /// The running image, parsed.
    pub fn image_ref(&self) -> Option<ImageRef> {
        ImageRef::parse(&self.image)
    }

    /// The channel the running image came from: the `update-channel` annotation when the
    /// `update-digest` annotation names the running digest, else the tag it runs by.
    pub fn running_channel(&self) -> Option<Channel> {
        let image = self.image_ref()?;
        if image.digest.is_some() && image.digest.as_deref() == self.annotation(ANNOTATION_DIGEST) {
            return self.annotation(ANNOTATION_CHANNEL)?.parse().ok();
        }
        image.tag?.parse().ok()
    }

    /// The recorded available digest and its first-seen time, if both annotations are valid.
    pub fn available(&self) -> Option<crate::decision::Available> {
        let digest = self.annotation(ANNOTATION_AVAILABLE)?.to_string();
        let first_seen = DateTime::parse_from_rfc3339(self.annotation(ANNOTATION_FIRST_SEEN)?)
            .ok()?
            .with_timezone(&Utc);
        Some(crate::decision::Available { digest, first_seen })
    }

    /// The object-patch operation (hook protocol `JSONPatch`) that pins the container to
    /// `<repository>@<digest>` and records channel, digest and time, in one request.
    ///
    /// # Guarantees
    /// The patch starts with `test` operations on the container's name and current image: if
    /// the Deployment changed since the hook looked, the API server rejects the whole patch
    /// and nothing is half-applied.
    pub fn apply_patch(
        &self,
        repository: &str,
        digest: &str,
        channel: Channel,
        now: DateTime<Utc>,
    ) -> Value {
        let container = format!("/spec/template/spec/containers/{}", self.container_index);
        let mut ops = vec![
            json!({"op": "test", "path": format!("{container}/name"), "value": self.container_name}),
            json!({"op": "test", "path": format!("{container}/image"), "value": self.image}),
            json!({"op": "replace", "path": format!("{container}/image"), "value": ImageRef::pinned(repository, digest)}),
        ];
        ops.extend(self.annotation_ops(
            &[
                (ANNOTATION_CHANNEL, channel.tag().to_string()),
                (ANNOTATION_DIGEST, digest.to_string()),
                (ANNOTATION_TIME, rfc3339(now)),
            ],
            &[ANNOTATION_AVAILABLE, ANNOTATION_FIRST_SEEN],
        ));
        self.object_patch(ops)
    }

    /// The object-patch operation that records `digest` as available, first seen at
    /// `first_seen` (annotations only: the pod template, and so the pods, stay as they are).
    pub fn record_patch(&self, digest: &str, first_seen: DateTime<Utc>) -> Value {
        let ops = self.annotation_ops(
            &[
                (ANNOTATION_AVAILABLE, digest.to_string()),
                (ANNOTATION_FIRST_SEEN, rfc3339(first_seen)),
            ],
            &[],
        );
        self.object_patch(ops)
    }

    fn object_patch(&self, ops: Vec<Value>) -> Value {
        json!({
            "operation": "JSONPatch",
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "namespace": self.namespace,
            "name": self.name,
            "jsonPatch": ops,
        })
    }

    /// Sets `set` and removes those of `remove` that exist, without touching other
    /// annotations (a missing map is created whole).
    fn annotation_ops(&self, set: &[(&str, String)], remove: &[&str]) -> Vec<Value> {
        if self.annotations.is_empty() {
            let map: Map<String, Value> = set
                .iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
                .collect();
            return vec![json!({"op": "add", "path": "/metadata/annotations", "value": map})];
        }
        let path = |key: &str| {
            format!(
                "/metadata/annotations/{}",
                key.replace('~', "~0").replace('/', "~1")
            )
        };
        let mut ops: Vec<Value> = set
            .iter()
            .map(|(k, v)| json!({"op": "add", "path": path(k), "value": v}))
            .collect();
        ops.extend(
            remove
                .iter()
                .filter(|k| self.annotations.contains_key(**k))
                .map(|k| json!({"op": "remove", "path": path(k)})),
        );
        ops
    }
}

/// RFC 3339 in UTC with seconds (`2024-01-05T12:00:00Z`).
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn view(annotations: Value) -> DeploymentView {
        DeploymentView::from_filter_result(&json!({
            "name": "addon-operator", "namespace": "ops", "annotations": annotations,
            "containers": [{"name": "sidecar", "image": "x"},
                           {"name": "addon-operator", "image": "r.example.com/op@sha256:01"}],
        }))
        .unwrap()
    }

    #[test]
    fn the_operator_container_is_found_by_name_and_its_origin_by_annotation() {
        let v = view(json!({ANNOTATION_DIGEST: "sha256:01", ANNOTATION_CHANNEL: "alpha"}));
        assert_eq!(
            (v.container_index, v.image.as_str()),
            (1, "r.example.com/op@sha256:01")
        );
        assert_eq!(v.running_channel(), Some(Channel::Alpha));
        let stale = view(json!({ANNOTATION_DIGEST: "sha256:00", ANNOTATION_CHANNEL: "alpha"}));
        assert_eq!(stale.running_channel(), None);
        let first = DeploymentView::from_filter_result(&json!({
            "name": "d", "containers": [{"name": "main", "image": "r/op:beta"}]}))
        .unwrap();
        assert_eq!(
            (first.container_index, first.running_channel()),
            (0, Some(Channel::Beta))
        );
    }

    #[test]
    fn an_apply_is_one_patch_guarded_by_tests_on_the_seen_container() {
        let now = Utc.with_ymd_and_hms(2024, 1, 5, 12, 0, 0).unwrap();
        let v = view(json!({"other": "kept", ANNOTATION_AVAILABLE: "sha256:02"}));
        let patch = v.apply_patch("r.example.com/op", "sha256:02", Channel::Stable, now);
        assert_eq!(patch["operation"], "JSONPatch");
        let ops = patch["jsonPatch"].as_array().unwrap();
        assert_eq!(
            ops[..3],
            [
                json!({"op": "test", "path": "/spec/template/spec/containers/1/name", "value": "addon-operator"}),
                json!({"op": "test", "path": "/spec/template/spec/containers/1/image", "value": "r.example.com/op@sha256:01"}),
                json!({"op": "replace", "path": "/spec/template/spec/containers/1/image", "value": "r.example.com/op@sha256:02"}),
            ]
        );
        assert!(ops.contains(&json!({"op": "add", "path": "/metadata/annotations/addon-operator.io~1update-time", "value": "2024-01-05T12:00:00Z"})));
        assert!(ops.contains(&json!({"op": "remove", "path": "/metadata/annotations/addon-operator.io~1update-available"})));
        assert!(
            !ops.iter()
                .any(|op| op["path"].as_str().unwrap().ends_with("first-seen"))
        );
    }

    #[test]
    fn a_deployment_without_annotations_gets_the_whole_map() {
        let now = Utc.with_ymd_and_hms(2024, 1, 5, 12, 0, 0).unwrap();
        let patch = view(json!({})).record_patch("sha256:02", now);
        assert_eq!(
            patch["jsonPatch"],
            json!([{"op": "add", "path": "/metadata/annotations", "value": {
                ANNOTATION_AVAILABLE: "sha256:02", ANNOTATION_FIRST_SEEN: "2024-01-05T12:00:00Z"}}])
        );
        let recorded = view(
            json!({ANNOTATION_AVAILABLE: "sha256:02", ANNOTATION_FIRST_SEEN: "2024-01-05T12:00:00Z"}),
        );
        assert_eq!(recorded.available().unwrap().first_seen, now);
    }
}

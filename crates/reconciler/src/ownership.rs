//! Who may write an object: one owner per object, and adoption only when the object asks for it.
//!
//! The live object's `addon-operator.io/module` label is the durable mark of ownership: prune
//! and delete act only on objects that carry it (see `cluster::delete_owned`). So before a module
//! writes an object that its inventory does not already vouch for, the live object is read and
//! judged here ([`judge`]); an apply in progress in this process also holds a [`Claims`] entry
//! on each object it is about to create, because such an object has no label yet.

use crate::objref::{ObjectKey, ObjectRef};
use crate::prepare::{MODULE_LABEL, Resolved};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Annotation by which a live object not created by addon-operator asks to be adopted by the
/// module that renders it: `addon-operator.io/adopt: "true"`.
pub const ADOPT_ANNOTATION: &str = "addon-operator.io/adopt";
/// Helm's release-name ownership annotation; naming the module adopts the object (the
/// migration path from addon-operator, whose modules are Helm releases named after them).
pub const HELM_RELEASE_NAME_ANNOTATION: &str = "meta.helm.sh/release-name";
/// Helm's release-namespace ownership annotation; when present it must name the operator
/// namespace for [`HELM_RELEASE_NAME_ANNOTATION`] to adopt.
pub const HELM_RELEASE_NAMESPACE_ANNOTATION: &str = "meta.helm.sh/release-namespace";

/// How a live object is taken into a module's inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adoption {
    /// `addon-operator.io/adopt: "true"`.
    Annotation,
    /// Helm's `meta.helm.sh/release-name` names the module.
    Helm,
}

/// What a live object's metadata says about whether `module` may write it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No such object: the apply creates it.
    Absent,
    /// Ours: it carries the module's label, or the module's inventory records our apply of it.
    Ours,
    /// Not ours yet, and it asks to be adopted by this module.
    Adopt(Adoption),
    /// Another module's: it carries `addon-operator.io/module=<owner>`.
    OwnedBy(String),
    /// Someone else's object that does not ask to be adopted.
    NotAdopted,
}

/// Judges whether `module` may write the live object `live` (`None`: absent).
///
/// `applied_by_us` says the module's inventory lists the object with the hash of an apply of
/// ours (not merely as pending): such an object is ours even if someone removed its label.
/// `operator_namespace` is where the module's Helm release would have lived.
///
/// # Guarantees
/// An object carrying another module's label is never ours, whatever it is annotated with or
/// whatever this module's inventory says: one owner per object. An object without a module
/// label is ours only when our inventory records our apply of it or it asks to be adopted.
pub fn judge(
    module: &str,
    operator_namespace: &str,
    live: Option<&Value>,
    applied_by_us: bool,
) -> Verdict {
    let Some(live) = live else {
        return Verdict::Absent;
    };
    let metadata = &live["metadata"];
    match metadata["labels"][MODULE_LABEL].as_str() {
        Some(owner) if owner == module => return Verdict::Ours,
        Some(owner) if !owner.is_empty() => return Verdict::OwnedBy(owner.to_string()),
        _ => {}
    }
    if applied_by_us {
        return Verdict::Ours;
    }
    let annotation = |name: &str| metadata["annotations"][name].as_str();
    if annotation(ADOPT_ANNOTATION) == Some("true") {
        return Verdict::Adopt(Adoption::Annotation);
    }
    let namespace_matches = annotation(HELM_RELEASE_NAMESPACE_ANNOTATION)
        .is_none_or(|namespace| namespace == operator_namespace);
    if annotation(HELM_RELEASE_NAME_ANNOTATION) == Some(module) && namespace_matches {
        return Verdict::Adopt(Adoption::Helm);
    }
    Verdict::NotAdopted
}

/// The `kubectl annotate` command that lets a module adopt `object`.
pub fn adopt_command(object: &ObjectRef, resolved: &Resolved) -> String {
    let resource = &resolved.resource;
    let kind = if resource.group.is_empty() {
        resource.plural.clone()
    } else {
        format!("{}.{}", resource.plural, resource.group)
    };
    let namespace = object
        .namespace
        .as_ref()
        .map(|ns| format!(" -n {ns}"))
        .unwrap_or_default();
    format!(
        "kubectl annotate {kind} {}{namespace} {ADOPT_ANNOTATION}=true",
        object.name
    )
}

/// Objects that applies running in this process are checking or creating right now, with the
/// module of each.
///
/// An object an apply is about to create has no label yet, so two modules of one process that
/// render it at the same time would both find it absent; the first to claim it wins, the other
/// is refused as if the label were already there. Claims last for one apply (see
/// [`ClaimGuard`]): afterwards the created object's label speaks for it.
#[derive(Debug, Default)]
pub struct Claims {
    held: Mutex<HashMap<ObjectKey, String>>,
}

/// Releases the claims of one apply when dropped (finished, failed or cancelled).
#[derive(Debug)]
pub struct ClaimGuard {
    claims: Arc<Claims>,
    module: String,
    keys: Vec<ObjectKey>,
}

impl Claims {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectKey, String>> {
        // Single inserts and removes: a poisoned lock still holds consistent data.
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Claims `keys` for `module`; returns the guard holding the new claims and every key
    /// another module holds, with that module.
    pub fn claim(
        self: &Arc<Self>,
        module: &str,
        keys: impl IntoIterator<Item = ObjectKey>,
    ) -> (ClaimGuard, Vec<(ObjectKey, String)>) {
        let mut held = self.lock();
        let mut guard = ClaimGuard {
            claims: self.clone(),
            module: module.to_string(),
            keys: Vec::new(),
        };
        let mut taken = Vec::new();
        for key in keys {
            match held.get(&key) {
                Some(owner) if owner != module => taken.push((key, owner.clone())),
                Some(_) => {}
                None => {
                    held.insert(key.clone(), module.to_string());
                    guard.keys.push(key);
                }
            }
        }
        (guard, taken)
    }
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        let mut held = self.claims.lock();
        for key in &self.keys {
            if held.get(key) == Some(&self.module) {
                held.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::{ApiResource, GroupVersionKind};
    use serde_json::json;

    fn object(labels: Value, annotations: Value) -> Value {
        json!({"metadata": {"name": "x", "labels": labels, "annotations": annotations}})
    }

    #[test]
    fn an_absent_object_may_be_created() {
        assert_eq!(judge("a", "ops", None, false), Verdict::Absent);
    }

    #[test]
    fn another_modules_label_wins_over_adoption_and_our_inventory() {
        let live = object(
            json!({MODULE_LABEL: "b"}),
            json!({ADOPT_ANNOTATION: "true", HELM_RELEASE_NAME_ANNOTATION: "a"}),
        );
        for applied in [false, true] {
            assert_eq!(
                judge("a", "ops", Some(&live), applied),
                Verdict::OwnedBy("b".into())
            );
        }
        let ours = object(json!({MODULE_LABEL: "a"}), json!({}));
        assert_eq!(judge("a", "ops", Some(&ours), false), Verdict::Ours);
    }

    #[test]
    fn a_foreign_object_is_adopted_only_when_it_asks() {
        let plain = object(json!({"app": "x"}), json!({}));
        assert_eq!(judge("a", "ops", Some(&plain), false), Verdict::NotAdopted);
        assert_eq!(judge("a", "ops", Some(&plain), true), Verdict::Ours);
        let annotated = object(json!({}), json!({ADOPT_ANNOTATION: "true"}));
        assert_eq!(
            judge("a", "ops", Some(&annotated), false),
            Verdict::Adopt(Adoption::Annotation)
        );
        let not_true = object(json!({}), json!({ADOPT_ANNOTATION: "yes"}));
        assert_eq!(
            judge("a", "ops", Some(&not_true), false),
            Verdict::NotAdopted
        );
    }

    #[test]
    fn helm_ownership_adopts_only_for_the_module_and_the_operator_namespace() {
        let helm = |name: &str, namespace: Option<&str>| {
            let mut annotations = json!({HELM_RELEASE_NAME_ANNOTATION: name});
            if let Some(ns) = namespace {
                annotations[HELM_RELEASE_NAMESPACE_ANNOTATION] = ns.into();
            }
            object(json!({"app.kubernetes.io/managed-by": "Helm"}), annotations)
        };
        let adopt = Verdict::Adopt(Adoption::Helm);
        assert_eq!(judge("a", "ops", Some(&helm("a", None)), false), adopt);
        assert_eq!(
            judge("a", "ops", Some(&helm("a", Some("ops"))), false),
            adopt
        );
        let elsewhere = helm("a", Some("other"));
        assert_eq!(
            judge("a", "ops", Some(&elsewhere), false),
            Verdict::NotAdopted
        );
        let other_release = helm("b", Some("ops"));
        assert_eq!(
            judge("a", "ops", Some(&other_release), false),
            Verdict::NotAdopted
        );
    }

    #[test]
    fn the_adopt_command_names_resource_group_namespace_and_name() {
        let resolved = |group: &str, kind: &str, plural: &str, namespaced| Resolved {
            resource: ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk(group, "v1", kind),
                plural,
            ),
            namespaced,
        };
        let cm = ObjectRef {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some("apps".into()),
            name: "settings".into(),
        };
        assert_eq!(
            adopt_command(&cm, &resolved("", "ConfigMap", "configmaps", true)),
            "kubectl annotate configmaps settings -n apps addon-operator.io/adopt=true"
        );
        let crd = ObjectRef {
            api_version: "apiextensions.k8s.io/v1".into(),
            kind: "CustomResourceDefinition".into(),
            namespace: None,
            name: "widgets.example.com".into(),
        };
        let crds = resolved(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
        );
        assert_eq!(
            adopt_command(&crd, &crds),
            "kubectl annotate customresourcedefinitions.apiextensions.k8s.io widgets.example.com addon-operator.io/adopt=true"
        );
    }

    #[test]
    fn a_claim_is_exclusive_until_its_apply_ends() {
        let claims = Arc::new(Claims::default());
        let key = |name: &str| {
            (
                String::new(),
                "Namespace".into(),
                String::new(),
                name.into(),
            )
        };
        let (first, taken) = claims.claim("a", [key("shared"), key("a-only")]);
        assert!(taken.is_empty());
        let (second, taken) = claims.claim("b", [key("shared"), key("b-only")]);
        assert_eq!(taken, [(key("shared"), "a".to_string())]);
        drop(first);
        let (_third, taken) = claims.claim("b", [key("shared")]);
        assert!(taken.is_empty(), "released when the first apply ended");
        drop(second);
        let (_fourth, taken) = claims.claim("c", [key("b-only"), key("shared")]);
        assert_eq!(taken, [(key("shared"), "b".to_string())]);
    }
}

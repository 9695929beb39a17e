//! Pure decisions: whether an object needs a write, what to prune, and when a dry-run result
//! equals the live object.

use crate::inventory::InventoryEntry;
use crate::objref::{ObjectKey, ObjectRef};
use serde_json::Value;
use std::collections::HashSet;

/// What to do with one desired object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The live object is exactly what our last apply produced and the desired object is
    /// unchanged: no request at all.
    Skip,
    /// Someone (or something) changed the object since our apply, or we never recorded it:
    /// a server-side dry-run decides whether a write is needed.
    DryRun,
    /// The object is absent or its desired content changed: apply.
    Apply,
}

/// Decides how to handle a desired object.
///
/// `recorded` is the inventory entry of the last apply, `live_rv` the resourceVersion of the
/// live object (`None` when absent).
///
/// # Guarantees
/// [`Action::Skip`] only when the desired hash equals the recorded hash AND the live
/// resourceVersion equals the one our apply got back. A resourceVersion changes on every write,
/// so an equal one means nobody has written the object since our apply, and applying the same
/// content again would not change it either.
pub fn decide(hash: &str, recorded: Option<&InventoryEntry>, live_rv: Option<&str>) -> Action {
    let Some(live_rv) = live_rv else {
        return Action::Apply;
    };
    // Never recorded, or recorded as pending before a crash: it may already be as desired.
    let Some(entry) = recorded else {
        return Action::DryRun;
    };
    let Some(recorded_hash) = entry.hash.as_deref() else {
        return Action::DryRun;
    };
    if recorded_hash != hash {
        return Action::Apply;
    }
    if entry.resource_version.as_deref() == Some(live_rv) {
        Action::Skip
    } else {
        Action::DryRun
    }
}

/// Objects of the old inventory that the new render no longer contains, in reverse apply order
/// (custom resources first, CRDs and Namespaces last), ready to be pruned.
///
/// # Guarantees
/// Every returned ref is taken from `old`: nothing outside the inventory is ever returned.
pub fn prune_plan<'a>(
    old: impl IntoIterator<Item = &'a ObjectRef>,
    new: &[ObjectRef],
) -> Vec<ObjectRef> {
    let keep: HashSet<ObjectKey> = new.iter().map(ObjectRef::key).collect();
    let mut gone: Vec<ObjectRef> = old
        .into_iter()
        .filter(|r| !keep.contains(&r.key()))
        .cloned()
        .collect();
    sort_for_delete(&mut gone);
    gone
}

/// Sorts refs into deletion order: the reverse of apply order (stable within a kind).
pub fn sort_for_delete(refs: &mut [ObjectRef]) {
    refs.sort_by_key(|r| std::cmp::Reverse(r.rank()));
}

/// The object with the fields the server changes on every write removed, for comparing a
/// dry-run result with the live object: `managedFields` (timestamps), `resourceVersion`,
/// `generation`.
pub fn comparable(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in ["managedFields", "resourceVersion", "generation"] {
            metadata.remove(field);
        }
    }
    object
}

/// Whether a server-side dry-run apply would leave the live object as it is.
pub fn dry_run_is_noop(dry_run: &Value, live: &Value) -> bool {
    comparable(dry_run) == comparable(live)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(hash: &str, rv: &str) -> InventoryEntry {
        InventoryEntry {
            object: r("v1", "ConfigMap", "c"),
            hash: Some(hash.into()),
            resource_version: Some(rv.into()),
        }
    }

    fn r(api_version: &str, kind: &str, name: &str) -> ObjectRef {
        ObjectRef {
            api_version: api_version.into(),
            kind: kind.into(),
            namespace: Some("ns".into()),
            name: name.into(),
        }
    }

    #[test]
    fn unchanged_object_with_our_resource_version_is_skipped() {
        assert_eq!(decide("h", Some(&entry("h", "5")), Some("5")), Action::Skip);
    }

    #[test]
    fn object_written_by_someone_else_is_dry_run() {
        assert_eq!(
            decide("h", Some(&entry("h", "5")), Some("9")),
            Action::DryRun
        );
        assert_eq!(decide("h", None, Some("9")), Action::DryRun);
        let pending = InventoryEntry::pending(r("v1", "ConfigMap", "c"));
        assert_eq!(decide("h", Some(&pending), Some("9")), Action::DryRun);
    }

    #[test]
    fn changed_or_absent_object_is_applied() {
        assert_eq!(
            decide("new", Some(&entry("h", "5")), Some("5")),
            Action::Apply
        );
        assert_eq!(decide("h", Some(&entry("h", "5")), None), Action::Apply);
    }

    #[test]
    fn prune_plan_returns_only_old_objects_missing_from_the_new_render_in_reverse_order() {
        let old = vec![
            r("v1", "Namespace", "n"),
            r("v1", "ConfigMap", "keep"),
            r("apps/v1", "Deployment", "d"),
            r("example.com/v1", "Widget", "w"),
            r("extensions/v1beta1", "Ingress", "moved"),
        ];
        let new = vec![
            r("v1", "ConfigMap", "keep"),
            r("networking.k8s.io/v1", "Ingress", "moved"),
            r("v1", "Secret", "brand-new"),
        ];
        let plan = prune_plan(&old, &new);
        let names: Vec<_> = plan.iter().map(|r| r.name.as_str()).collect();
        // The Ingress changed group (extensions → networking.k8s.io), so it is another object.
        assert_eq!(names, ["w", "moved", "d", "n"]);
        assert!(plan.iter().all(|p| old.contains(p)));
    }

    #[test]
    fn prune_plan_keeps_objects_whose_version_changed_within_a_group() {
        let old = vec![r("networking.k8s.io/v1beta1", "Ingress", "i")];
        let new = vec![r("networking.k8s.io/v1", "Ingress", "i")];
        assert!(prune_plan(&old, &new).is_empty());
    }

    #[test]
    fn dry_run_comparison_ignores_server_bookkeeping_only() {
        let live = json!({"metadata": {"name": "a", "resourceVersion": "1", "generation": 1,
            "managedFields": [{"time": "t1"}]}, "data": {"k": "v"}});
        let same = json!({"metadata": {"name": "a", "resourceVersion": "2", "generation": 2,
            "managedFields": [{"time": "t2"}]}, "data": {"k": "v"}});
        let changed =
            json!({"metadata": {"name": "a", "resourceVersion": "1"}, "data": {"k": "w"}});
        assert!(dry_run_is_noop(&same, &live));
        assert!(!dry_run_is_noop(&changed, &live));
    }
}

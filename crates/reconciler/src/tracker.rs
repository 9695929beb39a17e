//! What this reconciler applied, shared with the drift watch: per object, its module, the
//! resourceVersions our own writes produced, and whether a write is in flight.
//!
//! The drift watch compares watch events against this: an event carrying a resourceVersion we
//! produced (or arriving while our write is in flight) is our own write, anything else is drift.
//!
//! The drift watch also records the latest resourceVersion it saw of every managed object, per
//! kind, and marks a kind *synced* once its watcher has listed it. `apply_module` then reads
//! live resourceVersions from here instead of listing: the watch is an informer cache.
//!
//! For objects that carry `metadata.generation`, a [`Fingerprint`] of what a status-only write
//! leaves alone (uid, generation, labels, annotations) is kept next to each resourceVersion, so
//! a controller updating an object's status is not taken for drift.

use crate::objref::{ObjectKey, ObjectRef};
use crate::prepare::Resolved;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::ApiResource;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;
use tokio::sync::watch;

/// How many of our own resourceVersions are remembered per object: enough to cover writes whose
/// watch events are still in transit.
const REMEMBERED_VERSIONS: usize = 8;

/// A hash of the metadata a status-only write leaves unchanged: uid, `metadata.generation`,
/// labels and annotations. `None` for objects without a generation (ConfigMaps, Secrets, ...):
/// for them every write changes what we applied, so only the resourceVersion tells.
pub type Fingerprint = Option<u64>;

fn fingerprint<'a>(
    uid: Option<&str>,
    generation: Option<i64>,
    labels: impl Iterator<Item = (&'a str, &'a str)>,
    annotations: impl Iterator<Item = (&'a str, &'a str)>,
) -> Fingerprint {
    let generation = generation?;
    let mut hasher = DefaultHasher::new();
    (uid, generation).hash(&mut hasher);
    labels.collect::<BTreeMap<_, _>>().hash(&mut hasher);
    annotations.collect::<BTreeMap<_, _>>().hash(&mut hasher);
    Some(hasher.finish())
}

/// The state of an object as seen live (by the watch) or as returned by a write of ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// Its resourceVersion.
    pub rv: String,
    /// Its [`Fingerprint`].
    pub fingerprint: Fingerprint,
}

impl Seen {
    /// From object metadata (what the metadata-only drift watch receives).
    pub fn from_meta(meta: &ObjectMeta) -> Seen {
        fn pairs(m: &Option<BTreeMap<String, String>>) -> impl Iterator<Item = (&str, &str)> {
            m.iter().flatten().map(|(k, v)| (k.as_str(), v.as_str()))
        }
        Seen {
            rv: meta.resource_version.clone().unwrap_or_default(),
            fingerprint: fingerprint(
                meta.uid.as_deref(),
                meta.generation,
                pairs(&meta.labels),
                pairs(&meta.annotations),
            ),
        }
    }

    /// From a whole object as JSON (a write's response); `None` without a resourceVersion.
    pub fn from_value(object: &Value) -> Option<Seen> {
        let meta = &object["metadata"];
        fn pairs(map: &Value) -> impl Iterator<Item = (&str, &str)> {
            map.as_object()
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
        }
        Some(Seen {
            rv: meta["resourceVersion"].as_str()?.to_string(),
            fingerprint: fingerprint(
                meta["uid"].as_str(),
                meta["generation"].as_i64(),
                pairs(&meta["labels"]),
                pairs(&meta["annotations"]),
            ),
        })
    }
}

/// One applied object.
#[derive(Debug, Clone)]
pub struct Tracked {
    /// The module that applied it.
    pub module: String,
    /// The object.
    pub object: ObjectRef,
    /// resourceVersions our writes (or our unchanged checks) produced, newest last.
    pub ours: VecDeque<String>,
    /// Writes of ours not finished yet.
    pub in_flight: u32,
    /// The [`Fingerprint`] our latest write (or unchanged check) left the object with.
    pub fingerprint: Fingerprint,
}

impl Tracked {
    /// Whether `live` is a state we left the object in: a resourceVersion of ours, or (for
    /// objects with a generation) only status and other unfingerprinted fields changed since.
    pub fn is_ours(&self, live: &Seen) -> bool {
        self.ours.contains(&live.rv)
            || (live.fingerprint.is_some() && live.fingerprint == self.fingerprint)
    }
}

/// Shared tracking state; cheap to lock (no I/O under the lock).
#[derive(Debug)]
pub struct Tracker {
    state: Mutex<State>,
    /// Bumped whenever a new resource (kind) is tracked, so the drift watch starts a watcher.
    kinds: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct State {
    objects: HashMap<ObjectKey, Tracked>,
    resources: HashMap<(String, String, String), ApiResource>,
    /// Latest state of every managed object the drift watch has seen present.
    live: HashMap<ObjectKey, Seen>,
    /// (group, kind) whose watcher has listed and is streaming: `live` is complete for them.
    synced: HashSet<(String, String)>,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker {
            state: Mutex::new(State::default()),
            kinds: watch::Sender::new(0),
        }
    }
}

impl Tracker {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update below is a single map operation, so a poisoned lock holds consistent data.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn entry<'a>(
        &self,
        state: &'a mut State,
        module: &str,
        object: &ObjectRef,
        resolved: &Resolved,
    ) -> &'a mut Tracked {
        self.add_resource(state, &resolved.resource);
        let tracked = state
            .objects
            .entry(object.key())
            .or_insert_with(|| Tracked {
                module: module.to_string(),
                object: object.clone(),
                ours: VecDeque::new(),
                in_flight: 0,
                fingerprint: None,
            });
        tracked.module = module.to_string();
        tracked
    }

    fn add_resource(&self, state: &mut State, resource: &ApiResource) {
        let rkey = (
            resource.group.clone(),
            resource.version.clone(),
            resource.plural.clone(),
        );
        if let std::collections::hash_map::Entry::Vacant(slot) = state.resources.entry(rkey) {
            slot.insert(resource.clone());
            self.kinds.send_modify(|n| *n += 1);
        }
    }

    /// Has the drift watch watch a resource even before anything of it is applied (the
    /// inventory Secrets, whose resourceVersions validate the in-memory inventory cache).
    pub fn watch_resource(&self, resource: &ApiResource) {
        let mut state = self.lock();
        self.add_resource(&mut state, resource);
    }

    /// Marks a write of ours as started: events for the object are ours until it finishes.
    pub fn begin(&self, module: &str, object: &ObjectRef, resolved: &Resolved) {
        let mut state = self.lock();
        self.entry(&mut state, module, object, resolved).in_flight += 1;
    }

    /// Marks a write as finished, remembering the state it produced (if it succeeded).
    pub fn finish(
        &self,
        module: &str,
        object: &ObjectRef,
        resolved: &Resolved,
        written: Option<Seen>,
    ) {
        let mut state = self.lock();
        let tracked = self.entry(&mut state, module, object, resolved);
        tracked.in_flight = tracked.in_flight.saturating_sub(1);
        if let Some(seen) = written {
            remember(tracked, seen);
        }
    }

    /// Records an object found unchanged at resourceVersion `rv`; `current` is the object when
    /// it was read, else its fingerprint comes from what the watch saw at that version.
    pub fn observed(
        &self,
        module: &str,
        object: &ObjectRef,
        resolved: &Resolved,
        rv: &str,
        current: Option<&Value>,
    ) {
        let mut state = self.lock();
        let fingerprint = match current.and_then(Seen::from_value) {
            Some(seen) => seen.fingerprint,
            None => state
                .live
                .get(&object.key())
                .filter(|live| live.rv == rv)
                .and_then(|live| live.fingerprint),
        };
        let seen = Seen {
            rv: rv.to_string(),
            fingerprint,
        };
        remember(self.entry(&mut state, module, object, resolved), seen);
    }

    /// Stops tracking an object (before we delete it, so its deletion is not drift).
    pub fn forget(&self, object: &ObjectRef) {
        self.lock().objects.remove(&object.key());
    }

    /// A copy of the tracking entry of an object.
    pub fn get(&self, key: &ObjectKey) -> Option<Tracked> {
        self.lock().objects.get(key).cloned()
    }

    /// Records the latest state of a managed object seen by the watch (`None`: gone).
    pub fn see(&self, key: ObjectKey, seen: Option<Seen>) {
        let mut state = self.lock();
        match seen {
            Some(seen) => state.live.insert(key, seen),
            None => state.live.remove(&key),
        };
    }

    /// Replaces what is known of one kind by a fresh listing and marks it synced; returns the
    /// keys that were known present and are missing from the listing (deleted meanwhile).
    pub fn resync(
        &self,
        group: &str,
        kind: &str,
        listed: HashMap<ObjectKey, Seen>,
    ) -> Vec<ObjectKey> {
        let mut state = self.lock();
        let of_kind = |k: &ObjectKey| k.0 == group && k.1 == kind;
        let gone: Vec<ObjectKey> = state
            .live
            .keys()
            .filter(|k| of_kind(k) && !listed.contains_key(*k))
            .cloned()
            .collect();
        state.live.retain(|k, _| !of_kind(k));
        state.live.extend(listed);
        state.synced.insert((group.to_string(), kind.to_string()));
        gone
    }

    /// Marks a kind (or, with `None`, every kind) as not synced: its watcher is relisting,
    /// failing or stopped, so `live` may be stale for it.
    pub fn unsync(&self, kind: Option<(&str, &str)>) {
        let mut state = self.lock();
        match kind {
            Some((group, kind)) => {
                state.synced.remove(&(group.to_string(), kind.to_string()));
            }
            None => state.synced.clear(),
        }
    }

    /// The live resourceVersions of those `keys` that exist (all of one kind), if the watch has
    /// that kind synced; `None` means "ask the server".
    pub fn live_of(
        &self,
        group: &str,
        kind: &str,
        keys: &[ObjectKey],
    ) -> Option<HashMap<ObjectKey, String>> {
        let state = self.lock();
        if !state
            .synced
            .contains(&(group.to_string(), kind.to_string()))
        {
            return None;
        }
        Some(
            keys.iter()
                .filter_map(|k| state.live.get(k).map(|seen| (k.clone(), seen.rv.clone())))
                .collect(),
        )
    }

    /// The latest state the watch saw of an object, `None` if gone or never seen.
    pub fn live(&self, key: &ObjectKey) -> Option<Seen> {
        self.lock().live.get(key).cloned()
    }

    /// Every resource tracked so far.
    pub fn resources(&self) -> Vec<ApiResource> {
        self.lock().resources.values().cloned().collect()
    }

    /// A receiver that changes whenever a new resource is tracked.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.kinds.subscribe()
    }
}

fn remember(tracked: &mut Tracked, seen: Seen) {
    tracked.fingerprint = seen.fingerprint;
    if tracked.ours.back() != Some(&seen.rv) {
        tracked.ours.push_back(seen.rv);
    }
    while tracked.ours.len() > REMEMBERED_VERSIONS {
        tracked.ours.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: &str, name: &str) -> ObjectKey {
        (String::new(), kind.into(), "ns".into(), name.into())
    }

    fn seen(rv: &str) -> Seen {
        Seen {
            rv: rv.into(),
            fingerprint: None,
        }
    }

    fn rv(tracker: &Tracker, key: &ObjectKey) -> Option<String> {
        tracker.live(key).map(|s| s.rv)
    }

    #[test]
    fn fingerprints_ignore_status_and_agree_between_metadata_and_json() {
        let object = serde_json::json!({"metadata": {"resourceVersion": "4", "uid": "u",
            "generation": 2, "labels": {"b": "2", "a": "1"}, "annotations": {"x": "y"}},
            "status": {"replicas": 1}});
        let meta: ObjectMeta = serde_json::from_value(object["metadata"].clone()).unwrap();
        let json = Seen::from_value(&object).unwrap();
        assert!(json.fingerprint.is_some());
        assert_eq!(Seen::from_meta(&meta), json);
        let mut relabelled = object.clone();
        relabelled["metadata"]["labels"]["a"] = "changed".into();
        assert_ne!(
            Seen::from_value(&relabelled).unwrap().fingerprint,
            json.fingerprint
        );
        let mut no_generation = object;
        no_generation["metadata"]["generation"] = Value::Null;
        assert_eq!(Seen::from_value(&no_generation).unwrap().fingerprint, None);
    }

    #[test]
    fn live_view_is_only_offered_for_synced_kinds() {
        let tracker = Tracker::default();
        let keys = [key("ConfigMap", "a"), key("ConfigMap", "b")];
        assert!(tracker.live_of("", "ConfigMap", &keys).is_none());
        tracker.resync(
            "",
            "ConfigMap",
            HashMap::from([(keys[0].clone(), seen("3"))]),
        );
        let live = tracker.live_of("", "ConfigMap", &keys).unwrap();
        assert_eq!(live.len(), 1);
        assert_eq!(live[&keys[0]], "3");
        tracker.unsync(None);
        assert!(tracker.live_of("", "ConfigMap", &keys).is_none());
    }

    #[test]
    fn a_relist_reports_objects_that_vanished_and_keeps_other_kinds() {
        let tracker = Tracker::default();
        tracker.see(key("ConfigMap", "a"), Some(seen("1")));
        tracker.see(key("ConfigMap", "b"), Some(seen("2")));
        tracker.see(key("Secret", "s"), Some(seen("3")));
        let gone = tracker.resync(
            "",
            "ConfigMap",
            HashMap::from([(key("ConfigMap", "b"), seen("4"))]),
        );
        assert_eq!(gone, [key("ConfigMap", "a")]);
        assert_eq!(rv(&tracker, &key("ConfigMap", "b")).as_deref(), Some("4"));
        assert_eq!(rv(&tracker, &key("Secret", "s")).as_deref(), Some("3"));
        tracker.see(key("Secret", "s"), None);
        assert!(tracker.live(&key("Secret", "s")).is_none());
    }
}

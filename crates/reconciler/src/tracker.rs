//! What this reconciler applied, shared with the drift watch: per object, its module, the
//! resourceVersions our own writes produced, and whether a write is in flight.
//!
//! The drift watch compares watch events against this: an event carrying a resourceVersion we
//! produced (or arriving while our write is in flight) is our own write, anything else is drift.

use crate::objref::{ObjectKey, ObjectRef};
use crate::prepare::Resolved;
use kube::api::ApiResource;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use tokio::sync::watch;

/// How many of our own resourceVersions are remembered per object: enough to cover writes whose
/// watch events are still in transit.
const REMEMBERED_VERSIONS: usize = 8;

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
        let resource = &resolved.resource;
        let rkey = (
            resource.group.clone(),
            resource.version.clone(),
            resource.plural.clone(),
        );
        if let std::collections::hash_map::Entry::Vacant(slot) = state.resources.entry(rkey) {
            slot.insert(resource.clone());
            self.kinds.send_modify(|n| *n += 1);
        }
        let tracked = state
            .objects
            .entry(object.key())
            .or_insert_with(|| Tracked {
                module: module.to_string(),
                object: object.clone(),
                ours: VecDeque::new(),
                in_flight: 0,
            });
        tracked.module = module.to_string();
        tracked
    }

    /// Marks a write of ours as started: events for the object are ours until it finishes.
    pub fn begin(&self, module: &str, object: &ObjectRef, resolved: &Resolved) {
        let mut state = self.lock();
        self.entry(&mut state, module, object, resolved).in_flight += 1;
    }

    /// Marks a write as finished, remembering the resourceVersion it produced (if it succeeded).
    pub fn finish(
        &self,
        module: &str,
        object: &ObjectRef,
        resolved: &Resolved,
        rv: Option<String>,
    ) {
        let mut state = self.lock();
        let tracked = self.entry(&mut state, module, object, resolved);
        tracked.in_flight = tracked.in_flight.saturating_sub(1);
        if let Some(rv) = rv {
            remember(tracked, rv);
        }
    }

    /// Records an object found unchanged at `rv`.
    pub fn observed(&self, module: &str, object: &ObjectRef, resolved: &Resolved, rv: String) {
        let mut state = self.lock();
        remember(self.entry(&mut state, module, object, resolved), rv);
    }

    /// Stops tracking an object (before we delete it, so its deletion is not drift).
    pub fn forget(&self, object: &ObjectRef) {
        self.lock().objects.remove(&object.key());
    }

    /// A copy of the tracking entry of an object.
    pub fn get(&self, key: &ObjectKey) -> Option<Tracked> {
        self.lock().objects.get(key).cloned()
    }

    /// Tracked objects of one resource (group, plural).
    pub fn objects_of(&self, group: &str, plural: &str) -> Vec<Tracked> {
        let state = self.lock();
        let kinds: Vec<&str> = state
            .resources
            .values()
            .filter(|r| r.group == group && r.plural == plural)
            .map(|r| r.kind.as_str())
            .collect();
        state
            .objects
            .values()
            .filter(|t| {
                crate::order::group_of(&t.object.api_version) == group
                    && kinds.contains(&t.object.kind.as_str())
            })
            .cloned()
            .collect()
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

fn remember(tracked: &mut Tracked, rv: String) {
    if tracked.ours.back() != Some(&rv) {
        tracked.ours.push_back(rv);
    }
    while tracked.ours.len() > REMEMBERED_VERSIONS {
        tracked.ours.pop_front();
    }
}

//! The drift watch: objects this reconciler applied that someone else changed or deleted.
//!
//! One label-selected metadata-only watcher (`app.kubernetes.io/managed-by=addon-operator`) per resource
//! the reconciler has applied; a new resource gets its watcher as soon as it is first applied.
//! Observations are debounced and judged against the [`Tracker`]: an object whose latest
//! observed resourceVersion is one our own write produced is not drift, nor is an object with a
//! write of ours in flight (judged again after the next debounce window). Objects we prune or
//! delete are forgotten before the delete, so their deletion is not drift either.
//!
//! An object that carries `metadata.generation` (Deployments, CRDs, most custom resources) has
//! drifted only when its generation, uid, labels or annotations differ from what our last write
//! left: a controller writing its status (new resourceVersion, same generation) is not drift,
//! which would otherwise cost a dry-run apply per debounce window. Objects without a generation
//! (ConfigMaps, Secrets, RBAC) have drifted on any foreign resourceVersion.
//!
//! Each watcher is a [`cluster_access::ListWatch`]: after an API outage a `410 Gone` relists at
//! once and other errors back off by [`cluster_access::BackoffPolicy::WATCH`] (at most 4 s), so
//! drift repair resumes within seconds of the API's return. A relist reports every object
//! missing from it as gone (its delete event may have been lost).

use crate::objref::{ObjectKey, ObjectRef};
use crate::prepare::{MANAGED_BY_LABEL, MANAGER};
use crate::tracker::{Seen, Tracker};
use cluster_access::{ListWatch, Update};
use futures::{Stream, StreamExt};
use kube::api::{Api, ApiResource, DynamicObject};
use kube::core::{ObjectMeta, PartialObjectMeta};
use kube::runtime::watcher;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// How an applied object drifted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftChange {
    /// Someone else wrote the object (its resourceVersion is not one of ours).
    Modified,
    /// The object was deleted (or stopped matching the managed-by label).
    Deleted,
}

/// One drifted object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftedObject {
    /// The object.
    pub object: ObjectRef,
    /// What happened to it.
    pub change: DriftChange,
}

/// Objects of one module that drifted within one debounce window: re-apply the module's last
/// render (no need to rerun hooks).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriftEvent {
    /// The module that applied the objects.
    pub module: String,
    /// The drifted objects.
    pub objects: Vec<DriftedObject>,
}

/// A watched resource: (group, version, plural).
type ResourceKey = (String, String, String);

/// The watcher task of each watched resource, shared by the supervisor (which starts them) and
/// the [`DriftWatch`] (which stops them).
type WatcherTasks = Arc<std::sync::Mutex<HashMap<ResourceKey, JoinHandle<()>>>>;

fn abort_all(tasks: &WatcherTasks) {
    for handle in tasks.lock().unwrap_or_else(|p| p.into_inner()).values() {
        handle.abort();
    }
}

/// What a resource's watcher tells the supervisor.
enum Report {
    /// An object the watch saw change; its state is read from the [`Tracker`] when judged.
    Changed(ObjectKey),
    /// The resource was listed: the tracker knows all of it.
    Listed(ResourceKey),
}

/// A stream of [`DriftEvent`]s; dropping it stops every watcher.
#[derive(Debug)]
pub struct DriftWatch {
    events: mpsc::Receiver<DriftEvent>,
    listed: watch::Receiver<bool>,
    task: JoinHandle<()>,
    watchers: WatcherTasks,
}

impl DriftWatch {
    /// The next drift event; `None` only if the watch task ended.
    pub async fn recv(&mut self) -> Option<DriftEvent> {
        self.events.recv().await
    }

    /// Returns once every resource watched so far has completed its first list, so changes
    /// made from now on are judged against a complete view (or at once if the watch ended).
    /// A resource applied later for the first time gets a new watcher and makes this wait
    /// again until that one has listed.
    pub async fn listed(&self) {
        let mut listed = self.listed.clone();
        let _ = listed.wait_for(|done| *done).await;
    }
}

impl Stream for DriftWatch {
    type Item = DriftEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<DriftEvent>> {
        self.events.poll_recv(cx)
    }
}

impl Drop for DriftWatch {
    /// Stops the supervisor and every watcher at once: had the watchers waited for the
    /// supervisor's end to be stopped, they could still retry against an API server that the
    /// caller shuts down right after (as `addon-operator dev` does).
    fn drop(&mut self) {
        self.task.abort();
        abort_all(&self.watchers);
    }
}

/// Starts the drift watch (see [`crate::Reconciler::drift_watch`]).
pub fn start(client: kube::Client, tracker: Arc<Tracker>, debounce: Duration) -> DriftWatch {
    let (tx, events) = mpsc::channel(64);
    let (listed_tx, listed) = watch::channel(false);
    let watchers = WatcherTasks::default();
    let supervisor = Watchers {
        tasks: watchers.clone(),
        listed: HashSet::new(),
        tracker: tracker.clone(),
    };
    let task = tokio::spawn(run(client, tracker, debounce, tx, listed_tx, supervisor));
    DriftWatch {
        events,
        listed,
        task,
        watchers,
    }
}

/// Aborts the watchers it holds when dropped, so aborting [`run`] stops them too, and marks
/// every kind unsynced: without watchers the tracker's live view goes stale.
struct Watchers {
    tasks: WatcherTasks,
    /// Resources whose watcher completed its first list.
    listed: HashSet<ResourceKey>,
    tracker: Arc<Tracker>,
}

impl Drop for Watchers {
    fn drop(&mut self) {
        abort_all(&self.tasks);
        self.tracker.unsync(None);
    }
}

/// Supervises watchers (one per tracked resource) and debounces their observations.
async fn run(
    client: kube::Client,
    tracker: Arc<Tracker>,
    debounce: Duration,
    tx: mpsc::Sender<DriftEvent>,
    listed: watch::Sender<bool>,
    mut watchers: Watchers,
) {
    let (report_tx, mut reports) = mpsc::unbounded_channel::<Report>();
    let mut kinds = tracker.subscribe();
    let mut pending: HashSet<ObjectKey> = HashSet::new();
    let mut flush_at: Option<tokio::time::Instant> = None;
    loop {
        let all_listed = {
            let mut tasks = watchers.tasks.lock().unwrap_or_else(|p| p.into_inner());
            for resource in tracker.resources() {
                let key = (
                    resource.group.clone(),
                    resource.version.clone(),
                    resource.plural.clone(),
                );
                tasks.entry(key).or_insert_with(|| {
                    tokio::spawn(watch_resource(
                        client.clone(),
                        resource,
                        tracker.clone(),
                        report_tx.clone(),
                    ))
                });
            }
            tasks.keys().all(|k| watchers.listed.contains(k))
        };
        listed.send_if_modified(|done| std::mem::replace(done, all_listed) != all_listed);
        let sleep = async {
            match flush_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            changed = kinds.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            Some(report) = reports.recv() => match report {
                Report::Changed(key) => {
                    pending.insert(key);
                    flush_at.get_or_insert_with(|| tokio::time::Instant::now() + debounce);
                }
                Report::Listed(resource) => {
                    watchers.listed.insert(resource);
                }
            },
            () = sleep => {
                let (events, retry) = judge(&tracker, std::mem::take(&mut pending));
                pending = retry;
                flush_at = (!pending.is_empty()).then(|| tokio::time::Instant::now() + debounce);
                for event in events {
                    if tx.send(event).await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

/// Judges debounced observations: drift events per module, and observations to judge again
/// (a write of ours is in flight).
fn judge(
    tracker: &Tracker,
    observations: HashSet<ObjectKey>,
) -> (Vec<DriftEvent>, HashSet<ObjectKey>) {
    let mut by_module: BTreeMap<String, Vec<DriftedObject>> = BTreeMap::new();
    let mut retry = HashSet::new();
    for key in observations {
        let Some(tracked) = tracker.get(&key) else {
            continue;
        };
        if tracked.in_flight > 0 {
            retry.insert(key);
            continue;
        }
        let change = match tracker.live(&key) {
            None => DriftChange::Deleted,
            Some(live) if tracked.is_ours(&live) => continue,
            Some(_) => DriftChange::Modified,
        };
        by_module
            .entry(tracked.module)
            .or_default()
            .push(DriftedObject {
                object: tracked.object,
                change,
            });
    }
    let events = by_module
        .into_iter()
        .map(|(module, mut objects)| {
            objects.sort_by(|a, b| a.object.cmp(&b.object));
            DriftEvent { module, objects }
        })
        .collect();
    (events, retry)
}

/// Watches one resource, label-selected, recording every object it sees in the tracker and
/// reporting it for judgement; after a (re)list, objects missing from it are reported gone
/// (their delete events may have been lost).
async fn watch_resource(
    client: kube::Client,
    resource: ApiResource,
    tracker: Arc<Tracker>,
    reports: mpsc::UnboundedSender<Report>,
) {
    // Metadata only: name, namespace and resourceVersion are all the watch needs, and the
    // server then sends (and we decode) a fraction of each object.
    let api: Api<PartialObjectMeta<DynamicObject>> = Api::all_with(client, &resource);
    let config = watcher::Config::default().labels(&format!("{MANAGED_BY_LABEL}={MANAGER}"));
    let (group, kind) = (resource.group.clone(), resource.kind.clone());
    let key_of = move |meta: &ObjectMeta| -> ObjectKey {
        (
            group.clone(),
            kind.clone(),
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        )
    };
    let project = move |o: PartialObjectMeta<DynamicObject>| {
        Some((key_of(&o.metadata), Seen::from_meta(&o.metadata)))
    };
    let mut updates =
        ListWatch::new(format!("drift watch of {}", resource.plural)).stream(api, config, project);
    let (group, kind) = (resource.group.as_str(), resource.kind.as_str());
    let resource_key = (
        resource.group.clone(),
        resource.version.clone(),
        resource.plural.clone(),
    );
    while let Some(update) = updates.next().await {
        let changed = match update {
            Ok(Update::Listed(listing)) => {
                let listing: HashMap<ObjectKey, Seen> = listing.into_iter().collect();
                let mut changed: Vec<ObjectKey> = listing.keys().cloned().collect();
                changed.extend(tracker.resync(group, kind, listing));
                if reports.send(Report::Listed(resource_key.clone())).is_err() {
                    return;
                }
                changed
            }
            Ok(Update::Applied((key, seen))) => {
                tracker.see(key.clone(), Some(seen));
                vec![key]
            }
            Ok(Update::Deleted((key, _))) => {
                tracker.see(key.clone(), None);
                vec![key]
            }
            Err(_) => {
                // Logged and backed off by the watch; until it lists again the tracker's live
                // view of this kind may be stale.
                tracker.unsync(Some((group, kind)));
                continue;
            }
        };
        for key in changed {
            if reports.send(Report::Changed(key)).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prepare::Resolved;

    fn setup() -> (Tracker, ObjectRef, Resolved) {
        let object = ObjectRef {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: Some("ns".into()),
            name: "c".into(),
        };
        let resolved = Resolved {
            resource: ApiResource::from_gvk_with_plural(
                &kube::api::GroupVersionKind::gvk("", "v1", "ConfigMap"),
                "configmaps",
            ),
            namespaced: true,
        };
        (Tracker::default(), object, resolved)
    }

    fn state(rv: &str, fingerprint: Option<u64>) -> Option<Seen> {
        Some(Seen {
            rv: rv.into(),
            fingerprint,
        })
    }

    #[test]
    fn our_own_resource_version_is_not_drift_but_a_foreign_one_is() {
        let (tracker, object, resolved) = setup();
        tracker.begin("m", &object, &resolved);
        tracker.finish("m", &object, &resolved, state("5", None));
        tracker.see(object.key(), state("5", None));
        let seen = HashSet::from([object.key()]);
        assert!(judge(&tracker, seen.clone()).0.is_empty());
        tracker.see(object.key(), state("6", None));
        let (events, _) = judge(&tracker, seen);
        assert_eq!(events[0].module, "m");
        assert_eq!(events[0].objects[0].change, DriftChange::Modified);
    }

    #[test]
    fn a_foreign_write_that_keeps_the_fingerprint_is_not_drift() {
        let (tracker, object, resolved) = setup();
        tracker.begin("m", &object, &resolved);
        tracker.finish("m", &object, &resolved, state("5", Some(1)));
        let seen = HashSet::from([object.key()]);
        tracker.see(object.key(), state("6", Some(1)));
        assert!(judge(&tracker, seen.clone()).0.is_empty(), "status-only");
        tracker.see(object.key(), state("7", Some(2)));
        let (events, _) = judge(&tracker, seen);
        assert_eq!(events[0].objects[0].change, DriftChange::Modified);
    }

    #[test]
    fn in_flight_writes_are_judged_later_and_forgotten_objects_never() {
        let (tracker, object, resolved) = setup();
        tracker.begin("m", &object, &resolved);
        let seen = HashSet::from([object.key()]);
        let (events, retry) = judge(&tracker, seen.clone());
        assert!(events.is_empty());
        assert_eq!(retry.len(), 1);
        tracker.finish("m", &object, &resolved, state("7", None));
        let (events, _) = judge(&tracker, seen.clone());
        assert_eq!(events[0].objects[0].change, DriftChange::Deleted);
        tracker.forget(&object);
        assert!(judge(&tracker, seen).0.is_empty());
    }
}

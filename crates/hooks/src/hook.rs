//! A loaded hook: its executable, validated config and per-binding snapshot state.

use crate::binding_context::ObjectAndFilterResult;
use crate::config::{HookConfig, HookScope, WatchEvent};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Key of an object in a snapshot: (namespace, name); sorts like shell-operator's snapshots.
pub(crate) type ObjKey = (String, String);

/// What a kubernetes binding remembers about one object.
#[derive(Debug, Clone)]
pub(crate) struct StoredObject {
    pub item: ObjectAndFilterResult,
    /// Hash of the filter result (or of the whole object without a jqFilter): `Modified` fires
    /// only when it changes.
    pub checksum: u64,
}

/// Current objects of one kubernetes binding.
#[derive(Debug, Default)]
pub(crate) struct BindingStore {
    pub objects: BTreeMap<ObjKey, StoredObject>,
}

/// A change the hook should hear about.
pub(crate) type Change = (WatchEvent, ObjectAndFilterResult);

impl BindingStore {
    /// Inserts or replaces an object: `Added` if new, `Modified` if its checksum changed,
    /// nothing otherwise (the stored object is refreshed either way).
    pub(crate) fn apply(&mut self, key: ObjKey, obj: StoredObject) -> Option<Change> {
        let item = obj.item.clone();
        let checksum = obj.checksum;
        match self.objects.insert(key, obj) {
            None => Some((WatchEvent::Added, item)),
            Some(prev) if prev.checksum != checksum => Some((WatchEvent::Modified, item)),
            Some(_) => None,
        }
    }

    /// Removes an object: `Deleted` with its last state (`last`, else the stored one).
    pub(crate) fn delete(&mut self, key: &ObjKey, last: Option<StoredObject>) -> Option<Change> {
        let prev = self.objects.remove(key)?;
        Some((
            WatchEvent::Deleted,
            last.map(|l| l.item).unwrap_or(prev.item),
        ))
    }

    /// Replaces every object of `scope` (a namespace, or `""` for all) with a fresh list and
    /// returns the differences: vanished objects first, then new and changed ones.
    pub(crate) fn relist(
        &mut self,
        scope: &str,
        listed: BTreeMap<ObjKey, StoredObject>,
    ) -> Vec<(ObjKey, Change)> {
        let vanished: Vec<ObjKey> = self
            .objects
            .keys()
            .filter(|k| (scope.is_empty() || k.0 == scope) && !listed.contains_key(*k))
            .cloned()
            .collect();
        let mut changes: Vec<(ObjKey, Change)> = vanished
            .into_iter()
            .filter_map(|k| self.delete(&k, None).map(|c| (k, c)))
            .collect();
        for (k, o) in listed {
            if let Some(c) = self.apply(k.clone(), o) {
                changes.push((k, c));
            }
        }
        changes
    }
}

/// Token bucket for `settings.executionMinInterval` / `executionBurst`.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    interval: Duration,
    burst: u32,
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    fn new(interval: Duration, burst: u32) -> Self {
        Self {
            interval,
            burst,
            tokens: f64::from(burst),
            last: Instant::now(),
        }
    }

    /// Takes a token; returns how long to wait first if none is available.
    pub(crate) fn acquire(&mut self, now: Instant) -> Duration {
        let refill =
            now.saturating_duration_since(self.last).as_secs_f64() / self.interval.as_secs_f64();
        self.tokens = (self.tokens + refill).min(f64::from(self.burst));
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Duration::ZERO
        } else {
            let wait = self.interval.mul_f64(1.0 - self.tokens);
            self.tokens -= 1.0;
            wait
        }
    }
}

/// A hook found on disk and configured.
#[derive(Debug)]
pub struct Hook {
    /// Name used in logs, metrics (`hook` label) and errors: the path relative to the hooks
    /// directory, prefixed with the module name for module hooks (`echo/hooks/a.sh`).
    pub name: String,
    /// Executable path.
    pub path: PathBuf,
    /// Global or module hook.
    pub scope: HookScope,
    /// Module name for module hooks.
    pub module: Option<String>,
    /// Validated configuration.
    pub config: HookConfig,
    pub(crate) stores: Vec<Mutex<BindingStore>>,
    pub(crate) limiter: Option<tokio::sync::Mutex<RateLimiter>>,
    /// Set when the hook's set is disabled: queued and retried tasks stop.
    pub(crate) stopped: std::sync::atomic::AtomicBool,
    /// Set by [`crate::HookEngine::retry_now`]: a failed task of this hook that waits out its
    /// backoff runs again at once (its file was edited).
    pub(crate) retry_now: std::sync::atomic::AtomicBool,
}

impl Hook {
    /// Builds a hook from its parts (discovery does this after `--config`).
    pub fn new(
        name: String,
        path: PathBuf,
        scope: HookScope,
        module: Option<String>,
        config: HookConfig,
    ) -> Self {
        let stores = config
            .kubernetes
            .iter()
            .map(|_| Mutex::new(BindingStore::default()))
            .collect();
        let limiter = config
            .settings
            .execution_min_interval
            .filter(|d| !d.is_zero())
            .map(|d| tokio::sync::Mutex::new(RateLimiter::new(d, config.settings.execution_burst)));
        Self {
            name,
            path,
            scope,
            module,
            config,
            stores,
            limiter,
            stopped: Default::default(),
            retry_now: Default::default(),
        }
    }

    /// Directory the hook runs in (its own directory).
    pub fn dir(&self) -> PathBuf {
        self.path
            .parent()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// Current snapshot of the kubernetes binding at `index`, sorted by namespace and name.
    pub(crate) fn snapshot(&self, index: usize) -> Vec<ObjectAndFilterResult> {
        self.stores
            .get(index)
            .map(|s| {
                s.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .objects
                    .values()
                    .map(|o| o.item.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Snapshots of the named kubernetes bindings (all of them when `names` is `None`).
    pub(crate) fn snapshots(
        &self,
        names: Option<&[String]>,
    ) -> BTreeMap<String, Vec<ObjectAndFilterResult>> {
        let mut out: BTreeMap<String, Vec<ObjectAndFilterResult>> = BTreeMap::new();
        for (i, k) in self.config.kubernetes.iter().enumerate() {
            if names.is_none_or(|n| n.contains(&k.name)) {
                out.entry(k.name.clone())
                    .or_default()
                    .extend(self.snapshot(i));
            }
        }
        out
    }

    /// Number of objects held by the kubernetes binding at `index`.
    pub(crate) fn snapshot_len_of(&self, index: usize) -> usize {
        self.stores
            .get(index)
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).objects.len())
            .unwrap_or(0)
    }

    /// Number of objects currently held by all kubernetes bindings of this hook.
    pub fn snapshot_len(&self) -> usize {
        self.stores
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).objects.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// xorshift: deterministic pseudo-random sequences without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    fn obj(checksum: u64) -> StoredObject {
        let item = ObjectAndFilterResult {
            object: None,
            filter_result: Some(Arc::new(serde_json::json!(checksum))),
        };
        StoredObject { item, checksum }
    }

    /// Replays a change onto the hook's view, failing on an impossible sequence.
    fn replay(view: &mut BTreeMap<ObjKey, u64>, key: &ObjKey, change: &Change) {
        let value = change
            .1
            .filter_result
            .as_ref()
            .and_then(|v| v.as_u64())
            .unwrap_or(u64::MAX);
        match change.0 {
            WatchEvent::Added => assert!(
                view.insert(key.clone(), value).is_none(),
                "Added twice: {key:?}"
            ),
            WatchEvent::Modified => {
                let old = view.insert(key.clone(), value);
                assert!(
                    old.is_some_and(|o| o != value),
                    "Modified without a change: {key:?}"
                );
            }
            WatchEvent::Deleted => assert!(view.remove(key).is_some(), "Deleted unknown: {key:?}"),
        }
    }

    /// Random writes while random scopes lose their watch and relist: the store follows the
    /// cluster and the hook sees each change exactly once (no lost, repeated or empty events).
    #[test]
    fn events_and_relists_in_any_order_give_the_hook_a_consistent_view() {
        let keys: Vec<ObjKey> = (0..2)
            .flat_map(|n| (0..5).map(move |i| (format!("ns{n}"), format!("o{i}"))))
            .collect();
        for seed in 1..200u64 {
            let mut rng = Rng(seed * 7919);
            let (mut truth, mut view) = (BTreeMap::new(), BTreeMap::new());
            let mut store = BindingStore::default();
            let mut version = 0u64;
            for _ in 0..60 {
                // The scope whose watch drops this round: everything, one namespace, or none.
                let dropped = match rng.next(4) {
                    0 => Some(""),
                    1 => Some("ns0"),
                    _ => None,
                };
                for _ in 0..rng.next(6) {
                    let k = keys[rng.next(keys.len() as u64) as usize].clone();
                    version += 1;
                    let next = match rng.next(3) {
                        0 => None,
                        1 => truth.get(&k).copied().or(Some(version)), // unchanged filter result
                        _ => Some(version),
                    };
                    match next {
                        Some(v) => truth.insert(k.clone(), v),
                        None => truth.remove(&k),
                    };
                    if dropped.is_some_and(|s| s.is_empty() || k.0 == s) {
                        continue; // this watch event is lost
                    }
                    let change = match next {
                        Some(v) => store.apply(k.clone(), obj(v)),
                        None => store.delete(&k, None),
                    };
                    if let Some(c) = change {
                        replay(&mut view, &k, &c);
                    }
                }
                if let Some(scope) = dropped {
                    let listed = truth
                        .iter()
                        .filter(|(k, _)| scope.is_empty() || k.0 == scope)
                        .map(|(k, v)| (k.clone(), obj(*v)))
                        .collect();
                    for (k, c) in store.relist(scope, listed) {
                        replay(&mut view, &k, &c);
                    }
                }
                let stored: BTreeMap<ObjKey, u64> = store
                    .objects
                    .iter()
                    .map(|(k, o)| (k.clone(), o.checksum))
                    .collect();
                assert_eq!(stored, truth, "seed {seed}: the store follows the cluster");
                assert_eq!(
                    view, truth,
                    "seed {seed}: the hook saw every change exactly once"
                );
            }
        }
    }

    #[test]
    fn rate_limiter_allows_a_burst_then_spaces_runs() {
        let start = Instant::now();
        let mut l = RateLimiter::new(Duration::from_secs(10), 2);
        assert_eq!(l.acquire(start), Duration::ZERO);
        assert_eq!(l.acquire(start), Duration::ZERO);
        let wait = l.acquire(start);
        assert!(
            wait > Duration::from_secs(9) && wait <= Duration::from_secs(10),
            "{wait:?}"
        );
        assert_eq!(l.acquire(start + Duration::from_secs(30)), Duration::ZERO);
    }
}

//! A loaded hook: its executable, validated config and per-binding snapshot state.

use crate::binding_context::ObjectAndFilterResult;
use crate::config::{HookConfig, HookScope};
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

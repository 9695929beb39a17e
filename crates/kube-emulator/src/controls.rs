//! Test controls: request counters and fault injection, shared by the library handle
//! ([`Controls`]) and the admin HTTP endpoint under `/_emulator/`.

use crate::status::{ApiError, ErrorKind};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Which requests a fault applies to (None = any).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Matcher {
    verb: Option<String>,
    resource: Option<String>,
}

impl Matcher {
    fn new(verb: Option<&str>, resource: Option<&str>) -> Matcher {
        Matcher {
            verb: verb.map(str::to_string),
            resource: resource.map(str::to_string),
        }
    }

    fn matches(&self, verb: &str, resource: &str) -> bool {
        let plural = resource.split('/').next().unwrap_or_default();
        self.verb.as_deref().is_none_or(|v| v == verb)
            && self
                .resource
                .as_deref()
                .is_none_or(|r| r == resource || r == plural)
    }
}

#[derive(Debug, Default)]
struct Faults {
    next: Vec<(u32, Matcher, u16)>,
    percent: Option<(u32, Matcher, u16, u32)>,
    conflict_next_write: bool,
    latency: Duration,
}

#[derive(Debug)]
struct Inner {
    counts: Mutex<BTreeMap<(String, String), u64>>,
    faults: Mutex<Faults>,
    injected: AtomicU64,
    close_tx: watch::Sender<u64>,
    close_task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(mut task) = self.close_task.lock()
            && let Some(t) = task.take()
        {
            t.abort();
        }
    }
}

/// A cheap, cloneable handle on the emulator's counters and fault injection.
///
/// Verbs are Kubernetes audit verbs (`get`, `list`, `watch`, `create`, `update`, `patch`,
/// `delete`, `deletecollection`); resources are plural names, with `/subresource` for
/// subresource requests (`deployments/status`). A fault's resource filter matches both
/// `deployments` and `deployments/status` when given as `deployments`.
#[derive(Debug, Clone)]
pub struct Controls {
    inner: Arc<Inner>,
}

impl Default for Controls {
    fn default() -> Self {
        Controls::new()
    }
}

pub(crate) const WRITE_VERBS: &[&str] =
    &["create", "update", "patch", "delete", "deletecollection"];

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a counter lock leaves plain data; keep serving.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Controls {
    /// Fresh controls: zero counters, no faults.
    pub fn new() -> Controls {
        let (close_tx, _) = watch::channel(0);
        Controls {
            inner: Arc::new(Inner {
                counts: Mutex::new(BTreeMap::new()),
                faults: Mutex::new(Faults::default()),
                injected: AtomicU64::new(0),
                close_tx,
                close_task: Mutex::new(None),
            }),
        }
    }

    /// Requests served so far, by (verb, resource).
    pub fn counts(&self) -> BTreeMap<(String, String), u64> {
        lock(&self.inner.counts).clone()
    }

    /// Requests served for one verb and resource.
    pub fn count(&self, verb: &str, resource: &str) -> u64 {
        lock(&self.inner.counts)
            .get(&(verb.to_string(), resource.to_string()))
            .copied()
            .unwrap_or(0)
    }

    /// Write requests (create, update, patch, delete, deletecollection) served so far.
    pub fn writes(&self) -> u64 {
        lock(&self.inner.counts)
            .iter()
            .filter(|((verb, _), _)| WRITE_VERBS.contains(&verb.as_str()))
            .map(|(_, n)| n)
            .sum()
    }

    /// Sets every counter back to zero.
    pub fn reset_counts(&self) {
        lock(&self.inner.counts).clear();
    }

    /// How many faults (failures, conflicts) have been injected so far.
    pub fn injected(&self) -> u64 {
        self.inner.injected.load(Ordering::Relaxed)
    }

    /// Ends every open watch stream now (clients see the stream end and re-watch).
    pub fn close_watches(&self) {
        self.inner.close_tx.send_modify(|n| *n += 1);
    }

    /// Ends every open watch stream every `period`; `Duration::ZERO` stops it.
    ///
    /// # Caveats
    /// The timer runs on the current tokio runtime; called outside one, it logs an error
    /// and does nothing.
    pub fn close_watches_every(&self, period: Duration) {
        let mut task = lock(&self.inner.close_task);
        if let Some(t) = task.take() {
            t.abort();
        }
        if period.is_zero() {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!("close_watches_every needs a tokio runtime; no timer started");
            return;
        };
        let tx = self.inner.close_tx.clone();
        *task = Some(runtime.spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.tick().await;
            loop {
                tick.tick().await;
                tx.send_modify(|n| *n += 1);
            }
        }));
    }

    /// Fails the next `n` requests matching `verb`/`resource` (None = any) with `code`
    /// (500 InternalError or 429 TooManyRequests).
    pub fn fail_next(&self, n: u32, verb: Option<&str>, resource: Option<&str>, code: u16) {
        lock(&self.inner.faults)
            .next
            .push((n, Matcher::new(verb, resource), code));
    }

    /// Fails `percent`% of the requests matching `verb`/`resource` with `code`, spread
    /// evenly and deterministically (every request adds `percent` to a bucket that fails
    /// the request when it reaches 100). `0` stops it.
    pub fn fail_percent(
        &self,
        percent: u32,
        verb: Option<&str>,
        resource: Option<&str>,
        code: u16,
    ) {
        let mut faults = lock(&self.inner.faults);
        faults.percent =
            (percent > 0).then(|| (percent.min(100), Matcher::new(verb, resource), code, 0));
    }

    /// Answers the next write request with 409 Conflict.
    pub fn conflict_next_write(&self) {
        lock(&self.inner.faults).conflict_next_write = true;
    }

    /// Delays every resource request by `latency`.
    pub fn set_latency(&self, latency: Duration) {
        lock(&self.inner.faults).latency = latency;
    }

    /// Removes every fault (failures, conflicts, latency, periodic watch closing).
    pub fn clear_faults(&self) {
        *lock(&self.inner.faults) = Faults::default();
        self.close_watches_every(Duration::ZERO);
    }

    /// A receiver that changes whenever watches must close.
    pub(crate) fn close_signal(&self) -> watch::Receiver<u64> {
        self.inner.close_tx.subscribe()
    }

    /// Counts a request and decides its fault: the latency to add and an error to answer with.
    pub(crate) fn admit(
        &self,
        verb: &str,
        resource: &str,
        target: (&str, &str, &str),
    ) -> (Duration, Option<ApiError>) {
        *lock(&self.inner.counts)
            .entry((verb.to_string(), resource.to_string()))
            .or_insert(0) += 1;
        let mut faults = lock(&self.inner.faults);
        let latency = faults.latency;
        let mut code = None;
        if let Some(rule) = faults
            .next
            .iter_mut()
            .find(|(n, m, _)| *n > 0 && m.matches(verb, resource))
        {
            rule.0 -= 1;
            code = Some(rule.2);
        }
        faults.next.retain(|(n, _, _)| *n > 0);
        if code.is_none()
            && let Some((p, m, c, bucket)) = faults.percent.as_mut()
            && m.matches(verb, resource)
        {
            *bucket += *p;
            if *bucket >= 100 {
                *bucket -= 100;
                code = Some(*c);
            }
        }
        let err = match code {
            Some(429) => Some(ApiError::new(
                ErrorKind::TooManyRequests,
                "injected fault: too many requests, please try again later",
            )),
            Some(_) => Some(ApiError::new(
                ErrorKind::InternalError,
                format!("injected fault: internal error on {verb} {resource}"),
            )),
            None if faults.conflict_next_write && WRITE_VERBS.contains(&verb) => {
                faults.conflict_next_write = false;
                let (group, plural, name) = target;
                Some(ApiError::conflict(group, plural, name))
            }
            None => None,
        };
        if err.is_some() {
            self.inner.injected.fetch_add(1, Ordering::Relaxed);
        }
        (latency, err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_next_should_fail_exactly_n_matching_requests() {
        let c = Controls::new();
        c.fail_next(2, Some("get"), Some("configmaps"), 500);
        assert!(
            c.admit("list", "configmaps", ("", "configmaps", ""))
                .1
                .is_none()
        );
        assert_eq!(
            c.admit("get", "configmaps", ("", "configmaps", "a"))
                .1
                .unwrap()
                .kind
                .code(),
            500
        );
        assert!(
            c.admit("get", "configmaps", ("", "configmaps", "a"))
                .1
                .is_some()
        );
        assert!(
            c.admit("get", "configmaps", ("", "configmaps", "a"))
                .1
                .is_none()
        );
        assert_eq!(c.count("get", "configmaps"), 3);
        assert_eq!(c.injected(), 2);
    }

    #[test]
    fn fail_percent_should_fail_that_share_of_requests() {
        let c = Controls::new();
        c.fail_percent(25, None, None, 429);
        let failed = (0..100)
            .filter(|_| c.admit("get", "pods", ("", "pods", "p")).1.is_some())
            .count();
        assert_eq!(failed, 25);
    }

    #[test]
    fn periodic_closing_outside_a_runtime_should_not_panic() {
        Controls::new().close_watches_every(Duration::from_millis(10));
    }

    #[test]
    fn conflict_next_write_should_hit_only_one_write() {
        let c = Controls::new();
        c.conflict_next_write();
        assert!(c.admit("get", "pods", ("", "pods", "p")).1.is_none());
        assert_eq!(
            c.admit("patch", "pods", ("", "pods", "p"))
                .1
                .unwrap()
                .kind
                .code(),
            409
        );
        assert!(c.admit("patch", "pods", ("", "pods", "p")).1.is_none());
        assert_eq!(c.writes(), 2);
    }
}

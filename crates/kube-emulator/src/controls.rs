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

/// (namespace, name, port) of a Service.
type ServicePort = (String, String, u16);

/// The local addresses of a mapped Service port and the index of the next one to use.
type Endpoints = (Vec<String>, usize);

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
    /// Messages of the 403 Forbidden answers so far, oldest first.
    denials: Mutex<Vec<String>>,
    close_tx: watch::Sender<u64>,
    close_task: Mutex<Option<JoinHandle<()>>>,
    /// Mapped Service ports.
    services: Mutex<BTreeMap<ServicePort, Endpoints>>,
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
///
/// A `dryRun=All` request stores nothing, so it is not a write: it is counted under its verb
/// plus [`DRY_RUN_SUFFIX`] (`patch?dryRun`, see [`Controls::dry_run_verb`]), left out of
/// [`Controls::writes`], and never takes the injected 409 of [`Controls::conflict_next_write`].
/// Failure faults match it by its plain verb (`fail_next(1, Some("patch"), ..)` fails a dry-run
/// patch too, as a failing server would).
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

/// Appended to the verb of a `dryRun=All` request in the counters (`patch?dryRun`).
pub const DRY_RUN_SUFFIX: &str = "?dryRun";

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
                denials: Mutex::default(),
                close_tx,
                close_task: Mutex::new(None),
                services: Mutex::new(BTreeMap::new()),
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

    /// The counter label of a dry-run request of `verb`: `dry_run_verb("patch")` is
    /// `"patch?dryRun"`, so `count(&Controls::dry_run_verb("patch"), "deployments")` counts
    /// dry-run patches of Deployments.
    pub fn dry_run_verb(verb: &str) -> String {
        format!("{verb}{DRY_RUN_SUFFIX}")
    }

    /// Dry-run requests (any verb) served so far; [`Controls::writes`] leaves them out.
    pub fn dry_runs(&self) -> u64 {
        lock(&self.inner.counts)
            .iter()
            .filter(|((verb, _), _)| verb.ends_with(DRY_RUN_SUFFIX))
            .map(|(_, n)| n)
            .sum()
    }

    /// Write requests (create, update, patch, delete, deletecollection) served so far, not
    /// counting dry-runs (they store nothing).
    pub fn writes(&self) -> u64 {
        lock(&self.inner.counts)
            .iter()
            .filter(|((verb, _), _)| WRITE_VERBS.contains(&verb.as_str()))
            .map(|(_, n)| n)
            .sum()
    }

    /// Sets every counter back to zero and forgets the recorded denials.
    pub fn reset_counts(&self) {
        lock(&self.inner.counts).clear();
        lock(&self.inner.denials).clear();
    }

    /// How many faults (failures, conflicts) have been injected so far.
    pub fn injected(&self) -> u64 {
        self.inner.injected.load(Ordering::Relaxed)
    }

    /// The message of every 403 Forbidden answered so far (RBAC denials and refused grants
    /// in authorization mode, writes into terminating namespaces), oldest first.
    pub fn denials(&self) -> Vec<String> {
        lock(&self.inner.denials).clone()
    }

    /// Records a 403 Forbidden answer.
    pub(crate) fn record_denial(&self, message: &str) {
        lock(&self.inner.denials).push(message.to_string());
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

    /// Maps port `port` of Service `namespace/name` to local `addresses` (`127.0.0.1:9680`), so
    /// webhooks whose `clientConfig.service` names it can be called (the emulator has no pod
    /// network). Several addresses are used in turn, like a Service's endpoints; none removes
    /// the mapping.
    pub fn map_service(&self, namespace: &str, name: &str, port: u16, addresses: Vec<String>) {
        let key = (namespace.to_string(), name.to_string(), port);
        let mut services = lock(&self.inner.services);
        if addresses.is_empty() {
            services.remove(&key);
        } else {
            services.insert(key, (addresses, 0));
        }
    }

    /// The next local address of a mapped Service port, round robin.
    pub(crate) fn service_address(&self, namespace: &str, name: &str, port: u16) -> Option<String> {
        let key = (namespace.to_string(), name.to_string(), port);
        let mut services = lock(&self.inner.services);
        let (addresses, next) = services.get_mut(&key)?;
        let address = addresses.get(*next % addresses.len())?.clone();
        *next = next.wrapping_add(1);
        Some(address)
    }

    /// A receiver that changes whenever watches must close.
    pub(crate) fn close_signal(&self) -> watch::Receiver<u64> {
        self.inner.close_tx.subscribe()
    }

    /// Counts a request and decides its fault: the latency to add and an error to answer with.
    /// A dry-run request is counted under [`Controls::dry_run_verb`] and never gets the
    /// injected write conflict.
    pub(crate) fn admit(
        &self,
        verb: &str,
        dry_run: bool,
        resource: &str,
        target: (&str, &str, &str),
    ) -> (Duration, Option<ApiError>) {
        let label = if dry_run {
            Controls::dry_run_verb(verb)
        } else {
            verb.to_string()
        };
        *lock(&self.inner.counts)
            .entry((label, resource.to_string()))
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
            None if faults.conflict_next_write && !dry_run && WRITE_VERBS.contains(&verb) => {
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

    /// Admits one request on object `p` of `resource`; the injected error code, if any.
    fn admit(c: &Controls, verb: &str, dry_run: bool, resource: &str) -> Option<u16> {
        c.admit(verb, dry_run, resource, ("", resource, "p"))
            .1
            .map(|e| e.kind.code())
    }

    #[test]
    fn fail_next_should_fail_exactly_n_matching_requests() {
        let c = Controls::new();
        c.fail_next(2, Some("get"), Some("configmaps"), 500);
        assert_eq!(admit(&c, "list", false, "configmaps"), None);
        assert_eq!(admit(&c, "get", false, "configmaps"), Some(500));
        assert!(admit(&c, "get", false, "configmaps").is_some());
        assert_eq!(admit(&c, "get", false, "configmaps"), None);
        assert_eq!(c.count("get", "configmaps"), 3);
        assert_eq!(c.injected(), 2);
    }

    #[test]
    fn fail_percent_should_fail_that_share_of_requests() {
        let c = Controls::new();
        c.fail_percent(25, None, None, 429);
        let failed = (0..100)
            .filter(|_| admit(&c, "get", false, "pods").is_some())
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
        assert_eq!(admit(&c, "get", false, "pods"), None);
        assert_eq!(
            admit(&c, "patch", true, "pods"),
            None,
            "a dry-run is not a write"
        );
        assert_eq!(admit(&c, "patch", false, "pods"), Some(409));
        assert_eq!(admit(&c, "patch", false, "pods"), None);
        assert_eq!(c.writes(), 2);
    }

    #[test]
    fn dry_runs_should_be_counted_apart_from_writes_but_still_fail_by_verb() {
        let c = Controls::new();
        c.fail_next(1, Some("patch"), None, 500);
        assert_eq!(admit(&c, "patch", true, "pods"), Some(500));
        admit(&c, "create", true, "pods");
        admit(&c, "patch", false, "pods");
        assert_eq!(c.count("patch?dryRun", "pods"), 1);
        assert_eq!(c.count(&Controls::dry_run_verb("create"), "pods"), 1);
        assert_eq!(c.count("patch", "pods"), 1);
        assert_eq!(c.dry_runs(), 2);
        assert_eq!(c.writes(), 1);
    }
}

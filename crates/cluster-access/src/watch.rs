//! "Watch with an initial list": a complete state first, then changes, recovering by itself.
//!
//! kube-runtime's [`watcher`] already lists, watches, resumes from the last resourceVersion and
//! relists after `410 Gone`; this module adds what every consumer here needs on top of it, in
//! one place:
//! - the initial (and every re-) list arrives as one [`Update::Listed`] holding the complete
//!   state, so consumers compare whole states instead of each buffering `Init`..`InitDone`;
//! - objects are projected as they arrive (a hook binding keeps filter results, the drift watch
//!   a fingerprint), so a relist never holds more than the projection;
//! - errors back off by [`BackoffPolicy::WATCH`] (reset after success), but `410 Gone` relists
//!   at once: the resourceVersion expired, the server is fine, waiting helps nobody;
//! - repeated identical errors are logged once per interval with a count ([`LogThrottle`]).
//!
//! Why not kube-runtime's `reflector`: its store keeps every full object for the life of the
//! watch. Our consumers keep their own projection (filter results, fingerprints, a ConfigMap's
//! data) and would hold everything twice. Why not kube-runtime's `StreamBackoff`: it backs off
//! after every error, `410 Gone` included, which is what made recovery after an outage wait out
//! a grown backoff before the relist.

use crate::backoff::{Backoff, BackoffPolicy};
use crate::throttle::LogThrottle;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use kube::Resource;
use kube::api::Api;
use kube::runtime::watcher::{self, Event};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::time::Duration;
use tokio::time::Instant;

/// What a list-then-watch stream yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update<T> {
    /// The complete state after a (re)list: whatever is not in it is gone. The first update of
    /// every stream, and again after each relist (`410 Gone`, or a watch that could not resume).
    Listed(Vec<T>),
    /// An object was added or modified.
    Applied(T),
    /// An object was deleted.
    Deleted(T),
}

/// A list-then-watch stream: updates, and the errors it recovered from (already backed off and
/// logged; count them or mark state stale, nothing more is needed).
pub type UpdateStream<T> = BoxStream<'static, Result<Update<T>, watcher::Error>>;

/// How long identical watch errors stay quiet after being logged.
const LOG_INTERVAL: Duration = Duration::from_secs(30);

/// Builds the one kind of watch the workspace uses: see the module docs and
/// [`ListWatch::stream`].
///
/// ```no_run
/// # async fn demo(client: kube::Client) {
/// use futures::StreamExt;
/// use k8s_openapi::api::core::v1::ConfigMap;
/// use kube::runtime::watcher;
/// use cluster_access::{ListWatch, Update};
///
/// let api: kube::Api<ConfigMap> = kube::Api::namespaced(client, "default");
/// let mut updates = ListWatch::new("ConfigMaps in default")
///     .stream(api, watcher::Config::default(), |cm: ConfigMap| cm.metadata.name);
/// while let Some(update) = updates.next().await {
///     match update {
///         Ok(Update::Listed(names)) => println!("now exactly: {names:?}"),
///         Ok(Update::Applied(name)) => println!("changed: {name}"),
///         Ok(Update::Deleted(name)) => println!("gone: {name}"),
///         Err(_) => {} // already logged and backed off
///     }
/// }
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ListWatch {
    what: String,
    backoff: BackoffPolicy,
    log_interval: Duration,
}

impl ListWatch {
    /// A watch named `what` in its log lines (say which objects and for whom), with
    /// [`BackoffPolicy::WATCH`] and identical errors logged at most every 30 s.
    pub fn new(what: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            backoff: BackoffPolicy::WATCH,
            log_interval: LOG_INTERVAL,
        }
    }

    /// Uses another backoff policy (tests use short delays).
    pub fn backoff(mut self, policy: BackoffPolicy) -> Self {
        self.backoff = policy;
        self
    }

    /// Logs identical errors at most once per `interval`.
    pub fn log_every(mut self, interval: Duration) -> Self {
        self.log_interval = interval;
        self
    }

    /// Lists and watches `api` with `config`, projecting each object through `project`
    /// (`None` drops it: not selected).
    ///
    /// # Guarantees
    /// - The first update is [`Update::Listed`] with the complete selected state; after it,
    ///   [`Update::Applied`]/[`Update::Deleted`] in the server's order; after a relist, a new
    ///   complete [`Update::Listed`]. Nothing between two listings is lost or repeated.
    /// - After an error other than `410 Gone` the next request waits the policy's next delay,
    ///   never more than [`BackoffPolicy::longest`]; the delays restart from the first after
    ///   any success (an object listed or an event received).
    /// - A `410 Gone` relists at once. Only if another one relisted at once less than
    ///   [`BackoffPolicy::longest`] ago does it wait like any other error, so a server that
    ///   answers every watch with 410 cannot drive a relist loop.
    /// - The stream never ends on its own; drop it to stop watching.
    pub fn stream<K, T, P>(
        self,
        api: Api<K>,
        config: watcher::Config,
        project: P,
    ) -> UpdateStream<T>
    where
        K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
        T: Send + 'static,
        P: FnMut(K) -> Option<T> + Send + 'static,
    {
        let start = move || watcher::watcher(api.clone(), config.clone()).boxed();
        self.stream_from(start, project)
    }

    /// [`ListWatch::stream`] over any source of watcher events; `start` (re)starts it.
    fn stream_from<K, S, F, T, P>(self, mut start: F, project: P) -> UpdateStream<T>
    where
        K: Send + 'static,
        S: Stream<Item = Result<Event<K>, watcher::Error>> + Send + Unpin + 'static,
        F: FnMut() -> S + Send + 'static,
        T: Send + 'static,
        P: FnMut(K) -> Option<T> + Send + 'static,
    {
        let machine = Machine {
            events: start(),
            start,
            project,
            listing: None,
            phase: Phase::Healthy,
            backoff: self.backoff.start(),
            throttle: LogThrottle::new(self.log_interval),
            last_quick_relist: None,
            what: self.what,
        };
        futures::stream::unfold(machine, |mut m| async move {
            let item = m.step().await?;
            Some((item, m))
        })
        .boxed()
    }
}

/// Whether the watch is recovering, and when it may ask the server again.
enum Phase {
    /// The last request succeeded (or none was made yet).
    Healthy,
    /// Errors since the last success; the next request waits until `resume_at` (`None`: at
    /// once, a `410 Gone` relist).
    Failing {
        resume_at: Option<Instant>,
        /// Errors other than `410 Gone` since the last success (reported on recovery).
        errors: u64,
    },
}

/// The state of one watch, advanced one update at a time by [`Machine::step`].
struct Machine<S, F, P, T> {
    events: S,
    start: F,
    project: P,
    /// The listing being gathered between `Init` and `InitDone`.
    listing: Option<Vec<T>>,
    phase: Phase,
    backoff: Backoff,
    throttle: LogThrottle,
    last_quick_relist: Option<Instant>,
    what: String,
}

impl<K, S, F, P, T> Machine<S, F, P, T>
where
    S: Stream<Item = Result<Event<K>, watcher::Error>> + Unpin,
    F: FnMut() -> S,
    P: FnMut(K) -> Option<T>,
{
    /// Waits out a pending backoff, then reads watcher events until one makes an update.
    async fn step(&mut self) -> Option<Result<Update<T>, watcher::Error>> {
        if let Phase::Failing {
            resume_at: Some(at),
            errors,
        } = self.phase
        {
            tokio::time::sleep_until(at).await;
            self.phase = Phase::Failing {
                resume_at: None,
                errors,
            };
        }
        loop {
            let update = match self.events.next().await? {
                Ok(Event::Init) => {
                    // Announced before the list request: not yet a success.
                    self.listing = Some(Vec::new());
                    None
                }
                Ok(Event::InitApply(object)) => {
                    self.succeeded();
                    if let Some(item) = (self.project)(object) {
                        self.listing.get_or_insert_with(Vec::new).push(item);
                    }
                    None
                }
                Ok(Event::InitDone) => {
                    self.succeeded();
                    Some(Update::Listed(self.listing.take().unwrap_or_default()))
                }
                Ok(Event::Apply(object)) => {
                    self.succeeded();
                    (self.project)(object).map(Update::Applied)
                }
                Ok(Event::Delete(object)) => {
                    self.succeeded();
                    (self.project)(object).map(Update::Deleted)
                }
                Err(err) => {
                    self.failed(&err);
                    return Some(Err(err));
                }
            };
            if let Some(update) = update {
                return Some(Ok(update));
            }
        }
    }

    fn succeeded(&mut self) {
        if let Phase::Failing { errors, .. } = self.phase {
            let held_back = self.throttle.reset();
            if errors > 0 {
                tracing::info!(watch = %self.what, errors, held_back, "watch recovered");
            }
        }
        self.phase = Phase::Healthy;
        self.backoff.reset();
    }

    fn failed(&mut self, err: &watcher::Error) {
        let now = Instant::now();
        let mut errors = match self.phase {
            Phase::Failing { errors, .. } => errors,
            Phase::Healthy => 0,
        };
        let quick = is_gone(err)
            && self
                .last_quick_relist
                .is_none_or(|at| now.duration_since(at) >= self.backoff.policy().longest());
        let message = err.to_string();
        let delay = if quick {
            self.last_quick_relist = Some(now);
            if let Some(repeated) = self.throttle.admit(&message) {
                tracing::info!(watch = %self.what, repeated, "resourceVersion expired (410 Gone); relisting at once");
            }
            Duration::ZERO
        } else {
            errors += 1;
            let delay = self
                .backoff
                .next()
                .unwrap_or(self.backoff.policy().longest());
            if let Some(repeated) = self.throttle.admit(&message) {
                tracing::warn!(watch = %self.what, error = %message, repeated, retry_in_ms = delay.as_millis() as u64, "watch failed; retrying");
            }
            delay
        };
        if matches!(err, watcher::Error::WatchStartFailed(e) if is_gone_status(e)) {
            // kube-runtime's watcher keeps retrying the expired resourceVersion when the
            // watch request itself (not an event) answers 410: start a fresh one, which lists.
            self.events = (self.start)();
            self.listing = None;
        }
        self.phase = Phase::Failing {
            resume_at: (!delay.is_zero()).then(|| now + delay),
            errors,
        };
    }
}

/// Whether a watcher error means "your resourceVersion expired: relist" (HTTP 410 Gone).
fn is_gone(err: &watcher::Error) -> bool {
    match err {
        watcher::Error::WatchError(status) => status.code == 410,
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => is_gone_status(e),
        watcher::Error::NoResourceVersion => false,
    }
}

fn is_gone_status(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(status) if status.code == 410)
}

#[cfg(test)]
mod tests;

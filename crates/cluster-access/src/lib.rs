//! Talking to the Kubernetes API server robustly: the building blocks every crate that reads
//! the cluster shares, each implemented once.
//!
//! - [`DiscoveryCache`]: which resource serves a kind, by exact group/version/kind (the
//!   reconciler) or by a kubectl-style name (hook bindings, object patches), cached per
//!   group-version and refreshed on a miss.
//! - [`BackoffPolicy`] / [`Backoff`]: the one retry policy (capped exponential, jitter after
//!   the cap), with presets for watches, hook tasks and module runs.
//! - [`ListWatch`] → [`Update`]: "watch with an initial list" on top of kube-runtime's
//!   `watcher`: a complete [`Update::Listed`] state first and after every relist, then changes;
//!   `410 Gone` relists at once, other errors back off ([`BackoffPolicy::WATCH`], reset after
//!   success) and are logged through a [`LogThrottle`].
//! - [`LogThrottle`]: identical messages logged once per interval with their count.
//!
//! It deliberately holds no knowledge of modules, hooks or values, and makes no writes. (Its
//! name does not start with `kube`: a `kube=warn` log filter, usual to quiet kube-rs, would
//! otherwise also silence the recovery lines logged here.)
//!
//! ```
//! use cluster_access::BackoffPolicy;
//! use std::time::Duration;
//! let policy = BackoffPolicy { jitter: Duration::ZERO, ..BackoffPolicy::HOOK_TASK };
//! let delays: Vec<u64> = (1..=5).map(|n| policy.delay(n, 0.0).as_secs()).collect();
//! assert_eq!(delays, [5, 10, 20, 30, 30]);
//! assert!(BackoffPolicy::WATCH.longest() <= Duration::from_secs(4));
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod backoff;
mod discovery;
mod throttle;
mod watch;

pub use backoff::{Backoff, BackoffPolicy, random_fraction};
pub use discovery::{DiscoveryCache, DiscoveryError, ServedResource};
pub use throttle::LogThrottle;
pub use watch::{ListWatch, Update, UpdateStream};

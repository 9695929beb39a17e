//! Leader election on a `coordination.k8s.io/v1` Lease, for `run --ha`.
//!
//! Only the holder of the Lease converges. The holder renews every `retry`; a replica takes
//! over only after it has seen the Lease unchanged for the lease duration, measured on its own
//! monotonic clock from the moment it first saw that version of the Lease (as client-go does:
//! the other replica's wall clock is never trusted). Writes use the Lease's resourceVersion, so
//! two replicas racing for an expired Lease cannot both win (the loser gets 409 Conflict).
//!
//! # Guarantees
//! - `is_leader` turns `true` only after this replica wrote itself into the Lease.
//! - Every successful renewal opens the write [`Fence`] until the renewal's *start* plus
//!   `renew_deadline`; `renew_deadline` is shorter than the duration other replicas wait, so
//!   the fence is closed before anyone else can hold the Lease, even if this process was
//!   paused in between.
//! - Leadership turns `false` (and the fence closes) as soon as the Lease shows another
//!   holder, or renewals fail for longer than `renew_deadline`; the caller must stop.

use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::fence::Fence;

/// Timing of the election, addon-operator's defaults are 35 s / 30 s / 10 s.
#[derive(Debug, Clone)]
pub struct LeaseTiming {
    /// How long a Lease stays valid without renewal.
    pub duration: Duration,
    /// How long the leader keeps trying to renew before it gives up leadership.
    pub renew_deadline: Duration,
    /// Pause between attempts.
    pub retry: Duration,
}

impl Default for LeaseTiming {
    fn default() -> Self {
        LeaseTiming {
            duration: Duration::from_secs(35),
            renew_deadline: Duration::from_secs(30),
            retry: Duration::from_secs(10),
        }
    }
}

/// The version of the Lease this replica saw last, and when (local monotonic clock).
struct Observed {
    version: String,
    at: Instant,
}

/// Runs the election loop until `shutdown` fires, publishing leadership on `tx` and opening
/// `fence` while the lease is provably held.
pub async fn run(
    api: Api<Lease>,
    name: String,
    identity: String,
    timing: LeaseTiming,
    fence: Fence,
    tx: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut last_renew: Option<Instant> = None;
    let mut observed: Option<Observed> = None;
    loop {
        let sent = Instant::now();
        let outcome = try_acquire_or_renew(&api, &name, &identity, &timing, &mut observed).await;
        let leading = match outcome {
            Ok(true) => {
                last_renew = Some(sent);
                fence.hold_until(sent + timing.renew_deadline);
                true
            }
            Ok(false) => false,
            Err(err) => {
                tracing::warn!(lease = %name, error = %format!("{err:#}"), "lease update failed");
                *tx.borrow() && last_renew.is_some_and(|at| at.elapsed() < timing.renew_deadline)
            }
        };
        if !leading {
            fence.release();
        }
        if *tx.borrow() != leading {
            tracing::info!(lease = %name, identity = %identity, leading, "leadership changed");
        }
        tx.send_replace(leading);
        tokio::select! {
            _ = tokio::time::sleep(timing.retry) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One attempt: returns whether this replica holds the Lease afterwards.
async fn try_acquire_or_renew(
    api: &Api<Lease>,
    name: &str,
    identity: &str,
    timing: &LeaseTiming,
    observed: &mut Option<Observed>,
) -> anyhow::Result<bool> {
    let now = MicroTime(Timestamp::now());
    let Some(mut lease) = api.get_opt(name).await.context("reading the lease")? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(name.to_string()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(identity.to_string()),
                lease_duration_seconds: Some(seconds(timing.duration)),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return match api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
            Err(err) => Err(err).context("creating the lease"),
        };
    };
    let version = lease.metadata.resource_version.clone().unwrap_or_default();
    if observed.as_ref().is_none_or(|o| o.version != version) {
        *observed = Some(Observed {
            version,
            at: Instant::now(),
        });
    }
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    let holder = spec.holder_identity.clone().unwrap_or_default();
    if holder != identity {
        let advertised =
            Duration::from_secs(spec.lease_duration_seconds.unwrap_or(0).max(0) as u64);
        let valid = advertised.max(timing.duration);
        let expired = observed.as_ref().is_none_or(|o| o.at.elapsed() > valid);
        if !holder.is_empty() && !expired {
            return Ok(false);
        }
        spec.holder_identity = Some(identity.to_string());
        spec.acquire_time = Some(now.clone());
        spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
    }
    spec.renew_time = Some(now);
    spec.lease_duration_seconds = Some(seconds(timing.duration));
    match api.replace(name, &PostParams::default(), &lease).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        Err(err) => Err(err).context("renewing the lease"),
    }
}

/// The duration advertised in the Lease, rounded up: other replicas wait at least as long as
/// this one's fence stays open.
fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs_f64().ceil() as u64)
        .unwrap_or(i32::MAX)
        .max(1)
}

//! Leader election on a `coordination.k8s.io/v1` Lease, for `run --ha`.
//!
//! Only the holder of the Lease converges. The holder renews every `retry`; a replica takes
//! over only when the Lease has not been renewed for `duration`. Writes use the Lease's
//! resourceVersion, so two replicas racing for an expired Lease cannot both win (the loser
//! gets 409 Conflict).
//!
//! # Guarantees
//! - `is_leader` turns `true` only after this replica wrote itself into the Lease.
//! - It turns `false` as soon as a renewal fails for longer than `renew_deadline`, or the
//!   Lease shows another holder; the caller must stop writing at once.

use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use tokio::sync::watch;

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

/// Runs the election loop until `shutdown` fires, publishing leadership on `tx`.
pub async fn run(
    api: Api<Lease>,
    name: String,
    identity: String,
    timing: LeaseTiming,
    tx: watch::Sender<bool>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut last_renew = tokio::time::Instant::now();
    loop {
        let outcome = try_acquire_or_renew(&api, &name, &identity, &timing).await;
        let leading = match outcome {
            Ok(held) => {
                if held {
                    last_renew = tokio::time::Instant::now();
                }
                held
            }
            Err(err) => {
                tracing::warn!(lease = %name, error = %format!("{err:#}"), "lease update failed");
                *tx.borrow() && last_renew.elapsed() < timing.renew_deadline
            }
        };
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
    let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
    let holder = spec.holder_identity.clone().unwrap_or_default();
    if holder != identity {
        let expired = spec.renew_time.as_ref().is_none_or(|renewed| {
            let valid = Duration::from_secs(spec.lease_duration_seconds.unwrap_or(0).max(0) as u64);
            let age = now.0.duration_since(renewed.0);
            age.as_secs_f64() > valid.as_secs_f64()
        });
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

fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

//! The update decision: a pure function of what runs, what the channel offers, the policy and
//! the clock. No I/O; the poller gathers the inputs and carries out the action.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use semver::Version;

use crate::settings::{Channel, Mode};
use crate::window::{Window, in_window, next_window_start};

/// The image the operator's Deployment runs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Running {
    /// Its digest; `None` when the Deployment names a tag only (unknown until pinned).
    pub digest: Option<String>,
    /// Its `org.opencontainers.image.version`, when known.
    pub version: Option<Version>,
    /// The channel it was installed from (the `update-channel` annotation of an applied
    /// update, or the tag it runs by); `None`: installed some other way.
    pub channel: Option<Channel>,
}

/// What the followed channel tag points to now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The channel.
    pub channel: Channel,
    /// The manifest (or index) digest behind the tag.
    pub digest: String,
    /// Its `org.opencontainers.image.version`, when labelled.
    pub version: Option<Version>,
}

/// A digest recorded as available, with the time it was first seen (T of the wave rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Available {
    /// The digest.
    pub digest: String,
    /// When this cluster first saw it.
    pub first_seen: DateTime<Utc>,
}

/// When updates may happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// `Auto` or `Manual`.
    pub mode: Mode,
    /// Allowed windows (empty: any time).
    pub windows: Vec<Window>,
    /// This cluster's wave (0 = first).
    pub wave: u32,
    /// Delay between waves.
    pub wave_delay: Duration,
}

/// Everything the decision depends on.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    /// The running image.
    pub running: &'a Running,
    /// The channel's current digest.
    pub candidate: &'a Candidate,
    /// Mode, windows and wave.
    pub policy: &'a Policy,
    /// The `addon-operator.io/approved-digest` annotation.
    pub approved: Option<&'a str>,
    /// The digest recorded as available, if any.
    pub available: Option<&'a Available>,
    /// The clock.
    pub now: DateTime<Utc>,
}

/// Why an update waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitReason {
    /// A switch to a channel that is behind the running version.
    Version {
        /// The channel switched to.
        channel: Channel,
        /// The running version the channel must reach.
        version: Version,
    },
    /// `Manual` mode: an administrator must approve the digest.
    Approval {
        /// The digest to approve.
        digest: String,
    },
    /// This cluster's wave has not come yet.
    Wave {
        /// The wave.
        wave: u32,
    },
    /// Outside every update window.
    Window,
}

impl fmt::Display for WaitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitReason::Version { channel, version } => {
                write!(f, "waiting for {channel} to reach {version}")
            }
            WaitReason::Approval { digest } => write!(
                f,
                "waiting for approval: annotate the Deployment with addon-operator.io/approved-digest={digest}"
            ),
            WaitReason::Wave { wave } => write!(f, "waiting for wave {wave}"),
            WaitReason::Window => f.write_str("waiting for an update window"),
        }
    }
}

/// What to do about the channel's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The running digest is the channel's: nothing to do.
    Nothing,
    /// An update exists but may not be applied yet; `until` is when it may (if known).
    Wait {
        /// Why.
        reason: WaitReason,
        /// When the reason ends (wave time, next window); `None`: on an outside change.
        until: Option<DateTime<Utc>>,
    },
    /// Record the digest as available (and its first-seen time, now) before waiting on it.
    RecordAvailable {
        /// The digest.
        digest: String,
    },
    /// Roll the Deployment to the digest.
    Apply {
        /// The digest.
        digest: String,
    },
}

impl Action {
    /// Whether the channel offers an update (everything but `Nothing` and a version wait).
    pub fn update_available(&self) -> bool {
        !matches!(
            self,
            Action::Nothing
                | Action::Wait {
                    reason: WaitReason::Version { .. },
                    ..
                }
        )
    }
}

/// Decides what to do.
///
/// # Guarantees
/// - Digests are compared, never tags: a running digest equal to the channel's is `Nothing`,
///   whatever the tags say — an operator started with the new image does not update again.
/// - A switch to another channel never downgrades: when the running image did not come from
///   this channel and both versions are known, a lower channel version waits. A tag that
///   moves back on the channel the image came from (a rollback) is followed.
/// - `Manual` mode applies only the approved digest; approval needs no window or wave.
/// - `Auto` applies at `first_seen + wave × wave_delay`, inside a window.
/// - A digest is recorded as available (first-seen time = now) before any wait on it, so the
///   wave delay counts from the first sighting, across runs and restarts.
pub fn decide(inputs: &Inputs<'_>) -> Action {
    let Inputs {
        running,
        candidate,
        policy,
        approved,
        available,
        now,
    } = *inputs;
    if running.digest.as_deref() == Some(candidate.digest.as_str()) {
        return Action::Nothing;
    }
    if running.channel != Some(candidate.channel)
        && let (Some(running_v), Some(channel_v)) = (&running.version, &candidate.version)
        && channel_v < running_v
    {
        return Action::Wait {
            reason: WaitReason::Version {
                channel: candidate.channel,
                version: running_v.clone(),
            },
            until: None,
        };
    }
    let recorded = available.filter(|a| a.digest == candidate.digest);
    let record_or = |wait: Action| match recorded {
        Some(_) => wait,
        None => Action::RecordAvailable {
            digest: candidate.digest.clone(),
        },
    };
    let apply = Action::Apply {
        digest: candidate.digest.clone(),
    };
    if policy.mode == Mode::Manual {
        if approved == Some(candidate.digest.as_str()) {
            return apply;
        }
        return record_or(Action::Wait {
            reason: WaitReason::Approval {
                digest: candidate.digest.clone(),
            },
            until: None,
        });
    }
    let first_seen = recorded.map_or(now, |a| a.first_seen);
    let wave_at = wave_time(first_seen, policy);
    if now < wave_at {
        return record_or(Action::Wait {
            reason: WaitReason::Wave { wave: policy.wave },
            until: Some(wave_at),
        });
    }
    if !in_window(&policy.windows, now) {
        return record_or(Action::Wait {
            reason: WaitReason::Window,
            until: next_window_start(&policy.windows, now),
        });
    }
    apply
}

/// `first_seen + wave × wave_delay`.
pub fn wave_time(first_seen: DateTime<Utc>, policy: &Policy) -> DateTime<Utc> {
    let delay = policy.wave_delay.saturating_mul(policy.wave);
    chrono::Duration::from_std(delay)
        .ok()
        .and_then(|d| first_seen.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests;

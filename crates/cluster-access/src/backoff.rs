//! The one retry policy: capped exponential backoff with additive jitter.
//!
//! Every retry in the workspace waits through a [`BackoffPolicy`]: failed hook tasks, failed
//! module runs and every watch. Before it there were two formulas (the hook queue's and the
//! operator's) and watches with no backoff at all; one type keeps the delays comparable and the
//! bound of each one provable from its numbers ([`BackoffPolicy::longest`]).

use std::time::Duration;

/// How long to wait before retry `n`: `initial · 2^(n-1)`, capped at `max`, plus a random
/// jitter of up to `jitter`.
///
/// The jitter is added after the cap, as addon-operator's `5 s + 2^(n-1) s + rand(1 s)` does, so
/// failures that happened together (an API outage) keep retrying spread apart even once the
/// exponential part is capped.
///
/// # Guarantees
/// - No delay is longer than [`BackoffPolicy::longest`] (`max + jitter`).
/// - The delays never shrink while failures go on, and [`Backoff::reset`] (after a success)
///   starts again from `initial`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// The first delay.
    pub initial: Duration,
    /// The cap of the exponential part.
    pub max: Duration,
    /// Upper bound of the random delay added to every retry; zero makes delays deterministic.
    pub jitter: Duration,
}

impl BackoffPolicy {
    /// Watches (ConfigMap, drift, hook bindings): 500 ms doubling to 3 s, plus up to 1 s.
    ///
    /// The cap is low on purpose: after an API outage a watch waits at most 4 s before it
    /// tries again, so drift repair and hook bindings resume within seconds. A retry every
    /// 3–4 s per watch is still far below what the API server serves anyway.
    pub const WATCH: Self = Self {
        initial: Duration::from_millis(500),
        max: Duration::from_secs(3),
        jitter: Duration::from_secs(1),
    };

    /// Failed hook tasks: 5 s doubling to 30 s, plus up to 1 s (addon-operator's
    /// `rand(0–1 s)`), the hook engine's defaults.
    pub const HOOK_TASK: Self = Self {
        initial: Duration::from_secs(5),
        max: Duration::from_secs(30),
        jitter: Duration::from_secs(1),
    };

    /// Failed module runs: 5 s doubling to 30 s, no jitter (a module retries on the operator's
    /// own loop, which runs one module at a time, so there is no lockstep to break).
    pub const MODULE_RUN: Self = Self {
        initial: Duration::from_secs(5),
        max: Duration::from_secs(30),
        jitter: Duration::ZERO,
    };

    /// The delay before retry `attempt` (1-based; 0 counts as 1) with the jitter's random
    /// part given as `fraction` in `[0, 1)` (clamped): a pure function, for tests and callers
    /// that keep their own attempt count.
    pub fn delay(&self, attempt: u32, fraction: f64) -> Duration {
        let doublings = attempt.saturating_sub(1).min(16);
        let base = self
            .initial
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(self.max);
        base.saturating_add(self.jitter.mul_f64(fraction.clamp(0.0, 1.0)))
    }

    /// The longest delay this policy ever waits: `max + jitter`.
    pub fn longest(&self) -> Duration {
        self.max.saturating_add(self.jitter)
    }

    /// A fresh retry sequence following this policy.
    pub fn start(self) -> Backoff {
        Backoff {
            policy: self,
            attempt: 0,
        }
    }
}

/// A running retry sequence: each [`Iterator::next`] is the delay before the next attempt
/// (it never ends); [`Backoff::reset`] after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    attempt: u32,
}

impl Backoff {
    /// Starts over from the policy's first delay (call after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The policy this sequence follows.
    pub fn policy(&self) -> &BackoffPolicy {
        &self.policy
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        self.attempt = self.attempt.saturating_add(1);
        Some(self.policy.delay(self.attempt, random_fraction()))
    }
}

/// A uniformly distributed number in `[0, 1)`, from the std library's randomly keyed hasher
/// (retry jitter needs no cryptographic quality, so no extra dependency).
pub fn random_fraction() -> f64 {
    use std::hash::BuildHasher;
    // Every `RandomState` gets fresh keys, so hashing a constant yields a new random number.
    let bits = std::collections::hash_map::RandomState::new().hash_one(0u8);
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn delays_double_up_to_the_cap() {
        let policy = BackoffPolicy {
            jitter: Duration::ZERO,
            ..BackoffPolicy::HOOK_TASK
        };
        let d: Vec<Duration> = (1..=5).map(|a| policy.delay(a, 0.5)).collect();
        assert_eq!(d, [S(5), S(10), S(20), S(30), S(30)]);
        assert_eq!(policy.delay(1000, 0.5), S(30));
        assert_eq!(policy.delay(0, 0.0), S(5), "attempt 0 counts as the first");
    }

    #[test]
    fn jitter_adds_up_to_its_maximum_even_at_the_cap() {
        let p = BackoffPolicy::HOOK_TASK;
        assert_eq!(p.delay(1, 0.0), S(5));
        assert_eq!(p.delay(2, 0.25), Duration::from_millis(10_250));
        assert_eq!(p.delay(9, 0.5), Duration::from_millis(30_500));
        assert!(p.delay(1, 7.0) <= S(6), "fraction clamped");
        assert_eq!(p.longest(), S(31));
    }

    #[test]
    fn module_runs_keep_the_operators_doubling_without_jitter() {
        let p = BackoffPolicy::MODULE_RUN;
        let d: Vec<Duration> = (1..=5).map(|a| p.delay(a, 0.9)).collect();
        assert_eq!(d, [S(5), S(10), S(20), S(30), S(30)]);
    }

    #[test]
    fn a_sequence_never_exceeds_the_longest_delay_and_restarts_after_reset() {
        let mut b = BackoffPolicy::WATCH.start();
        let delays: Vec<Duration> = b.by_ref().take(50).collect();
        assert!(
            delays.iter().all(|d| *d <= BackoffPolicy::WATCH.longest()),
            "{delays:?}"
        );
        assert!(delays[49] >= BackoffPolicy::WATCH.max, "{delays:?}");
        assert_eq!(b.attempt, 50);
        b.reset();
        let first = b.next().unwrap();
        assert!(first >= Duration::from_millis(500) && first < Duration::from_millis(1500));
        assert_eq!(b.attempt, 1);
    }

    #[test]
    fn random_fractions_are_in_range_and_vary() {
        let f: Vec<f64> = (0..64).map(|_| random_fraction()).collect();
        assert!(f.iter().all(|x| (0.0..1.0).contains(x)), "{f:?}");
        let distinct: std::collections::BTreeSet<u64> = f.iter().map(|x| x.to_bits()).collect();
        assert!(distinct.len() > 32, "jitter is random: {f:?}");
    }
}

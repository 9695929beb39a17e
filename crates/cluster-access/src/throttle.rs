//! A log throttle: the same error logged once per interval, with how often it repeated.
//!
//! During an API outage every watch fails on every retry. Logging each failure is what once
//! wrote millions of lines in half a minute; logging none hides the outage. The throttle logs
//! the first occurrence at once and then at most one line per interval, carrying the count of
//! identical occurrences it held back.

use std::time::Duration;
use tokio::time::Instant;

/// Decides which occurrences of a repeated message to log.
///
/// Keyed by the message text: a different message is logged at once (it is news), an identical
/// one only when `interval` has passed since it was last logged.
///
/// # Guarantees
/// - For a run of identical messages, at most one line per `interval`, plus the first.
/// - While one message repeats, each logged line reports how many identical occurrences were
///   held back since the previous line, and [`LogThrottle::reset`] hands over the rest. Only
///   the last message is remembered: when messages alternate, each change is logged at once.
///
/// Time is tokio's clock, so tests drive it with `tokio::time::pause()`/`advance()`.
#[derive(Debug)]
pub struct LogThrottle {
    interval: Duration,
    last: Option<Last>,
}

#[derive(Debug)]
struct Last {
    message: String,
    logged_at: Instant,
    held_back: u64,
}

impl LogThrottle {
    /// A throttle logging each distinct message at most once per `interval`.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            last: None,
        }
    }

    /// Records one occurrence of `message`. `Some(n)` means "log it now", `n` being the
    /// identical occurrences held back since it was last logged; `None` means "hold it back".
    pub fn admit(&mut self, message: &str) -> Option<u64> {
        let now = Instant::now();
        match &mut self.last {
            Some(last) if last.message == message => {
                if now.duration_since(last.logged_at) < self.interval {
                    last.held_back += 1;
                    return None;
                }
                let held_back = std::mem::take(&mut last.held_back);
                last.logged_at = now;
                Some(held_back)
            }
            _ => {
                self.last = Some(Last {
                    message: message.to_string(),
                    logged_at: now,
                    held_back: 0,
                });
                Some(0)
            }
        }
    }

    /// Forgets the last message (after a success), returning how many of its occurrences were
    /// held back and never logged, so the caller can report them with the recovery.
    pub fn reset(&mut self) -> u64 {
        self.last.take().map_or(0, |l| l.held_back)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn identical_messages_are_logged_once_per_interval_with_their_count() {
        let mut t = LogThrottle::new(Duration::from_secs(30));
        assert_eq!(t.admit("connection refused"), Some(0));
        let mut logged = Vec::new();
        for _ in 0..100 {
            tokio::time::advance(Duration::from_secs(1)).await;
            if let Some(n) = t.admit("connection refused") {
                logged.push(n);
            }
        }
        // 100 s of one failure per second: lines at 30 s, 60 s and 90 s after the first.
        assert_eq!(logged, [29, 29, 29]);
        assert_eq!(t.reset(), 10, "held back since the last line");
        assert_eq!(t.reset(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_different_message_is_logged_at_once() {
        let mut t = LogThrottle::new(Duration::from_secs(30));
        assert_eq!(t.admit("a"), Some(0));
        assert_eq!(t.admit("a"), None);
        assert_eq!(t.admit("b"), Some(0));
        assert_eq!(t.admit("a"), Some(0));
        t.reset();
        assert_eq!(
            t.admit("a"),
            Some(0),
            "after a reset the next failure is news"
        );
    }
}

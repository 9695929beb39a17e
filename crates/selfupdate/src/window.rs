//! Update windows (`{days, from, to}` in UTC) and canary waves.

use chrono::{DateTime, Datelike, Duration as ChronoDuration, NaiveTime, Utc, Weekday};
use serde_json::Value;
use sha2::{Digest, Sha256};

const DAY_NAMES: [(&str, Weekday); 7] = [
    ("Mon", Weekday::Mon),
    ("Tue", Weekday::Tue),
    ("Wed", Weekday::Wed),
    ("Thu", Weekday::Thu),
    ("Fri", Weekday::Fri),
    ("Sat", Weekday::Sat),
    ("Sun", Weekday::Sun),
];

/// One allowed time span, repeated on the listed days (UTC).
///
/// `from` is inclusive, `to` exclusive. When `to` is not after `from` the window runs past
/// midnight into the next day (`from: "22:00", to: "02:00"` on `Fri` covers Friday 22:00 to
/// Saturday 02:00); `from == to` is the whole day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Days the window starts on; empty: every day.
    pub days: Vec<Weekday>,
    /// Start, minutes after midnight.
    pub from: u32,
    /// End, minutes after midnight.
    pub to: u32,
}

impl Window {
    /// Reads `{days: [Mon…Sun], from: "HH:MM", to: "HH:MM"}`; `None` if malformed.
    pub fn from_value(value: &Value) -> Option<Window> {
        let minutes = |key: &str| {
            let text = value.get(key)?.as_str()?;
            let time = NaiveTime::parse_from_str(text, "%H:%M").ok()?;
            Some(time.hour_minutes())
        };
        let days = match value.get("days") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(days)) => days
                .iter()
                .map(|d| {
                    let name = d.as_str()?;
                    DAY_NAMES.iter().find(|(n, _)| *n == name).map(|(_, w)| *w)
                })
                .collect::<Option<Vec<_>>>()?,
            Some(_) => return None,
        };
        Some(Window {
            days,
            from: minutes("from")?,
            to: minutes("to")?,
        })
    }

    fn length_minutes(&self) -> i64 {
        let (from, to) = (i64::from(self.from), i64::from(self.to));
        if to > from {
            to - from
        } else {
            to + 1440 - from
        }
    }

    fn starts_on(&self, day: Weekday) -> bool {
        self.days.is_empty() || self.days.contains(&day)
    }

    /// The start of the occurrence beginning on the date of `at`.
    fn start_on(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let midnight = at
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .map(|n| n.and_utc())
            .unwrap_or(at);
        midnight + ChronoDuration::minutes(i64::from(self.from))
    }

    /// Whether `now` falls inside an occurrence of this window.
    pub fn contains(&self, now: DateTime<Utc>) -> bool {
        // An occurrence that started yesterday may still be running (past midnight).
        [now - ChronoDuration::days(1), now].into_iter().any(|day| {
            let start = self.start_on(day);
            self.starts_on(day.weekday())
                && start <= now
                && now < start + ChronoDuration::minutes(self.length_minutes())
        })
    }

    /// The first start strictly after `now`.
    pub fn next_start(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        (0..=7)
            .map(|d| now + ChronoDuration::days(d))
            .filter(|day| self.starts_on(day.weekday()))
            .map(|day| self.start_on(day))
            .find(|start| *start > now)
    }
}

trait HourMinutes {
    fn hour_minutes(&self) -> u32;
}

impl HourMinutes for NaiveTime {
    fn hour_minutes(&self) -> u32 {
        use chrono::Timelike;
        self.hour() * 60 + self.minute()
    }
}

/// Whether `now` is inside one of `windows` (an empty list allows any time).
pub fn in_window(windows: &[Window], now: DateTime<Utc>) -> bool {
    windows.is_empty() || windows.iter().any(|w| w.contains(now))
}

/// The earliest window start after `now`, if there are windows.
pub fn next_window_start(windows: &[Window], now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    windows.iter().filter_map(|w| w.next_start(now)).min()
}

/// The canary wave of a cluster: `hash(clusterUUID) mod waves` (SHA-256, first 8 bytes as a
/// big-endian integer), so every operator computes the same wave for the same cluster.
pub fn wave_of(cluster_uuid: &str, waves: u32) -> u32 {
    if waves <= 1 {
        return 0;
    }
    let hash = Sha256::digest(cluster_uuid.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    (u64::from_be_bytes(first) % u64::from(waves)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn a_window_holds_its_span_on_its_days_only() {
        // 2024-01-05 is a Friday.
        let w =
            Window::from_value(&json!({"days": ["Fri"], "from": "01:00", "to": "03:00"})).unwrap();
        assert!(w.contains(at(2024, 1, 5, 1, 0)));
        assert!(w.contains(at(2024, 1, 5, 2, 59)));
        assert!(!w.contains(at(2024, 1, 5, 3, 0)));
        assert!(!w.contains(at(2024, 1, 6, 1, 30)));
        assert_eq!(
            w.next_start(at(2024, 1, 5, 4, 0)),
            Some(at(2024, 1, 12, 1, 0))
        );
    }

    #[test]
    fn a_window_past_midnight_continues_into_the_next_day() {
        let w =
            Window::from_value(&json!({"days": ["Fri"], "from": "22:00", "to": "02:00"})).unwrap();
        assert!(w.contains(at(2024, 1, 5, 23, 0)));
        assert!(w.contains(at(2024, 1, 6, 1, 59)));
        assert!(!w.contains(at(2024, 1, 6, 2, 0)));
        assert!(!w.contains(at(2024, 1, 4, 23, 0)));
    }

    #[test]
    fn no_windows_allow_any_time_and_days_default_to_every_day() {
        assert!(in_window(&[], at(2024, 1, 1, 0, 0)));
        let w = Window::from_value(&json!({"from": "10:00", "to": "11:00"})).unwrap();
        assert!(in_window(std::slice::from_ref(&w), at(2024, 1, 3, 10, 30)));
        assert_eq!(
            next_window_start(&[w], at(2024, 1, 3, 10, 30)),
            Some(at(2024, 1, 4, 10, 0))
        );
        assert_eq!(
            Window::from_value(&json!({"days": ["Someday"], "from": "1:00", "to": "2:00"})),
            None
        );
    }

    #[test]
    fn waves_are_stable_and_spread() {
        assert_eq!(wave_of("anything", 1), 0);
        let a = wave_of("7d0f4e3c-0000-4000-8000-000000000001", 10);
        assert_eq!(a, wave_of("7d0f4e3c-0000-4000-8000-000000000001", 10));
        let spread: std::collections::BTreeSet<u32> =
            (0..200).map(|i| wave_of(&format!("uuid-{i}"), 4)).collect();
        assert_eq!(spread.len(), 4);
    }
}

//! Crontab parsing with robfig/cron semantics on top of the `cron` crate.
//!
//! shell-operator (robfig/cron) accepts 5 fields (`min hour dom month dow`, day-of-week 0-7 with 0
//! and 7 = Sunday) or 6 fields with seconds first. The `cron` crate wants seconds first and numbers
//! days of the week 1-7 from Sunday, so 5-field specs get `0 ` prepended and numeric day-of-week
//! values are shifted by one.

use std::str::FromStr;

/// An invalid crontab.
#[derive(Debug, thiserror::Error)]
pub enum CrontabError {
    /// Neither 5 nor 6 fields.
    #[error(
        "crontab {spec:?} has {fields} fields, expected 5 (min hour dom month dow) or 6 (sec min hour dom month dow)"
    )]
    FieldCount {
        /// The crontab as written.
        spec: String,
        /// How many fields it has.
        fields: usize,
    },
    /// A day-of-week item is neither a number 0-7 nor a day name.
    #[error("crontab {spec:?}: day-of-week value {value:?} is not a number 0-7 or a day name")]
    DayOfWeek {
        /// The crontab as written.
        spec: String,
        /// The offending item.
        value: String,
    },
    /// The `cron` crate refused the (translated) schedule.
    #[error("crontab {spec:?}: {source}")]
    Invalid {
        /// The crontab as written.
        spec: String,
        /// The parser's error.
        #[source]
        source: cron::error::Error,
    },
}

/// Parses a 5- or 6-field crontab (or a `@hourly`-style descriptor) into a schedule.
///
/// # Errors
/// A wrong field count, a day-of-week out of 0-7, or anything the `cron` crate rejects.
pub fn parse_crontab(spec: &str) -> Result<cron::Schedule, CrontabError> {
    let spec = spec.trim();
    let invalid = |source| CrontabError::Invalid {
        spec: spec.to_string(),
        source,
    };
    if spec.starts_with('@') {
        return cron::Schedule::from_str(spec).map_err(invalid);
    }
    let mut fields: Vec<String> = spec.split_whitespace().map(str::to_string).collect();
    match fields.len() {
        5 => fields.insert(0, "0".to_string()),
        6 => {}
        n => {
            return Err(CrontabError::FieldCount {
                spec: spec.to_string(),
                fields: n,
            });
        }
    }
    fields[5] = shift_day_of_week(spec, &fields[5])?;
    cron::Schedule::from_str(&fields.join(" ")).map_err(invalid)
}

/// Rewrites numeric day-of-week values of `spec` from cron's 0-7 (0, 7 = Sunday) to the
/// crate's 1-7.
fn shift_day_of_week(spec: &str, field: &str) -> Result<String, CrontabError> {
    let shift = |n: &str| -> Result<u32, CrontabError> {
        match n.parse::<u32>() {
            Ok(0 | 7) => Ok(1),
            Ok(n @ 1..=6) => Ok(n + 1),
            _ => Err(CrontabError::DayOfWeek {
                spec: spec.to_string(),
                value: n.to_string(),
            }),
        }
    };
    let mut items = Vec::new();
    for item in field.split(',') {
        let (base, step) = match item.split_once('/') {
            Some((b, s)) => (b, Some(s)),
            None => (item, None),
        };
        let is_numeric = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
        let with_step = |b: String| match step {
            Some(s) => format!("{b}/{s}"),
            None => b,
        };
        if let Some((a, b)) = base
            .split_once('-')
            .filter(|(a, b)| is_numeric(a) && is_numeric(b))
        {
            let (a_n, b_raw) = (shift(a)?, b.parse::<u32>().unwrap_or(99));
            if b_raw == 7 && a_n > 1 {
                // `5-7` (Fri-Sun) wraps past Saturday in the crate's numbering.
                items.push(with_step(format!("{a_n}-7")));
                items.push("1".to_string());
            } else {
                items.push(with_step(format!("{a_n}-{}", shift(b)?)));
            }
        } else if is_numeric(base) {
            items.push(with_step(shift(base)?.to_string()));
        } else {
            items.push(item.to_string());
        }
    }
    Ok(items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Timelike, Utc};

    fn next(spec: &str) -> chrono::DateTime<Utc> {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 30).unwrap(); // a Thursday
        parse_crontab(spec).unwrap().after(&start).next().unwrap()
    }

    #[test]
    fn five_fields_fire_at_second_zero() {
        let t = next("*/5 * * * *");
        assert_eq!((t.minute(), t.second()), (5, 0));
    }

    #[test]
    fn six_fields_have_seconds_first() {
        let t = next("*/10 * * * * *");
        assert_eq!((t.minute(), t.second()), (0, 40));
    }

    #[test]
    fn day_of_week_zero_and_seven_are_sunday() {
        assert_eq!(next("0 0 * * 0").weekday(), chrono::Weekday::Sun);
        assert_eq!(next("0 0 * * 7").weekday(), chrono::Weekday::Sun);
        assert_eq!(next("0 0 * * 1-5").weekday(), chrono::Weekday::Fri);
        assert_eq!(next("0 0 * * 6-7").weekday(), chrono::Weekday::Sat);
        assert_eq!(next("0 0 * * MON").weekday(), chrono::Weekday::Mon);
    }

    #[test]
    fn wrong_field_counts_are_rejected_with_the_expected_form() {
        let err = parse_crontab("* * *").unwrap_err().to_string();
        assert!(err.contains("expected 5"), "{err}");
        let err = parse_crontab("0 0 * * 9").unwrap_err().to_string();
        assert!(err.contains("day-of-week value \"9\""), "{err}");
    }
}

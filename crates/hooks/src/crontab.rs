//! Crontab parsing with robfig/cron semantics on top of the `cron` crate.
//!
//! shell-operator (robfig/cron) accepts 5 fields (`min hour dom month dow`, day-of-week 0-7 with 0
//! and 7 = Sunday) or 6 fields with seconds first. The `cron` crate wants seconds first and numbers
//! days of the week 1-7 from Sunday, so 5-field specs get `0 ` prepended and numeric day-of-week
//! values are shifted by one.

use std::str::FromStr;

/// What a crontab may look like, for error messages.
const ACCEPTED: &str = "5 fields `minute hour day-of-month month day-of-week` (e.g. \"*/5 * * * *\"), \
6 fields with seconds first (e.g. \"*/30 * * * * *\"), or one of @yearly, @annually, @monthly, \
@weekly, @daily, @midnight, @hourly";

/// Each field of a 6-field crontab: its name and the values it takes.
const FIELDS: [(&str, &str); 6] = [
    ("second", "0-59"),
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31"),
    ("month", "1-12 or JAN-DEC"),
    ("day-of-week", "0-7 (0 and 7 are Sunday) or SUN-SAT"),
];

/// An invalid crontab. Each message names the crontab, the field at fault and the accepted
/// forms.
#[derive(Debug, thiserror::Error)]
pub enum CrontabError {
    /// Neither 5 nor 6 fields.
    #[error("crontab {spec:?} has {fields} field(s) (expected {ACCEPTED})")]
    FieldCount {
        /// The crontab as written.
        spec: String,
        /// How many fields it has.
        fields: usize,
    },
    /// An `@` descriptor the schedule parser does not know.
    #[error("crontab {spec:?}: unknown descriptor{} (expected {ACCEPTED})", every_hint(.spec))]
    Descriptor {
        /// The crontab as written.
        spec: String,
    },
    /// One field holds a value out of its range or of the wrong form.
    #[error(
        "crontab {spec:?}: field {position} ({name}) {value:?} is invalid (expected {range}, \
         `*`, a list `1,5`, a range `1-5` or a step `*/15`)"
    )]
    Field {
        /// The crontab as written.
        spec: String,
        /// 1-based position of the field in the crontab as written.
        position: usize,
        /// The field's name (`minute`, `day-of-week`, ...).
        name: &'static str,
        /// The field as written.
        value: String,
        /// The values the field takes.
        range: &'static str,
    },
    /// The schedule parser refused the crontab for a reason no single field explains.
    #[error("crontab {spec:?} is not a valid schedule: {reason} (expected {ACCEPTED})")]
    Invalid {
        /// The crontab as written.
        spec: String,
        /// The first line of the parser's message.
        reason: String,
    },
}

/// For `@every <duration>` (robfig/cron's interval form): the crontab to write instead.
fn every_hint(spec: &str) -> String {
    let Some(duration) = spec.strip_prefix("@every").map(str::trim) else {
        return String::new();
    };
    let split = duration
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(duration.len());
    let (amount, unit) = duration.split_at(split);
    let suggestion = match (amount.parse::<u32>(), unit) {
        (Ok(n @ 1..=59), "s") if 60 % n == 0 => Some(format!("*/{n} * * * * *")),
        (Ok(n @ 1..=59), "m") if 60 % n == 0 => Some(format!("*/{n} * * * *")),
        (Ok(n @ 1..=23), "h") if 24 % n == 0 => Some(format!("0 */{n} * * *")),
        _ => None,
    };
    match suggestion {
        Some(crontab) => format!(": @every is not supported, write {crontab:?} instead"),
        None => ": @every is not supported, write a crontab instead".to_string(),
    }
}

/// Parses a 5- or 6-field crontab (or a `@hourly`-style descriptor) into a schedule.
///
/// # Errors
/// A wrong field count, an unknown descriptor, or the first field out of its range or form.
pub fn parse_crontab(spec: &str) -> Result<cron::Schedule, CrontabError> {
    let spec = spec.trim();
    if let Some(descriptor) = spec.strip_prefix('@') {
        // robfig/cron's aliases the crate lacks.
        let canonical = match descriptor {
            "annually" => "@yearly",
            "midnight" => "@daily",
            _ => spec,
        };
        return cron::Schedule::from_str(canonical).map_err(|_| CrontabError::Descriptor {
            spec: spec.to_string(),
        });
    }
    let written: Vec<&str> = spec.split_whitespace().collect();
    let mut fields: Vec<String> = written.iter().map(|f| f.to_string()).collect();
    let offset = match fields.len() {
        5 => {
            fields.insert(0, "0".to_string());
            1
        }
        6 => 0,
        n => {
            return Err(CrontabError::FieldCount {
                spec: spec.to_string(),
                fields: n,
            });
        }
    };
    fields[5] = shift_day_of_week(spec, &fields[5], 6 - offset)?;
    cron::Schedule::from_str(&fields.join(" ")).map_err(|err| {
        // Find the field at fault: each one alone, the others `*`.
        for (i, (name, range)) in FIELDS.iter().enumerate().skip(offset) {
            let mut alone = vec!["*".to_string(); 6];
            alone[i] = fields[i].clone();
            if cron::Schedule::from_str(&alone.join(" ")).is_err() {
                return CrontabError::Field {
                    spec: spec.to_string(),
                    position: i + 1 - offset,
                    name,
                    value: written[i - offset].to_string(),
                    range,
                };
            }
        }
        CrontabError::Invalid {
            spec: spec.to_string(),
            reason: err
                .to_string()
                .lines()
                .next()
                .unwrap_or_default()
                .to_string(),
        }
    })
}

/// Rewrites numeric day-of-week values of `spec` from cron's 0-7 (0, 7 = Sunday) to the
/// crate's 1-7; `position` is the field's 1-based position as written.
fn shift_day_of_week(spec: &str, field: &str, position: usize) -> Result<String, CrontabError> {
    let shift = |n: &str| -> Result<u32, CrontabError> {
        match n.parse::<u32>() {
            Ok(0 | 7) => Ok(1),
            Ok(n @ 1..=6) => Ok(n + 1),
            _ => Err(CrontabError::Field {
                spec: spec.to_string(),
                position,
                name: FIELDS[5].0,
                value: field.to_string(),
                range: FIELDS[5].1,
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
        assert!(err.contains("has 3 field(s) (expected 5 fields"), "{err}");
        let err = parse_crontab("0 0 * * 9").unwrap_err().to_string();
        assert!(
            err.contains("field 5 (day-of-week) \"9\" is invalid (expected 0-7"),
            "{err}"
        );
    }

    #[test]
    fn the_field_out_of_range_is_named_by_its_position_as_written() {
        let err = parse_crontab("61 * * * *").unwrap_err().to_string();
        assert!(err.contains("field 1 (minute) \"61\""), "{err}");
        let err = parse_crontab("0 0 25 * * *").unwrap_err().to_string();
        assert!(err.contains("field 3 (hour) \"25\""), "{err}");
        assert!(!err.contains('^'), "no caret from the parser: {err}");
    }

    #[test]
    fn descriptors_follow_robfig_cron_and_every_gets_a_crontab_to_write() {
        assert_eq!(next("@midnight").hour(), 0);
        assert_eq!(next("@annually").month(), 1);
        let err = parse_crontab("@every 1m").unwrap_err().to_string();
        assert!(
            err.contains("@every is not supported, write \"*/1 * * * *\" instead"),
            "{err}"
        );
        assert!(!err.contains('\n'), "one line: {err}");
    }
}

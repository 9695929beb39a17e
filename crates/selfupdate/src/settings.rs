//! `global.update`: the self-update settings, read from the effective global values (the
//! schema in `global-hooks/openapi/` has already applied defaults and validated them).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde_json::Value;

use crate::window::Window;

/// The five release channels, least stable first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Channel {
    /// Every build the release team promotes first.
    Alpha,
    /// Builds that passed alpha.
    Beta,
    /// Early adopters of the next stable.
    EarlyAccess,
    /// The default channel.
    Stable,
    /// Stable builds that aged without trouble.
    RockSolid,
}

impl Channel {
    /// Every channel, least stable first.
    pub const ALL: [Channel; 5] = [
        Channel::Alpha,
        Channel::Beta,
        Channel::EarlyAccess,
        Channel::Stable,
        Channel::RockSolid,
    ];

    /// The tag the channel follows (`early-access`, `rock-solid`, ...).
    pub fn tag(self) -> &'static str {
        match self {
            Channel::Alpha => "alpha",
            Channel::Beta => "beta",
            Channel::EarlyAccess => "early-access",
            Channel::Stable => "stable",
            Channel::RockSolid => "rock-solid",
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

impl FromStr for Channel {
    type Err = SettingsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL
            .into_iter()
            .find(|c| c.tag() == s)
            .ok_or(SettingsError::Invalid {
                key: "channel",
                expected: "one of alpha, beta, early-access, stable, rock-solid",
            })
    }
}

/// `global.update.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Apply as soon as window and wave allow.
    Auto,
    /// Record the available digest; apply once `addon-operator.io/approved-digest` names it.
    Manual,
}

/// A `global.update` value the hook cannot use. The schema normally rejects these first; the
/// message names the key and the expected form, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// A key has the wrong type or form.
    #[error("global.update.{key}: expected {expected}")]
    Invalid {
        /// The key below `global.update`.
        key: &'static str,
        /// The expected form.
        expected: &'static str,
    },
}

/// The parsed `global.update` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The channel to follow (default `stable`).
    pub channel: Channel,
    /// The image repository; `None`: the repository of the running image.
    pub repository: Option<String>,
    /// `Auto` or `Manual` (default `Auto`).
    pub mode: Mode,
    /// Time between registry checks (default 5 minutes).
    pub interval: Duration,
    /// Allowed UTC windows; empty: any time.
    pub windows: Vec<Window>,
    /// Plain HTTP to the registry.
    pub insecure: bool,
    /// Name of a `kubernetes.io/dockerconfigjson` Secret in the operator namespace.
    pub credentials_secret: Option<String>,
    /// Number of canary waves (default 1: every cluster at once).
    pub waves: u32,
    /// Delay between two waves.
    pub wave_delay: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            channel: Channel::Stable,
            repository: None,
            mode: Mode::Auto,
            interval: Duration::from_secs(300),
            windows: Vec::new(),
            insecure: false,
            credentials_secret: None,
            waves: 1,
            wave_delay: Duration::from_secs(3600),
        }
    }
}

impl Settings {
    /// Reads `global.update` from the global values (`{"global": {...}}` or the `global`
    /// map itself); missing keys keep their defaults.
    ///
    /// # Errors
    /// The first key whose value has the wrong form, naming the key.
    pub fn from_values(values: &Value) -> Result<Settings, SettingsError> {
        let update = values
            .pointer("/global/update")
            .or_else(|| values.get("update"))
            .cloned()
            .unwrap_or(Value::Null);
        let mut s = Settings::default();
        let str_of = |key: &'static str, expected: &'static str| match update.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(v)) => Ok(Some(v.clone())),
            Some(_) => Err(SettingsError::Invalid { key, expected }),
        };
        if let Some(c) = str_of("channel", "a channel name")? {
            s.channel = c.parse()?;
        }
        s.repository = str_of("repository", "an image repository")?.filter(|r| !r.is_empty());
        if let Some(m) = str_of("mode", "Auto or Manual")? {
            s.mode = match m.as_str() {
                "Auto" => Mode::Auto,
                "Manual" => Mode::Manual,
                _ => {
                    return Err(SettingsError::Invalid {
                        key: "mode",
                        expected: "Auto or Manual",
                    });
                }
            };
        }
        const DURATION: &str = "a duration such as 30s, 5m or 1h30m";
        if let Some(d) = str_of("interval", DURATION)? {
            s.interval = parse_duration(&d).ok_or(SettingsError::Invalid {
                key: "interval",
                expected: DURATION,
            })?;
        }
        if let Some(d) = str_of("waveDelay", DURATION)? {
            s.wave_delay = parse_duration(&d).ok_or(SettingsError::Invalid {
                key: "waveDelay",
                expected: DURATION,
            })?;
        }
        match update.get("insecure") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => s.insecure = *b,
            Some(_) => {
                return Err(SettingsError::Invalid {
                    key: "insecure",
                    expected: "true or false",
                });
            }
        }
        s.credentials_secret =
            str_of("credentialsSecret", "a Secret name")?.filter(|n| !n.is_empty());
        match update.get("waves") {
            None | Some(Value::Null) => {}
            Some(v) => {
                s.waves = v
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| *n >= 1)
                    .ok_or(SettingsError::Invalid {
                        key: "waves",
                        expected: "an integer of at least 1",
                    })?;
            }
        }
        match update.get("windows") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                s.windows = items
                    .iter()
                    .map(Window::from_value)
                    .collect::<Option<Vec<_>>>()
                    .ok_or(SettingsError::Invalid {
                        key: "windows",
                        expected: "a list of {days: [Mon..Sun], from: \"HH:MM\", to: \"HH:MM\"}",
                    })?;
            }
            Some(_) => {
                return Err(SettingsError::Invalid {
                    key: "windows",
                    expected: "a list of {days: [Mon..Sun], from: \"HH:MM\", to: \"HH:MM\"}",
                });
            }
        }
        Ok(s)
    }
}

/// Parses a Go-style duration: one or more `<number><unit>` with units `ms`, `s`, `m`, `h`
/// (`30s`, `5m`, `1h30m`, `1.5s`). Zero or negative durations are refused.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0_f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let (unit, len) = if rest.starts_with("ms") {
            (0.001, 2)
        } else if rest.starts_with('s') {
            (1.0, 1)
        } else if rest.starts_with('m') {
            (60.0, 1)
        } else if rest.starts_with('h') {
            (3600.0, 1)
        } else {
            return None;
        };
        rest = &rest[len..];
        total += number * unit;
    }
    (total > 0.0 && total.is_finite()).then(|| Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn durations_follow_the_go_form() {
        for (text, secs) in [
            ("30s", 30.0),
            ("5m", 300.0),
            ("1h30m", 5400.0),
            ("1.5s", 1.5),
            ("250ms", 0.25),
        ] {
            assert_eq!(parse_duration(text), Some(Duration::from_secs_f64(secs)));
        }
        for bad in ["", "5", "5d", "m", "0s", "-1s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn missing_keys_keep_the_defaults_and_given_ones_are_read() {
        assert_eq!(
            Settings::from_values(&json!({"global": {}})).unwrap(),
            Settings::default()
        );
        let s = Settings::from_values(&json!({"global": {"update": {
            "channel": "early-access", "repository": "r.example.com/op", "mode": "Manual",
            "interval": "1s", "insecure": true, "credentialsSecret": "pull", "waves": 4,
            "waveDelay": "2m", "windows": [{"days": ["Mon"], "from": "01:00", "to": "02:00"}]
        }}}))
        .unwrap();
        assert_eq!(s.channel, Channel::EarlyAccess);
        assert_eq!(s.repository.as_deref(), Some("r.example.com/op"));
        assert_eq!(s.mode, Mode::Manual);
        assert_eq!(s.interval, Duration::from_secs(1));
        assert!(s.insecure);
        assert_eq!(s.credentials_secret.as_deref(), Some("pull"));
        assert_eq!((s.waves, s.wave_delay), (4, Duration::from_secs(120)));
        assert_eq!(s.windows.len(), 1);
    }

    #[test]
    fn a_bad_value_names_its_key_but_not_the_value() {
        let err =
            Settings::from_values(&json!({"global": {"update": {"channel": "nightly-secret"}}}))
                .unwrap_err();
        assert_eq!(
            err.to_string(),
            "global.update.channel: expected one of alpha, beta, early-access, stable, rock-solid"
        );
        let err = Settings::from_values(&json!({"global": {"update": {"waves": 0}}})).unwrap_err();
        assert!(err.to_string().starts_with("global.update.waves"), "{err}");
    }
}

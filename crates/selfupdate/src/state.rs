//! What the hook keeps between its runs, in one JSON file in the operator's temp directory:
//! when it last checked, what the channel offered, the version labels it already read, the
//! check counters behind the metrics, and the status `addon-operator update status` prints.
//!
//! The file lives as long as the operator's temp directory (a pod's lifetime). Nothing in it
//! must survive a restart: the first-seen time of a digest, which must, is kept in a
//! Deployment annotation instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// File name below the state directory.
pub const STATE_FILE: &str = "self-update.json";

/// The hook's memory between runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct State {
    /// The Deployment binding has synchronized since this operator started: an empty
    /// snapshot now means the Deployment is missing, not that it is not listed yet.
    pub synchronized: bool,
    /// Unix milliseconds of the last registry check, failed or not (the interval runs from it).
    pub last_attempt: Option<i64>,
    /// Unix milliseconds of the last successful check.
    pub last_success: Option<i64>,
    /// `global.update` as JSON at the last check: a change triggers a check at once.
    pub settings: Option<String>,
    /// What the channel offered at the last successful check (cleared by a failed one).
    pub candidate: Option<CachedCandidate>,
    /// Version labels already read, by `repository@digest` (`None`: no usable label).
    pub versions: BTreeMap<String, Option<String>>,
    /// Checks by result label (`ok`, `unreachable`, ...).
    pub checks: BTreeMap<String, u64>,
    /// The digest this run recorded as available and when (until the annotation shows it).
    pub recorded: Option<Stamp>,
    /// The digest this hook last patched the Deployment to, and when.
    pub applied: Option<Stamp>,
    /// The last decision found an update (`addon_operator_update_available`).
    pub available: bool,
    /// What `addon-operator update status` prints.
    pub status: Status,
}

/// The channel's answer at a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedCandidate {
    /// Repository checked.
    pub repository: String,
    /// Channel (tag).
    pub channel: String,
    /// Digest behind the tag.
    pub digest: String,
    /// Its version label, if semver.
    pub version: Option<String>,
}

/// A digest and a time (Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stamp {
    /// Digest.
    pub digest: String,
    /// When.
    pub at: i64,
}

/// The self-update status, as served at `/update` and printed by `update status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Status {
    /// Followed channel.
    pub channel: String,
    /// Repository followed.
    pub repository: String,
    /// Mode (`Auto`/`Manual`).
    pub mode: String,
    /// Running digest (empty when the Deployment names a tag only).
    pub current_digest: String,
    /// Running version label.
    pub current_version: String,
    /// Digest behind the channel tag.
    pub available_digest: String,
    /// Its version label.
    pub available_version: String,
    /// What the hook is doing: `up to date`, `waiting for ...`, `applied ...`.
    pub state: String,
    /// This cluster's wave and the number of waves (`1/4`).
    pub wave: String,
    /// When this cluster's wave may apply the available digest (RFC 3339).
    pub wave_time: String,
    /// The next update window start (RFC 3339), or `now`/`any time`.
    pub next_window: String,
    /// Last successful check (RFC 3339).
    pub last_check: String,
    /// The last failure (repository, tag, cause), empty after a successful check.
    pub last_error: String,
}

/// Where the state of a hook whose temp directory is `dir` lives.
pub fn state_path(dir: &Path) -> PathBuf {
    dir.join(STATE_FILE)
}

impl State {
    /// Reads the state; a missing or unreadable file is a fresh state (the hook then checks
    /// at once, which is always safe).
    pub fn load(path: &Path) -> State {
        std::fs::read(path)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Writes the state atomically (temp file + rename), so a reader never sees half of it.
    ///
    /// # Errors
    /// The directory cannot be created or written.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_a_missing_file_is_a_fresh_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = state_path(dir.path());
        assert_eq!(State::load(&path), State::default());
        let mut state = State {
            synchronized: true,
            last_attempt: Some(5),
            ..State::default()
        };
        state.checks.insert("ok".into(), 3);
        state.status.channel = "stable".into();
        state.save(&path).unwrap();
        assert_eq!(State::load(&path), state);
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(State::load(&path), State::default());
    }
}

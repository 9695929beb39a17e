//! The emulator's settings ([`Config`]), apart from the state built from them so that every
//! module can read them without depending on the server.

use std::path::PathBuf;
use std::time::Duration;

/// Emulator settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// TCP port on 127.0.0.1; 0 picks a free ephemeral port.
    pub port: u16,
    /// JSON file that persists objects across restarts (loaded at start, written on change).
    pub state_file: Option<PathBuf>,
    /// Events kept for watch resumption; older resourceVersions get 410 Gone.
    pub watch_history: usize,
    /// How often watches with `allowWatchBookmarks=true` get a BOOKMARK.
    pub bookmark_interval: Duration,
    /// Quiet time before a change is written to `state_file`.
    pub persist_debounce: Duration,
    /// Report Deployments, StatefulSets, ReplicaSets, DaemonSets and Jobs ready/complete as
    /// soon as their spec changes, as their controllers would (off by default: tests see
    /// exactly what they wrote; `addon-operator dev` may turn it on).
    pub simulate_workloads: bool,
    /// Authenticate bearer tokens and authorize every request with RBAC, as kube-apiserver
    /// does (off by default: every request is allowed). ServiceAccount tokens come from the
    /// TokenRequest API (`kubectl create token`); a request without a token is the
    /// administrator (`system:masters`, as on kube-apiserver's former insecure port: kubectl
    /// sends no token over plain HTTP); the bootstrap ClusterRoles `cluster-admin`,
    /// `system:discovery`, `system:basic-user` and `system:public-info-viewer` exist with
    /// their bindings.
    pub authorization: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: 0,
            state_file: None,
            watch_history: 10_000,
            bookmark_interval: Duration::from_secs(10),
            persist_debounce: Duration::from_millis(200),
            simulate_workloads: false,
            authorization: false,
        }
    }
}

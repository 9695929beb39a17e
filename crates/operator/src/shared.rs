//! State shared by the convergence loop, the hook engine's host and the HTTP endpoints.

use std::sync::{Mutex, MutexGuard};

use tokio::sync::mpsc;

use crate::metrics::Metrics;
use crate::moduleset::LoadedModules;
use crate::status::OperatorStatus;

/// Something the convergence loop must react to.
#[derive(Debug)]
pub enum Event {
    /// The ConfigMap changed (`None`: it was deleted).
    ConfigMap(crate::configmap::ConfigData),
    /// A hook patched values: re-run the modules whose checksum changed.
    ValuesChanged {
        /// Config values changed too: persist them to the ConfigMap.
        config: bool,
    },
    /// Objects of this module were changed or deleted by someone else.
    Drift(String),
    /// Module files changed on disk (`dev` file watch).
    FilesChanged,
}

/// The shared part of the operator.
pub struct Shared {
    modules: Mutex<LoadedModules>,
    status: Mutex<OperatorStatus>,
    /// Operator metrics.
    pub metrics: Metrics,
    /// Where hooks, watches and timers send [`Event`]s.
    pub events: mpsc::UnboundedSender<Event>,
}

impl Shared {
    /// Wraps the loaded modules and an event channel.
    pub fn new(
        modules: LoadedModules,
        metrics: Metrics,
        events: mpsc::UnboundedSender<Event>,
    ) -> Self {
        Shared {
            modules: Mutex::new(modules),
            status: Mutex::new(OperatorStatus::default()),
            metrics,
            events,
        }
    }

    /// The module set and values; never hold the guard across an `.await`.
    pub fn modules(&self) -> MutexGuard<'_, LoadedModules> {
        self.modules
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The status; never hold the guard across an `.await`.
    pub fn status(&self) -> MutexGuard<'_, OperatorStatus> {
        self.status
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues an event for the loop; a closed loop means the operator is stopping.
    pub fn send(&self, event: Event) {
        if self.events.send(event).is_err() {
            tracing::debug!("event dropped: the operator is stopping");
        }
    }
}

//! The shared state behind every handler ([`AppState`]): the object store, the test
//! controls, the configuration, and the change signal the state-file writer waits on.
//!
//! It is a leaf of the module graph: handlers and the server depend on it, it depends on
//! neither, so request handling and serving can change without touching each other.

use crate::config::Config;
use crate::controls::Controls;
use crate::error::Error;
use crate::objects::{self, WriteOpts};
use crate::persistence;
use crate::rbac;
use crate::store::Store;
use crate::tokens::Tokens;
use crate::webhook_client::Pool;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// Namespaces every cluster starts with.
const INITIAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

struct Shared {
    store: Mutex<Store>,
    controls: Controls,
    config: Config,
    changed: Notify,
    port: Mutex<u16>,
    webhooks: Pool,
    tokens: Tokens,
}

/// The shared state behind the router: the store, the controls and the configuration.
/// Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Shared>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

/// Creates the bootstrap RBAC objects that are missing (a state file may hold them).
fn bootstrap_policy(store: &mut Store) -> Result<(), Error> {
    for (plural, object) in rbac::bootstrap_policy() {
        let info = store
            .registry
            .find(rbac::GROUP, "v1", plural)
            .cloned()
            .ok_or(Error::Internal(
                "RBAC resources missing from the built-in table",
            ))?;
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if store.get(&info.key(), "", &name).is_none() {
            objects::create(store, &info, "", object, &WriteOpts::default()).map_err(|source| {
                Error::Bootstrap {
                    resource: plural,
                    name,
                    source: Box::new(source),
                }
            })?;
        }
    }
    Ok(())
}

impl AppState {
    /// Builds the state: loads `config.state_file` if it exists and creates the initial
    /// namespaces (`default`, `kube-system`, `kube-public`, `kube-node-lease`).
    ///
    /// # Errors
    /// [`Error::LoadState`] or [`Error::ReadState`] when the state file exists but cannot be
    /// read or parsed; [`Error::Init`] when an initial namespace cannot be created.
    pub fn new(config: Config) -> Result<AppState, Error> {
        let mut store = Store::new(config.watch_history);
        store.simulate_workloads = config.simulate_workloads;
        if let Some(path) = &config.state_file {
            persistence::load(path, &mut store)?;
        }
        let info = store
            .registry
            .find("", "v1", "namespaces")
            .cloned()
            .ok_or(Error::Internal(
                "namespaces resource missing from the built-in table",
            ))?;
        for ns in INITIAL_NAMESPACES {
            if store.get(&info.key(), "", ns).is_none() {
                let body = serde_json::json!({"metadata": {"name": ns}});
                objects::create(&mut store, &info, "", body, &WriteOpts::default()).map_err(
                    |source| Error::Init {
                        namespace: ns,
                        source: Box::new(source),
                    },
                )?;
            }
        }
        if config.authorization {
            bootstrap_policy(&mut store)?;
        }
        Ok(AppState {
            inner: Arc::new(Shared {
                store: Mutex::new(store),
                controls: Controls::new(),
                config,
                changed: Notify::new(),
                port: Mutex::new(0),
                webhooks: Pool::default(),
                tokens: Tokens::default(),
            }),
        })
    }

    /// The test controls of this state.
    pub fn controls(&self) -> Controls {
        self.inner.controls.clone()
    }

    /// The configuration the state was built with.
    pub(crate) fn config(&self) -> &Config {
        &self.inner.config
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        // Store mutations are completed before any await; a poisoned lock still holds
        // consistent data, so keep serving.
        self.inner.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The bearer tokens issued for ServiceAccounts.
    pub(crate) fn tokens(&self) -> &Tokens {
        &self.inner.tokens
    }

    /// Idle connections to webhooks.
    pub(crate) fn webhook_connections(&self) -> &Pool {
        &self.inner.webhooks
    }

    /// The port the server listens on (0 until it is bound), for discovery documents.
    pub(crate) fn port(&self) -> u16 {
        *self.inner.port.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the port the server is bound to.
    pub(crate) fn set_port(&self, port: u16) {
        *self.inner.port.lock().unwrap_or_else(|e| e.into_inner()) = port;
    }

    /// Tells the state-file writer that a write request was served.
    pub(crate) fn notify_changed(&self) {
        self.inner.changed.notify_one();
    }

    /// Writes the state file now.
    ///
    /// # Errors
    /// [`Error::SaveState`] when the file cannot be written.
    pub(crate) fn save(&self, path: &Path) -> Result<(), Error> {
        let text = persistence::snapshot_text(&self.store());
        persistence::write_atomically(path, &text)
    }

    /// Saves the state file after each burst of changes, `debounce` after the first change
    /// of the burst; runs until aborted.
    pub(crate) async fn persist(self, path: PathBuf, debounce: Duration) {
        let mut saved = self.store().changes;
        loop {
            self.inner.changed.notified().await;
            tokio::time::sleep(debounce).await;
            let changes = self.store().changes;
            if changes == saved {
                continue;
            }
            match self.save(&path) {
                Ok(()) => saved = changes,
                Err(e) => {
                    tracing::error!(error = %e, path = %path.display(), "kube-emulator failed to save its state")
                }
            }
        }
    }
}

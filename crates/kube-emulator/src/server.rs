//! The running server: configuration, shared state, the router, and start/shutdown.

use crate::controls::Controls;
use crate::error::Error;
use crate::store::Store;
use crate::{admin, api, discovery, kubeconfig, persistence};
use axum::Router;
use axum::routing::get;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinHandle;

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
        }
    }
}

/// Namespaces every cluster starts with.
const INITIAL_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public", "kube-node-lease"];

pub(crate) struct Shared {
    pub store: Mutex<Store>,
    pub controls: Controls,
    pub config: Config,
    pub changed: Notify,
    pub port: Mutex<u16>,
}

/// The shared state behind the router: the store, the controls and the configuration.
/// Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Shared>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Builds the state: loads `config.state_file` if it exists and creates the initial
    /// namespaces (`default`, `kube-system`, `kube-public`, `kube-node-lease`).
    ///
    /// # Errors
    /// [`Error::LoadState`] when the state file exists but cannot be read or parsed.
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
                crate::objects::create(
                    &mut store,
                    &info,
                    "",
                    body,
                    &crate::objects::WriteOpts::default(),
                )
                .map_err(|e| Error::Init(e.to_string()))?;
            }
        }
        Ok(AppState {
            inner: Arc::new(Shared {
                store: Mutex::new(store),
                controls: Controls::new(),
                config,
                changed: Notify::new(),
                port: Mutex::new(0),
            }),
        })
    }

    /// The test controls of this state.
    pub fn controls(&self) -> Controls {
        self.inner.controls.clone()
    }

    pub(crate) fn store(&self) -> MutexGuard<'_, Store> {
        // Store mutations are completed before any await; a poisoned lock still holds
        // consistent data, so keep serving.
        self.inner.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn port(&self) -> u16 {
        *self.inner.port.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The emulator's router: discovery, resources, health, version, OpenAPI and the
/// `/_emulator/` admin endpoint. Serve it on any listener.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/version", get(discovery::version))
        .route("/healthz", get(discovery::healthy))
        .route("/readyz", get(discovery::healthy))
        .route("/livez", get(discovery::healthy))
        .route("/openapi/v2", get(discovery::openapi_v2))
        .route("/openapi/v3", get(discovery::openapi_v3))
        .route("/openapi/v3/{*gv}", get(discovery::openapi_v3_group))
        .nest("/_emulator", admin::router())
        .fallback(api::handle)
        .with_state(state)
}

/// A running emulator on 127.0.0.1.
#[derive(Debug)]
pub struct Emulator {
    addr: SocketAddr,
    state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    persister: Option<JoinHandle<()>>,
}

impl Emulator {
    /// Starts an emulator with [`Config::default`] on an ephemeral port.
    ///
    /// # Errors
    /// See [`Emulator::start_with`].
    pub async fn start() -> Result<Emulator, Error> {
        Emulator::start_with(Config::default()).await
    }

    /// Starts an emulator with `config`.
    ///
    /// # Errors
    /// [`Error::Bind`] when the port is taken, [`Error::LoadState`] for a bad state file.
    pub async fn start_with(config: Config) -> Result<Emulator, Error> {
        let port = config.port;
        let state_file = config.state_file.clone();
        let debounce = config.persist_debounce;
        let state = AppState::new(config)?;
        let bind = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|source| Error::Bind { addr: bind, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| Error::Bind { addr: bind, source })?;
        *state.inner.port.lock().unwrap_or_else(|e| e.into_inner()) = addr.port();
        let (tx, rx) = oneshot::channel::<()>();
        let router = app(state.clone());
        // Like Go's net/http (and so kube-apiserver), no Nagle delay: a burst of watch events
        // must not wait ~40 ms for an ACK before reaching the client.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            if let Err(err) = tcp.set_nodelay(true) {
                tracing::debug!(error = %err, "cannot set TCP_NODELAY");
            }
        });
        let server = tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "kube-emulator server failed");
            }
        });
        let persister =
            state_file.map(|path| tokio::spawn(persistence::writer(state.clone(), path, debounce)));
        tracing::info!(url = %format!("http://{addr}"), "kube-emulator listening");
        Ok(Emulator {
            addr,
            state,
            shutdown: Some(tx),
            server: Some(server),
            persister,
        })
    }

    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig (YAML) pointing at this emulator: cluster, user and context `emulator`,
    /// namespace `default`.
    pub fn kubeconfig(&self) -> String {
        kubeconfig::render(&self.url())
    }

    /// Writes [`Emulator::kubeconfig`] to `path`.
    ///
    /// # Errors
    /// Any I/O error writing the file.
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig())
    }

    /// The test controls (counters, faults).
    pub fn controls(&self) -> Controls {
        self.state.controls()
    }

    /// The shared state (for embedding the router elsewhere).
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// Stops serving: ends watches, finishes in-flight requests (2 s at most), and writes
    /// the state file one last time.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    async fn stop(&mut self) {
        self.state.controls().close_watches();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(mut server) = self.server.take()
            && tokio::time::timeout(Duration::from_secs(2), &mut server)
                .await
                .is_err()
        {
            server.abort();
        }
        if let Some(p) = self.persister.take() {
            p.abort();
            if let Some(path) = &self.state.inner.config.state_file
                && let Err(e) = persistence::save(&self.state, path)
            {
                tracing::error!(error = %e, "kube-emulator failed to save its state at shutdown");
            }
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
        if let Some(p) = self.persister.take() {
            p.abort();
        }
    }
}

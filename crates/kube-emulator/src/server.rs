//! Serving: [`app`] builds the router over an [`AppState`], and [`Emulator`] serves it on
//! 127.0.0.1 (with the state-file writer) until it is shut down. Nothing else lives here:
//! state, parameters and handlers are modules of their own.

use crate::config::Config;
use crate::controls::Controls;
use crate::error::Error;
use crate::state::AppState;
use crate::{admin, api, authz, discovery, kubeconfig};
use axum::Router;
use axum::routing::get;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The emulator's router: discovery, resources, health, version, OpenAPI and the
/// `/_emulator/` admin endpoint, behind authentication and RBAC when
/// [`Config::authorization`] is on. Serve it on any listener.
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
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authz::guard,
        ))
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
        state.set_port(addr.port());
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
        let persister = state_file.map(|path| tokio::spawn(state.clone().persist(path, debounce)));
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
    /// namespace `default`, no credentials (with [`Config::authorization`], a request without
    /// a token is the administrator).
    pub fn kubeconfig(&self) -> String {
        kubeconfig::render(&self.url(), None)
    }

    /// [`Emulator::kubeconfig`] whose user presents the bearer `token` (one from
    /// `kubectl create token`): kube-rs clients, the operator among them, then act as that
    /// ServiceAccount. (kubectl sends no token over plain HTTP.)
    pub fn kubeconfig_with_token(&self, token: &str) -> String {
        kubeconfig::render(&self.url(), Some(token))
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
            if let Some(path) = &self.state.config().state_file
                && let Err(e) = self.state.save(path)
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

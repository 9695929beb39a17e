//! The operator's network HTTP endpoint: `/metrics`, `/healthz` and `/readyz`, nothing else.
//!
//! Everything that could show values (modules, queues, values) is on the debug socket
//! ([`crate::debugapi`]), never on the network: anyone who can reach the pod's port may read
//! this endpoint.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use hooks::MetricsStorage;
use tokio::sync::watch;

use crate::apihealth::ApiHealth;
use crate::shared::Shared;

/// What the endpoints read.
#[derive(Clone)]
pub struct HttpState {
    /// Operator state and metrics.
    pub shared: Arc<Shared>,
    /// Hook metrics.
    pub hook_metrics: Arc<MetricsStorage>,
    /// The hook engine, for its queues.
    pub hooks: Arc<hooks::HookEngine>,
    /// Whether the API server answers.
    pub health: ApiHealth,
    /// The hooks' temp directory, where the `self-update` hook keeps its status.
    pub tmp_dir: std::path::PathBuf,
}

/// The router, separate from serving it so tests can drive it; every other path is 404.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    let mut body = state.shared.metrics.render();
    body.push_str(&state.hook_metrics.render_engine_metrics());
    body.push_str(&state.hook_metrics.render_hook_metrics());
    ([("content-type", "text/plain; version=0.0.4")], body)
}

/// 503 while the API server does not answer (see [`ApiHealth`]); otherwise 200 once the first
/// convergence finished. A standby replica (`--ha`, not leading) is ready too, so a rollout
/// does not wait for it to win the lease.
async fn readyz(State(state): State<HttpState>) -> (StatusCode, String) {
    if !state.health.reachable() {
        return (StatusCode::SERVICE_UNAVAILABLE, state.health.describe());
    }
    let status = state.shared.status();
    if status.converged || !status.leader {
        let answer = if status.leader { "ready" } else { "standby" };
        (StatusCode::OK, answer.to_string())
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "converging".to_string())
    }
}

/// Binds `addr` and serves until `shutdown` turns true. Returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    state: HttpState,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<SocketAddr> {
    let listener = crate::listeners::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (ADDON_OPERATOR_LISTEN_ADDRESS/PORT)"))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let app = router(state);
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped(shutdown))
            .await
        {
            tracing::error!(error = %err, "HTTP server failed");
        }
    });
    Ok(bound)
}

/// Resolves once `shutdown` turns true (or its sender is gone).
pub async fn stopped(mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

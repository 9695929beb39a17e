//! The operator's HTTP endpoints: `/metrics`, `/healthz`, `/readyz`, `/modules`,
//! `/queues`, `/values/global` and `/values/module/<name>`.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
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
}

/// The router, separate from serving it so tests can drive it.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/modules", get(modules))
        .route("/queues", get(queues))
        .route("/values/global", get(global_values))
        .route("/values/module/{name}", get(module_values))
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

async fn modules(State(state): State<HttpState>) -> impl IntoResponse {
    Json(state.shared.status().clone())
}

/// Tasks waiting in each hook queue (`main` and named queues).
/// `main` always exists; named queues appear once a binding used them.
async fn queues(State(state): State<HttpState>) -> impl IntoResponse {
    let mut lengths = state.hooks.queue_lengths();
    lengths.entry("main".to_string()).or_insert(0);
    Json(lengths)
}

/// The effective global values (`{"global": ...}`), as global hooks see them.
async fn global_values(State(state): State<HttpState>) -> impl IntoResponse {
    Json(state.shared.modules().store.global_values())
}

/// A module's effective values (`{"global": ..., "<key>": ...}`), as its templates and hooks
/// see them; the module's name or values key.
async fn module_values(
    State(state): State<HttpState>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> axum::response::Response {
    let modules = state.shared.modules();
    let Some(key) = modules.find(&name).map(|m| m.key.clone()) else {
        return (StatusCode::NOT_FOUND, format!("no module named {name:?}\n")).into_response();
    };
    match modules.store.module_values(&key) {
        Ok(values) => Json(values).into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{err}\n")).into_response(),
    }
}

/// Binds `addr` and serves until `shutdown` turns true. Returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    state: HttpState,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (ADDON_OPERATOR_LISTEN_ADDRESS/PORT)"))?;
    let bound = listener.local_addr().context("reading the bound address")?;
    let app = router(state);
    tokio::spawn(async move {
        let stop = async move {
            while shutdown.changed().await.is_ok() {
                if *shutdown.borrow() {
                    break;
                }
            }
        };
        if let Err(err) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %err, "HTTP server failed");
        }
    });
    Ok(bound)
}

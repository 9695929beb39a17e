//! The debug API on a Unix socket, as addon-operator's debug socket: `/modules`,
//! `/modules/<name>`, `/queues`, `/values/global`, `/values/module/<name>`,
//! `/hooks/snapshots?hook=<name>` and `/update`, what the client commands (`module list`,
//! `module describe`, `module values`, `global values`, `queue list`, `hook snapshots`,
//! `update status`) print.
//!
//! Values (passwords included) are served here only: the socket is a file readable and
//! writable by the operator's user alone (mode 0600), never a network port.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json};
use axum::routing::get;
use tokio::sync::watch;

use crate::http::{HttpState, stopped};

/// The router, separate from serving it so tests can drive it.
pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/modules", get(modules))
        .route("/modules/{name}", get(describe_module))
        .route("/queues", get(queues))
        .route("/values/global", get(global_values))
        .route("/values/module/{name}", get(module_values))
        .route("/hooks/snapshots", get(hook_snapshots))
        .route("/update", get(update_status))
        .with_state(state)
}

/// The operator's status, what `module list` prints.
async fn modules(State(state): State<HttpState>) -> impl IntoResponse {
    Json(state.shared.status().clone())
}

/// One module, described (what `module describe` prints); its name or values key.
async fn describe_module(
    State(state): State<HttpState>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> axum::response::Response {
    match crate::describe::describe(&state.shared, &state.hooks, &name) {
        Some(description) => Json(description).into_response(),
        None => (StatusCode::NOT_FOUND, format!("no module named {name:?}\n")).into_response(),
    }
}

/// Tasks waiting in each hook queue (`main` and named queues).
/// `main` always exists; named queues appear once a binding used them.
async fn queues(State(state): State<HttpState>) -> impl IntoResponse {
    let mut lengths = state.hooks.queue_lengths();
    lengths.entry("main".to_string()).or_insert(0);
    Json(lengths)
}

/// The `self-update` hook's status (empty fields before its first check).
async fn update_status(State(state): State<HttpState>) -> impl IntoResponse {
    let path = selfupdate::state_path(&state.tmp_dir);
    Json(selfupdate::State::load(&path).status)
}

/// `?hook=<name>` of `/hooks/snapshots`.
#[derive(serde::Deserialize)]
struct HookQuery {
    hook: String,
}

/// What the kubernetes bindings of a hook hold now, by binding name; 404 listing the hooks
/// when none has that name.
async fn hook_snapshots(
    State(state): State<HttpState>,
    axum::extract::Query(query): axum::extract::Query<HookQuery>,
) -> axum::response::Response {
    match state.hooks.snapshots(&query.hook) {
        Some(snapshots) => Json(snapshots).into_response(),
        None => {
            let names = state.hooks.hook_names();
            let known = if names.is_empty() {
                "no hooks are loaded".to_string()
            } else {
                format!("hooks: {}", names.join(", "))
            };
            let message = format!("no hook named {:?} ({known})\n", query.hook);
            (StatusCode::NOT_FOUND, message).into_response()
        }
    }
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
        Err(err) => {
            let message = format!("{}\n", crate::errors::chain(&err));
            (StatusCode::INTERNAL_SERVER_ERROR, message).into_response()
        }
    }
}

/// Listens on the Unix socket `path` and serves until `shutdown` turns true, then removes the
/// socket file. A socket file left by a process that is gone is replaced.
///
/// # Errors
/// Another process serves on `path`, or the socket cannot be created (e.g. its directory is
/// not writable).
pub async fn serve(
    path: &Path,
    state: HttpState,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let hint = "set --debug-unix-socket / DEBUG_UNIX_SOCKET";
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating {} for the debug socket ({hint})", dir.display()))?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!(
                "another process serves the debug socket {} ({hint})",
                path.display()
            );
        }
        std::fs::remove_file(path).with_context(|| {
            format!(
                "removing the stale debug socket {} ({hint})",
                path.display()
            )
        })?;
    }
    let listener = tokio::net::UnixListener::bind(path).with_context(|| {
        format!(
            "cannot listen on the debug socket {} ({hint})",
            path.display()
        )
    })?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("restricting the debug socket {}", path.display()))?;
    let app = router(state);
    let path: PathBuf = path.to_path_buf();
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, app)
            .with_graceful_shutdown(stopped(shutdown))
            .await
        {
            tracing::error!(error = %err, "debug socket server failed");
        }
        let _ = std::fs::remove_file(&path);
    });
    Ok(())
}

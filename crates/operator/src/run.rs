//! `addon-operator run`: connect to a cluster and keep the module set converged.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hooks::{EngineOptions, HookEngine};
use tokio::sync::{mpsc, watch};

use crate::cli::RunArgs;
use crate::client::Clients;
use crate::control::Control;
use crate::fence::Fence;
use crate::host::Host;
use crate::http::{self, HttpState};
use crate::leader::{self, LeaseTiming};
use crate::metrics::Metrics;
use crate::moduleset::LoadedModules;
use crate::operator::{Operator, Settings};
use crate::shared::Shared;
use crate::status::ModuleStatus;

/// Name of the Lease used by `--ha`, as in addon-operator.
pub const LEASE_NAME: &str = "addon-operator-leader-election";

/// How long [`operate`] keeps going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Until SIGTERM/SIGINT.
    Serve,
    /// One convergence, then return its summary (`dev --once`).
    Once,
}

/// Runs the command.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let config = crate::client::config(args.kubeconfig.as_deref()).await?;
    operate(config, &args, Mode::Serve, crate::cli::DEBUG_SOCKET)
        .await
        .map(|_| ())
}

/// Loads the modules and runs the operator against the cluster of `config` in `mode`; returns
/// the module rows. The debug API listens on `--debug-unix-socket`, else on
/// `debug_socket_default`.
pub async fn operate(
    config: kube::Config,
    args: &RunArgs,
    mode: Mode,
    debug_socket_default: &str,
) -> anyhow::Result<Vec<ModuleStatus>> {
    let fence = if args.ha {
        Fence::closed()
    } else {
        Fence::open()
    };
    let clients = Clients::new(config, fence)?;
    let client = clients.main.clone();
    // Taken before the modules are read, so an edit made while the operator starts is seen.
    let watched = charts::parse_modules_dirs(&args.source.modules_dir);
    let files_before = crate::filewatch::fingerprint(&watched);
    let modules = LoadedModules::load(&args.source)?;
    ensure_namespace(&client, &args.source.namespace).await?;
    let metrics = Metrics::new("addon_operator_").context("registering metrics")?;
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared::new(modules, metrics, events_tx));
    let engine_opts = EngineOptions {
        timeout: Duration::from_secs_f64(args.hook_timeout),
        retry_initial: Duration::from_secs_f64(args.hook_retry_delay),
        retry_max: Duration::from_secs(30).max(Duration::from_secs_f64(args.hook_retry_delay)),
        // addon-operator adds up to 1 s; never more than the first delay itself.
        retry_jitter: Duration::from_secs_f64(args.hook_retry_delay.clamp(0.0, 1.0)),
        tmp_dir: args.tmp_dir.clone(),
        env: hook_env(args),
        // Hooks start from a small spawner process (started once), so their max RSS is their own.
        launcher: hooks::launcher_beside_current_exe("addon-operator-hook-launcher"),
        ..EngineOptions::default()
    };
    std::fs::create_dir_all(&args.tmp_dir)
        .with_context(|| format!("creating the hooks temp dir {}", args.tmp_dir.display()))?;
    let hooks = Arc::new(HookEngine::new(
        Arc::new(Host(shared.clone())),
        Some(client.clone()),
        engine_opts,
    ));
    hooks.metrics().reserve(shared.metrics.family_names());
    // Without --ha this replica is the leader from the start. Set before `/readyz` is served:
    // it must say "converging" (not "standby", which is 200) until the first convergence.
    if !args.ha {
        shared.status().leader = true;
    }
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    if mode == Mode::Serve {
        spawn_signal_handler(shutdown_tx.clone());
        let addr: SocketAddr = format!("{}:{}", args.listen_address, args.listen_port)
            .parse()
            .with_context(|| {
                format!(
                    "invalid listen address {}:{}",
                    args.listen_address, args.listen_port
                )
            })?;
        let state = HttpState {
            shared: shared.clone(),
            hook_metrics: hooks.metrics(),
            hooks: hooks.clone(),
            health: clients.health.clone(),
            tmp_dir: args.tmp_dir.clone(),
        };
        let bound = http::serve(addr, state.clone(), shutdown_rx.clone()).await?;
        tracing::info!(address = %bound, "serving /metrics, /healthz, /readyz");
        let socket = args.debug_socket.serve_at(debug_socket_default);
        crate::debugapi::serve(&socket, state, shutdown_rx.clone()).await?;
        tracing::info!(socket = %socket.display(), "serving the debug API (module list, values, queues)");
    }
    crate::apihealth::spawn_probe(
        client.clone(),
        args.source.namespace.clone(),
        Duration::from_secs_f64(args.api_probe_interval.max(0.05)),
        shutdown_rx.clone(),
    );
    // Webhooks are served by every replica, before and without the lease. Their certificate
    // Secret is written through the unfenced client (a create that loses a race reads the
    // winner's; a renewal carries the resourceVersion it replaces); webhook configurations go
    // through the fenced one, so only the leader writes them.
    let webhooks = match mode {
        Mode::Serve => Some(
            crate::webhook::start(
                &client,
                &clients.lease,
                &args.source.namespace,
                &args.webhooks,
                hooks.clone(),
                shared.clone(),
                shutdown_rx.clone(),
            )
            .await?,
        ),
        Mode::Once => None,
    };
    let leading = elect(&clients, args, shared.clone(), shutdown_rx.clone()).await?;
    if let Some(w) = &webhooks {
        w.lead(leading.clone());
    }
    if *shutdown_rx.borrow() {
        return Ok(Vec::new());
    }
    let settings = Settings {
        namespace: args.source.namespace.clone(),
        config_map: args.config_map.clone(),
        global_hooks_dir: args.source.global_hooks_dir.clone(),
        retry_initial: Duration::from_secs_f64(args.module_retry_delay),
        retry_max: Duration::from_secs(30).max(Duration::from_secs_f64(args.module_retry_delay)),
        drift_debounce: Duration::from_millis(300),
        wait_for_config_map: mode == Mode::Serve,
    };
    let mut operator = Operator::new(
        shared.clone(),
        events_rx,
        client,
        hooks.clone(),
        settings,
        Control {
            leading: leading.clone(),
            shutdown: shutdown_rx.clone(),
        },
    );
    crate::hookfailures::spawn(shared.clone(), hooks.run_events(), shutdown_rx.clone());
    if args.watch_files && mode == Mode::Serve {
        crate::filewatch::spawn(
            shared.clone(),
            hooks.clone(),
            watched,
            files_before,
            shutdown_rx.clone(),
        );
    }
    let result = async {
        operator.start().await?;
        if mode == Mode::Once || *shutdown_rx.borrow() {
            return Ok(());
        }
        anyhow::ensure!(
            *leading.borrow(),
            "lost the leader lease; stopping all work"
        );
        operator.spawn_watches();
        operator.run_loop().await
    }
    .await;
    drop(operator);
    hooks.shutdown();
    shutdown_tx.send_replace(true);
    result?;
    tracing::info!("stopped");
    let rows = shared.status().modules.values().cloned().collect();
    Ok(rows)
}

/// Fails with the command that creates the operator namespace when it does not exist: the
/// operator creates nothing outside the inventories of its modules, and a mistyped
/// `--namespace` must not quietly install every module into a new namespace.
async fn ensure_namespace(client: &kube::Client, namespace: &str) -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::Namespace;
    let api: kube::Api<Namespace> = kube::Api::all(client.clone());
    let found = api
        .get_opt(namespace)
        .await
        .with_context(|| format!("reading the operator namespace {namespace}"))?;
    if found.is_none() {
        anyhow::bail!(
            "the operator namespace {namespace:?} does not exist; create it with `kubectl create namespace {namespace}`, or choose another with --namespace / ADDON_OPERATOR_NAMESPACE"
        );
    }
    Ok(())
}

/// The settings every hook sees in its environment, whether they were given as flags or as
/// environment variables (the `self-update` hook finds its Deployment and state with them).
fn hook_env(args: &RunArgs) -> Vec<(&'static str, std::ffi::OsString)> {
    vec![
        (
            "ADDON_OPERATOR_NAMESPACE",
            args.source.namespace.clone().into(),
        ),
        ("ADDON_OPERATOR_CONFIG_MAP", args.config_map.clone().into()),
        ("ADDON_OPERATOR_DEPLOYMENT", args.deployment.clone().into()),
        // Native hooks' scripts find the operator here (their parent is the hook spawner).
        (
            "ADDON_OPERATOR_BIN",
            std::env::current_exe().unwrap_or_default().into(),
        ),
        // Absolute: hooks run in their own directory.
        (
            "ADDON_OPERATOR_TMP_DIR",
            std::path::absolute(&args.tmp_dir)
                .unwrap_or_else(|_| args.tmp_dir.clone())
                .into(),
        ),
    ]
}

/// Without `--ha`: always leading. With it: waits until this replica holds the Lease (or
/// shutdown), and keeps renewing it in the background.
async fn elect(
    clients: &Clients,
    args: &RunArgs,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<watch::Receiver<bool>> {
    if !args.ha {
        shared.status().leader = true;
        // Without --ha leadership never changes; the sender is dropped on purpose.
        let (_, rx) = watch::channel(true);
        return Ok(rx);
    }
    let identity = args.pod_name.clone().unwrap_or_else(default_identity);
    let api = kube::Api::namespaced(clients.lease.clone(), &args.source.namespace);
    let timing = LeaseTiming {
        duration: Duration::from_secs_f64(args.lease_duration),
        renew_deadline: Duration::from_secs_f64(args.lease_duration * 30.0 / 35.0),
        retry: Duration::from_secs_f64((args.lease_duration / 3.5).max(0.1)),
    };
    let (tx, mut rx) = watch::channel(false);
    tracing::info!(identity = %identity, lease = LEASE_NAME, "waiting for the leader lease");
    tokio::spawn(leader::run(
        api,
        LEASE_NAME.into(),
        identity,
        timing,
        clients.fence.clone(),
        tx,
        shutdown.clone(),
    ));
    loop {
        if *rx.borrow() {
            break;
        }
        tokio::select! {
            changed = rx.changed() => changed.context("leader election stopped")?,
            _ = shutdown.changed() => return Ok(rx),
        }
    }
    shared.status().leader = true;
    tracing::info!("leading: this replica converges");
    Ok(rx)
}

fn default_identity() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    format!(
        "{}-{}",
        if host.is_empty() {
            "addon-operator"
        } else {
            &host
        },
        std::process::id()
    )
}

/// SIGTERM/SIGINT: finish the running step and stop; a second signal exits at once.
fn spawn_signal_handler(shutdown: watch::Sender<bool>) {
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            tracing::error!("cannot install signal handlers");
            return;
        };
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        tracing::info!("signal received: finishing the running step, then stopping");
        shutdown.send_replace(true);
        tokio::select! { _ = term.recv() => {}, _ = int.recv() => {} }
        tracing::warn!("second signal: exiting now");
        std::process::exit(130);
    });
}

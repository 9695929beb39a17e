//! `addon-operator dev`: the embedded default. An in-process API server (the kube-emulator)
//! plus the operator running the local `modules/` and `global-hooks/`.

use std::io::Write;
use std::time::Instant;

use anyhow::Context;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use kube_emulator::{Config, Emulator};

use crate::cli::DevArgs;
use crate::run::{Mode, operate};
use crate::status::ModuleStatus;

/// Runs the command.
pub async fn run(mut args: DevArgs) -> anyhow::Result<()> {
    for file in [&args.state, &args.kubeconfig_out] {
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    // Workloads report ready, so `kubectl rollout status` works against the dev cluster.
    let config = Config {
        port: args.api_port,
        state_file: Some(args.state.clone()),
        simulate_workloads: true,
        ..Config::default()
    };
    let emulator = Emulator::start_with(config).await.with_context(|| {
        format!(
            "starting the embedded API server (state {})",
            args.state.display()
        )
    })?;
    emulator
        .write_kubeconfig(&args.kubeconfig_out)
        .with_context(|| format!("writing {}", args.kubeconfig_out.display()))?;
    eprintln!(
        "embedded API server at {} (state: {})\npoint kubectl at it:\n  export KUBECONFIG={}\n  kubectl get all -A",
        emulator.url(),
        args.state.display(),
        args.kubeconfig_out.display()
    );
    let config = kube::Config::new(emulator.url().parse().context("emulator URL")?);
    let client = kube::Client::try_from(config.clone())
        .context("building the client of the embedded API server")?;
    create_namespace(&client, &args.run.source.namespace).await?;
    // No pod network: the webhook Services lead to this process's webhook ports.
    let w = &args.run.webhooks;
    for (service, port) in [
        (
            &w.validating_webhook_service_name,
            w.validating_webhook_listen_port,
        ),
        (
            &w.conversion_webhook_service_name,
            w.conversion_webhook_listen_port,
        ),
    ] {
        let address = vec![format!("127.0.0.1:{port}")];
        emulator
            .controls()
            .map_service(&args.run.source.namespace, service, 443, address);
    }
    args.run.watch_files = args.run.watch_files || !args.once;
    let started = Instant::now();
    let mode = if args.once { Mode::Once } else { Mode::Serve };
    let result = operate(config, &args.run, mode, crate::cli::DEV_DEBUG_SOCKET).await;
    if let (true, Ok(rows)) = (args.once, &result) {
        print_summary(rows, started.elapsed())?;
    }
    emulator.shutdown().await;
    result.map(|_| ())
}

async fn create_namespace(client: &kube::Client, name: &str) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    if api
        .get_opt(name)
        .await
        .context("reading namespaces")?
        .is_some()
    {
        return Ok(());
    }
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    api.create(&PostParams::default(), &ns)
        .await
        .with_context(|| format!("creating namespace {name}"))?;
    Ok(())
}

/// The `--once` table: module, enabled, objects applied, duration.
fn print_summary(rows: &[ModuleStatus], total: std::time::Duration) -> anyhow::Result<()> {
    let mut rows = rows.to_vec();
    rows.sort_by(|a, b| (a.order, &a.name).cmp(&(b.order, &b.name)));
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<28} {:<8} {:<9} {:>8} {:>8} {:>10}",
        "MODULE", "ENABLED", "STATE", "OBJECTS", "APPLIED", "DURATION"
    )?;
    for r in &rows {
        writeln!(
            out,
            "{:<28} {:<8} {:<9} {:>8} {:>8} {:>8}ms",
            r.name,
            r.enabled,
            format!("{:?}", r.state),
            r.objects,
            r.objects_applied,
            r.last_run_ms
        )?;
        if let Some(err) = &r.error {
            writeln!(out, "  error: {err}")?;
        }
    }
    writeln!(out, "converged in {} ms", total.as_millis())?;
    Ok(())
}

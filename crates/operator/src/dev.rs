//! `addon-operator dev`: the embedded default. An in-process API server (the kube-emulator)
//! plus the operator running the local `modules/` and `global-hooks/`.
//!
//! Several `dev`s may run on one machine: unless told otherwise, `dev` listens on 127.0.0.1
//! and free ports, keeps hook temp files beside its state, and `dev.json` (see
//! [`crate::devlock`]) keeps a second `dev` out of a directory that one is using.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::ArgMatches;
use clap::parser::ValueSource;
use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use kube_emulator::{Config, Emulator};

use crate::cli::DevArgs;
use crate::devlock::DevLock;
use crate::run::{Mode, operate};
use crate::status::{ModuleState, ModuleStatus};

/// The `dev` arguments that were left at clap's default (neither flag nor environment
/// variable): `dev` picks its own defaults for those.
#[derive(Debug, Default)]
pub struct Defaulted(HashSet<String>);

impl Defaulted {
    /// The defaulted argument ids of the `dev` subcommand in `matches` (empty for others).
    pub fn from_matches(matches: &ArgMatches) -> Defaulted {
        let Some(("dev", dev)) = matches.subcommand() else {
            return Defaulted::default();
        };
        Defaulted(
            dev.ids()
                .map(|id| id.as_str())
                .filter(|id| dev.value_source(id) == Some(ValueSource::DefaultValue))
                .map(str::to_string)
                .collect(),
        )
    }

    fn contains(&self, id: &str) -> bool {
        self.0.contains(id)
    }
}

/// Runs the command; with `--once`, exits non-zero when a module failed.
pub async fn run(mut args: DevArgs, defaulted: Defaulted) -> anyhow::Result<ExitCode> {
    for file in [&args.state, &args.kubeconfig_out] {
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
    }
    // The directory of the debug socket (`.addon-operator/`) is the dev's: the lock and the
    // hook temp files live there, as they would clash between two devs sharing the socket.
    let debug_socket = args.run.debug_socket.serve_at(crate::cli::DEV_DEBUG_SOCKET);
    let dir = debug_socket
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_path_buf();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut lock = DevLock::acquire(&dir.join("dev.json"))?;
    local_defaults(&mut args, &defaulted, &dir)?;
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
    let http = format!(
        "http://{}:{}",
        args.run.listen_address, args.run.listen_port
    );
    lock.update(|info| {
        info.api_server = emulator.url();
        info.kubeconfig = args.kubeconfig_out.display().to_string();
        if !args.once {
            info.http = http.clone();
            info.debug_socket = debug_socket.display().to_string();
        }
    })?;
    if args.once {
        eprintln!(
            "embedded API server at {} (state: {}): converging once",
            emulator.url(),
            args.state.display()
        );
    } else {
        eprintln!(
            "embedded API server at {url} (state: {state})\n\
             point kubectl at it:\n  export KUBECONFIG={kubeconfig}\n  kubectl get all -A\n\
             ask the operator from this directory: addon-operator module list\n\
             metrics and probes: {http}/metrics, {http}/readyz",
            url = emulator.url(),
            state = args.state.display(),
            kubeconfig = args.kubeconfig_out.display(),
        );
    }
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
    emulator.shutdown().await;
    let rows = result?;
    if !args.once {
        return Ok(ExitCode::SUCCESS);
    }
    print_summary(&rows, started.elapsed())?;
    eprintln!(
        "the objects stay in {}: `addon-operator dev` continues from them",
        args.state.display()
    );
    report_failures(&rows)
}

/// `dev`'s own defaults for what the user left unset: the network endpoints on 127.0.0.1 and
/// free ports (no clash with another `dev` or a local `run`), hook temp files in `dir`.
fn local_defaults(args: &mut DevArgs, defaulted: &Defaulted, dir: &Path) -> anyhow::Result<()> {
    let run = &mut args.run;
    let w = &mut run.webhooks;
    for (id, address) in [
        ("listen_address", &mut run.listen_address),
        (
            "validating_webhook_listen_address",
            &mut w.validating_webhook_listen_address,
        ),
        (
            "conversion_webhook_listen_address",
            &mut w.conversion_webhook_listen_address,
        ),
    ] {
        if defaulted.contains(id) {
            *address = "127.0.0.1".into();
        }
    }
    // Each defaulted port is bound now and held until its server listens on it.
    for (id, address, port) in [
        ("listen_port", &run.listen_address, &mut run.listen_port),
        (
            "validating_webhook_listen_port",
            &w.validating_webhook_listen_address,
            &mut w.validating_webhook_listen_port,
        ),
        (
            "conversion_webhook_listen_port",
            &w.conversion_webhook_listen_address,
            &mut w.conversion_webhook_listen_port,
        ),
    ] {
        if defaulted.contains(id) {
            *port = crate::listeners::reserve(address)?;
        }
    }
    if defaulted.contains("tmp_dir") {
        run.tmp_dir = PathBuf::from(dir).join("tmp");
    }
    Ok(())
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
    }
    writeln!(out, "converged in {} ms", total.as_millis())?;
    Ok(())
}

/// Prints every failed module with its error to stderr; exit code 1 when there is one, so
/// `dev --once` gates CI. A module whose `enabled` script failed counts too (it keeps its
/// state, with an error).
fn report_failures(rows: &[ModuleStatus]) -> anyhow::Result<ExitCode> {
    let mut failed: Vec<&ModuleStatus> = rows
        .iter()
        .filter(|r| r.state == ModuleState::Failed || r.error.is_some())
        .collect();
    if failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    failed.sort_by(|a, b| (a.order, &a.name).cmp(&(b.order, &b.name)));
    let mut err = std::io::stderr().lock();
    for r in &failed {
        let error = r.error.as_deref().unwrap_or("failed (no error recorded)");
        writeln!(err, "module {} failed: {error}", r.name)?;
    }
    let names: Vec<&str> = failed.iter().map(|r| r.name.as_str()).collect();
    writeln!(
        err,
        "error: {} module(s) failed: {}",
        failed.len(),
        names.join(", ")
    )?;
    Ok(ExitCode::FAILURE)
}

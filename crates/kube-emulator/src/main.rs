//! `kube-emulator`: runs the Kubernetes API emulator until interrupted.

use clap::Parser;
use kube_emulator::{Config, Emulator};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// A Kubernetes API server emulator on 127.0.0.1 for tests and local development.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// TCP port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0, env = "KUBE_EMULATOR_PORT")]
    port: u16,
    /// Write a kubeconfig pointing at the emulator to this file.
    #[arg(long, value_name = "FILE")]
    kubeconfig_out: Option<PathBuf>,
    /// Persist objects in this JSON file across restarts.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Watch events kept for resumption (older resourceVersions get 410 Gone).
    #[arg(long, default_value_t = 10_000)]
    watch_history: usize,
    /// Report workloads (Deployments, StatefulSets, ReplicaSets, DaemonSets, Jobs)
    /// ready as soon as their spec changes, as their controllers would.
    #[arg(long)]
    simulate_workloads: bool,
    /// Authenticate bearer tokens and authorize requests with RBAC, as kube-apiserver does:
    /// `kubectl create token` issues ServiceAccount tokens; a request without a token is the
    /// administrator.
    #[arg(long)]
    authorization: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LOG_LEVEL")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = Config {
        port: args.port,
        state_file: args.state,
        watch_history: args.watch_history,
        simulate_workloads: args.simulate_workloads,
        authorization: args.authorization,
        ..Config::default()
    };
    let emu = match Emulator::start_with(config).await {
        Ok(e) => e,
        Err(e) => return fail(&e),
    };
    if let Some(path) = &args.kubeconfig_out
        && let Err(e) = emu.write_kubeconfig(path)
    {
        eprintln!(
            "kube-emulator: failed to write the kubeconfig {}: {e}",
            path.display()
        );
        return ExitCode::FAILURE;
    }
    let mut out = std::io::stdout();
    // The URL is the first stdout line; tests and scripts read it.
    if writeln!(out, "{}", emu.url())
        .and_then(|_| out.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }
    wait_for_signal().await;
    emu.shutdown().await;
    ExitCode::SUCCESS
}

fn fail(e: &dyn std::error::Error) -> ExitCode {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    eprintln!("kube-emulator: {msg}");
    ExitCode::FAILURE
}

async fn wait_for_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

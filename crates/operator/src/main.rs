//! The `addon-operator` binary: parses the command line, sets up logs and runs one command.
//!
//! Everything but wiring lives in the library crates (`values`, `charts`, `hooks`, `reconciler`,
//! `kube-emulator`); errors from them are printed once, with their context chain, and turn into
//! a non-zero exit code.

mod apihealth;
mod cli;
mod client;
mod config;
mod configmap;
mod control;
mod convert_chart;
mod debugapi;
mod describe;
mod dev;
mod enabled;
mod fence;
mod filewatch;
mod hookfailures;
mod host;
mod http;
mod leader;
mod logging;
mod metrics;
mod modulelist;
mod moduleset;
mod native;
mod operator;
mod rbac;
mod record;
mod render;
mod retry;
mod run;
mod runner;
mod scheduler;
mod selfupdate_hook;
mod shared;
mod status;
mod update;
mod webhook;
mod webhook_flags;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{
    ChannelCommand, Cli, Command, GlobalCommand, ModuleCommand, QueueCommand, UpdateCommand,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(err) = logging::init(cli.log_type, &cli.log_level) {
        eprintln!("error: {err:#}");
        return ExitCode::from(2);
    }
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Render(args) => render::run(&args),
        Command::ConvertChart(args) => convert_chart::run(&args),
        Command::Run(args) => block_on(run::run(args)),
        Command::Dev(args) => block_on(dev::run(args)),
        Command::Hook(args) => native::run(args.name.as_deref(), &args.args),
        Command::Module {
            command: ModuleCommand::Values { name, args },
        } => block_on(modulelist::values(Some(&name), &args)),
        Command::Queue {
            command: QueueCommand::List(args),
        } => block_on(modulelist::queues(&args)),
        Command::Global {
            command: GlobalCommand::Values(args),
        } => block_on(modulelist::values(None, &args)),
        Command::Module {
            command: ModuleCommand::List(args),
        } => block_on(modulelist::run(&args)),
        Command::Module {
            command: ModuleCommand::Describe { name, args },
        } => block_on(describe::run(&name, &args.socket, args.output)),
        Command::Update {
            command: UpdateCommand::Status(args),
        } => block_on(update::status(&args)),
        Command::Channel {
            command: ChannelCommand::List { registry, output },
        } => block_on(update::list(&registry, output)),
        Command::Channel {
            command: ChannelCommand::Promote { registry, from, to },
        } => block_on(update::promote(&registry, from, to)),
        Command::Rbac(args) => block_on(rbac::run(&args)),
    }
}

/// Runs `work` on a multi-threaded runtime, then shuts the runtime down giving spawned tasks
/// at most [`SHUTDOWN_GRACE`]: a task that no longer yields (e.g. a watch retrying without
/// pause against a client that is already gone) must not keep the process from exiting.
fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(work: F) -> anyhow::Result<()> {
    use anyhow::Context;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(work);
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    result
}

/// How long spawned tasks may take to stop once a command has finished.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

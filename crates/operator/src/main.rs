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
mod converge;
mod debugapi;
mod dev;
mod fence;
mod filewatch;
mod host;
mod http;
mod leader;
mod logging;
mod metrics;
mod modulelist;
mod moduleset;
mod native;
mod operator;
mod reload;
mod render;
mod run;
mod shared;
mod status;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, GlobalCommand, ModuleCommand, QueueCommand};

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
        Command::Run(args) => runtime()?.block_on(run::run(args)),
        Command::Dev(args) => runtime()?.block_on(dev::run(args)),
        Command::Hook(args) => native::run(args.name.as_deref(), &args.args),
        Command::Module {
            command: ModuleCommand::Values { name, args },
        } => runtime()?.block_on(modulelist::values(Some(&name), &args)),
        Command::Queue {
            command: QueueCommand::List(args),
        } => runtime()?.block_on(modulelist::queues(&args)),
        Command::Global {
            command: GlobalCommand::Values(args),
        } => runtime()?.block_on(modulelist::values(None, &args)),
        Command::Module {
            command: ModuleCommand::List(args),
        } => runtime()?.block_on(modulelist::run(&args)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    use anyhow::Context;
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

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
mod devlock;
mod diff;
mod enabled;
mod errors;
mod fence;
mod filewatch;
mod hookfailures;
mod hooktest;
mod host;
mod http;
mod leader;
mod lint;
mod listeners;
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
mod table;
mod update;
mod version;
mod webhook;
mod webhook_flags;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{
    ChannelCommand, Cli, Command, GlobalCommand, HookCommand, ModuleCommand, QueueCommand,
    UpdateCommand,
};

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    if let Err(err) = logging::init(cli.log_type, &cli.log_level) {
        eprintln!("error: {err:#}");
        return ExitCode::from(2);
    }
    // `diff` answers 1 for "differences found", so its errors exit 2, as kubectl diff's do.
    let error_code = match cli.command {
        Command::Diff(_) => 2,
        _ => 1,
    };
    let defaulted = dev::Defaulted::from_matches(&matches);
    match dispatch(cli.command, defaulted) {
        Ok(code) => code,
        Err(err) if errors::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", errors::chain_anyhow(&err));
            ExitCode::from(error_code)
        }
    }
}

/// Runs one command; `Ok` carries the exit code of a command that has more than one success.
fn dispatch(command: Command, defaulted: dev::Defaulted) -> anyhow::Result<ExitCode> {
    let done = |result: anyhow::Result<()>| result.map(|()| ExitCode::SUCCESS);
    match command {
        Command::Render(args) => done(render::run(&args)),
        Command::Lint(args) => lint::run(&args),
        Command::Diff(args) => block_on(diff::run(args)),
        Command::ConvertChart(args) => done(convert_chart::run(&args)),
        Command::Run(args) => done(block_on(run::run(args))),
        Command::Dev(args) => block_on(dev::run(args, defaulted)),
        Command::Hook { command } => match command {
            None | Some(HookCommand::List) => done(native::run(None, &[])),
            Some(HookCommand::Run { name, args }) => done(native::run(Some(&name), &args)),
            Some(HookCommand::Native(mut words)) => {
                let name = if words.is_empty() {
                    None
                } else {
                    Some(words.remove(0))
                };
                done(native::run(name.as_deref(), &words))
            }
            Some(HookCommand::Test(args)) => block_on(hooktest::test(args)),
            Some(HookCommand::Snapshots(args)) => done(block_on(hooktest::snapshots(&args))),
        },
        Command::Module {
            command: ModuleCommand::Values { name, args },
        } => done(block_on(modulelist::values(Some(&name), &args))),
        Command::Queue {
            command: QueueCommand::List(args),
        } => done(block_on(modulelist::queues(&args))),
        Command::Global {
            command: GlobalCommand::Values(args),
        } => done(block_on(modulelist::values(None, &args))),
        Command::Module {
            command: ModuleCommand::List(args),
        } => done(block_on(modulelist::run(&args))),
        Command::Module {
            command: ModuleCommand::Describe { name, args },
        } => done(block_on(describe::run(&name, &args.socket, args.output))),
        Command::Update {
            command: UpdateCommand::Status(args),
        } => done(block_on(update::status(&args))),
        Command::Channel {
            command: ChannelCommand::List { registry, output },
        } => done(block_on(update::list(&registry, output))),
        Command::Channel {
            command: ChannelCommand::Promote { registry, from, to },
        } => done(block_on(update::promote(&registry, from, to))),
        Command::Rbac(args) => done(block_on(rbac::run(&args))),
        Command::Version(args) => done(version::run(&args)),
        Command::Completion { shell } => {
            use std::io::Write;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "addon-operator", &mut script);
            std::io::stdout().write_all(&script)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Runs `work` on a multi-threaded runtime, then shuts the runtime down giving spawned tasks
/// at most [`SHUTDOWN_GRACE`]: a task that no longer yields (e.g. a watch retrying without
/// pause against a client that is already gone) must not keep the process from exiting.
fn block_on<T, F: std::future::Future<Output = anyhow::Result<T>>>(work: F) -> anyhow::Result<T> {
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

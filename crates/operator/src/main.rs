//! The `addon-operator` binary: parses the command line, sets up logs and runs one command.
//!
//! Everything but wiring lives in the library crates (`values`, `charts`, `hooks`, `reconciler`,
//! `kube-emulator`); errors from them are printed once, with their context chain, and turn into
//! a non-zero exit code.

mod cli;
mod logging;
mod moduleset;
mod render;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(err) = logging::init(cli.log_type, &cli.log_level) {
        eprintln!("error: {err:#}");
        return ExitCode::from(2);
    }
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Render(args) => render::run(&args),
    }
}

//! `addon-operator-hook-launcher`: starts one hook for the operator and reports the hook's own
//! exit status and resource usage (see the `hooks` crate's launcher module for why a separate,
//! small binary: a hook's max RSS includes what the process that started it held).

use std::process::ExitCode;

fn main() -> ExitCode {
    hooks::launch_if_asked().unwrap_or_else(|| {
        eprintln!(
            "addon-operator-hook-launcher runs hooks for addon-operator: {} REPORT PROGRAM [ARGS...]",
            hooks::LAUNCH_ARG
        );
        ExitCode::from(2)
    })
}

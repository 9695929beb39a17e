//! `addon-operator-hook-launcher`: the hook spawner. The operator starts it once and it starts
//! every hook, so a hook's max RSS is the hook's own (see the `hooks` crate's spawner module
//! for why a separate, small binary: a hook's max RSS includes what the process that started
//! it held).

use std::process::ExitCode;

fn main() -> ExitCode {
    hooks::serve_if_asked().unwrap_or_else(|| {
        eprintln!(
            "addon-operator-hook-launcher starts hooks for addon-operator, which runs it as `{}` with a socket on stdin",
            hooks::SPAWNER_ARG
        );
        ExitCode::from(2)
    })
}

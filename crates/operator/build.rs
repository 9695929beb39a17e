//! Stamps the build into the binary for `addon-operator version`: the version, git commit and
//! build date (each from `ADDON_OPERATOR_VERSION`, `ADDON_OPERATOR_COMMIT`,
//! `ADDON_OPERATOR_BUILD_DATE` when set, as the Dockerfile passes them as build args; otherwise
//! the crate version, `git rev-parse`, and today's date) and the `rustc --version` that built
//! it.

use std::path::Path;
use std::process::Command;

fn main() {
    for var in [
        "ADDON_OPERATOR_VERSION",
        "ADDON_OPERATOR_COMMIT",
        "ADDON_OPERATOR_BUILD_DATE",
        "SOURCE_DATE_EPOCH",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }
    let version = env("ADDON_OPERATOR_VERSION")
        .unwrap_or_else(|| std::env::var("CARGO_PKG_VERSION").unwrap_or_default());
    let commit = env("ADDON_OPERATOR_COMMIT")
        .or_else(git_commit)
        .unwrap_or_else(|| "unknown".into());
    let date = env("ADDON_OPERATOR_BUILD_DATE")
        .or_else(build_date)
        .unwrap_or_else(|| "unknown".into());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let rustc = output(Command::new(rustc).arg("--version")).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ADDON_OPERATOR_BUILD_VERSION={version}");
    println!("cargo:rustc-env=ADDON_OPERATOR_BUILD_COMMIT={commit}");
    println!("cargo:rustc-env=ADDON_OPERATOR_BUILD_DATE={date}");
    println!("cargo:rustc-env=ADDON_OPERATOR_BUILD_RUSTC={rustc}");
}

/// A non-empty environment variable.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The short commit of the checkout; `None` outside a git checkout (e.g. a Docker build
/// context without `.git`). The build script runs again when HEAD moves.
fn git_commit() -> Option<String> {
    let head = output(Command::new("git").args(["rev-parse", "--git-path", "HEAD"]))?;
    watch(&head);
    if let Some(reference) = output(Command::new("git").args(["symbolic-ref", "-q", "HEAD"]))
        && let Some(path) =
            output(Command::new("git").args(["rev-parse", "--git-path", &reference]))
    {
        watch(&path);
    }
    output(Command::new("git").args(["rev-parse", "--short=12", "HEAD"]))
}

/// Asks cargo to run the build script again when `path` changes; only existing files, since a
/// missing one would make every build rerun it.
fn watch(path: &str) {
    if Path::new(path).exists() {
        println!("cargo:rerun-if-changed={path}");
    }
}

/// The UTC date of the build (`SOURCE_DATE_EPOCH` for reproducible builds).
fn build_date() -> Option<String> {
    let mut date = Command::new("date");
    date.arg("-u");
    if let Some(epoch) = env("SOURCE_DATE_EPOCH") {
        date.arg("-d").arg(format!("@{epoch}"));
    }
    output(date.arg("+%Y-%m-%d"))
}

/// The trimmed stdout of a successful command.
fn output(command: &mut Command) -> Option<String> {
    let out = command.output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

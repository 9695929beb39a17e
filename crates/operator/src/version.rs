//! `addon-operator version`: what this binary is, stamped at build time by `build.rs`.

use std::io::Write;

use serde::Serialize;

use crate::cli::{ValuesFormat, VersionArgs};

/// The build of this binary.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildInfo {
    /// Release version (`ADDON_OPERATOR_VERSION` at build time, else the crate version).
    pub version: &'static str,
    /// Git commit (`ADDON_OPERATOR_COMMIT`, else the checkout's; `unknown` without either).
    pub git_commit: &'static str,
    /// UTC build date, `YYYY-MM-DD` (`ADDON_OPERATOR_BUILD_DATE`, else the day of the build).
    pub build_date: &'static str,
    /// `rustc --version` of the compiler that built it.
    pub rustc: &'static str,
}

/// This binary's build.
pub const BUILD: BuildInfo = BuildInfo {
    version: env!("ADDON_OPERATOR_BUILD_VERSION"),
    git_commit: env!("ADDON_OPERATOR_BUILD_COMMIT"),
    build_date: env!("ADDON_OPERATOR_BUILD_DATE"),
    rustc: env!("ADDON_OPERATOR_BUILD_RUSTC"),
};

/// Runs the command.
pub fn run(args: &VersionArgs) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match args.output {
        None => writeln!(
            out,
            "addon-operator {}\ngit commit:  {}\nbuild date:  {}\nrustc:       {}",
            BUILD.version, BUILD.git_commit, BUILD.build_date, BUILD.rustc
        )?,
        Some(ValuesFormat::Json) => writeln!(out, "{}", serde_json::to_string_pretty(&BUILD)?)?,
        Some(ValuesFormat::Yaml) => write!(out, "{}", serde_yaml::to_string(&BUILD)?)?,
    }
    Ok(())
}

//! Log setup: `tracing` with addon-operator's `LOG_TYPE` and `LOG_LEVEL`.

use anyhow::{Context, bail};
use tracing_subscriber::EnvFilter;

/// How log lines are written, from `LOG_TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogType {
    /// Human-readable lines (the default).
    Text,
    /// One JSON object per line, for log collectors.
    Json,
    /// Text with ANSI colours, for terminals.
    Color,
}

/// Installs the global subscriber. Logs go to stderr so that `render` output on stdout stays clean.
///
/// `level` accepts addon-operator's `debug|info|error` (and `warn`, `trace`) or a full
/// `tracing` filter such as `info,hooks=debug`. kube-client's per-request failure lines are off
/// unless `level` names `kube_client`.
pub fn init(log_type: LogType, level: &str) -> anyhow::Result<()> {
    let mut filter = EnvFilter::try_new(level).with_context(|| {
        format!(
            "invalid LOG_LEVEL {level:?} (expected debug, info, warn, error or a tracing filter)"
        )
    })?;
    if !level.contains("kube_client") {
        // kube-client logs every failed request at error level, unthrottled: during an API
        // outage that is a line per retry of every watch. The watches log the same failures
        // themselves, once per interval with a count (cluster-access's LogThrottle).
        filter = filter.add_directive(
            "kube_client::client::builder=off"
                .parse()
                .context("the built-in kube_client log directive")?,
        );
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match log_type {
        LogType::Json => builder.json().flatten_event(true).try_init(),
        LogType::Text => builder.with_ansi(false).try_init(),
        LogType::Color => builder.with_ansi(true).try_init(),
    };
    if let Err(err) = result {
        bail!("failed to install the log subscriber: {err}");
    }
    Ok(())
}

//! `addon-operator module list|values`, `queue list` and `global values`: ask a running
//! operator's debug API on its Unix socket.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, bail};

use crate::cli::{DebugSocket, ListFormat, ModuleListArgs, ValuesArgs, ValuesFormat};
use crate::status::OperatorStatus;

/// Runs the command.
pub async fn run(args: &ModuleListArgs) -> anyhow::Result<()> {
    let status: OperatorStatus = ask(&args.socket, "/modules").await?;
    let mut out = std::io::stdout().lock();
    match args.output {
        ListFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&status)?)?,
        ListFormat::Yaml => write!(out, "{}", serde_yaml::to_string(&status)?)?,
        ListFormat::Text | ListFormat::Wide => {
            let wide = args.output == ListFormat::Wide;
            if let Some(err) = &status.config_error {
                writeln!(out, "ConfigMap: {err}")?;
            }
            if let Some(err) = &status.files_error {
                writeln!(out, "Module files: {err}")?;
            }
            for f in &status.failing_global_hooks {
                writeln!(
                    out,
                    "Global hook {} (binding {}, queue {}) failing, retrying: {}",
                    f.hook,
                    f.binding,
                    f.queue,
                    one_line(&f.error)
                )?;
            }
            let mut rows: Vec<_> = status.modules.values().collect();
            rows.sort_by(|a, b| (a.order, &a.name).cmp(&(b.order, &b.name)));
            write!(
                out,
                "{:<28} {:<8} {:<9} {:>8}  ",
                "MODULE", "ENABLED", "STATE", "OBJECTS"
            )?;
            if wide {
                write!(out, "{}", crate::table::MODULE_WIDE_HEADER)?;
            }
            writeln!(out, "ERROR")?;
            for r in rows {
                let err = one_line(r.error.as_deref().unwrap_or(""));
                // A trailing `*` marks maintenance (NoResourceReconciliation).
                let state = format!("{:?}{}", r.state, if r.maintenance { "*" } else { "" });
                write!(
                    out,
                    "{:<28} {:<8} {:<9} {:>8}  ",
                    r.name, r.enabled, state, r.objects
                )?;
                if wide {
                    write!(out, "{}", crate::table::module_wide_columns(r))?;
                }
                writeln!(out, "{err}")?;
            }
            if status.modules.values().any(|r| r.maintenance) {
                writeln!(
                    out,
                    "* maintenance: NoResourceReconciliation (rendered, nothing applied)"
                )?;
            }
        }
    }
    Ok(())
}

/// An error on one line of a text table: a hook's stderr comes with line breaks, which would
/// break the table (`-o json`/`yaml` keep them).
pub fn one_line(error: &str) -> String {
    error.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `queue list`: tasks waiting in each hook queue.
pub async fn queues(args: &ModuleListArgs) -> anyhow::Result<()> {
    let queues: std::collections::BTreeMap<String, usize> = ask(&args.socket, "/queues").await?;
    let mut out = std::io::stdout().lock();
    match args.output {
        ListFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&queues)?)?,
        ListFormat::Yaml => write!(out, "{}", serde_yaml::to_string(&queues)?)?,
        ListFormat::Text | ListFormat::Wide => {
            writeln!(out, "{:<28} {:>7}", "QUEUE", "WAITING")?;
            for (queue, waiting) in &queues {
                writeln!(out, "{queue:<28} {waiting:>7}")?;
            }
        }
    }
    Ok(())
}

/// `module values <name>` (`module = Some`) or `global values`: prints the effective values.
pub async fn values(module: Option<&str>, args: &ValuesArgs) -> anyhow::Result<()> {
    let path = match module {
        Some(name) => format!("/values/module/{name}"),
        None => "/values/global".to_string(),
    };
    let values: serde_json::Value = ask(&args.socket, &path).await?;
    let mut out = std::io::stdout().lock();
    match args.output {
        ValuesFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&values)?)?,
        ValuesFormat::Yaml => write!(out, "{}", serde_yaml::to_string(&values)?)?,
    }
    Ok(())
}

/// `GET path` on the operator's debug socket, decoded from JSON.
pub(crate) async fn ask<T: serde::de::DeserializeOwned>(
    socket: &DebugSocket,
    path: &str,
) -> anyhow::Result<T> {
    let socket = socket.ask_at();
    let body = get(&socket, path).await?;
    serde_json::from_slice(&body)
        .with_context(|| format!("{path} on {}: unexpected answer", socket.display()))
}

/// A plain HTTP/1.1 GET over a Unix socket with hyper (already in the tree through kube).
async fn get(socket: &Path, path: &str) -> anyhow::Result<Vec<u8>> {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::rt::TokioIo;
    let stream = tokio::net::UnixStream::connect(socket)
        .await
        .with_context(|| {
            format!(
                "cannot reach the operator's debug socket {} (is it running? `addon-operator dev` \
             serves .addon-operator/debug.socket in its directory, where the client commands find \
             it; --debug-unix-socket names another)",
                socket.display()
            )
        })?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .with_context(|| format!("talking HTTP on {}", socket.display()))?;
    tokio::spawn(connection);
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, "addon-operator")
        .body(Empty::<bytes::Bytes>::new())
        .with_context(|| format!("invalid request path {path}"))?;
    let response = sender
        .send_request(request)
        .await
        .with_context(|| format!("asking {path} on {}", socket.display()))?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .with_context(|| format!("reading {path} on {}", socket.display()))?
        .to_bytes();
    if !status.is_success() {
        bail!("{path}: HTTP {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(body.to_vec())
}

//! `addon-operator module list|values`, `queue list` and `global values`: ask a running
//! operator's HTTP endpoint.

use std::io::Write;

use anyhow::{Context, bail};

use crate::cli::{ListFormat, ModuleListArgs, ValuesArgs, ValuesFormat};
use crate::status::OperatorStatus;

/// Runs the command.
pub async fn run(args: &ModuleListArgs) -> anyhow::Result<()> {
    let url = format!("{}/modules", args.operator.url.trim_end_matches('/'));
    let body = fetch(&url).await?;
    let status: OperatorStatus =
        serde_json::from_slice(&body).with_context(|| format!("{url}: unexpected answer"))?;
    let mut out = std::io::stdout().lock();
    match args.output {
        ListFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&status)?)?,
        ListFormat::Yaml => write!(out, "{}", serde_yaml::to_string(&status)?)?,
        ListFormat::Text => {
            if let Some(err) = &status.config_error {
                writeln!(out, "ConfigMap rejected: {err}")?;
            }
            let mut rows: Vec<_> = status.modules.values().collect();
            rows.sort_by(|a, b| (a.order, &a.name).cmp(&(b.order, &b.name)));
            writeln!(
                out,
                "{:<28} {:<8} {:<9} {:>8}  ERROR",
                "MODULE", "ENABLED", "STATE", "OBJECTS"
            )?;
            for r in rows {
                let err = r.error.as_deref().unwrap_or("");
                // A trailing `*` marks maintenance (NoResourceReconciliation).
                let state = format!("{:?}{}", r.state, if r.maintenance { "*" } else { "" });
                writeln!(
                    out,
                    "{:<28} {:<8} {:<9} {:>8}  {err}",
                    r.name, r.enabled, state, r.objects
                )?;
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

/// `queue list`: tasks waiting in each hook queue.
pub async fn queues(args: &ModuleListArgs) -> anyhow::Result<()> {
    let url = format!("{}/queues", args.operator.url.trim_end_matches('/'));
    let body = fetch(&url).await?;
    let queues: std::collections::BTreeMap<String, usize> =
        serde_json::from_slice(&body).with_context(|| format!("{url}: unexpected answer"))?;
    let mut out = std::io::stdout().lock();
    match args.output {
        ListFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&queues)?)?,
        ListFormat::Yaml => write!(out, "{}", serde_yaml::to_string(&queues)?)?,
        ListFormat::Text => {
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
    let base = args.operator.url.trim_end_matches('/');
    let url = match module {
        Some(name) => format!("{base}/values/module/{name}"),
        None => format!("{base}/values/global"),
    };
    let body = fetch(&url).await?;
    let values: serde_json::Value =
        serde_json::from_slice(&body).with_context(|| format!("{url}: unexpected answer"))?;
    let mut out = std::io::stdout().lock();
    match args.output {
        ValuesFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&values)?)?,
        ValuesFormat::Yaml => write!(out, "{}", serde_yaml::to_string(&values)?)?,
    }
    Ok(())
}

/// A plain HTTP/1.1 GET with hyper (already in the tree through kube).
async fn fetch(url: &str) -> anyhow::Result<Vec<u8>> {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    let uri: hyper::Uri = url.parse().with_context(|| format!("invalid URL {url}"))?;
    let client: Client<_, Empty<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let response = client.get(uri).await.with_context(|| {
        format!("cannot reach the operator at {url} (is it running? see --url)")
    })?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .with_context(|| format!("reading {url}"))?
        .to_bytes();
    if !status.is_success() {
        bail!("{url}: HTTP {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok(body.to_vec())
}

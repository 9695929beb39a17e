//! `addon-operator update status` (asks a running operator) and `addon-operator channel
//! list|promote` (talk to the registry, for release teams).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use selfupdate::{Channel, Credentials, FailureKind, Registry, RegistryOptions, registry_of};
use serde::Serialize;

use crate::cli::{ListFormat, ModuleListArgs, RegistryArgs};

/// `update status`: the self-update hook's status from the operator's debug socket.
pub async fn status(args: &ModuleListArgs) -> anyhow::Result<()> {
    let status: selfupdate::Status = crate::modulelist::ask(&args.socket, "/update").await?;
    let mut out = std::io::stdout().lock();
    match args.output {
        ListFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&status)?)?,
        ListFormat::Yaml => write!(out, "{}", serde_yaml::to_string(&status)?)?,
        ListFormat::Text | ListFormat::Wide => {
            let or_dash = |s: &str| {
                if s.is_empty() {
                    "-".to_string()
                } else {
                    s.to_string()
                }
            };
            let with_version = |digest: &str, version: &str| match (digest, version) {
                ("", _) => "-".to_string(),
                (d, "") => d.to_string(),
                (d, v) => format!("{d} ({v})"),
            };
            let rows = [
                (
                    "channel",
                    format!("{} ({})", or_dash(&status.channel), or_dash(&status.mode)),
                ),
                ("repository", or_dash(&status.repository)),
                (
                    "current",
                    with_version(&status.current_digest, &status.current_version),
                ),
                (
                    "available",
                    with_version(&status.available_digest, &status.available_version),
                ),
                ("state", or_dash(&status.state)),
                ("next window", or_dash(&status.next_window)),
                ("wave", or_dash(&status.wave)),
                ("wave time", or_dash(&status.wave_time)),
                ("last check", or_dash(&status.last_check)),
                ("last error", or_dash(&status.last_error)),
            ];
            for (name, value) in rows {
                writeln!(out, "{:<12} {value}", format!("{name}:"))?;
            }
        }
    }
    Ok(())
}

/// One row of `channel list`.
#[derive(Debug, Serialize)]
struct ChannelRow {
    channel: String,
    digest: Option<String>,
    version: Option<String>,
    error: Option<String>,
}

/// `channel list --repository R`: digest and version behind each channel tag.
pub async fn list(args: &RegistryArgs, output: ListFormat) -> anyhow::Result<()> {
    let registry = connect(args)?;
    let mut rows = Vec::new();
    for channel in Channel::ALL {
        let mut row = ChannelRow {
            channel: channel.to_string(),
            digest: None,
            version: None,
            error: None,
        };
        match registry.resolve(&args.repository, channel.tag()).await {
            Ok(digest) => {
                match registry.version(&args.repository, &digest).await {
                    Ok(v) => row.version = v.map(|v| v.to_string()),
                    Err(e) => row.error = Some(format!("{}: {}", e.kind, e.detail)),
                }
                row.digest = Some(digest);
            }
            Err(e) if e.kind == FailureKind::NotFound => {}
            Err(e) => row.error = Some(format!("{}: {}", e.kind, e.detail)),
        }
        rows.push(row);
    }
    let mut out = std::io::stdout().lock();
    match output {
        ListFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?,
        ListFormat::Yaml => write!(out, "{}", serde_yaml::to_string(&rows)?)?,
        ListFormat::Text | ListFormat::Wide => {
            writeln!(
                out,
                "{:<13} {:<72} {:<12} ERROR",
                "CHANNEL", "DIGEST", "VERSION"
            )?;
            for r in &rows {
                writeln!(
                    out,
                    "{:<13} {:<72} {:<12} {}",
                    r.channel,
                    r.digest.as_deref().unwrap_or("-"),
                    r.version.as_deref().unwrap_or("-"),
                    r.error.as_deref().unwrap_or(""),
                )?;
            }
        }
    }
    Ok(())
}

/// `channel promote --repository R --from beta --to stable`.
pub async fn promote(args: &RegistryArgs, from: Channel, to: Channel) -> anyhow::Result<()> {
    if from == to {
        bail!("--from and --to name the same channel ({from})");
    }
    let registry = connect(args)?;
    let digest = registry
        .promote(&args.repository, from.tag(), to.tag())
        .await
        .with_context(|| format!("promoting {}:{from} to {to}", args.repository))?;
    println!(
        "{}:{to} now points to {digest} (the digest of {from})",
        args.repository
    );
    Ok(())
}

fn connect(args: &RegistryArgs) -> anyhow::Result<Registry> {
    let credentials = match (&args.username, &args.password) {
        (Some(username), Some(password)) => Credentials::Basic {
            username: username.clone(),
            password: password.clone(),
        },
        (Some(_), None) | (None, Some(_)) => {
            bail!("--username and --password (REGISTRY_USERNAME, REGISTRY_PASSWORD) go together")
        }
        (None, None) => match docker_config_path(args) {
            Some(path) => {
                let bytes =
                    std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
                Credentials::from_docker_config(&bytes, registry_of(&args.repository))
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            }
            None => Credentials::Anonymous,
        },
    };
    Registry::new(RegistryOptions {
        insecure: args.insecure,
        credentials,
        timeout: None,
    })
    .map_err(anyhow::Error::from)
}

/// `--docker-config`, else `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, if the
/// file exists.
fn docker_config_path(args: &RegistryArgs) -> Option<PathBuf> {
    if let Some(path) = &args.docker_config {
        return Some(path.clone());
    }
    let candidates = [
        std::env::var_os("DOCKER_CONFIG").map(|d| PathBuf::from(d).join("config.json")),
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json")),
    ];
    candidates.into_iter().flatten().find(|p| p.is_file())
}

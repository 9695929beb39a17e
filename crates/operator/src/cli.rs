//! Command-line interface: one definition per flag, with addon-operator's environment variables.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::logging::LogType;

/// addon-operator: installs and keeps alive a set of addon modules in a Kubernetes cluster.
#[derive(Debug, Parser)]
#[command(name = "addon-operator", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Log format: text, json or color.
    #[arg(
        long,
        global = true,
        env = "LOG_TYPE",
        value_enum,
        default_value = "text"
    )]
    pub log_type: LogType,

    /// Log level (debug, info, warn, error) or a tracing filter such as `info,hooks=debug`.
    #[arg(long, global = true, env = "LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render the enabled modules offline, like `helm template`, without a cluster.
    Render(RenderArgs),
}

/// Where the module set lives; shared by every command that loads modules.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// Module directories, `:`-separated; each holds `NNN-name/` modules and an optional `values.yaml`.
    #[arg(long, env = "ADDON_OPERATOR_MODULES_DIR", default_value = "modules")]
    pub modules_dir: String,

    /// Global hooks directory; its `openapi/` holds the schemas of the `global` values.
    #[arg(
        long,
        env = "ADDON_OPERATOR_GLOBAL_HOOKS_DIR",
        default_value = "global-hooks"
    )]
    pub global_hooks_dir: PathBuf,

    /// Namespace of the operator: the release namespace of every module.
    #[arg(
        long,
        env = "ADDON_OPERATOR_NAMESPACE",
        default_value = "addon-operator"
    )]
    pub namespace: String,
}

/// Output format of `render`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// YAML documents, each preceded by `# Source: <module>/<template>`.
    Yaml,
    /// One JSON array of objects.
    Json,
}

/// Arguments of `addon-operator render`.
#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Where the modules are.
    #[command(flatten)]
    pub source: SourceArgs,

    /// Render only this module (its name, e.g. `ingress-nginx`, or its values key, e.g. `ingressNginx`).
    #[arg(long)]
    pub module: Option<String>,

    /// Config values as a YAML file shaped like the ConfigMap's decoded data
    /// (`global:`, `<moduleKey>:`, `<moduleKey>Enabled:`).
    #[arg(long, value_name = "FILE")]
    pub config_values: Option<PathBuf>,

    /// Set one config value, e.g. `--set echoServer.replicas=3` or `--set echoServerEnabled=false`;
    /// repeatable, applied after `--config-values`.
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    pub set: Vec<String>,

    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "yaml")]
    pub output: OutputFormat,
}

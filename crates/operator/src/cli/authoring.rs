//! Arguments of the module author's tools: `lint`, `diff`, `hook test`, `hook snapshots` and
//! `version` (their commands live in `lint.rs`, `diff.rs`, `hooktest.rs`, `version.rs`).

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{DebugSocket, SourceArgs, ValuesFormat};

/// Arguments of `addon-operator lint`.
#[derive(Debug, Args)]
pub struct LintArgs {
    /// Where the modules are.
    #[command(flatten)]
    pub source: SourceArgs,

    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: LintFormat,

    /// Seconds a hook may take to print its `--config`.
    #[arg(long, default_value_t = 30.0)]
    pub hook_timeout: f64,
}

/// Output format of `lint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LintFormat {
    /// One line per problem, then a summary.
    Text,
    /// `{"problems": [...], "modules": N, "hooks": N}`.
    Json,
}

/// Arguments of `addon-operator diff`.
#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The module's name (`echo-server`) or values key (`echoServer`).
    pub module: String,

    /// Where the modules are.
    #[command(flatten)]
    pub source: SourceArgs,

    /// Name of the ConfigMap holding config values (used when no running operator answers).
    #[arg(
        long,
        env = "ADDON_OPERATOR_CONFIG_MAP",
        default_value = "addon-operator"
    )]
    pub config_map: String,

    /// kubeconfig file; default: `KUBECONFIG`, else the `dev` running in this directory, else
    /// `~/.kube/config`, then in-cluster config.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// Where to ask the running operator for the module's values.
    #[command(flatten)]
    pub socket: DebugSocket,
}

/// Arguments of `addon-operator hook test`.
#[derive(Debug, Args)]
pub struct HookTestArgs {
    /// The hook: the path of its executable (`modules/020-echo-server/hooks/message.sh`), or its
    /// name as in the logs (`echo-server/hooks/message.sh`, or a file under the global hooks
    /// directory).
    pub hook: String,

    /// The binding context to run with: a JSON or YAML array of contexts (or one context), as
    /// the hook reads it from `$BINDING_CONTEXT_PATH`.
    #[arg(long, value_name = "FILE")]
    pub binding_context: PathBuf,

    /// Values the hook reads from `$VALUES_PATH` (YAML or JSON, `{global: ..., <key>: ...}`);
    /// default: the module's values from its files and schema defaults, with
    /// `--config-values`, as `addon-operator render` computes them.
    #[arg(long, value_name = "FILE")]
    pub values: Option<PathBuf>,

    /// Config values, shaped like the ConfigMap's `data` as for `render --config-values`; the
    /// hook reads its part from `$CONFIG_VALUES_PATH`.
    #[arg(long, value_name = "FILE")]
    pub config_values: Option<PathBuf>,

    /// Seconds the hook may run.
    #[arg(long, default_value_t = 60.0)]
    pub timeout: f64,

    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "yaml")]
    pub output: ValuesFormat,

    /// Where the modules are.
    #[command(flatten)]
    pub source: SourceArgs,
}

/// Arguments of `addon-operator hook snapshots`.
#[derive(Debug, Args)]
pub struct SnapshotsArgs {
    /// The hook's name as in the logs and in `module describe` (`echo-server/hooks/message.sh`,
    /// or a global hook's file name).
    pub hook: String,

    /// Where the operator is.
    #[command(flatten)]
    pub socket: DebugSocket,

    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "yaml")]
    pub output: ValuesFormat,
}

/// Arguments of `addon-operator version`.
#[derive(Debug, Args)]
pub struct VersionArgs {
    /// Output format: text (default), yaml or json.
    #[arg(short = 'o', long = "output", value_enum)]
    pub output: Option<ValuesFormat>,
}

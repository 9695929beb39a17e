//! Command-line interface: one definition per flag, with addon-operator's environment variables.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::logging::LogType;

mod authoring;

pub use authoring::{DiffArgs, HookTestArgs, LintArgs, LintFormat, SnapshotsArgs, VersionArgs};

/// addon-operator: installs and keeps alive a set of addon modules in a Kubernetes cluster.
#[derive(Debug, Parser)]
#[command(
    name = "addon-operator",
    version = env!("ADDON_OPERATOR_BUILD_VERSION"),
    propagate_version = true
)]
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

    /// Log level (debug, info, warn, error), or levels per component such as `info,hooks=debug`.
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
    /// Check modules before they reach a cluster: names, Chart.yaml, schemas, templates
    /// (with defaults and each `examples/*.yaml`), hook configs and `enabled` scripts.
    Lint(LintArgs),
    /// Show what applying a module would change in the cluster now, as a unified diff
    /// (like `kubectl diff`): exit code 0 without differences, 1 with, 2 on error.
    Diff(DiffArgs),
    /// Connect to a cluster and keep the module set converged.
    Run(RunArgs),
    /// Run the operator on an embedded API server: the module author's local loop.
    // `dev` takes `run`'s flags; those that mean nothing without a real cluster are hidden, and
    // the network defaults shown are dev's own (see `dev::local_defaults`).
    #[command(
        mut_arg("kubeconfig", |a| a.hide(true)),
        mut_arg("ha", |a| a.hide(true)),
        mut_arg("pod_name", |a| a.hide(true)),
        mut_arg("lease_duration", |a| a.hide(true)),
        mut_arg("listen_address", |a| a.default_value("127.0.0.1")),
        mut_arg("listen_port", |a| a
            .hide_default_value(true)
            .help("Port of the HTTP endpoint [default: a free one]")),
        mut_arg("tmp_dir", |a| a
            .hide_default_value(true)
            .help("Directory for hook temp files [default: .addon-operator/tmp]")),
        mut_arg("validating_webhook_listen_address", |a| a.default_value("127.0.0.1")),
        mut_arg("conversion_webhook_listen_address", |a| a.default_value("127.0.0.1")),
        mut_arg("validating_webhook_listen_port", |a| a
            .hide_default_value(true)
            .help("Port of the admission webhook HTTPS server [default: a free one]")),
        mut_arg("conversion_webhook_listen_port", |a| a
            .hide_default_value(true)
            .help("Port of the conversion webhook HTTPS server [default: a free one]")),
    )]
    Dev(DevArgs),
    /// Hooks: test one with a recorded binding context, show what its bindings hold, run a
    /// hook built into the binary.
    Hook {
        /// What to do; without it, the built-in hooks are listed.
        #[command(subcommand)]
        command: Option<HookCommand>,
    },
    /// Ask a running operator about its modules.
    Module {
        /// What to ask.
        #[command(subcommand)]
        command: ModuleCommand,
    },
    /// Ask a running operator about its hook queues.
    Queue {
        /// What to ask.
        #[command(subcommand)]
        command: QueueCommand,
    },
    /// Ask a running operator about the global values.
    Global {
        /// What to ask.
        #[command(subcommand)]
        command: GlobalCommand,
    },
    /// Convert a Helm chart (Go templates) into a module (handlebars), all or nothing.
    ConvertChart(ConvertChartArgs),
    /// Ask a running operator about its self-update (docs/self-update.md).
    Update {
        /// What to ask.
        #[command(subcommand)]
        command: UpdateCommand,
    },
    /// Release channels of an image repository, for release teams.
    Channel {
        /// What to do.
        #[command(subcommand)]
        command: ChannelCommand,
    },
    /// Print the least-privilege ClusterRole (and Roles) this module set needs, each rule
    /// commented with who needs it (docs/operations.md).
    Rbac(RbacArgs),
    /// Print the version, git commit, build date and Rust compiler of this binary.
    Version(VersionArgs),
    /// Print a shell completion script: `source <(addon-operator completion bash)`.
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// `addon-operator hook ...`.
#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// Run one hook with a recorded binding context and print its outputs (values patches,
    /// Kubernetes patches, metrics), without a cluster: a unit test for hooks.
    Test(HookTestArgs),
    /// What the Kubernetes bindings of a hook hold now, asked from the running operator.
    Snapshots(SnapshotsArgs),
    /// List the hooks built into the binary.
    List,
    /// Run a hook built into the binary through the hook protocol (what the scripts in
    /// `global-hooks/` call).
    Run {
        /// The built-in hook (`addon-operator hook list`).
        name: String,
        /// Arguments passed to the hook, e.g. `--config`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// `addon-operator hook <name> [--config]`: the older form of `hook run`, kept so that
    /// existing scripts keep working.
    #[command(external_subcommand)]
    Native(Vec<String>),
}

/// `addon-operator update ...`.
#[derive(Debug, Subcommand)]
pub enum UpdateCommand {
    /// Channel, current and available digest and version, next window, wave time, last error.
    Status(ModuleListArgs),
}

/// `addon-operator channel ...`.
#[derive(Debug, Subcommand)]
pub enum ChannelCommand {
    /// The digest and version behind each channel tag.
    List {
        /// The repository.
        #[command(flatten)]
        registry: RegistryArgs,
        /// Output format.
        #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
        output: ListFormat,
    },
    /// Move a channel tag to the digest of another: `--from beta --to stable`.
    Promote {
        /// The repository.
        #[command(flatten)]
        registry: RegistryArgs,
        /// The channel whose digest is promoted.
        #[arg(long, value_parser = parse_channel)]
        from: selfupdate::Channel,
        /// The channel tag that moves.
        #[arg(long, value_parser = parse_channel)]
        to: selfupdate::Channel,
    },
}

fn parse_channel(text: &str) -> Result<selfupdate::Channel, String> {
    text.parse().map_err(|e: selfupdate::SettingsError| {
        e.to_string().replace("global.update.channel: ", "")
    })
}

/// Where a channel command finds the registry.
#[derive(Debug, Clone, Args)]
pub struct RegistryArgs {
    /// Image repository (`registry.example.com/addon-operator`).
    #[arg(long)]
    pub repository: String,

    /// Plain HTTP to the registry.
    #[arg(long)]
    pub insecure: bool,

    /// Docker config with credentials (`auths`); default: `$DOCKER_CONFIG/config.json`, then
    /// `~/.docker/config.json`, if present.
    #[arg(long, value_name = "FILE")]
    pub docker_config: Option<PathBuf>,

    /// User for basic auth (overrides the docker config).
    #[arg(long, env = "REGISTRY_USERNAME")]
    pub username: Option<String>,

    /// Password for basic auth.
    #[arg(long, env = "REGISTRY_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
}

/// Arguments of `addon-operator convert-chart`.
#[derive(Debug, Args)]
pub struct ConvertChartArgs {
    /// The chart directory (with `Chart.yaml`; unpack a `.tgz` first).
    pub chart_dir: PathBuf,

    /// The modules directory to write the module into, as `<NNN>-<name>/` (or `<name>/`).
    #[arg(long, value_name = "MODULE_DIR")]
    pub out: PathBuf,

    /// Module name (kebab-case); default: the chart's name.
    #[arg(long)]
    pub name: Option<String>,

    /// Module order: the `NNN` of the directory name.
    #[arg(long, value_name = "NNN")]
    pub order: Option<u32>,

    /// Write what converts and mark each unconverted place with a handlebars comment.
    #[arg(long)]
    pub allow_partial: bool,
}

/// `addon-operator queue ...`.
#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Tasks waiting in each hook queue.
    List(ModuleListArgs),
}

/// `addon-operator global ...`.
#[derive(Debug, Subcommand)]
pub enum GlobalCommand {
    /// The effective global values, as global hooks see them.
    Values(ValuesArgs),
}

/// Where the debug API (modules, values, queues) of `run`/`dev` listens, as addon-operator's
/// debug socket.
pub const DEBUG_SOCKET: &str = "/var/run/addon-operator/debug.socket";

/// Where `dev`'s debug API listens, relative to its working directory.
pub const DEV_DEBUG_SOCKET: &str = ".addon-operator/debug.socket";

/// The Unix socket of the debug API: where `run` and `dev` serve it, and where the client
/// commands ask.
#[derive(Debug, Clone, Args)]
pub struct DebugSocket {
    /// Unix socket of the debug API (modules, values, queues) [default:
    /// /var/run/addon-operator/debug.socket; for `dev`, and for client commands started where
    /// a `dev` runs: .addon-operator/debug.socket].
    #[arg(
        long = "debug-unix-socket",
        env = "DEBUG_UNIX_SOCKET",
        value_name = "PATH"
    )]
    pub path: Option<PathBuf>,
}

impl DebugSocket {
    /// The socket a server listens on: the flag, else `default`.
    pub fn serve_at(&self, default: &str) -> PathBuf {
        self.path.clone().unwrap_or_else(|| PathBuf::from(default))
    }

    /// The socket a client command asks: the flag, else a `dev` socket in the current
    /// directory if there is one, else the in-cluster default.
    pub fn ask_at(&self) -> PathBuf {
        self.path.clone().unwrap_or_else(|| {
            let dev = PathBuf::from(DEV_DEBUG_SOCKET);
            if dev.exists() {
                dev
            } else {
                PathBuf::from(DEBUG_SOCKET)
            }
        })
    }
}

/// Arguments of `module values` and `global values`.
#[derive(Debug, Args)]
pub struct ValuesArgs {
    /// Where the operator is.
    #[command(flatten)]
    pub socket: DebugSocket,

    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "yaml")]
    pub output: ValuesFormat,
}

/// Output format of `values`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ValuesFormat {
    /// YAML.
    Yaml,
    /// JSON.
    Json,
}

/// `addon-operator module ...`.
#[derive(Debug, Subcommand)]
pub enum ModuleCommand {
    /// One row per module: enabled, state, objects, last error.
    List(ModuleListArgs),
    /// Why a module is enabled or disabled, its state, hooks, objects and last runs.
    Describe {
        /// The module's name or values key.
        name: String,
        /// Where and how.
        #[command(flatten)]
        args: ModuleListArgs,
    },
    /// A module's effective values (`global` plus its own key), as its templates see them.
    Values {
        /// The module's name or values key.
        name: String,
        /// Where and how.
        #[command(flatten)]
        args: ValuesArgs,
    },
}

/// Arguments of `addon-operator module list`.
#[derive(Debug, Args)]
pub struct ModuleListArgs {
    /// Where the operator is.
    #[command(flatten)]
    pub socket: DebugSocket,

    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: ListFormat,
}

/// Output format of `module list` and the other tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// A table.
    Text,
    /// A table with more columns, where there are more to show.
    Wide,
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}

/// Arguments of `addon-operator run` (also used by `dev`).
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Where the modules are.
    #[command(flatten)]
    pub source: SourceArgs,

    /// Name of the ConfigMap holding config values and enabled flags.
    #[arg(
        long,
        env = "ADDON_OPERATOR_CONFIG_MAP",
        default_value = "addon-operator"
    )]
    pub config_map: String,

    /// kubeconfig file; default: `KUBECONFIG`, `~/.kube/config`, then in-cluster config.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// Where the debug API is served.
    #[command(flatten)]
    pub debug_socket: DebugSocket,

    /// Address of the network HTTP endpoint (/metrics, /healthz, /readyz only).
    #[arg(long, env = "ADDON_OPERATOR_LISTEN_ADDRESS", default_value = "0.0.0.0")]
    pub listen_address: String,

    /// Port of the HTTP endpoint (0 picks a free one).
    #[arg(long, env = "ADDON_OPERATOR_LISTEN_PORT", default_value_t = 9650)]
    pub listen_port: u16,

    /// Leader election on the `addon-operator-leader-election` Lease: only the leader converges.
    #[arg(long, env = "ADDON_OPERATOR_HA")]
    pub ha: bool,

    /// Identity in the Lease (the pod name); default: hostname and process id.
    #[arg(long, env = "ADDON_OPERATOR_POD")]
    pub pod_name: Option<String>,

    /// Seconds a Lease stays valid without renewal (renewal every duration/3.5).
    #[arg(long, env = "ADDON_OPERATOR_LEASE_DURATION", default_value_t = 35.0)]
    pub lease_duration: f64,

    /// Seconds between the cheap API requests (a read of the operator namespace) that keep
    /// `/readyz` current while the operator has nothing else to ask the API server.
    #[arg(long, env = "ADDON_OPERATOR_API_PROBE_INTERVAL", default_value_t = 5.0)]
    pub api_probe_interval: f64,

    /// Directory for hook temp files.
    #[arg(
        long,
        env = "ADDON_OPERATOR_TMP_DIR",
        default_value = "/tmp/addon-operator"
    )]
    pub tmp_dir: PathBuf,

    /// Seconds a hook may run before its process group is killed.
    #[arg(long, env = "ADDON_OPERATOR_HOOK_TIMEOUT", default_value_t = 600.0)]
    pub hook_timeout: f64,

    /// First retry delay, in seconds, of a failed hook task (doubles up to 30 s).
    #[arg(long, env = "ADDON_OPERATOR_HOOK_RETRY_DELAY", default_value_t = 5.0)]
    pub hook_retry_delay: f64,

    /// First retry delay, in seconds, of a failed module run (doubles up to 30 s).
    #[arg(long, env = "ADDON_OPERATOR_MODULE_RETRY_DELAY", default_value_t = 5.0)]
    pub module_retry_delay: f64,

    /// Re-render a module when its files change on disk (on by default in `dev`).
    #[arg(long, env = "ADDON_OPERATOR_WATCH_FILES")]
    pub watch_files: bool,

    /// The operator's own Deployment (in the operator namespace), which the `self-update`
    /// global hook rolls to the digest of its release channel.
    #[arg(
        long,
        env = "ADDON_OPERATOR_DEPLOYMENT",
        default_value = "addon-operator"
    )]
    pub deployment: String,
    /// Admission and conversion webhooks.
    #[command(flatten)]
    pub webhooks: crate::webhook_flags::WebhookArgs,
}

/// Arguments of `addon-operator dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// The same options as `run`.
    #[command(flatten)]
    pub run: RunArgs,

    /// Where the embedded API server keeps its objects across restarts.
    #[arg(long, value_name = "FILE", default_value = ".addon-operator/dev-state")]
    pub state: PathBuf,

    /// Where to write the kubeconfig of the embedded API server.
    #[arg(
        long,
        value_name = "FILE",
        default_value = ".addon-operator/kubeconfig"
    )]
    pub kubeconfig_out: PathBuf,

    /// Port of the embedded API server (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub api_port: u16,

    /// Converge once, print a summary table and exit.
    #[arg(long)]
    pub once: bool,
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

    /// Config values as a YAML file shaped like the ConfigMap's `data` (`global:`,
    /// `<moduleKey>:` holding YAML strings, `<moduleKey>Enabled: "false"`), or with the sections
    /// as nested maps and flags as booleans; a whole ConfigMap manifest works too.
    #[arg(long, value_name = "FILE")]
    pub config_values: Option<PathBuf>,

    /// Print only the objects rendered from this template, named as in the `# Source:` lines,
    /// e.g. `echo-server/templates/deployment.yaml` (`*` and `?` match within one path
    /// segment); repeatable.
    #[arg(short = 's', long = "show-only", value_name = "TEMPLATE")]
    pub show_only: Vec<String>,

    /// Set one config value, e.g. `--set echoServer.replicas=3` or `--set echoServerEnabled=false`;
    /// repeatable, applied after `--config-values`.
    #[arg(long = "set", value_name = "KEY.PATH=VALUE")]
    pub set: Vec<String>,

    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "yaml")]
    pub output: OutputFormat,
}

/// Arguments of `addon-operator rbac`.
#[derive(Debug, Args)]
pub struct RbacArgs {
    /// Where the modules and global hooks are, and the operator namespace.
    #[command(flatten)]
    pub source: SourceArgs,

    /// Name of the ClusterRole, the Roles and their bindings.
    #[arg(long, default_value = "addon-operator")]
    pub name: String,

    /// The operator's ServiceAccount (in the operator namespace), the bindings' subject.
    #[arg(long, default_value = "addon-operator")]
    pub service_account: String,

    /// Name of the operator's ConfigMap.
    #[arg(
        long,
        env = "ADDON_OPERATOR_CONFIG_MAP",
        default_value = "addon-operator"
    )]
    pub config_map: String,

    /// The operator's own Deployment, which the `self-update` global hook patches.
    #[arg(
        long,
        env = "ADDON_OPERATOR_DEPLOYMENT",
        default_value = "addon-operator"
    )]
    pub deployment: String,

    /// Webhook names (used when a hook declares a webhook).
    #[command(flatten)]
    pub webhooks: crate::webhook_flags::WebhookArgs,
}

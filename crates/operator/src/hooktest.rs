//! `addon-operator hook test` and `hook snapshots`: a hook author's two questions, "what does my
//! hook do with this input?" (offline, through the hook protocol, nothing applied) and "what do
//! its bindings hold now?" (from the running operator's debug socket).

use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use hooks::{HookScope, OutputPaths};
use serde_json::{Map, Value, json};
use values::ConfigValues;

use crate::cli::{HookTestArgs, SnapshotsArgs, ValuesFormat};
use crate::moduleset::LoadedModules;

/// `hook snapshots`: prints the snapshots of every kubernetes binding of the hook.
pub async fn snapshots(args: &SnapshotsArgs) -> anyhow::Result<()> {
    let path = format!("/hooks/snapshots?hook={}", query_escape(&args.hook));
    let snapshots: Value = crate::modulelist::ask(&args.socket, &path).await?;
    print(&snapshots, args.output)
}

/// A hook resolved from the command line.
struct Target {
    /// The executable.
    path: PathBuf,
    /// Its name as the engine gives it.
    name: String,
    scope: HookScope,
    /// The module's values key, for a module hook.
    key: Option<String>,
}

/// `hook test`: runs the hook once and prints what it wrote. Exit code 1 when the hook fails or
/// writes an output the operator would reject.
pub async fn test(args: HookTestArgs) -> anyhow::Result<ExitCode> {
    let mut loaded = LoadedModules::load(&args.source);
    if let (Ok(modules), Some(file)) = (&mut loaded, &args.config_values) {
        let known = modules.store.known_keys();
        let reader = std::fs::File::open(file)
            .with_context(|| format!("cannot open --config-values {}", file.display()))?;
        let config = ConfigValues::from_yaml_reader(std::io::BufReader::new(reader), known)
            .with_context(|| format!("invalid --config-values {}", file.display()))?;
        modules
            .store
            .apply_config(config)
            .with_context(|| format!("invalid --config-values {}", file.display()))?;
    }
    let mut target = resolve(&args, loaded.as_ref().ok())?;
    // Hooks run in their own directory: start them by absolute path.
    target.path = std::path::absolute(&target.path)
        .with_context(|| format!("resolving {}", target.path.display()))?;
    let timeout = Duration::from_secs_f64(args.timeout.max(0.0));
    let config = hooks::load_config(&target.path, &target.name, target.scope, timeout, &[]).await?;
    let contexts = read_binding_context(&args.binding_context)?;
    check_bindings(&contexts, &config, &target.name);
    if args.values.is_none() && target.scope == HookScope::Module && target.key.is_none() {
        bail!(
            "hook {} is not in a module of --modules-dir {}: give its values with --values FILE \
             (or --modules-dir the modules directory that holds it)",
            target.name,
            args.source.modules_dir
        );
    }
    let (values, config_values) = match (&args.values, &loaded) {
        (Some(file), _) => (read_document(file, "--values")?, json!({})),
        (None, Ok(modules)) => inputs_from_modules(modules, target.key.as_deref())?,
        (None, Err(err)) => bail!(
            "cannot compute the hook's values from the module set (pass --values FILE): {err:#}"
        ),
    };
    let config_values = match (&args.config_values, &loaded) {
        (Some(file), Err(_)) => read_document(file, "--config-values")?,
        _ => config_values,
    };
    let dir = tempfile::Builder::new()
        .prefix("hook-test-")
        .tempdir()
        .context("creating a temp directory for the hook's files")?;
    let files = Files::new(dir.path());
    files.write_inputs(&contexts, &values, &config_values)?;
    let status = run_hook(&target, &files, &args.source.namespace, timeout).await?;
    if !status.success() {
        eprintln!(
            "error: hook {} failed: {status}; the operator would retry it and apply none of its outputs",
            target.name
        );
        return Ok(ExitCode::FAILURE);
    }
    hooks::read_outputs(&files.outputs, &target.name)
        .context("the operator would reject this run")?;
    let report = files.report(&values)?;
    print(&report, args.output)?;
    Ok(ExitCode::SUCCESS)
}

/// Finds the executable: a path, `<module>/hooks/<file>` or a file of the global hooks dir.
fn resolve(args: &HookTestArgs, loaded: Option<&LoadedModules>) -> anyhow::Result<Target> {
    let given = Path::new(&args.hook);
    let global_dir = &args.source.global_hooks_dir;
    let modules = loaded.map(|l| l.set.modules()).unwrap_or_default();
    if given.is_file() {
        let path = given.to_path_buf();
        let absolute = std::path::absolute(&path).unwrap_or_else(|_| path.clone());
        for module in modules {
            let dir = std::path::absolute(&module.path).unwrap_or_else(|_| module.path.clone());
            if let Ok(rel) = absolute.strip_prefix(&dir) {
                return Ok(Target {
                    name: format!("{}/{}", module.name, rel.display()),
                    path,
                    scope: HookScope::Module,
                    key: Some(module.key.clone()),
                });
            }
        }
        let global = std::path::absolute(global_dir).unwrap_or_else(|_| global_dir.clone());
        let (name, scope) = match absolute.strip_prefix(&global) {
            Ok(rel) => (rel.display().to_string(), HookScope::Global),
            // Outside the module set: checked as a module hook, its values come from --values.
            Err(_) => (args.hook.clone(), HookScope::Module),
        };
        return Ok(Target {
            path,
            name,
            scope,
            key: None,
        });
    }
    if let Some((module_name, rest)) = args.hook.split_once('/')
        && let Some(module) = modules.iter().find(|m| m.name == module_name)
        && module.path.join(rest).is_file()
    {
        return Ok(Target {
            path: module.path.join(rest),
            name: args.hook.clone(),
            scope: HookScope::Module,
            key: Some(module.key.clone()),
        });
    }
    if global_dir.join(given).is_file() {
        return Ok(Target {
            path: global_dir.join(given),
            name: args.hook.clone(),
            scope: HookScope::Global,
            key: None,
        });
    }
    bail!(
        "no hook {:?}: give the path of its executable (e.g. modules/020-echo-server/hooks/x.sh) \
         or its name as in the logs (<module>/hooks/<file>, or a file under {})",
        args.hook,
        global_dir.display()
    )
}

/// The binding-context file as a JSON array (a single context is wrapped in one).
fn read_binding_context(file: &Path) -> anyhow::Result<Value> {
    match read_document(file, "--binding-context")? {
        Value::Array(contexts) => Ok(Value::Array(contexts)),
        Value::Object(context) => Ok(Value::Array(vec![Value::Object(context)])),
        _ => bail!(
            "--binding-context {}: expected a list of binding contexts (e.g. \
             [{{\"binding\": \"main\", \"type\": \"Synchronization\", \"objects\": []}}])",
            file.display()
        ),
    }
}

/// Warns about binding names the hook does not declare: such a context never reaches it.
fn check_bindings(contexts: &Value, config: &hooks::HookConfig, hook: &str) {
    let mut declared: Vec<&str> = config.kubernetes.iter().map(|k| k.name.as_str()).collect();
    declared.extend(config.schedules.iter().map(|s| s.name.as_str()));
    declared.extend(config.orders.keys().map(|o| o.as_str()));
    declared.extend(config.admission().map(|a| a.name.as_str()));
    declared.extend(config.conversions.iter().map(|c| c.name.as_str()));
    for context in contexts.as_array().into_iter().flatten() {
        let binding = context.get("binding").and_then(Value::as_str);
        if let Some(binding) = binding.filter(|b| !declared.contains(b)) {
            tracing::warn!(
                hook,
                binding,
                declared = %declared.join(", "),
                "the binding context names a binding the hook does not declare"
            );
        }
    }
}

/// A YAML or JSON file (YAML is a superset; read the way kubectl reads YAML).
fn read_document(file: &Path, flag: &str) -> anyhow::Result<Value> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read {flag} {}", file.display()))?;
    yaml_json::parse_one(&text).with_context(|| format!("invalid {flag} {}", file.display()))
}

/// Values and config values as the operator hands them to the hook: a module hook sees
/// `global` and its module's key, a global hook `global`.
fn inputs_from_modules(
    modules: &LoadedModules,
    key: Option<&str>,
) -> anyhow::Result<(Value, Value)> {
    let store = &modules.store;
    Ok(match key {
        Some(key) => (
            store.module_values(key).context("the module's values")?,
            store
                .module_config_values(key)
                .context("the module's config values")?,
        ),
        None => (store.global_values(), store.global_config_values()),
    })
}

/// The files of one test run, named as the hook protocol names them.
struct Files {
    binding_context: PathBuf,
    values: PathBuf,
    config_values: PathBuf,
    outputs: OutputPaths,
    admission: PathBuf,
    conversion: PathBuf,
}

impl Files {
    fn new(dir: &Path) -> Files {
        Files {
            binding_context: dir.join("binding_context.json"),
            values: dir.join("values.json"),
            config_values: dir.join("config_values.json"),
            outputs: OutputPaths {
                values_patch: dir.join("values_json_patch.json"),
                config_values_patch: dir.join("config_values_json_patch.json"),
                kubernetes_patch: dir.join("kubernetes_patch.json"),
                metrics: dir.join("metrics.json"),
            },
            admission: dir.join("admission_response.json"),
            conversion: dir.join("conversion_response.json"),
        }
    }

    fn write_inputs(
        &self,
        contexts: &Value,
        values: &Value,
        config_values: &Value,
    ) -> anyhow::Result<()> {
        let outputs = &self.outputs;
        for (path, content) in [
            (&self.binding_context, contexts.to_string()),
            (&self.values, values.to_string()),
            (&self.config_values, config_values.to_string()),
            (&outputs.values_patch, String::new()),
            (&outputs.config_values_patch, String::new()),
            (&outputs.kubernetes_patch, String::new()),
            (&outputs.metrics, String::new()),
            (&self.admission, String::new()),
            (&self.conversion, String::new()),
        ] {
            std::fs::write(path, content).with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
    }

    /// The protocol's environment variables, each naming one of the files.
    fn env(&self) -> Vec<(&'static str, &Path)> {
        vec![
            ("BINDING_CONTEXT_PATH", &self.binding_context),
            ("VALUES_PATH", &self.values),
            ("CONFIG_VALUES_PATH", &self.config_values),
            ("VALUES_JSON_PATCH_PATH", &self.outputs.values_patch),
            (
                "CONFIG_VALUES_JSON_PATCH_PATH",
                &self.outputs.config_values_patch,
            ),
            ("KUBERNETES_PATCH_PATH", &self.outputs.kubernetes_patch),
            ("METRICS_PATH", &self.outputs.metrics),
            ("VALIDATING_RESPONSE_PATH", &self.admission),
            ("ADMISSION_RESPONSE_PATH", &self.admission),
            ("CONVERSION_RESPONSE_PATH", &self.conversion),
        ]
    }

    /// What the hook wrote, as written (after the operator's validation passed), and the
    /// values after its values patch.
    fn report(&self, values: &Value) -> anyhow::Result<Value> {
        let values_patch = documents(&self.outputs.values_patch)?;
        let mut after = values.clone();
        let patch: json_patch::Patch = serde_json::from_value(Value::Array(values_patch.clone()))
            .context("the values patch")?;
        let applied = json_patch::patch(&mut after, &patch);
        let mut report = Map::new();
        report.insert("valuesPatch".into(), Value::Array(values_patch));
        report.insert(
            "configValuesPatch".into(),
            Value::Array(documents(&self.outputs.config_values_patch)?),
        );
        report.insert(
            "kubernetesPatches".into(),
            Value::Array(documents(&self.outputs.kubernetes_patch)?),
        );
        report.insert(
            "metrics".into(),
            Value::Array(documents(&self.outputs.metrics)?),
        );
        for (key, path) in [
            ("validatingResponse", &self.admission),
            ("conversionResponse", &self.conversion),
        ] {
            if let Some(response) = documents(path)?.into_iter().next() {
                report.insert(key.into(), response);
            }
        }
        match applied {
            Ok(()) => report.insert("values".into(), after),
            Err(err) => report.insert(
                "values".into(),
                json!(format!(
                    "the values patch does not apply to --values: {err}"
                )),
            ),
        };
        Ok(Value::Object(report))
    }
}

/// Every document of an output file, as the operator reads it.
fn documents(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    hooks::parse_documents(&text).with_context(|| format!("{}", path.display()))
}

/// Runs the hook in its own directory with the protocol's files; its stdout and stderr go to
/// stderr, so stdout holds only the report.
async fn run_hook(
    target: &Target,
    files: &Files,
    namespace: &str,
    timeout: Duration,
) -> anyhow::Result<std::process::ExitStatus> {
    let path = &target.path;
    let mut command = tokio::process::Command::new(path);
    command
        .current_dir(path.parent().unwrap_or(Path::new(".")))
        .envs(files.env())
        .env("ADDON_OPERATOR_NAMESPACE", namespace)
        .stdin(Stdio::null())
        .stdout(Stdio::from(
            std::io::stderr()
                .as_fd()
                .try_clone_to_owned()
                .context("duplicating stderr for the hook")?,
        ))
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start hook {}", path.display()))?;
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => status.with_context(|| format!("waiting for hook {}", target.name)),
        Err(_) => {
            let _ = child.kill().await;
            bail!(
                "hook {} ran over {timeout:?} (--timeout) and was killed",
                target.name
            )
        }
    }
}

/// Prints `value` as YAML (the way kubectl reads it) or JSON.
fn print(value: &Value, format: ValuesFormat) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        ValuesFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(value)?)?,
        ValuesFormat::Yaml => write!(out, "{}", yaml_json::to_string(value)?)?,
    }
    Ok(())
}

/// Percent-encodes a query value (hook names hold `/` and may hold spaces).
fn query_escape(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(byte as char);
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

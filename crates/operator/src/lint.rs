//! `addon-operator lint`: everything that can be checked about a module set without a cluster,
//! all problems at once, like `helm lint`: module names and files (discovery), `Chart.yaml`,
//! static values and OpenAPI schemas, templates rendered with the defaults and with each
//! `examples/*.yaml` config-values file a module ships, every hook's `--config`, and `enabled`
//! scripts that can be run.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use charts::{ChartRenderer, Module, ModuleSet};
use serde::Serialize;
use values::{ConfigValues, ValuesStore};

use crate::cli::{LintArgs, LintFormat};
use crate::errors::chain;

/// How bad a problem is: errors fail the lint (exit code 1), warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The operator would refuse or fail on it.
    Error,
    /// The operator works, but probably not as meant.
    Warning,
}

/// One problem found.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// Error or warning.
    pub severity: Severity,
    /// The module's name, `global` for global hooks, `modules` for the module set as a whole.
    pub module: String,
    /// What was checked: `discovery`, `Chart.yaml`, `values`, `templates`, `render`,
    /// `render examples/<file>`, `hook`, `enabled`.
    pub check: String,
    /// What is wrong, naming the file and position.
    pub message: String,
}

/// The whole lint result.
#[derive(Debug, Default, Serialize)]
struct Report {
    problems: Vec<Problem>,
    /// Modules found.
    modules: usize,
    /// Hooks whose `--config` was checked.
    hooks: usize,
}

impl Report {
    fn error(&mut self, module: &str, check: &str, message: impl Into<String>) {
        self.push(Severity::Error, module, check, message.into());
    }

    fn warning(&mut self, module: &str, check: &str, message: impl Into<String>) {
        self.push(Severity::Warning, module, check, message.into());
    }

    fn push(&mut self, severity: Severity, module: &str, check: &str, message: String) {
        self.problems.push(Problem {
            severity,
            module: module.to_string(),
            check: check.to_string(),
            message,
        });
    }

    fn errors(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
            .count()
    }
}

/// The `module` of problems that concern the module set as a whole.
const SET: &str = "modules";

/// Runs the command: exit code 0 without errors, 1 with (warnings alone pass).
pub fn run(args: &LintArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let report = runtime.block_on(lint(args));
    print(&report, args.output)?;
    Ok(if report.errors() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn lint(args: &LintArgs) -> Report {
    let mut report = Report::default();
    let timeout = Duration::from_secs_f64(args.hook_timeout.max(0.0));
    let global_hooks = &args.source.global_hooks_dir;
    lint_hooks(&mut report, None, global_hooks, timeout).await;
    let dirs = charts::parse_modules_dirs(&args.source.modules_dir);
    if dirs.is_empty() {
        report.error(
            SET,
            "discovery",
            "no modules directory given (--modules-dir / ADDON_OPERATOR_MODULES_DIR is empty)",
        );
        return report;
    }
    let set = match charts::discover(&dirs) {
        Ok(set) => set,
        Err(err) => {
            for problem in &err.problems {
                report.error(SET, "discovery", chain(problem));
            }
            return report;
        }
    };
    report.modules = set.modules().len();
    let mut renderers = Vec::new();
    for module in set.modules() {
        lint_chart(&mut report, module);
        lint_enabled_script(&mut report, module);
        if let Some(dir) = &module.hooks_dir {
            lint_hooks(&mut report, Some(&module.name), dir, timeout).await;
        }
        match ChartRenderer::new(module) {
            Ok(renderer) => renderers.push((module, renderer)),
            Err(err) => {
                for problem in &err.errors {
                    report.error(&module.name, "templates", problem.to_string());
                }
            }
        }
    }
    match crate::moduleset::values_store(&set, global_hooks) {
        Ok(mut store) => {
            let namespace = &args.source.namespace;
            lint_renders(&mut report, &set, &mut store, &renderers, namespace);
        }
        Err(err) => match err.downcast_ref::<values::Errors>() {
            Some(errors) => {
                for problem in &errors.0 {
                    report.error(SET, "values", chain(problem));
                }
            }
            None => report.error(SET, "values", crate::errors::chain_anyhow(&err)),
        },
    }
    report
}

/// `Chart.yaml` is optional; when present its `name` is the module's and its `version` SemVer.
fn lint_chart(report: &mut Report, module: &Module) {
    let raw = &module.chart_raw;
    if raw.is_null() {
        return;
    }
    let file = module.path.join("Chart.yaml");
    let name = module.name.as_str();
    if let Some(chart_name) = raw.get("name").and_then(|n| n.as_str())
        && chart_name != module.name
    {
        report.error(
            name,
            "Chart.yaml",
            format!(
                "{}: name {chart_name:?} differs from the module's name {:?} (the directory \
                 name decides; write `name: {}`)",
                file.display(),
                module.name,
                module.name
            ),
        );
    }
    match raw.get("version") {
        None => {}
        Some(serde_json::Value::String(version)) if semver::Version::parse(version).is_ok() => {}
        Some(version) => report.error(
            name,
            "Chart.yaml",
            format!(
                "{}: version {version} is not a SemVer version (expected e.g. \"0.1.0\" or \
                 \"1.2.3-rc.1\")",
                file.display()
            ),
        ),
    }
}

/// An `enabled` script must be executable, else the operator cannot decide about the module.
fn lint_enabled_script(report: &mut Report, module: &Module) {
    let Some(script) = &module.enabled_script else {
        return;
    };
    let executable = std::fs::metadata(script).is_ok_and(|m| m.permissions().mode() & 0o111 != 0);
    if !executable {
        report.error(
            &module.name,
            "enabled",
            format!(
                "{}: not executable, so the operator cannot run it (chmod +x {})",
                script.display(),
                script.display()
            ),
        );
    }
}

/// Every hook's `--config` under `dir`, and files there the operator would skip.
async fn lint_hooks(report: &mut Report, module: Option<&str>, dir: &Path, timeout: Duration) {
    if !dir.is_dir() {
        return;
    }
    let scope_name = module.unwrap_or("global");
    // Hooks run in their own directory: start them by absolute path, name them by the given one.
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    for file in skipped_files(dir, module.is_none()) {
        report.warning(
            scope_name,
            "hook",
            format!(
                "{}: not executable, so it is not a hook (chmod +x it, or move helpers into a \
                 lib/ directory)",
                file.display()
            ),
        );
    }
    let files = match hooks::find_hook_files(&absolute) {
        Ok(files) => files,
        Err(err) => {
            report.error(scope_name, "hook", chain(&err));
            return;
        }
    };
    let (scope, base) = match module {
        Some(_) => (
            hooks::HookScope::Module,
            absolute.parent().unwrap_or(&absolute),
        ),
        None => (hooks::HookScope::Global, absolute.as_path()),
    };
    let checks = files.iter().map(|path| {
        let rel = path
            .strip_prefix(base)
            .unwrap_or(path)
            .display()
            .to_string();
        let name = match module {
            Some(m) => format!("{m}/{rel}"),
            None => rel,
        };
        async move { hooks::load_config(path, &name, scope, timeout, &[]).await }
    });
    for result in futures::future::join_all(checks).await {
        report.hooks += 1;
        match result {
            Ok(_) => {}
            // One problem per field, each naming the hook.
            Err(hooks::DiscoveryError::Config(hooks::ConfigError::Invalid { hook, errors })) => {
                for field in errors {
                    report.error(scope_name, "hook", format!("hook {hook}: {field}"));
                }
            }
            Err(err) => report.error(scope_name, "hook", chain(&err)),
        }
    }
}

/// Non-executable files of a hooks directory outside `lib/` (and, for the global hooks,
/// `openapi/`) and hidden entries: discovery skips them, which is rarely meant.
fn skipped_files(dir: &Path, global: bool) -> Vec<PathBuf> {
    let top = dir.to_path_buf();
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let data_dir = global && dir == top && name == "openapi";
            if name.starts_with('.') || (meta.is_dir() && (name == "lib" || data_dir)) {
                continue;
            }
            if meta.is_dir() {
                stack.push(path);
            } else if meta.permissions().mode() & 0o111 == 0 {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// Renders every module (enabled or not) with its defaults, then with each of its
/// `examples/*.yaml` config-values files.
fn lint_renders(
    report: &mut Report,
    set: &ModuleSet,
    store: &mut ValuesStore,
    renderers: &[(&Module, ChartRenderer)],
    namespace: &str,
) {
    let scopes = crate::moduleset::resource_scopes(set);
    store.set_enabled_modules(Some(set.modules().iter().map(|m| m.name.clone()).collect()));
    let known = store.known_keys().clone();
    for (module, renderer) in renderers {
        let name = module.name.as_str();
        let render = |report: &mut Report, store: &ValuesStore, check: &str| {
            if let Err(err) = store.validate_for_render(&module.key) {
                for problem in &err.0 {
                    report.error(name, check, chain(problem));
                }
                return;
            }
            let rendered = store
                .module_values(&module.key)
                .map_err(|e| vec![chain(&e)])
                .and_then(|values| {
                    renderer
                        .render(&values, namespace, &scopes)
                        .map_err(|e| e.errors.iter().map(ToString::to_string).collect())
                });
            if let Err(problems) = rendered {
                for problem in problems {
                    report.error(name, check, problem);
                }
            }
        };
        render(report, store, "render");
        for example in examples(&module.path) {
            let check = format!(
                "render {}",
                example
                    .strip_prefix(&module.path)
                    .unwrap_or(&example)
                    .display()
            );
            // One problem per values error, each naming the example file.
            let per_error = |errors: values::Errors| -> Vec<String> {
                let at = example.display();
                errors
                    .0
                    .iter()
                    .map(|e| format!("{at}: {}", chain(e)))
                    .collect()
            };
            let applied = std::fs::File::open(&example)
                .map_err(|e| vec![format!("{}: {e}", example.display())])
                .and_then(|file| {
                    ConfigValues::from_yaml_reader(std::io::BufReader::new(file), &known)
                        .map_err(per_error)
                })
                .and_then(|config| store.apply_config(config).map_err(per_error));
            match applied {
                Ok(_) => render(report, store, &check),
                Err(messages) => {
                    for message in messages {
                        report.error(name, &check, message);
                    }
                }
            }
            // Back to the defaults for the next file; an empty config always applies.
            let _ = store.apply_config(ConfigValues::default());
        }
    }
}

/// `examples/*.yaml` (and `*.yml`) of a module, sorted.
fn examples(module_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(module_dir.join("examples")) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.extension()
                    .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    files.sort();
    files
}

fn print(report: &Report, format: LintFormat) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if format == LintFormat::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(report)?)?;
        return Ok(());
    }
    for p in &report.problems {
        let severity = match p.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(out, "{severity}: {}: {}: {}", p.module, p.check, p.message)?;
    }
    let errors = report.errors();
    let warnings = report.problems.len() - errors;
    let summary = if report.problems.is_empty() {
        "no problems".to_string()
    } else {
        format!("{errors} error(s), {warnings} warning(s)")
    };
    writeln!(
        out,
        "{} module(s), {} hook(s) checked: {summary}",
        report.modules, report.hooks
    )?;
    Ok(())
}

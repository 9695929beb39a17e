//! `addon-operator render`: renders the enabled modules offline, like `helm template`.

use std::fs::File;
use std::io::{BufReader, Write};

use anyhow::{Context, bail};
use serde_json::Value;
use values::ConfigValues;

use crate::cli::{OutputFormat, RenderArgs};
use crate::moduleset::LoadedModules;

/// One rendered object and where it came from (`<module>/templates/<file>`).
pub struct SourcedObject {
    /// `<module>/templates/<file>` or `<module>/crds/<file>`.
    pub source: String,
    /// The object.
    pub object: Value,
}

/// Runs the command: prints every enabled module's objects (or one module's) in apply order.
pub fn run(args: &RenderArgs) -> anyhow::Result<()> {
    let mut loaded = LoadedModules::load(&args.source)?;
    let config = config_values(args, &loaded)?;
    loaded
        .store
        .apply_config(config)
        .context("invalid config values")?;
    let enabled = enabled_modules(&loaded);
    loaded.store.set_enabled_modules(Some(enabled.clone()));
    let selected = select_modules(args, &loaded, &enabled)?;
    for module in loaded
        .set
        .modules
        .iter()
        .filter(|m| selected.contains(&m.name))
    {
        if module.enabled_script.is_some() {
            tracing::warn!(
                module = %module.name,
                "render runs no hooks and no enabled script; the module is rendered as its flags say \
                 (disable it with --set {}Enabled=false)",
                module.key
            );
        }
    }
    let objects = render_modules(&loaded, &selected, &args.source.namespace)?;
    let mut out = std::io::stdout().lock();
    write_objects(&mut out, &objects, args.output)?;
    out.flush().context("writing to stdout")
}

/// Config values from `--config-values` then `--set`, exactly as the ConfigMap would give them.
fn config_values(args: &RenderArgs, loaded: &LoadedModules) -> anyhow::Result<ConfigValues> {
    let known = loaded.store.known_keys();
    let mut config = match &args.config_values {
        Some(path) => {
            let file = File::open(path)
                .with_context(|| format!("cannot open --config-values {}", path.display()))?;
            ConfigValues::from_yaml_reader(BufReader::new(file), &known)
                .with_context(|| format!("invalid --config-values {}", path.display()))?
        }
        None => ConfigValues::default(),
    };
    config
        .apply_set_args(&args.set, &known)
        .context("invalid --set")?;
    Ok(config)
}

/// Names of the enabled modules, in module order.
pub fn enabled_modules(loaded: &LoadedModules) -> Vec<String> {
    loaded
        .store
        .enabled_states()
        .into_iter()
        .filter(|(_, state)| state.enabled)
        .filter_map(|(key, _)| loaded.set.by_key(&key).map(|m| m.name.clone()))
        .collect()
}

/// The modules to print: every enabled one, or the one `--module` names (which must be enabled).
fn select_modules(
    args: &RenderArgs,
    loaded: &LoadedModules,
    enabled: &[String],
) -> anyhow::Result<Vec<String>> {
    let Some(wanted) = &args.module else {
        return Ok(enabled.to_vec());
    };
    let Some(module) = loaded.find(wanted) else {
        let names: Vec<&str> = loaded.set.modules.iter().map(|m| m.name.as_str()).collect();
        bail!(
            "module {wanted:?} not found (modules: {})",
            names.join(", ")
        );
    };
    if !enabled.contains(&module.name) {
        bail!(
            "module {} is disabled; enable it with --set {}Enabled=true",
            module.name,
            module.key
        );
    }
    Ok(vec![module.name.clone()])
}

/// Renders `names` in module order: each module's CRDs, then its templates in apply order.
/// Every module's errors are collected before failing.
pub fn render_modules(
    loaded: &LoadedModules,
    names: &[String],
    namespace: &str,
) -> anyhow::Result<Vec<SourcedObject>> {
    let mut all = Vec::new();
    let mut problems = Vec::new();
    for module in loaded
        .set
        .modules
        .iter()
        .filter(|m| names.contains(&m.name))
    {
        match render_module(loaded, &module.key, namespace) {
            Ok(objects) => all.extend(objects),
            Err(err) => problems.push(format!("{err:#}")),
        }
    }
    if !problems.is_empty() {
        bail!("render failed:\n{}", problems.join("\n"));
    }
    Ok(all)
}

/// One module's CRDs and objects, in apply order.
pub fn render_module(
    loaded: &LoadedModules,
    key: &str,
    namespace: &str,
) -> anyhow::Result<Vec<SourcedObject>> {
    let module = loaded
        .set
        .by_key(key)
        .with_context(|| format!("unknown module key {key}"))?;
    let renderer = loaded
        .renderers
        .get(key)
        .with_context(|| format!("module {}: no compiled chart", module.name))?;
    loaded
        .store
        .validate_for_render(key)
        .with_context(|| format!("module {}: values are not ready for render", module.name))?;
    let values = loaded
        .store
        .module_values(key)
        .with_context(|| format!("module {}", module.name))?;
    let rendered = renderer
        .render(&values, namespace, &loaded.scopes)
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    let mut objects: Vec<SourcedObject> = module
        .crds
        .iter()
        .chain(rendered.iter())
        .map(|o| SourcedObject {
            source: o.source.clone(),
            object: o.object.clone(),
        })
        .collect();
    objects.sort_by_key(|o| reconciler::object_rank(&o.object));
    Ok(objects)
}

/// Writes objects as `# Source:`-annotated YAML documents or as one JSON array.
fn write_objects(
    out: &mut impl Write,
    objects: &[SourcedObject],
    format: OutputFormat,
) -> anyhow::Result<()> {
    match format {
        OutputFormat::Json => {
            let array: Vec<&Value> = objects.iter().map(|o| &o.object).collect();
            serde_json::to_writer_pretty(&mut *out, &array).context("writing JSON")?;
            writeln!(out).context("writing to stdout")?;
        }
        OutputFormat::Yaml => {
            for object in objects {
                let yaml = serde_yaml::to_string(&object.object)
                    .with_context(|| format!("{}: cannot print as YAML", object.source))?;
                write!(out, "---\n# Source: {}\n{yaml}", object.source)
                    .context("writing to stdout")?;
            }
        }
    }
    Ok(())
}

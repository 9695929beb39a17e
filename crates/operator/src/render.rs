//! `addon-operator render`: renders the enabled modules offline, like `helm template`, and
//! prints them as the operator would apply them: YAML goes through `yaml_json`, which quotes
//! every string a YAML 1.1 reader such as kubectl would take for a boolean, number or null.

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
    for module in modules_named(&loaded, &selected) {
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
    let objects = show_only(objects, &args.show_only, &loaded, &selected)?;
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
            ConfigValues::from_yaml_reader(BufReader::new(file), known)
                .with_context(|| format!("invalid --config-values {}", path.display()))?
        }
        None => ConfigValues::default(),
    };
    config
        .apply_set_args(&args.set, known)
        .context("invalid --set")?;
    Ok(config)
}

/// The objects rendered from the templates `patterns` name (`--show-only`; all when empty).
///
/// # Errors
/// Every pattern that matches no template of the selected modules, listing those templates.
fn show_only(
    objects: Vec<SourcedObject>,
    patterns: &[String],
    loaded: &LoadedModules,
    selected: &[String],
) -> anyhow::Result<Vec<SourcedObject>> {
    if patterns.is_empty() {
        return Ok(objects);
    }
    let templates = template_sources(loaded, selected);
    let unmatched: Vec<&String> = patterns
        .iter()
        .filter(|p| !templates.iter().any(|t| glob_match(p, t)))
        .collect();
    if !unmatched.is_empty() {
        let names: Vec<String> = unmatched.iter().map(|p| format!("{p:?}")).collect();
        bail!(
            "--show-only {}: no such template; the rendered modules have:\n  {}",
            names.join(", "),
            templates.join("\n  ")
        );
    }
    Ok(objects
        .into_iter()
        .filter(|o| patterns.iter().any(|p| glob_match(p, &o.source)))
        .collect())
}

/// Every template and CRD file of the `selected` modules as `# Source:` names them.
fn template_sources(loaded: &LoadedModules, selected: &[String]) -> Vec<String> {
    let mut sources = Vec::new();
    for module in modules_named(loaded, selected) {
        let crds = module.crds.iter().map(|crd| crd.source.clone());
        let templates = module
            .templates
            .iter()
            .map(|t| format!("{}/{}", module.name, t.path));
        for source in crds.chain(templates) {
            if !sources.contains(&source) {
                sources.push(source);
            }
        }
    }
    sources
}

/// Matches `text` against a glob as helm's `--show-only` does (Go's `filepath.Match`): `*`
/// is any run of characters other than `/`, `?` one such character, the rest is literal.
fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // matches[j]: pattern prefix so far matches text prefix of length j.
    let mut matches = vec![false; t.len() + 1];
    matches[0] = true;
    for pc in p {
        let mut next = vec![false; t.len() + 1];
        for j in 0..=t.len() {
            next[j] = match pc {
                '*' => matches[j] || (j > 0 && next[j - 1] && t[j - 1] != '/'),
                '?' => j > 0 && matches[j - 1] && t[j - 1] != '/',
                c => j > 0 && matches[j - 1] && t[j - 1] == c,
            };
        }
        matches = next;
    }
    matches[t.len()]
}

/// The modules called `names`, in module order.
fn modules_named<'a>(
    loaded: &'a LoadedModules,
    names: &'a [String],
) -> impl Iterator<Item = &'a charts::Module> {
    loaded
        .set
        .modules()
        .iter()
        .filter(|m| names.contains(&m.name))
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
    let module = loaded.find_or_list(wanted)?;
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
    for module in modules_named(loaded, names) {
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
        .render_owned(values, namespace, &loaded.scopes)
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    let crds = module.crds.iter().map(|o| SourcedObject {
        source: o.source.clone(),
        object: o.object.clone(),
    });
    let mut objects: Vec<SourcedObject> = crds
        .chain(rendered.into_iter().map(|o| SourcedObject {
            source: o.source,
            object: o.object,
        }))
        .collect();
    objects.sort_by_key(|o| reconciler::object_rank(&o.object));
    Ok(objects)
}

/// Writes objects as `# Source:`-annotated YAML documents or as one JSON array. YAML quotes
/// strings like `off` and `yes`, so `kubectl apply -f -` reads what the operator applies.
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
                let yaml = yaml_json::to_string(&object.object)
                    .with_context(|| format!("{}: cannot print as YAML", object.source))?;
                write!(out, "---\n# Source: {}\n{yaml}", object.source)
                    .context("writing to stdout")?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn show_only_globs_match_within_one_path_segment_like_helm() {
        let t = "echo-server/templates/deployment.yaml";
        assert!(glob_match(t, t));
        assert!(glob_match("echo-server/templates/*.yaml", t));
        assert!(glob_match("echo-server/templates/deploymen?.yaml", t));
        assert!(glob_match("*/templates/deployment.yaml", t));
        assert!(!glob_match("echo-server/*.yaml", t), "* does not cross /");
        assert!(!glob_match("echo-server/templates/deployment", t));
        assert!(!glob_match("templates/deployment.yaml", t));
    }
}

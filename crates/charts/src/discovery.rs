//! Module discovery: finds `NNN-name` directories under one or more modules dirs and loads
//! each module's chart files into a [`Module`].

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::chart::ChartMeta;
use crate::error::{DiscoveryError, DiscoveryProblem};
use crate::names::parse_module_dir_name;
use crate::objects::{RenderedObject, ResourceScopes};

/// Extensions of files under `templates/` that are rendered (or, with a leading `_`, partials).
const TEMPLATE_EXTENSIONS: &[&str] = &["yaml", "yml", "tpl", "hbs"];
/// Deepest directory nesting followed under `templates/`; stops symlink loops.
const MAX_TEMPLATE_DEPTH: usize = 16;

/// Splits a `:`-separated modules-dir list (`ADDON_OPERATOR_MODULES_DIR`) into paths, skipping
/// empty entries.
pub fn parse_modules_dirs(list: &str) -> Vec<PathBuf> {
    list.split(':')
        .filter(|s| !s.trim().is_empty())
        .map(PathBuf::from)
        .collect()
}

/// The OpenAPI schemas of a module or of the global hooks (`openapi/` directory).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OpenApiSchemas {
    /// `openapi/config-values.yaml`: the schema of values a user may set in the ConfigMap.
    pub config_values: Option<Value>,
    /// `openapi/values.yaml`: the schema of the effective values (may `x-extend` the former).
    pub values: Option<Value>,
}

/// A template or partial file of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateFile {
    /// Path relative to the module directory, `/`-separated (`templates/deployment.yaml`).
    pub path: String,
    /// The file's text.
    pub content: String,
}

/// One module as found on disk: everything the values crate and the renderer need.
#[derive(Debug, Clone)]
pub struct Module {
    /// kebab-case name (`ingress-nginx`); also the release name.
    pub name: String,
    /// lowerCamel values key (`ingressNginx`); the enabled flag is `<key>Enabled`.
    pub key: String,
    /// Order from the directory prefix (`010-` → 10; unnumbered → 1).
    pub order: u32,
    /// The module directory (as found, symlinks not resolved).
    pub path: PathBuf,
    /// Parsed `Chart.yaml` (defaults when the file is absent).
    pub chart: ChartMeta,
    /// `Chart.yaml` as parsed YAML (`Value::Null` when absent).
    pub chart_raw: Value,
    /// The whole `values.yaml` document (`Value::Null` when absent); the values crate reads
    /// the module's key section and `<key>Enabled` from it.
    pub static_values: Value,
    /// Output templates under `templates/`, sorted by path.
    pub templates: Vec<TemplateFile>,
    /// Partials (`templates/**/_*`), sorted by path; used as `{{> name}}`.
    pub partials: Vec<TemplateFile>,
    /// Objects from `crds/*.yaml` (applied before templates), in file then document order.
    pub crds: Vec<RenderedObject>,
    /// `openapi/config-values.yaml` and `openapi/values.yaml`.
    pub openapi: OpenApiSchemas,
    /// `hooks/` when it exists.
    pub hooks_dir: Option<PathBuf>,
    /// The `enabled` script when it exists.
    pub enabled_script: Option<PathBuf>,
    files: BTreeMap<String, Vec<u8>>,
}

impl Module {
    /// The bytes of every chart file that was loaded (`Chart.yaml`, `values.yaml`,
    /// templates, partials, CRDs, OpenAPI schemas), keyed by `/`-separated path relative to
    /// the module directory. Hooks and the `enabled` script are not included. Meant for the
    /// module checksum: any edit that can change the render changes these bytes.
    pub fn chart_files(&self) -> &BTreeMap<String, Vec<u8>> {
        &self.files
    }

    /// The partial name a partial file is included by: its file stem without the leading
    /// `_` (`templates/_helpers.hbs` → `helpers`).
    pub fn partial_name(path: &str) -> &str {
        let file = path.rsplit('/').next().unwrap_or(path);
        let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
        stem.strip_prefix('_').unwrap_or(stem)
    }
}

/// A modules dir's own `values.yaml` (`global:`, per-module sections and `<key>Enabled`
/// flags), as read. Discovery does not layer these files: the values crate does, with the
/// module's own `values.yaml` ([`Module::static_values`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CommonValuesFile {
    /// `<dir>/values.yaml`.
    pub path: PathBuf,
    /// The whole YAML document (`Value::Null` when empty).
    pub document: Value,
}

/// All modules found in the modules dirs, sorted by order then name.
///
/// Read-only once discovered: lookups by name or key go through an index, so finding one
/// module costs the same among 500 as among 10 (an edit of one module looks it up several
/// times).
#[derive(Debug, Clone, Default)]
pub struct ModuleSet {
    /// The directories that were searched, in the order given.
    pub dirs: Vec<PathBuf>,
    /// The modules, sorted by (order, name).
    modules: Vec<Module>,
    /// The `<dir>/values.yaml` files that exist, in dir order (later dirs win when the values
    /// crate layers them).
    pub common_values: Vec<CommonValuesFile>,
    /// Position in `modules` by kebab-case name.
    by_name: HashMap<String, usize>,
    /// Position in `modules` by values key.
    by_key: HashMap<String, usize>,
}

impl ModuleSet {
    /// A set of `modules` (sorted here by order, then name) found in `dirs`.
    pub fn new(
        dirs: Vec<PathBuf>,
        mut modules: Vec<Module>,
        common_values: Vec<CommonValuesFile>,
    ) -> ModuleSet {
        modules.sort_by(|a, b| (a.order, &a.name).cmp(&(b.order, &b.name)));
        let by_name = modules
            .iter()
            .enumerate()
            .map(|(i, m)| (m.name.clone(), i))
            .collect();
        let by_key = modules
            .iter()
            .enumerate()
            .map(|(i, m)| (m.key.clone(), i))
            .collect();
        ModuleSet {
            dirs,
            modules,
            common_values,
            by_name,
            by_key,
        }
    }

    /// The modules, sorted by (order, name).
    pub fn modules(&self) -> &[Module] {
        &self.modules
    }

    /// The module with kebab-case name `name`.
    pub fn get(&self, name: &str) -> Option<&Module> {
        self.by_name.get(name).map(|&i| &self.modules[i])
    }

    /// The module whose values key is `key` (`ingressNginx`).
    pub fn by_key(&self, key: &str) -> Option<&Module> {
        self.position(key).map(|i| &self.modules[i])
    }

    /// The place of the module with values key `key` in [`Self::modules`]: its run order.
    pub fn position(&self, key: &str) -> Option<usize> {
        self.by_key.get(key).copied()
    }

    /// The built-in scope table plus the scopes of every CRD in the modules' `crds/`, for
    /// [`crate::ChartRenderer::render`].
    pub fn resource_scopes(&self) -> ResourceScopes {
        let mut scopes = ResourceScopes::builtin();
        scopes.add_crds(
            self.modules
                .iter()
                .flat_map(|m| m.crds.iter().map(|c| &c.object)),
        );
        scopes
    }
}

/// Finds and loads every module in `dirs`.
///
/// Every non-hidden subdirectory (symlinks followed) is a module; its name must be
/// `NNN-kebab-name` or `kebab-name`. Modules are sorted by order, then name.
///
/// # Errors
/// A [`DiscoveryError`] listing every problem found (unreadable dirs, invalid names,
/// duplicate module names across dirs, malformed YAML, duplicate partial names, bad CRDs);
/// nothing is returned if there is any.
pub fn discover(dirs: &[PathBuf]) -> Result<ModuleSet, DiscoveryError> {
    let mut problems = Vec::new();
    let mut modules: Vec<Module> = Vec::new();
    // Position of each name in `modules`: a duplicate is found without a walk per module.
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut common_values = Vec::new();
    for dir in dirs {
        let entries = match list_dir(dir) {
            Ok(e) => e,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        let values_path = dir.join("values.yaml");
        if let Some(document) = load_yaml_file(&values_path, &mut problems)
            && expect_mapping(&values_path, &document, &mut problems)
        {
            common_values.push(CommonValuesFile {
                path: values_path,
                document,
            });
        }
        for path in entries {
            if let Some(m) = load_module(&path, &mut problems) {
                if let Some(&prev) = seen.get(&m.name) {
                    problems.push(DiscoveryProblem::DuplicateModule {
                        name: m.name.clone(),
                        first: modules[prev].path.clone(),
                        second: m.path.clone(),
                    });
                } else {
                    seen.insert(m.name.clone(), modules.len());
                    modules.push(m);
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(DiscoveryError { problems });
    }
    let set = ModuleSet::new(dirs.to_vec(), modules, common_values);
    for m in set.modules() {
        tracing::debug!(module = %m.name, order = m.order, path = %m.path.display(),
            templates = m.templates.len(), crds = m.crds.len(), "discovered module");
    }
    Ok(set)
}

/// Loads `config-values.yaml` and `values.yaml` from an `openapi/` directory (a module's, or
/// `global-hooks/openapi`). Missing files are `None`; a missing directory gives empty schemas.
///
/// # Errors
/// A [`DiscoveryError`] for unreadable or malformed files.
pub fn load_openapi_dir(dir: &Path) -> Result<OpenApiSchemas, DiscoveryError> {
    let mut problems = Vec::new();
    let mut files = BTreeMap::new();
    let schemas = load_openapi(dir, "openapi", &mut files, &mut problems);
    if problems.is_empty() {
        Ok(schemas)
    } else {
        Err(DiscoveryError { problems })
    }
}

/// Sorted non-hidden subdirectories of a modules dir (symlinks followed).
fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, DiscoveryProblem> {
    let io = |source| DiscoveryProblem::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let hidden = entry.file_name().to_string_lossy().starts_with('.');
        if !hidden && fs::metadata(&path).is_ok_and(|m| m.is_dir()) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn load_module(path: &Path, problems: &mut Vec<DiscoveryProblem>) -> Option<Module> {
    let dir_name = path.file_name()?.to_string_lossy().into_owned();
    let parsed = match parse_module_dir_name(&dir_name) {
        Ok(n) => n,
        Err(reason) => {
            problems.push(DiscoveryProblem::InvalidName {
                path: path.to_path_buf(),
                reason,
            });
            return None;
        }
    };
    let before = problems.len();
    let mut files = BTreeMap::new();
    let chart_raw = load_tracked(path, "Chart.yaml", &mut files, problems).unwrap_or(Value::Null);
    let chart = ChartMeta::from_raw(&parsed.name, &chart_raw);
    let static_values =
        load_tracked(path, "values.yaml", &mut files, problems).unwrap_or(Value::Null);
    let (templates, partials) = load_templates(path, &mut files, problems);
    let crds = load_crds(path, &parsed.name, &mut files, problems);
    let openapi = load_openapi(&path.join("openapi"), "openapi", &mut files, problems);
    let hooks_dir = Some(path.join("hooks")).filter(|p| p.is_dir());
    let enabled_script = Some(path.join("enabled")).filter(|p| p.is_file());
    if problems.len() > before {
        return None;
    }
    Some(Module {
        name: parsed.name,
        key: parsed.key,
        order: parsed.order,
        path: path.to_path_buf(),
        chart,
        chart_raw,
        static_values,
        templates,
        partials,
        crds,
        openapi,
        hooks_dir,
        enabled_script,
        files,
    })
}

/// Reads `<module>/<rel>` if it exists, records its bytes and parses it as one YAML doc.
fn load_tracked(
    module_dir: &Path,
    rel: &str,
    files: &mut BTreeMap<String, Vec<u8>>,
    problems: &mut Vec<DiscoveryProblem>,
) -> Option<Value> {
    let path = module_dir.join(rel);
    let text = read_text(&path, problems)?;
    files.insert(rel.to_owned(), text.clone().into_bytes());
    let v = parse_yaml(&path, &text, problems)?;
    expect_mapping(&path, &v, problems).then_some(v)
}

/// `true` for a mapping or an empty document; records a problem otherwise.
fn expect_mapping(path: &Path, v: &Value, problems: &mut Vec<DiscoveryProblem>) -> bool {
    if v.is_object() || v.is_null() {
        return true;
    }
    problems.push(DiscoveryProblem::Invalid {
        path: path.to_path_buf(),
        reason: "expected a YAML mapping at the top level".to_owned(),
    });
    false
}

fn load_yaml_file(path: &Path, problems: &mut Vec<DiscoveryProblem>) -> Option<Value> {
    let text = read_text(path, problems)?;
    parse_yaml(path, &text, problems)
}

fn parse_yaml(path: &Path, text: &str, problems: &mut Vec<DiscoveryProblem>) -> Option<Value> {
    match yaml_json::parse_one(text) {
        Ok(v) => Some(v),
        Err(source) => {
            problems.push(DiscoveryProblem::Yaml {
                path: path.to_path_buf(),
                source,
            });
            None
        }
    }
}

/// Reads a UTF-8 file; `None` (and no problem) when it does not exist.
fn read_text(path: &Path, problems: &mut Vec<DiscoveryProblem>) -> Option<String> {
    match fs::read(path) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(s) => Some(s),
            Err(_) => {
                problems.push(DiscoveryProblem::Invalid {
                    path: path.to_path_buf(),
                    reason: "file is not valid UTF-8".to_owned(),
                });
                None
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            problems.push(DiscoveryProblem::Io {
                path: path.to_path_buf(),
                source,
            });
            None
        }
    }
}

fn load_openapi(
    dir: &Path,
    rel: &str,
    files: &mut BTreeMap<String, Vec<u8>>,
    problems: &mut Vec<DiscoveryProblem>,
) -> OpenApiSchemas {
    let mut load = |name: &str| {
        let path = dir.join(name);
        let text = read_text(&path, problems)?;
        files.insert(format!("{rel}/{name}"), text.clone().into_bytes());
        parse_yaml(&path, &text, problems)
    };
    OpenApiSchemas {
        config_values: load("config-values.yaml"),
        values: load("values.yaml"),
    }
}

fn load_templates(
    module_dir: &Path,
    files: &mut BTreeMap<String, Vec<u8>>,
    problems: &mut Vec<DiscoveryProblem>,
) -> (Vec<TemplateFile>, Vec<TemplateFile>) {
    let mut paths = Vec::new();
    walk(
        &module_dir.join("templates"),
        "templates",
        0,
        &mut paths,
        problems,
    );
    paths.sort();
    let (mut templates, mut partials) = (Vec::new(), Vec::new());
    let mut partial_names: BTreeMap<String, String> = BTreeMap::new();
    for rel in paths {
        let file = rel.rsplit('/').next().unwrap_or(&rel).to_owned();
        let ext_ok = file
            .rsplit_once('.')
            .is_some_and(|(_, ext)| TEMPLATE_EXTENSIONS.contains(&ext));
        if !ext_ok {
            continue; // NOTES.txt, README.md and other non-template files
        }
        let Some(content) = read_text(&module_dir.join(&rel), problems) else {
            continue;
        };
        files.insert(rel.clone(), content.clone().into_bytes());
        let t = TemplateFile { path: rel, content };
        if file.starts_with('_') {
            let name = Module::partial_name(&t.path).to_owned();
            if let Some(first) = partial_names.insert(name.clone(), t.path.clone()) {
                problems.push(DiscoveryProblem::Invalid {
                    path: module_dir.join(&t.path),
                    reason: format!("partial `{name}` is already defined by {first}"),
                });
            }
            partials.push(t);
        } else {
            templates.push(t);
        }
    }
    (templates, partials)
}

/// Collects `/`-separated relative paths of files under `dir` (recursive, symlinks followed).
fn walk(
    dir: &Path,
    rel: &str,
    depth: usize,
    out: &mut Vec<String>,
    problems: &mut Vec<DiscoveryProblem>,
) {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        // No templates/ directory: a module without objects.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(source) => {
            problems.push(DiscoveryProblem::Io {
                path: dir.to_path_buf(),
                source,
            });
            return;
        }
    };
    if depth > MAX_TEMPLATE_DEPTH {
        problems.push(DiscoveryProblem::Invalid {
            path: dir.to_path_buf(),
            reason: format!("templates nested deeper than {MAX_TEMPLATE_DEPTH} directories"),
        });
        return;
    }
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let child = format!("{rel}/{name}");
        match fs::metadata(&path) {
            Ok(m) if m.is_dir() => walk(&path, &child, depth + 1, out, problems),
            Ok(_) => out.push(child),
            Err(source) => problems.push(DiscoveryProblem::Io { path, source }),
        }
    }
}

fn load_crds(
    module_dir: &Path,
    module: &str,
    files: &mut BTreeMap<String, Vec<u8>>,
    problems: &mut Vec<DiscoveryProblem>,
) -> Vec<RenderedObject> {
    let Ok(entries) = fs::read_dir(module_dir.join("crds")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("doc-") && !n.starts_with('_'))
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let rel = format!("crds/{name}");
        let path = module_dir.join(&rel);
        let Some(text) = read_text(&path, problems) else {
            continue;
        };
        files.insert(rel.clone(), text.clone().into_bytes());
        let source = format!("{module}/{rel}");
        let (docs, err) = yaml_json::parse_stream(&text);
        if let Some((idx, source)) = err {
            problems.push(DiscoveryProblem::Invalid {
                path: path.clone(),
                reason: format!("document {}: {source}", idx + 1),
            });
        }
        for (idx, doc) in docs.into_iter().enumerate().filter(|(_, d)| !d.is_null()) {
            if doc.get("kind").and_then(Value::as_str) != Some("CustomResourceDefinition")
                || doc
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .is_none()
            {
                problems.push(DiscoveryProblem::Invalid {
                    path: path.clone(),
                    reason: format!(
                        "document {} is not a CustomResourceDefinition with metadata.name \
                         (crds/ holds only CRDs; name helper files `_*` or `doc-*` to skip them)",
                        idx + 1
                    ),
                });
                continue;
            }
            out.push(RenderedObject {
                source: source.clone(),
                object: doc,
            });
        }
    }
    out
}

#[cfg(test)]
#[path = "discovery_tests.rs"]
mod tests;

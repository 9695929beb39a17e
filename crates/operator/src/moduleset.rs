//! Loading a module set from disk into the values store: what `render`, `run` and `dev` share.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use charts::{ChartRenderer, Module, ModuleSet, ResourceScopes};
use values::{Errors, GlobalSpec, ModuleSpec, ValuesFile, ValuesStore};

use crate::cli::SourceArgs;

/// A discovered module set with its compiled charts and its values store.
pub struct LoadedModules {
    /// The modules, in order.
    pub set: ModuleSet,
    /// Layered, validated values of every module and of `global`.
    pub store: ValuesStore,
    /// Which kinds are namespaced: built-ins plus the CRDs the modules ship.
    pub scopes: ResourceScopes,
    /// One compiled renderer per module, by values key.
    pub renderers: BTreeMap<String, ChartRenderer>,
    /// The digest of each module's chart files, by values key: hashed once per load, as the
    /// files only change with a reload, so a convergence's checksums cost no file hashing.
    pub files_digests: BTreeMap<String, values::FilesDigest>,
    /// Where the modules were loaded from, to load them again.
    pub source: SourceArgs,
}

impl LoadedModules {
    /// Discovers the modules of `source`, compiles their charts and builds the values store.
    ///
    /// # Errors
    /// Every discovery problem, template syntax error and invalid static value or schema, each
    /// naming its module and file.
    pub fn load(source: &SourceArgs) -> anyhow::Result<Self> {
        let dirs = charts::parse_modules_dirs(&source.modules_dir);
        if dirs.is_empty() {
            bail!(
                "no modules directory given (--modules-dir / ADDON_OPERATOR_MODULES_DIR is empty)"
            );
        }
        let set = charts::discover(&dirs)?;
        let store = values_store(&set, &source.global_hooks_dir)?;
        let scopes = resource_scopes(&set);
        let mut renderers = BTreeMap::new();
        let files_digests = set
            .modules()
            .iter()
            .map(|m| (m.key.clone(), values::files_digest(m.chart_files())))
            .collect();
        let mut problems = Vec::new();
        for module in set.modules() {
            match ChartRenderer::new(module) {
                Ok(renderer) => {
                    renderers.insert(module.key.clone(), renderer);
                }
                Err(err) => problems.push(err.to_string()),
            }
        }
        if !problems.is_empty() {
            bail!("invalid templates:\n{}", problems.join("\n"));
        }
        Ok(LoadedModules {
            set,
            store,
            scopes,
            renderers,
            files_digests,
            source: source.clone(),
        })
    }

    /// The module named `name`, accepting its kebab-case name or its values key.
    pub fn find(&self, name: &str) -> Option<&Module> {
        self.set.get(name).or_else(|| self.set.by_key(name))
    }

    /// [`Self::find`], or an error naming `name` and every module there is.
    ///
    /// # Errors
    /// No module has that name or key.
    pub fn find_or_list(&self, name: &str) -> anyhow::Result<&Module> {
        self.find(name).with_context(|| {
            let names: Vec<&str> = self.set.modules().iter().map(|m| m.name.as_str()).collect();
            format!("module {name:?} not found (modules: {})", names.join(", "))
        })
    }
}

/// Which kinds are namespaced: the built-in kinds plus the CRDs the modules of `set` ship.
pub(crate) fn resource_scopes(set: &ModuleSet) -> ResourceScopes {
    let mut scopes = ResourceScopes::builtin();
    scopes.add_crds(
        set.modules()
            .iter()
            .flat_map(|m| m.crds.iter().map(|crd| &crd.object)),
    );
    scopes
}

/// The values store of `set`: its static values files and schemas, handed to the values crate,
/// which picks and layers the sections. Every invalid file, flag and schema is reported.
pub(crate) fn values_store(
    set: &ModuleSet,
    global_hooks_dir: &Path,
) -> anyhow::Result<ValuesStore> {
    let common: Vec<ValuesFile> = set
        .common_values
        .iter()
        .map(|file| ValuesFile {
            path: file.path.display().to_string(),
            document: file.document.clone(),
        })
        .collect();
    let mut errors = Errors::default();
    let global = global_spec(&common, global_hooks_dir)?;
    let global = global.unwrap_or_else(|e| {
        errors.extend(e.0);
        GlobalSpec::default()
    });
    let mut specs = Vec::new();
    for module in set.modules() {
        match module_spec(&common, module) {
            Ok(spec) => specs.push(spec),
            Err(e) => errors.extend(e.0),
        }
    }
    // Built even when a file was bad, so that one run lists every problem.
    match ValuesStore::new(global, specs) {
        Ok(store) if errors.is_empty() => Ok(store),
        Ok(_) => Err(errors).context("invalid static values"),
        Err(more) => {
            errors.extend(more.0);
            Err(errors).context("invalid static values")
        }
    }
}

/// The `global` section: `global:` of the common values files plus `global-hooks/openapi/`.
/// The outer error is an unreadable schema; the inner one invalid static values.
fn global_spec(
    common: &[ValuesFile],
    global_hooks_dir: &Path,
) -> anyhow::Result<Result<GlobalSpec, Errors>> {
    let openapi_dir = global_hooks_dir.join("openapi");
    let schemas = if openapi_dir.is_dir() {
        charts::load_openapi_dir(&openapi_dir)
            .with_context(|| format!("loading global schemas from {}", openapi_dir.display()))?
    } else {
        charts::OpenApiSchemas::default()
    };
    Ok(GlobalSpec::from_files(common).map(|spec| GlobalSpec {
        config_schema: schemas.config_values,
        values_schema: schemas.values,
        ..spec
    }))
}

/// A module's static inputs for the values store.
fn module_spec(common: &[ValuesFile], module: &Module) -> Result<ModuleSpec, Errors> {
    let own = ValuesFile {
        path: module.path.join("values.yaml").display().to_string(),
        document: module.static_values.clone(),
    };
    let spec = ModuleSpec::from_files(&module.key, &module.name, common, Some(&own))?;
    Ok(ModuleSpec {
        config_schema: module.openapi.config_values.clone(),
        values_schema: module.openapi.values.clone(),
        ..spec
    })
}

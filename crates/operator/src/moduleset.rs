//! Loading a module set from disk into the values store: what `render`, `run` and `dev` share.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use charts::{ChartRenderer, Module, ModuleSet, ResourceScopes};
use serde_json::Value;
use values::{GlobalSpec, ModuleSpec, ValuesStore};

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
        let global = global_spec(&set, &source.global_hooks_dir)?;
        let specs = set
            .modules
            .iter()
            .map(|module| module_spec(&set, module))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let store = ValuesStore::new(global, specs).context("invalid static values")?;
        let mut scopes = ResourceScopes::builtin();
        scopes.add_crds(
            set.modules
                .iter()
                .flat_map(|m| m.crds.iter().map(|crd| &crd.object)),
        );
        let mut renderers = BTreeMap::new();
        let mut problems = Vec::new();
        for module in &set.modules {
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
            source: source.clone(),
        })
    }

    /// The module named `name`, accepting its kebab-case name or its values key.
    pub fn find(&self, name: &str) -> Option<&Module> {
        self.set.get(name).or_else(|| self.set.by_key(name))
    }
}

/// The `global` section: `global:` of the common values plus `global-hooks/openapi/`.
fn global_spec(set: &ModuleSet, global_hooks_dir: &Path) -> anyhow::Result<GlobalSpec> {
    let openapi_dir = global_hooks_dir.join("openapi");
    let schemas = if openapi_dir.is_dir() {
        charts::load_openapi_dir(&openapi_dir)
            .with_context(|| format!("loading global schemas from {}", openapi_dir.display()))?
    } else {
        charts::OpenApiSchemas::default()
    };
    Ok(GlobalSpec {
        static_values: set
            .common_values
            .get("global")
            .cloned()
            .unwrap_or(Value::Null),
        config_schema: schemas.config_values,
        values_schema: schemas.values,
    })
}

/// A module's static inputs for the values store.
fn module_spec(set: &ModuleSet, module: &Module) -> anyhow::Result<ModuleSpec> {
    let flag = format!("{}Enabled", module.key);
    let common_file = set
        .dirs
        .first()
        .map(|dir| dir.join("values.yaml").display().to_string())
        .unwrap_or_else(|| "values.yaml".into());
    let module_file = module.path.join("values.yaml").display().to_string();
    Ok(ModuleSpec {
        key: module.key.clone(),
        name: module.name.clone(),
        common_values: set
            .common_values
            .get(&module.key)
            .cloned()
            .unwrap_or(Value::Null),
        module_values: module
            .static_values
            .get(&module.key)
            .cloned()
            .unwrap_or(Value::Null),
        common_enabled: enabled_flag(&set.common_values, &flag, &common_file)?,
        module_enabled: enabled_flag(&module.static_values, &flag, &module_file)?,
        config_schema: module.openapi.config_values.clone(),
        values_schema: module.openapi.values.clone(),
    })
}

/// Reads `<key>Enabled` from a values document; anything but a boolean is an error.
fn enabled_flag(doc: &Value, flag: &str, file: &str) -> anyhow::Result<Option<bool>> {
    match doc.get(flag) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => bail!("{file}: {flag}: expected true or false, got {other}"),
    }
}

//! The chart renderer: compiles a module's templates once, renders them with values into
//! checked Kubernetes objects.

use std::collections::HashMap;

use handlebars::{Context, Handlebars, RenderErrorReason, TemplateError, no_escape};
use serde_json::{Map, Value, json};

use crate::capabilities::capabilities;
use crate::discovery::Module;
use crate::error::{RenderError, RenderErrors};
use crate::helpers::{self, HelperCallError};
use crate::objects::{DuplicateCheck, RenderedObject, ResourceScopes, normalize};
use crate::{partials, syntax};

/// A compiled registry, its output templates and where each partial comes from.
type Compiled = (Handlebars<'static>, Vec<String>, HashMap<String, String>);

/// A module's templates compiled into a handlebars registry with the vetted helpers,
/// HTML escaping off and strict mode on. Compile once, render many times; it is `Send` and
/// `Sync`.
pub struct ChartRenderer {
    module: String,
    /// The module's values key (Helm mode reads `Values` from it).
    key: String,
    /// Helm mode: Helm's root context and missing values rendered empty.
    helm: bool,
    chart: Value,
    capabilities: Value,
    hb: Handlebars<'static>,
    /// Registry names (= sources, `<module>/templates/<file>`) of output templates, in order.
    templates: Vec<String>,
    /// Partial name → its source, for error messages.
    partial_sources: HashMap<String, String>,
}

impl std::fmt::Debug for ChartRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChartRenderer")
            .field("module", &self.module)
            .field("templates", &self.templates)
            .finish_non_exhaustive()
    }
}

impl ChartRenderer {
    /// Compiles every template and partial of `module`.
    ///
    /// # Errors
    /// [`RenderErrors`] with one [`RenderError::Syntax`] per file that does not compile.
    pub fn new(module: &Module) -> Result<Self, RenderErrors> {
        // Partial calls go through `partials::PartialCall` when the whole module allows it;
        // compile errors are always reported against the files as written.
        let fast_partials = module
            .partials
            .iter()
            .all(|p| partials::eligible(&p.content));
        let compiled = if fast_partials {
            Self::compile(module, true).or_else(|_| Self::compile(module, false))
        } else {
            Self::compile(module, false)
        };
        let (hb, templates, partial_sources) = compiled.map_err(|errors| RenderErrors {
            module: module.name.clone(),
            errors,
        })?;
        Ok(Self {
            module: module.name.clone(),
            key: module.key.clone(),
            helm: module.chart.helm_compatible,
            chart: module.chart.template_context(&module.chart_raw),
            capabilities: capabilities(),
            hb,
            templates,
            partial_sources,
        })
    }

    /// Compiles every template and partial, with partial calls rewritten (`fast`) or not.
    fn compile(module: &Module, fast: bool) -> Result<Compiled, Vec<RenderError>> {
        let mut hb = Handlebars::new();
        hb.register_escape_fn(no_escape);
        hb.set_strict_mode(!module.chart.helm_compatible);
        helpers::register_all(&mut hb);
        if fast {
            hb.register_helper(partials::HELPER, Box::new(partials::PartialCall));
        }
        let mut errors = Vec::new();
        let mut partial_sources = HashMap::new();
        let mut register =
            |hb: &mut Handlebars<'static>, name: &str, source: &str, content: &str| {
                match partials::compile(name, content, fast) {
                    Ok(Some(template)) => {
                        hb.register_template(name, template);
                        true
                    }
                    // A partial call of another form: the caller compiles without `fast`.
                    Ok(None) => false,
                    Err(e) => {
                        errors.push(syntax_error(source, content, &e));
                        true
                    }
                }
            };
        for p in &module.partials {
            let name = Module::partial_name(&p.path).to_owned();
            let source = format!("{}/{}", module.name, p.path);
            if !register(&mut hb, &name, &source, &p.content) {
                return Err(Vec::new());
            }
            partial_sources.insert(name, source);
        }
        let mut templates = Vec::with_capacity(module.templates.len());
        for t in &module.templates {
            let source = format!("{}/{}", module.name, t.path);
            if !register(&mut hb, &source, &source, &t.content) {
                return Err(Vec::new());
            }
            templates.push(source);
        }
        if errors.is_empty() {
            Ok((hb, templates, partial_sources))
        } else {
            Err(errors)
        }
    }

    /// The module name.
    pub fn module(&self) -> &str {
        &self.module
    }

    /// Renders every template with `values` (`{ "global": …, "<moduleKey>": … }`, exposed
    /// as `Values`), `Release = { Name: <module>, Namespace: namespace, Service:
    /// "addon-operator", IsInstall: true, IsUpgrade: false, Revision: 1 }`, `Chart` and
    /// `Capabilities` ([`crate::KUBE_VERSION`], [`crate::API_VERSIONS`]). In Helm mode
    /// (`ChartMeta::helm_compatible`) `Values` is the module's own section, as a chart's
    /// `.Values`, `Release.Service` is `Helm` and `Template.BasePath` is
    /// `<module>/templates`.
    ///
    /// Objects come in template file order, then document order; empty documents are
    /// dropped; namespaced kinds without `metadata.namespace` get `namespace` (scopes from
    /// `scopes`) and cluster-scoped kinds lose any namespace.
    ///
    /// # Errors
    /// [`RenderErrors`] listing every problem in every template (missing values in strict
    /// mode, helper errors, invalid YAML, objects without `apiVersion`/`kind`/
    /// `metadata.name`, duplicate objects); no objects are returned if there is any.
    pub fn render(
        &self,
        values: &Value,
        namespace: &str,
        scopes: &ResourceScopes,
    ) -> Result<Vec<RenderedObject>, RenderErrors> {
        self.render_owned(values.clone(), namespace, scopes)
    }

    /// [`ChartRenderer::render`] taking the values by value: a caller that built them for
    /// this render (the operator's reconcile loop) saves a deep copy, which grows with
    /// `global.enabledModules`.
    ///
    /// # Errors
    /// As [`ChartRenderer::render`].
    pub fn render_owned(
        &self,
        mut values: Value,
        namespace: &str,
        scopes: &ResourceScopes,
    ) -> Result<Vec<RenderedObject>, RenderErrors> {
        // Helm mode says `Helm`, as addon-operator's Helm did: labels such as
        // `app.kubernetes.io/managed-by` and checksums over rendered text stay as they were.
        let service = if self.helm { "Helm" } else { "addon-operator" };
        let mut release = Map::with_capacity(6);
        for (key, value) in [
            ("Name", Value::from(self.module.as_str())),
            ("Namespace", Value::from(namespace)),
            ("Service", Value::from(service)),
            ("IsInstall", Value::Bool(true)),
            ("IsUpgrade", Value::Bool(false)),
            ("Revision", Value::from(1)),
        ] {
            release.insert(key.to_owned(), value);
        }
        // Built by cloning, not `json!` (which serializes every value it is given).
        let mut root = Map::with_capacity(5);
        let own_values = if self.helm {
            values
                .get_mut(&self.key)
                .map(Value::take)
                .unwrap_or_else(|| json!({}))
        } else {
            values
        };
        root.insert("Values".to_owned(), own_values);
        root.insert("Release".to_owned(), Value::Object(release));
        root.insert("Chart".to_owned(), self.chart.clone());
        root.insert("Capabilities".to_owned(), self.capabilities.clone());
        if self.helm {
            root.insert(
                "Template".to_owned(),
                json!({ "BasePath": format!("{}/templates", self.module) }),
            );
        }
        let ctx = Context::from(Value::Object(root));
        let mut errors = Vec::new();
        let mut objects = Vec::new();
        let mut dups = DuplicateCheck::default();
        for source in &self.templates {
            let text = match self.hb.render_with_context(source, &ctx) {
                Ok(t) => t,
                Err(e) => {
                    errors.push(self.template_error(Some(source), &e));
                    continue;
                }
            };
            let (docs, yaml_err) = yaml_json::parse_stream(&text);
            for (i, mut doc) in docs.into_iter().enumerate() {
                if doc.is_null() {
                    continue;
                }
                let checked = normalize(&mut doc, source, i + 1, namespace, scopes)
                    .and_then(|id| dups.check(id, source, i + 1));
                match checked {
                    Ok(()) => objects.push(RenderedObject {
                        source: source.clone(),
                        object: doc,
                    }),
                    Err(e) => errors.push(e),
                }
            }
            if let Some((i, e)) = yaml_err {
                errors.push(RenderError::Yaml {
                    file: source.clone(),
                    document: i + 1,
                    message: e.to_string(),
                });
            }
        }
        if errors.is_empty() {
            Ok(objects)
        } else {
            Err(self.fail(errors))
        }
    }

    fn fail(&self, errors: Vec<RenderError>) -> RenderErrors {
        RenderErrors {
            module: self.module.clone(),
            errors,
        }
    }

    /// Converts a handlebars error into ours: the file (a partial's file when the error is
    /// inside one), line, column and a message that names the missing path, or the helper
    /// call that failed.
    fn template_error(
        &self,
        fallback: Option<&String>,
        e: &handlebars::RenderError,
    ) -> RenderError {
        let file = e
            .template_name
            .as_ref()
            .map(|n| self.partial_sources.get(n).unwrap_or(n))
            .or(fallback)
            .cloned()
            .unwrap_or_else(|| self.module.clone());
        let (line, column) = (e.line_no, e.column_no);
        if let RenderErrorReason::NestedError(nested) = e.reason()
            && let Some(call) = nested.downcast_ref::<HelperCallError>()
        {
            return RenderError::Helper {
                file,
                line,
                column,
                call: Box::new(call.clone()),
            };
        }
        RenderError::Template {
            file,
            line,
            column,
            message: reason_message(e.reason()),
        }
    }
}

/// A short message for a handlebars failure, with the fix for the common ones.
fn reason_message(reason: &RenderErrorReason) -> String {
    match reason {
        RenderErrorReason::MissingVariable(Some(path)) => format!(
            "missing value `{path}` (strict mode: guard it with {{{{#if}}}} or give a {{{{default}}}})"
        ),
        RenderErrorReason::MissingVariable(None) => "missing value (strict mode)".to_owned(),
        RenderErrorReason::PartialNotFound(name) => format!(
            "partial `{name}` not found (partials are files templates/_{name}.hbs or _{name}.tpl)"
        ),
        RenderErrorReason::HelperNotFound(name) => {
            format!("unknown helper `{name}` (see docs/templates.md for the helpers)")
        }
        other => other.to_string(),
    }
}

/// A compile error of template `file` (text `content`), positioned on the tag at fault.
fn syntax_error(file: &str, content: &str, e: &TemplateError) -> RenderError {
    let located = syntax::describe(content, e);
    RenderError::Syntax {
        file: file.to_owned(),
        line: located.line,
        column: located.column,
        problem: located.problem,
    }
}

/// Compiles and renders `module` once; see [`ChartRenderer::render`]. Use a
/// [`ChartRenderer`] to render the same module repeatedly.
///
/// # Errors
/// [`RenderErrors`] with every syntax or render problem.
pub fn render(
    module: &Module,
    values: &Value,
    namespace: &str,
    scopes: &ResourceScopes,
) -> Result<Vec<RenderedObject>, RenderErrors> {
    ChartRenderer::new(module)?.render(values, namespace, scopes)
}

#[cfg(test)]
#[path = "renderer_tests.rs"]
mod tests;
